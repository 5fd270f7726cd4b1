"""A one-page demo of Flask-Handoff: sign in with a name, start a job, watch it run.

The job reads nothing from the request: who started it comes from the snapshot, so the
page shows the right owner even with several people signed in at once.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, redirect, render_template_string, request, session, url_for

from flask_handoff import Handoff, current_job

handoff = Handoff()


@handoff.identity_loader
def signed_in_user() -> str | None:
    return session.get("user")


@handoff.task(max_attempts=3, timeout=300)
def count_to(n: int) -> dict[str, Any]:
    for i in range(1, n + 1):
        time.sleep(0.05)
        current_job.progress(i, n, f"counted to {i}")
    return {"counted": n, "for": current_job.identity}


PAGE = """<!doctype html>
<title>Flask-Handoff demo</title>
<style>body{font:16px system-ui;max-width:40em;margin:2em auto}progress{width:100%}</style>
<h1>Flask-Handoff demo</h1>
{% if user %}
  <p>Signed in as <b>{{ user }}</b> · <a href="{{ url_for('sign_out') }}">sign out</a></p>
  <form method=post action="{{ url_for('start') }}">
    Count to <input name=n value=60 size=4> <button>Start a background job</button>
  </form>
  <ul id=jobs>{% for job in jobs %}
    <li data-id="{{ job.id }}">{{ job.task.rsplit('.', 1)[1] }} ·
      <span class=state>{{ job.state }}</span>
      <progress max="{{ job.progress_total or 1 }}" value="{{ job.progress_done }}"></progress>
    </li>{% endfor %}
  </ul>
  <script>
  for (const li of document.querySelectorAll("#jobs li")) {
    const events = new EventSource(`/jobs/${li.dataset.id}/events`);
    const show = (e) => { const j = JSON.parse(e.data);
      li.querySelector(".state").textContent = j.state;
      const bar = li.querySelector("progress");
      bar.max = j.progress.total || 1; bar.value = j.progress.done; };
    events.addEventListener("progress", show);
    for (const end of ["succeeded", "failed", "cancelled"])
      events.addEventListener(end, (e) => { show(e); events.close(); });
  }
  </script>
{% else %}
  <form method=post action="{{ url_for('sign_in') }}">
    Your name <input name=user autofocus> <button>Sign in</button>
  </form>
{% endif %}
"""


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.path.abspath("instance"))
    app.config.update(SECRET_KEY=os.environ.get("SECRET_KEY", "dev-only-change-me"))
    app.config.update(config or {})
    handoff.init_app(app)

    @app.get("/")
    def index() -> str:
        user = session.get("user")
        jobs = handoff.list_jobs(identity=user, limit=10) if user else []
        return render_template_string(PAGE, user=user, jobs=jobs)

    @app.post("/sign-in")
    def sign_in() -> Any:
        session["user"] = request.form.get("user", "").strip()[:50] or None
        return redirect(url_for("index"))

    @app.get("/sign-out")
    def sign_out() -> Any:
        session.clear()
        return redirect(url_for("index"))

    @app.post("/start")
    def start() -> Any:
        n = max(1, min(int(request.form.get("n", "60") or 60), 10_000))
        count_to.submit(n)
        return redirect(url_for("index"))

    return app
