"""The control plane's gRPC surface.

The server and its interceptors, one servicer per service, the event gate at the edge, and the clients the CLI
uses.
"""
