"""The app's memory through its API, as a browser would call it: the review queue, a review session from
what is due, the per-axis progress chart, and the story hint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from gradio_client import Client

from interviewer.corpus import question_bank
from interviewer.index import Index
from interviewer.interview import Interviewer
from interviewer.session_log import SessionLog
from interviewer.storybank import NO_DOCUMENTS, story_hint
from interviewer.web import build_app
from tests.test_review import Grader, clock_at, run_session
from tests.test_web import said


@pytest.fixture
def launched(corpus_index: Index, tmp_path, monkeypatch):
    settings = corpus_index.settings.model_copy(update={"home": tmp_path / "home"})  # no documents of its own
    bank, _ = question_bank(settings)
    grader = Grader()
    interviewer = Interviewer(
        bank, grader, SessionLog(tmp_path / "sessions"), story_hint=story_hint(settings, corpus_index)
    )
    failed, passed = bank[0], bank[1]
    for days_ago, decision, cost in ((5, "Hire", 3), (2, "Lean No Hire", 2)):  # two past sessions
        clock_at(monkeypatch, datetime.now(UTC) - timedelta(days=days_ago))
        grader.decisions = {failed.id: decision, passed.id: "Strong Hire"}
        grader.axes = {"cost": cost}
        run_session(interviewer, [failed, passed] if days_ago == 5 else [failed])
    monkeypatch.undo()
    demo = build_app(settings, corpus_index, interviewer)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name="127.0.0.1", server_port=None, share=False, prevent_thread_lock=True, quiet=True)
    try:
        yield SimpleNamespace(demo=demo, failed=failed, passed=passed, grader=grader, settings=settings)
    finally:
        demo.close()


def test_due_for_review_starts_a_session_of_what_is_due(launched):
    failed, passed, grader = launched.failed, launched.passed, launched.grader
    client = Client(launched.demo.local_url, verbose=False)
    queue = client.predict(api_name="/review_queue")
    assert queue.startswith(f"- question: {failed.text}")
    assert "axis: Cost (last: 2.0/5" in queue and passed.text not in queue  # Strong Hire 5 days ago: not yet

    # The failed question, then a question on the weak axis.
    chat, feedback, _debrief, _transcript, _box = client.predict("Senior EM", 3, 0, api_name="/review")
    assert "Review session" in feedback and "2 question(s) due" in feedback
    assert said(chat[-1]).startswith("Question 1 of 2:") and failed.text.rstrip("?.")[:30] in said(chat[-1])

    chat, *_ = client.predict("/story", api_name="/answer")
    assert said(chat[-1]) == "Story bank: " + NO_DOCUMENTS
    grader.decisions[failed.id] = "Hire"
    grader.axes = {"cost": 4}
    for _ in range(2):
        chat, feedback, debrief, *_ = client.predict(
            "I owned it and cut spend 28% in two quarters.", api_name="/answer"
        )
    assert "## Debrief" in debrief
    assert "Nothing is due for review now" in client.predict(api_name="/review_queue")


def test_progress_chart_has_a_point_per_session_and_axis(launched):
    client = Client(launched.demo.local_url, verbose=False)
    plot = client.predict(api_name="/progress")
    points = plot["value"]["data"] if "value" in plot else plot["data"]
    assert sorted(p[1:] for p in points) == [["Cost", 2.0], ["Cost", 3.0]]
