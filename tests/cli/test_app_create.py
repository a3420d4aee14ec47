"""`devin-bridge app create`: the manifest flow against the GitHub fake, as a browser
walks it (the local form, GitHub's redirect with the code, the conversion), then `serve`
started from the written .env answers signed webhooks and finishes a session as the App."""

from __future__ import annotations

import html
import re
import stat
import subprocess
import sys
from pathlib import Path

import requests

from bot.github.manifest import EVENTS, PERMISSIONS, build_manifest, urls_from_env
from tests.support.deliveries import deliver, wait_for
from tests.support.service_proc import base_env, start_serve
from tests.support.stack import Stack, running_stack


def _start(stack: Stack, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = base_env({"GITHUB_URL": stack.github_url, "GITHUB_API_URL": stack.github_url})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "app", "create", "--no-browser", "--timeout", "60",
         "--env-file", str(tmp_path / ".env"), *extra],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    url = re.search(r"Open (http://127\.0\.0\.1:\d+/) ", first)
    assert url, first
    return proc, url.group(1)


def _submit_form(page: str) -> requests.Response:
    """What the browser does with the page: POST its form to GitHub."""
    action = html.unescape(re.search(r'<form action="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'name="(\w+)" value="([^"]*)"', page)
    }
    return requests.post(action, data=fields, allow_redirects=False, timeout=10)


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


def test_app_create_writes_a_working_env_and_serve_answers_as_the_app(tmp_path: Path) -> None:
    with running_stack() as stack:
        (tmp_path / ".env").write_text("DEVIN_API_KEY=keep-me\nGITHUB_APP_ID=old\n")
        proc, url = _start(
            stack, tmp_path, "--org", "octo-org", "--webhook-url", "https://bridge.example/webhook"
        )
        try:
            page = requests.get(url, timeout=10).text
            assert f"{stack.github_url}/organizations/octo-org/settings/apps/new" in page
            # A forged return (another state) is refused and the flow goes on.
            assert requests.get(url + "callback?code=x&state=forged", timeout=10).status_code == 400
            redirect = _submit_form(page)
            assert redirect.status_code == 302
            back = requests.get(redirect.headers["Location"], timeout=10)
            assert back.status_code == 200 and "installations/new" in back.text
            out, errors = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 0, errors
        created = stack.github.apps_created[0]
        assert f"{stack.github.web_url}/apps/{created['slug']}/installations/new" in out
        manifest = created["manifest"]
        assert manifest["default_permissions"] == PERMISSIONS
        assert manifest["default_events"] == EVENTS
        assert manifest["hook_attributes"] == {
            "url": "https://bridge.example/webhook",
            "active": True,
        }
        assert manifest["_owner"] == "octo-org"

        env_path = tmp_path / ".env"
        assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
        values = _read_env(env_path)
        assert values["DEVIN_API_KEY"] == "keep-me"  # other lines stay
        assert values["GITHUB_APP_ID"] == str(created["id"])
        assert values["GITHUB_WEBHOOK_SECRET"] == created["webhook_secret"]
        assert values["GITHUB_API_URL"] == stack.github_url
        assert values["GITHUB_APP_PRIVATE_KEY_PATH"].startswith("secrets/")  # relative: compose
        key = tmp_path / values["GITHUB_APP_PRIVATE_KEY_PATH"]
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().strip() == created["pem"].strip()
        assert created["pem"] not in out + errors

        # serve, started in that folder with only the Devin settings in its environment.
        stack.github.add_installation(5, account="octo-org")
        stack.github.user(f"{created['slug']}[bot]").type = "Bot"
        env_path.write_text(env_path.read_text().replace("keep-me", stack.devin_key))
        service = start_serve(
            {
                "DEVIN_ORG_ID": stack.org_id,
                "DEVIN_API_URL": stack.devin_url,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                "DEVIN_BRIDGE_POLL_INTERVAL": "0.2",
                "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0",
            },
            tmp_path,
            workers=1,
        )
        try:
            secret = values["GITHUB_WEBHOOK_SECRET"]
            assert deliver(service.url, "ping", {"zen": "hi"}, secret=secret).status_code == 200
            assert deliver(service.url, "ping", {"zen": "hi"}, secret="wrong").status_code == 401
            stack.github.add_issue(stack.repo, 3, title="Flaky")
            stack.allow("alice")
            comment = stack.github.add_comment(stack.repo, 3, "/devin fix it", user="alice")
            payload = stack.comment_payload(comment)
            assert deliver(service.url, "issue_comment", payload, secret=secret).status_code == 202
            bot = f"{created['slug']}[bot]"
            wait_for(
                lambda: any(
                    c["user"]["login"] == bot and "Devin finished" in c["body"]
                    for c in stack.github.thread_comments(stack.repo, 3)
                ),
                "a finished status comment posted as the App",
                30,
            )
        finally:
            service.stop()


def test_app_create_without_a_webhook_url_makes_its_own_secret(tmp_path: Path) -> None:
    with running_stack() as stack:
        proc, url = _start(stack, tmp_path)
        try:
            page = requests.get(url, timeout=10).text
            assert f"{stack.github_url}/settings/apps/new" in page
            back = requests.get(_submit_form(page).headers["Location"], timeout=10)
            assert back.status_code == 200
            out, _ = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 0
        assert "hook_attributes" not in stack.github.apps_created[0]["manifest"]
        assert len(_read_env(tmp_path / ".env")["GITHUB_WEBHOOK_SECRET"]) == 64
        assert "No webhook URL yet" in out


def test_a_used_code_and_a_bad_webhook_url_get_one_line(tmp_path: Path) -> None:
    with running_stack() as stack:
        proc, url = _start(stack, tmp_path)
        try:
            page = requests.get(url, timeout=10).text
            location = _submit_form(page).headers["Location"]
            code = re.search(r"code=(\w+)", location).group(1)  # type: ignore[union-attr]
            used = requests.post(f"{stack.github_url}/app-manifests/{code}/conversions", timeout=10)
            assert used.status_code == 201  # someone else converted it first
            assert requests.get(location, timeout=10).status_code == 502
            _, errors = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 1
        assert errors.strip().splitlines() == [
            "devin-bridge app create: GitHub does not know this manifest code (it works once, "
            "within an hour); run devin-bridge app create again"
        ]
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "app", "create", "--no-browser", "--webhook-url", "ftp://x"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "is not an http(s) URL" in bad.stderr


def test_github_enterprise_urls() -> None:
    assert urls_from_env("", "") == ("https://github.com", "https://api.github.com")
    assert urls_from_env("https://ghe.example.com/", "") == (
        "https://ghe.example.com",
        "https://ghe.example.com/api/v3",
    )
    manifest = build_manifest(name="b", webhook_url=None, redirect_url="http://127.0.0.1:1/cb")
    assert manifest["redirect_url"] == "http://127.0.0.1:1/cb"
