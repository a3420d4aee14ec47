"""`devin-bridge handoff` in real git checkouts (temporary folders) against the emulator."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.test_cli import Cli

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
ENV_PASSWORD = "hunter2-correct-horse-battery"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
SECRETS = (AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, ENV_PASSWORD, "b3BlbnNzaC1rZXktdjEAAAAABG5v")


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return proc.stdout


def checkout(tmp: Path) -> Path:
    """A repository whose origin is acme/app: one pushed commit, one not, edits, new files."""
    repo = tmp / "work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.com")
    git(repo, "config", "user.name", "Dev")
    git(repo, "remote", "add", "origin", "git@github.com:acme/app.git")
    (repo / "app.py").write_text("def main():\n    return 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "Initial import")
    # As if pushed: origin/main is this commit, and main tracks it.
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main")
    (repo / "settings.py").write_text(
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n'
        f'aws_secret_access_key = "{AWS_SECRET}"\n'
        "REGION = 'eu-west-1'\n"
    )
    git(repo, "add", "settings.py")
    git(repo, "commit", "-qm", "Add the S3 settings")
    (repo / "app.py").write_text(
        f'TOKEN = "{GITHUB_TOKEN}"\n\ndef main():\n    return compute_the_answer()\n'
    )
    (repo / ".env").write_text(f"DB_PASSWORD={ENV_PASSWORD}\nDEBUG=1\n")
    (repo / "id_rsa").write_text(PRIVATE_KEY)
    (repo / "TODO.md").write_text("- wire compute_the_answer\n")
    return repo


def test_a_key_file_blocks_the_handoff_and_otherwise_no_secret_leaves(cli: Cli) -> None:
    repo = checkout(cli.tmp)
    blocked = cli("handoff", "Finish the S3 upload", "--yes", "-C", str(repo))
    assert blocked.returncode == 2, blocked.stderr
    assert "secret file: id_rsa" in blocked.stderr and "--allow-secrets" in blocked.stderr
    assert cli.api_requests() == []

    (repo / "id_rsa").unlink()
    proc = cli("handoff", "Finish the S3 upload", "--yes", "-C", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "https://app.devin.ai/sessions/" in proc.stdout
    for says in ("settings.py:1: aws-access-key-id", "settings.py:2: value of", "app.py:1: github"):
        assert says in proc.stderr, proc.stderr
    assert ".env:1: value of DB_PASSWORD" in proc.stderr

    log = json.dumps(cli.admin("GET", "/requests"))
    sessions = cli.json("sessions", "list")
    stored = json.dumps(cli.admin("GET", "/sessions/" + sessions[0]["session_id"]))
    for secret in SECRETS:
        assert secret not in log and secret not in stored, secret
    create = next(e for e in cli.api_requests() if e["method"] == "POST")
    body = create["json"]
    prompt = body["prompt"]
    assert prompt.startswith("Finish the S3 upload")
    assert "Repository: acme/app" in prompt and "Branch: main (upstream origin/main)" in prompt
    assert "Add the S3 settings" in prompt and "Initial import" not in prompt
    assert "compute_the_answer()" in prompt and "REGION = 'eu-west-1'" in prompt
    assert "- .env" in prompt and "- TODO.md" in prompt and "wire compute_the_answer" in prompt
    assert "[REDACTED:" in prompt
    assert "handoff" in body["tags"] and body["repos"] == ["acme/app"]


def test_a_token_pasted_into_the_instruction_is_redacted_too(cli: Cli) -> None:
    repo = checkout(cli.tmp)
    (repo / "id_rsa").unlink()
    proc = cli("handoff", f"Use {GITHUB_TOKEN} to push", "--yes", "-C", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "(message):1: github-token" in proc.stderr
    assert GITHUB_TOKEN not in json.dumps(cli.admin("GET", "/requests"))


def test_allow_secrets_sends_the_key_file_redacted(cli: Cli) -> None:
    repo = checkout(cli.tmp)
    proc = cli("handoff", "--yes", "--allow-secrets", "-C", str(repo), "--json")
    assert proc.returncode == 0, proc.stderr
    prompt = next(e for e in cli.api_requests() if e["method"] == "POST")["json"]["prompt"]
    assert "id_rsa" in prompt and "[REDACTED:private-key]" in prompt
    assert PRIVATE_KEY.splitlines()[1] not in prompt


def test_outside_a_checkout_or_with_nothing_to_hand_off_nothing_is_sent(cli: Cli) -> None:
    plain = cli.tmp / "plain"
    plain.mkdir()
    proc = cli("handoff", "Do it", "--yes", "-C", str(plain))
    assert proc.returncode == 2 and "not a git checkout" in proc.stderr
    clean = cli.tmp / "clean"
    clean.mkdir()
    git(clean, "init", "-q", "-b", "main")
    git(clean, "remote", "add", "origin", "https://github.com/acme/app.git")
    git(
        clean,
        "-c",
        "user.email=a@b.c",
        "-c",
        "user.name=A",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    git(clean, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(clean, "branch", "-q", "--set-upstream-to=origin/main")
    proc = cli("handoff", "--yes", "-C", str(clean))
    assert proc.returncode == 2 and "nothing to hand off" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert cli.api_requests() == []


def test_watch_follows_the_session(cli: Cli) -> None:
    cli.admin("POST", "/scenario", {"name": "finish"})
    repo = checkout(cli.tmp)
    (repo / "id_rsa").unlink()
    proc = cli(
        "handoff", "--yes", "--watch", "--interval", "0.05", "--timeout", "20", "-C", str(repo)
    )
    assert proc.returncode == 0, proc.stderr
    assert "finished" in proc.stdout
