"""The one way our processes open a gRPC channel to another of our services.

A target may name several servers: `dns:///ticket-service:50051` (a Kubernetes headless
Service resolves to every pod) or `ipv4:10.0.0.1:50051,10.0.0.2:50051`. The channel
connects to all of them and spreads calls round robin; one that goes away is skipped
(its connection drops, or it sends GOAWAY while draining), and the resolver is asked
again, so new replicas are picked up. The servers end connections after a few minutes
(common/grpc/server.py), which makes clients re-resolve and rebalance too.

Calls that fail with UNAVAILABLE (the server went away, or never got the call) are retried
by gRPC itself, but only for methods that are safe to repeat: reads, and mutations our
callers always send with a `request_id` (the service answers a repeat with the first
answer). Every unary call gets a deadline, the caller's or DEFAULT_DEADLINE_SECONDS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

# What a unary call may take when its caller sets no deadline: a hung server must not hang
# us. Callers set their own, usually much shorter.
DEFAULT_DEADLINE_SECONDS = 10.0

# The retry budget: 4 attempts in all, spaced 0.1 s, 0.2 s, 0.4 s (with gRPC's jitter),
# and throttled once more than about half the recent calls failed, so a dead service is
# not hammered with retries.
RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
RETRY_THROTTLING: dict[str, Any] = {"maxTokens": 10, "tokenRatio": 0.5}

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    # A channel that lost its server backs off before reconnecting and fails calls fast
    # meanwhile; gRPC's default backoff grows to two minutes, which would keep the
    # gateway's /readyz failing and its spool waiting long after the server is back.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    # Keepalive pings find a dead peer (a node gone without a FIN) within ~40 s even on an
    # idle channel. The servers allow pings this often (SERVER_OPTIONS).
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.enable_retries", 1),
    # New replicas behind a DNS name are found within this long after a re-resolution is
    # asked for (a connection lost, a GOAWAY).
    ("grpc.dns_min_time_between_resolutions_ms", 5_000),
]


def idempotent_methods(service: ServiceDescriptor) -> list[str]:
    """The unary methods of `service` that are safe to send twice: reads (Get*, List*) and
    those whose request carries a `request_id`, which our callers always set."""
    return [
        method.name
        for method in service.methods
        if not method.client_streaming
        and not method.server_streaming
        and (
            method.name.startswith(("Get", "List"))
            or "request_id" in method.input_type.fields_by_name
        )
    ]


def idempotent(service: ServiceDescriptor) -> tuple[str, list[str]]:
    """`service`'s idempotent methods, as `open_channel`'s `retry` takes them."""
    return service.full_name, idempotent_methods(service)


def service_config(retry: Iterable[tuple[str, Iterable[str]]]) -> str:
    """The channel's service config: round robin over every resolved address, and
    RETRY_POLICY for the given (service full name, method names) pairs."""
    names = [
        {"service": service, "method": method} for service, methods in retry for method in methods
    ]
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if names:
        config["methodConfig"] = [{"name": names, "retryPolicy": RETRY_POLICY}]
        config["retryThrottling"] = RETRY_THROTTLING
    return json.dumps(config)


class DefaultDeadline(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives a unary call without a deadline DEFAULT_DEADLINE_SECONDS.

    An interceptor, not the service config's `timeout`: with grpcio 1.85 that one fired
    1.1 to 1.6 s early in our tries (a 2 s timeout ended calls after 0.85 s, 0.3 s at once).
    """

    def __init__(self, seconds: float = DEFAULT_DEADLINE_SECONDS) -> None:
        self.seconds = seconds

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        if client_call_details.timeout is None:
            client_call_details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                self.seconds,
                client_call_details.metadata,
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
        return await continuation(client_call_details, request)


def open_channel(
    target: str,
    *,
    retry: Iterable[tuple[str, Iterable[str]]] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    default_deadline: float | None = DEFAULT_DEADLINE_SECONDS,
) -> grpc.aio.Channel:
    """An insecure channel to `target` (one address, `dns:///name:port` or a list).

    `default_deadline=None` is for a caller that sets a timeout on every call itself: no
    interceptor then, and a channel without interceptors makes plain calls, which cost
    less CPU than intercepted ones. Channels connect lazily: an absent server does not stop
    the caller from starting. grpc.aio channels belong to the event loop that opens them.
    """
    options: list[tuple[str, Any]] = [
        *CHANNEL_OPTIONS,
        ("grpc.service_config", service_config(retry)),
    ]
    return grpc.aio.insecure_channel(
        target,
        options=options,
        interceptors=[
            *([] if default_deadline is None else [DefaultDeadline(default_deadline)]),
            *interceptors,
        ],
    )
