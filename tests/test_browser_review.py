"""The review queue, a review session, the story hint and the progress chart in headless Chromium, with
screenshots (screenshots/review-*.png) to look at."""

from __future__ import annotations

from interviewer.storybank import NO_DOCUMENTS
from tests.conftest import PROJECT_DIR
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.test_storybank import write_documents
from tests.test_web_review import launched  # noqa: F401  (the app with two past sessions)

SHOTS = PROJECT_DIR / "screenshots"


def test_review_story_and_progress_in_the_browser(browser, launched):  # noqa: F811
    from playwright.sync_api import expect

    demo = launched.demo
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(demo.local_url)
    page.get_by_text("Due for review").first.click()  # open the accordion
    page.get_by_role("button", name="Refresh the review queue").click()
    expect(page.get_by_text("axis: Cost (last: 2.0/5").first).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Start a review session").click()
    page.get_by_text("Question 1 of 2").first.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "review-1-queue-and-session.png"), full_page=True)

    page.get_by_role("button", name="Which of my stories fits?").click()
    expect(page.get_by_text(NO_DOCUMENTS[:40]).first).to_be_visible(timeout=30_000)
    write_documents(launched.settings.documents_dir)  # the candidate adds their stories
    page.get_by_role("button", name="Which of my stories fits?").click()
    expect(page.get_by_text("From your own documents").first).to_be_visible(timeout=60_000)
    page.screenshot(path=str(SHOTS / "review-2-story-hint.png"), full_page=True)

    page.get_by_role("tab", name="Past sessions").click()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_timeout(3000)
    page.screenshot(path=str(SHOTS / "review-3-progress.png"), full_page=True)
