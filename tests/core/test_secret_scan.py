"""The hand-off's secret scanner: what it finds, and what it leaves alone."""

from __future__ import annotations

import pytest

from bot.core.secret_scan import is_secret_file, scan


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("key = 'AKIAIOSFODNN7EXAMPLE'", "aws-access-key-id"),
        ("t = ghp_" + "x1Y2z3" * 6, "github-token"),
        ("SLACK=xoxb-123456789012-abcdefghij", "slack-token"),
        ("stripe = sk_live_" + "a1B2" * 6, "stripe-key"),
        ("DEVIN_API_KEY: cog_" + "q7W8e9" * 4, "devin-key"),
        ("client_secret = 'Zx9Qw8Er7Ty6Ui5Op4As3Df2'", "value of client_secret"),
        ('"password": "N0t-a-w0rd-but-r4nd0m!"', "value of password"),
    ],
)
def test_finds_and_redacts(text: str, kind: str) -> None:
    scanned = scan(text, "src/x.py")
    assert [f.kind for f in scanned.findings] == [kind]
    assert f"[REDACTED:{kind}]" in scanned.text


@pytest.mark.parametrize(
    "text",
    [
        "password = get_password_from_vault()",
        "token_path = '/var/run/secrets/token'",
        "api_key = os.environ['API_KEY']",
        "secret_name = 'production-database'",
        "key = '${{ secrets.DEVIN_API_KEY }}'",
        "commit 1f3870be274f6c49b3e31a0c6728957f",
    ],
)
def test_leaves_ordinary_code_alone(text: str) -> None:
    assert scan(text, "src/x.py").findings == ()


def test_env_values_are_redacted_names_kept() -> None:
    scanned = scan("# comment\nexport HOST=db.internal\nPORT=5432\n", ".env.local")
    assert (
        scanned.text == "# comment\nexport HOST=[REDACTED:.env value]\nPORT=[REDACTED:.env value]\n"
    )
    assert scan("HOST=db\n", ".env.example").findings == ()


def test_whole_secret_files() -> None:
    assert is_secret_file("deploy/id_ed25519")
    assert is_secret_file("certs/server.pem")
    assert is_secret_file(
        "x.txt", "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n"
    )
    assert is_secret_file(".env") is None and is_secret_file("src/keys.py", "KEYS = []") is None
