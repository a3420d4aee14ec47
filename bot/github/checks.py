"""The check-run endpoints of `GitHubClient` (REST "Check runs").

Only a GitHub App may write check runs: an installation token, or an Actions
`GITHUB_TOKEN` with `checks: write`. A personal token gets 403 (`GitHubForbidden`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from bot.core.github_models import CheckRunInfo
from bot.github.parsing import parse, to_check_run
from bot.github.transport import GitHubTransport, repo_path

# GitHub's limit for each of an output's title, summary and text.
OUTPUT_LIMIT = 65_535


class CheckEndpoints(GitHubTransport):
    def create_check_run(
        self, full_name: str, head_sha: str, fields: Mapping[str, Any]
    ) -> CheckRunInfo:
        """POST a check run on `head_sha`; `fields` are the API's (name, status, output...)."""
        body = {**_bounded(fields), "head_sha": head_sha}
        _, data = self._request(
            "POST",
            f"{repo_path(full_name)}/check-runs",
            body=body,
            action=f"creating check run {fields.get('name')!r} in {full_name}",
        )
        return parse(to_check_run, data, "check run")

    def update_check_run(
        self, full_name: str, check_run_id: int, fields: Mapping[str, Any]
    ) -> CheckRunInfo:
        _, data = self._request(
            "PATCH",
            f"{repo_path(full_name)}/check-runs/{int(check_run_id)}",
            body=_bounded(fields),
            action=f"updating check run {check_run_id} in {full_name}",
        )
        return parse(to_check_run, data, "check run")

    def find_check_run(
        self, full_name: str, ref: str, name: str, external_id: str
    ) -> CheckRunInfo | None:
        """The newest check run called `name` on `ref` whose external_id matches."""
        url = f"{repo_path(full_name)}/commits/{quote(ref, safe='')}/check-runs"
        _, data = self._request(
            "GET",
            url,
            params={"check_name": name, "filter": "latest", "per_page": 100},
            action=f"listing the check runs of {ref[:12]} in {full_name}",
        )
        runs = data.get("check_runs") if isinstance(data, dict) else None
        for item in runs if isinstance(runs, list) else []:
            run = parse(to_check_run, item, "check run")
            if run.external_id == external_id:
                return run
        return None


def _bounded(fields: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(fields)
    output = body.get("output")
    if isinstance(output, Mapping):
        body["output"] = {
            k: (v[: OUTPUT_LIMIT - 1] + "…" if isinstance(v, str) and len(v) > OUTPUT_LIMIT else v)
            for k, v in output.items()
        }
    return body
