"""Chinese or English: the pages follow the browser's Accept-Language and a switch on the
page; a job writes its log and its mail in the language of the request that submitted
it."""

from __future__ import annotations

import email
import io
import time
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_handoff.testing import wait_for_job
from phonetool.extensions import handoff
from phonetool.models import Upload, db

from .conftest import AppFactory, MemberHandle, add_member
from .pages import sign_in
from .test_service import upload

# The pages in a browser: what the database is does not reach them (the API tests run on both).
pytestmark = pytest.mark.runs_on(database="sqlite")

ORDERS = "订单号,收件人电话\nA1,13812345678\n".encode()


@pytest.mark.parametrize(
    ("locale", "sign_in", "upload_title"),
    [("zh-CN", "登录", "上传名单"), ("en-US", "Sign in", "Upload a list")],
)
def test_the_pages_follow_the_browsers_language(
    browser: Any,
    live_url: str,
    member: MemberHandle,
    locale: str,
    sign_in: str,
    upload_title: str,
) -> None:
    page = browser.new_page(locale=locale)
    page.goto(live_url + "/")

    assert page.locator("#sign-in-panel h2").inner_text() == sign_in
    assert page.locator("html").get_attribute("lang") == locale[:2]
    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", "correct horse")
    page.click("#sign-in button")
    page.wait_for_selector("#app:not([hidden])")
    assert page.locator("#app h2").first.inner_text() == upload_title


def test_the_switch_changes_the_language_and_keeps_it(
    browser: Any,
    live_url: str,
) -> None:
    page = browser.new_page(locale="en-US")
    page.goto(live_url + "/")
    assert page.locator("#sign-in-panel h2").inner_text() == "Sign in"

    page.click("nav.lang a[lang=zh]")
    page.wait_for_selector("#sign-in-panel h2:has-text('登录')")
    page.goto(live_url + "/account")  # no ?lang: the choice was kept

    assert page.locator("title").inner_text().startswith("账户")
    assert page.locator("#signed-out").inner_text().startswith("请先登录")


@pytest.mark.parametrize(
    ("language", "received", "finished", "subject", "body"),
    [
        (
            "en",
            "Received 订单.csv",
            "Finished 订单.csv",
            "Phone check result: 订单.csv",
            "has been checked",
        ),
        ("zh", "收到文件 订单.csv", "处理完成 订单.csv", "号码检测结果: 订单.csv", "已处理完成"),
    ],
)
def test_a_job_writes_its_log_and_mail_in_its_submitters_language(
    app: Flask,
    client: FlaskClient,
    member: MemberHandle,
    language: str,
    received: str,
    finished: str,
    subject: str,
    body: str,
) -> None:
    job_id = upload(
        client, member, ORDERS, receiver_email="boss@example.com", language=f"{language};q=1"
    ).get_json()["job_id"]
    wait_for_job(app, job_id)
    outbox = Path(app.config["MAIL_OUTBOX"])
    deadline = time.monotonic() + 20
    while not (outbox.exists() and any(outbox.glob("*.eml"))):
        assert time.monotonic() < deadline, "no mail"
        time.sleep(0.05)

    # Read in the other language: what was written stays as it was written.
    other = {**member.headers, "Accept-Language": "zh" if language == "en" else "en"}
    log = [
        e["operation_content"]
        for e in client.get(f"/api/operation-logs?job_id={job_id}", headers=other).get_json()[
            "entries"
        ]
    ]
    assert any(e.startswith(received) for e in log), log
    assert any(e.startswith(finished) for e in log), log
    msg = email.message_from_bytes(next(outbox.glob("*.eml")).read_bytes(), policy=default_policy)
    assert msg["Subject"] == subject
    assert body in msg.get_body().get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(("language", "valid"), [("en", "valid numbers"), ("zh", "有效号码")])
def test_the_result_workbooks_summary_is_in_its_submitters_language(
    app: Flask, client: FlaskClient, member: MemberHandle, language: str, valid: str
) -> None:
    import openpyxl

    job_id = upload(client, member, ORDERS, language=language).get_json()["job_id"]
    wait_for_job(app, job_id)

    xlsx = client.get(f"/api/jobs/{job_id}/result?format=xlsx", headers=member.headers)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data))["summary"]
    counts = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row[0]}

    assert counts[valid] == 1


