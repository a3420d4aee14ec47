"""Merge the run's options, a label/command rule and the repo defaults into a request.

Precedence, per field: RunOptions (Action inputs / service defaults) > the
label's or command's rule > the repository's `defaults` > Devin's own default.
Tags add up: the bridge's contract tags first, then config tags, then options.
"""

from __future__ import annotations

from bot.core.config_model import SessionSettings
from bot.devin.bodies import SessionRequest
from bot.engine.deps import RunOptions
from bot.engine.threads import session_tags


def build_session_request(
    *,
    prompt: str,
    title: str,
    repo: str,
    number: int | None,
    options: RunOptions,
    settings: SessionSettings,
) -> SessionRequest:
    knowledge = (
        options.knowledge_ids if options.knowledge_ids is not None else settings.knowledge_ids
    )
    limit = options.max_acu_limit if options.max_acu_limit is not None else settings.max_acu_limit
    return SessionRequest(
        prompt=prompt,
        title=(options.title or "").strip() or title,
        tags=session_tags(repo, number, (*settings.tags, *options.tags)),
        playbook_id=options.playbook_id or settings.playbook_id,
        knowledge_ids=knowledge,
        repos=options.repos or settings.repos or (repo,),
        max_acu_limit=limit,
        structured_output_schema=(
            options.structured_output_schema or settings.structured_output_schema
        ),
        devin_mode=settings.devin_mode,
    )
