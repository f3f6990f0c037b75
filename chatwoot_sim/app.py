"""The simulator as one ASGI app: the Chatwoot API and the control API, with the call
recorder outside fault injection (a faulted call is recorded with the fault's status)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp

from chatwoot_sim import api, control
from chatwoot_sim.calls import RecordCalls
from chatwoot_sim.faults import InjectFaults
from chatwoot_sim.simulator import Simulator


def create_app(sim: Simulator) -> ASGIApp:
    routes = [*api.routes(sim), *control.routes(sim)]
    chatwoot = Starlette(routes=routes)
    return RecordCalls(InjectFaults(chatwoot, sim.faults), sim.calls, sim.actor_label)
