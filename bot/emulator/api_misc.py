"""Identity, organisations and attachment upload/download (reference §1.3, §1.4, §2.5)."""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, redirect, request
from flask.typing import ResponseReturnValue
from flask.wrappers import Response

from bot.emulator.errors import ApiError, field_error
from bot.emulator.pagination import paginate
from bot.emulator.web import base_url, cursor_page, emulator, ok, query


def get_self() -> Response:
    config = emulator().config
    return ok(
        {
            "principal_type": "service_user",
            "service_user_id": config.service_user_id,
            "service_user_name": config.service_user_name,
            "org_id": config.org_id,
        }
    )


def _organization() -> dict[str, Any]:
    config = emulator().config
    return {
        "org_id": config.org_id,
        "name": config.org_name,
        "created_at": 1_700_000_000,
        "updated_at": 1_700_000_000,
        "max_session_acu_limit": None,
        "max_cycle_acu_limit": None,
    }


def list_organizations() -> Response:
    q = query()
    page = cursor_page(q)
    q.check()
    org = _organization()
    return ok(
        paginate(
            [org],
            lambda _org: 1,
            page,
            descending=False,
            render=dict,
            cursor_on_last_page=emulator().config.end_cursor_on_last_page,
        )
    )


def get_organization(org_id: str) -> Response:
    if org_id != emulator().config.org_id:
        raise ApiError(404, f"Organization {org_id} not found")
    return ok(_organization())


def upload_attachment(org_id: str) -> Response:
    upload = request.files.get("file")
    if upload is None:
        raise field_error(("body", "file"), "Field required", "missing")
    name = os.path.basename((upload.filename or "").replace("\\", "/")) or "file"
    data = upload.read()
    content_type = upload.mimetype or "application/octet-stream"
    return ok(emulator().upload(name, content_type, data, base_url()))


def download_attachment(org_id: str, attachment_id: str, name: str) -> ResponseReturnValue:
    token = emulator().presign(attachment_id, name)
    # The real service redirects to a short-lived presigned S3 URL.
    return redirect(f"{base_url()}/_emulator/blobs/{token}", code=307)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/self", view_func=get_self, methods=["GET"])
    bp.add_url_rule("/enterprise/organizations", view_func=list_organizations, methods=["GET"])
    bp.add_url_rule(
        "/enterprise/organizations/<org_id>", view_func=get_organization, methods=["GET"]
    )
    att = "/organizations/<org_id>/attachments"
    bp.add_url_rule(att, view_func=upload_attachment, methods=["POST"])
    bp.add_url_rule(
        att + "/<attachment_id>/<path:name>", view_func=download_attachment, methods=["GET"]
    )
