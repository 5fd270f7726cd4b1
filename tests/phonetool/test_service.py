"""The upload-and-process service through its HTTP API, as a member uses it."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from flask_handoff.testing import wait_for_job
from phonetool.models import ApiToken, MemberOperationLog, db
from phonetool.token_use import token_use

from .conftest import AppFactory, MemberHandle, add_member
from .files import HEADER, ROWS, write_csv, write_xlsx_xlsxwriter

GOOD = "订单号,收件人电话\nA1,13812345678\nA2,0755-26543210\nA3,abc\n".encode("gbk")


def upload(
    client: FlaskClient,
    who: MemberHandle,
    data: bytes = GOOD,
    name: str = "订单.csv",
    *,
    language: str | None = None,
    **form: str,
) -> Any:
    """``who`` uploads ``data``; ``language`` is the request's Accept-Language."""
    asked = {"Accept-Language": language} if language else {}
    return client.post(
        "/api/uploads",
        data={"file": (io.BytesIO(data), name), **form},
        headers={**who.headers, **asked},
    )


def trail(client: FlaskClient, who: MemberHandle) -> list[dict[str, Any]]:
    entries = client.get("/api/operation-logs", headers=who.headers).get_json()["entries"]
    return list(reversed(entries))  # oldest first


def _kinds(entries: list[dict[str, Any]]) -> list[str]:
    return [e["operation_type"] for e in entries]


