"""Version 1 of the wire (``lightning.v1``); its ``*_pb2*`` modules come from scripts/gen_protos.py only."""
