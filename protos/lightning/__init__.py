"""The ``lightning`` protobuf package; its versions are sub-packages."""
