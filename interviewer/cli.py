"""The `interviewer` command line. Settings are read here, once, and passed down.

Heavy libraries (torch, sentence-transformers, chromadb) are imported inside the commands that need
them, so `interviewer --help` and `interviewer questions` start in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interviewer.evals.commands import register as register_batch_evals
from interviewer.settings import Settings

if TYPE_CHECKING:  # the session module pulls in the grader's models: imported where practice runs
    from interviewer.index import Index
    from interviewer.interview import Interviewer
    from interviewer.questions import Question
    from interviewer.session import SessionState

app = typer.Typer(help="Mock interviewer for engineering-leadership panels (offline-first).", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate retrieval and grading against labelled files.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Your own documents to add (.md, .txt).")] = None,
) -> None:
    """Index the bundled corpus and your documents; only added or changed documents are embedded."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from interviewer.documents import DocumentError
    from interviewer.index import Index

    settings = _settings()
    # All or nothing: if any named document is refused, nothing is added and the index is untouched
    # (every file is checked before anything changes); if indexing fails later, the documents folder
    # and the index are put back as they were.
    failed = False
    index = Index(settings, notify=lambda message: err.print(f"[yellow]{escape(message)}[/yellow]"))
    problem: Exception | None = None
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task("embedding chunks", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            if paths:
                report = index.add_user_documents(list(paths), progress=on_progress)
            else:
                report = index.sync(progress=on_progress)
            from interviewer.profiles import profiles_for

            progress.update(task, description="question profiles")
            profiles_for(index)  # built now, so the app and the grader embed nothing at start-up
        except Exception as exc:  # the folder and the index were restored; say why, without a traceback
            problem = exc
    if problem is not None:
        if isinstance(problem, DocumentError):
            for message in str(problem).splitlines():
                err.print(f"[red]refused:[/red] {escape(message)}")
        else:
            err.print(f"[red]ingest failed:[/red] {escape(type(problem).__name__)}: {escape(str(problem))}")
        err.print("Nothing was added; the index is unchanged." if paths else "The index is as it was.")
        raise typer.Exit(1)
    for path in paths or []:
        console.print(f"added [bold]{escape(path.name)}[/bold] to your documents")
    for message in report.refused:
        failed = True
        err.print(f"[red]refused:[/red] {escape(message)}")
    console.print(
        f"added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)} documents; embedded {report.chunks_embedded} chunks; "
        f"{report.chunks_total} chunks in the index"
    )
    # Serving should need nothing more: with the ONNX backend the model is exported and verified
    # here if it is not yet (when chunks were embedded above, that already happened).
    from interviewer import embeddings

    try:
        embeddings.prepare()
    except Exception as exc:
        err.print(f"[red]embedding model export failed:[/red] {escape(type(exc).__name__)}: {escape(str(exc))}")
        err.print("The index is built; set INTERVIEWER_EMBEDDING_BACKEND=torch to serve with torch meanwhile.")
        raise typer.Exit(1) from None
    if failed:
        raise typer.Exit(1)


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 5,
    kind: Annotated[
        str | None, typer.Option(help="question, model_answer, rubric, feedback_example, star_story, guidance")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only this document (file name).")] = None,
    track: Annotated[str | None, typer.Option(help="Only this track.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print hits as JSON.")] = False,
) -> None:
    """Search the index and print ranked hits with ids, headings and scores."""
    from interviewer.index import MODES, Index

    if mode not in MODES:
        raise typer.BadParameter(f"mode must be one of {', '.join(MODES)}")
    index = Index(_settings())
    if index.count() == 0:
        err.print("The index is empty: run `interviewer ingest` first.")
        raise typer.Exit(1)
    hits = index.search(text, k, kind=kind, source=source, track=track, mode=mode)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps([h.model_dump() for h in hits]))
        return
    if not hits:
        console.print("No hits.")
    for rank, hit in enumerate(hits, 1):
        console.print(f"[bold]{rank}.[/bold] {hit.score:.4f}  [cyan]{escape(hit.id)}[/cyan]  ({hit.kind})")
        console.print(f"   [bold]{escape(hit.heading)}[/bold]")
        preview = " ".join(hit.text.split())[:220]
        console.print(f"   {escape(preview)}", highlight=False)


