"""The member's page in a real browser: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import IN_CI

from .conftest import MemberHandle
from .files import HEADER, ROWS, write_csv

CHROMIUM = "/usr/bin/chromium"
# The flags this sandboxed machine needs: no setuid sandbox as root, and no background
# network traffic to hosts it cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail("Chromium is missing: scripts/test installs the chromium package")
        pytest.skip("Chromium not installed: run the tests with scripts/test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_member_signs_in_uploads_watches_and_downloads(
    browser: Any, live_url: str, member: MemberHandle, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "订单.csv", [HEADER, *ROWS], "gbk")
    page = browser.new_page(accept_downloads=True)
    page.goto(live_url + "/")

    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", "wrong")
    page.click("#sign-in button")
    page.wait_for_selector("#sign-in-error:has-text('Wrong email or password')")
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
    page.goto(live_url + "/")
    page.fill("#sign-in input[name=email]", member.email)
    page.fill("#sign-in input[name=password]", "correct horse")
    page.click("#sign-in button")
    page.wait_for_selector("#app:not([hidden])")
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
