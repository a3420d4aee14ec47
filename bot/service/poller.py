"""Poll ticks: claim due sessions under a lease, run one tracker tick each, store the result.

A tick is short (one GET of the session, plus messages, attachments and one comment
edit when something changed), so a crash costs at most one lease period: the row keeps
the last TrackState, and whoever claims it next resumes from there. The result is
written only under the claim's fencing version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.core import polling
from bot.core.devin_models import Session
from bot.devin.errors import DevinError, DevinNotFound
from bot.engine import tracker
from bot.engine.transient import backoff, retry_for
from bot.github.errors import GitHubError
from bot.service.codec import CodecError, dump, load_track
from bot.service.deps import DepsFactory
from bot.service.feed_status import FeedStatus
from bot.service.leases import LeaseKeeper
from bot.service.metrics import TICKS, Metrics
from bot.service.settings import DEFAULT_SAFETY_POLL_S
from bot.store.facade import ClaimedSession, Store, TickWrite

log = logging.getLogger("devin_bridge.poller")

# A session stopped by a closed issue or merged PR has to look settled for this many
# unchanged polls, so a follow-up comment on a closed thread is still picked up.
SETTLED_POLLS_BEFORE_CLOSE = 1
NOT_FOUND_LIMIT = 5


@dataclass(frozen=True)
class TickReport:
    session_id: str
    lease_version: int
    result: str  # stored | done | fenced | rate_limited | unavailable | error
    edited: bool
    started: float
    ended: float


def scaled_delay(
    session: Session,
    unchanged_polls: int,
    age_s: float,
    poll_interval: float,
    *,
    safety_s: float | None = None,
) -> float:
    """polling.next_delay with the configured interval as its base.

    With `safety_s` (the change feed is working) a session is read on its own only once
    more right after a change (a message posted in the second of the last read leaves
    `updated_at` as it was) and otherwise every `safety_s`: the feed finds its changes.

    The policy floors its base at 1 s; an interval below that (fast tests) scales the
    whole policy down instead, so every back-off step keeps its proportions.
    """
    if safety_s is not None:
        return poll_interval if unchanged_polls == 0 else safety_s
    if poll_interval >= 1.0:
        return polling.next_delay(session, unchanged_polls, age_s, base=poll_interval)
    return polling.next_delay(session, unchanged_polls, age_s, base=1.0) * poll_interval


class Poller:
    """Runs ticks for claimed sessions (the same code in-process, on RQ and in refresh)."""

    def __init__(
        self,
        store: Store,
        factory: DepsFactory,
        *,
        owner: str,
        lease_s: float,
        poll_interval: float,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        feed: FeedStatus | None = None,
        safety_s: float = DEFAULT_SAFETY_POLL_S,
    ) -> None:
        self.store = store
        self.factory = factory
        self.owner = owner
        self.lease_s = lease_s
        self.poll_interval = poll_interval
        self.metrics = metrics
        self.clock = clock
        self.feed = feed
        self.safety_s = safety_s

    def claim_due(self, limit: int) -> list[ClaimedSession]:
        return self.store.claim_due_sessions(self.owner, self.lease_s, limit)

    def run_due(self, limit: int = 50) -> list[TickReport]:
        """Claim and tick due sessions one after another (tests, `worker --once`)."""
        return [self.tick(claim) for claim in self.claim_due(limit)]

    def refresh_all(self, *, batch: int = 50) -> list[TickReport]:
        """One tick for every live session not leased by someone else (`devin-bridge refresh`)."""
        reports: list[TickReport] = []
        seen: set[str] = set()
        while True:
            claims = self.store.claim_due_sessions(self.owner, self.lease_s, batch, all_live=True)
            fresh = [c for c in claims if c.session_id not in seen]
            for claim in claims:
                if claim.session_id in seen:  # already refreshed in this run: hand it back
                    self.store.release_session(claim, next_poll_at=self.clock())
            if not fresh:
                return reports
            for claim in fresh:
                seen.add(claim.session_id)
                reports.append(self.tick(claim))

    def tick(self, claim: ClaimedSession, session: Session | None = None) -> TickReport:
        """One tick; `session` is the change feed's list item (no GET needed)."""
        started = self.clock()
        edited = False
        # A claim that waited in the pool past its lease may have been taken over: only
        # a successful renewal (same fencing version) lets this tick go on.
        expiring = self.store.now() >= claim.lease.until - 1.0
        if expiring and not self.store.renew_session(claim, self.lease_s):
            log.info("tick of session %s skipped: its lease was taken over", claim.session_id)
            return TickReport(
                claim.session_id, claim.lease.version, "fenced", False, started, started
            )
        with LeaseKeeper(
            lambda: self.store.renew_session(claim, self.lease_s), self.lease_s, claim.session_id
        ):
            try:
                result, edited = self._tick(claim, started, session)
            except Exception:  # never let one session stop the loop
                log.exception("tick of session %s failed unexpectedly", claim.session_id)
                self.store.release_session(
                    claim,
                    next_poll_at=self.clock() + backoff(claim.errors + 1, self.poll_interval),
                    error="internal error (see the service log)",
                )
                result = "error"
        ended = self.clock()
        if self.metrics is not None:
            self.metrics.inc(TICKS, {"result": result})
        # One line per tick: operators see the work, tests check leases never overlap.
        log.info(
            "tick session=%s lease=%d owner=%s start=%.6f end=%.6f result=%s edited=%s",
            claim.session_id,
            claim.lease.version,
            self.owner,
            started,
            ended,
            result,
            "yes" if edited else "no",
        )
        return TickReport(claim.session_id, claim.lease.version, result, edited, started, ended)

    def _tick(
        self, claim: ClaimedSession, now: float, listed: Session | None = None
    ) -> tuple[str, bool]:
        try:
            state = load_track(claim.track)
        except CodecError as err:
            log.error(
                "session %s has an unreadable state (%s); no longer polled", claim.session_id, err
            )
            self._give_up(claim, now)
            return "done", False
        try:
            deps = self.factory.deps(claim.repo, claim.installation_id)
            result = tracker.tick(state, deps, session=listed)
        except Exception as err:
            return self._failed(claim, err), False
        session = result.session
        closed_and_idle = (
            claim.thread_closed
            and result.settled
            and result.state.unchanged_polls >= SETTLED_POLLS_BEFORE_CLOSE
        )
        done = result.done or closed_and_idle
        if closed_and_idle and not result.done:
            log.info(
                "session %s is settled and its thread is closed: polling stops", claim.session_id
            )
        safety = None
        if self.feed is not None and self.feed.active():
            safety = self.feed.safety_delay(self.safety_s)
        delay = scaled_delay(
            session,
            result.state.unchanged_polls,
            now - result.state.started_at,
            self.poll_interval,
            safety_s=safety,
        )
        # --- comment write pending (issue 11 item 5, write budget): its retry comes
        # soon, whatever the poll schedule, and the session is not done before it.
        if result.write_retry_in is not None:
            delay = min(delay, result.write_retry_in)
            done = False
        # --- end comment write pending
        stored = self.store.finish_tick(
            claim,
            TickWrite(
                track=dump(result.state),
                status=session.status,
                status_detail=session.status_detail,
                state=session.state(stopped=result.state.stopped),
                comment_id=result.state.comment_id,
                next_poll_at=self.clock() + delay,
                done=done,
            ),
        )
        if not stored:
            log.warning(
                "tick of session %s discarded: lease %d was taken over",
                claim.session_id,
                claim.lease.version,
            )
            return "fenced", result.edited
        return ("done" if done else "stored"), result.edited

    def _failed(self, claim: ClaimedSession, err: Exception) -> str:
        """Put the session back for later; give up only on one Devin keeps not finding."""
        if self.metrics is not None and isinstance(err, GitHubError):
            self.metrics.api_error("github", err.status)
        retry = retry_for(err, claim.errors + 1, self.poll_interval)
        if retry is not None:
            log.warning(
                "tick of session %s postponed %.1f s: %s",
                claim.session_id,
                retry.delay,
                retry.reason,
            )
            self.store.release_session(
                claim, next_poll_at=self.clock() + retry.delay, error=retry.reason
            )
            return "rate_limited" if retry.rate_limited else "unavailable"
        if not isinstance(err, DevinError | GitHubError):
            raise err
        if (
            isinstance(err, DevinNotFound)
            and claim.errors + 1 >= NOT_FOUND_LIMIT
            and self._still_not_found(claim)
        ):
            # Several 404s in a row, not one: a wrong DEVIN_ORG_ID must not end them all.
            log.warning("session %s no longer exists at Devin; no longer polled", claim.session_id)
            self._finalise_lost(claim)
            self._give_up(claim, self.clock())
            return "done"
        delay = backoff(claim.errors + 1, max(self.poll_interval, 1.0))
        log.warning("tick of session %s failed (retry in %.0f s): %s", claim.session_id, delay, err)
        self.store.release_session(claim, next_poll_at=self.clock() + delay, error=str(err))
        return "error"

    def _still_not_found(self, claim: ClaimedSession) -> bool:
        """The error count covers rate limits and outages too: before giving a session
        up, ask once more whether Devin really does not know it."""
        try:
            self.factory.deps(claim.repo, claim.installation_id).devin.get_session(claim.session_id)
        except DevinNotFound:
            return True
        except (DevinError, GitHubError):
            return False
        return False

    def _finalise_lost(self, claim: ClaimedSession) -> None:
        """Say on the thread that the session is gone, so the comment is not left
        showing it at work forever."""
        try:
            state = load_track(claim.track)
            deps = self.factory.deps(claim.repo, claim.installation_id)
            gone = Session.from_api({"session_id": state.session_id, "status": "error"})
            view = tracker.status_view(
                state, gone, deps, error="Devin no longer knows this session; polling stopped"
            )
            tracker.write_status(state, view, deps, force=True)
        except (CodecError, DevinError, GitHubError) as err:
            log.warning("could not finalise the comment of %s: %s", claim.session_id, err)

    def _give_up(self, claim: ClaimedSession, now: float) -> None:
        self.store.finish_tick(
            claim,
            TickWrite(
                track=claim.track,
                status=claim.status,
                status_detail=None,
                state="failed",
                comment_id=None,
                next_poll_at=now,
                done=True,
            ),
        )
