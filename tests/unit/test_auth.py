"""Bearer tokens name the tenant and the caller."""

from __future__ import annotations

import contextvars
import hashlib

import pytest

from common.auth import Principal, TokenAuthenticator, current_principal, run_as
from common.config import Source, TenantsConfig, parse_tenants
from common.errors import Unauthenticated
from tests.conftest import ACME_GATEWAY_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, tenants_config

HASHED_SECRET = "initech-secret-token-0123456789"


@pytest.fixture
def authenticator() -> TokenAuthenticator:
    return TokenAuthenticator(tenants_config())


@pytest.mark.parametrize(
    ("token", "tenant", "principal", "source"),
    [
        (ACME_TOKEN, "acme", "tester", Source.API),
        (ACME_GATEWAY_TOKEN, "acme", "gateway", Source.CHATWOOT),
        (GLOBEX_TOKEN, "globex", "tester", Source.API),
    ],
    ids=["acme api", "acme gateway", "globex api"],
)
def test_a_known_bearer_token_names_its_tenant_principal_and_source(
    authenticator: TokenAuthenticator, token: str, tenant: str, principal: str, source: Source
) -> None:
    caller = authenticator.authenticate(f"Bearer {token}")

    assert caller.tenant_id == tenant
    assert caller.tenant.id == tenant
    assert caller.name == principal
    assert caller.source is source


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_scheme_is_case_insensitive(authenticator: TokenAuthenticator, scheme: str) -> None:
    assert authenticator.authenticate(f"{scheme} {ACME_TOKEN}").tenant_id == "acme"


def test_whitespace_around_the_token_is_ignored(authenticator: TokenAuthenticator) -> None:
    assert authenticator.authenticate(f"Bearer  {ACME_TOKEN} ").tenant_id == "acme"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        ACME_TOKEN,
        f"Basic {ACME_TOKEN}",
        f"Token {ACME_TOKEN}",
        f"Bearer{ACME_TOKEN}",
        "Bearer not-a-token-anyone-was-given",
        f"Bearer {ACME_TOKEN[:-1]}",
        f"Bearer {ACME_TOKEN.upper()}",
    ],
    ids=[
        "missing",
        "empty",
        "scheme only",
        "scheme and space",
        "scheme and spaces",
        "no scheme",
        "basic",
        "token scheme",
        "no separator",
        "unknown token",
        "truncated token",
        "token in other case",
    ],
)
def test_anything_but_a_known_bearer_token_is_unauthenticated(
    authenticator: TokenAuthenticator, authorization: str | None
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        authenticator.authenticate(authorization)

    assert raised.value.reason == "UNAUTHENTICATED"


def test_a_token_configured_by_its_sha256_authenticates() -> None:
    config: TenantsConfig = parse_tenants(
        {
            "tenants": [
                {
                    "id": "initech",
                    "api_tokens": [
                        {
                            "principal": "escalation-service",
                            "source": "escalation",
                            "token_sha256": hashlib.sha256(HASHED_SECRET.encode()).hexdigest(),
                        }
                    ],
                }
            ]
        }
    )

    caller = TokenAuthenticator(config).authenticate(f"Bearer {HASHED_SECRET}")

    assert caller.tenant_id == "initech"
    assert caller.name == "escalation-service"
    assert caller.source is Source.ESCALATION


def test_the_sha256_itself_is_not_a_valid_token() -> None:
    digest = hashlib.sha256(HASHED_SECRET.encode()).hexdigest()
    config = parse_tenants(
        {"tenants": [{"id": "initech", "api_tokens": [{"principal": "x", "token_sha256": digest}]}]}
    )

    with pytest.raises(Unauthenticated):
        TokenAuthenticator(config).authenticate(f"Bearer {digest}")


def test_without_a_principal_in_context_there_is_no_caller() -> None:
    with pytest.raises(Unauthenticated):
        contextvars.Context().run(current_principal)


def test_run_as_sets_the_caller_for_the_current_context_only() -> None:
    acme = tenants_config().tenant("acme")
    caller = Principal(acme, "tester", Source.API)

    def as_caller() -> Principal:
        run_as(caller)
        return current_principal()

    assert contextvars.Context().run(as_caller) is caller
    with pytest.raises(Unauthenticated):
        contextvars.Context().run(current_principal)
