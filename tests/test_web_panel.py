"""The panel and the drill picker in the app: who is speaking, drilling a bank question or your own."""

from __future__ import annotations

from pathlib import Path

from gradio_client import Client

from interviewer.corpus import question_bank
from interviewer.index import Index
from interviewer.interview import Interviewer
from interviewer.panel import panel
from interviewer.session_log import SessionLog
from interviewer.web import OWN_QUESTION, Handlers
from tests.test_panel import ANSWER, FOLLOW_UP, PanelGrader, Script
from tests.test_session import FOLLOW_UP_ANSWER, STRONG
from tests.test_web import launched, said, speaker_of  # noqa: F401  (the launched app fixture)


def names(*ids: str) -> list[str]:
    return [p.name for i in ids if (p := panel().get(i)) is not None]


def test_drill_a_bank_question_through_the_api(launched, corpus_index: Index):  # noqa: F811
    bank, _ = question_bank(corpus_index.settings)
    question = next(q for q in bank if q.has_model_answer and q.track == "leadership")
    client = Client(launched.local_url, verbose=False)
    chat, feedback, *_ = client.predict(question.id, "", "Senior EM", 1, api_name="/drill")
    assert said(chat[-1]) == f"Question 1 of 1: {question.text}"
    assert speaker_of(chat[-1]) == names("hiring_manager")[0]
    assert "drilling one question, from the bank" in feedback
    chat, *_ = client.predict(STRONG, api_name="/answer")
    assert "Follow-up:" in said(chat[-1]) and speaker_of(chat[-1]) in names(*[p.id for p in panel().interviewers])
    chat, feedback, debrief, transcript, _ = client.predict(FOLLOW_UP_ANSWER, api_name="/answer")
    assert "Decision:" in feedback and "## Panel" in debrief and "**Panel decision**" in debrief
    for person in panel().interviewers:  # three write-ups, one per interviewer
        assert f"### {person.name} · {person.role}" in debrief
    text = Path(transcript).read_text()
    assert f"**{names('hiring_manager')[0]} (Hiring manager):**" in text  # the transcript names the speaker


def test_drill_your_own_question_and_the_refusals(launched):  # noqa: F811
    client = Client(launched.local_url, verbose=False)
    _, feedback, *_ = client.predict(OWN_QUESTION, "  ", "EM", 0, api_name="/drill")
    assert "Type your own question first." in feedback
    own = "What would you cut first from a platform roadmap <b>half</b> funded?"
    chat, feedback, *_ = client.predict(OWN_QUESTION, own, "EM", 0, api_name="/drill")
    assert (
        said(chat[-1])
        == "Question 1 of 1: What would you cut first from a platform roadmap &lt;b&gt;half&lt;/b&gt; funded?"
    )
    assert "your own question" in feedback


def test_the_panel_view_marks_who_is_speaking(corpus_index: Index, tmp_path: Path):
    bank, _ = question_bank(corpus_index.settings)
    grader = PanelGrader()
    h = Handlers(corpus_index.settings, corpus_index, Interviewer(bank, grader, SessionLog(tmp_path)))
    question = next(q for q in bank if q.track == "leadership")
    grader.scripts = {question.id: Script(gap="axis:reliability", decision="Hire")}
    *_, started = h.drill(question.id, "", "Senior EM", 1)
    session_id = started[4]

    def speaking() -> list[str]:
        html = h.now_speaking(session_id)
        return [p.id for p in panel().interviewers if f"class='who speaking' data-interviewer='{p.id}'" in html]

    assert speaking() == ["hiring_manager"]  # asks the question
    *_, after = h.submit(session_id, ANSWER)
    assert speaking() == ["technical_peer"]  # follows up on reliability, which the peer owns
    assert speaker_of(after[0][-1]) == names("technical_peer")[0]
    list(h.submit(session_id, FOLLOW_UP))
    assert speaking() == []  # the interview has ended
    assert h.now_speaking("") == h.now_speaking("no-such-session")
