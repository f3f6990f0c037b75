"""Tracing is off unless the standard variables ask for it, and a stored traceparent
continues its trace whether or not this process records spans."""

from __future__ import annotations

import pytest

from common.config import ConfigError
from common.tracing import (
    configure_tracing,
    continued_span,
    current_traceparent,
    tracing_requested,
    without_query,
)

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("env", "exporter"),
    [
        ({}, None),
        (ENDPOINT, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, None),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, None),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "TRUE"}, None),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "false"}, "otlp"),
    ],
)
def test_only_the_standard_variables_turn_tracing_on(
    env: dict[str, str], exporter: str | None
) -> None:
    assert tracing_requested(env) == exporter


def test_with_nothing_configured_nothing_is_installed() -> None:
    assert configure_tracing("test", {}) is False


def test_an_exporter_this_build_lacks_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="zipkin"):
        tracing_requested({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ConfigError, match="http/protobuf"):
        configure_tracing("test", {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_outside_a_trace_there_is_no_traceparent_to_store() -> None:
    assert current_traceparent() == ""


def test_a_stored_traceparent_continues_its_trace_even_without_the_sdk() -> None:
    # No SDK in this process: the span records nothing, but the context passes through,
    # so the next hop still joins the caller's trace.
    with continued_span("work", PARENT):
        continued = current_traceparent()
    assert continued.split("-")[1] == PARENT.split("-")[1]
    assert current_traceparent() == ""


def test_urls_in_spans_lose_their_query() -> None:
    assert (
        without_query("https://gw.example/webhooks/chatwoot/acme?token=s3cret#x")
        == "https://gw.example/webhooks/chatwoot/acme"
    )
