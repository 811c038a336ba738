"""The work-process side: what runs inside each work's own OS process. Imports no grpc, to start fast."""
