"""``GET /api/openapi.json``: the API description, generated from the code.

Paths come from the app's URL map; each operation from the YAML after ``---`` in its view's
docstring, next to the code it describes; the shapes shared by many operations (the error
body, a job's status) are declared once here.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, jsonify

bp = Blueprint("openapi", __name__)

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. unknown_province."},
        "message": {"type": "string", "description": "What happened and what to do."},
    },
}
TOKEN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "nullable": True},
        "prefix": {"type": "string"},
        "created_at": {"type": "string", "nullable": True},
        "last_used_at": {"type": "string", "nullable": True},
        "expires_at": {"type": "string", "nullable": True},
        "revoked_at": {"type": "string", "nullable": True},
        "token": {"type": "string", "description": "The secret: only when it is made."},
    },
}
JOB_STATUS = {
    "type": "object",
    "properties": {
        "job_id": {"type": "string"},
        "state": {
            "type": "string",
            "enum": ["queued", "running", "succeeded", "failed", "cancelled", "expired"],
        },
        "progress": {"type": "object", "nullable": True},
        "error": {"type": "string", "nullable": True},
        "attempts": {"type": "integer", "nullable": True},
        "file": {"type": "object"},
        "options": {"type": "object"},
        "summary": {"type": "object", "nullable": True},
        "mail": {"type": "object", "nullable": True},
        "results": {"type": "object", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
MEMBER = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string"},
        "name": {"type": "string"},
    },
}
LOG_ENTRY = {
    "type": "object",
    "properties": {
        name: {"type": "string", "nullable": True}
        for name in (
            "user_id",
            "business_type",
            "operation_type",
            "operation_content",
            "operation_time",
            "request_id",
            "job_id",
            "actor_kind",
        )
    }
    | {"id": {"type": "integer"}, "operation_params": {"type": "object", "nullable": True}},
}
ERROR_RESPONSES = {
    code: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for code, text in {
        "Unauthorized": "Missing, malformed, unknown or revoked token.",
        "NotFound": "No such job among the caller's.",
        "BadRequest": "An option is wrong; the body says which.",
    }.items()
}


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="phonetool",
        version="1",
        openapi_version="3.0.3",
        plugins=[FlaskPlugin()],
        info={"description": "Upload a phone list; get it validated, annotated and mailed."},
        security=[{"bearer": []}, {"session": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "session"}
    )
    spec.components.schema("Error", ERROR)
    spec.components.schema("JobStatus", JOB_STATUS)
    spec.components.schema("Token", TOKEN)
    spec.components.schema("LogEntry", LOG_ENTRY)
    spec.components.schema("Member", MEMBER)
    for name, response in ERROR_RESPONSES.items():
        spec.components.response(name, response)
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if rule.rule.startswith("/api/"):
                spec.path(view=app.view_functions[rule.endpoint], app=app)
    return spec.to_dict()


@bp.get("/api/openapi.json")
def openapi_json() -> Any:
    """The OpenAPI 3 description of this API.
    ---
    get:
      summary: This document.
      security: []
      responses:
        "200":
          description: OpenAPI 3.0 document.
          content:
            application/json: {}
    """
    spec = current_app.extensions.get("phonetool_openapi")
    if spec is None:
        spec = current_app.extensions["phonetool_openapi"] = build_spec(current_app)
    return jsonify(spec)
