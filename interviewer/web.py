"""The Gradio practice app. Handlers are plain functions and generators over an `Interviewer`.

Each browser session keeps only its session id in `gr.State`; all interview state lives in that
session's event log, so two users never share mutable state and a restarted server resumes any
session by id. Everything a candidate or a document wrote is HTML-escaped before it is shown.
"""

from __future__ import annotations

import html
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from interviewer import web_review
from interviewer.debrief import render as render_debrief
from interviewer.documents import DocumentError
from interviewer.files import write_atomically
from interviewer.grading.grade import Grade
from interviewer.grading.rubric import rubric
from interviewer.index import Index
from interviewer.interview import Interviewer, InterviewError
from interviewer.panel import panel
from interviewer.questions import FREE_TRACK, Question
from interviewer.session import LEVELS, MIXED, SessionConfig, SessionState, replay_all
from interviewer.settings import Settings
from interviewer.transcript import to_json, to_markdown

Chat = list[dict[str, str]]
STREAM_STEP_WORDS = 4
OWN_QUESTION = "__own__"  # the drill picker's "ask me my own question"


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def notice(text: str) -> str:
    """A message for the feedback panel, as a sentence. The panel is HTML: Markdown's ** showed as
    asterisks there ("**this interview has ended; start a new one**")."""
    sentence = text[:1].upper() + text[1:]
    sentence += "" if sentence.endswith((".", "!", "?")) else "."
    return f'<p class="notice"><strong>{esc(sentence)}</strong></p>'


_LABELS = {"follow_up": "Follow-up: ", "story": "Story bank: "}


def chat_messages(state: SessionState) -> Chat:
    out: Chat = []
    for turn in state.transcript:
        if turn.role == "interviewer":
            label = {"follow_up": "Follow-up: ", "clarify": "", "repeat": "", "story": "Story bank: "}.get(
                turn.kind, ""
            )
            out.append({"role": "assistant", "content": speaker_header(turn.speaker) + esc(label + turn.text)})
        else:
            out.append({"role": "user", "content": esc(turn.text)})
    return out


# --- the panel: who is speaking ------------------------------------------------------------------


def speaker_header(speaker: str | None) -> str:
    """The line above an interviewer's message naming who asks it; none for logs before the panel."""
    person = panel().get(speaker)
    return f"**{esc(person.name)}** · {esc(person.role)}\n\n" if person else ""


def panel_html(state: SessionState | None) -> str:
    """The three interviewers, what each owns, and who is speaking now (the last interviewer turn)."""
    speaking = (
        next((t.speaker for t in reversed(state.transcript) if t.role == "interviewer" and t.speaker), None)
        if state is not None and not state.ended
        else None
    )
    cards = []
    for person in panel().interviewers:
        owns = ", ".join(rubric().axis(a).name for a in person.owns)
        now = person.id == speaking
        badge = "<span class='now'>speaking</span>" if now else ""
        cards.append(
            f"<div class='who{' speaking' if now else ''}' data-interviewer='{person.id}'>"
            f"<b>{esc(person.name)}</b> {badge}<br><span class='role'>{esc(person.role)}</span>"
            f"<br><span class='owns'>owns {esc(owns)}</span></div>"
        )
    return f"<div class='panel'>{''.join(cards)}</div>"


def axis_bars(grade: Grade) -> str:
    rows = []
    for axis in grade.axes:
        if axis.score is None:
            bar = '<span class="na">not enough evidence</span>'
        else:
            bar = f'<span class="bar" style="width:{axis.score * 20}%">{axis.score}/5</span>'
        rows.append(f"<tr><td>{esc(axis.name)}</td><td class='track'>{bar}</td></tr>")
    return f"<table class='axes'>{''.join(rows)}</table>"


