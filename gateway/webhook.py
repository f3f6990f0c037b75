"""`POST /webhooks/chatwoot/{integration}`: check, map, forward, answer.

Checks run in this order and a failed one changes nothing: body size (413), verification
(401), payload (400). Then exactly one ApplyChatwootDelivery call, or the spool.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.clock import Clock
from common.logging import log_context
from gateway import keys
from gateway.body import MAX_BODY_BYTES, BadBody, BodyTooLarge, Json, decode_json, read_body
from gateway.dispatch import Answer, Dispatcher
from gateway.integrations import Integration
from gateway.mapping import InvalidPayload, event_label, map_delivery
from gateway.metrics import Metrics
from gateway.verification import Unauthorized, Window, verify
from ticketing.ticket.v1 import ticket_service_pb2 as api

log = structlog.get_logger("gateway")

DELIVERY_HEADER = "x-chatwoot-delivery"
# Chatwoot sends a UUID; anything much longer is not one of its delivery ids.
MAX_DELIVERY_ID = 128


class WebhookEndpoint:
    def __init__(
        self,
        integrations: Mapping[str, Integration],
        dispatcher: Dispatcher,
        metrics: Metrics,
        *,
        clock: Clock,
        window: Window,
    ) -> None:
        self._integrations = integrations
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._clock = clock
        self._window = window

    async def handle(self, request: Request) -> Response:
        integration = self._integrations.get(request.path_params["integration"])
        if integration is None:
            # Not counted: the name is the caller's, and would make unbounded label values.
            return JSONResponse({"error": "no Chatwoot integration by this name"}, 404)
        delivery_id = request.headers.get(DELIVERY_HEADER, "")
        # Every line logged for this delivery names it (bounded: the header is the caller's).
        with log_context(
            integration=integration.name,
            tenant=integration.tenant_id,
            delivery_id=delivery_id[:MAX_DELIVERY_ID],
        ):
            return await self._handle(request, integration, delivery_id)

    async def _handle(
        self, request: Request, integration: Integration, delivery_id: str
    ) -> Response:
        answer, event = await self._answer(request, integration, delivery_id)
        label = event_label(event)
        self._metrics.deliveries.labels(integration.name, label, answer.outcome).inc()
        if answer.reason:
            self._metrics.rejections.labels(integration.name, label, answer.reason).inc()
        log.info(
            "chatwoot_webhook",
            chatwoot_event=label,
            outcome=answer.outcome,
            status=answer.status,
        )
        return JSONResponse(answer.body, answer.status, headers=answer.headers)

    async def _answer(
        self, request: Request, integration: Integration, delivery_id: str
    ) -> tuple[Answer, str | None]:
        """The answer, and the body's event name once it is known."""
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            too_large = f"body is larger than {MAX_BODY_BYTES} bytes"
            return _invalid(413, too_large, reason="body_too_large"), None

        # Decoded once, and before verification only for an unsigned request that may be
        # an automation webhook: a signed request is not parsed until its signature holds.
        @functools.cache
        def decoded() -> Json | BadBody:
            try:
                return decode_json(raw)
            except BadBody as error:
                return error

        def event() -> str | None:
            body = decoded()
            return body.event if isinstance(body, Json) else None

        try:
            verify(
                integration.config,
                headers=request.headers,
                query=request.query_params,
                body=raw,
                event=event,
                now=self._clock.now().timestamp(),
                window=self._window,
            )
        except Unauthorized as error:
            return Answer(401, {"error": str(error)}, "unauthorized", reason="unauthorized"), None
        body = decoded()
        if isinstance(body, BadBody):
            return _invalid(400, str(body), field="(body)", reason="malformed_body"), None
        if len(delivery_id) > MAX_DELIVERY_ID:
            too_long = f"longer than {MAX_DELIVERY_ID} characters"
            bad_id = _invalid(400, too_long, field="X-Chatwoot-Delivery", reason="bad_delivery_id")
            return bad_id, body.event
        content_key = keys.content_key(body.canonical)
        try:
            delivery = map_delivery(
                body.value,
                integration=integration.config,
                delivery_id=delivery_id,
                content_key=content_key,
            )
        except InvalidPayload as error:
            invalid = _invalid(400, str(error), field=error.field, reason="invalid_payload")
            return invalid, body.event
        if delivery is None:
            return Answer(200, {"outcome": "ignored"}, "ignored"), body.event
        request_id = keys.request_id(
            integration.name, delivery_id=delivery_id, content_key=content_key
        )
        forward = api.ApplyChatwootDeliveryRequest(delivery=delivery, request_id=request_id)
        # The id the ticket service logs this delivery under, too.
        with log_context(request_id=request_id):
            answer = await self._dispatcher.submit(
                integration, forward, keys.ordering_key(delivery)
            )
        return answer, body.event


def _invalid(status: int, error: str, *, reason: str, field: str | None = None) -> Answer:
    body: dict[str, object] = {"error": error}
    if field is not None:
        body["field"] = field
    return Answer(status, body, "invalid", reason=reason)
