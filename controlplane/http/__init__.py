"""The app's HTTP server: the ``/view`` dashboard, the REST API, push streams, the app's routes and frontends.

Runs on the control plane's asyncio thread beside gRPC; what the flows own is read and written through queries
(``controlplane.flows.queries``), never touched from here. ``server`` assembles it; ``hosting`` is what AppHost calls.
"""
