"""Static checks of the Action's packaging: hadolint, actionlint, and the contract names
in action.yml and the example workflows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.action.inputs import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))

CONTRACT_INPUTS = [
    "devin-api-key",
    "org-id",
    "github-token",
    "prompt",
    "playbook-id",
    "knowledge-ids",
    "repos",
    "tags",
    "title",
    "max-acu-limit",
    "structured-output-schema",
    "wait",
    "timeout-minutes",
    "poll-interval",
    "comment",
    "trigger",
    "label",
    "attachments-dir",
    "devin-api-url",
    "config-path",
    "mode",
    "dry-run",  # mode apply (issue 9); prune and devin-dir go with it
    "prune",
    "devin-dir",
]
CONTRACT_OUTPUTS = [
    "session-id",
    "session-url",
    "status",
    "status-detail",
    "state",
    "pull-request-urls",
    "acus-consumed",
    "structured-output",
    "comment-id",
    "skipped",
    "reason",
]


def find(name: str) -> str | None:
    """The venv's copy of a tool, else one on PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() else shutil.which(name)


def tool(name: str) -> str:
    """A linter the project installs; skip without it, fail under CI."""
    found = find(name)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]'); CI needs it")
    pytest.skip(f"{name} is not installed")


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_hadolint_passes() -> None:
    result = run([tool("hadolint"), "Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_passes_on_ci_and_example_workflows() -> None:
    # actionlint also checks run: scripts with shellcheck and pyflakes where installed
    # (an empty path turns a check off).
    args = [tool("actionlint")]
    args += [f"-shellcheck={find('shellcheck') or ''}", f"-pyflakes={find('pyflakes') or ''}"]
    assert WORKFLOWS and EXAMPLES
    files = [str(p.relative_to(ROOT)) for p in (*WORKFLOWS, *EXAMPLES)]
    result = run([*args, *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_yml_declares_the_contract() -> None:
    action = load(ROOT / "action.yml")
    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert set(action["branding"]) == {"icon", "color"}
    assert list(action["inputs"]) == CONTRACT_INPUTS
    assert list(action["outputs"]) == CONTRACT_OUTPUTS
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
    for name, spec in action["outputs"].items():
        assert spec.get("description"), name
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    for name, default in DEFAULTS.items():
        assert action["inputs"][name]["default"] == default, name
    assert action["inputs"]["devin-api-key"]["required"] is True
    assert action["inputs"]["org-id"]["required"] is True


def test_dockerfile_shape() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    base = lines[0]
    assert base.startswith("FROM python:3.11.") and base.endswith("-slim-bookworm")
    assert lines[-1] == 'ENTRYPOINT ["python", "/app/entrypoint.py"]'
    assert not any(line.startswith("USER") for line in lines)
    text = "\n".join(lines)
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "PYTHONUNBUFFERED=1" in text
    assert "[dev]" not in text


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_workflows_are_safe_to_copy(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {
        "contents": "read",
        "issues": "write",
        "pull-requests": "write",
    }
    for job in workflow["jobs"].values():
        assert isinstance(job.get("timeout-minutes"), int)
        concurrency = job["concurrency"]
        assert concurrency["cancel-in-progress"] is False
        assert concurrency["group"].startswith("devin-")
        step = job["steps"][-1]
        assert step["with"]["devin-api-key"] == "${{ secrets.DEVIN_API_KEY }}"


def test_comment_workflow_skips_the_bridges_own_comments() -> None:
    workflow = load(ROOT / "examples" / "workflows" / "devin-comment.yml")
    job = workflow["jobs"]["devin"]
    assert "github.event.comment.user.type != 'Bot'" in job["if"]
    assert "!contains(github.event.comment.body, 'devin-bridge:session=')" in job["if"]
    group = job["concurrency"]["group"]
    assert group == (
        "devin-${{ github.repository }}-"
        "${{ github.event.issue.number || github.event.pull_request.number }}"
    )
