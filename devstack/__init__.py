"""The whole stack on one laptop, on SQLite, as child processes.

`python -m devstack` (`make run`) runs it until Ctrl+C; `python -m devstack.demo`
(`make demo`) runs it with the Chatwoot simulator, plays one escalation through it, and stops.
"""
