"""OpenTelemetry tracing for the three processes: setup, and carrying a trace across hops.

Off unless configured, with the standard variables: `OTEL_TRACES_EXPORTER` (`otlp`,
`console` or `none`) or, without it, an `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (OTLP over HTTP/protobuf). `OTEL_SDK_DISABLED=true`
turns it off whatever else is set. Off means nothing is installed: no SDK, no interceptor,
no middleware, so the hot paths run exactly as without this module.

A trace crosses the hops that are not calls (the gateway's spool, the ticket event log,
the Chatwoot outbox, the escalation effects) as a W3C `traceparent` stored with the work:
`current_traceparent()` when writing, `continued_span()` when picking the work up.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from common.config import ConfigError

_W3C = TraceContextTextMapPropagator()
_TRACER_NAME = "ticketing"
# Health checks and scrapes would be most of the spans and tell nothing.
EXCLUDED_HTTP_PATHS = "/healthz,/readyz,/metrics"
_enabled = False


def tracing_requested(env: Mapping[str, str] | None = None) -> str | None:
    """The exporter the environment asks for (`otlp`, `console`), or None for none."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporters:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return "otlp" if endpoint else None
    if exporters == "none":
        return None
    if exporters not in ("otlp", "console"):
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={exporters!r}: this build exports to `otlp` "
            "(HTTP/protobuf) or `console`, or `none`"
        )
    return exporters


def configure_tracing(service_name: str, env: Mapping[str, str] | None = None) -> bool:
    """Install the SDK and the gRPC, httpx and SQLAlchemy instrumentation when the
    environment asks for an exporter; returns whether it did. Call once, first thing in
    `main`, before any channel, server, engine or HTTP client exists."""
    global _enabled
    env = os.environ if env is None else env
    exporter_name = tracing_requested(env)
    if exporter_name is None:
        return False
    # Imported here: a process without tracing never loads the SDK.
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )
    from opentelemetry.instrumentation.grpc.filters import (
        any_of,
        health_check,
        negate,
        service_prefix,
    )
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: this build exports OTLP over "
            "http/protobuf only (a collector's port 4318)"
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        # Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT itself.
        exporter = OTLPSpanExporter()
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES; OTEL_SERVICE_NAME wins over our name.
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name})
    # The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on);
    # the batch processor's queue and delay from OTEL_BSP_*.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Health checks (the gateway's /readyz, load balancers) and reflection: noise.
    worth_tracing = negate(any_of(health_check(), service_prefix("grpc.reflection.")))
    GrpcAioInstrumentorServer(filter_=worth_tracing).instrument()  # type: ignore[no-untyped-call]
    GrpcAioInstrumentorClient(filter_=worth_tracing).instrument()  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument(
        request_hook=_httpx_request_hook, async_request_hook=_httpx_async_request_hook
    )
    # The package declares SQLAlchemy < 2.1; its engine events are the same in 2.1, and the
    # end-to-end tracing test shows the statements' spans.
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True, enable_commenter=False)
    _enabled = True
    return True


def shutdown_tracing() -> None:
    """Flush what is queued (the batch processor's last spans) before the process exits."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if _enabled and shutdown is not None:
        shutdown()


def tracing_enabled() -> bool:
    return _enabled


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


def current_traceparent() -> str:
    """The current span's W3C traceparent, or "" outside a recorded trace: what a hop that
    is not a call stores with its work so the trace can continue there."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def continued_span(
    name: str,
    traceparent: str,
    attributes: Mapping[str, Any] | None = None,
    kind: trace.SpanKind = trace.SpanKind.CONSUMER,
) -> Iterator[trace.Span]:
    """A span for work picked up from storage, the child of the span that stored it
    (`traceparent`); a new trace when there is none. With tracing off it is a no-op span."""
    parent = _W3C.extract({"traceparent": traceparent}) if traceparent else context.Context()
    with tracer().start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {})
    ) as span:
        yield span


@contextmanager
def untraced() -> Iterator[None]:
    """Run background polling (the event-log poll, the outbox and effects claims, the SLA
    scheduler, reconciliation) in a trace that is not sampled: without it every poll's
    queries and calls would each start a trace of their own, several a second, all noise.
    Work picked up inside it with `continued_span` still joins its stored trace."""
    if not _enabled:
        yield
        return
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    ids = RandomIdGenerator()
    unsampled = trace.SpanContext(
        trace_id=ids.generate_trace_id(),
        span_id=ids.generate_span_id(),
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
    )
    with trace.use_span(trace.NonRecordingSpan(unsampled)):
        yield


def asgi_middleware(app: Any) -> Any:
    """`app` inside OpenTelemetry's ASGI middleware (server spans, incoming traceparent)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app, excluded_urls=EXCLUDED_HTTP_PATHS, server_request_hook=_asgi_request_hook
    )


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace_id and span_id, when there is one."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    return event_dict


def without_query(url: str) -> str:
    """A URL without its query string: a webhook URL's `?token=` is a secret, and a
    Chatwoot contact search carries an email or phone number."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


_URL_ATTRIBUTES = ("http.url", "url.full")
_QUERY_ATTRIBUTES = ("url.query",)


def _scrub_span_url(span: trace.Span) -> None:
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, without_query(value))
    for key in _QUERY_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, "REDACTED")


def _asgi_request_hook(span: trace.Span, _scope: dict[str, Any]) -> None:
    if span.is_recording():
        _scrub_span_url(span)


def _httpx_request_hook(span: trace.Span, _request: Any) -> None:
    if span.is_recording():
        _scrub_span_url(span)


async def _httpx_async_request_hook(span: trace.Span, request: Any) -> None:
    _httpx_request_hook(span, request)
