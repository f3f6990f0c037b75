"""The Chatwoot integrations the gateway serves, each with the credential it forwards as."""

from __future__ import annotations

from dataclasses import dataclass

from common.config import ChatwootIntegration, ConfigError, Source, TenantsConfig


@dataclass(frozen=True)
class Integration:
    config: ChatwootIntegration
    tenant_id: str
    # The tenant's `chatwoot` API token: the ticket service takes the tenant from it.
    bearer_token: str

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def metadata(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.bearer_token}"),)


def integrations_from(tenants: TenantsConfig) -> dict[str, Integration]:
    """Every configured integration by name; a ConfigError names one that cannot forward."""
    found: dict[str, Integration] = {}
    for tenant in tenants.tenants:
        token = next(
            (
                t.token.get_secret_value()
                for t in tenant.api_tokens
                if t.source is Source.CHATWOOT and t.token is not None
            ),
            None,
        )
        for integration in tenant.chatwoot:
            if token is None:
                raise ConfigError(
                    f"chatwoot integration {integration.name!r}: tenant {tenant.id!r} has no "
                    'api_tokens entry with source = "chatwoot" and a plaintext `token` '
                    "for the gateway to call the ticket service with"
                )
            found[integration.name] = Integration(integration, tenant.id, token)
    return found
