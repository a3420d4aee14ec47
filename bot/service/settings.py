"""Settings of the service and the CLI, read once from the environment.

This and ``action_inputs.py`` are the only readers of ``os.environ``; both take
the mapping as an argument so tests pass plain dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.write_budget import (
    DEFAULT_PER_HOUR,
    DEFAULT_PER_MINUTE,
    ENV_PER_HOUR,
    ENV_PER_MINUTE,
    BudgetLimits,
)
from bot.devin.client import DEFAULT_API_URL

DEFAULT_GITHUB_API_URL = "https://api.github.com"
# Relative to the folder it was started in; from_env uses default_database_url instead.
DEFAULT_DATABASE_URL = "sqlite:///devin-bridge.db"
DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
# Jobs and ticks one worker runs at once. They mostly wait on HTTP, and a GitHub write
# may wait about a second for its identity's next slot, so threads are cheap capacity.
DEFAULT_WORKER_CONCURRENCY = 8
MAX_WORKER_CONCURRENCY = 64


DEFAULT_SAFETY_POLL_S = 600.0
DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9._-]{1,40}")
_SWITCH = {
    "on": True,
    "true": True,
    "1": True,
    "yes": True,
    "off": False,
    "false": False,
    "0": False,
    "no": False,
}


def default_database_url(env: Mapping[str, str]) -> str:
    """SQLite in the per-user data folder (XDG: $XDG_DATA_HOME, else ~/.local/share), so
    that `serve`, `worker` and `refresh` find the same store from any folder."""
    base = env.get("XDG_DATA_HOME") or ""
    data = Path(base) if base.strip() else Path(env.get("HOME") or Path.home()) / ".local/share"
    return f"sqlite:///{data / 'devin-bridge' / 'devin-bridge.db'}"


class SettingsError(Exception):
    """A missing or malformed setting; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    devin_api_key: str = field(default="", repr=False)
    devin_org_id: str = ""
    devin_api_url: str = DEFAULT_API_URL
    github_token: str = field(default="", repr=False)
    github_app_id: str = ""
    github_app_private_key: str = field(default="", repr=False)
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_webhook_secret: str = field(default="", repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = ""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    bot_login: str = ""
    # The write budget per GitHub identity, shared by every thread and process:
    # seconds between writes (GitHub asks for at least 1 s) and its secondary limits.
    github_write_spacing: float = 1.0
    github_writes_per_minute: int = DEFAULT_PER_MINUTE
    github_writes_per_hour: int = DEFAULT_PER_HOUR
    worker_concurrency: int = DEFAULT_WORKER_CONCURRENCY
    # GitHub never sends more than 25 MB; anything larger is refused with 413.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # This bridge's own session tag is `bridge:<deployment>`; empty: an id made once and
    # kept in the store, so two bridges on one organisation never read each other's.
    deployment: str = ""
    # The change feed finds changed sessions with one list call per interval; off: every
    # session is polled on its own schedule (for an API that cannot filter by update time).
    change_feed: bool = True
    # While the feed works, each live session is still read on its own this often.
    safety_poll_s: float = DEFAULT_SAFETY_POLL_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        key_text = env.get("GITHUB_APP_PRIVATE_KEY", "")
        key_path = get("GITHUB_APP_PRIVATE_KEY_PATH")
        if not key_text.strip() and key_path:
            try:
                with open(key_path, encoding="utf-8") as fh:
                    key_text = fh.read()
            except OSError as err:
                raise SettingsError(
                    f"GITHUB_APP_PRIVATE_KEY_PATH {key_path!r} cannot be read: {err.strerror}"
                ) from None
        interval_text = get("DEVIN_BRIDGE_POLL_INTERVAL", str(DEFAULT_POLL_INTERVAL))
        try:
            interval = float(interval_text)
        except ValueError:
            raise SettingsError(
                f"DEVIN_BRIDGE_POLL_INTERVAL must be a number of seconds, got {interval_text!r}"
            ) from None
        if interval <= 0:
            raise SettingsError("DEVIN_BRIDGE_POLL_INTERVAL must be greater than 0")
        spacing_text = get("DEVIN_BRIDGE_GITHUB_WRITE_SPACING", "1.0")
        try:
            spacing = max(0.0, float(spacing_text))
        except ValueError:
            raise SettingsError(
                f"DEVIN_BRIDGE_GITHUB_WRITE_SPACING must be a number, got {spacing_text!r}"
            ) from None
        per_minute = _count(get(ENV_PER_MINUTE), ENV_PER_MINUTE, DEFAULT_PER_MINUTE)
        per_hour = _count(get(ENV_PER_HOUR), ENV_PER_HOUR, DEFAULT_PER_HOUR)
        concurrency = _count(
            get("DEVIN_BRIDGE_WORKER_CONCURRENCY"),
            "DEVIN_BRIDGE_WORKER_CONCURRENCY",
            DEFAULT_WORKER_CONCURRENCY,
        )
        if concurrency > MAX_WORKER_CONCURRENCY:
            raise SettingsError(
                f"DEVIN_BRIDGE_WORKER_CONCURRENCY must be at most {MAX_WORKER_CONCURRENCY}"
            )
        body_text = get("DEVIN_BRIDGE_MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))
        if not body_text.isascii() or not body_text.isdigit() or int(body_text) <= 0:
            raise SettingsError(
                f"DEVIN_BRIDGE_MAX_BODY_BYTES must be a positive number of bytes, got {body_text!r}"
            )
        deployment = get("DEVIN_BRIDGE_DEPLOYMENT")
        if deployment and not DEPLOYMENT_NAME.fullmatch(deployment):
            raise SettingsError(
                "DEVIN_BRIDGE_DEPLOYMENT must be 1-40 letters, digits, '.', '_' or '-', "
                f"got {deployment!r}"
            )
        feed_text = get("DEVIN_BRIDGE_CHANGE_FEED", "on").lower()
        if feed_text not in _SWITCH:
            raise SettingsError(f"DEVIN_BRIDGE_CHANGE_FEED must be on or off, got {feed_text!r}")
        safety_text = get("DEVIN_BRIDGE_SAFETY_POLL", str(DEFAULT_SAFETY_POLL_S))
        try:
            safety = float(safety_text)
        except ValueError:
            safety = -1.0
        if safety < interval:
            raise SettingsError(
                "DEVIN_BRIDGE_SAFETY_POLL must be a number of seconds no smaller than "
                f"DEVIN_BRIDGE_POLL_INTERVAL, got {safety_text!r}"
            )
        return cls(
            devin_api_key=get("DEVIN_API_KEY"),
            devin_org_id=get("DEVIN_ORG_ID"),
            devin_api_url=get("DEVIN_API_URL", DEFAULT_API_URL),
            github_token=get("GITHUB_TOKEN"),
            github_app_id=get("GITHUB_APP_ID"),
            github_app_private_key=key_text.strip().replace("\\n", "\n"),
            github_api_url=get("GITHUB_API_URL", DEFAULT_GITHUB_API_URL),
            github_webhook_secret=get("GITHUB_WEBHOOK_SECRET"),
            database_url=get("DATABASE_URL") or default_database_url(env),
            redis_url=get("REDIS_URL"),
            poll_interval=interval,
            bot_login=get("DEVIN_BRIDGE_BOT_LOGIN"),
            github_write_spacing=spacing,
            github_writes_per_minute=per_minute,
            github_writes_per_hour=per_hour,
            worker_concurrency=concurrency,
            max_body_bytes=int(body_text),
            deployment=deployment,
            change_feed=_SWITCH[feed_text],
            safety_poll_s=safety,
        )

    @property
    def github_write_limits(self) -> BudgetLimits:
        return BudgetLimits(
            per_minute=self.github_writes_per_minute,
            per_hour=self.github_writes_per_hour,
            spacing=self.github_write_spacing,
        )

    @property
    def uses_app(self) -> bool:
        return bool(self.github_app_id and self.github_app_private_key)

    def missing_for_devin(self) -> list[str]:
        missing = []
        if not self.devin_api_key:
            missing.append("DEVIN_API_KEY")
        if not self.devin_org_id:
            missing.append("DEVIN_ORG_ID")
        return missing

    def missing_for_service(self) -> list[str]:
        missing = self.missing_for_devin()
        if not self.github_webhook_secret:
            missing.append("GITHUB_WEBHOOK_SECRET")
        if not self.github_token and not self.uses_app:
            if self.github_app_id and not self.github_app_private_key:
                missing.append("GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_PATH)")
            else:
                missing.append("GITHUB_TOKEN (or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY)")
        return missing

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed (used to scrub logs and outputs)."""
        values = (
            self.devin_api_key,
            self.github_token,
            self.github_app_private_key,
            self.github_webhook_secret,
        )
        return tuple(v for v in values if v)


def _count(text: str, name: str, default: int) -> int:
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise SettingsError(f"{name} must be a whole number, at least 1, got {text!r}")
    return int(text)
