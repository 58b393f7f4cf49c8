"""The practice app launched on loopback and driven through gradio_client, as a user would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gradio_client import Client

from interviewer.assemble import make_grader
from interviewer.corpus import question_bank
from interviewer.index import Index
from interviewer.interview import Interviewer
from interviewer.session_log import SessionLog
from interviewer.web import Handlers, build_app
from tests.test_session import FOLLOW_UP_ANSWER, STRONG


def content_of(message: dict) -> str:
    """A chat message's content (Gradio 6 returns content as a list of typed parts)."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


SPEAKER_HEADER = re.compile(r"^\*\*(?P<name>[^*\n]+)\*\* · (?P<role>[^\n]+)\n\n")


def speaker_of(message: dict) -> str | None:
    """The panel interviewer named above a message ("**Priya Raman** · Hiring manager"), if any."""
    match = SPEAKER_HEADER.match(content_of(message))
    return match.group("name") if match else None


def said(message: dict) -> str:
    """What a message says, without the line naming the interviewer who says it."""
    return SPEAKER_HEADER.sub("", content_of(message), count=1)


@pytest.fixture(scope="module")
def launched(corpus_index: Index, tmp_path_factory: pytest.TempPathFactory):
    settings = corpus_index.settings
    bank, _ = question_bank(settings)
    log = SessionLog(tmp_path_factory.mktemp("web-sessions"))
    interviewer = Interviewer(bank, make_grader(corpus_index, None), log)
    demo = build_app(settings, corpus_index, interviewer)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name="127.0.0.1", server_port=None, share=False, prevent_thread_lock=True, quiet=True)
    try:
        yield demo
    finally:
        demo.close()


def test_full_offline_interview_through_the_api(launched):
    client = Client(launched.local_url, verbose=False)
    # gr.State (the session id) stays on the server, per client session: the API returns the rest.
    chat, feedback, debrief, transcript, box = client.predict("data-platform", "Senior EM", 3, 1, 5, api_name="/start")
    assert said(chat[-1]).startswith("Question 1 of 3")
    for _n in range(3):
        chat, feedback, debrief, transcript, box = client.predict(STRONG, api_name="/answer")
        # The box was cleared on the first streamed update; the last update leaves it alone.
        assert "Follow-up:" in said(chat[-1]) and box in ("", {"__type__": "update"})
        chat, feedback, debrief, transcript, box = client.predict(FOLLOW_UP_ANSWER, api_name="/answer")
        assert "Decision:" in feedback and "Per-axis scores" in feedback and "STAR" in feedback
    assert "## Debrief" in debrief and "**Decision**" in debrief
    text = Path(transcript).read_text()
    assert text.count(STRONG) == 3 and "### Feedback" in text and "Debrief" in text


def test_sessions_are_isolated_and_text_is_escaped(launched):
    alice, bob = Client(launched.local_url, verbose=False), Client(launched.local_url, verbose=False)
    a = alice.predict("leadership", "EM", 2, 0, 1, api_name="/start")
    b = bob.predict("azure-databricks", "Associate Director", 2, 0, 2, api_name="/start")
    assert said(a[0][-1]) != said(b[0][-1])  # different tracks, different first questions
    attack = "<script>alert('x')</script> I owned the incident review and we cut MTTR by 40%."
    a = alice.predict(attack, api_name="/answer")
    b = bob.predict("/repeat", api_name="/answer")
    assert all(attack not in said(m) for m in b[0])  # Bob never sees Alice's words
    assert any("&lt;script&gt;" in said(m) for m in a[0]) and not any("<script>" in said(m) for m in a[0])
    assert "<script>" not in a[1]


def test_empty_answer_is_refused_and_kept(launched):
    client = Client(launched.local_url, verbose=False)
    client.predict("leadership", "EM", 1, 0, 3, api_name="/start")
    _chat, feedback, _, _, box = client.predict("   ", api_name="/answer")
    assert "empty answer" in feedback.lower() and box == "   "


