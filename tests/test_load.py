"""Load: 20 interviews at once through gradio_client against one app on loopback.

Each client is its own `gradio_client.Client` (its own Gradio session and `gr.State`, as separate
browsers are) and answers with a token of its own; benchmarks/load.py drives them and checks that no
token, answer, question or session shows up anywhere but in its own client's interview. Kept light
for the default suite (short answers, four turns each); `benchmarks/load.py` runs the longer script
and prints the latency figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client

from benchmarks.load import app_concurrency, cross_talk, launched, run_against
from interviewer.grading.reference import warm_up
from interviewer.index import Index
from interviewer.session import replay

CLIENTS = 20
STEPS = ("answer", "answer", "skip", "end")  # an answer, its follow-up's answer, /skip, /end


@pytest.fixture(scope="module")
def app(corpus_index: Index, tmp_path_factory: pytest.TempPathFactory):
    warm_up(corpus_index)  # as app.py does before it launches
    concurrency = app_concurrency()
    with launched(corpus_index, tmp_path_factory.mktemp("load-sessions"), concurrency) as (url, interviewer):
        yield url, interviewer, concurrency


@pytest.mark.timeout(300)
def test_concurrent_interviews_have_no_errors_and_no_cross_talk(app):
    url, interviewer, concurrency = app
    report = run_against(url, interviewer, CLIENTS, STEPS, concurrency)
    figures = report.figures()
    print(figures)  # shown with -s: the latencies, for the record
    assert report.errors == []
    assert report.cross_talk == []
    assert figures["turns timed (excluding start)"] == CLIENTS * len(STEPS)
    assert report.follow_ups >= CLIENTS // 2  # the answers were probed, not just graded
    # The check is not vacuous: swap two clients' sessions and it sees the cross-talk.
    a, b = report.runs[0], report.runs[1]
    a.session_id, b.session_id = b.session_id, a.session_id
    problems = cross_talk(report.runs[:2], interviewer.log, interviewer.bank, set(interviewer.log.ids()))
    assert any(f"client {a.script.n}" in p for p in problems) and any(f"client {b.script.n}" in p for p in problems)


@pytest.mark.timeout(300)
def test_events_of_one_session_run_one_at_a_time(app):
    """Submit, then Skip and Submit again while the first answer is still being graded (what a user
    can click in a browser): each event acts on the state the previous one left, so the log stays a
    history one candidate could have produced."""
    url, interviewer, _ = app
    client = Client(url, verbose=False)
    for seed in range(3):
        out = client.predict("data-platform", "Senior EM", 3, 1, seed, api_name="/start")
        session_id = Path(out[3]).stem
        jobs = [  # all three are in flight at once
            client.submit("I owned the migration; p99 fell 80% in a quarter.", api_name="/answer"),
            client.submit(api_name="/skip"),
            client.submit("Cost rose 20%; we retired the old cluster to pay for it.", api_name="/answer"),
        ]
        for job in jobs:
            job.result(timeout=120)
        events = interviewer.log.read(session_id)
        positions = [e.get("index", e.get("to")) for e in events if e["type"] in ("asked", "answered", "skipped")]
        assert positions == sorted(positions), f"events went back to an earlier question: {events}"
        state = replay(session_id, events)
        assert all(len(ex.follow_ups) <= 1 for ex in state.exchanges)
        assert sum(len(ex.answers) for ex in state.exchanges) == 2
