"""The lightning-ctl control plane: runs the flows, holds the state, and drives agents over gRPC."""
