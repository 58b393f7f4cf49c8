"""`interviewer practice` from a pipe, and a kill -9 mid-interview followed by a resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from interviewer.index import Index
from tests.test_session import FOLLOW_UP_ANSWER, STRONG


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "INTERVIEWER_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def cli() -> list[str]:
    return [sys.executable, "-m", "interviewer.cli"]


def practice_two_leadership_questions(home: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`interviewer practice` over two leadership questions with one follow-up each, fed `script`."""
    return subprocess.run(
        [*cli(), "practice", "--track", "leadership", "--questions", "2", "--follow-ups", "1"],
        input=script,
        capture_output=True,
        text=True,
        env=env_for(home),
        timeout=300,
    )


def test_scripted_practice_prints_the_decision(corpus_index: Index):
    home = corpus_index.settings.home
    script = f"{STRONG}\n\n{FOLLOW_UP_ANSWER}\n\n/skip\n"
    out = practice_two_leadership_questions(home, script)
    assert out.returncode == 0, out.stderr
    assert "Question 1 of 2" in out.stdout and "Follow-up" not in out.stderr
    last = [line for line in out.stdout.splitlines() if line.startswith("Decision: ")]
    assert len(last) == 1 and last[0].split(": ", 1)[1] in (
        "Strong Hire",
        "Hire",
        "Lean Hire",
        "Lean No Hire",
        "No Hire",
    )


def test_a_command_on_its_own_line_ends_the_answer_and_acts_at_once(corpus_index: Index):
    """ "/end" typed on the line after an answer, with no blank line between: the answer is graded and
    the interview ends there. The command is not taken for words of the answer, and stdin holds nothing
    more, so a run that waited for a blank line would end at EOF instead and fail the checks below."""
    home = corpus_index.settings.home
    out = practice_two_leadership_questions(home, f"{STRONG}\n/end\n")
    assert out.returncode == 0, out.stderr
    assert "Question 1 of 2" in out.stdout and "Question 2 of 2" not in out.stdout
    assert out.stdout.count("Feedback:") == 1  # the answer was graded, once
    assert "/end" not in out.stdout.split("Feedback:", 1)[1]  # and "/end" is not part of what was graded
    # The follow-up the answer drew is not put to a candidate who has just said /end.
    assert out.stdout.count("Interviewer:") == 1, out.stdout[:3000]
    assert re.search(r"1 of [12] questions answered", out.stdout), out.stdout[-2000:]


def test_kill_9_mid_interview_then_resume_keeps_every_answer(corpus_index: Index):
    home = corpus_index.settings.home
    proc = subprocess.Popen(
        [*cli(), "practice", "--track", "star-pillars", "--questions", "3", "--follow-ups", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env_for(home),
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(f"{STRONG}\n\n")
    proc.stdin.flush()
    session_id = ""
    deadline = time.time() + 120
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("Session "):
            session_id = line.split()[1].rstrip(".")
        if "Interviewer:" in line and len([x for x in lines if "Interviewer:" in x]) >= 2:
            break  # the follow-up was asked, so the first answer is in the log
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert session_id
    exported = subprocess.run(
        [*cli(), "sessions", "--export", session_id, "--format", "json"],
        capture_output=True,
        text=True,
        env=env_for(home),
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    assert STRONG in exported.stdout


def test_skip_and_end_mid_follow_up_grade_what_was_answered(corpus_index: Index):
    """/skip with a follow-up pending, then /end with the next follow-up pending: both answers graded."""
    home = corpus_index.settings.home
    script = f"{STRONG}\n\n  /Skip\n{STRONG}\n\n/END\n"
    out = subprocess.run(
        [*cli(), "practice", "--track", "leadership", "--questions", "3", "--follow-ups", "1", "--seed", "4"],
        input=script,
        capture_output=True,
        text=True,
        env=env_for(home),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    printed = " ".join(out.stdout.split())  # rich wraps long lines at the pipe's width
    assert printed.count("Feedback:") == 2  # one per answered question, printed as it was graded
    assert "moved on with 1 follow-up unanswered" in printed
    assert "The interview ended with 1 follow-up unanswered" in printed
    # The terminal renders the Markdown: no raw markup, no HTML entities, no backslash escapes.
    assert "**" not in printed and "## " not in printed and not re.search(r"&(?:quot|amp|lt|gt|#x?[0-9a-f]+);", printed)
    assert "\\[" not in printed and "\\#" not in printed
    debrief = printed[printed.index("Debrief") :]
    assert "2 of 3 questions answered and graded" in debrief and "1 question(s) not reached" in debrief
    per_question = debrief[debrief.index("Per question") : debrief.index("Axis")]
    assert "(moved on before the follow-ups; graded on what was said)" in per_question
    assert "(the interview ended before the follow-ups; graded on what was said)" in per_question
    assert "— skipped" not in per_question and per_question.count("not reached") == 1
    assert "Skipped" not in debrief
    session_id = next(line.split()[1].rstrip(".") for line in out.stdout.splitlines() if line.startswith("Session "))
    exported = subprocess.run(
        [*cli(), "sessions", "--export", session_id, "--format", "json"],
        capture_output=True,
        text=True,
        env=env_for(home),
        timeout=120,
    )
    state = json.loads(exported.stdout)
    assert [ex["answers"] for ex in state["exchanges"]] == [[STRONG], [STRONG], []]
    assert [ex["moved_on"] for ex in state["exchanges"]] == [True, False, False]
    assert [ex["grade"] is not None for ex in state["exchanges"]] == [True, True, False]
