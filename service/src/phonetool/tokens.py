"""``/api/tokens``: a member's API tokens, made, named and revoked from the account page
(or by an API client). The plain token is answered once, when it is made, and never
stored; the list shows each token's prefix, name and when it was last used."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_

from . import oplog
from .i18n import say
from .models import ApiToken, Member, db, utcnow
from .passport import current_member
from .token_use import token_use

bp = Blueprint("tokens", __name__, url_prefix="/api/tokens")

NAME_MAX = 100
DAYS_MAX = 3650
TOKENS_MAX = 50  # live API tokens per member: enough for every script, bounded


class TokenRequestError(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error, self.message = error, message


@bp.errorhandler(TokenRequestError)
def _bad_request(exc: TokenRequestError) -> Any:
    return jsonify(error=exc.error, message=exc.message), 400


def _shown(row: ApiToken) -> dict[str, Any]:
    pending = token_use(current_app).pending(row.id)
    last = max((t for t in (row.last_used_at, pending) if t is not None), default=None)

    def iso(value: Any) -> str | None:
        return value.isoformat() + "Z" if value is not None else None

    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": iso(row.created_at),
        "last_used_at": iso(last),
        "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
    }


def _api_tokens(member_id: int) -> Any:
    return (
        db.select(ApiToken)
        .filter_by(member_id=member_id)
        .filter(ApiToken.prefix.startswith("pt_"))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )


@bp.get("")
def list_tokens() -> Any:
    """Your API tokens: the live ones first, then revoked and expired ones, newest first,
    a page at a time (browser sessions are not listed).
    ---
    get:
      summary: List your API tokens.
      parameters:
        - {name: page, in: query, schema: {type: integer, minimum: 1, default: 1}}
        - name: per_page
          in: query
          schema: {type: integer, minimum: 1, maximum: 200, default: 50}
      responses:
        "200":
          description: >
            Your tokens, without their secret part. Every live token is on the first
            page (a member has at most 50); `next` is the next page's address, or null.
          content:
            application/json:
              schema:
                type: object
                properties:
                  tokens: {type: array, items: {$ref: "#/components/schemas/Token"}}
                  total: {type: integer}
                  next: {type: string, nullable: true}
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
    """
    member_id = current_member().member_id
    page = _positive_arg("page", 1, 10**6)
    per_page = _positive_arg("per_page", TOKENS_MAX, 200)
    now = utcnow()
    live = and_(
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
    )
    query = _api_tokens(member_id).order_by(None)
    total = db.session.execute(query.with_only_columns(func.count()).order_by(None)).scalar_one()
    rows = db.session.execute(
        query.order_by(case((live, 0), else_=1), ApiToken.created_at.desc(), ApiToken.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).scalars()
    more = page * per_page < total
    following = url_for(".list_tokens", page=page + 1, per_page=per_page) if more else None
    return jsonify(tokens=[_shown(r) for r in rows], total=total, next=following)


def _positive_arg(name: str, default: int, most: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        message = say("%(name)s must be a whole number from 1 to %(n)d.", name=name, n=most)
        raise TokenRequestError("bad_request", message)
    return int(raw)


@bp.post("")
def create_token() -> Any:
    """Make an API token; the answer holds it, once.
    ---
    post:
      summary: Create an API token.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, minLength: 1, maxLength: 100}
                days: {type: integer, minimum: 1, maximum: 3650, description: Expires after.}
      responses:
        "201":
          description: The token; `token` is its secret, shown this once.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Token"}
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
    """
    member_id = current_member().member_id
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise TokenRequestError("bad_request", say('Send JSON: {"name": "...", "days": 90}.'))
    name = data.get("name")
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name.strip()) > NAME_MAX
        or not name.isprintable()  # a name is shown on a page: no control characters
    ):
        message = say("Give the token a name of 1 to %(n)d characters.", n=NAME_MAX)
        raise TokenRequestError("bad_name", message)
    days = data.get("days")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= DAYS_MAX
    ):
        message = say("days must be a whole number from 1 to %(n)d.", n=DAYS_MAX)
        raise TokenRequestError("bad_days", message)
    live = (
        db.session.execute(_api_tokens(member_id).filter(ApiToken.revoked_at.is_(None)))
        .scalars()
        .all()
    )
    if len(live) >= TOKENS_MAX:
        raise TokenRequestError(
            "too_many_tokens",
            say("You have %(n)d tokens; revoke one you no longer use.", n=TOKENS_MAX),
        )
    member = db.session.get(Member, member_id)
    assert member is not None  # the passport just found the caller
    lifetime = timedelta(days=days) if days else None
    row, plain = ApiToken.issue(member, lifetime=lifetime)
    row.name = name.strip()
    db.session.add(row)
    db.session.commit()
    text = _("API token %(name)s created (%(prefix)s…)", name=row.name, prefix=row.prefix)
    oplog.record("account", "token_created", text)
    return jsonify({**_shown(row), "token": plain}), 201


@bp.delete("/<int:token_id>")
def revoke_token(token_id: int) -> Any:
    """Revoke one of your API tokens: it stops working at once.
    ---
    delete:
      summary: Revoke an API token.
      parameters:
        - {name: token_id, in: path, required: true, schema: {type: integer}}
      responses:
        "204":
          description: Revoked (or already revoked).
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
    """
    member_id = current_member().member_id
    # Ids are 32-bit integers in the database (PostgreSQL refuses a larger one).
    row = db.session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None or row.member_id != member_id or not row.prefix.startswith("pt_"):
        message = say("You have no API token %(id)s.", id=token_id)
        return jsonify(error="not_found", message=message), 404
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
        text = _("API token %(name)s revoked (%(prefix)s…)", name=row.name or "", prefix=row.prefix)
        oplog.record("account", "token_revoked", text)
    return "", 204
