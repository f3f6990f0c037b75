"""The bare servers' shared lifetime: serve raw-bytes handlers on the services' own server
setup, say where, and stop on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import json
import signal

import grpc

from common.grpc.server import start_server


async def serve_until_signalled(listen: str, handler: grpc.GenericRpcHandler) -> None:
    """Serve `handler` at `listen` until SIGTERM or SIGINT, then stop with a 1 s grace."""

    def register(server: grpc.aio.Server) -> list[str]:
        server.add_generic_rpc_handlers((handler,))
        return [handler.service_name()]  # type: ignore[attr-defined]

    running = await start_server(listen=listen, register=register)
    # The bench reads the port from this line, as it does the services' "serving" record.
    print(json.dumps({"event": "serving", "port": running.port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await running.stop(grace=1.0)
