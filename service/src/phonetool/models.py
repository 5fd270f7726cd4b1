"""The service's tables: members, their API tokens, uploads, and the operation log."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from .filenames import MAX_STEM_BYTES, shorten_bytes


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def token_digest(token: str) -> str:
    """Tokens are long random strings, so a fast hash is enough to make a leak useless."""
    return hashlib.sha256(token.encode()).hexdigest()


class Member(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(
            password, current_app.config["PHONETOOL_PASSWORD_HASH"]
        )

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: until revoked
    name: Mapped[str | None] = mapped_column(String(100))  # the member's, for API tokens

    @classmethod
    def issue(
        cls, member: Member, *, session: bool = False, lifetime: timedelta | None = None
    ) -> tuple[ApiToken, str]:
        """A new token; the plain value is returned once and never stored.

        ``session``: the credential behind a signed-in browser (``ps_``), kept in the
        session cookie; signing out revokes it, so a copy of the old cookie is worth
        nothing. API tokens are ``pt_``. ``lifetime``: it expires that long from now.
        """
        plain = ("ps_" if session else "pt_") + secrets.token_urlsafe(32)
        row = cls(member_id=member.id, digest=token_digest(plain), prefix=plain[:10])
        row.expires_at = utcnow() + lifetime if lifetime is not None else None
        return row, plain

    @property
    def usable(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())


class SignInFailure(db.Model):  # type: ignore[name-defined,misc]
    """One wrong password, counted against an account and an address (``sign_in_limits``)."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)


class Upload(db.Model):  # type: ignore[name-defined,misc]
    """One uploaded list and what became of it; its id is also its job's id."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    receiver_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_dir: Mapped[str | None] = mapped_column(String(500))
    mail_state: Mapped[str | None] = mapped_column(String(20))  # pending|sent|retrying|failed
    mail_error: Mapped[str | None] = mapped_column(Text)
    mail_attempts: Mapped[int] = mapped_column(default=0)
    # Why the processing's last failed attempt failed, as a catalog text and its values
    # ({"attempt", "text", "params"}), so each reader gets it in their own language.
    failure: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    @property
    def result_stem(self) -> str:
        """The results' name: the upload's, shortened to what a file name can hold."""
        stem = shorten_bytes(self.original_name.rsplit(".", 1)[0], MAX_STEM_BYTES).strip()
        return f"{stem or 'result'}-checked"


class MemberOperationLog(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "member_operation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    business_type: Mapped[str] = mapped_column(String(50))
    operation_type: Mapped[str] = mapped_column(String(50))
    operation_content: Mapped[str] = mapped_column(Text)
    operation_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    operation_time: Mapped[datetime]
    create_time: Mapped[datetime] = mapped_column(default=utcnow)
    update_time: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(200))
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "business_type": self.business_type,
            "operation_type": self.operation_type,
            "operation_content": self.operation_content,
            "operation_params": self.operation_params,
            "operation_time": self.operation_time.isoformat() + "Z",
            "request_id": self.request_id,
            "job_id": self.job_id,
            "actor_kind": self.actor_kind,
        }