def wait_for_trail(
    client: FlaskClient, who: MemberHandle, *kinds: str, timeout: float = 30
) -> list[dict[str, Any]]:
    """The member's log once it holds an entry of each kind: what is asserted on is what
    is waited for (a job writes some entries after its state, or its mail, is seen)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = trail(client, who)
        missing = set(kinds) - set(_kinds(entries))
        if not missing:
            return entries
        assert time.monotonic() < deadline, f"no {sorted(missing)} in {_kinds(entries)}"
        time.sleep(0.05)


# -- passport -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "unauthorized"),
        ({"Authorization": "Token abc"}, "malformed_token"),
        ({"Authorization": "Bearer "}, "malformed_token"),
        ({"Authorization": "Bearer pt_nope"}, "unknown_token"),
    ],
)
def test_requests_without_a_valid_token_get_401(
    client: FlaskClient, headers: dict[str, str], reason: str
) -> None:
    response = client.get("/api/jobs", headers=headers)

    assert response.status_code == 401
    assert response.get_json()["error"] == reason


def test_a_revoked_token_gets_401(app: Flask, client: FlaskClient, member: MemberHandle) -> None:
    assert client.get("/api/jobs", headers=member.headers).status_code == 200
    result = app.test_cli_runner().invoke(args=["users", "revoke", member.email])

    assert "revoked 1 token(s)" in result.output
    response = client.get("/api/jobs", headers=member.headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "revoked_token"


def test_token_use_is_recorded_in_batches_not_by_each_read(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    def last_used() -> Any:
        with app.app_context():
            row = db.session.execute(db.select(ApiToken)).scalar_one()
            assert row.digest != member.token  # stored hashed
            return row.last_used_at

    client.get("/api/jobs", headers=member.headers)
    assert last_used() is None  # the read wrote nothing

    token_use(app).flush()  # what the flusher thread does once a minute
    assert last_used() is not None


# -- uploads ------------------------------------------------------------------------------


def test_upload_answers_202_and_the_job_produces_results(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    response = upload(client, member)
    assert response.status_code == 202
    body = response.get_json()
    job = wait_for_job(app, body["job_id"])
    status = client.get(body["status_url"], headers=member.headers).get_json()

    assert job.state == "succeeded", job.error_message
    assert status["state"] == "succeeded"
    assert status["file"]["name"] == "订单.csv"
    assert status["summary"]["valid"] == 2
    assert status["summary"]["invalid"] == 1
    assert status["progress"]["done"] == 3


def test_results_download_with_the_original_name(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, job_id)

    xlsx = client.get(f"/api/jobs/{job_id}/result?format=xlsx", headers=member.headers)
    csv_ = client.get(f"/api/jobs/{job_id}/result?format=csv", headers=member.headers)

    assert xlsx.status_code == 200
    disposition = xlsx.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E8%AE%A2%E5%8D%95-checked.xlsx" in disposition  # browsers
    assert 'filename="result-checked.xlsx"' in disposition  # curl -OJ and other ASCII-only
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book["data"]["C2"].value == "+8613812345678"
    assert csv_.data.decode("utf-8-sig").splitlines()[1].startswith("A1,13812345678,+8613812345678")


@pytest.mark.parametrize(
    ("form", "name", "status", "error"),
    [
        ({}, "list.txt", 415, "unsupported_type"),
        ({"receiver_email": "not-an-email"}, "l.csv", 400, "bad_email"),
        # Letters outside ASCII before the @ need SMTPUTF8: refused now, not failed later.
        ({"receiver_email": "用户@例子.广告"}, "l.csv", 400, "bad_email"),
        ({"colour": "blue"}, "l.csv", 400, "unknown_option"),
        ({"provinces": "Atlantis"}, "l.csv", 400, "unknown_province"),
        ({"nationwide": "false"}, "l.csv", 400, "bad_option"),
        ({"nationwide": "maybe"}, "l.csv", 400, "bad_option"),
        ({"default_region": "XX"}, "l.csv", 400, "bad_region"),
    ],
)
def test_bad_uploads_get_a_reason_and_start_no_job(
    app: Flask,
    client: FlaskClient,
    member: MemberHandle,
    form: dict[str, str],
    name: str,
    status: int,
    error: str,
) -> None:
    response = upload(client, member, name=name, **form)

    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]
    assert client.get("/api/jobs", headers=member.headers).get_json()["jobs"] == []


def test_missing_file_is_400(client: FlaskClient, member: MemberHandle) -> None:
    response = client.post("/api/uploads", data={}, headers=member.headers)

    assert response.status_code == 400
    assert response.get_json()["error"] == "no_file"


def test_upload_over_the_size_limit_is_413(make_app: AppFactory) -> None:
    app = make_app(MAX_CONTENT_LENGTH=1024)
    from .conftest import add_member

    who = add_member(app, "big@example.com")
    response = upload(app.test_client(), who, data=b"phone\n" + b"13812345678\n" * 500)

    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"


def test_provinces_filter_is_applied(app: Flask, client: FlaskClient, member: MemberHandle) -> None:
    job_id = upload(client, member, provinces="广东").get_json()["job_id"]
    wait_for_job(app, job_id)
    summary = client.get(f"/api/jobs/{job_id}", headers=member.headers).get_json()["summary"]

    assert summary["rows_out"] == 1
    assert summary["by_province"] == {"广东省": 1}


def test_a_file_without_phone_column_fails_once_with_a_readable_reason(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member, data=b"a,b\n1,2\n", name="x.csv").get_json()["job_id"]
    job = wait_for_job(app, job_id)
    status = client.get(f"/api/jobs/{job_id}", headers=member.headers).get_json()

    assert job.state == "failed"
    assert job.attempts == 1
    assert "No phone column found" in status["error"]
    assert client.get(f"/api/jobs/{job_id}/result", headers=member.headers).status_code == 409


# -- privacy ------------------------------------------------------------------------------


def test_another_member_gets_404_on_everything(
    app: Flask, client: FlaskClient, member: MemberHandle, other_member: MemberHandle
) -> None:
    job_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, job_id)

    for path in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/result?format=csv"):
        response = client.get(path, headers=other_member.headers)
        assert response.status_code == 404, path
        assert response.get_json()["error"] == "not_found"
    assert client.get("/api/jobs", headers=other_member.headers).get_json()["jobs"] == []
    assert trail(client, other_member) == []
    unknown = client.get(f"/api/jobs/{uuid.uuid4().hex}", headers=member.headers)
    assert unknown.status_code == 404


# -- the operation log --------------------------------------------------------------------


def test_a_successful_upload_leaves_its_whole_trail_attributed_to_the_member(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member, receiver_email="boss@example.com").get_json()["job_id"]
    wait_for_job(app, job_id)
    mail_job = _wait_for_mail(client, member, job_id)

    entries = wait_for_trail(client, member, "mail_sent", "upload_deleted")
    assert mail_job == "sent"
    # Mail delivery is its own job: it may finish before or after the upload is removed.
    assert _kinds(entries)[:3] == ["upload_received", "process_started", "process_finished"]
    assert sorted(_kinds(entries)[3:]) == ["mail_sent", "upload_deleted"]
    assert {e["user_id"] for e in entries} == {str(member.id)}
    assert {e["actor_kind"] for e in entries} == {"user"}
    assert {e["job_id"] for e in entries} == {job_id}
    assert len({e["request_id"] for e in entries}) == 1  # the upload request's id, throughout


def test_a_failing_upload_leaves_its_trail_with_the_reason(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member, data=b"a,b\n1,2\n", name="x.csv").get_json()["job_id"]
    wait_for_job(app, job_id)

    # Written when the job has ended, by its signal: waited for, not taken as read.
    entries = wait_for_trail(client, member, "process_failed", "upload_deleted")
    assert _kinds(entries) == [
        "upload_received",
        "process_started",
        "process_failed",
        "upload_deleted",
    ]
    # In the submitter's language (Chinese: the request chose none), with what was seen.
    assert "没有找到号码列" in entries[2]["operation_content"]
    assert "'a', 'b'" in entries[2]["operation_content"]
    assert {e["user_id"] for e in entries} == {str(member.id)}


def test_secret_looking_params_are_redacted(app: Flask) -> None:
    from phonetool import oplog

    with app.app_context():
        oplog.record("test", "t", "x", {"Cookie": "s=1", "nested": {"api_token": "t"}, "ok": 1})
        entry = db.session.execute(db.select(MemberOperationLog)).scalar_one()
    assert entry.operation_params == {
        "Cookie": "[redacted]",
        "nested": {"api_token": "[redacted]"},
        "ok": 1,
    }
    assert entry.actor_kind == "system"  # neither a request nor a job: said so explicitly
    assert entry.user_id is None


def test_a_database_failure_of_the_operation_log_loses_no_entry(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    from phonetool import oplog

    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE member_operation_log RENAME TO oplog_away")
        with app.test_request_context(headers=member.headers):
            oplog.record("test", "during_outage", "written while the table is gone")
        pending = Path(app.instance_path) / "oplog-pending.jsonl"
        assert pending.exists()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE oplog_away RENAME TO member_operation_log")
        with app.test_request_context(headers=member.headers):
            oplog.record("test", "after_outage", "written when it is back")

    entries = trail(client, member)
    assert [e["operation_type"] for e in entries] == ["during_outage", "after_outage"]
    assert not pending.exists()


def test_an_xlsx_with_a_chinese_name_is_processed(
    app: Flask, client: FlaskClient, member: MemberHandle, tmp_path: Path
) -> None:
    data = write_xlsx_xlsxwriter(tmp_path / "x.xlsx", [HEADER, *ROWS]).read_bytes()
    job_id = upload(client, member, data=data, name="六月订单.xlsx").get_json()["job_id"]
    job = wait_for_job(app, job_id)

    assert job.state == "succeeded", job.error_message
    result = client.get(f"/api/jobs/{job_id}/result?format=xlsx", headers=member.headers)
    book = openpyxl.load_workbook(io.BytesIO(result.data))
    assert [c.value for c in book["data"][2]][:3] == ROWS[0][:3]


# -- a real server ------------------------------------------------------------------------


def test_upload_and_download_through_a_real_http_server(
    app: Flask, member: MemberHandle, tmp_path: Path
) -> None:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        src = write_csv(tmp_path / "list.csv", [HEADER, *ROWS], "gbk")
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="list.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode()
            + src.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            f"{base}/api/uploads",
            data=body,
            method="POST",
            headers={**member.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            job_id = json.loads(response.read())["job_id"]
        wait_for_job(app, job_id)
        download = urllib.request.Request(
            f"{base}/api/jobs/{job_id}/result?format=csv", headers=member.headers
        )
        with urllib.request.urlopen(download, timeout=30) as response:
            lines = response.read().decode("utf-8-sig").splitlines()
        assert len(lines) == len(ROWS) + 1
        assert lines[1].split(",")[1] == "张三"
    finally:
        server.shutdown()
        thread.join()


def _wait_for_mail(client: FlaskClient, who: MemberHandle, job_id: str, timeout: float = 20) -> Any:

    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job_id}", headers=who.headers).get_json()["mail"]["state"]
        if state in ("sent", "failed"):
            return state
        time.sleep(0.05)
    return state


@pytest.mark.parametrize(
    ("original", "fallback"),
    [
        ("订单.xlsx", "result-checked.xlsx"),
        ("orders 六月.xlsx", "orders-checked.xlsx"),
        ('Ünïcode "quoted".xlsx', "Unicode_quoted-checked.xlsx"),
    ],
)
def test_downloads_have_an_ascii_name_for_clients_that_need_one(
    original: str, fallback: str
) -> None:
    from phonetool.jobs_api import _attachment

    name = original.rsplit(".", 1)[0] + "-checked.xlsx"
    assert f'filename="{fallback}"' in _attachment(name, original, "xlsx")


def test_pages_far_past_the_end_are_empty_not_errors(
    client: FlaskClient, member: MemberHandle
) -> None:
    # Found by schemathesis: an offset past the database's integers was a 500.
    far = 497543831542058624
    logs = client.get(f"/api/operation-logs?page={far}", headers=member.headers)
    jobs = client.get(f"/api/jobs?offset={far}", headers=member.headers)

    assert logs.status_code == 200
    assert logs.get_json()["entries"] == []
    assert jobs.status_code == 200
    assert jobs.get_json()["jobs"] == []


def test_a_sheet_read_short_of_what_it_declares_says_so_in_the_log(
    app: Flask, client: FlaskClient, member: MemberHandle, tmp_path: Path
) -> None:
    from . import sheet_xml

    rows: list[Any] = [[("inline", "手机号")], *([("n", f"138{n:08d}")] for n in range(20))]
    book = sheet_xml.Book(rows, sheet_xml.Shape(declared_rows=5000))
    data = sheet_xml.write(tmp_path / "short.xlsx", book).read_bytes()
    job_id = upload(client, member, data=data, name="短.xlsx").get_json()["job_id"]

    assert wait_for_job(app, job_id).state == "succeeded"
    entries = wait_for_trail(client, member, "process_short_read")
    said = next(e for e in entries if e["operation_type"] == "process_short_read")
    assert "20" in said["operation_content"]
    assert "4,999" in said["operation_content"]
    assert said["operation_params"] == {"read": 20, "declared": 4999}


def test_a_job_recovered_as_the_service_starts_has_its_retry_in_the_log(
    make_app: AppFactory,
) -> None:
    """A process that starts after a crash may find a lost job before it has finished
    starting (the pool's first look): the log entry must not be lost. It was, whenever
    the lease had run out by then: the pool started before the catalogs were set up, so
    the entry's words could not be said."""
    from flask_handoff.schema import jobs_table

    first = make_app(instance="shared", HANDOFF_AUTOSTART=False)
    client = first.test_client()
    member = add_member(first, "alice@example.com")
    job_id = upload(client, member).get_json()["job_id"]
    with first.app_context():  # as if its process died running it, lease long gone
        engine = first.extensions["handoff"].store.engine
        with engine.begin() as conn:
            conn.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id)
                .values(state="running", attempts=1, worker_id="gone", lease_until=1.0)
            )

    again = make_app(instance="shared")  # starts its pool: recovers the job at once

    assert wait_for_job(again, job_id).state == "succeeded"
    entries = wait_for_trail(again.test_client(), member, "process_retrying", "upload_deleted")
    assert [e["operation_type"] for e in entries].count("process_retrying") == 1
