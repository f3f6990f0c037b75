"""The tenants file: validation that names the bad key, env: secrets, and no leaks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.config import ConfigError, Source, load_tenants, parse_tenants

TOKEN = "acme-api-token-0123456789"
GATEWAY_TOKEN = "acme-gateway-token-0123456789"
CHATWOOT_ACCESS_TOKEN = "chatwoot-access-token-abcdef"
WEBHOOK_SECRET = "chatwoot-webhook-secret-uvwxyz"
URL_TOKEN = "chatwoot-url-token-0123456789"
GLOBEX_DIGEST = hashlib.sha256(b"globex-api-token-0123456789").hexdigest()

VALID_TOML = f"""
[[tenants]]
id = "acme"
display_name = "ACME"
default_phone_region = "US"

[[tenants.api_tokens]]
principal = "tester"
token = "{TOKEN}"

[[tenants]]
id = "globex"
default_phone_region = "BR"

[[tenants.api_tokens]]
principal = "tester"
token_sha256 = "{GLOBEX_DIGEST}"
"""


def valid_raw() -> dict[str, Any]:
    """A complete, valid config; each test gets its own copy to break."""
    return {
        "tenants": [
            {
                "id": "acme",
                "display_name": "ACME",
                "default_phone_region": "US",
                "api_tokens": [
                    {"principal": "tester", "token": TOKEN},
                    {"principal": "gateway", "source": "chatwoot", "token": GATEWAY_TOKEN},
                ],
                "chatwoot": [
                    {
                        "name": "acme-support",
                        "base_url": "https://chat.acme.example",
                        "account_id": 3,
                        "api_access_token": CHATWOOT_ACCESS_TOKEN,
                        "webhook_secret": WEBHOOK_SECRET,
                    }
                ],
            },
            {
                "id": "globex",
                "default_phone_region": "BR",
                "api_tokens": [{"principal": "tester", "token_sha256": GLOBEX_DIGEST}],
            },
        ]
    }


def test_a_valid_config_parses() -> None:
    config = parse_tenants(valid_raw())

    acme = config.tenant("acme")
    assert [t.id for t in config.tenants] == ["acme", "globex"]
    assert acme.default_phone_region == "US"
    assert [(t.principal, t.source) for t in acme.api_tokens] == [
        ("tester", Source.API),
        ("gateway", Source.CHATWOOT),
    ]
    assert acme.api_tokens[0].digest == hashlib.sha256(TOKEN.encode()).digest()
    assert config.tenant("globex").api_tokens[0].digest == bytes.fromhex(GLOBEX_DIGEST)
    assert acme.chatwoot[0].account_id == 3
    assert acme.chatwoot[0].api_access_token.get_secret_value() == CHATWOOT_ACCESS_TOKEN


def test_chatwoot_webhooks_are_verified_by_signature_unless_told_otherwise() -> None:
    integration = parse_tenants(valid_raw()).tenant("acme").chatwoot[0]

    assert integration.verification == "signature"
    assert integration.url_token is None
    assert integration.accept_unsigned_automation is False


def test_older_chatwoot_is_verified_by_a_url_token_without_a_secret() -> None:
    raw = valid_raw()
    integration_raw = raw["tenants"][0]["chatwoot"][0]
    del integration_raw["webhook_secret"]
    integration_raw.update(verification="url_token", url_token=URL_TOKEN)

    integration = parse_tenants(raw).tenant("acme").chatwoot[0]

    assert integration.verification == "url_token"
    assert integration.url_token is not None
    assert integration.url_token.get_secret_value() == URL_TOKEN
    assert URL_TOKEN not in repr(integration)


def test_unsigned_automation_webhooks_are_accepted_only_when_configured() -> None:
    raw = valid_raw()
    raw["tenants"][0]["chatwoot"][0]["accept_unsigned_automation"] = True

    assert parse_tenants(raw).tenant("acme").chatwoot[0].accept_unsigned_automation


def test_asking_for_an_unknown_tenant_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        parse_tenants(valid_raw()).tenant("initech")


Breakage = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Breakage:
    """Set a dotted path such as `tenants.0.api_tokens.0.source` in the raw config."""

    def breaks(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return breaks


def _drop(path: str) -> Breakage:
    def breaks(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return breaks


def _duplicate_tenant_id(raw: dict[str, Any]) -> None:
    raw["tenants"][1]["id"] = "acme"


def _reuse_token_across_tenants(raw: dict[str, Any]) -> None:
    raw["tenants"][1]["api_tokens"] = [{"principal": "tester", "token": TOKEN}]


def _with_url_token(token: str) -> Breakage:
    def breaks(raw: dict[str, Any]) -> None:
        integration = raw["tenants"][0]["chatwoot"][0]
        integration.update(verification="url_token", url_token=token)

    return breaks


def _both_secrets(raw: dict[str, Any]) -> None:
    raw["tenants"][0]["api_tokens"][0]["token_sha256"] = GLOBEX_DIGEST


BAD_CONFIGS: dict[str, tuple[Breakage, str, str]] = {
    "unknown source": (
        _set("tenants.0.api_tokens.0.source", "robot"),
        "tenants[0].api_tokens[0].source",
        "'api'",
    ),
    "unknown phone region": (
        _set("tenants.0.default_phone_region", "XX"),
        "tenants[0].default_phone_region",
        "'XX'",
    ),
    "lower-case phone region": (
        _set("tenants.1.default_phone_region", "br"),
        "tenants[1].default_phone_region",
        "'br'",
    ),
    "duplicate tenant ids": (_duplicate_tenant_id, "(top level)", "'acme' appears twice"),
    "token reused by another tenant": (
        _reuse_token_across_tenants,
        "(top level)",
        "reuses a token",
    ),
    "short token": (
        _set("tenants.0.api_tokens.0.token", "fifteen-chars-x"),
        "tenants[0].api_tokens[0]",
        "at least 16 characters",
    ),
    "token and token_sha256": (_both_secrets, "tenants[0].api_tokens[0]", "exactly one"),
    "neither token nor token_sha256": (
        _drop("tenants.0.api_tokens.0.token"),
        "tenants[0].api_tokens[0]",
        "exactly one",
    ),
    "token_sha256 not hex": (
        _set("tenants.1.api_tokens.0.token_sha256", "Z" * 64),
        "tenants[1].api_tokens[0]",
        "64 lower-case hex digits",
    ),
    "typo in a key": (
        _set("tenants.0.defualt_phone_region", "US"),
        "tenants[0].defualt_phone_region",
        "Extra inputs are not permitted",
    ),
    "unknown top-level key": (_set("tenant", []), "tenant", "Extra inputs are not permitted"),
    "tenant id not a slug": (_set("tenants.0.id", "Acme Corp"), "tenants[0].id", "pattern"),
    "principal not a slug": (
        _set("tenants.0.api_tokens.1.principal", "Gate Way"),
        "tenants[0].api_tokens[1].principal",
        "pattern",
    ),
    "tenant without tokens": (_set("tenants.1.api_tokens", []), "tenants[1].api_tokens", "1"),
    "no tenants": (_set("tenants", []), "tenants", "at least 1"),
    "chatwoot account id zero": (
        _set("tenants.0.chatwoot.0.account_id", 0),
        "tenants[0].chatwoot[0].account_id",
        "greater than 0",
    ),
    "chatwoot base url not a url": (
        _set("tenants.0.chatwoot.0.base_url", "chat.acme"),
        "tenants[0].chatwoot[0].base_url",
        "URL",
    ),
    "signature verification without a webhook secret": (
        _drop("tenants.0.chatwoot.0.webhook_secret"),
        "tenants[0].chatwoot[0]",
        "needs `webhook_secret`",
    ),
    "url_token verification without a url token": (
        _set("tenants.0.chatwoot.0.verification", "url_token"),
        "tenants[0].chatwoot[0]",
        "needs `url_token`",
    ),
    "short url token": (
        _with_url_token("fifteen-chars-x"),
        "tenants[0].chatwoot[0]",
        "`url_token` must be at least 16 characters",
    ),
    "unknown verification": (
        _set("tenants.0.chatwoot.0.verification", "hmac"),
        "tenants[0].chatwoot[0].verification",
        "'signature' or 'url_token'",
    ),
    "accept_unsigned_automation not a bool": (
        _set("tenants.0.chatwoot.0.accept_unsigned_automation", "yes please"),
        "tenants[0].chatwoot[0].accept_unsigned_automation",
        "boolean",
    ),
}


@pytest.mark.parametrize(("breaks", "path", "detail"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_a_bad_config_is_rejected_naming_the_bad_key(
    breaks: Breakage, path: str, detail: str
) -> None:
    raw = valid_raw()
    breaks(raw)

    with pytest.raises(ConfigError) as raised:
        parse_tenants(raw)

    message = str(raised.value)
    assert f"{path}: " in message
    assert detail in message


def test_every_bad_key_is_reported_at_once() -> None:
    raw = valid_raw()
    raw["tenants"][0]["api_tokens"][0]["source"] = "robot"
    raw["tenants"][1]["default_phone_region"] = "XX"

    with pytest.raises(ConfigError) as raised:
        parse_tenants(raw)

    assert "tenants[0].api_tokens[0].source: " in str(raised.value)
    assert "tenants[1].default_phone_region: " in str(raised.value)


def test_env_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TOKEN_FROM_ENV", "a-token-that-lives-in-the-environment")
    raw = valid_raw()
    raw["tenants"][0]["api_tokens"][0]["token"] = "env:ACME_TOKEN_FROM_ENV"

    config = parse_tenants(raw)

    token = config.tenant("acme").api_tokens[0].token
    assert token is not None
    assert token.get_secret_value() == "a-token-that-lives-in-the-environment"


def test_env_values_are_validated_like_literal_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_SHORT_TOKEN", "too-short")
    raw = valid_raw()
    raw["tenants"][0]["api_tokens"][0]["token"] = "env:ACME_SHORT_TOKEN"

    with pytest.raises(ConfigError, match=r"tenants\[0\]\.api_tokens\[0\]: .*at least 16"):
        parse_tenants(raw)


def test_a_missing_environment_variable_is_named_with_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACME_CHATWOOT_TOKEN", raising=False)
    raw = valid_raw()
    raw["tenants"][0]["chatwoot"][0]["api_access_token"] = "env:ACME_CHATWOOT_TOKEN"

    with pytest.raises(ConfigError) as raised:
        parse_tenants(raw)

    message = str(raised.value)
    assert "tenants[0].chatwoot[0].api_access_token" in message
    assert "ACME_CHATWOOT_TOKEN" in message


def test_load_tenants_reads_a_toml_file(tmp_path: Path) -> None:
    file = tmp_path / "tenants.toml"
    file.write_text(VALID_TOML, encoding="utf-8")

    config = load_tenants(file)

    assert [t.id for t in config.tenants] == ["acme", "globex"]
    assert config.tenant("globex").default_phone_region == "BR"


def test_load_tenants_reports_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError, match="does not exist") as raised:
        load_tenants(missing)

    assert str(missing) in str(raised.value)


def test_load_tenants_reports_invalid_toml(tmp_path: Path) -> None:
    file = tmp_path / "tenants.toml"
    file.write_text('[[tenants]\nid = "acme"\n', encoding="utf-8")

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_tenants(file)


def test_load_tenants_reports_a_file_that_is_not_utf8_as_invalid(tmp_path: Path) -> None:
    # TOML files must be UTF-8; a Latin-1 file is as invalid as a syntax error.
    file = tmp_path / "tenants.toml"
    file.write_bytes(VALID_TOML.replace('"ACME"', '"ACMÉ"').encode("latin-1"))

    with pytest.raises(ConfigError):
        load_tenants(file)


def test_load_tenants_names_bad_keys_in_the_file(tmp_path: Path) -> None:
    file = tmp_path / "tenants.toml"
    file.write_text(VALID_TOML.replace('"BR"', '"XX"'), encoding="utf-8")

    with pytest.raises(ConfigError, match=r"tenants\[1\]\.default_phone_region"):
        load_tenants(file)


SECRETS = [TOKEN, GATEWAY_TOKEN, CHATWOOT_ACCESS_TOKEN, WEBHOOK_SECRET, GLOBEX_DIGEST]


def test_secrets_never_appear_in_the_config_repr_or_dump() -> None:
    config = parse_tenants(valid_raw())

    shown = [repr(config), str(config), config.model_dump_json(), str(config.model_dump())]

    for text in shown:
        for secret in SECRETS:
            assert secret not in text


def test_secrets_never_appear_in_config_errors() -> None:
    raw = valid_raw()
    raw["tenants"][0]["api_tokens"][0]["token"] = "short-secret"
    raw["tenants"][0]["chatwoot"][0]["account_id"] = -1

    with pytest.raises(ConfigError) as raised:
        parse_tenants(raw)

    for secret in ["short-secret", *SECRETS]:
        assert secret not in str(raised.value)
