"""A Chatwoot 4.15 stand-in for development and tests: a real HTTP server with Chatwoot's REST
API shapes for the endpoints we call, its own state, signed webhooks back to us, and a control
API (`/_sim/...`) to seed it, inspect it and make it fail. `python -m chatwoot_sim --help`.
"""
