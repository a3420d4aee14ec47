"""What the engine runs with: the run's options and the injected clients.

Kept apart from `handlers` so that `tracker` can use them too; `handlers`
re-exports both names (the documented import path).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.devin.client import DevinClient
from bot.engine.playbooks import PLAYBOOK_NAMES, PlaybookNames
from bot.github.client import GitHubClient

DEFAULT_TRIGGER = "/devin"
DEFAULT_LABEL = "devin"


@dataclass(frozen=True)
class RunOptions:
    """Action inputs / service defaults; a value set here overrides the repo config."""

    trigger: str = DEFAULT_TRIGGER
    label: str = DEFAULT_LABEL
    prompt: str | None = None
    playbook_id: str | None = None
    knowledge_ids: tuple[str, ...] | None = None
    repos: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    max_acu_limit: int | None = None
    structured_output_schema: Mapping[str, Any] | None = None
    comment: bool = True
    config_path: str = ".github/devin.yml"
    # The "Devin" check run when `.github/devin.yml` does not say (`checks:`): on for
    # the App service, off for the Action (its token needs `checks: write`).
    checks: bool = True


@dataclass(frozen=True)
class Deps:
    devin: DevinClient
    github: GitHubClient
    options: RunOptions = field(default_factory=RunOptions)
    bot_login: str | None = None
    clock: Callable[[], float] = time.time
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("devin_bridge"))
    # Base of the polling policy (DEVIN_BRIDGE_POLL_INTERVAL); see polling.next_delay.
    poll_interval: float = 10.0
    # How long a status comment write may wait for its identity's next write slot before
    # it is left to a later tick (trigger handling passes 0: the next trigger goes first).
    comment_write_wait: float = 3.0
    # `playbook: <name>` in .github/devin.yml -> id, cached per process (engine/playbooks.py).
    playbook_names: PlaybookNames = field(default_factory=lambda: PLAYBOOK_NAMES)