def feedback_html(grade: Grade, index: Index, question: str, notes: list[str]) -> str:
    """The per-answer feedback panel: decision, axis chart, STAR, evidence, missed points with sources."""
    star = "".join(
        f"<li class='{'yes' if c.present else 'no'}'>{esc(c.name)}: {'present' if c.present else 'missing'}</li>"
        for c in grade.star
    )
    quotes = "".join(f"<li>“{esc(q)}”</li>" for q in grade.quotes[:6]) or "<li>(no quotable evidence)</li>"
    flags = f"<p class='flags'>Flags: {esc(', '.join(grade.flags))}</p>" if grade.flags else ""
    caps = "".join(f"<li>{esc(c)}</li>" for c in grade.caps)
    passages = index.get_chunks([p.chunk_id for p in grade.missed_points])
    missed = []
    for point in grade.missed_points[:6]:
        hit = passages.get(point.chunk_id)
        source = (
            f"<details><summary>cited passage: {esc(hit.heading)}</summary><pre>{esc(hit.text)}</pre>"
            f"<code>{esc(hit.id)}</code></details>"
            if hit
            else ""
        )
        missed.append(f"<li>{esc(point.text)}{source}</li>")
    strengths = "".join(f"<li>{esc(p.text)}</li>" for p in grade.strengths) or "<li>(none)</li>"
    risks = "".join(f"<li>{esc(p.text)}</li>" for p in grade.risks) or "<li>(none)</li>"
    note_html = "".join(f"<p class='note'>Note: {esc(n)}</p>" for n in notes)
    return (
        f"<div class='feedback'><h3>Decision: {esc(grade.decision)}</h3>"
        f"<p class='q'>{esc(question)}</p><p>{esc(grade.summary)}</p>{flags}{note_html}"
        f"{'<ul class=caps>' + caps + '</ul>' if caps else ''}"
        f"<h4>Per-axis scores</h4>{axis_bars(grade)}"
        f"<h4>STAR</h4><ul class='star'>{star}</ul>"
        f"<h4>Your words (evidence)</h4><ul>{quotes}</ul>"
        f"<h4>Strengths</h4><ul>{strengths}</ul><h4>Risks / concerns</h4><ul>{risks}</ul>"
        f"<h4>Missed key points of the model answer</h4><ul>{''.join(missed) or '<li>(none)</li>'}</ul>"
        f"<p class='engine'>Graded by: {esc(grade.engine)}</p></div>"
    )


CSS = """
.axes td { padding: 2px 8px; } .axes .track { width: 260px; }
.axes .bar { display: inline-block; background: #4f7cff; color: white; border-radius: 3px; padding: 0 4px; }
.axes .na { color: #888; font-style: italic; } .feedback .note { color: #a15c00; }
.feedback pre { white-space: pre-wrap; font-size: 12px; }
.star .yes { color: #1a7f37; } .star .no { color: #b42318; font-weight: 600; }
.panel { display: flex; gap: 8px; } .panel .who { flex: 1; border: 1px solid #ccc; border-radius: 6px; padding: 6px; }
.panel .who.speaking { border: 2px solid #4f7cff; background: #eef2ff; }
.panel .now { background: #4f7cff; color: white; border-radius: 3px; padding: 0 4px; font-size: 11px; }
.panel .role, .panel .owns { color: #555; font-size: 12px; }
"""


