"""`devin-bridge demo` as a new user runs it: no environment, a fresh process, exit 0,
the status comment shown until finished, and nothing left running or on disk."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from bot.demo.terminal import render


def _bare_env(tmp_path: Path) -> dict[str, str]:
    # No DEVIN_*, GITHUB_*, DATABASE_URL: a developer's real keys must not matter.
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "DEVIN_API_KEY": "cog_a_real_key_that_must_not_be_used",
        "GITHUB_TOKEN": "ghp_a_real_token_that_must_not_be_used",
    }


def test_demo_runs_the_loop_to_finished_and_leaves_nothing_behind(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        env=_bare_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "HTTP 202" in out
    assert "status comment posted" in out
    assert "edited, version 2" in out
    assert "Devin finished" in out.split("edited, version")[-1]
    assert "<!--" not in out  # the hidden marker is not shown
    assert "must_not_be_used" not in out + done.stderr
    # The service's port is closed and its temporary folder is gone.
    port = int(re.search(r"devin-bridge serve\s+http://127.0.0.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    folder = re.search(r"SQLite in (\S+)\)", out).group(1)  # type: ignore[union-attr]
    assert not Path(folder).exists()
    assert list(tmp_path.iterdir()) == []  # nothing written where it was started


def test_demo_gives_up_with_one_line_when_time_runs_out(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--timeout", "0.01"],
        env=_bare_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "devin-bridge demo: the session did not finish in time"
    ]


def test_terminal_rendering_of_a_status_comment() -> None:
    body = (
        "<!-- devin-bridge:session=abc -->\n"
        "✅ **Devin finished** · [Devin session](https://app.devin.ai/sessions/abc)\n"
        "<sub>⏱ <1m · 2.5 ACUs · `running/finished`</sub>\n\n\n"
        "- [octo/repo\\#1](https://github.com/octo/repo/pull/1) (open)\n"
        "<details><summary>📄 summary.md</summary>\n\n```\n# Summary\n```\n\n</details>\n---\n"
    )
    text = render(body)
    assert text.splitlines()[0] == (
        "✅ Devin finished · Devin session <https://app.devin.ai/sessions/abc>"
    )
    assert "⏱ <1m · 2.5 ACUs · running/finished" in text
    assert "- octo/repo#1 <https://github.com/octo/repo/pull/1> (open)" in text
    assert "▸ 📄 summary.md" in text
    assert "    # Summary" in text
    assert "\n\n\n" not in text
    assert "\x1b[1mDevin finished\x1b[0m" in render(body, color=True)


def test_the_readme_quick_start_is_the_demo_then_the_tests() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    start = readme.index("## Quick start")
    blocks = re.findall(r"```bash\n(.*?)\n```", readme[start : readme.index("## Contents")], re.S)
    assert blocks[:2] == [
        "pip install '.[service]' && devin-bridge demo",
        "pip install -e '.[dev]' && python -m pytest",
    ]
    assert "pip install --quiet -e '.[dev]' && python -m pytest" in (root / ".ci/run").read_text()
