"""The member's page in a real browser: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from .conftest import MemberHandle
from .files import HEADER, ROWS, write_csv
from .pages import sign_in

# The pages in a browser: what the database is does not reach them (the API tests run on both).
pytestmark = pytest.mark.runs_on(database="sqlite")


def test_member_signs_in_uploads_watches_and_downloads(
    browser: Any, live_url: str, member: MemberHandle, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "订单.csv", [HEADER, *ROWS], "gbk")
    page = browser.new_page(accept_downloads=True, locale="zh-CN")
    page.goto(live_url + "/")

    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", "wrong")
    page.click("#sign-in button")
    page.wait_for_selector("#sign-in-error:has-text('邮箱或密码不对')")  # the page's language
    page.fill("#sign-in input[name=password]", "correct horse")
    page.click("#sign-in button")
    page.wait_for_selector("#who-name:has-text('alice@example.com')")

    page.set_input_files("#upload input[name=file]", str(src))
    page.click("#upload button")
    page.wait_for_selector("#jobs td.state-succeeded", timeout=30_000)
    row = page.locator("#jobs tbody tr").first
    assert row.locator("td").first.inner_text() == "订单.csv"

    with page.expect_download() as download_info:
        row.locator("a.download-xlsx").click()
    download = download_info.value
    assert download.suggested_filename == "订单-checked.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    assert book["data"]["E2"].value == "+8613812345678"

    log = page.locator("#oplog").inner_text()
    assert "收到文件 订单.csv" in log
    assert "处理完成 订单.csv" in log
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)


def test_a_bad_upload_shows_the_reason_on_the_page(
    browser: Any, live_url: str, member: MemberHandle, tmp_path: Path
) -> None:
    page = browser.new_page()
    sign_in(page, live_url, member)
    src = tmp_path / "no-phone.csv"
    src.write_text("订单号,金额\nA1,1\n", encoding="utf-8")

    page.fill("#upload input[name=provinces]", "Atlantis")
    page.set_input_files("#upload input[name=file]", str(src))
    page.click("#upload button")
    page.wait_for_selector("#upload-error:has-text('Unknown province')")

    page.fill("#upload input[name=provinces]", "")
    page.set_input_files("#upload input[name=file]", str(src))
    page.click("#upload button")
    page.wait_for_selector("#jobs td.state-failed", timeout=30_000)
    assert "No phone column found" in page.locator("#jobs tbody tr").first.inner_text()


ATTACKER_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{action}" enctype="{enctype}">
{fields}
</form>
<script>document.getElementById("f").submit();</script>
</body></html>"""


@pytest.fixture
def other_site() -> Iterator[Any]:
    """Serves a page at another origin (localhost, where the service is 127.0.0.1)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def page(path: str, action: str, fields: dict[str, str], enctype: str) -> str:
        inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
        pages[path] = ATTACKER_PAGE.format(action=action, enctype=enctype, fields=inputs)
        return f"http://localhost:{server.server_port}{path}"

    yield page
    server.shutdown()
    thread.join()


def test_forms_posted_from_another_site_neither_sign_in_nor_upload(
    browser: Any, live_url: str, member: MemberHandle, other_site: Any
) -> None:
    page = browser.new_page()
    sign_in_form = other_site(
        "/login",
        f"{live_url}/api/session",
        {"email": member.email, "password": "correct horse"},
        "application/x-www-form-urlencoded",
    )
    with page.expect_response(f"{live_url}/api/session") as answer:
        page.goto(sign_in_form)
    assert answer.value.status == 403
    page.goto(live_url + "/")
    page.wait_for_selector("#sign-in-panel:not([hidden])")  # not signed in

    sign_in(page, live_url, member)
    upload_form = other_site(
        "/upload",
        f"{live_url}/api/uploads",
        {"receiver_email": "x@example.com"},
        "multipart/form-data",
    )
    with page.expect_response(f"{live_url}/api/uploads") as answer:
        page.goto(upload_form)
    assert answer.value.status == 403
    jobs = page.request.get(f"{live_url}/api/jobs").json()["jobs"]
    assert jobs == []


def test_after_sign_out_the_old_cookie_no_longer_signs_in(
    browser: Any, live_url: str, member: MemberHandle
) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live_url, member)
    kept = context.cookies()

    page.click("#sign-out")
    page.wait_for_selector("#sign-in-panel:not([hidden])")
    context.add_cookies(kept)  # as someone who copied the cookie would

    assert page.request.get(f"{live_url}/api/session").status == 401
    page.goto(live_url + "/")
    page.wait_for_selector("#sign-in-panel:not([hidden])")
    context.close()
