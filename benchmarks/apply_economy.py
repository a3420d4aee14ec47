"""Devin as code: API requests and time per `apply`, and lookups of playbooks by name.

1. A generated `.devin/` folder (N playbooks, N knowledge notes, N/2 schedules) is
   applied to the Devin emulator over real loopback HTTP: the first run, a second run with
   nothing changed, and a run after one file was edited. Each run's read and write
   requests are counted from the emulator's request log. Same-run baseline: what a plain
   "delete what we made, create it again" script sends per run (2 writes per object).
2. `playbook: <name>` in .github/devin.yml: playbook list requests for M sessions started
   within five minutes, with the per-process cache (engine/playbooks.py) and without it
   (TTL 0, one listing per session).

Targets: the second run sends 0 writes; an edit sends exactly 1; the cache lists the
playbooks once for M sessions.

    .venv/bin/python benchmarks/apply_economy.py [--objects 30] [--sessions 50] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tempfile
import time
from typing import Any

from benchmarks.common import Report, base_parser, finish, logging_quiet

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def make_folder(root: Path, objects: int) -> None:
    for i in range(objects):
        book = root / "playbooks" / f"book-{i}.md"
        book.parent.mkdir(parents=True, exist_ok=True)
        book.write_text(f"---\ntitle: Playbook {i}\n---\nStep one of {i}.\nStep two.\n")
        note = root / "knowledge" / f"note-{i}.md"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(f"---\ntrigger: When working on area {i}\n---\nFacts about {i}.\n")
    lines = []
    for i in range(max(1, objects // 2)):
        lines.append(
            f"- name: job-{i}\n  prompt: Recurring job {i}\n  cron: '{i % 60} 6 * * 1-5'\n"
            f"  playbook: book-{i}\n"
        )
    (root / "schedules.yml").write_text("".join(lines))


def one_run(emulator: Any, client: Any, root: Path) -> dict[str, float]:
    from bot.engine.devin_apply import apply_plan, plan_folder, read_folder

    emulator.log.clear()
    t0 = time.perf_counter()
    folder = read_folder(root)
    assert not folder.problems, folder.problems
    plan, state, problems = plan_folder(client, folder, prune=True)
    assert not problems, problems
    report = apply_plan(client, plan, state)
    assert report.ok, report.error
    seconds = time.perf_counter() - t0
    entries = [e for e in emulator.requests() if e["path"].startswith("/v3")]
    return {
        "seconds": seconds,
        "reads": sum(1 for e in entries if e["method"] == "GET"),
        "writes": sum(1 for e in entries if e["method"] in WRITES),
        "objects": len(folder.objects),
    }


def lookups(emulator: Any, client: Any, sessions: int, ttl: float) -> int:
    from bot.engine.playbooks import PlaybookNames

    names = PlaybookNames(ttl=ttl)
    emulator.log.clear()
    for i in range(sessions):
        names.resolve(client, f"book-{i % 3}")
    return sum(1 for e in emulator.requests() if e["path"].endswith("/playbooks"))


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=30, help="playbooks and notes each")
    parser.add_argument("--sessions", type=int, default=50, help="sessions for the lookups")
    args = parser.parse_args(argv)
    objects, sessions = (4, 5) if args.quick else (args.objects, args.sessions)
    logging_quiet()

    from bot.devin.client import DevinClient, RetryPolicy
    from bot.emulator.app import create_emulator_app
    from bot.emulator.config import EmulatorConfig
    from tests.support.servers import ServerThread

    config = EmulatorConfig()
    app = create_emulator_app(config)
    emulator = app.extensions["devin_emulator"]
    server = ServerThread(app).start()
    try:
        client = DevinClient(
            config.api_key, config.org_id, f"{server.url}/v3", retry=RetryPolicy(attempts=1)
        )
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / ".devin"
            make_folder(root, objects)
            first = one_run(emulator, client, root)
            second = one_run(emulator, client, root)
            edited = root / "playbooks" / "book-0.md"
            edited.write_text(edited.read_text().replace("Step two.", "Step two, carefully."))
            third = one_run(emulator, client, root)
        cached = lookups(emulator, client, sessions, ttl=300.0)
        uncached = lookups(emulator, client, sessions, ttl=0.0)
    finally:
        server.stop()

    total = int(first["objects"])
    report = Report("apply economy")
    report.add("folder", f"{total} objects ({objects} playbooks, {objects} notes, schedules)")
    for label, run in (("first apply", first), ("unchanged", second), ("one edit", third)):
        report.add(
            label,
            f"{run['writes']:.0f} writes, {run['reads']:.0f} reads, {run['seconds'] * 1000:.0f} ms",
        )
    report.add("baseline", f"delete + re-create every run: {2 * total} writes per run")
    report.add(
        "playbook names",
        f"{cached} list request(s) for {sessions} sessions cached; {uncached} without the cache",
    )
    report.check(
        "writes, first apply", f"{first['writes']:.0f}", f"= {total}", first["writes"] == total
    )
    report.check("writes, unchanged", f"{second['writes']:.0f}", "= 0", second["writes"] == 0)
    report.check("writes, one edit", f"{third['writes']:.0f}", "= 1", third["writes"] == 1)
    report.check("playbook lists", str(cached), "= 1", cached == 1)
    report.figures = {
        "objects": total,
        "first": first,
        "unchanged": second,
        "one_edit": third,
        "baseline_writes_per_run": 2 * total,
        "playbook_lists_cached": cached,
        "playbook_lists_uncached": uncached,
        "sessions": sessions,
    }
    return finish(report, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
