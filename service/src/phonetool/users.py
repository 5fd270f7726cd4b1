"""``flask --app phonetool users create|token|revoke|bootstrap``."""

from __future__ import annotations

import secrets
from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import func

from .account import password_problem, set_password
from .models import ApiToken, Member, db, utcnow

users_cli = AppGroup("users", help="Manage members and their API tokens.")


def _member(email: str) -> Member:
    member: Member | None = db.session.execute(
        db.select(Member).filter_by(email=email.lower())
    ).scalar()
    if member is None:
        raise click.ClickException(f"No member {email}. Create one with 'users create'.")
    return member


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default=None)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--token",
    "with_token",
    is_flag=True,
    help="Also issue an API token (shown once, on the last line), as 'users token' would.",
)
def create(email: str, name: str | None, password: str, with_token: bool) -> None:
    """Create a member who can sign in with EMAIL and PASSWORD."""
    if db.session.execute(db.select(Member).filter_by(email=email.lower())).scalar():
        raise click.ClickException(f"A member {email} exists already.")
    member = Member(email=email.lower(), name=name or email.split("@")[0])
    member.set_password(password)
    db.session.add(member)
    plain = None
    if with_token:
        db.session.flush()  # the member's id, for the token's row
        row, plain = ApiToken.issue(member, lifetime=None)
        db.session.add(row)
    db.session.commit()
    click.echo(f"member {member.id} created: {member.email}")
    if plain is not None:
        click.echo(plain)


@users_cli.command("token")
@click.argument("email")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Expires after this.")
def token(email: str, days: int | None) -> None:
    """Issue an API token for EMAIL; it is shown once. Without --days it lasts until
    revoked."""
    member = _member(email)
    row, plain = ApiToken.issue(member, lifetime=timedelta(days=days) if days else None)
    db.session.add(row)
    db.session.commit()
    click.echo(plain)


@users_cli.command("revoke")
@click.argument("email")
@click.option("--prefix", default=None, help="Only the token starting with this.")
def revoke(email: str, prefix: str | None) -> None:
    """Revoke EMAIL's tokens (all, or the one with --prefix)."""
    member = _member(email)
    query = db.select(ApiToken).filter_by(member_id=member.id, revoked_at=None)
    rows = [
        t
        for t in db.session.execute(query).scalars()
        if not prefix or t.prefix.startswith(prefix[:10])
    ]
    for row in rows:
        row.revoked_at = utcnow()
    db.session.commit()
    click.echo(f"revoked {len(rows)} token(s)")


@users_cli.command("password")
@click.argument("email")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
def password(email: str, password: str) -> None:
    """Give EMAIL a new password; every browser signed in as them is signed out (their
    API tokens stay: revoke those with 'users revoke')."""
    member = _member(email)
    problem = password_problem(member, password)
    if problem:
        raise click.ClickException(problem)
    ended = set_password(member, password)
    click.echo(f"password changed for {member.email}; {ended} session(s) signed out")


@users_cli.command("bootstrap")
def bootstrap() -> None:
    """On a new installation, create a first member and print how to use it (once)."""
    if db.session.execute(db.select(func.count()).select_from(Member)).scalar():
        click.echo("Members exist. New token: flask --app phonetool users token EMAIL")
        return
    password = secrets.token_urlsafe(12)
    member = Member(email="member@example.com", name="First member")
    member.set_password(password)
    db.session.add(member)
    db.session.commit()
    row, plain = ApiToken.issue(member)
    db.session.add(row)
    db.session.commit()
    click.echo(f"First member: member@example.com  password: {password}")
    click.echo(f"API token (shown once): {plain}")
