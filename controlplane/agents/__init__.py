"""The control plane's side of agents, on the asyncio thread.

The registry (connections, liveness, fencing), placement, code bundles, and the local agent that
``lightning-ctl run`` starts.
"""
