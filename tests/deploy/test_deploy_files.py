"""The deployment files as Docker and Compose would read them: the service image
(non-root, health check on /healthz, `devin-bridge serve`), docker-compose.yml (serve,
worker, Postgres, Redis with health checks and volumes), .env.example and the LICENSE.

`docker compose config` needs Docker, which CI does not have, and no PyPI package ships a
current Compose Specification schema that works with our jsonschema; so the file is
checked structurally against the keys the specification defines."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bot.service.settings import Settings
from tests.test_lint import tool

ROOT = Path(__file__).resolve().parents[2]
# Keys of the Compose Specification (compose-spec/spec.md) this file may use.
TOP_KEYS = {"name", "services", "volumes", "networks", "secrets", "configs"}
SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "ports", "volumes",
    "depends_on", "healthcheck", "restart", "user", "deploy", "networks", "secrets",
    "working_dir", "read_only", "labels", "logging", "stop_grace_period", "tmpfs",
}  # fmt: skip
HEALTH_KEYS = {
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
}
DURATION = re.compile(r"^(\d+(h|m|s|ms|us|ns))+$")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_uses_only_specified_keys_and_valid_values() -> None:
    data = _compose()
    assert set(data) - TOP_KEYS <= {k for k in data if k.startswith("x-")}
    declared_volumes = set(data.get("volumes") or {})
    services = data["services"]
    assert set(services) == {"serve", "worker", "postgres", "redis"}
    for name, service in services.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        health = service["healthcheck"]
        assert set(health) <= HEALTH_KEYS
        assert health["test"][0] in ("CMD", "CMD-SHELL")
        for key in ("interval", "timeout", "start_period"):
            if key in health:
                assert DURATION.match(health[key]), (name, key)
        assert isinstance(health["retries"], int)
        for dep, how in (service.get("depends_on") or {}).items():
            assert dep in services and how == {"condition": "service_healthy"}
            assert "healthcheck" in services[dep]
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            assert source.startswith(".") or source in declared_volumes, (name, mount)
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), (name, image)
        assert service.get("restart") == "unless-stopped"


def test_compose_runs_the_bridge_on_postgres_and_redis() -> None:
    services = _compose()["services"]
    serve, worker = services["serve"], services["worker"]
    assert serve["command"][0] == "serve" and worker["command"] == ["worker"]
    assert serve["build"] == {"context": ".", "dockerfile": "Dockerfile.service"}
    assert (ROOT / serve["build"]["dockerfile"]).is_file()
    assert serve["ports"] == ["${DEVIN_BRIDGE_PORT:-8000}:8000"]
    assert "/healthz" in " ".join(serve["healthcheck"]["test"])
    env = serve["environment"]
    settings = Settings.from_env({**env, "DEVIN_API_KEY": "k"})
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.redis_url == "redis://redis:6379/0"
    assert env["DATABASE_URL"].split("@")[1].startswith("postgres:5432/")
    pg = services["postgres"]["environment"]
    assert env["DATABASE_URL"] == (
        f"postgresql+psycopg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{pg['POSTGRES_DB']}"
    )
    assert serve["env_file"] == ".env"
    assert "./secrets:/app/secrets:ro" in serve["volumes"]


def test_the_service_image_runs_serve_as_a_non_root_user_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile.service").read_text()
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*127\.0\.0\.1:8000/healthz", text, re.MULTILINE)
    assert '"devin-bridge"' in text and 'CMD ["serve"' in text
    assert '"/tmp/src[scale]"' in text
    done = subprocess.run(
        [tool("hadolint"), "Dockerfile.service"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_env_example_names_every_setting_and_holds_no_secret() -> None:
    text = (ROOT / ".env.example").read_text()
    for name in (
        "DEVIN_API_KEY", "DEVIN_ORG_ID", "DEVIN_API_URL", "GITHUB_APP_ID",
        "GITHUB_APP_PRIVATE_KEY_PATH", "GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_URL",
        "GITHUB_WEBHOOK_SECRET", "DATABASE_URL", "REDIS_URL", "DEVIN_BRIDGE_POLL_INTERVAL",
        "DEVIN_BRIDGE_BOT_LOGIN",
    ):  # fmt: skip
        assert name in text, name
    assert not re.search(r"cog_[A-Za-z0-9]{8,}|ghp_[A-Za-z0-9]{8,}", text)
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and "secrets/" in ignored


def test_license_is_mit_like_pyproject() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()