class Handlers:
    """What the UI calls. Stateless apart from the shared read-only index and question bank."""

    def __init__(self, settings: Settings, index: Index, interviewer: Interviewer):
        self.settings = settings
        self.index = index
        self.interviewer = interviewer
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _session_lock(self, session_id: str) -> threading.Lock:
        """One lock per session id. Gradio runs events of one session concurrently (Submit, then Skip
        while the answer is still being graded; two tabs resumed on one id), and each event replays
        the log and appends to it, so without this both would act on the same state and interleave
        their events (two answers to one exchange, a follow-up asked after the next question)."""
        with self._locks_guard:
            return self._locks.setdefault(session_id, threading.Lock())

    def _state(self, session_id: str) -> SessionState:
        return self.interviewer.resume(session_id)

    def _views(self, state: SessionState) -> tuple[str, str, str | None]:
        latest = next((e for e in reversed(state.exchanges) if e.grade is not None), None)
        feedback = (
            feedback_html(latest.grade, self.index, latest.question.text, latest.notes)
            if latest is not None and latest.grade is not None
            else "Feedback appears here after each question."
        )
        debrief = render_debrief(state.debrief, for_html=True) if state.debrief else ""
        return feedback, debrief, self._transcript_file(state)

    def _transcript_file(self, state: SessionState) -> str:
        out = Path(tempfile.gettempdir()) / "interviewer-transcripts"
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        out.chmod(0o700)  # a candidate's answers: not readable by other users of a shared machine
        path = out / f"{state.id}.md"
        write_atomically(path, to_markdown(state).encode("utf-8"))  # two events of one session may stream at once
        write_atomically(out / f"{state.id}.json", to_json(state).encode("utf-8"))
        return str(path)

    def start(self, track: str, level: str, questions: float, follow_ups: float, seed: float) -> Iterator[tuple]:
        config = SessionConfig(
            track=track,
            level=level,
            questions=int(questions),
            follow_ups=int(follow_ups),
            seed=int(seed),
            backend=self.settings.backend,
        )
        try:
            state = self.interviewer.start(config)
        except InterviewError as exc:
            yield [], notice(str(exc)), "", None, "", gr.update()
            return
        yield from self._stream(state, previous=0, status=f"Session {state.id} started.")

    # --- drill one question and the panel view (see _drill_picker) -----------------------------

    def drill(self, choice: str | None, own: str, level: str, follow_ups: float) -> Iterator[tuple]:
        """Start a one-question session: a bank question picked by id, or the candidate's own text."""
        question = own if choice in (None, "", OWN_QUESTION) else choice
        if not (question or "").strip():
            message = "Type your own question first." if choice == OWN_QUESTION else "Pick a question first."
            yield gr.update(), notice(message), gr.update(), gr.update(), gr.update(), gr.update()
            return
        config = SessionConfig(
            level=level, follow_ups=int(follow_ups), backend=self.settings.backend, question=question
        )
        try:
            state = self.interviewer.start(config)
        except InterviewError as exc:
            yield gr.update(), notice(str(exc)), gr.update(), gr.update(), gr.update(), gr.update()
            return
        drilled = state.exchanges[0].question
        how = "your own question" if drilled.track == FREE_TRACK else f"from the bank ({esc(drilled.source)})"
        yield from self._stream(state, previous=0, status=f"Session {state.id}: drilling one question, {how}.")

    def now_speaking(self, session_id: str) -> str:
        if not session_id:
            return panel_html(None)
        try:
            return panel_html(self._state(session_id))
        except (KeyError, ValueError):
            return panel_html(None)

    def submit(self, session_id: str, text: str, keep_box: bool = False) -> Iterator[tuple]:
        """`keep_box`: a button's command (Skip, Repeat, Clarify, End) leaves what the candidate is
        typing in the answer box alone; Submit clears it, since its text is now in the log."""
        box: Any = gr.update() if keep_box else text  # a button's command is not the candidate's text
        if not session_id:
            yield (
                gr.update(),
                notice("Start an interview first (Setup above)."),
                gr.update(),
                gr.update(),
                session_id,
                box,
            )
            return
        refused: InterviewError | None = None
        with self._session_lock(session_id):  # released before the first yield: see _session_lock
            state = self._state(session_id)
            before = len(state.transcript)
            try:
                state = self.interviewer.submit(state, text)
            except InterviewError as exc:
                refused = exc
        if refused is not None:
            # Nothing is lost: the text stays in the box and the log is unchanged.
            message = notice(str(refused))
            if text.strip() and not keep_box:
                message += notice("Your text is still in the answer box")
            yield chat_messages(state), message, gr.update(), gr.update(), session_id, box
            return
        yield from self._stream(state, previous=before, status="", keep_box=keep_box)

    def _stream(self, state: SessionState, previous: int, status: str, keep_box: bool = False) -> Iterator[tuple]:
        """Show new interviewer turns a few words at a time, then the final views.

        The answer box is cleared once, on the first update; later updates leave it alone, so text the
        candidate starts typing while a turn is still streaming is never erased.
        """
        feedback, debrief, transcript = self._views(state)
        messages = chat_messages(state)
        new = [i for i, t in enumerate(state.transcript) if i >= previous and t.role == "interviewer"]
        box: Any = gr.update() if keep_box else ""
        if new:
            last = new[-1]
            words = messages[last]["content"].split(" ")
            for n in range(STREAM_STEP_WORDS, len(words), STREAM_STEP_WORDS):
                partial = [*messages[:last], {"role": "assistant", "content": " ".join(words[:n])}]
                yield partial, status or feedback, debrief, None, state.id, box
                box = gr.update()
        yield messages, (status + "\n\n" if status else "") + feedback, debrief, transcript, state.id, box

    def resume(self, session_id: str) -> tuple:
        try:
            state = self._state(session_id.strip())
        except (KeyError, ValueError):
            return [], f"No session {esc(session_id)}.", "", None, "", ""
        with self._session_lock(state.id):  # grades what the last run left ungraded: see catch_up
            state = self.interviewer.catch_up(self._state(state.id))
        feedback, debrief, transcript = self._views(state)
        return chat_messages(state), feedback, debrief, transcript, state.id, ""

    def past_sessions(self) -> tuple[list[list[Any]], list[list[Any]]]:
        log = self.interviewer.log
        rows, progress = [], []
        for s in replay_all(log):
            decision = s.debrief["decision"] if s.debrief else "(in progress)"
            rows.append([s.id, s.config.track, s.config.level, f"{len(s.graded)}/{len(s.exchanges)}", decision])
            if s.debrief:
                axes = s.debrief["per_axis"]
                progress.append([s.id, *[axes.get(a.name) for a in rubric().axes]])
        return rows, progress

    def upload(self, files: list[str] | None) -> str:
        if not files:
            return "Choose one or more .md or .txt files first."
        try:  # all the files or none, in the documents folder and the index alike
            report = self.index.add_user_documents([Path(f) for f in files])
        except DocumentError as exc:
            lines = str(exc).splitlines()
            return "Nothing was added; the index is unchanged.\n\n" + "\n".join(f"- {esc(p)}" for p in lines)
        return (
            f"Added {len(report.added)}, updated {len(report.changed)} document(s); "
            f"embedded {report.chunks_embedded} chunks. They are searched alongside the corpus."
        )


