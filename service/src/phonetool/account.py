"""``PUT /api/account/password``: a member changes their password, from the account page
or an API client, and every other signed-in browser of theirs is signed out.

A leaked password then stops working at once, and whoever signed in with it loses the
session too. API tokens stay: each is its own credential, listed and revoked on the same
page. ``flask --app phonetool users password EMAIL`` does the same for an operator.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, session
from flask_babel import gettext as _

from . import oplog, sign_in_limits
from .i18n import say
from .models import ApiToken, Member, db, token_digest, utcnow
from .passport import current_member

bp = Blueprint("account", __name__, url_prefix="/api/account")

PASSWORD_MIN = 10
PASSWORD_MAX = 1000  # a hash of a megabyte costs the server, not the attacker


class PasswordError(Exception):
    """A new password refused, with the reason to show."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error, self.message = error, message


def password_problem(member: Member, password: str) -> str | None:
    """Why ``password`` cannot be the member's, in words, or None."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return say(
            "Choose a password of %(least)d to %(most)d characters.",
            least=PASSWORD_MIN,
            most=PASSWORD_MAX,
        )
    if password.strip().lower() == member.email:
        return say("Choose a password other than your e-mail address.")
    return None


def set_password(member: Member, password: str, *, keep_session: str | None = None) -> int:
    """Give the member a new password and revoke their browser sessions, all but the one
    whose credential is ``keep_session``; returns how many were ended."""
    member.set_password(password)
    kept = token_digest(keep_session) if keep_session else None
    sessions = db.session.execute(
        db.select(ApiToken).filter(
            ApiToken.member_id == member.id,
            ApiToken.prefix.startswith("ps_"),
            ApiToken.revoked_at.is_(None),
        )
    ).scalars()
    ended = 0
    for row in sessions:
        if row.digest != kept:
            row.revoked_at = utcnow()
            ended += 1
    db.session.commit()
    return ended


@bp.errorhandler(PasswordError)
def _refused(exc: PasswordError) -> Any:
    return jsonify(error=exc.error, message=exc.message), 400


@bp.put("/password")
def change_password() -> Any:
    """Change your password; your other signed-in browsers are signed out.
    ---
    put:
      summary: Change your password.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [current_password, new_password]
              properties:
                current_password: {type: string}
                new_password: {type: string, minLength: 10, maxLength: 1000}
      responses:
        "200":
          description: Changed; `sessions_ended` other browsers were signed out.
          content:
            application/json:
              schema:
                type: object
                properties:
                  sessions_ended: {type: integer}
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          description: The current password is wrong.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
        "429":
          description: Too many wrong passwords for this account or address; see Retry-After.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
    """
    member = db.session.get(Member, current_member().member_id)
    assert member is not None  # the passport just found the caller
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("current_password", "new_password")
    ):
        raise PasswordError(
            "bad_request",
            say('Send JSON: {"current_password": "...", "new_password": "..."}.'),
        )
    sign_in_limits.check(member.email, request.remote_addr)  # no guessing from a session
    if not member.check_password(data["current_password"]):
        sign_in_limits.record_failure(member.email, request.remote_addr)
        message = say("Your current password is not right.")
        return jsonify(error="wrong_password", message=message), 403
    problem = password_problem(member, data["new_password"])
    if problem:
        raise PasswordError("bad_password", problem)
    sid = session.get("sid")
    ended = set_password(
        member, data["new_password"], keep_session=sid if isinstance(sid, str) else None
    )
    oplog.record("account", "password_changed", _("Password changed"))
    return jsonify(sessions_ended=ended)
