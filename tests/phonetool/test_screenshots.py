"""Screenshots of the pages for the README, taken in Chromium with a CJK font (installed
by scripts/test). They also check that each page draws what it should at the moment it
is taken. A test run leaves the checkout as it found it: the pictures go to the test's
own folder, and to docs/screenshots/ only when asked for
(``PHONETOOL_SCREENSHOTS=docs/screenshots ./scripts/test -k screenshots``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import MemberHandle
from .files import write_csv
from .pages import sign_in

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.runs_on(database="sqlite")  # once is enough
def test_screenshots_of_every_page(
    browser: Any,
    live_url: str,
    member: MemberHandle,
    tmp_path: Path,
) -> None:
    asked = os.environ.get("PHONETOOL_SCREENSHOTS")
    shots = ROOT / asked if asked else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    # bypass_csp: Playwright polls a waiting predicate with eval, which the page's policy
    # forbids (as it should: test_security holds the policy itself).
    page = browser.new_page(
        viewport={"width": 1100, "height": 760}, locale="zh-CN", bypass_csp=True
    )

    page.goto(live_url + "/")
    page.wait_for_selector("#sign-in-panel:not([hidden])")
    page.screenshot(path=str(shots / "sign-in.png"))

    sign_in(page, live_url, member)
    page.fill("#upload input[name=provinces]", "亚特兰蒂斯")
    page.set_input_files("#upload input[name=file]", str(_orders(tmp_path, 20, "小单.csv")))
    page.click("#upload button")
    page.wait_for_selector("#upload-error:has-text('亚特兰蒂斯')")
    page.screenshot(path=str(shots / "upload-error.png"))

    page.fill("#upload input[name=provinces]", "")
    page.set_input_files("#upload input[name=file]", str(_orders(tmp_path, 200_000, "订单.csv")))
    page.click("#upload button")
    page.click("#jobs a.job-link")
    page.wait_for_function(
        "() => { const p = parseInt(document.querySelector('#percent').textContent);"
        " return p >= 5 && p <= 90; }",
        timeout=120_000,
    )
    page.screenshot(path=str(shots / "job-running.png"))

    page.wait_for_selector("#state.state-succeeded", timeout=180_000)
    page.wait_for_function(
        "[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "job-finished.png"), full_page=True)
    finished = page.url

    page.goto(live_url + "/")
    page.set_input_files("#upload input[name=file]", str(_no_phone_column(tmp_path)))
    page.click("#upload button")
    page.click("#jobs a.job-link:has-text('漏了号码.csv')")
    page.wait_for_selector("#state.state-failed", timeout=30_000)
    page.wait_for_selector("#job-error:has-text('没有找到号码列')")
    page.screenshot(path=str(shots / "job-failed.png"))

    page.goto(finished + "?lang=en")  # the same job in English (the choice is kept)
    page.wait_for_selector("#state.state-succeeded")
    page.wait_for_function(
        "[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "job-finished-en.png"), full_page=True)
    assert page.locator("#done h3").inner_text() == "Result"
    assert page.locator("img.chart-numbers").get_attribute("alt") == "Numbers"
    page.goto(live_url + "/?lang=zh")

    page.goto(live_url + "/account")
    page.fill("#new-token input[name=name]", "ERP 导入")
    page.click("#new-token button")
    page.wait_for_selector("#new-token-shown:not([hidden])")
    page.screenshot(path=str(shots / "account.png"))

    for name in (
        "sign-in",
        "upload-error",
        "job-running",
        "job-finished",
        "job-failed",
        "job-finished-en",
        "account",
    ):
        assert (shots / f"{name}.png").stat().st_size > 10_000, name


def _no_phone_column(folder: Path) -> Path:
    """An order export without its phone column: the buyer's number left out."""
    body = [[f"DY{i:08d}", f"买家{i}", "12.50"] for i in range(20)]
    return write_csv(folder / "漏了号码.csv", [["订单编号", "收货人", "金额"], *body])


def _orders(folder: Path, rows: int, name: str) -> Path:
    """An order list with numbers from across China, a few of them masked or wrong."""
    prefixes = ["138", "139", "186", "189", "133", "150", "177", "199"]
    body = []
    for i in range(rows):
        prefix = prefixes[i % len(prefixes)]
        if i % 97 == 0:
            phone = f"{prefix}****{i % 10000:04d}"
        elif i % 89 == 0:
            phone = f"{prefix}{i % 10000:04d}"
        else:
            phone = f"{prefix}{(i * 7919) % 100_000_000:08d}"
        body.append([f"DY{i:08d}", f"买家{i}", phone])
    return write_csv(folder / name, [["订单编号", "收货人", "手机号"], *body])
