"""`devin-bridge apply`: `.devin/` as code against the emulator, over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.test_cli import Cli

PLAYBOOK = """---
title: Fix a bug
macro: "!fix_bug"
---
1. Reproduce the bug with a failing test.
2. Fix it.
3. Open a pull request.
"""

NOTE = """---
trigger: When writing Python in this repository
pinned_repo: acme/app
---
Use ruff format. Type everything.
"""

SCHEDULES = """- name: nightly-deps
  prompt: Update the dependencies and open a pull request
  cron: "0 3 * * 1-5"
  playbook: fix-bug
  tags: [deps]
"""


def folder(tmp: Path, files: dict[str, str] | None = None) -> Path:
    root = tmp / ".devin"
    content = files or {
        "playbooks/fix-bug.md": PLAYBOOK,
        "knowledge/python-style.md": NOTE,
        "schedules.yml": SCHEDULES,
    }
    for rel, text in content.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def writes(cli: Cli) -> list[dict[str, Any]]:
    return [e for e in cli.api_requests() if e["method"] in ("POST", "PUT", "PATCH", "DELETE")]


def test_first_run_creates_everything_and_the_second_sends_no_write(cli: Cli) -> None:
    root = folder(cli.tmp)
    out = cli.ok("apply", str(root))
    assert "+ playbook fix-bug" in out and "+ note python-style" in out
    assert "+ schedule nightly-deps" in out and "next runs: " in out
    assert "3 to create" in out
    sent = writes(cli)
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in sent] == [
        ("POST", "playbooks"),
        ("POST", "notes"),
        ("POST", "schedules"),
    ]
    books = cli.json("playbooks", "list")
    assert len(books) == 1 and books[0]["title"] == "Fix a bug"
    schedule = sent[2]["json"]
    assert schedule["playbook_id"] == books[0]["playbook_id"]
    assert schedule["frequency"] == "0 3 * * 1-5" and schedule["tags"] == ["deps"]

    cli.admin("DELETE", "/requests")
    again = cli.ok("apply", str(root))
    assert "3 unchanged" in again and "= playbook fix-bug" in again
    assert writes(cli) == []


def test_an_edit_is_one_update_with_a_diff_and_a_removed_file_is_deleted_only_with_prune(
    cli: Cli,
) -> None:
    root = folder(cli.tmp)
    cli.ok("apply", str(root))
    (root / "playbooks/fix-bug.md").write_text(PLAYBOOK.replace("2. Fix it.", "2. Fix it well."))
    cli.admin("DELETE", "/requests")
    out = cli.ok("apply", str(root))
    assert "~ playbook fix-bug" in out
    assert "-2. Fix it." in out and "+2. Fix it well." in out
    assert "1 to update" in out
    sent = writes(cli)
    assert len(sent) == 1 and sent[0]["method"] == "PUT" and "/playbooks/" in sent[0]["path"]

    (root / "knowledge/python-style.md").unlink()
    cli.admin("DELETE", "/requests")
    out = cli.ok("apply", str(root))
    assert "- note python-style" in out and "--prune deletes it" in out
    assert writes(cli) == []
    assert len(cli.json("notes", "list")) == 1

    dry = cli.ok("apply", "--prune", "--dry-run", str(root))
    assert "1 to delete" in dry and "nothing was changed" in dry
    assert writes(cli) == []
    cli.ok("apply", "--prune", str(root))
    sent = writes(cli)
    assert (
        len(sent) == 1 and sent[0]["method"] == "DELETE" and "/knowledge/notes/" in sent[0]["path"]
    )
    assert cli.json("notes", "list") == []


def test_objects_made_by_hand_are_never_touched(cli: Cli) -> None:
    hand_book = cli.json("playbooks", "create", "--title", "Fix a bug", "--body", "by hand")
    hand_note = cli.json(
        "notes", "create", "--name", "python-style", "--trigger", "t", "--body", "by hand"
    )
    root = folder(cli.tmp)
    cli.ok("apply", "--prune", str(root))
    cli.ok("apply", "--prune", str(folder(cli.tmp / "empty", {"schedules.yml": "[]\n"})))
    touched = [e["path"] for e in writes(cli)]
    assert not any(hand_book["playbook_id"] in p or hand_note["note_id"] in p for p in touched)
    assert cli.json("playbooks", "get", hand_book["playbook_id"])["body"] == "by hand"
    assert cli.json("notes", "get", hand_note["note_id"])["body"] == "by hand"
    # the managed ones were created by the first run and pruned by the second
    assert len(cli.json("playbooks", "list")) == 1 and len(cli.json("notes", "list")) == 1


def test_invalid_files_fail_before_anything_is_sent_naming_file_and_field(cli: Cli) -> None:
    cases = [
        ({"playbooks/x.md": "---\nmacro: '!x'\n---\nbody\n"}, "playbooks/x.md: title: is required"),
        ({"playbooks/x.md": "no front matter\n"}, "playbooks/x.md: front matter"),
        (
            {"knowledge/n.md": "---\ntrigger: [unclosed\n---\nbody\n"},
            "knowledge/n.md: front matter",
        ),
        (
            {"schedules.yml": "- name: a\n  prompt: p\n  cron: '61 * * * *'\n"},
            "schedules.yml: [0] (a).cron: cron expression '61 * * * *': minute field",
        ),
        (
            {"schedules.yml": "- name: a\n  prompt: p\n  cron: '0 9 * *'\n"},
            "must have 5 fields",
        ),
        (
            {"schedules.yml": "- name: a\n  prompt: p\n  cron: '0 9 * * *'\n  playbook: nope\n"},
            "schedules.yml: (a).playbook: 'nope' is neither",
        ),
    ]
    for index, (files, says) in enumerate(cases):
        root = folder(cli.tmp / str(index), files)
        proc = cli("apply", str(root))
        assert proc.returncode == 2, (files, proc.stdout, proc.stderr)
        assert says in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert cli.api_requests() == []  # nothing at all was sent

    # A one-time schedule in the past is only a problem when it would be written: that
    # takes reading what Devin holds, but still no write.
    root = folder(
        cli.tmp / "past",
        {"schedules.yml": "- name: a\n  prompt: p\n  at: '2020-01-01T09:00:00Z'\n"},
    )
    proc = cli("apply", str(root))
    assert proc.returncode == 2
    assert "schedules.yml: (a).at: 2020-01-01T09:00:00Z is in the past" in proc.stderr
    assert [e for e in cli.api_requests() if e["method"] != "GET"] == []


def test_a_failure_part_way_reports_what_was_applied(cli: Cli) -> None:
    root = folder(cli.tmp)
    cli.admin("POST", "/faults", {"method": "POST", "path": r".*/knowledge/notes", "status": 500})
    proc = cli("apply", str(root))
    assert proc.returncode == 1
    assert "create note python-style failed" in proc.stderr
    assert "applied before: create playbook fix-bug" in proc.stderr
    assert "Traceback" not in proc.stderr
    cli.admin("DELETE", "/faults")
    cli.admin("DELETE", "/requests")
    out = cli.ok("apply", str(root))  # picks up where it stopped
    assert "= playbook fix-bug" in out and "+ note python-style" in out


def test_in_a_checkout_the_objects_belong_to_its_repository(cli: Cli) -> None:
    import subprocess

    work = cli.tmp / "work"
    root = folder(work)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(
        ["git", "-C", str(work), "remote", "add", "origin", "https://github.com/acme/app.git"],
        check=True,
    )
    other = folder(cli.tmp / "elsewhere")
    cli.ok("apply", "--scope", "other/repo", str(other))  # another repository's objects
    out = cli.ok("apply", "--prune", str(root))
    assert "Plan for" in out and "(objects of acme/app)" in out and "3 to create" in out
    books = cli.json("playbooks", "list")
    assert len(books) == 2
    assert sorted(b["body"].splitlines()[-1].split(" from ")[1].split()[0] for b in books) == [
        "acme/app",
        "other/repo",
    ]
    cli.admin("DELETE", "/requests")
    (root / "playbooks/fix-bug.md").unlink()
    (root / "schedules.yml").write_text("[]\n")
    cli.ok("apply", "--prune", str(root))
    deleted = [e["path"] for e in writes(cli)]
    assert len(deleted) == 2  # acme/app's playbook and schedule, nothing of other/repo
    assert len(cli.json("playbooks", "list")) == 1


def test_removing_a_schedules_playbook_unsets_it_once(cli: Cli) -> None:
    root = folder(cli.tmp)
    cli.ok("apply", str(root))
    (root / "schedules.yml").write_text(SCHEDULES.replace("  playbook: fix-bug\n", ""))
    cli.admin("DELETE", "/requests")
    out = cli.ok("apply", str(root))
    assert 'playbook: "fix-bug" -> (none)' in out
    [patch] = writes(cli)
    assert patch["method"] == "PATCH" and patch["json"] == {"playbook_id": None}
    cli.admin("DELETE", "/requests")
    assert "3 unchanged" in cli.ok("apply", str(root))
    assert writes(cli) == []
