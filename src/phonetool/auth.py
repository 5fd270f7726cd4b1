"""Web sign-in: ``POST /api/session`` with email and password sets the session cookie.

The cookie is HttpOnly and SameSite=Lax (set in ``create_app``), so another site cannot
make a signed-in browser post an upload.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, session

from . import oplog
from .models import Member, db
from .passport import current_user_id

bp = Blueprint("auth", __name__, url_prefix="/api/session")


@bp.post("")
def sign_in() -> Any:
    data = request.get_json(silent=True) or request.form
    email = str(data.get("email", "")).strip().lower()
    password = str(data.get("password", ""))
    member = db.session.execute(db.select(Member).filter_by(email=email)).scalar()
    if member is None or not member.check_password(password):
        return jsonify(error="bad_credentials", message="Wrong email or password."), 401
    session.clear()
    session["member_id"] = member.id
    oplog.record("member", "sign_in", f"{member.email} 登录", member_id=member.id)
    return jsonify(id=member.id, email=member.email, name=member.name)


@bp.get("")
def whoami() -> Any:
    _, member_id = current_user_id()
    member = db.session.get(Member, member_id)
    if member is None:
        session.clear()
        return jsonify(error="unauthorized", message="Sign in again."), 401
    return jsonify(id=member.id, email=member.email, name=member.name)


@bp.delete("")
def sign_out() -> Any:
    session.clear()
    return "", 204
