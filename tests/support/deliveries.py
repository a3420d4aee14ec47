"""Send signed webhook deliveries to a running service, and wait for what follows."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests

from bot.service.intake import signature
from tests.support.stack import Stack

T = TypeVar("T")
SECRET = "whsec-test-It's-a-secret"


def service_env(stack: Stack, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a service under test, pointing at the loopback stack."""
    env = {
        "DEVIN_API_KEY": stack.devin_key,
        "DEVIN_ORG_ID": stack.org_id,
        "DEVIN_API_URL": stack.devin_url,
        "GITHUB_TOKEN": stack.github_token,
        "GITHUB_API_URL": stack.github_url,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "DEVIN_BRIDGE_POLL_INTERVAL": "0.2",
        "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
        "DEVIN_BRIDGE_BOT_LOGIN": stack.bot_login,
    }
    env.update(extra)
    return env


def deliver(
    url: str,
    event: str,
    payload: Mapping[str, Any] | bytes,
    *,
    delivery_id: str | None = None,
    secret: str = SECRET,
    hook_id: str = "4242",
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """POST one delivery to `url`/webhook, signed like GitHub signs it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": hook_id,
        "X-Hub-Signature-256": signature(secret, body),
    }
    sent.update(headers or {})
    return requests.post(url + "/webhook", data=body, headers=sent, timeout=10)


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 20.0, every: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
