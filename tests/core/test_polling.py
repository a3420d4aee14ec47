"""The polling policy: often while young or moving, backing off while quiet, slow once settled."""

from __future__ import annotations

import pytest

from bot.core.devin_models import Session
from bot.core.polling import next_delay


def session(status: str, detail: str | None = None, archived: bool = False) -> Session:
    return Session(
        session_id="abc123",
        url="https://app.devin.ai/sessions/abc123",
        status=status,
        status_detail=detail,
        is_archived=archived,
    )


WORKING = session("running", "working")
QUEUED = session("new")


@pytest.mark.parametrize(
    ("s", "unchanged", "age", "expected"),
    [
        # young sessions are polled at the base rate, whatever they show
        (WORKING, 0, 5, 10.0),
        (WORKING, 7, 300, 10.0),
        (QUEUED, 3, 60, 10.0),
        # an older session that just changed is active: base rate
        (WORKING, 0, 3600, 10.0),
        # older and quiet: exponential backoff, capped at 5 minutes
        (WORKING, 1, 3600, 20.0),
        (WORKING, 2, 3600, 40.0),
        (WORKING, 4, 3600, 160.0),
        (WORKING, 5, 3600, 300.0),
        (WORKING, 50, 3600, 300.0),
        # settled: slow (2 minutes), growing to 10 minutes while nothing happens
        (session("running", "waiting_for_user"), 0, 5, 120.0),
        (session("running", "finished"), 0, 3600, 120.0),
        (session("running", "waiting_for_approval"), 4, 3600, 160.0),
        (session("suspended", "inactivity"), 6, 3600, 600.0),
        (session("suspended", "usage_limit_exceeded"), 60, 9000, 600.0),
        # over: nothing left to watch
        (session("exit"), 0, 10, 600.0),
        (session("error"), 0, 10, 600.0),
        (session("running", "working", archived=True), 0, 10, 600.0),
    ],
)
def test_next_delay_table(s: Session, unchanged: int, age: float, expected: float) -> None:
    assert next_delay(s, unchanged, age) == expected


def test_base_scales_the_policy_and_is_never_below_a_second() -> None:
    assert next_delay(WORKING, 0, 5, base=30.0) == 30.0
    assert next_delay(WORKING, 1, 3600, base=30.0) == 60.0
    assert next_delay(WORKING, 0, 5, base=0.0) == 1.0
    assert next_delay(WORKING, -3, 5, base=-1) == 1.0


def test_a_large_base_is_not_capped_below_itself() -> None:
    assert next_delay(WORKING, 3, 3600, base=400.0) == 400.0
