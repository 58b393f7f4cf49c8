"""The practice flow in headless Chromium (Debian's package, driven by Playwright), with screenshots."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from interviewer.index import Index
from tests.conftest import PROJECT_DIR
from tests.test_session import FOLLOW_UP_ANSWER, STRONG
from tests.test_web import launched  # noqa: F401  (the launched app fixture)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = PROJECT_DIR / "screenshots"
BOT_MESSAGE = ".message-row.bot-row"  # an interviewer's message in Gradio 6's Chatbot
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
        answer(page, FOLLOW_UP_ANSWER, f"Question {n + 1} of 3" if n < 3 else "Panel decision")
        feedback = page.locator(".feedback")
        assert "Decision:" in feedback.inner_text() and "Per-axis scores" in feedback.inner_text()
        if n == 1:
            page.screenshot(path=str(SHOTS / "2-graded-answer.png"), full_page=True)
    page.screenshot(path=str(SHOTS / "3-debrief.png"), full_page=True)
    assert page.get_by_text("Transcript").count() > 0
    print(f"\nscreenshots: {SHOTS}")


def speaker_shown(page, expect: str) -> str:
    """Once the last interviewer message contains `expect`: the id of the interviewer it names, after
    checking that the panel view marks the same one as speaking."""
    from playwright.sync_api import expect as expect_that

    from interviewer.panel import panel

    last = page.locator(BOT_MESSAGE).last
    expect_that(last).to_contain_text(expect, timeout=60_000)
    name = last.locator("strong").first.inner_text()
    person = next(p for p in panel().interviewers if p.name == name)
    marked = page.locator(f".panel .who.speaking[data-interviewer='{person.id}']")
    expect_that(marked).to_have_count(1, timeout=60_000)
    expect_that(page.locator(".panel .who.speaking")).to_have_count(1)
    return person.id


def test_a_panel_interview_and_a_drill_in_the_browser(browser, launched, corpus_index: Index):  # noqa: F811
    """Three questions from three interviewers, each follow-up from the owner of its gap, the debrief
    with three write-ups; then a drill picked from the bank. Screenshots: screenshots/panel-*."""
    from playwright.sync_api import expect as expect_that

    from interviewer.panel import panel

    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(launched.local_url)
    page.get_by_role("button", name="Start interview").click()
    askers, follow_ups = [], []
    for n in range(1, 4):
        askers.append(speaker_shown(page, f"Question {n} of 3"))
        if n == 1:
            page.screenshot(path=str(SHOTS / "panel-1-question.png"), full_page=True)
        answer(page, STRONG, "Follow-up:", count=n)
        follow_ups.append(speaker_shown(page, "Follow-up:"))
        if n == 1:
            page.screenshot(path=str(SHOTS / "panel-2-follow-up.png"), full_page=True)
        answer(page, FOLLOW_UP_ANSWER, f"Question {n + 1} of 3" if n < 3 else "Panel decision")
    assert askers == panel().rotation(3, 0)  # three interviewers, one question each
    print(f"\nasked by {askers}; followed up by {follow_ups}")
    expect_that(page.locator(".panel .who.speaking")).to_have_count(0, timeout=60_000)  # ended
    for person in panel().interviewers:
        expect_that(page.get_by_text(f"{person.name} · {person.role} (owns", exact=False)).to_have_count(1)
    page.get_by_text("Panel decision").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "panel-3-debrief.png"), full_page=True)

    # Drill: the picker over the bank (type to filter), then one question with its follow-up.
    page.get_by_text("Drill one question").first.click()
    picker = page.get_by_label("Question", exact=True)
    picker.click()
    picker.fill("underperformer")
    page.get_by_role("option").first.wait_for(timeout=10_000)
    picker.press("Enter")  # Gradio's dropdown selects the first option left by the filter
    picked = picker.input_value()
    assert "underperformer" in picked.lower(), picked
    page.screenshot(path=str(SHOTS / "panel-4-drill-picker.png"), full_page=True)
    page.get_by_role("button", name="Drill this question").click()
    speaker_shown(page, "Question 1 of 1")
    drilled = picked.split("] ", 1)[-1][:40]  # a topic ("Underperformers") is asked in a sentence: any case
    expect_that(page.locator(BOT_MESSAGE).last).to_contain_text(re.compile(re.escape(drilled), re.IGNORECASE))
    page.screenshot(path=str(SHOTS / "panel-5-drilled.png"), full_page=True)
    print(f"screenshots: {SHOTS}")
