"""The emulator's in-memory state: sessions, attachments, scenarios, faults, request log.

One re-entrant lock guards every record; each public method takes it once, so a
request sees and leaves a consistent state. Getting a session by id is a dict
lookup; lists are linear scans (fine for thousands of sessions).
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from bot.emulator import lifecycle, render
from bot.emulator.config import EmulatorConfig
from bot.emulator.errors import ApiError, field_error
from bot.emulator.faults import Fault, FaultError, FaultList, Phase
from bot.emulator.ids import bare_session_id, new_hex, new_uuid
from bot.emulator.pagination import PageRequest, paginate
from bot.emulator.records import Attachment, Message, Session
from bot.emulator.requestlog import RequestLog
from bot.emulator.resources import ResourceStore
from bot.emulator.scenarios import (
    AttachmentSpec,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    parse_scenario,
    scenario_hint,
)
from bot.emulator.session_inputs import NewSession, SessionFilter, checked_patch

_ATTACHMENT_URL = re.compile(r"/attachments/([0-9a-fA-F-]{36})/[^/]+$")


_USAGE_DETAIL = (
    "Devin session is suspended ({reason}) and cannot be resumed by a message until the "
    "limit is raised"
)


class Emulator:
    """State and behaviour of one emulated Devin organisation."""

    def __init__(self, config: EmulatorConfig) -> None:
        if config.default_scenario not in builtin_scenarios():
            known = ", ".join(sorted(builtin_scenarios()))
            raise ValueError(f"default_scenario must be a built-in scenario: {known}")
        self.config = config
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self.faults = FaultList()
        self.log = RequestLog(config.request_log_limit)
        self.resources = ResourceStore(config, self._lock, self._next_seq, self.now)
        self.reset()

    # Housekeeping ----------------------------------------------------------------------

    def _next_seq(self) -> int:
        return next(self._seq)

    def now(self) -> int:
        return int(self.config.clock())

    def reset(self) -> None:
        """Forget everything: sessions, resources, faults, log, registered scenarios."""
        with self._lock:
            self._sessions: dict[str, Session] = {}
            self._order: list[Session] = []
            self._attachments: dict[str, Attachment] = {}
            self._blobs: dict[str, tuple[str, float]] = {}
            self._pr_counter = itertools.count(1)
            self._scenarios: dict[str, Scenario] = builtin_scenarios()
            self._default = self._scenario_named(self.config.default_scenario, "name")
            self.resources.reset()
        self.faults.clear()
        self.log.reset()

    def _scenario_named(self, name: str, field: str) -> Scenario:
        """`field` names the request field the unknown name came from."""
        scenario = self._scenarios.get(name)
        if scenario is None:
            known = ", ".join(sorted(self._scenarios))
            raise field_error(
                ("body", field), f"Unknown emulator scenario {name!r}; known: {known}"
            )
        return scenario

    # Scenarios and faults (admin) --------------------------------------------------------

    def scenarios(self) -> dict[str, Any]:
        with self._lock:
            return {
                "default": self._default.name,
                "scenarios": [s.describe() for s in self._scenarios.values()],
            }

    def register_scenario(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        try:
            scenario = parse_scenario(spec)
        except ScenarioError as exc:
            raise field_error(("body",), str(exc)) from None
        with self._lock:
            self._scenarios[scenario.name] = scenario
        return scenario.describe()

    def set_default_scenario(self, name_or_spec: str | Mapping[str, Any]) -> dict[str, Any]:
        """`"finish"`, `{"name": "finish"}` or `{"steps": [...], "name"?: ...}`."""
        if isinstance(name_or_spec, str):
            spec: Mapping[str, Any] = {"name": name_or_spec}
        else:
            spec = name_or_spec
        if "steps" in spec:
            self.register_scenario(spec)
        name = spec.get("name") or "custom"
        if not isinstance(name, str):
            raise field_error(("body", "name"), "name must be a string")
        with self._lock:
            self._default = self._scenario_named(name, "name")
            return self._default.describe()

    def add_fault(self, spec: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        try:
            fault = self.faults.add({**(spec or {}), **kwargs})
        except FaultError as exc:
            raise field_error(("body",), str(exc)) from None
        return fault.describe()

    def take_fault(self, method: str, path: str, phase: Phase) -> Fault | None:
        return self.faults.take(method, path, phase)

    def requests(self) -> list[dict[str, Any]]:
        return self.log.entries()

    def stats(self) -> dict[str, Any]:
        out = self.log.stats()
        with self._lock:
            out["sessions"] = len(self._sessions)
            out["live_sessions"] = sum(1 for s in self._order if not lifecycle.is_frozen(s))
        return out

    # StepHost (used by the lifecycle engine, under the lock) ------------------------------

    def next_pr_number(self) -> int:
        return next(self._pr_counter)

    def public_session_id(self, session: Session) -> str:
        return render.public_session_id(self.config, session.hex_id)

    def add_message(self, session: Session, source: str, text: str) -> None:
        now = self.now()
        event_id = f"event-{new_hex()}"
        session.messages.append(Message(self._next_seq(), event_id, source, text, now))
        session.updated_at = now

    def add_session_attachment(self, session: Session, spec: AttachmentSpec) -> None:
        session.attachments.append(
            self._store_attachment(spec.name, spec.content_type, "devin", spec.content, spec.size)
        )

    def _store_attachment(
        self, name: str, content_type: str | None, source: str, content: bytes | None, size: int
    ) -> Attachment:
        attachment = Attachment(
            seq=self._next_seq(),
            attachment_id=new_uuid(),
            name=name,
            content_type=content_type,
            source=source,
            content=content,
            size=size,
        )
        self._attachments[attachment.attachment_id] = attachment
        return attachment

    # Sessions --------------------------------------------------------------------------

    def _session(self, devin_id: str) -> Session:
        session = self._sessions.get(bare_session_id(devin_id))
        if session is None:
            raise ApiError(404, f"Session {devin_id} not found")
        return session

    def _json(self, session: Session, *, for_create: bool = False) -> dict[str, Any]:
        return render.session_json(self.config, session, for_create=for_create)

    def _attach_user_urls(self, session: Session, urls: Sequence[str]) -> None:
        for url in urls:
            match = _ATTACHMENT_URL.search(url.split("?", 1)[0])
            known = self._attachments.get(match.group(1)) if match else None
            if known is None:
                known = Attachment(
                    seq=self._next_seq(),
                    attachment_id=new_uuid(),
                    name=url.rstrip("/").rsplit("/", 1)[-1] or "attachment",
                    content_type=None,
                    source="user",
                    content=None,
                    size=0,
                    external_url=url,
                )
            if known not in session.attachments:
                session.attachments.append(known)

    def has_playbook(self, playbook_id: str) -> bool:
        return self.resources.has_playbook(playbook_id)

    def create_session(self, new: NewSession) -> dict[str, Any]:
        with self._lock:
            scenario = self._default
            if new.scenario is not None:
                scenario = self._scenario_named(new.scenario, "tags")
            parent = None
            if new.parent_id:
                parent = self._sessions.get(bare_session_id(new.parent_id))
                if parent is None:
                    raise ApiError(404, f"Parent session {new.parent_id} (devin_id) not found")
            now = self.now()
            first_line = next((ln.strip() for ln in new.prompt.splitlines() if ln.strip()), "")
            session = Session(
                seq=self._next_seq(),
                hex_id=new_hex(),
                prompt=new.prompt,
                title=new.title or first_line[:80] or "Untitled session",
                tags=list(dict.fromkeys(new.tags)),
                org_id=self.config.org_id,
                user_id=new.create_as_user_id,
                service_user_id=None if new.create_as_user_id else self.config.service_user_id,
                playbook_id=new.playbook_id,
                created_at=now,
                updated_at=now,
                scenario=scenario,
                origin=new.origin,
                devin_mode=new.devin_mode,
                repos=list(new.repos),
                schedule_id=new.schedule_id,
                max_acu_limit=new.max_acu_limit,
                structured_output_schema=new.structured_output_schema,
            )
            if parent is not None:
                session.parent_hex = parent.hex_id
                parent.child_hexes.append(session.hex_id)
            self.add_message(session, "user", new.prompt)
            self._attach_user_urls(session, new.attachment_urls)
            self._sessions[session.hex_id] = session
            self._order.append(session)
            lifecycle.start(session, self)
            return self._json(session, for_create=True)

    def get_session(self, devin_id: str, *, poll: bool = True) -> dict[str, Any]:
        """`poll=True` is a client's GET: it advances the scenario (see `scenarios`)."""
        with self._lock:
            session = self._session(devin_id)
            if poll:
                lifecycle.poll(session, self)
            return self._json(session)

    def list_sessions(self, flt: SessionFilter, page: PageRequest) -> dict[str, Any]:
        """A list read advances every session it looks at, like a GET does (a client that
        follows sessions through the list sees them move), then applies the filters the
        server honours (config `ignored_list_filters` models one that drops some)."""
        with self._lock:
            looked_at = flt.timeless()
            for session in self._order:
                if looked_at.matches(session):
                    lifecycle.poll(session, self)
            honoured = flt.without(self.config.ignored_list_filters)
            items = [s for s in reversed(self._order) if honoured.matches(s)]
            return paginate(
                items,
                lambda s: s.seq,
                page,
                descending=True,
                render=self._json,
                cursor_on_last_page=self.config.end_cursor_on_last_page,
            )

    def send_message(
        self, devin_id: str, text: str, attachment_urls: Sequence[str] = ()
    ) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            sid = self.public_session_id(session)
            if session.is_archived:
                raise ApiError(409, f"Devin session {sid} is archived and cannot be continued")
            if session.status in lifecycle.TERMINAL_STATUSES:
                raise ApiError(
                    409, f"Devin session {sid} has ended (status {session.status}); start a new one"
                )
            reason = lifecycle.usage_block(session)
            if reason is not None:
                raise ApiError(409, _USAGE_DETAIL.format(reason=reason))
            self.add_message(session, "user", text)
            self._attach_user_urls(session, attachment_urls)
            lifecycle.user_message(session, self)
            return self._json(session)

    def list_messages(self, devin_id: str, page: PageRequest) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            return paginate(
                session.messages,
                lambda m: m.seq,
                page,
                descending=False,
                render=render.message_json,
                cursor_on_last_page=self.config.end_cursor_on_last_page,
            )

    def terminate(self, devin_id: str, *, archive: bool) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            if session.status in lifecycle.TERMINAL_STATUSES:
                raise ApiError(400, "Devin session already exited")
            session.status, session.status_detail = "exit", None
            session.pending.clear()
            session.waiting_for_message = session.resume_pending = False
            if archive:
                session.is_archived = True
            session.updated_at = self.now()
            return self._json(session)

    def archive(self, devin_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            if session.status not in (*lifecycle.TERMINAL_STATUSES, "suspended"):
                # "Archives the session, putting it to sleep if currently running."
                session.status, session.status_detail = "suspended", "user_request"
            session.is_archived = True
            session.updated_at = self.now()
            return self._json(session)

    def tags(self, devin_id: str) -> dict[str, Any]:
        with self._lock:
            return {"tags": list(self._session(devin_id).tags)}

    def set_tags(self, devin_id: str, tags: Sequence[str], *, append: bool) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            merged = [*session.tags, *tags] if append else list(tags)
            unique = list(dict.fromkeys(merged))
            if len(unique) > 50:
                raise field_error(
                    ("body", "tags"), f"A session may have at most 50 tags, not {len(unique)}"
                )
            session.tags = unique
            session.updated_at = self.now()
            return {"tags": list(unique)}

    def session_attachments(self, devin_id: str, base_url: str) -> list[dict[str, Any]]:
        with self._lock:
            session = self._session(devin_id)
            org = self.config.org_id
            return [render.session_attachment_json(base_url, org, a) for a in session.attachments]

    def generate_insights(self, devin_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            if session.insights_generated:
                return {"status": "already_exists"}
            session.insights_generated = True
            return {"status": "started"}

    def insights(self, devin_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._session(devin_id)
            devin = sum(1 for m in session.messages if m.source == "devin")
            user = len(session.messages) - devin
            acus = session.acus_consumed
            size = "small" if acus < 2 else "medium" if acus < 10 else "large"
            analysis = None
            if session.insights_generated:
                analysis = {
                    "summary": f"Emulated analysis of {session.title!r}.",
                    "issues": [],
                    "suggestions": [],
                }
            return {
                **self._json(session),
                "analysis": analysis,
                "num_devin_messages": devin,
                "num_user_messages": user,
                "session_size": size,
            }

    # Attachments -----------------------------------------------------------------------

    def upload(
        self, name: str, content_type: str | None, data: bytes, base_url: str
    ) -> dict[str, Any]:
        with self._lock:
            attachment = self._store_attachment(name, content_type, "user", data, len(data))
            return render.upload_json(base_url, self.config.org_id, attachment)

    def presign(self, attachment_id: str, name: str) -> str:
        """A one-minute token for the blob URL the download endpoint redirects to."""
        with self._lock:
            attachment = self._attachments.get(attachment_id.lower())
            if attachment is None or attachment.name != name or attachment.external_url:
                raise ApiError(404, f"Attachment {attachment_id}/{name} not found")
            now = self.config.clock()
            if len(self._blobs) > 1000:
                self._blobs = {t: v for t, v in self._blobs.items() if v[1] > now}
            token = secrets.token_urlsafe(24)
            self._blobs[token] = (attachment.attachment_id, now + self.config.blob_ttl_seconds)
            return token

    def blob(self, token: str) -> tuple[bytes, str, str] | None:
        """(data, content type, name) for a live token, else None."""
        with self._lock:
            entry = self._blobs.get(token)
            if entry is None or entry[1] < self.config.clock():
                self._blobs.pop(token, None)
                return None
            attachment = self._attachments[entry[0]]
            content_type = attachment.content_type or "application/octet-stream"
            return attachment.data(), content_type, attachment.name

    # Admin: direct session control -------------------------------------------------------

    def run_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Start the session a schedule would start now (origin "scheduled")."""
        with self._lock:
            fields = self.resources.schedule_fields(schedule_id)
            target = fields.get("target_devin_id")
            if target:
                body = self.send_message(target, fields["prompt"])
            else:
                body = self.create_session(
                    NewSession(
                        prompt=fields["prompt"],
                        tags=tuple(fields.get("tags") or ()),
                        playbook_id=fields.get("playbook_id"),
                        create_as_user_id=fields.get("run_as_user_id")
                        or fields.get("create_as_user_id"),
                        scenario=scenario_hint(fields.get("tags") or (), fields["prompt"]),
                        origin="scheduled",
                        schedule_id=schedule_id,
                    )
                )
            self.resources.mark_schedule_run(schedule_id)
            return body

    def advance(self, devin_id: str, *, steps: int = 0, polls: int = 0) -> dict[str, Any]:
        """Apply `steps` scenario steps now, then simulate `polls` GETs."""
        with self._lock:
            session = self._session(devin_id)
            lifecycle.force(session, self, steps)
            for _ in range(polls):
                lifecycle.poll(session, self)
            return self.session_debug(devin_id)

    def session_debug(self, devin_id: str) -> dict[str, Any]:
        with self._lock:
            s = self._session(devin_id)
            return {
                **self._json(s),
                "prompt": s.prompt,
                "repos": list(s.repos),
                "max_acu_limit": s.max_acu_limit,
                "schedule_id": s.schedule_id,
                "scenario": s.scenario.name,
                "pending_steps": len(s.pending),
                "polls_total": s.polls_total,
                "polls_since_step": s.polls_since_step,
                "waiting_for_message": s.waiting_for_message,
                "resume_pending": s.resume_pending,
            }

    def patch_session(self, devin_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Set raw fields (tests). Unknown fields or wrong types → 422."""
        with self._lock:
            session = self._session(devin_id)
            changes = checked_patch(fields)
            for key, value in changes.items():
                if key == "acus_consumed":
                    value = float(value)
                elif key == "tags":
                    value = list(dict.fromkeys(value))
                elif key == "pull_requests":
                    value = [{"pr_url": p["pr_url"], "pr_state": p.get("pr_state")} for p in value]
                setattr(session, key, value)
            if "updated_at" not in changes:
                session.updated_at = self.now()
            return self.session_debug(devin_id)
