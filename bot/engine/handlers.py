"""Handle one trigger: the same code for the Action and the webhook service.

Order of work: read the repo config, decide what was asked (ignoring what is not
for us), check the sender (failing closed), acknowledge with 👀, then create a
session, follow up in the thread's live one, stop, refresh or reply with help.
Every step that writes is safe to repeat: a retried trigger finds the session
its first attempt created (idempotency tag) and its status comment (marker).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot.core import comments
from bot.core.comment_markers import STOPPED_MARKER
from bot.core.config_model import RepoConfig, effective_settings
from bot.core.devin_models import STOPPED_TAG, Session
from bot.core.events import Trigger
from bot.core.prompt_context import SOURCE_FOLLOW_UP, Instruction
from bot.core.prompt_instruction import build_followup
from bot.core.prompts import build_prompt, session_title
from bot.core.status_view import StatusView
from bot.core.write_budget import Priority
from bot.devin.errors import DevinError, DevinRateLimited, DevinUnavailable
from bot.engine.access import refusal
from bot.engine.deps import Deps, RunOptions
from bot.engine.intents import (
    HELP,
    RUN,
    STATUS,
    STOP,
    Ask,
    read_ask,
    trigger_word,
    with_option_label,
)
from bot.engine.replies import config_note, help_reply, short_reply, undelivered_reason
from bot.engine.session_request import build_session_request
from bot.engine.threads import (
    already_sent,
    find_status_comment,
    live_session,
    request_key,
    requester_in,
    session_for_request,
    stopper_in,
    thread_sessions,
    trigger_url_in,
)
from bot.engine.tracker import TrackState, session_started_at, status_view, tick, write_status
from bot.github.context import TRANSIENT_GITHUB, light_context, load_config, prompt_context
from bot.github.errors import GitHubError

__all__ = ["Deps", "Outcome", "RunOptions", "handle"]

RETRYABLE = (DevinRateLimited, DevinUnavailable, *TRANSIENT_GITHUB)
SKIPPED_ACTIONS = frozenset({"refused", "ignored", "help"})


@dataclass(frozen=True)
class Outcome:
    action: str  # created | followed_up | stopped | status | help | refused | ignored | failed
    thread: str | None
    session: Session | None
    comment_id: int | None
    reason: str = ""
    track: TrackState | None = None
    error: Exception | None = field(default=None, compare=False)

    @property
    def skipped(self) -> bool:
        return self.action in SKIPPED_ACTIONS


def handle(trigger: Trigger, deps: Deps, *, idempotency_key: str | None = None) -> Outcome:
    """Do what the trigger asks. Raises only the retryable RETRYABLE errors."""
    job = _Job(trigger, deps, idempotency_key or trigger.dedupe_key)
    try:
        return job.run()
    except RETRYABLE:
        raise
    except (DevinError, GitHubError) as err:
        deps.log.warning("handling %s failed: %s", trigger.dedupe_key, err)
        return job.failed(err)


class _Job:
    def __init__(self, trigger: Trigger, deps: Deps, key: str) -> None:
        self.t, self.deps, self.key = trigger, deps, key
        self.config = RepoConfig()
        self.problems: tuple[str, ...] = ()
        self.word = ""
        self.track: TrackState | None = None
        self.session: Session | None = None
        self.accepted = False  # the sender passed the checks and was acknowledged

    # --- the steps ------------------------------------------------------------------------

    def run(self) -> Outcome:
        t, deps = self.t, self.deps
        if deps.bot_login and t.sender.login.lower() == deps.bot_login.lower():
            return self._outcome("ignored", reason="the bridge's own event")
        loaded = load_config(deps.github, t.repo, deps.options.config_path, deps.log)
        self.config = with_option_label(loaded.config, deps.options)
        self.problems = loaded.errors
        self.word = trigger_word(deps.options, self.config)
        ask = read_ask(t, self.config, self.word)
        if isinstance(ask, str):
            return self._outcome("ignored", reason=ask)
        refused = refusal(t, self.config, deps.github, deps.log)
        if refused and t.sender.is_bot:
            return self._outcome("ignored", reason=refused)  # no replies to bots: no loops
        if refused:
            reply = None
            if self.config.permissions.reply_to_refused:
                reply = self._reply(comments.render_refusal(t.sender.login, refused))
            return self._outcome("refused", reason=refused, comment_id=reply)
        if ask.kind in (STATUS, STOP, RUN) and t.number is None:
            return self._outcome("ignored", reason=f"{ask.kind} needs an issue or pull request")
        self._acknowledge()
        self.accepted = True
        if ask.kind == HELP:
            return self._help(ask)
        if ask.kind == STATUS:
            return self._status()
        if ask.kind == STOP:
            return self._stop()
        if ask.kind == RUN and t.number is not None:
            # A retry of this very trigger must not turn into a follow-up of its own session.
            earlier = session_for_request(deps.devin, self.key)
            if earlier is not None:
                return self._started(earlier)
            live = live_session(deps.devin, t.repo, t.number)
            if live is not None:
                return self._follow_up(live, ask)
        return self._create(ask)

    def _acknowledge(self) -> None:
        t = self.t
        if t.comment_id is None:
            return
        # Never waits for the write budget (the session starts first): when the budget
        # has no slot right now the 👀 is dropped, not deferred. The status comment that
        # follows acknowledges the trigger anyway, and a reaction arriving minutes later
        # would only be noise.
        try:
            self.deps.github.react(
                t.repo,
                t.comment_id,
                "eyes",
                review_comment=t.kind == "review_comment",
                priority=Priority.PROGRESS,
                max_wait=0.0,
            )
        except GitHubError as err:  # a missing 👀 is not worth failing the trigger
            self.deps.log.info("could not react to comment %s: %s", t.comment_id, err)

    # --- the actions ----------------------------------------------------------------------

    def _create(self, ask: Ask) -> Outcome:
        t, deps = self.t, self.deps
        settings = effective_settings(self.config, ask.rule)
        ctx = prompt_context(deps.github, t, deps.log)
        instruction = Instruction(
            text=ask.text,
            requested_by=t.sender.login,
            source=ask.source,
            trigger_url=t.comment_url,
            playbook_macro=settings.playbook_macro,
            template=settings.prompt,
            label=t.label,
        )
        if settings.playbook_name and not (deps.options.playbook_id or settings.playbook_id):
            try:
                found = deps.playbook_names.resolve(deps.devin, settings.playbook_name, t.repo)
            except RETRYABLE:
                raise
            except DevinError as err:
                return self._not_started(err)
            settings = replace(settings, playbook_id=found)
        request = build_session_request(
            prompt=build_prompt(ctx, instruction),
            title=session_title(ctx, instruction),
            repo=t.repo,
            number=t.number,
            options=deps.options,
            settings=settings,
        )
        try:
            session = deps.devin.create_session(request, idempotency_key=request_key(self.key))
        except RETRYABLE:
            raise
        except DevinError as err:
            return self._not_started(err)
        return self._started(session)

    def _started(self, session: Session) -> Outcome:
        track = self._track(
            session,
            requested_by=self.t.sender.login,
            note=config_note(self.problems, self.deps.options.config_path),
        )
        return self._ticked("created", track, session)

    def _follow_up(self, live: Session, ask: Ask) -> Outcome:
        t, deps = self.t, self.deps
        who = t.sender.login
        instruction = Instruction(
            text=ask.text, requested_by=who, source=SOURCE_FOLLOW_UP, trigger_url=t.comment_url
        )
        message = build_followup(instruction, light_context(t))
        try:
            # The message names the trigger comment's URL, so an equal one is this retry.
            if t.comment_url and already_sent(deps.devin, live.session_id, message):
                sent: Session | None = live
            else:
                sent = deps.devin.send_message(live.session_id, message)
        except RETRYABLE:
            raise
        except DevinError as err:
            why = undelivered_reason(live, err)
            track = self._resume(live, note=f"Follow-up from @{who} was not delivered: {why}")
            result = tick(track, deps, session=live)
            return self._outcome("failed", result.session, result.state, reason=why, error=err)
        note = f"Follow-up from @{who}"
        if live.blocked_by_usage:
            note += f"; the session is suspended ({live.status_detail}) until the limit is raised"
        return self._ticked("followed_up", self._resume(live, note=note), sent)

    def _stop(self) -> Outcome:
        t, deps = self.t, self.deps
        live = live_session(deps.devin, t.repo, t.number) if t.number is not None else None
        if live is None:
            reason = "there is no live Devin session on this thread to stop"
            return self._outcome("stopped", reason=reason, comment_id=self._short_reply(reason))
        try:
            # Tagged first: the API shows a stopped session as `exit`, like a finished one.
            deps.devin.add_tags(live.session_id, [STOPPED_TAG])
        except RETRYABLE:
            raise
        except DevinError as err:  # at the tag limit, say: it still stops
            deps.log.info("tagging %s as stopped: %s", live.session_id, err)
        try:
            deps.devin.terminate_session(live.session_id)
        except RETRYABLE:
            raise
        except DevinError as err:  # e.g. it exited meanwhile: finalise the comment anyway
            deps.log.info("terminating %s: %s", live.session_id, err)
        track = replace(self._resume(live, note=None, stopped=True), stopped_by=t.sender.login)
        self.track = track
        return self._ticked("stopped", track, None)

    def _status(self) -> Outcome:
        t, deps = self.t, self.deps
        sessions = thread_sessions(deps.devin, t.repo, t.number) if t.number is not None else []
        target = next((s for s in sessions if s.is_live), sessions[0] if sessions else None)
        if target is None:
            reason = "no Devin session has run on this thread yet"
            return self._outcome("status", reason=reason, comment_id=self._short_reply(reason))
        return self._ticked("status", self._resume(target, note=None), None)

    def _help(self, ask: Ask) -> Outcome:
        body = help_reply(
            self.config,
            self.word,
            error=ask.error,
            login=self.t.sender.login,
            problems=self.problems,
            config_path=self.deps.options.config_path,
        )
        reply = self._reply(body)
        return self._outcome("help", reason=ask.error or "help", comment_id=reply)

    def _not_started(self, err: DevinError) -> Outcome:
        t = self.t
        view = StatusView(
            session=None,
            requested_by=t.sender.login,
            trigger_url=t.comment_url,
            now=self.deps.clock(),
            error=str(err),
            trigger=self.word,
        )
        reply = self._reply(comments.render(view))
        return self._outcome("failed", reason=str(err), comment_id=reply, error=err)

    def failed(self, err: Exception) -> Outcome:
        """Any other Devin or GitHub failure: finalise the status comment if there is one."""
        track, session, reason = self.track, self.session, str(err)
        if track is None and self.accepted and isinstance(err, DevinError):
            # Nothing was posted yet (e.g. the key was rejected while looking up the
            # thread's session): tell the requester instead of leaving only 👀.
            return self._not_started(err)
        if track is not None and track.comment_id is not None and session is not None:
            view = status_view(track, session, self.deps, error=reason)
            try:
                write_status(track, view, self.deps, force=True)
            except GitHubError as again:
                self.deps.log.info("could not finalise comment %s: %s", track.comment_id, again)
        comment_id = track.comment_id if track else None
        return self._outcome(
            "failed", session, track, reason=reason, comment_id=comment_id, error=err
        )

    # --- helpers --------------------------------------------------------------------------

    def _track(
        self, session: Session, *, requested_by: str, note: str | None, stopped: bool = False
    ) -> TrackState:
        t = self.t
        track = TrackState(
            session_id=session.session_id,
            repo=t.repo,
            number=t.number,
            comment_id=None,
            requested_by=requested_by,
            trigger_url=t.comment_url,
            started_at=session_started_at(session, self.deps.clock()),
            stopped=stopped,
            note=note,
            trigger=self.word,
            checks=self._checks_on(),
            pull_request=t.is_pull_request and t.number is not None,
        )
        self.track, self.session = track, session
        return track

    def _checks_on(self) -> bool:
        """`checks:` in the repo config, else the deployment's default."""
        chosen = self.config.checks
        return self.deps.options.checks if chosen is None else chosen

    def _resume(self, session: Session, *, note: str | None, stopped: bool = False) -> TrackState:
        """Track a session an earlier trigger started: its comment and requester are kept."""
        t, deps = self.t, self.deps
        found = None
        if t.number is not None and deps.options.comment:
            found = find_status_comment(
                deps.github, t.repo, t.number, session.session_id, deps.bot_login
            )
        requester = (requester_in(found.body) if found else None) or t.sender.login
        if found is not None:
            stopped = stopped or STOPPED_MARKER in found.body
        track = self._track(session, requested_by=requester, note=note, stopped=stopped)
        first_link = trigger_url_in(found.body) if found else None
        self.track = replace(
            track,
            comment_id=found.id if found else None,
            trigger_url=first_link or track.trigger_url,
            stopped_by=stopper_in(found.body) if found else None,
        )
        return self.track

    def _ticked(self, action: str, track: TrackState, session: Session | None) -> Outcome:
        # The comment is written only if the budget has a slot now; else the session's
        # next tick writes it, and this worker thread moves on to the next trigger.
        result = tick(track, replace(self.deps, comment_write_wait=0.0), session=session)
        self.track, self.session = result.state, result.session
        return self._outcome(action, result.session, result.state)

    def _reply(self, body: str) -> int | None:
        t = self.t
        if t.number is None or not self.deps.options.comment:
            return None
        try:
            return self.deps.github.create_comment(t.repo, t.number, body).id
        except TRANSIENT_GITHUB:
            raise
        except GitHubError as err:
            self.deps.log.warning("could not reply on %s: %s", t.thread, err)
            return None

    def _short_reply(self, text: str) -> int | None:
        return self._reply(short_reply(text, self.word))

    def _outcome(
        self,
        action: str,
        session: Session | None = None,
        track: TrackState | None = None,
        *,
        reason: str = "",
        comment_id: int | None = None,
        error: Exception | None = None,
    ) -> Outcome:
        cid = track.comment_id if track is not None else comment_id
        return Outcome(action, self.t.thread, session, cid, reason, track, error)
