"""Playbooks by name: ``playbook: fix-bug`` in ``.github/devin.yml`` means the playbook
``devin-bridge apply`` created from ``.devin/playbooks/fix-bug.md``.

Resolved when a session starts, in the service and the Action alike. The org's playbooks
are listed at most once per ``TTL_SECONDS`` per API and organisation (a busy repository
must not list them for every comment); an unknown name is looked up once more before it
is reported, so a playbook applied a moment ago is found.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.core.devin_files import PLAYBOOK, read_mark
from bot.devin.client import DevinClient
from bot.devin.errors import DevinValidationError

TTL_SECONDS = 300.0


class PlaybookNames:
    """name -> playbook id, per (API URL, org), with a time-to-live."""

    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, dict[tuple[str, str], str]]] = {}

    def resolve(self, client: DevinClient, name: str, scope: str = "") -> str:
        """The id of the playbook ``name`` applied from ``scope``'s ``.devin/`` (the
        repository), else from an unscoped apply."""
        key = (client.base_url, client.org_id or "")
        with self._lock:
            cached = self._cache.get(key)
        fresh = cached is not None and self._clock() - cached[0] < self._ttl
        names = cached[1] if cached is not None and fresh else self._load(client, key)
        found = names.get((scope, name)) or names.get(("", name))
        if found is None and fresh:
            names = self._load(client, key)
            found = names.get((scope, name)) or names.get(("", name))
        if found is None:
            raise DevinValidationError(
                f"the playbook {name!r} named in .github/devin.yml is not in Devin: add "
                f".devin/playbooks/{name}.md and run devin-bridge apply (or the Action's "
                "mode: apply), or use playbook_id",
                fields=("playbook",),
            )
        return found

    def _load(self, client: DevinClient, key: tuple[str, str]) -> dict[tuple[str, str], str]:
        names: dict[tuple[str, str], str] = {}
        for playbook in client.iter_playbooks():
            mark, _ = read_mark(playbook.body)
            if mark is not None and mark.kind == PLAYBOOK:
                names.setdefault((mark.scope, mark.name), playbook.playbook_id)
        with self._lock:
            self._cache[key] = (self._clock(), names)
        return names

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


# One per process: the service's workers and the Action share nothing else to cache in.
PLAYBOOK_NAMES = PlaybookNames()
