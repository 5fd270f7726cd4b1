"""Uploaded files handed to a job outlive the request, and only until the job ends."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_handoff import JobIdTakenError
from flask_handoff.testing import wait_for_job

from . import sample
from .conftest import bearer


def _open_files_under(folder: Path) -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the descriptor listdir itself used, closed by now
            continue
        if link.startswith(str(folder)):
            found.append(link)
    return found


def test_uploaded_file_is_readable_in_the_job_after_the_response(app: Flask, client: Any) -> None:
    payload = b"order_id,phone\n1,13800138000\n" + b"x" * 2_000_000  # spooled to disk
    response = client.post(
        "/uploads",
        data={"file": (io.BytesIO(payload), "订单 list.csv")},
        headers=bearer("alice"),
    )
    assert response.status_code == 202
    job = wait_for_job(app, response.get_json()["job_id"])

    assert job.state == "succeeded", job.error_message
    assert job.result == {
        "size": len(payload),
        "head": "order_id,phone\n1,138",
        "name": "订单 list.csv",
    }


def test_spooled_files_are_removed_when_the_job_ends(app: Flask, client: Any) -> None:
    spool = Path(app.config["HANDOFF_SPOOL_DIR"])
    response = client.post("/uploads", data={"file": (io.BytesIO(b"a,b\n"), "x.csv")})
    job_id = response.get_json()["job_id"]
    wait_for_job(app, job_id)

    assert not (spool / job_id).exists()


def test_pending_jobs_hold_no_open_file(make_app: Any) -> None:
    app = make_app(HANDOFF_AUTOSTART=False)
    spool = Path(app.config["HANDOFF_SPOOL_DIR"])
    client = app.test_client()
    ids = [
        client.post("/uploads", data={"file": (io.BytesIO(b"z" * 100_000), "a.csv")}).get_json()[
            "job_id"
        ]
        for _ in range(20)
    ]

    assert len(list(spool.iterdir())) == 20
    assert {app.extensions["handoff"].store.get(i).state for i in ids} == {"queued"}
    assert _open_files_under(spool) == []


def test_stored_name_never_uses_the_users_path(app: Flask) -> None:
    app.extensions["handoff"].backend.shutdown(0)
    with app.test_request_context(
        "/uploads",
        method="POST",
        data={"file": (io.BytesIO(b"a"), "../../etc/passwd.csv")},
    ):
        from flask import request

        job = sample.read_upload.submit(files={"upload": request.files["file"]})

    stored = Path(job.files["upload"]["path"])
    assert stored.parent == Path(app.config["HANDOFF_SPOOL_DIR"]) / job.id
    assert stored.name == "upload.csv"
    assert job.files["upload"]["filename"] == "../../etc/passwd.csv"  # kept for display only


def test_spooled_files_keep_a_safe_extension_of_any_name() -> None:
    from flask_handoff.spool import _suffix

    assert _suffix("订单.xlsx") == ".xlsx"  # the dot survives a name of Chinese letters
    assert _suffix("Orders.CSV") == ".csv"
    assert _suffix("..\\..\\windows\\名单.xlsx") == ".xlsx"
    assert _suffix("../../etc/passwd") == ""
    assert _suffix("notes.<script>") == ""
    assert _suffix(None) == ""


def test_a_job_id_taken_by_another_job_is_refused_and_leaves_its_files_alone(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app(HANDOFF_AUTOSTART=False)  # the first job stays queued with its file
    first_file = tmp_path / "first.csv"
    first_file.write_bytes(b"first")
    second_file = tmp_path / "second.csv"
    second_file.write_bytes(b"second")
    with app.app_context():
        first = sample.read_upload.submit(files={"upload": first_file}, job_id="order-17")
        with pytest.raises(JobIdTakenError, match="'order-17' is another job's"):
            sample.read_upload.submit(files={"upload": second_file}, job_id="order-17")
        with pytest.raises(JobIdTakenError):
            sample.process_order.submit(1, job_id="order-17")  # no files: the insert says
    spooled = Path(first.files["upload"]["path"])

    assert spooled.read_bytes() == b"first"
    assert [p.name for p in spooled.parent.iterdir()] == [spooled.name]
