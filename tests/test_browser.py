"""The practice flow in headless Chromium (Debian's package, driven by Playwright), with screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interviewer.index import Index
from tests.conftest import PROJECT_DIR
from tests.test_session import FOLLOW_UP_ANSWER, STRONG
from tests.test_web import launched  # noqa: F401  (the launched app fixture)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = PROJECT_DIR / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package (apt) as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def answer(page, text: str, expect: str, count: int = 1) -> None:
    """Type an answer, submit it, and wait until `expect` appears `count` times (the reply arrived)."""
    from playwright.sync_api import expect as expect_that

    page.get_by_label("Your answer").fill(text)
    page.get_by_role("button", name="Submit answer").click()
    expect_that(page.get_by_text(expect)).to_have_count(count, timeout=60_000)
    # The reply is complete when the transcript link for this state has been refreshed.
    expect_that(page.get_by_label("Your answer")).to_have_value("", timeout=60_000)


def test_practice_in_the_browser(browser, launched, corpus_index: Index):  # noqa: F811
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(launched.local_url)
    page.get_by_role("button", name="Start interview").wait_for()
    page.screenshot(path=str(SHOTS / "1-setup.png"), full_page=True)
    page.get_by_role("button", name="Start interview").click()
    page.get_by_text("Question 1 of 3").first.wait_for(timeout=60_000)
    for n in range(1, 4):
        answer(page, STRONG, "Follow-up:", count=n)
        answer(page, FOLLOW_UP_ANSWER, f"Question {n + 1} of 3" if n < 3 else "Risks/Concerns")
        feedback = page.locator(".feedback")
        assert "Decision:" in feedback.inner_text() and "Per-axis scores" in feedback.inner_text()
        if n == 1:
            page.screenshot(path=str(SHOTS / "2-graded-answer.png"), full_page=True)
    page.screenshot(path=str(SHOTS / "3-debrief.png"), full_page=True)
    assert page.get_by_text("Transcript").count() > 0
    print(f"\nscreenshots: {SHOTS}")
