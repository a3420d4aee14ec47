"""Settings.from_env: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.service.settings import DEFAULT_MAX_BODY_BYTES, Settings, SettingsError

FULL = {
    "DEVIN_API_KEY": "cog_key",
    "DEVIN_ORG_ID": "org-1",
    "GITHUB_TOKEN": "ghp_token",
    "GITHUB_WEBHOOK_SECRET": "s3cret",
}


def test_embedded_defaults() -> None:
    s = Settings.from_env(FULL)
    assert s.devin_api_url == "https://api.devin.ai/v3"
    assert s.github_api_url == "https://api.github.com"
    assert s.database_url.endswith("/devin-bridge/devin-bridge.db")  # per-user data folder
    assert s.redis_url == ""
    assert s.poll_interval == 10.0
    assert s.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert s.missing_for_service() == []


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, ["DEVIN_API_KEY", "DEVIN_ORG_ID", "GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN"]),
        ({**FULL, "GITHUB_TOKEN": ""}, ["GITHUB_TOKEN"]),
        ({**FULL, "GITHUB_TOKEN": "", "GITHUB_APP_ID": "12"}, ["GITHUB_APP_PRIVATE_KEY"]),
        ({**FULL, "GITHUB_WEBHOOK_SECRET": "  "}, ["GITHUB_WEBHOOK_SECRET"]),
    ],
)
def test_missing_variables_are_named(env: dict[str, str], missing: list[str]) -> None:
    named = Settings.from_env(env).missing_for_service()
    assert [m.split(" ")[0] for m in named] == missing


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEVIN_BRIDGE_POLL_INTERVAL", "soon"),
        ("DEVIN_BRIDGE_POLL_INTERVAL", "0"),
        ("DEVIN_BRIDGE_GITHUB_WRITE_SPACING", "x"),
        ("DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE", "0"),
        ("DEVIN_BRIDGE_GITHUB_WRITES_PER_HOUR", "many"),
        ("DEVIN_BRIDGE_MAX_BODY_BYTES", "-5"),
        ("DEVIN_BRIDGE_MAX_BODY_BYTES", "lots"),
        ("GITHUB_APP_PRIVATE_KEY_PATH", "/does/not/exist.pem"),
    ],
)
def test_malformed_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**FULL, name: value})
    assert name in str(err.value)


def test_app_key_from_a_file_and_secrets_hidden_from_repr(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n")
    s = Settings.from_env(
        {**FULL, "GITHUB_TOKEN": "", "GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY_PATH": str(pem)}
    )
    assert s.uses_app and s.missing_for_service() == []
    text = repr(s)
    for secret in ("cog_key", "s3cret", "abc"):
        assert secret not in text
    assert set(s.secrets()) >= {"cog_key", "s3cret"}


def test_the_app_factory_refuses_to_start_without_secret_or_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gunicorn 'bot.app:create_app()'` must refuse like `devin-bridge serve` does."""
    from bot.service.app import create_app

    for name in (*FULL, "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVIN_API_KEY", "cog_key")
    monkeypatch.setenv("DEVIN_ORG_ID", "org-1")
    with pytest.raises(SettingsError) as err:
        create_app()
    assert "GITHUB_WEBHOOK_SECRET" in str(err.value) and "GITHUB_TOKEN" in str(err.value)
    assert "cog_key" not in str(err.value)
