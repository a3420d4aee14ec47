"""The check-run endpoints of the GitHub fake, faithful to REST "Check runs".

- `POST /repos/{o}/{r}/check-runs`, `PATCH` and `GET /repos/{o}/{r}/check-runs/{id}`,
  `GET /repos/{o}/{r}/commits/{ref}/check-runs` (`check_name`, `status`, `filter`).
- Only GitHub Apps write check runs: an installation token, or an Actions token (`ghs_…`).
  A personal token gets 403 "You must authenticate via a GitHub App."; an App token
  without `checks: write` (listed in `FakeGitHub.checks_denied`) gets 403 "Resource not
  accessible by integration".
- `head_sha` must be a commit of the repository (a pull request's head or base), a
  `conclusion` completes the run, `completed` needs a `conclusion`, and each output field
  is at most 65,535 characters; errors are GitHub's 422s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

if TYPE_CHECKING:
    from tests.fakes.fake_github import FakeGitHub

DOCS = "https://docs.github.com/rest/checks/runs"
STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
OUTPUT_LIMIT = 65_535
API = "https://api.github.com"


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _error(status: int, message: str, anchor: str) -> Response:
    return _json({"message": message, "documentation_url": f"{DOCS}#{anchor}"}, status)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_runs_of(fake: FakeGitHub, full_name: str) -> list[dict[str, Any]]:
    """Every check run of the repository, oldest first, as GitHub shows it plus its
    `_history` (status, conclusion and output after each write), for tests."""
    with fake.lock:
        return [
            json.loads(json.dumps({**run, "pull_requests": pulls_for(fake, run, API)}))
            for run in fake.check_runs.values()
            if run["_repo"].lower() == full_name.lower()
        ]


def pulls_for(fake: FakeGitHub, run: dict[str, Any], api: str) -> list[dict[str, Any]]:
    """The open pull requests whose head is the run's commit (none for a fork's commit)."""
    key = run["_repo"].lower()
    return [
        {
            "url": f"{api}/repos/{issue.repo}/pulls/{issue.number}",
            "id": issue.id,
            "number": issue.number,
            "head": {"ref": issue.head_ref, "sha": issue.head_sha},
            "base": {"ref": issue.base_ref, "sha": issue.base_sha},
        }
        for (repo, _), issue in fake.issues.items()
        if repo == key
        and issue.is_pull
        and issue.head_sha == run["head_sha"]
        and issue.state == "open"
        and (issue.head_repo or "").lower() == key
    ]


def register_checks(app: Flask, fake: FakeGitHub) -> None:
    def api() -> str:
        return request.host_url.rstrip("/")

    def repo_or_404(owner: str, name: str) -> Any:
        repo = fake.repos.get(f"{owner}/{name}".lower())
        if repo is None or g.identity is None or not fake.can_see(g.identity, repo):
            return None
        return repo

    def may_write() -> Response | None:
        ident = g.identity
        credential = (request.headers.get("Authorization") or "").partition(" ")[2].strip()
        if ident.kind == "installation":
            denied = ident.installation_id in fake.checks_denied
        elif ident.kind == "token" and credential.startswith("ghs_"):
            denied = credential in fake.checks_denied  # an Actions GITHUB_TOKEN
        else:
            return _error(403, "You must authenticate via a GitHub App.", "create-a-check-run")
        if denied:
            return _error(403, "Resource not accessible by integration", "create-a-check-run")
        return None

    def commits(full_name: str) -> set[str]:
        key = full_name.lower()
        shas: set[str] = set()
        for (repo, _), issue in fake.issues.items():
            if repo == key and issue.is_pull:
                shas.update({issue.head_sha, issue.base_sha})
        return shas

    def validate(payload: Any, creating: bool, anchor: str) -> Response | dict[str, Any]:
        if not isinstance(payload, dict):
            return _error(400, "Problems parsing JSON", anchor)
        for required in ("name", "head_sha") if creating else ():
            if not isinstance(payload.get(required), str) or not payload[required]:
                return _error(422, f'Invalid request.\n\n"{required}" wasn\'t supplied.', anchor)
        status = payload.get("status")
        if status is not None and status not in STATUSES:
            return _error(
                422, f'Invalid request.\n\nFor \'properties/status\', "{status}" is not a member '
                f"of {list(STATUSES)}.", anchor,
            )  # fmt: skip
        conclusion = payload.get("conclusion")
        if conclusion is not None and conclusion not in CONCLUSIONS:
            return _error(
                422, f'Invalid request.\n\nFor \'properties/conclusion\', "{conclusion}" is not '
                f"a member of {list(CONCLUSIONS)}.", anchor,
            )  # fmt: skip
        if status == "completed" and conclusion is None:
            return _error(
                422, 'Invalid request.\n\n"conclusion" wasn\'t supplied.', anchor
            )  # GitHub: completing needs a conclusion
        output = payload.get("output")
        if output is not None:
            if not isinstance(output, dict) or not all(
                isinstance(output.get(k), str) for k in ("title", "summary")
            ):
                return _error(
                    422, 'Invalid request.\n\n"title", "summary" wasn\'t supplied.', anchor
                )
            for key in ("title", "summary", "text"):
                value = output.get(key)
                if isinstance(value, str) and len(value) > OUTPUT_LIMIT:
                    return _error(
                        422,
                        f"Invalid request.\n\nOnly {OUTPUT_LIMIT} characters are allowed; "
                        f"{len(value)} were supplied.",
                        anchor,
                    )
        details = payload.get("details_url")
        if details is not None and not (
            isinstance(details, str) and details.startswith(("http://", "https://"))
        ):
            return _error(422, "Invalid request.\n\nInvalid details_url.", anchor)
        return payload

    def apply(run: dict[str, Any], payload: dict[str, Any]) -> None:
        now = fake.clock()
        for key in ("name", "details_url", "external_id"):
            if key in payload:
                run[key] = payload[key]
        if "status" in payload:
            run["status"] = payload["status"]
            if payload["status"] != "completed":
                run["conclusion"], run["completed_at"] = None, None
        if payload.get("conclusion") is not None:
            # GitHub: "Providing conclusion will automatically set status to completed."
            run["status"], run["conclusion"] = "completed", payload["conclusion"]
            run["completed_at"] = payload.get("completed_at") or _iso(now)
        if "started_at" in payload:
            run["started_at"] = payload["started_at"]
        if isinstance(payload.get("output"), dict):
            out = payload["output"]
            run["output"] = {
                "title": out.get("title"),
                "summary": out.get("summary"),
                "text": out.get("text"),
                "annotations_count": 0,
                "annotations_url": f"{run['url']}/annotations",
            }
        run["_history"].append(
            {"status": run["status"], "conclusion": run["conclusion"], "output": run["output"]}
        )

    def public(run: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in run.items() if not k.startswith("_")}
        data["pull_requests"] = pulls_for(fake, run, api())
        return data

    @app.post("/repos/<owner>/<name>/check-runs")
    def create_check_run(owner: str, name: str) -> Response:
        anchor = "create-a-check-run"
        with fake.lock:
            repo = repo_or_404(owner, name)
            if repo is None:
                return _error(404, "Not Found", anchor)
            denied = may_write()
            if denied is not None:
                return denied
            payload = validate(request.get_json(silent=True), True, anchor)
            if isinstance(payload, Response):
                return payload
            if payload["head_sha"] not in commits(repo.full_name):
                return _error(422, f"No commit found for SHA: {payload['head_sha']}", anchor)
            run_id = fake._next_id("check_run", 4_000_000_000)
            url = f"{api()}/repos/{repo.full_name}/check-runs/{run_id}"
            run: dict[str, Any] = {
                "id": run_id,
                "node_id": f"CR_{run_id}",
                "head_sha": payload["head_sha"],
                "external_id": "",
                "url": url,
                "html_url": f"{fake.web_url}/{repo.full_name}/runs/{run_id}",
                "details_url": None,
                "status": "queued",
                "conclusion": None,
                "started_at": _iso(fake.clock()),
                "completed_at": None,
                "output": {
                    "title": None,
                    "summary": None,
                    "text": None,
                    "annotations_count": 0,
                    "annotations_url": f"{url}/annotations",
                },
                "name": payload["name"],
                "check_suite": {"id": 5_000_000 + run_id % 1_000_000},
                "app": {"id": fake.app_id or 15368, "slug": fake.app_slug},
                "_repo": repo.full_name,
                "_history": [],
            }
            apply(run, payload)
            fake.check_runs[run_id] = run
            return _json(public(run), 201)

    @app.patch("/repos/<owner>/<name>/check-runs/<int:run_id>")
    def update_check_run(owner: str, name: str, run_id: int) -> Response:
        anchor = "update-a-check-run"
        with fake.lock:
            repo = repo_or_404(owner, name)
            run = fake.check_runs.get(run_id)
            if repo is None or run is None or run["_repo"].lower() != repo.full_name.lower():
                return _error(404, "Not Found", anchor)
            denied = may_write()
            if denied is not None:
                return denied
            payload = validate(request.get_json(silent=True), False, anchor)
            if isinstance(payload, Response):
                return payload
            apply(run, payload)
            return _json(public(run))

    @app.get("/repos/<owner>/<name>/check-runs/<int:run_id>")
    def get_check_run(owner: str, name: str, run_id: int) -> Response:
        with fake.lock:
            repo = repo_or_404(owner, name)
            run = fake.check_runs.get(run_id)
            if repo is None or run is None or run["_repo"].lower() != repo.full_name.lower():
                return _error(404, "Not Found", "get-a-check-run")
            return _json(public(run))

    @app.get("/repos/<owner>/<name>/commits/<ref>/check-runs")
    def list_check_runs(owner: str, name: str, ref: str) -> Response:
        with fake.lock:
            repo = repo_or_404(owner, name)
            if repo is None:
                return _error(404, "Not Found", "list-check-runs-for-a-git-reference")
            runs = [
                r
                for r in fake.check_runs.values()
                if r["_repo"].lower() == repo.full_name.lower() and r["head_sha"] == ref
            ]
            wanted_name = request.args.get("check_name")
            if wanted_name:
                runs = [r for r in runs if r["name"] == wanted_name]
            wanted_status = request.args.get("status")
            if wanted_status:
                runs = [r for r in runs if r["status"] == wanted_status]
            runs.sort(key=lambda r: int(r["id"]), reverse=True)
            if request.args.get("filter", "latest") == "latest":
                seen: set[str] = set()
                runs = [r for r in runs if not (r["name"] in seen or seen.add(r["name"]))]
            return _json({"total_count": len(runs), "check_runs": [public(r) for r in runs]})

    @app.get("/_fake/check-runs")
    def fake_check_runs() -> Response:
        return _json(check_runs_of(fake, request.args.get("repo", "")))