def build_app(settings: Settings, index: Index, interviewer: Interviewer) -> gr.Blocks:
    h = Handlers(settings, index, interviewer)
    tracks = [MIXED, *sorted({q.track for q in interviewer.bank})]
    with gr.Blocks(title="Mock interviewer — engineering leadership") as demo:
        gr.HTML(f"<style>{CSS}</style>")
        gr.Markdown(
            "# Mock interviewer for engineering-leadership panels\n"
            "Answer as you would to a panel. Each question is probed with follow-ups on what your answer "
            "left out, then graded on the corpus's rubric (Scale, Reliability, Cost, Ownership, Evolution; STAR) "
            "with your own words as evidence and the model answer's missed points cited."
        )
        session_id = gr.State("")
        with gr.Tab("Interview"):
            with gr.Accordion("Setup", open=True):
                with gr.Row():
                    track = gr.Dropdown(tracks, value=MIXED, label="Track")
                    level = gr.Dropdown(list(LEVELS), value="Senior EM", label="Level")
                    n_questions = gr.Slider(1, 10, value=3, step=1, label="Questions")
                    n_follow = gr.Slider(0, 3, value=1, step=1, label="Follow-ups per question")
                    seed = gr.Number(value=0, precision=0, label="Seed (question order)")
                gr.Markdown(
                    f"Backend: **{esc(settings.backend)}** (set INTERVIEWER_BACKEND=openai:&lt;model&gt; to use an LLM)"
                )
                start = gr.Button("Start interview", variant="primary")
            review = web_review.review_panel(h)
            drill_inputs = _drill_picker(interviewer.bank)
            speaking = gr.HTML(panel_html(None), label="The panel")
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Interview", height=460)
                    answer = gr.Textbox(label="Your answer", lines=6, placeholder="Type your answer, then Submit.")
                    with gr.Row():
                        send = gr.Button("Submit answer", variant="primary")
                        skip = gr.Button("Skip question")
                        repeat = gr.Button("Repeat")
                        clarify = gr.Button("Clarify")
                        story = gr.Button("Which of my stories fits?")
                        end = gr.Button("End interview", variant="stop")
                with gr.Column(scale=2):
                    feedback = gr.HTML("Feedback appears here after each question.", label="Feedback")
            debrief = gr.Markdown()
            transcript = gr.File(label="Transcript (Markdown; JSON alongside)")
            with gr.Accordion("Resume a session", open=False):
                resume_id = gr.Textbox(label="Session id")
                resume_btn = gr.Button("Resume")
        outputs = [chat, feedback, debrief, transcript, session_id, answer]
        events = [
            start.click(h.start, [track, level, n_questions, n_follow, seed], outputs, api_name="start"),
            send.click(h.submit, [session_id, answer], outputs, api_name="answer"),
        ]
        commands = ((skip, "/skip"), (repeat, "/repeat"), (clarify, "/clarify"), (story, "/story"), (end, "/end"))
        for button, command in commands:
            events.append(
                button.click(
                    _command(h, command),
                    [session_id],
                    outputs,
                    api_name=command.strip("/"),
                )
            )
        events.append(resume_btn.click(h.resume, [resume_id], outputs, api_name="resume"))
        choice, own, drill_btn = drill_inputs
        events.append(drill_btn.click(h.drill, [choice, own, level, n_follow], outputs, api_name="drill"))
        for event in events:  # whoever is speaking is highlighted once the turn has been shown
            event.then(h.now_speaking, [session_id], speaking, api_visibility="private")
        web_review.wire_review(h, review, [level, n_questions, n_follow], outputs)
        with gr.Tab("Past sessions"):
            refresh = gr.Button("Refresh")
            sessions_table = gr.Dataframe(headers=["session", "track", "level", "answered", "decision"])
            progress_table = gr.Dataframe(
                headers=["session", *[a.name for a in rubric().axes]], label="Per-axis progress"
            )
            refresh.click(h.past_sessions, None, [sessions_table, progress_table], api_name="sessions")
            web_review.wire_progress(h, refresh, web_review.progress_plot(h))
        with gr.Tab("Your documents"):
            gr.Markdown("Add your STAR stories or a job description (.md or .txt). They are indexed beside the corpus.")
            files = gr.File(file_count="multiple", label="Documents")
            add = gr.Button("Add to index")
            upload_status = gr.Markdown()
            add.click(h.upload, [files], upload_status, api_name="upload")
        with gr.Tab("Search the corpus"):
            query = gr.Textbox(label="Search")
            results = gr.Markdown()
            query.submit(lambda q: search_markdown(index, q), query, results, api_name="search")
    return demo