def upload_file() -> Any:
    return io.BytesIO(ORDERS)


def test_without_accept_language_the_service_speaks_chinese(
    app: Flask, client: FlaskClient, member: MemberHandle
) -> None:
    job_id = upload(client, member).get_json()["job_id"]
    wait_for_job(app, job_id)

    log = client.get("/api/operation-logs", headers=member.headers).get_json()["entries"]

    assert log[-1]["operation_content"].startswith("收到文件 订单.csv")


@pytest.mark.parametrize(
    ("language", "province", "email", "kind", "password"),
    [
        (
            "zh",
            "没有这个省份 'Atlantis'",
            "邮箱地址 'boss@example' 不正确",
            "无法读取 notes.txt：请上传 .csv 或 .xlsx 文件。",
            "邮箱或密码不对。",
        ),
        (
            "en",
            "Unknown province 'Atlantis'",
            "The e-mail address 'boss@example' is not valid",
            "notes.txt is not a list we can read: upload a .csv or .xlsx file.",
            "Wrong email or password.",
        ),
    ],
)
def test_errors_are_shown_on_the_page_in_words_in_its_language(
    browser: Any,
    live_url: str,
    member: MemberHandle,
    tmp_path: Path,
    language: str,
    province: str,
    email: str,
    kind: str,
    password: str,
) -> None:
    page = browser.new_page(locale="zh-CN" if language == "zh" else "en-US")
    page.goto(live_url + "/")
    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", "wrong")
    page.click("#sign-in button")
    page.wait_for_selector(f"#sign-in-error:has-text('{password}')")
    sign_in(page, live_url, member)
    orders = tmp_path / "o.csv"
    orders.write_text("订单号,手机号\nA1,13812345678\n", encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello", encoding="utf-8")

    requests: list[Any] = []
    responses: list[Any] = []
    page.on("request", lambda r: requests.append(r) if r.url.endswith("/api/uploads") else None)
    page.on("response", lambda r: responses.append(r) if r.url.endswith("/api/uploads") else None)
    shown = []
    for field, value, file in [
        ("provinces", "Atlantis", orders),
        ("receiver_email", "boss@example", orders),
        (None, None, notes),
    ]:
        page.fill("#upload input[name=provinces]", "")
        page.fill("#upload input[name=receiver_email]", "")
        if field:
            page.fill(f"#upload input[name={field}]", value)
        page.set_input_files("#upload input[name=file]", str(file))
        before = len(requests)
        page.click("#upload button")
        deadline = time.monotonic() + 30
        while len(responses) <= before:  # the page has the answer and has shown it
            assert time.monotonic() < deadline, "no answer to the upload"
            page.wait_for_timeout(50)
        page.wait_for_selector("#upload-error:not(:empty)")
        shown.append(page.locator("#upload-error").inner_text())

    assert shown[0].startswith(province)
    assert shown[1].startswith(email)
    assert shown[2] == kind


def test_api_clients_read_english_unless_they_ask(
    client: FlaskClient, member: MemberHandle
) -> None:
    def bad(**headers: str) -> str:
        response = client.post(
            "/api/uploads",
            data={"file": (upload_file(), "o.csv"), "provinces": "Atlantis"},
            headers={**member.headers, **headers},
        )
        return str(response.get_json()["message"])

    assert bad().startswith("Unknown province 'Atlantis'")
    assert bad(**{"Accept-Language": "zh-CN,zh;q=0.9"}).startswith("没有这个省份")


NO_PHONE_COLUMN = "订单号,金额\nA1,12.50\n".encode()


def test_a_job_failing_while_its_status_is_read_gives_its_reason_in_words(
    app: Flask, client: FlaskClient, member: MemberHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = upload(client, member, NO_PHONE_COLUMN).get_json()["job_id"]
    wait_for_job(app, job_id)
    with app.app_context():
        up = db.session.get(Upload, job_id)
        assert up is not None
        words, up.failure = up.failure, None  # as it was a moment before the end
        db.session.commit()
    real_get_job = handoff.get_job

    def the_job_ends_now(wanted: str) -> Any:
        # The pipeline writes the failure's words, then the engine marks the job failed:
        # both land while the status is being read.
        with app.app_context():
            ending = db.session.get(Upload, wanted)
            assert ending is not None
            ending.failure = words
            db.session.commit()
        return real_get_job(wanted)

    monkeypatch.setattr(handoff, "get_job", the_job_ends_now)
    status = client.get(f"/api/jobs/{job_id}", headers={**member.headers, "Accept-Language": "zh"})

    assert status.get_json()["error"].startswith("没有找到号码列")


@pytest.mark.parametrize(
    ("submitted_in", "logged"),
    [("zh", "处理失败: 没有找到号码列"), ("en", "Processing failed: No phone column found")],
)
def test_a_failed_jobs_reason_is_said_in_each_readers_language(
    app: Flask, client: FlaskClient, member: MemberHandle, submitted_in: str, logged: str
) -> None:
    job_id = upload(client, member, NO_PHONE_COLUMN, language=submitted_in).get_json()["job_id"]
    wait_for_job(app, job_id)

    def reason(**headers: str) -> str:
        status = client.get(f"/api/jobs/{job_id}", headers={**member.headers, **headers})
        return str(status.get_json()["error"])

    # Whoever submitted it, each reader gets the reason in theirs, with the columns seen.
    assert reason(**{"Accept-Language": "zh-CN"}) == (
        "没有找到号码列: 请用 phone_column 选项指定列名, 或者给它加上 手机号、电话 或 phone"
        " 这样的表头。第一行是: '订单号', '金额'。"
    )
    assert reason(**{"Accept-Language": "en"}).startswith("No phone column found: ")
    assert reason().endswith("The first row has: '订单号', '金额'.")  # API: English unasked
    log = client.get(f"/api/operation-logs?job_id={job_id}", headers=member.headers)
    entries = [e["operation_content"] for e in log.get_json()["entries"]]
    assert any(e.startswith(logged) and "'订单号', '金额'" in e for e in entries), entries


def test_a_job_stopped_by_its_time_limit_says_so_in_words(
    app: Flask, client: FlaskClient, member: MemberHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phonetool.jobs import process_upload

    monkeypatch.setattr(process_upload, "timeout", 0.3)  # rows take longer than that
    rows = "".join(f"A{i},138{i:08d}\n" for i in range(300_000))
    big = ("订单号,手机号\n" + rows).encode()
    job_id = upload(client, member, big, "大单.csv", language="zh").get_json()["job_id"]
    wait_for_job(app, job_id, timeout=60)

    status = client.get(f"/api/jobs/{job_id}", headers=member.headers).get_json()
    chinese = client.get(
        f"/api/jobs/{job_id}", headers={**member.headers, "Accept-Language": "zh"}
    ).get_json()

    assert status["state"] == "failed"
    assert status["error"] == (
        "Processing took longer than 0.3 seconds, the most one file may take, and was"
        " stopped. Split the list and upload the parts."
    )
    assert chinese["error"].startswith("处理超过了 0.3 秒")


@pytest.mark.parametrize(
    ("locale", "reason"),
    [
        ("zh-CN", "没有找到号码列: 请用 phone_column 选项指定列名"),
        ("en-US", "No phone column found: name it with the phone_column option"),
    ],
)
def test_the_job_page_shows_why_a_job_failed_in_its_language(
    browser: Any,
    live_url: str,
    member: MemberHandle,
    tmp_path: Path,
    locale: str,
    reason: str,
) -> None:
    orders = tmp_path / "订单.csv"
    orders.write_bytes(NO_PHONE_COLUMN)
    page = browser.new_page(locale=locale)
    sign_in(page, live_url, member)

    page.set_input_files("#upload input[name=file]", str(orders))
    page.click("#upload button")
    page.click("#jobs a.job-link")
    page.wait_for_selector("#state.state-failed", timeout=30_000)

    shown = page.locator("#job-error").inner_text()
    assert shown.startswith(reason)
    assert "'订单号', '金额'" in shown


def test_a_job_whose_process_died_on_each_attempt_says_so_in_words(
    make_app: AppFactory,
) -> None:
    from sqlalchemy import update

    from flask_handoff.recovery import recover_expired
    from flask_handoff.schema import jobs_table

    app = make_app(HANDOFF_AUTOSTART=False)
    client = app.test_client()
    alice = add_member(app, "alice@example.com")
    job_id = upload(client, alice, ORDERS, language="en").get_json()["job_id"]
    # As a worker that died on the last attempt leaves it: running, its lease run out.
    state = app.extensions["handoff"]
    with state.store.engine.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(state="running", attempts=3, lease_until=time.time() - 1)
        )

    recover_expired(state)  # what any live process does with such a job

    status = client.get(f"/api/jobs/{job_id}", headers={**alice.headers, "Accept-Language": "zh"})
    assert status.get_json()["state"] == "failed"
    assert status.get_json()["error"].startswith("处理这个文件的进程在全部 3 次尝试中都中途停止了")
    log = client.get(f"/api/operation-logs?job_id={job_id}", headers=alice.headers).get_json()
    assert any(
        e["operation_content"].startswith("Processing failed: The process working on this file")
        for e in log["entries"]
    ), log["entries"]


@pytest.mark.parametrize(
    ("locale", "said"),
    [
        ("zh-CN", "文件超过了 1 MB 的上限。"),
        ("en-US", "The file is larger than the limit of 1 MB."),
    ],
)
def test_a_file_over_the_limit_is_refused_on_the_page_before_it_is_sent(
    app: Flask,
    browser: Any,
    live_url: str,
    member: MemberHandle,
    tmp_path: Path,
    locale: str,
    said: str,
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    big = tmp_path / "大单.csv"
    big.write_bytes(b"phone\n" + b"13812345678\n" * 200_000)  # 2.4 MB
    page = browser.new_page(locale=locale)
    sign_in(page, live_url, member)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/api/uploads" in r.url else None)

    page.set_input_files("#upload input[name=file]", str(big))
    page.click("#upload button")
    page.wait_for_selector("#upload-error:not(:empty)")

    assert page.locator("#upload-error").inner_text() == said
    assert sent == []  # said at once, without sending 2.4 MB to be refused


@pytest.mark.parametrize(
    ("language", "signed_out", "no_job", "bad_name"),
    [
        ("en", "Sign in, or send", "No job nope among yours.", "Give the token a name of 1 to"),
        ("zh", "请登录", "你的任务中没有 nope。", "请给令牌起一个 1 到"),
    ],
)
def test_the_apis_other_answers_follow_the_readers_language(
    client: FlaskClient,
    member: MemberHandle,
    language: str,
    signed_out: str,
    no_job: str,
    bad_name: str,
) -> None:
    asked = {"Accept-Language": language}

    def message(response: Any) -> str:
        return str(response.get_json()["message"])

    assert message(client.get("/api/jobs", headers=asked)).startswith(signed_out)
    job = client.get("/api/jobs/nope", headers={**member.headers, **asked})
    assert message(job) == no_job
    token = client.post("/api/tokens", json={"name": ""}, headers={**member.headers, **asked})
    assert message(token).startswith(bad_name)


def test_a_page_in_a_language_the_browser_did_not_ask_for_shows_its_errors_in_it(
    browser: Any, live_url: str, member: MemberHandle, tmp_path: Path
) -> None:
    # A French browser gets the Chinese page (the default); the page's own requests get
    # their answers in Chinese too, where a script asking nothing gets English.
    page = browser.new_page(locale="fr-FR")
    sign_in(page, live_url, member)
    orders = tmp_path / "o.csv"
    orders.write_text("订单号,手机号\nA1,13812345678\n", encoding="utf-8")

    assert page.locator("html").get_attribute("lang") == "zh"
    page.fill("#upload input[name=provinces]", "Atlantis")
    page.set_input_files("#upload input[name=file]", str(orders))
    page.click("#upload button")
    page.wait_for_selector("#upload-error:not(:empty)")

    assert page.locator("#upload-error").inner_text().startswith("没有这个省份 'Atlantis'")