def test_an_answer_after_the_end_is_refused_in_words_and_kept_in_the_box(launched):
    # Walkthrough: after the last question was skipped, Submit showed "**this interview has ended;
    # start a new one**", asterisks and all, in the HTML feedback panel.
    client = Client(launched.local_url, verbose=False)
    client.predict("leadership", "EM", 1, 0, 3, api_name="/start")
    client.predict("/skip", api_name="/answer")
    late = "One more thing I wanted to add about my team."
    _chat, feedback, _, _, box = client.predict(late, api_name="/answer")
    assert "This interview has ended" in feedback and "still in the answer box" in feedback
    assert "**" not in feedback and box == late


def test_upload_of_a_bad_file_among_good_ones_changes_nothing(launched, corpus_index: Index, tmp_path: Path):
    from gradio_client import handle_file

    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\n## How do you run incident reviews?\n\nBlameless, within 48 hours.\n", encoding="utf-8")
    bad = tmp_path / "archive.md"
    bad.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)  # a zip wearing a .md name
    before = corpus_index.count()
    documents = corpus_index.settings.home / "documents"
    listed = sorted(p.name for p in documents.iterdir()) if documents.exists() else []
    client = Client(launched.local_url, verbose=False)
    message = client.predict([handle_file(str(good)), handle_file(str(bad))], api_name="/upload")
    assert "Nothing was added; the index is unchanged." in message and "archive" in message
    assert corpus_index.count() == before
    assert (sorted(p.name for p in documents.iterdir()) if documents.exists() else []) == listed


def test_skip_and_end_buttons_with_a_follow_up_pending_show_the_grade(launched):
    client = Client(launched.local_url, verbose=False)
    client.predict("data-platform", "Senior EM", 3, 1, 7, api_name="/start")
    chat, feedback, *_ = client.predict(STRONG, api_name="/answer")
    assert "Follow-up:" in said(chat[-1]) and "Decision:" not in feedback  # a follow-up is pending
    chat, feedback, debrief, transcript, box = client.predict(api_name="/skip")
    assert "Decision:" in feedback and "Per-axis scores" in feedback  # the answer given is graded
    assert "You moved on with 1 follow-up unanswered; graded on the 1 answer given." in feedback
    assert said(chat[-2]) == "(moved on to the next question)" and said(chat[-1]).startswith("Question 2 of 3")
    assert box == {"__type__": "update"}  # a button never clears what is being typed in the box
    chat, _, _, _, box = client.predict(api_name="/clarify")
    assert box == {"__type__": "update"}
    chat, _, _, _, _ = client.predict(api_name="/repeat")
    assert said(chat[-1]).startswith("Question 2 of 3")  # the question, not the clarification
    client.predict(STRONG, api_name="/answer")
    chat, feedback, debrief, transcript, box = client.predict(api_name="/end")
    assert "The interview ended with 1 follow-up unanswered" in feedback
    assert "2 of 3 questions answered and graded" in debrief and "Skipped" not in debrief
    assert "(moved on before the follow-ups; graded on what was said)" in debrief
    assert "(the interview ended before the follow-ups; graded on what was said)" in debrief
    text = Path(transcript).read_text()
    assert text.count(STRONG) == 2 and text.count("### Feedback") == 2


def test_a_failed_grade_is_a_note_in_the_chat_and_resume_grades_it(corpus_index: Index, tmp_path: Path):
    """Through the Handlers, with the scripted grader: Skip while grading raises, then Resume."""
    from tests.test_commands import ANSWER, ScriptedGrader

    bank, _ = question_bank(corpus_index.settings)
    grader = ScriptedGrader()
    h = Handlers(corpus_index.settings, corpus_index, Interviewer(bank, grader, SessionLog(tmp_path)))
    *_, started = h.start("leadership", "EM", 2, 1, 1)
    session_id = started[4]
    list(h.submit(session_id, ANSWER))  # a follow-up is pending
    grader.failing = RuntimeError("disk full")
    chat, feedback, *_ = list(h.submit(session_id, "/skip", keep_box=True))[-1]
    assert "could not be graded (RuntimeError)" in chat[-2]["content"] and "Question 2 of 2" in chat[-1]["content"]
    assert "Decision:" not in feedback
    grader.failing = None
    chat, feedback, *_ = h.resume(session_id)
    assert "Decision: Hire" in feedback and "You moved on with 1 follow-up unanswered" in feedback
    assert "Question 2 of 2" in chat[-1]["content"]  # resuming does not move the interview on
