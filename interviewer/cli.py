"""The `interviewer` command line. Settings are read here, once, and passed down.

Heavy libraries (torch, sentence-transformers, chromadb) are imported inside the commands that need
them, so `interviewer --help` and `interviewer questions` start in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interviewer.settings import Settings

app = typer.Typer(help="Mock interviewer for engineering-leadership panels (offline-first).", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate retrieval (and, later, grading) against labelled files.", no_args_is_help=True)
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

    from interviewer.corpus import add_user_document, check_user_document
    from interviewer.documents import DocumentError
    from interviewer.index import Index

    settings = _settings()
    # All or nothing: if any named document is refused, nothing is added and the index is untouched.
    refused = []
    for path in paths or []:
        try:
            check_user_document(path, settings)
        except DocumentError as exc:
            refused.append(str(exc))
    if refused:
        for message in refused:
            err.print(f"[red]refused:[/red] {escape(message)}")
        err.print("Nothing was added; the index is unchanged.")
        raise typer.Exit(1)
    for path in paths or []:
        add_user_document(path, settings)
        console.print(f"added [bold]{escape(path.name)}[/bold] to your documents")
    failed = False
    index = Index(settings)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task("embedding chunks", total=None)

        def on_progress(stage: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = index.sync(progress=on_progress)
    for message in report.refused:
        failed = True
        err.print(f"[red]refused:[/red] {escape(message)}")
    console.print(
        f"added {len(report.added)}, changed {len(report.changed)}, removed {len(report.removed)}, "
        f"unchanged {len(report.unchanged)} documents; embedded {report.chunks_embedded} chunks; "
        f"{report.chunks_total} chunks in the index"
    )
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    misses: Annotated[bool, typer.Option(help="List the queries hybrid did not find in the top 5.")] = False,
) -> None:
    """Recall@1, Recall@5 and MRR@10 for BM25, dense and hybrid retrieval, in one run."""
    from interviewer.evals.retrieval import evaluate, load_cases
    from interviewer.index import Index

    cases, problems = load_cases(file)
    for message in problems:
        err.print(f"[yellow]skipped {escape(message)}[/yellow]")
    if not cases:
        err.print("No usable cases in the file.")
        raise typer.Exit(1)
    index = Index(_settings())
    if index.count() == 0:
        err.print("The index is empty: run `interviewer ingest` first.")
        raise typer.Exit(1)
    result = evaluate(index, cases)
    if as_json:
        print(json.dumps(result, indent=1))
        return
    table = Table("retriever", "Recall@1", "Recall@5", "MRR@10", title=f"{result['cases']} queries from {file.name}")
    for mode, m in result["metrics"].items():
        table.add_row(mode, f"{m['recall@1']:.3f}", f"{m['recall@5']:.3f}", f"{m['mrr']:.3f}")
    console.print(table)
    if misses:
        for row in result["per_case"]:
            if not row["hybrid"] or row["hybrid"] > 5:
                console.print(f"miss {row['id']}: {escape(row['query'])} -> {escape(str(row['hybrid_top']))}")


def main() -> None:
    app()
