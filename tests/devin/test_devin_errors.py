"""Every documented error body becomes one readable message plus the fields at fault."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bot.devin.errors import (
    DevinAuthError,
    DevinBadRequest,
    DevinError,
    DevinForbidden,
    DevinNotFound,
    DevinRateLimited,
    DevinServerError,
    DevinValidationError,
    error_detail,
    error_for_status,
)
from tests.support.stack import Stack

FASTAPI_422 = {
    "detail": [
        {"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"},
        {
            "loc": ["body", "session_secrets", 0, "key"],
            "msg": "String should have at most 256 characters",
            "type": "string_too_long",
        },
        {"loc": ["query", "first"], "msg": "Input should be <= 200", "type": "less_than_equal"},
    ]
}

PROBLEM_422 = {
    "type": "about:blank",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "Request validation failed",
    "instance": "/v3/organizations/org-1/sessions",
    "errors": [{"loc": ["body", "max_acu_limit"], "msg": "must be > 0", "type": "value_error"}],
}


@pytest.mark.parametrize(
    ("body", "message", "fields"),
    [
        ({"detail": "Devin session already exited"}, "Devin session already exited", ()),
        (
            FASTAPI_422,
            "prompt: Field required; session_secrets.0.key: String should have at most 256 "
            "characters; first: Input should be <= 200",
            ("prompt", "session_secrets.0.key", "first"),
        ),
        (
            PROBLEM_422,
            "max_acu_limit: must be > 0",
            ("max_acu_limit",),
        ),
        (
            {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": None},
            "Forbidden",
            (),
        ),
        (
            {"title": "Bad Request", "status": 400, "detail": "Unknown platform 'amiga'"},
            "Unknown platform 'amiga'",
            (),
        ),
        ({"errors": [{"field": "name", "message": "is required"}]}, "name: is required", ("name",)),
        # RFC 9457's own example: a JSON pointer into the request body
        (
            {
                "title": "Your request is not valid.",
                "errors": [
                    {"detail": "must be a positive integer", "pointer": "#/max_acu_limit"},
                    {"detail": "too long", "pointer": "/session_secrets/0/key"},
                ],
            },
            "max_acu_limit: must be a positive integer; session_secrets.0.key: too long",
            ("max_acu_limit", "session_secrets.0.key"),
        ),
        ({"message": "upstream went away"}, "upstream went away", ()),
        ({"error": "nope"}, "nope", ()),
        ("  plain text body  ", "plain text body", ()),
        ({"detail": ["not a mapping", 3]}, "", ()),
        (None, "", ()),
        ([], "", ()),
        ({}, "", ()),
    ],
)
def test_error_detail_shapes(body: Any, message: str, fields: tuple[str, ...]) -> None:
    assert error_detail(body) == (message, fields)


def test_error_detail_is_capped() -> None:
    text, _ = error_detail({"detail": "x" * 1000}, limit=50)
    assert len(text) == 50
    assert text.endswith("…")


@pytest.mark.parametrize(
    ("status", "cls", "must_mention"),
    [
        (401, DevinAuthError, ["DEVIN_API_KEY", "cog_", "401"]),
        (403, DevinForbidden, ["403", "permission", "DEVIN_ORG_ID", "Not allowed here"]),
        (404, DevinNotFound, ["404", "session devin-x", "DEVIN_ORG_ID", "Not allowed here"]),
        (400, DevinBadRequest, ["400", "Not allowed here"]),
        (409, DevinBadRequest, ["409", "Not allowed here"]),
        (422, DevinValidationError, ["422", "invalid", "Not allowed here"]),
        (429, DevinRateLimited, ["429", "rate limit"]),
        (500, DevinServerError, ["500", "try again"]),
        (502, DevinServerError, ["502"]),
        (503, DevinServerError, ["503"]),
        (418, DevinError, ["418", "Not allowed here"]),
    ],
)
def test_error_for_status_maps_each_status(
    status: int, cls: type[DevinError], must_mention: list[str]
) -> None:
    err = error_for_status(status, {"detail": "Not allowed here"}, what="session devin-x")

    assert type(err) is cls
    assert err.status == status
    assert err.detail == "Not allowed here"
    for text in must_mention:
        assert text in str(err)
    assert str(err) == err.message
    assert repr(err) == f"{cls.__name__}({err.message!r}, status={status})"


def test_401_never_repeats_the_server_detail() -> None:
    # A server that echoes the bad credential back must not get it into our message.
    err = error_for_status(401, {"detail": "bad token cog_leaked"}, what="GET /self")
    assert "cog_leaked" not in str(err)
    assert "cog_leaked" not in repr(err)


def test_422_carries_field_names() -> None:
    err = error_for_status(422, FASTAPI_422, what="creating a session")
    assert isinstance(err, DevinValidationError)
    assert err.fields == ("prompt", "session_secrets.0.key", "first")
    assert "prompt: Field required" in str(err)

    problem = error_for_status(422, PROBLEM_422, what="creating a session")
    assert isinstance(problem, DevinValidationError)
    assert problem.fields == ("max_acu_limit",)
    assert "max_acu_limit: must be > 0" in str(problem)


def test_429_reports_retry_after() -> None:
    err = error_for_status(429, {"detail": "slow down"}, what="sessions", retry_after=7)
    assert isinstance(err, DevinRateLimited)
    assert err.retry_after == 7
    assert "Retry after 7 s" in str(err)
    bare = error_for_status(429, None, what="sessions")
    assert isinstance(bare, DevinRateLimited)
    assert bare.retry_after is None
    assert "Retry after" not in str(bare)


def test_errors_without_a_body_still_read_well() -> None:
    err = error_for_status(404, "", what="playbook playbook-1")
    assert str(err) == "playbook playbook-1 not found (404). Check the id and DEVIN_ORG_ID"


def test_a_field_named_body_keeps_its_name_and_problem_lists_are_not_repeated(
    stack: Stack,
) -> None:
    # The emulator's own answer (problem+json, with both a summary and the list) to a
    # playbook without title and body: once "title: Field required; Field required".
    resp = requests.post(
        f"{stack.devin_url}/organizations/{stack.org_id}/playbooks",
        json={},
        headers={"Authorization": f"Bearer {stack.devin_key}"},
        timeout=10,
    )
    assert resp.status_code == 422
    err = error_for_status(422, resp.json(), what="creating a playbook")
    assert isinstance(err, DevinValidationError)
    assert err.fields == ("title", "body")
    assert err.detail == "title: Field required; body: Field required"
    assert str(err).count("Field required") == 2


def test_fastapi_and_problem_lists_of_the_same_errors_give_one_line_each() -> None:
    item = {"loc": ["body", "body"], "msg": "Field required", "type": "missing"}
    text, fields = error_detail({"detail": [item], "errors": [item]})
    assert (text, fields) == ("body: Field required", ("body",))
    assert error_detail({"errors": [{"loc": ["body"], "msg": "Invalid JSON"}]}) == (
        "body: Invalid JSON",
        ("body",),
    )
