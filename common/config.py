"""Tenants, their credentials and their Chatwoot integrations, read from one TOML file.

The file is validated at start; a bad file stops the process with a message naming the
bad key, e.g. `tenants[0].api_tokens[1].source: Input should be 'api', 'chatwoot', ...`.
Any string value may be written `env:NAME` to read it from the environment instead, so
secrets can stay out of the file.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import phonenumbers
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(Exception):
    """The tenants file is missing or invalid; the message names the bad key."""


class Source(StrEnum):
    """What kind of caller a credential belongs to; recorded on every audit event."""

    API = "api"
    CHATWOOT = "chatwoot"
    ESCALATION = "escalation"
    SLA = "sla"
    SYSTEM = "system"


Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiToken(_Strict):
    """One credential for internal callers. Give `token`, or its SHA-256 as `token_sha256`."""

    principal: Slug
    source: Source = Source.API
    token: SecretStr | None = None
    token_sha256: SecretStr | None = None

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> Self:
        if (self.token is None) == (self.token_sha256 is None):
            raise ValueError("give exactly one of `token` and `token_sha256`")
        if self.token is not None and len(self.token.get_secret_value()) < 16:
            raise ValueError("`token` must be at least 16 characters")
        if self.token_sha256 is not None:
            digest = self.token_sha256.get_secret_value()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("`token_sha256` must be 64 lower-case hex digits")
        return self

    @property
    def digest(self) -> bytes:
        if self.token is not None:
            return hashlib.sha256(self.token.get_secret_value().encode()).digest()
        assert self.token_sha256 is not None
        return bytes.fromhex(self.token_sha256.get_secret_value())


class ChatwootIntegration(_Strict):
    """A Chatwoot account connected to a tenant. Used by the gateway and the sync.

    The gateway verifies webhooks one of two ways, chosen explicitly, never by fallback:
    `signature` (Chatwoot 4.12+ signs with the webhook's secret) or `url_token` (older
    Chatwoot signs nothing, so the webhook URL carries `?token=<url_token>`).
    """

    name: Slug
    base_url: AnyHttpUrl
    account_id: int = Field(gt=0)
    api_access_token: SecretStr
    webhook_secret: SecretStr | None = None
    verification: Literal["signature", "url_token"] = "signature"
    url_token: SecretStr | None = None
    # Chatwoot sends automation-rule and macro webhooks unsigned; accepting them means
    # trusting anyone who knows the URL with those two kinds of event.
    accept_unsigned_automation: bool = False

    @model_validator(mode="after")
    def _verification_has_its_secret(self) -> Self:
        if self.verification == "signature" and self.webhook_secret is None:
            raise ValueError('`verification = "signature"` needs `webhook_secret`')
        if self.verification == "url_token":
            if self.url_token is None:
                raise ValueError('`verification = "url_token"` needs `url_token`')
            if len(self.url_token.get_secret_value()) < 16:
                raise ValueError("`url_token` must be at least 16 characters")
        return self


class SentimentAnalyzerConfig(_Strict):
    """A tenant's own sentiment service, asked instead of the built-in lexicons (which
    still answer whenever it fails). It gets `{"text", "languages"}` as JSON and answers
    `{"score": -1..1, "language": "xx"}`; `token`, if given, goes as a Bearer header."""

    url: AnyHttpUrl
    token: SecretStr | None = None
    timeout_seconds: float = Field(default=2.0, gt=0, le=10)


class Tenant(_Strict):
    id: Slug
    display_name: str = ""
    default_phone_region: str = "US"
    api_tokens: list[ApiToken] = Field(min_length=1)
    chatwoot: list[ChatwootIntegration] = Field(default_factory=list)
    sentiment_analyzer: SentimentAnalyzerConfig | None = None

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{region!r} is not a region code phonenumbers knows (e.g. 'US')")
        return region

    def integration_for_account(self, account_id: int) -> ChatwootIntegration | None:
        """The integration our changes to this account's conversations go through: the
        first listed. Several may share an account (say, a separate webhook for automation
        rules), and only the first one's API token is used."""
        return next((i for i in self.chatwoot if i.account_id == account_id), None)


class TenantsConfig(_Strict):
    tenants: list[Tenant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids_and_tokens(self) -> Self:
        seen_ids: set[str] = set()
        seen_tokens: set[bytes] = set()
        seen_integrations: set[str] = set()
        for tenant in self.tenants:
            if tenant.id in seen_ids:
                raise ValueError(f"tenant id {tenant.id!r} appears twice")
            seen_ids.add(tenant.id)
            for token in tenant.api_tokens:
                if token.digest in seen_tokens:
                    raise ValueError(f"tenant {tenant.id!r} reuses a token of another credential")
                seen_tokens.add(token.digest)
            for integration in tenant.chatwoot:
                if integration.name in seen_integrations:
                    raise ValueError(f"chatwoot integration {integration.name!r} appears twice")
                seen_integrations.add(integration.name)
        return self

    def tenant(self, tenant_id: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise KeyError(tenant_id)


def _resolve_env(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("env:"):
        name = value.removeprefix("env:")
        if name not in os.environ:
            raise ConfigError(f"{path}: environment variable {name} is not set")
        return os.environ[name]
    return value


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def parse_tenants(raw: dict[str, Any]) -> TenantsConfig:
    try:
        return TenantsConfig.model_validate(_resolve_env(raw, ""))
    except ValidationError as error:
        problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"invalid tenants config: {problems}") from None


def load_tenants(path: str | Path) -> TenantsConfig:
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"tenants file {file} does not exist") from None
    except OSError as error:
        raise ConfigError(f"tenants file {file} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"tenants file {file} is not UTF-8 (TOML must be)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"tenants file {file} is not valid TOML: {error}") from None
    return parse_tenants(raw)