def _drill_picker(bank: list[Question]) -> tuple[gr.Dropdown, gr.Textbox, gr.Button]:
    """Drill one question: any bank question (type to filter), or the candidate's own question.
    Level and follow-ups come from Setup."""
    choices = [("Ask me my own question…", OWN_QUESTION)]
    seen: set[str] = set()
    for q in sorted(bank, key=lambda q: (q.track, q.text.casefold())):
        if q.text.casefold() not in seen:  # the same question in two documents is listed once
            seen.add(q.text.casefold())
            choices.append((f"[{q.track}] {q.text}", q.id))
    with gr.Accordion("Drill one question", open=False):
        gr.Markdown("Retry a question you found hard, or bring your own: one question, its follow-ups, and a debrief.")
        with gr.Row():
            choice = gr.Dropdown(choices, value=OWN_QUESTION, label="Question", filterable=True, scale=3)
            own = gr.Textbox(label="Your own question", placeholder="Type a question the panel should ask you", scale=2)
        drill = gr.Button("Drill this question")
    return choice, own, drill


def _command(h: Handlers, command: str):
    def run(session_id: str) -> Iterator[tuple]:
        yield from h.submit(session_id, command, keep_box=True)

    return run


def search_markdown(index: Index, query: str) -> str:
    if not query.strip():
        return "Type something to search for."
    hits = index.search(query[:2000], k=5)
    return (
        "\n\n---\n\n".join(
            f"**{n}. {esc(h.heading)}** ({h.kind})\n\n{esc(' '.join(h.text.split())[:600])}\n\n`{h.id}`"
            for n, h in enumerate(hits, 1)
        )
        or "No hits."
    )
