"""The member's page: sign in, upload, watch progress, download, read the log.

One HTML page; everything it shows comes from the JSON API with the session cookie, so
the page and API clients see exactly the same thing.
"""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/account")
def account() -> str:
    """The member's API tokens: make, name and revoke them, see when each was used."""
    return render_template("account.html")


@bp.get("/jobs/<job_id>")
def job_page(job_id: str) -> str:
    """One job: live progress, then its counts, charts, downloads, mail and log. Whose
    job it is, the API decides when the page asks (a stranger's id shows "not found")."""
    return render_template("job.html", job_id=job_id)
