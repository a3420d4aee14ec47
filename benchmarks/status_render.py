"""What rendering Devin's message as Markdown costs per status-comment write.

Renders the status comment (``bot.core.comments.render`` + ``fingerprint``, what one
visible change costs) for messages of several sizes, and, as the same-run baseline, the
previous treatment of the message (``comment_text.echo_block``: HTML stripped over the
whole text, cut to 600 characters). Prints milliseconds per call; asserts nothing.

    .venv/bin/python benchmarks/status_render.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.comment_text import echo_block
from bot.core.comments import fingerprint, render
from bot.core.devin_message import render_message
from bot.core.devin_models import Session
from bot.core.status_view import StatusView

FENCE = "```python\n@dataclass(frozen=True)\nclass Point:\n    x: int  # see #12\n```"
TABLE = "| Test | Result |\n|---|---|\n| `test_a<int>` | passed #3 |\n| `@fixture` | failed |"


def message(chars: int) -> str:
    parts = ["Summary for @alice: see #1 and `Map<String, List<Integer>>`."]
    i = 0
    while sum(len(p) + 2 for p in parts) < chars:
        parts.append(f"Step {i}: changed `module_{i}.py`, ran the tests (#{i}), cc @bob.")
        parts.append(FENCE if i % 2 else TABLE)
        i += 1
    parts.append("Conclusion: all tests pass.")
    return "\n\n".join(parts)


def per_call_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _write(view: StatusView) -> object:
    """What one visible change costs: the fingerprint, then the comment's body."""
    render_message.cache_clear()
    return fingerprint(view), render(view)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions")
    parser.add_argument("--json", action="store_true", help="also print one RESULT line")
    args = parser.parse_args()
    repeat = 5 if args.quick else 50
    session = Session.from_api(
        {"session_id": "devin-1", "url": "https://app.devin.ai/sessions/1", "status": "running"}
    )
    result: dict[str, float] = {}
    print(
        f"{'message':>10}  {'markdown (ms)':>14}  {'comment write (ms)':>19}  {'baseline (ms)':>14}"
    )
    for size in (600, 4_000, 20_000, 100_000):
        text = message(size)
        view = StatusView(session=session, requested_by="alice", latest_message=text)
        # Uncached: a new message each time, as after a visible change.
        md = per_call_ms(lambda t=text: render_message.__wrapped__(t, 4_000, session.url), repeat)  # type: ignore[misc]
        write = per_call_ms(lambda v=view: _write(v), repeat)  # type: ignore[misc]
        base = per_call_ms(lambda t=text: echo_block(t, 600), repeat)  # type: ignore[misc]
        print(f"{len(text):>10}  {md:>14.2f}  {write:>19.2f}  {base:>14.2f}")
        result[f"markdown_ms_{size}"] = round(md, 3)
        result[f"comment_write_ms_{size}"] = round(write, 3)
        result[f"baseline_echo_block_ms_{size}"] = round(base, 3)
    if args.json:
        print("RESULT " + json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
