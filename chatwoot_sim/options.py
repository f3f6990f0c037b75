"""What a simulator is started with: where it listens, its account, its tokens, its webhook."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ADMIN_TOKEN = "sim-admin-token"  # noqa: S105 - a public development token
DEFAULT_AGENT_TOKEN = "sim-agent-token"  # noqa: S105 - a public development token
DEFAULT_BOT_TOKEN = "sim-bot-token"  # noqa: S105 - a public development token
DEFAULT_WEBHOOK_SECRET = "sim-webhook-secret"  # noqa: S105 - a public development secret


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 3000
    account_id: int = 1
    account_name: str = "Simulated Account"
    # An administrator's, an agent-role user's and an agent bot's `api_access_token`.
    admin_token: str = DEFAULT_ADMIN_TOKEN
    agent_token: str = DEFAULT_AGENT_TOKEN
    bot_token: str = DEFAULT_BOT_TOKEN
    # The account webhook: every event goes there, signed with the secret (Chatwoot 4.12+).
    webhook_url: str | None = None
    webhook_secret: str | None = DEFAULT_WEBHOOK_SECRET
    webhook_timeout_seconds: float = 5.0
    # A named seed applied at start (and not again on /_sim/reset), e.g. "demo".
    seed: str | None = None