@app.command()
def questions(
    track: Annotated[str | None, typer.Option(help="Only this track (see the summary for names).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print questions as JSON.")] = False,
) -> None:
    """List the question bank extracted from the corpus and your documents."""
    from collections import Counter

    from interviewer.corpus import question_bank

    found, problems = question_bank(_settings(), track)
    for message in problems:
        err.print(f"[yellow]skipped:[/yellow] {escape(message)}")
    if as_json:
        print(json.dumps([q.model_dump() for q in found], ensure_ascii=False, indent=1))
        return
    table = Table("track", "question", "answer", "source", show_lines=False)
    for q in found:
        table.add_row(q.track, escape(q.text), "yes" if q.has_model_answer else "", q.source)
    console.print(table)
    per_track = Counter(q.track for q in found)
    console.print(f"{len(found)} questions: " + ", ".join(f"{t} {n}" for t, n in sorted(per_track.items())))


@eval_app.command("retrieval")
def eval_retrieval(
    file: Annotated[Path, typer.Argument(help="JSONL with id, query, expected_heading and/or answer_snippet.")],
    split: Annotated[str, typer.Option(help="Which cases: train, heldout or all (each line's `split` field).")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    misses: Annotated[bool, typer.Option(help="List the queries hybrid did not find in the top 5.")] = False,
) -> None:
    """Recall@1, Recall@5 and MRR@10 for hybrid and each retriever alone, overall and per document."""
    from interviewer.evals.retrieval import evaluate, load_cases, select
    from interviewer.index import Index

    cases, problems = load_cases(file)
    for message in problems:
        err.print(f"[yellow]skipped {escape(message)}[/yellow]")
    try:
        cases = select(cases, split)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--split") from None
    if not cases:
        err.print(f"No usable cases in the file (split: {split}).")
        raise typer.Exit(1)
    index = Index(_settings())
    if index.count() == 0:
        err.print("The index is empty: run `interviewer ingest` first.")
        raise typer.Exit(1)
    result = evaluate(index, cases)
    result["split"] = split
    if as_json:
        print(json.dumps(result, indent=1))
        return
    title = f"{result['cases']} queries from {file.name} (split: {split})"
    table = Table("retriever", "Recall@1", "Recall@5", "MRR@10", title=title)
    for mode, m in result["metrics"].items():
        table.add_row(mode, f"{m['recall@1']:.3f}", f"{m['recall@5']:.3f}", f"{m['mrr']:.3f}")
    console.print(table)
    modes = list(result["metrics"])
    per_doc = Table("document", "queries", *[f"{m} R@1/R@5" for m in modes], title="Per document")
    for doc, row in result["per_document"].items():
        cells = [f"{row[m]['recall@1']:.2f}/{row[m]['recall@5']:.2f}" for m in modes]
        per_doc.add_row(escape(doc or "(no doc)"), str(row["cases"]), *cells)
    console.print(per_doc)
    if misses:
        for row in result["per_case"]:
            if not row["hybrid"] or row["hybrid"] > 5:
                console.print(
                    f"miss {row['id']} ({escape(str(row['doc']))}): {escape(row['query'])}\n"
                    f"  expected {escape(str(row['expected']))}; got {escape(str(row['hybrid_top']))}"
                )


@app.command()
def serve() -> None:
    """Start the practice app on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (127.0.0.1:7860); builds the index if empty."""
    from interviewer.serve import main as serve_app

    serve_app(_settings())


def main() -> None:
    app()


def _read_answer(prompt_console: Console) -> list[str] | None:
    """What the candidate typed, as the submissions it makes: the lines until a blank line (or EOF),
    and a command typed on a line of its own ends the answer there and follows it ("...my answer",
    "/end": the answer is graded, then the interview ends; nothing typed is lost and the command is
    never taken for words of the answer). None at EOF with nothing typed."""
    import sys

    from interviewer.interview import command_of

    lines: list[str] = []
    while True:
        line = sys.stdin.readline()
        if not line:
            return ["\n".join(lines)] if lines else None
        if not line.strip():
            if lines:
                return ["\n".join(lines)]
            continue
        if command_of(line) is not None:
            return ["\n".join(lines), line.strip()] if lines else [line.strip()]
        lines.append(line.rstrip("\n"))


def _print_new_feedback(before: SessionState, after: SessionState) -> None:
    """The feedback of every exchange graded between two states (an answer, /skip, /end, a catch-up)."""
    from interviewer.grading.render import print_markdown, render_markdown

    for was, ex in zip(before.exchanges, after.exchanges, strict=True):
        if ex.grade is not None and was.grade is None:
            console.print(f"\n[bold]Feedback:[/bold] {ex.grade.decision}")
            print_markdown(render_markdown(ex.grade), console)
            for note in ex.notes:
                console.print(f"[yellow]note:[/yellow] {escape(note)}")


@app.command()
def practice(
    track: Annotated[str, typer.Option(help="mixed, or a track from `interviewer questions`.")] = "mixed",
    level: Annotated[str, typer.Option(help="EM, Senior EM, Director or Associate Director.")] = "Senior EM",
    n_questions: Annotated[int, typer.Option("--questions", min=1, max=10, help="How many questions.")] = 3,
    follow_ups: Annotated[int, typer.Option("--follow-ups", min=0, max=3, help="Follow-ups per question.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed for a reproducible question order.")] = 0,
    backend: Annotated[str | None, typer.Option(help="offline or openai:<model> (default from settings).")] = None,
    resume: Annotated[str | None, typer.Option(help="Resume the session with this id.")] = None,
    review: Annotated[
        bool, typer.Option("--review", help="Practise what is due for review (weak questions and axes).")
    ] = False,
    question: Annotated[
        str | None,
        typer.Option(
            help="Drill one question: a bank question's id (`interviewer questions --json`) or its text; "
            "text the bank does not have is asked as your own question."
        ),
    ] = None,
) -> None:
    """A mock interview in the terminal. An answer ends at a blank line; /skip, /repeat, /clarify, /story, /end.

    /skip after answering grades what you said and moves on; /end (or /quit, /exit, or end of input)
    grades the answer in progress, then prints the debrief. Commands are matched in any case.
    --question drills one question, to retry one you found hard."""
    from interviewer.assemble import build_interviewer
    from interviewer.debrief import render as render_debrief
    from interviewer.index import Index
    from interviewer.interview import InterviewError
    from interviewer.session import SessionConfig

    settings = _settings()
    index = Index(settings)
    if index.count() == 0:
        index.sync()
    interviewer = build_interviewer(settings, index, backend)
    if resume:
        # Whatever the last run left half done (a grade that failed, a crash mid-turn) is finished first.
        resumed = interviewer.resume(resume)
        state = interviewer.catch_up(resumed)
        _print_new_feedback(resumed, state)
    else:
        config = SessionConfig(
            track=track,
            level=level,
            questions=n_questions,
            follow_ups=follow_ups,
            seed=seed,
            backend=backend or settings.backend,
            question=question,
        )
        plan = None
        if review:
            plan = _review_plan(interviewer, index, n_questions)
            if plan is None:
                return
        try:
            state = interviewer.start(config, plan=plan)
        except InterviewError as exc:
            err.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(1) from None
    console.print(
        f"Session [bold]{state.id}[/bold]. End an answer with a blank line; /skip /repeat /clarify /story /end "
        "(any case; /skip and /end grade what you have answered)."
    )
    shown = 0

    def say_new_turns() -> int:
        for turn in state.transcript[shown:]:
            if turn.role == "interviewer":
                console.print(f"\n[bold cyan]Interviewer:[/bold cyan]{_speaker(turn.speaker)} {escape(turn.text)}")
        return len(state.transcript)

    import sys

    from interviewer.interview import command_of

    echo_commands = not sys.stdin.isatty()  # at a terminal the candidate's own typing is on screen
    while True:
        shown = say_new_turns()
        if state.ended:
            break
        console.print("[dim]Your answer:[/dim]")
        typed = _read_answer(console)
        for n, text in enumerate(typed if typed is not None else ["/end"]):
            if n:  # an answer and then a command on the next line
                # Moving on (/skip, /end): the follow-up the answer drew would be asked and dropped in
                # the same breath, so it is not shown (it stays in the transcript). /repeat, /clarify
                # and /story act on what the answer drew, so that is said first.
                moving_on = command_of(text) in ("skip", "end")
                shown = len(state.transcript) if moving_on else say_new_turns()
                if echo_commands:
                    console.print(f"[dim]{escape(text)}[/dim]")
            before = state
            try:
                state = interviewer.submit(state, text)
            except InterviewError as exc:
                err.print(f"[yellow]{escape(str(exc))}[/yellow]")
                break
            _print_new_feedback(before, state)
            if state.ended:
                break
    if state.debrief:
        from interviewer.grading.render import print_markdown

        print_markdown(render_debrief(state.debrief), console)
        print(f"Decision: {state.debrief['decision']}")
        _print_retries(state)
    console.print(f"Transcript: interviewer sessions --export {state.id}")


def _review_plan(interviewer: Interviewer, index: Index, limit: int) -> list[Question] | None:
    """The questions due for review (review.py), or None after saying that nothing is due."""
    from datetime import UTC, datetime

    from interviewer.profiles import profiles_for
    from interviewer.review import describe, due, nothing_due, review_plan, schedule
    from interviewer.session import replay_all

    now = datetime.now(UTC)
    items = schedule(replay_all(interviewer.log))
    queue = due(items, now)
    plan = review_plan(queue, interviewer.bank, profiles_for(index), limit) if queue else []
    if not plan:
        console.print(nothing_due(items, now))
        return None
    console.print("[bold]Due for review:[/bold]")
    for item in queue:
        console.print(f"- {escape(describe(item, now))}")
    return plan


def _speaker(speaker: str | None) -> str:
    """Who is speaking ("Priya Raman (Hiring manager) —"); nothing for a log from before the panel."""
    from interviewer.panel import panel

    person = panel().get(speaker)
    return f" [cyan]{escape(person.name)} ({escape(person.role)})[/cyan] —" if person else ""


def _print_retries(state: SessionState) -> None:
    """How to drill again each question that landed below Hire (or was skipped)."""
    import shlex

    from interviewer.grading.rubric import DECISIONS
    from interviewer.questions import FREE_TRACK

    for n, e in enumerate(state.exchanges, 1):
        if e.skipped or (e.grade is not None and e.grade.decision_index < DECISIONS.index("Hire")):
            key = e.question.text if e.question.track == FREE_TRACK else e.question.id
            console.print(f"Retry Q{n}: interviewer practice --question {escape(shlex.quote(key))}", highlight=False)


@app.command()
def sessions(
    export: Annotated[str | None, typer.Option(help="Print this session's transcript.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md or json (with --export).")] = "md",
) -> None:
    """Past sessions with their decisions, and per-axis progress over time."""
    from datetime import UTC, datetime

    from interviewer.assemble import session_log
    from interviewer.grading.rubric import rubric
    from interviewer.session import replay, replay_all
    from interviewer.transcript import to_json, to_markdown

    settings = _settings()
    log = session_log(settings)
    if export:
        state = replay(export, log.read(export))
        print(to_json(state) if fmt == "json" else to_markdown(state))
        return
    rows = replay_all(log)
    if not rows:
        console.print("No sessions yet: run `interviewer practice` or `make run`.")
        return
    table = Table("session", "started", "track", "level", "answered", "decision")
    for s in rows:
        started = datetime.fromtimestamp(s.started_at, UTC).strftime("%Y-%m-%d %H:%M")
        decision = s.debrief["decision"] if s.debrief else "(in progress)"
        table.add_row(s.id, started, s.config.track, s.config.level, f"{len(s.graded)}/{len(s.exchanges)}", decision)
    console.print(table)
    from interviewer.review import axis_progress, describe, due, nothing_due, schedule

    axis_names = [a.name for a in rubric().axes]
    progress = Table("session", "started", *axis_names, title="Per-axis progress (average score per session)")
    for row in axis_progress(rows):
        scores = [("–" if row[a] is None else f"{row[a]:.1f}") for a in axis_names]
        progress.add_row(row["session"], f"{row['started']:%Y-%m-%d %H:%M}", *scores)
    console.print(progress)
    now = datetime.now(UTC)
    items = schedule(rows)
    queue = due(items, now)
    if queue:
        console.print("[bold]Due for review[/bold] (interviewer practice --review):")
        for item in queue:
            console.print(f"- {escape(describe(item, now))}")
    else:
        console.print(nothing_due(items, now))


@app.command()
def grade(
    question: Annotated[str, typer.Option(help="The interview question (text from the question bank, or your own).")],
    answer_file: Annotated[Path, typer.Option(help="A text file with the answer to grade ('-' reads stdin).")],
    engine: Annotated[str, typer.Option(help="offline or openai:<model>.")] = "offline",
    level: Annotated[
        str | None,
        typer.Option(
            help="The level interviewed for: EM, Senior EM, Director or Associate Director (default Senior EM)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the typed grade as JSON.")] = False,
) -> None:
    """Grade one answer against the rubric at a level and print the feedback (or the typed grade)."""
    import sys

    from interviewer.assemble import make_grader
    from interviewer.grading.render import print_markdown, render_markdown
    from interviewer.index import Index
    from interviewer.llm import build_chat_model
    from interviewer.questions import Question

    if str(answer_file) == "-":
        text = sys.stdin.read()
    else:
        try:
            raw = answer_file.read_bytes()
        except OSError as exc:
            err.print(f"[red]cannot read {escape(str(answer_file))}: {escape(exc.strerror or str(exc))}[/red]")
            raise typer.Exit(1) from None
        if b"\x00" in raw:
            err.print(f"[red]{escape(answer_file.name)} looks like a binary file, not an answer[/red]")
            raise typer.Exit(1)
        text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        err.print("[red]the answer is empty[/red]")
        raise typer.Exit(1)
    settings = _settings()
    try:
        model = build_chat_model(engine, settings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    index = Index(settings)
    if index.count() == 0:
        index.sync()
    from interviewer.session import LEVELS

    if level is not None and level not in LEVELS:
        raise typer.BadParameter(f"level must be one of: {', '.join(LEVELS)}")
    stub = Question(id="cli", text=question, source="", section="", track="", origin="cli")
    result, notes = make_grader(index, model)(stub, text, level)  # type: ignore[arg-type]
    for note in notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")
    if as_json:
        print(result.model_dump_json(indent=1))
    else:
        print_markdown(render_markdown(result), console)


@eval_app.command("calibrate")
def eval_calibrate(
    file: Annotated[Path, typer.Argument(help="Labelled JSONL (id, question, answer, label, kind).")] = Path(
        "evals/grader_dev.jsonl"
    ),
) -> None:
    """Refit the offline grader on the dev set's train split; prints held-out and cross-validated figures."""
    from interviewer.grading import calibrate
    from interviewer.index import Index

    settings = _settings()
    index = Index(settings)
    if index.count() == 0:
        index.sync()
    report = calibrate(file, index)
    print(json.dumps(report, indent=1, default=str))


register_batch_evals(eval_app)  # eval grade | compare | robustness | corpus

if __name__ == "__main__":
    main()
