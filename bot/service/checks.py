"""The configuration checked against the live APIs: `devin-bridge doctor`, and `serve` /
`worker` before they start. One `Check` per item, each saying what was found or what to
do. Nothing here prints; nothing raises for a failed check.

Exit codes built on this (bot/cli/doctor.py): 0 all passed (warnings allowed), 1 a
credential was refused or a service did not answer, 2 something is missing or malformed
in the configuration itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.devin.client import DevinClient, RetryPolicy
from bot.devin.errors import (
    DevinAuthError,
    DevinConfigError,
    DevinError,
    DevinForbidden,
    DevinNotFound,
    DevinRateLimited,
    DevinServerError,
    DevinUnavailable,
)
from bot.github.auth import AppAuthProvider
from bot.github.client import GitHubClient
from bot.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubForbidden,
    GitHubRateLimited,
    GitHubServerError,
    GitHubUnavailable,
)
from bot.service.settings import Settings

Outcome = Literal["ok", "warn", "fail", "missing", "skipped"]
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str

    @property
    def failed(self) -> bool:
        return self.outcome in ("fail", "missing")


@dataclass(frozen=True)
class CheckPlan:
    """Which checks to run (doctor runs all; `worker` needs no webhook secret)."""

    webhook_secret: bool = True
    store: bool = True
    redis: bool = True


def run_checks(
    settings: Settings,
    plan: CheckPlan = CheckPlan(),
    *,
    store_probe: Callable[[str], str | None] | None = None,
    redis_probe: Callable[[str], str | None] | None = None,
) -> list[Check]:
    """Every check in a fixed order. The probes return None when reachable, else why not."""
    checks = _devin_checks(settings)
    checks.append(_github_check(settings))
    if plan.webhook_secret:
        checks.append(
            Check("webhook secret", "ok", "GITHUB_WEBHOOK_SECRET is set")
            if settings.github_webhook_secret
            else Check(
                "webhook secret",
                "missing",
                "set GITHUB_WEBHOOK_SECRET to the secret of the webhook or App "
                "(e.g. openssl rand -hex 32, entered in GitHub too)",
            )
        )
    if plan.store and store_probe is not None:
        from bot.store.facade import safe_url

        problem = store_probe(settings.database_url)
        where = safe_url(settings.database_url)
        checks.append(
            Check("state store", "ok", f"{where} is reachable")
            if problem is None
            else Check("state store", "fail", f"{where}: {problem}; check DATABASE_URL")
        )
    if plan.redis and settings.redis_url and redis_probe is not None:
        problem = redis_probe(settings.redis_url)
        checks.append(
            Check("Redis", "ok", "REDIS_URL answers")
            if problem is None
            else Check("Redis", "fail", f"{problem}; start it or unset REDIS_URL")
        )
    return checks


def exit_code(checks: list[Check]) -> int:
    if any(c.outcome == "missing" for c in checks):
        return 2
    return 1 if any(c.failed for c in checks) else 0


# --- Devin --------------------------------------------------------------------------------

TRANSIENT_DEVIN = (DevinRateLimited, DevinServerError, DevinUnavailable)
TRANSIENT_GITHUB = (GitHubRateLimited, GitHubServerError, GitHubUnavailable)


def _not_now(exc: Exception) -> str:
    return f"not checked now: {_one_line(exc)} (a passing answer later is not ruled out)"


def _devin_checks(settings: Settings) -> list[Check]:
    if not settings.devin_api_key:
        key = Check(
            "Devin API key",
            "missing",
            "set DEVIN_API_KEY to a service-user key (cog_…) from Devin's Settings → Service users",
        )
        return [key, _org_unchecked(settings, "no key to check it with")]
    try:
        client = DevinClient(
            settings.devin_api_key,
            settings.devin_org_id,
            settings.devin_api_url,
            timeout=(5.0, TIMEOUT_S),
            retry=RetryPolicy(attempts=1),
        )
        me = client.whoami()
    except DevinConfigError as exc:
        return [Check("Devin API key", "missing", str(exc)), _org_unchecked(settings, "")]
    except DevinAuthError:
        key = Check(
            "Devin API key",
            "fail",
            f"refused by {settings.devin_api_url} (HTTP 401): DEVIN_API_KEY is wrong, "
            "revoked or not a v3 service-user key; create one under Settings → Service users",
        )
        return [key, _org_unchecked(settings, "the key was refused")]
    except TRANSIENT_DEVIN as exc:
        # Rate limited or down for a moment: the key is not disproven, and background work
        # retries, so this warns instead of keeping the service from starting.
        return [Check("Devin API key", "warn", _not_now(exc)), _org_unchecked(settings, "")]
    except DevinError as exc:
        return [Check("Devin API key", "fail", _one_line(exc)), _org_unchecked(settings, "")]
    who = me.name or me.id or me.principal_type
    key = Check("Devin API key", "ok", f"{who} ({me.principal_type}) at {client.base_url}")
    return [key, _org_check(client, settings, me.org_id)]


def _org_unchecked(settings: Settings, why: str) -> Check:
    if not settings.devin_org_id:
        return Check("Devin organisation", "missing", "set DEVIN_ORG_ID (Settings → Devin API)")
    return Check("Devin organisation", "skipped", f"not checked: {why or 'see above'}")


def _org_check(client: DevinClient, settings: Settings, key_org: str | None) -> Check:
    org = settings.devin_org_id
    if not org:
        hint = f" (this key belongs to {key_org})" if key_org else ""
        return Check("Devin organisation", "missing", f"set DEVIN_ORG_ID{hint}")
    if key_org and key_org != org:
        return Check(
            "Devin organisation",
            "fail",
            f"DEVIN_ORG_ID is {org} but this key belongs to {key_org}; set DEVIN_ORG_ID={key_org}",
        )
    try:
        client.list_sessions(first=1)
    except (DevinNotFound, DevinForbidden) as exc:
        return Check(
            "Devin organisation",
            "fail",
            f"{org} is unknown or closed to this key (HTTP {exc.status}); check DEVIN_ORG_ID",
        )
    except TRANSIENT_DEVIN as exc:
        return Check("Devin organisation", "warn", _not_now(exc))
    except DevinError as exc:
        return Check("Devin organisation", "fail", _one_line(exc))
    return Check("Devin organisation", "ok", f"{org}: sessions can be listed")


# --- GitHub -------------------------------------------------------------------------------


def _github_check(settings: Settings) -> Check:
    if settings.github_app_id or settings.github_app_private_key:
        return _app_check(settings)
    if settings.github_token:
        return _token_check(settings)
    return Check(
        "GitHub credentials",
        "missing",
        "set GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_PATH "
        "(devin-bridge app create registers an App and writes them)",
    )


def _app_check(settings: Settings) -> Check:
    name = "GitHub App"
    if not settings.github_app_id:
        return Check(name, "missing", "GITHUB_APP_PRIVATE_KEY is set but GITHUB_APP_ID is not")
    if not settings.github_app_private_key:
        return Check(
            name, "missing", "set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH (.pem)"
        )
    try:
        provider = AppAuthProvider(
            settings.github_app_id,
            settings.github_app_private_key,
            settings.github_api_url,
            timeout=TIMEOUT_S,
        )
    except GitHubAuthError as exc:
        return Check(name, "missing", str(exc))
    try:
        app = provider.app_details()
        accounts = provider.installation_accounts()
    except GitHubAuthError:
        return Check(
            name,
            "fail",
            f"GitHub refused the App's JWT (HTTP 401): GITHUB_APP_ID {settings.github_app_id} "
            "and the private key do not belong together, or the key was revoked",
        )
    except TRANSIENT_GITHUB as exc:
        return Check(name, "warn", _not_now(exc))
    except GitHubError as exc:
        return Check(name, "fail", _one_line(exc))
    label = f"{app.get('slug') or app.get('name')} (id {app.get('id')})"
    if not accounts:
        link = f"{app.get('html_url') or ''}/installations/new"
        return Check(name, "warn", f"{label} is installed nowhere yet; install it: {link}")
    shown = ", ".join(accounts[:5]) + (
        f" and {len(accounts) - 5} more" if len(accounts) > 5 else ""
    )
    return Check(name, "ok", f"{label}, installed on {shown}")


def _token_check(settings: Settings) -> Check:
    name = "GitHub token"
    try:
        client = GitHubClient.from_token(
            settings.github_token, base_url=settings.github_api_url, timeout=int(TIMEOUT_S)
        )
    except GitHubError as exc:
        return Check(name, "missing", str(exc))
    try:
        login, scopes = client.token_user()
    except GitHubForbidden:
        # Installation and Actions tokens may not read /user; they still work.
        return Check(name, "ok", "an App or Actions token (it may not read /user)")
    except GitHubAuthError:
        return Check(
            name,
            "fail",
            f"refused by {settings.github_api_url} (HTTP 401): GITHUB_TOKEN is wrong, "
            "expired or revoked",
        )
    except TRANSIENT_GITHUB as exc:
        return Check(name, "warn", _not_now(exc))
    except GitHubError as exc:
        return Check(name, "fail", _one_line(exc))
    finally:
        client.close()
    if scopes is None:
        return Check(name, "ok", f"acts as {login} (fine-grained: permissions not listed)")
    granted = {s.strip() for s in scopes.split(",") if s.strip()}
    if not granted & {"repo", "public_repo"}:
        return Check(
            name,
            "warn",
            f"acts as {login}, scopes {scopes or '(none)'}: add the repo scope so it may comment",
        )
    return Check(name, "ok", f"acts as {login}, scopes {scopes}")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
