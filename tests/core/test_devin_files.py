"""`.devin/` parsing and the plan, without any API (the pure half of `apply`)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.devin_files import PLAYBOOK, parse_devin_folder, read_mark, with_mark
from bot.core.devin_org import Playbook, Schedule
from bot.core.devin_plan import (
    CREATE,
    ORPHAN,
    UNCHANGED,
    UPDATE,
    compute_plan,
    existing_playbook,
    existing_schedule,
    render_plan,
    render_plan_markdown,
)
from bot.core.validation import next_runs

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # a Sunday


def test_next_three_runs_in_utc() -> None:
    runs = next_runs("0 9 * * 1-5", NOW)
    assert [r.isoformat() for r in runs] == [
        "2026-12-07T09:00:00+00:00",
        "2026-12-08T09:00:00+00:00",
        "2026-12-09T09:00:00+00:00",
    ]


def test_the_mark_round_trips_and_ignores_look_alikes() -> None:
    body = with_mark("Do the thing.\n", PLAYBOOK, "fix-bug")
    mark, text = read_mark(body)
    assert mark is not None and (mark.kind, mark.name) == (PLAYBOOK, "fix-bug")
    assert text == "Do the thing."
    assert read_mark("Do it.\n<!-- devin-bridge apply: robot/x -->")[0] is None
    scoped, _ = read_mark(with_mark("x", PLAYBOOK, "fix-bug", "acme/app"))
    assert scoped is not None and (scoped.name, scoped.scope) == ("fix-bug", "acme/app")
    other = Playbook("playbook-9", "T", with_mark("x", PLAYBOOK, "fix-bug", "other/repo"))
    assert existing_playbook(other, "acme/app") is None and existing_playbook(other) is None
    assert existing_playbook(other, "other/repo") is not None
    assert read_mark("<!-- devin-bridge apply: playbook/x -->\nthen more text")[0] is None


def test_one_time_schedule_and_normalised_fields() -> None:
    folder = parse_devin_folder(
        {
            "schedules.yml": "- name: once\n  prompt: p\n  at: '2027-01-15T10:00:00+01:00'\n"
            "  tags: [a, a, b]\n",
            ".devin-ignored": "x",
        },
        now=NOW,
    )
    assert [str(p) for p in folder.problems] == [
        ".devin-ignored: not part of the layout (playbooks/<name>.md, knowledge/<name>.md, "
        "schedules.yml)"
    ]
    [once] = folder.objects
    assert once.fields["scheduled_at"] == "2027-01-15T09:00:00Z"
    assert once.fields["schedule_type"] == "one_time" and once.fields["tags"] == ("a", "b")
    assert once.notes == ("runs once at 2027-01-15T09:00:00Z",)


def test_plan_compares_only_marked_objects_and_shows_a_readable_diff() -> None:
    folder = parse_devin_folder(
        {
            "playbooks/fix-bug.md": "---\ntitle: Fix\n---\nline one\nline two\n",
            "playbooks/new.md": "---\ntitle: New\n---\nbody\n",
            "schedules.yml": "- name: s\n  prompt: go\n  cron: '0 9 * * *'\n  playbook: fix-bug\n",
        },
        now=NOW,
    )
    assert folder.problems == ()
    held = [
        Playbook("playbook-1", "Fix", with_mark("line one\nline 2", PLAYBOOK, "fix-bug")),
        Playbook("playbook-2", "Hand made", "no mark"),
        Playbook("playbook-3", "Gone", with_mark("x", PLAYBOOK, "gone")),
    ]
    schedule = Schedule(
        "sched-1",
        "s",
        with_mark("go", "schedule", "s"),
        frequency="0  9 * * *",
        playbook_id="playbook-1",
    )
    existing = [e for e in map(existing_playbook, held) if e is not None]
    names = {e.object_id: e.name for e in existing}
    existing.append(existing_schedule(schedule, names))  # type: ignore[arg-type]
    plan = compute_plan(folder, existing, prune=False)
    actions = [(c.action, c.kind, c.name) for c in plan.changes]
    assert actions == [
        (UPDATE, "playbook", "fix-bug"),
        (CREATE, "playbook", "new"),
        (ORPHAN, "playbook", "gone"),
        (UNCHANGED, "schedule", "s"),
    ]
    text = "\n".join(render_plan(plan))
    assert "~ playbook fix-bug  (playbooks/fix-bug.md)" in text
    assert "      -line 2" in text and "      +line two" in text
    assert "--prune deletes it" in text and "playbook-2" not in text
    assert plan.writes == plan.changes[:2]
    assert render_plan_markdown(plan).count("```") == 2


def test_a_one_time_schedule_that_ran_and_switched_itself_off_is_unchanged() -> None:
    folder = parse_devin_folder(
        {"schedules.yml": "- name: once\n  prompt: p\n  at: '2027-01-15T09:00:00Z'\n"}, now=NOW
    )
    ran = Schedule(
        "sched-1",
        "once",
        with_mark("p", "schedule", "once"),
        schedule_type="one_time",
        scheduled_at="2027-01-15T09:00:00+00:00",
        enabled=False,
        last_executed_at="2027-01-15T09:00:03Z",
    )
    existing = existing_schedule(ran, {})
    assert existing is not None
    plan = compute_plan(folder, [existing], prune=True)
    assert [c.action for c in plan.changes] == [UNCHANGED]
