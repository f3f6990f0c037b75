"""The simulator's parts in one place: state, behaviour, call record, faults, webhooks, and the
listener that `/_sim/down` closes. Both HTTP faces (the Chatwoot API and the control API) work
on one Simulator, so a reset replaces everything they see at once.
"""

from __future__ import annotations

from collections.abc import Callable

from chatwoot_sim import seed
from chatwoot_sim.behaviour import Chatwoot
from chatwoot_sim.calls import CallLog
from chatwoot_sim.faults import Faults
from chatwoot_sim.options import Options
from chatwoot_sim.state import Author
from chatwoot_sim.webhooks import WebhookSender, WebhookSettings


class Simulator:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.calls = CallLog()
        self.faults = Faults()
        self.webhooks = WebhookSender(self._webhook_settings(), options.webhook_timeout_seconds)
        self.world = seed.base_world(options)
        self.chatwoot = Chatwoot(self.world, self.webhooks.emit)
        # Set by the process that serves the simulator: closes the listener for N seconds.
        self.go_down: Callable[[float], None] | None = None

    def _webhook_settings(self) -> WebhookSettings:
        return WebhookSettings(url=self.options.webhook_url, secret=self.options.webhook_secret)

    def reset(self) -> None:
        """Back to the base state: no seed, no calls, no faults, no webhooks, webhooks on."""
        self.calls.clear()
        self.faults.clear()
        self.webhooks.clear()
        self.webhooks.settings = self._webhook_settings()
        self.world = seed.base_world(self.options)
        self.chatwoot = Chatwoot(self.world, self.webhooks.emit)

    def authenticate(self, token: str | None) -> Author | None:
        return self.world.tokens.get(token) if token else None

    def actor_label(self, token: str | None) -> str | None:
        """How a call's token shows in the call record."""
        if token is None:
            return None
        if token not in self.world.tokens:
            return "invalid"
        options = self.options
        roles = {options.admin_token: "admin", options.agent_token: "agent"}
        return roles.get(token, "bot" if token == options.bot_token else "user")
