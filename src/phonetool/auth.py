"""Web sign-in: ``POST /api/session`` with email and password sets the session cookie.

The cookie is HttpOnly and SameSite=Lax (set in ``create_app``), so another site cannot
make a signed-in browser post an upload.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request, session

from . import oplog
from .models import Member, db
from .passport import current_user_id

bp = Blueprint("auth", __name__, url_prefix="/api/session")


@bp.post("")
def sign_in() -> Any:
    """Sign in with email and password; sets the session cookie.
    ---
    post:
      summary: Sign in.
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email, password]
              properties:
                email: {type: string}
                password: {type: string}
      responses:
        "200":
          description: Signed in.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Member"}
        "401":
          description: Wrong email or password.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    data = request.get_json(silent=True) or request.form
    email = str(data.get("email", "")).strip().lower()
    password = str(data.get("password", ""))
    member = db.session.execute(db.select(Member).filter_by(email=email)).scalar()
    if member is None or not member.check_password(password):
        return jsonify(error="bad_credentials", message="Wrong email or password."), 401
    session.clear()
    session["member_id"] = member.id
    g.pop("_passport", None)
    oplog.record("member", "sign_in", f"{member.email} 登录", member_id=member.id)
    return jsonify(id=member.id, email=member.email, name=member.name)


@bp.get("")
def whoami() -> Any:
    """Who is signed in.
    ---
    get:
      summary: The signed-in member.
      responses:
        "200":
          description: The member.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Member"}
        "401":
          $ref: "#/components/responses/Unauthorized"
    """
    _, member_id = current_user_id()
    member = db.session.get(Member, member_id)
    if member is None:
        session.clear()
        return jsonify(error="unauthorized", message="Sign in again."), 401
    return jsonify(id=member.id, email=member.email, name=member.name)


@bp.delete("")
def sign_out() -> Any:
    """Sign out.
    ---
    delete:
      summary: Sign out (clears the session).
      security: []
      responses:
        "204":
          description: Signed out.
    """
    session.clear()
    return "", 204
