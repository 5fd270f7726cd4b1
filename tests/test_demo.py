"""The demo app that scripts/serve starts: sign in, start a job, see it as its owner."""

from __future__ import annotations

from pathlib import Path

from examples.demo import create_app, handoff

from flask_handoff.testing import wait_for_job


def test_signed_in_user_starts_a_job_and_sees_it_on_the_page(tmp_path: Path) -> None:
    app = create_app(
        {
            "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3",
            "HANDOFF_SPOOL_DIR": str(tmp_path / "spool"),
            "HANDOFF_POLL_INTERVAL": 0.05,
        }
    )
    try:
        alice, bob = app.test_client(), app.test_client()
        alice.post("/sign-in", data={"user": "alice"})
        bob.post("/sign-in", data={"user": "bob"})
        alice.post("/start", data={"n": "3"})

        [job] = alice.get("/jobs/").get_json()["jobs"]
        done = wait_for_job(app, job["id"])
        page = alice.get("/").get_data(as_text=True)

        assert done.result == {"counted": 3, "for": "alice"}
        assert "Signed in as <b>alice</b>" in page
        assert job["id"] in page
        assert bob.get("/jobs/").get_json()["jobs"] == []
    finally:
        handoff.shutdown(app)
