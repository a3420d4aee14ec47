"""`devin-bridge doctor`, and the same checks when `serve` and `worker` start: one line per
check, no traceback, documented exit codes (0 ok, 1 refused or unreachable, 2 missing or
malformed), against the Devin emulator and the GitHub fake on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.fake_github import make_rsa_keypair
from tests.support.deliveries import service_env
from tests.support.service_proc import run_command
from tests.support.stack import Stack, running_stack

BAD_PEM = "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----"


def _env(stack: Stack, tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = service_env(stack, f"sqlite:///{tmp_path / 'state.db'}")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _assert_no_traceback(done: object) -> None:
    text = getattr(done, "stdout", "") + getattr(done, "stderr", "")
    assert "Traceback" not in text
    assert "DESIGN.md" not in text


def test_doctor_passes_on_a_working_configuration(stack: Stack, tmp_path: Path) -> None:
    done = run_command(["doctor"], _env(stack, tmp_path), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _lines(done.stdout)
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * (len(lines) - 1)
    names = " ".join(lines)
    for name in ("Devin API key", "Devin organisation", "GitHub token", "webhook secret"):
        assert name in names
    assert "Devin API Emulator" in names
    assert lines[-1] == "all checks passed"
    assert stack.devin_requests("GET", "/self")
    assert not (tmp_path / "state.db").exists()  # doctor changes nothing


@pytest.mark.parametrize(
    ("changes", "code", "failing", "says"),
    [
        ({"DEVIN_API_KEY": "cog_wrong"}, 1, "Devin API key", "HTTP 401"),
        ({"DEVIN_ORG_ID": "org-nobody"}, 1, "Devin organisation", "org-nobody"),
        ({"GITHUB_TOKEN": "ghp_wrong"}, 1, "GitHub token", "HTTP 401"),
        ({"GITHUB_WEBHOOK_SECRET": None}, 2, "webhook secret", "GITHUB_WEBHOOK_SECRET"),
        (
            {"GITHUB_TOKEN": None, "GITHUB_APP_ID": "12", "GITHUB_APP_PRIVATE_KEY": BAD_PEM},
            2,
            "GitHub App",
            "not an unencrypted PEM RSA key",
        ),
    ],
)
def test_doctor_and_serve_name_the_failing_check_in_one_line(
    stack: Stack,
    tmp_path: Path,
    changes: dict[str, str | None],
    code: int,
    failing: str,
    says: str,
) -> None:
    env = _env(stack, tmp_path, **changes)
    doctor = run_command(["doctor"], env, tmp_path)
    assert doctor.returncode == code, doctor.stdout + doctor.stderr
    _assert_no_traceback(doctor)
    bad = [line for line in _lines(doctor.stdout) if line.startswith("FAIL")]
    assert len(bad) == 1 and failing in bad[0] and says in bad[0], doctor.stdout

    serve = run_command(["serve", "--port", "1"], env, tmp_path)
    assert serve.returncode == (2 if failing == "webhook secret" else code)
    _assert_no_traceback(serve)
    lines = _lines(serve.stderr)
    assert len(lines) == 1, serve.stderr
    assert lines[0].startswith("devin-bridge serve cannot start: ")
    assert ("GITHUB_WEBHOOK_SECRET" if failing == "webhook secret" else says) in lines[0]
    assert "ghp_wrong" not in serve.stderr + doctor.stdout
    assert not (tmp_path / "state.db").exists()


def test_a_bad_app_key_stops_serve_even_with_no_check(stack: Stack, tmp_path: Path) -> None:
    env = _env(
        stack, tmp_path, GITHUB_TOKEN=None, GITHUB_APP_ID="12", GITHUB_APP_PRIVATE_KEY=BAD_PEM
    )
    done = run_command(["serve", "--port", "1", "--no-check"], env, tmp_path)
    assert done.returncode == 2
    _assert_no_traceback(done)
    assert len(_lines(done.stderr)) == 1
    assert "GitHub App" in done.stderr


def test_worker_checks_too_but_needs_no_webhook_secret(stack: Stack, tmp_path: Path) -> None:
    env = _env(stack, tmp_path, GITHUB_WEBHOOK_SECRET=None, DEVIN_API_KEY="cog_wrong")
    done = run_command(["worker", "--once"], env, tmp_path)
    assert done.returncode == 1
    assert "devin-bridge worker cannot start: Devin API key" in done.stderr
    env = _env(stack, tmp_path, GITHUB_WEBHOOK_SECRET=None)
    assert run_command(["worker", "--once"], env, tmp_path).returncode == 0


def test_doctor_checks_an_app_and_its_installations(tmp_path: Path) -> None:
    with running_stack() as stack:  # its own: the App must not outlive this test
        _app_checks(stack, tmp_path)


def _app_checks(stack: Stack, tmp_path: Path) -> None:
    private, public = make_rsa_keypair()
    stack.github.configure_app(4321, public, slug="my-bridge")
    key = tmp_path / "app.pem"
    key.write_text(private)
    env = _env(
        stack,
        tmp_path,
        GITHUB_TOKEN=None,
        GITHUB_APP_ID="4321",
        GITHUB_APP_PRIVATE_KEY_PATH=str(key),
    )
    done = run_command(["doctor"], env, tmp_path)
    assert done.returncode == 0, done.stdout
    assert "warn  GitHub App" in done.stdout and "installations/new" in done.stdout
    stack.github.add_installation(77, account="octo-org")
    done = run_command(["doctor"], env, tmp_path)
    assert "ok    GitHub App" in done.stdout and "installed on octo-org" in done.stdout
    # Another App's key: the JWT is refused.
    other, _ = make_rsa_keypair()
    key.write_text(other)
    done = run_command(["doctor"], env, tmp_path)
    assert done.returncode == 1
    assert "refused the App's JWT" in done.stdout


def test_doctor_reports_scopes_and_unreachable_redis(stack: Stack, tmp_path: Path) -> None:
    stack.github.add_token("ghp_classic", "alice")
    stack.github.oauth_scopes = "read:org"
    env = _env(stack, tmp_path, GITHUB_TOKEN="ghp_classic", REDIS_URL="redis://127.0.0.1:1/0")
    done = run_command(["doctor"], env, tmp_path)
    assert "warn  GitHub token" in done.stdout and "repo scope" in done.stdout
    assert "FAIL  Redis" in done.stdout
    assert done.returncode == 1


def test_a_rate_limited_api_warns_and_serve_still_starts(stack: Stack, tmp_path: Path) -> None:
    """A 429 or a 503 says nothing against the credentials: doctor warns (exit 0) and
    `serve` starts; its background work retries once the API answers."""
    stack.emulator.add_fault(method="GET", path=r".*/sessions", status=429, retry_after=1, times=1)
    stack.github.add_fault("GET", r"^/user$", 503, times=1)
    done = run_command(["doctor"], _env(stack, tmp_path), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_no_traceback(done)
    warned = [line for line in _lines(done.stdout) if line.startswith("warn")]
    assert any("Devin organisation" in line and "429" in line for line in warned), done.stdout
    assert any("GitHub token" in line for line in warned), done.stdout
