"""`python -m devstack.top` (`make top`): the running stack at a glance, refreshed in place.

Reads what already exists: the three processes' Prometheus endpoints (scraped twice, so
counters become rates) and the escalation service's ListAgents, as each tenant of the
tenants file. A process that does not answer is shown as down; nothing here writes.
"""
