"""gRPC server and client metrics under grpc-prometheus's names and labels.

The names match go-grpc-prometheus and java-grpc-prometheus, so existing dashboards and
alerts work unchanged. Everything lands in the registry handed in: one per app, so several
apps in one process (tests) keep their counts apart.

The code counted is the one the client sees: a status set by our error mapping
(`set_code`), an `abort`, UNKNOWN for an exception that escaped, CANCELLED when the call
went away first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from common.grpc.handlers import Handler, RewrapCache, rpc_type, split_method

LABELS = ("grpc_type", "grpc_service", "grpc_method")
CODE = "grpc_code"


class ServerMetrics(grpc.aio.ServerInterceptor):
    """Put first among the server's interceptors, so it sees what the others answer (an
    UNAUTHENTICATED from the auth interceptor counts too)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", LABELS, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, regardless of success or failure.",
            (*LABELS, CODE),
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (a stream's whole life).",
            LABELS,
            registry=registry,
        )
        self.received = Counter(
            "grpc_server_msg_received",
            "Request messages received on the server.",
            LABELS,
            registry=registry,
        )
        self.sent = Counter(
            "grpc_server_msg_sent",
            "Response messages sent by the server.",
            LABELS,
            registry=registry,
        )
        self._handlers = RewrapCache()
        # Server-streaming and bidi RPCs open right now: subscribers of a watch stream.
        self.streams = Gauge(
            "grpc_server_streams_active",
            "Server-streaming RPCs currently open.",
            ("grpc_service", "grpc_method"),
            registry=registry,
        )

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            # Unknown method: grpc answers UNIMPLEMENTED; its name is the caller's to pick,
            # so it would make unbounded label values.
            return handler  # type: ignore[return-value]
        return self._handlers.rewrap(
            handler_call_details.method,
            handler,
            lambda behavior: self._observed(behavior, handler, handler_call_details.method),
        )

    def _observed(self, behavior: Any, handler: Handler, full_method: str) -> Any:
        service, method = split_method(full_method)
        labels = (rpc_type(handler.request_streaming, handler.response_streaming), service, method)
        if handler.response_streaming:
            return self._streaming(behavior, labels)
        return self._unary(behavior, labels)

    def _counted_requests(self, requests: Any, labels: tuple[str, ...]) -> Any:
        if not hasattr(requests, "__aiter__"):
            self.received.labels(*labels).inc()
            return requests

        async def counted() -> AsyncIterator[Any]:
            async for request in requests:
                self.received.labels(*labels).inc()
                yield request

        return counted()

    def _unary(self, behavior: Any, labels: tuple[str, ...]) -> Any:
        async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.started.labels(*labels).inc()
            start = time.perf_counter()
            try:
                response = await behavior(self._counted_requests(request, labels), context)
            except BaseException as error:
                self._finish(labels, _failed_code(context, error), start)
                raise
            code = context.code() or grpc.StatusCode.OK
            if code == grpc.StatusCode.OK:
                self.sent.labels(*labels).inc()
            self._finish(labels, code, start)
            return response

        return observed

    def _streaming(self, behavior: Any, labels: tuple[str, ...]) -> Any:
        async def observed(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            self.started.labels(*labels).inc()
            streams = self.streams.labels(*labels[1:])
            streams.inc()
            start = time.perf_counter()
            try:
                async for response in behavior(self._counted_requests(request, labels), context):
                    self.sent.labels(*labels).inc()
                    yield response
            except BaseException as error:
                self._finish(labels, _failed_code(context, error), start)
                raise
            else:
                self._finish(labels, context.code() or grpc.StatusCode.OK, start)
            finally:
                streams.dec()

        return observed

    def _finish(self, labels: tuple[str, ...], code: grpc.StatusCode, start: float) -> None:
        self.handled.labels(*labels, code.name).inc()
        self.handling.labels(*labels).observe(time.perf_counter() - start)


def _failed_code(context: grpc.aio.ServicerContext[Any, Any], error: BaseException) -> Any:
    code = context.code()
    if code is not None and code != grpc.StatusCode.OK:
        return code  # set by abort() or set_code() before the raise
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class ClientMetrics(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """For a channel's `interceptors`. Unary and server-streaming calls, the two kinds our
    clients make."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.started = Counter(
            "grpc_client_started", "RPCs started by the client.", LABELS, registry=registry
        )
        self.handled = Counter(
            "grpc_client_handled",
            "RPCs completed by the client, regardless of success or failure.",
            (*LABELS, CODE),
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_client_handling_seconds",
            "Time from the start of an RPC to its status, as the client saw it.",
            LABELS,
            registry=registry,
        )
        # Streams finish in a done callback, which cannot await the code; the tasks that
        # read it are kept here until they ran, so none is collected half-way.
        self._pending: set[asyncio.Task[None]] = set()

    def unary_call(self, full_method: str) -> ClientCall:
        """Counts one unary call as started; its `finish` records the code and the time.

        For a caller that counts its own calls: an interceptor on a channel makes every
        call on it an intercepted call, which costs the gateway a task and several awaits
        per delivery.
        """
        labels = ("unary", *split_method(full_method))
        self.started.labels(*labels).inc()
        return ClientCall(self, labels, time.perf_counter())

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        counted = self.unary_call(client_call_details.method)
        call = await continuation(client_call_details, request)
        try:
            code = await call.code()
        except asyncio.CancelledError:
            counted.finish(grpc.StatusCode.CANCELLED)
            raise
        counted.finish(code)
        return call

    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        labels = ("server_stream", *split_method(client_call_details.method))
        self.started.labels(*labels).inc()
        start = time.perf_counter()
        call = await continuation(client_call_details, request)

        def done(finished: Any) -> None:
            elapsed = time.perf_counter() - start

            async def record() -> None:
                code = await finished.code()
                self.handled.labels(*labels, code.name).inc()
                self.handling.labels(*labels).observe(elapsed)

            task = asyncio.get_running_loop().create_task(record())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        call.add_done_callback(done)
        return call

    def _finish(self, labels: tuple[str, ...], code: grpc.StatusCode, start: float) -> None:
        self.handled.labels(*labels, code.name).inc()
        self.handling.labels(*labels).observe(time.perf_counter() - start)


class ClientCall:
    """One client call being counted by ClientMetrics."""

    __slots__ = ("_labels", "_metrics", "_start")

    def __init__(self, metrics: ClientMetrics, labels: tuple[str, ...], start: float) -> None:
        self._metrics = metrics
        self._labels = labels
        self._start = start

    def finish(self, code: grpc.StatusCode) -> None:
        self._metrics._finish(self._labels, code, self._start)
