"""The flow thread: the loop running the flows, the flow runtime (a state machine), queries, checkpoints.

Nothing here imports the asyncio side (``agents``, ``api``, ``http``, ``output``, ``providers``, ``storage``):
the two meet through queues and the query box. Resuming a run from its checkpoint lives here too.
"""
