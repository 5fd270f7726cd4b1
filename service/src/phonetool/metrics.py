"""``/metrics``: Flask-Handoff's Prometheus metrics of this service's jobs, for the
operator's Prometheus, behind a token of its own (``PHONETOOL_METRICS_TOKEN``; unset, there
is no such page). Prometheus sends it with ``authorization: {credentials: ...}``."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from flask_handoff.metrics import init_metrics, metrics_view

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Any:
    expected = f"Bearer {current_app.config['PHONETOOL_METRICS_TOKEN']}"
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        response = jsonify(error="unauthorized", message="The metrics need their own token.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return metrics_view()


def init_app(app: Flask) -> None:
    """Mount ``/metrics`` if the setting gives it a token."""
    if app.config["PHONETOOL_METRICS_TOKEN"]:
        init_metrics(app)
        app.register_blueprint(bp)
