"""Who is calling: an API token (``Authorization: Bearer ...``) or the signed-in session."""

from __future__ import annotations

from typing import NamedTuple

from flask import current_app, g, request, session

from .i18n import say
from .models import ApiToken, db, token_digest, utcnow
from .token_use import token_use


class AuthError(Exception):
    """Answered with 401 and a JSON reason by the app's error handler."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Caller(NamedTuple):
    """Who is calling: the member, and the API token they sent (None for a web session)."""

    token: str | None
    member_id: int


def current_member() -> Caller:
    """The caller: the member, and the token they sent (None for a web session).

    Reads the live request: call it in views only. Background code asks
    ``flask_handoff.identity()``, which returns the id captured when the job was submitted.
    The answer is kept for the rest of the request: the log and the job submit ask again.
    """
    cached = g.get("_passport")
    if cached is None:
        cached = g._passport = _authenticate()
    return cached  # type: ignore[no-any-return]


def _authenticate() -> Caller:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(
                "malformed_token", say("Send the token as 'Authorization: Bearer <token>'.")
            )
        row = _credential(token)
        if row is None:
            raise AuthError(
                "unknown_token",
                say(
                    "This token is not known. Create one on the account page, or with"
                    " 'flask --app phonetool users token EMAIL'."
                ),
            )
        if row.revoked_at is not None:
            raise AuthError("revoked_token", say("This token was revoked. Create a new one."))
        if not row.usable:
            raise AuthError(
                "expired_token",
                say(
                    "This token expired on %(when)s UTC. Create a new one.",
                    when=f"{row.expires_at:%Y-%m-%d %H:%M}",
                ),
            )
        return Caller(token, row.member_id)
    sid = session.get("sid")
    if isinstance(sid, str):
        row = _credential(sid)
        if row is not None and row.usable:
            return Caller(None, row.member_id)
        session.clear()  # signed out elsewhere, or revoked: this cookie is spent
        raise AuthError("unauthorized", say("Your session has ended. Sign in again."))
    raise AuthError("unauthorized", say("Sign in, or send 'Authorization: Bearer <token>'."))


def _credential(plain: str) -> ApiToken | None:
    row: ApiToken | None = db.session.execute(
        db.select(ApiToken).filter_by(digest=token_digest(plain))
    ).scalar_one_or_none()
    if row is not None and row.usable:
        token_use(current_app).saw(row.id)  # written later, in a batch: reads write nothing
    return row


def sign_out() -> None:
    """End the signed-in session: its credential is revoked, the cookie cleared."""
    sid = session.get("sid")
    if isinstance(sid, str):
        row = _credential(sid)
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
            db.session.commit()
    session.clear()
    g.pop("_passport", None)


def member_id_or_none() -> int | None:
    """For the job identity loader: the caller, or None for an anonymous request."""
    try:
        return current_member().member_id
    except AuthError:
        return None
