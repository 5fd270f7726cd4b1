"""Web sign-in: ``POST /api/session`` with email and password sets the session cookie.

The cookie is HttpOnly and SameSite=Lax (set in ``create_app``) and holds a session
credential that signing out revokes; state changes from other sites are refused
(:mod:`.security`). Wrong passwords are limited per account and per address, counted in
the database (:mod:`.sign_in_limits`); an unknown e-mail costs the same time as a known
one, so timing does not tell which accounts exist.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, session
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from . import oplog, sign_in_limits
from .i18n import say
from .models import ApiToken, Member, db
from .passport import current_member
from .passport import sign_out as end_session

bp = Blueprint("auth", __name__, url_prefix="/api/session")


class PasswordHashSettingError(ValueError):
    """``PHONETOOL_PASSWORD_HASH`` is not a method Werkzeug hashes with; said at start,
    not at the first sign-up."""


def init_app(app: Flask) -> None:
    """Make the unknown e-mail's hash now: Werkzeug itself says whether it knows the
    method, and the first such sign-in does not pay for it."""
    method = app.config["PHONETOOL_PASSWORD_HASH"]
    try:
        _dummy_hash(method)
    except (ValueError, TypeError) as exc:
        raise PasswordHashSettingError(
            f"PHONETOOL_PASSWORD_HASH={method!r} is not a Werkzeug hash method ({exc}): use"
            " 'scrypt' (the default), 'scrypt:N:r:p' or 'pbkdf2:sha256:ITERATIONS'."
        ) from None


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash to check an unknown e-mail's password against, as long as a real check
    (made as new passwords are: members' older hashes may be slower or faster)."""
    return generate_password_hash("no such member", method)


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
        "403":
          description: Sent from another site's page.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "429":
          description: Too many wrong passwords for this account or address; see Retry-After.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    data = request.get_json(silent=True) or request.form
    # No member's address holds U+FFFD, and PostgreSQL refuses a NUL: one stands for the other.
    email = str(data.get("email", "")).strip().lower().replace("\x00", "\ufffd")
    password = str(data.get("password", ""))
    sign_in_limits.check(email, request.remote_addr)
    member = db.session.execute(db.select(Member).filter_by(email=email)).scalar()
    if member is None:  # the time a real check takes
        method = current_app.config["PHONETOOL_PASSWORD_HASH"]
        check_password_hash(_dummy_hash(method), password)
    if member is None or not member.check_password(password):
        sign_in_limits.record_failure(email, request.remote_addr)
        return jsonify(error="bad_credentials", message=say("Wrong email or password.")), 401
    end_session()  # whatever this browser held before
    lifetime = timedelta(hours=current_app.config["PHONETOOL_SESSION_HOURS"])
    row, plain = ApiToken.issue(member, session=True, lifetime=lifetime)
    db.session.add(row)
    db.session.commit()
    session["sid"] = plain
    oplog.record(
        "member", "sign_in", _("%(email)s signed in", email=member.email), member_id=member.id
    )
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
    member_id = current_member().member_id
    member = db.session.get(Member, member_id)
    if member is None:
        session.clear()
        return jsonify(error="unauthorized", message=say("Sign in again.")), 401
    return jsonify(id=member.id, email=member.email, name=member.name)


@bp.delete("")
def sign_out() -> Any:
    """Sign out.
    ---
    delete:
      summary: Sign out (ends the session; its cookie is worth nothing after).
      security: []
      responses:
        "204":
          description: Signed out.
        "403":
          description: Sent from another site's page.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    end_session()
    return "", 204
