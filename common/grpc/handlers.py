"""Rebuilding a grpc.aio method handler around its behaviour, for server interceptors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def rewrap(handler: Handler, behavior_for: Callable[[Any], Any]) -> Handler:
    """Rebuild `handler` with its behaviour replaced, keeping its kind and serializers."""
    factory: Callable[..., Handler]
    behavior: Any
    if handler.unary_unary:
        factory, behavior = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    elif handler.unary_stream:
        factory, behavior = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    elif handler.stream_unary:
        factory, behavior = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    else:
        factory, behavior = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    return factory(
        behavior_for(behavior),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class RewrapCache:
    """`rewrap` once per method rather than once per call: a server interceptor's wrapping
    of a method's handler is the same on every call, so it is kept, for as long as the
    handler it wraps is the same object (the registered one, or another interceptor's
    kept wrapping)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def rewrap(self, method: str, handler: Handler, behavior_for: Callable[[Any], Any]) -> Handler:
        kept = self._wrapped.get(method)
        if kept is None or kept[0] is not handler:
            # Bounded: only methods the server has a handler for get here.
            kept = (handler, rewrap(handler, behavior_for))
            self._wrapped[method] = kept
        return kept[1]


def rpc_type(request_streaming: bool, response_streaming: bool) -> str:
    """The `grpc_type` label of grpc-prometheus."""
    if request_streaming:
        return "bidi_stream" if response_streaming else "client_stream"
    return "server_stream" if response_streaming else "unary"


def split_method(full_method: str | bytes) -> tuple[str, str]:
    """`/package.Service/Method` as (`package.Service`, `Method`)."""
    name = full_method.decode() if isinstance(full_method, bytes) else full_method
    service, _, method = name.lstrip("/").rpartition("/")
    return service, method
