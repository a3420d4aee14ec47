"""The wait loop of mode ``run`` (input ``wait``): tick the session's tracker until it
settles, ``timeout-minutes`` pass or the runner cancels the job, riding out brief outages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.action.inputs import ActionInputs
from bot.action.outputs import explain
from bot.action.process import ActionCancelled
from bot.core import polling
from bot.core.devin_models import Session
from bot.devin.errors import DevinError
from bot.engine.handlers import Deps
from bot.engine.tracker import TickResult, TrackState, tick
from bot.engine.transient import retry_for
from bot.github.errors import GitHubError

# Right after a follow-up the session may still show its previous, settled state.
FOLLOW_UP_GRACE_POLLS = 6
# While nothing changes, say so this often (the log must not look stuck).
HEARTBEAT_S = 180.0


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Waited:
    track: TrackState
    session: Session | None
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None


class Progress:
    """The wait in the job log: one line per state change, and a heartbeat every few
    minutes while none comes (state, time waited, ACUs, link)."""

    def __init__(
        self, write: Callable[[str], None], clock: Clock, heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        self._write = write
        self._clock = clock
        self._heartbeat_s = heartbeat_s
        self._started = clock.monotonic()
        self._last_line = self._started
        self._last_state: str | None = None

    def seen(self, session: Session) -> None:
        now = self._clock.monotonic()
        state = session.state()
        detail = "/".join(v for v in (session.status, session.status_detail) if v)
        if state != self._last_state:
            prefix = state
        elif now - self._last_line >= self._heartbeat_s:
            prefix = f"still {state}"
        else:
            return
        self._last_state, self._last_line = state, now
        self._write(
            f"{prefix} ({detail}) · {_elapsed(now - self._started)} · "
            f"{session.acus_consumed:g} ACUs · {session.url}"
        )


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d} waited"


def wait_for(
    track: TrackState,
    deps: Deps,
    inputs: ActionInputs,
    clock: Clock,
    *,
    followed_up: bool = False,
    progress: Progress | None = None,
) -> Waited:
    """Tick until the session settles or ``timeout-minutes`` pass. The tick after the
    deadline (or a cancellation) finalises the comment as still running."""
    deadline = clock.monotonic() + inputs.timeout_seconds
    session: Session | None = None
    polls, failures = 0, 0
    seen_active = not followed_up
    while True:
        timed_out = clock.monotonic() >= deadline
        try:
            result: TickResult = tick(track, deps, timed_out=timed_out)
        except ActionCancelled:
            return _finalise(track, deps, session)
        except (DevinError, GitHubError) as err:
            failures += 1
            retry = retry_for(err, failures, base=inputs.poll_interval)
            if retry is None:
                raise
            if timed_out:
                return Waited(track, session, timed_out=True, error=explain(err)[0])
            deps.log.warning("%s; polling again in %.1f s", retry.reason, retry.delay)
            if not _nap(clock, min(retry.delay, _left(deadline, clock))):
                return _finalise(track, deps, session)
            continue
        failures = 0
        polls += 1
        track, session = result.state, result.session
        if progress is not None:
            progress.seen(session)
        if result.write_retry_in is not None and not timed_out:
            # The comment does not show this state yet (write budget, GitHub 5xx): the
            # run ends only once it does, or at the deadline.
            # Ticks go on meanwhile: a later state (e.g. a final one) may get a slot sooner.
            pause = min(result.write_retry_in, wait_delay(result, deps, inputs))
            if not _nap(clock, min(pause, _left(deadline, clock))):
                return _finalise(track, deps, session)
            continue
        if result.done or timed_out:
            return Waited(track, session, timed_out=timed_out and not result.settled)
        # After a follow-up the session may still show its old settled state for a poll
        # or two; a usage-limit suspension, though, no message can lift.
        grace = (
            result.settled
            and not seen_active
            and polls <= FOLLOW_UP_GRACE_POLLS
            and not result.session.blocked_by_usage
        )
        if result.settled and not grace:
            return Waited(track, session)
        seen_active = seen_active or not result.settled
        delay = inputs.poll_interval if grace else wait_delay(result, deps, inputs)
        if not _nap(clock, min(delay, _left(deadline, clock))):
            return _finalise(track, deps, session)


def wait_delay(result: TickResult, deps: Deps, inputs: ActionInputs) -> float:
    """The polling policy, scaled so that ``poll-interval`` may be under a second."""
    base = max(inputs.poll_interval, 1.0)
    age = max(0.0, deps.clock() - result.state.started_at)
    delay = polling.next_delay(result.session, result.state.unchanged_polls, age, base=base)
    return delay * (inputs.poll_interval / base)


def _nap(clock: Clock, seconds: float) -> bool:
    """Sleep; False when the runner cancelled the run meanwhile."""
    try:
        clock.sleep(max(0.0, seconds))
    except ActionCancelled:
        return False
    return True


def _finalise(track: TrackState, deps: Deps, session: Session | None) -> Waited:
    try:
        result = tick(track, deps, timed_out=True)
    except (DevinError, GitHubError, ActionCancelled):
        return Waited(track, session, cancelled=True)
    return Waited(result.state, result.session, cancelled=True)


def _left(deadline: float, clock: Clock) -> float:
    return max(0.0, deadline - clock.monotonic())
