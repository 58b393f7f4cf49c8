"""The batch-eval commands: `interviewer eval grade | compare | robustness | corpus | followups`.

`register(eval_app)` adds them to the CLI's `eval` sub-app. Heavy modules (the grader, the index,
torch through the embedding model, matplotlib) are imported inside the commands, so `interviewer
--help` stays fast. Progress bars and warnings go to stderr; tables and --json output to stdout.

Exit codes: 0 done; 1 the run could not start or nothing usable was found; 2 a gate was missed
(`--min-qwk`, `--max-flip-rate`, `--max-adversarial-pass`); 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from interviewer.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress

    from interviewer.evals.grading import Grader
    from interviewer.index import Index

console = Console()
err = Console(stderr=True)
GATE_EXIT = 2
INTERRUPTED_EXIT = 130

EngineOption = Annotated[str, typer.Option("--engine", help="offline, or openai:<model> (any OpenAI-compatible API).")]
ConcurrencyOption = Annotated[int, typer.Option(min=1, max=64, help="LLM calls in flight (offline: 1 is enough).")]


def open_index(settings: Settings) -> Index:
    """The index the commands grade against (built on first use). Tests hand in their session index."""
    from interviewer.index import Index

    index = Index(settings)
    if index.count() == 0:
        err.print("The index is empty: building it from the corpus (once).")
        index.sync()
    return index


def _grader(engine: str, settings: Settings) -> tuple[Grader, Index]:
    """The grading function for an engine, with the index and the grader's caches ready."""
    from interviewer.evals.grading import make_grader
    from interviewer.grading import warm_up
    from interviewer.llm import build_chat_model

    try:
        model = build_chat_model(engine, settings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--engine") from None
    index = open_index(settings)
    with err.status("loading the embedding model and the grader's corpus caches"):
        warm_up(index)  # so the progress bar's rate is the grading rate, not the start-up
    return make_grader(engine, index, model), index


@contextmanager
def _progress(description: str) -> Iterator[Progress]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), TextColumn("{task.fields[status]}"), console=err) as progress:
        yield progress


def _warn_lines(problems: list[str]) -> None:
    for message in problems:
        err.print(f"[yellow]skipped {escape(message)}[/yellow]")


# --- eval grade -------------------------------------------------------------------------------------


def eval_grade(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="JSONL: id, question, answer[, label, kind, level, split, and the v2 labels axes, star, "
            "red_flags, tested_axes].",
        ),
    ],
    engine: EngineOption = "offline",
    out: Annotated[Path | None, typer.Option(help="Run folder (default evals/runs/<timestamp>).")] = None,
    concurrency: ConcurrencyOption = 1,
    repeat: Annotated[int, typer.Option(min=1, max=20, help="Grade each answer N times (judge variance).")] = 1,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out: skip answers already graded.")] = False,
    split: Annotated[
        str | None, typer.Option(help="Grade only the lines of this split: train or heldout.", show_default=False)
    ] = None,
    min_qwk: Annotated[float | None, typer.Option(help="Gate: exit 2 if kappa is below this.")] = None,
    max_flip_rate: Annotated[float | None, typer.Option(help="Gate: exit 2 if the flip rate is above this.")] = None,
    max_adversarial_pass: Annotated[
        float | None, typer.Option(help="Gate: exit 2 if the adversarial pass rate is above this.")
    ] = None,
) -> None:
    """Grade a file of answers; with labels, measure agreement. Writes results.jsonl and a report to --out."""
    from interviewer.evals.grading import SPLITS, RunError, default_out_dir, run_grading
    from interviewer.evals.metrics import check_gates
    from interviewer.evals.report import (
        HTML_FILE,
        MARKDOWN_FILE,
        SUMMARY_FILE,
        finish_run,
        headline,
        layer_tables,
        level_note,
        split_note,
    )

    if resume and out is None:
        raise typer.BadParameter("--resume needs the --out folder of the run to continue", param_hint="--resume")
    if split is not None and split not in SPLITS:
        raise typer.BadParameter(f"{split!r} is not one of {', '.join(SPLITS)}", param_hint="--split")
    out = out or default_out_dir()
    grader, _ = _grader(engine, Settings())
    err.print(f"results: {escape(str(out))}")
    with _progress("grading") as progress:
        task = progress.add_task("grading", total=None, status="")
        counts = {"errors": 0, "fell_back": 0}

        def on_start(todo: int, done: int, problems: list[str]) -> None:
            _warn_lines(problems)
            if done:
                err.print(f"resuming: {done} already graded")
            progress.update(task, total=todo)

        def on_record(record: dict) -> None:
            counts["errors"] += bool(record.get("error"))
            counts["fell_back"] += bool(record.get("fell_back"))
            status = f"errors {counts['errors']}, fallbacks {counts['fell_back']}" if any(counts.values()) else ""
            progress.update(task, advance=1, status=status)

        try:
            result = run_grading(
                file, out, grader, engine, repeat=repeat, concurrency=concurrency, resume=resume, split=split,
                on_start=on_start, on_record=on_record,
            )  # fmt: skip
        except RunError as exc:
            err.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            progress.stop()
            err.print(f"interrupted; continue with: interviewer eval grade {file} --out {out} --resume")
            raise typer.Exit(INTERRUPTED_EXIT) from None
    if not result.records:
        err.print("No usable answers in the file.")
        raise typer.Exit(1)
    summary = finish_run(result, file, engine, repeat)
    m = summary["metrics"]
    table = Table("figure", "value", title=f"{escape(file.name)}: {engine}, {escape(split_note(summary['run']))}")
    for name, value in headline(m):
        table.add_row(name, escape(value))
    console.print(table)
    console.print(escape(level_note(m)))
    for title, header, rows, notes in layer_tables(m):
        if header:
            layer = Table(*header, title=escape(title))
            for row in rows:
                layer.add_row(*(escape(str(v)) for v in row))
            console.print(layer)
        else:
            console.print(f"[bold]{escape(title)}[/bold]")
        for note in notes:
            console.print(escape(note))
    kinds = Table("kind", "items", "exact", "within one", "above Lean Hire", title="per kind")
    for kind, v in m["per_kind"].items():
        exact, within = v["exact"]["value"], v["within_one"]["value"]
        kinds.add_row(
            escape(kind) + (" (adversarial)" if v["adversarial"] else ""),
            str(v["items"]),
            "n/a" if exact is None else f"{exact:.3f}",
            "n/a" if within is None else f"{within:.3f}",
            str(v["above_lean_hire"]),
        )
    console.print(kinds)
    rate = summary["run"]["answers_per_second_this_invocation"]
    if rate:
        console.print(f"{result.graded_now} answers in {result.seconds:.1f}s ({rate:.2f} answers/s)")
    console.print(f"wrote {out / SUMMARY_FILE}, {out / MARKDOWN_FILE}, {out / HTML_FILE}")
    missed = check_gates(m, min_qwk, max_flip_rate, max_adversarial_pass)
    for message in missed:
        err.print(f"[red]gate missed: {escape(message)}[/red]")
    if missed:
        raise typer.Exit(GATE_EXIT)


# --- eval compare -----------------------------------------------------------------------------------


def eval_compare(
    run_a: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The earlier run folder.")],
    run_b: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The later run folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Which metrics changed between two runs, and which answers changed decision."""
    from interviewer.evals.report import compare_runs

    try:
        result = compare_runs(run_a, run_b)
    except FileNotFoundError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return
    table = Table("metric", "A", "B", "change", title="metrics that changed")
    for row in result["metrics_changed"]:
        delta = row["delta"]
        table.add_row(row["metric"], str(row["a"]), str(row["b"]), "" if delta is None else f"{delta:+g}")
    console.print(table if result["metrics_changed"] else "No metric changed.")
    items = Table("id", "repeat", "label", "A", "B", "change", title="answers whose decision changed")
    for row in result["items_changed"]:
        change = row["change"]
        items.add_row(
            escape(row["id"]), str(row["repeat"]), row["label"] or "", escape(row["a"]), escape(row["b"]),
            "" if change is None else f"{change:+d}",
        )  # fmt: skip
    console.print(items if result["items_changed"] else "No answer changed decision.")
    for side in ("a", "b"):
        only = result[f"only_in_{side}"]
        if only:
            more = f" and {len(only) - 20} more" if len(only) > 20 else ""
            console.print(f"only in {side.upper()} ({len(only)}): {escape(', '.join(only[:20]))}{more}")


# --- eval robustness --------------------------------------------------------------------------------


def eval_robustness(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL of labelled answers to attack.")],
    engine: EngineOption = "offline",
    split: Annotated[
        str | None, typer.Option(help="Attack only the lines of this split: train or heldout.", show_default=False)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the attack generators.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for summary.json and summary.md.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Attack only the first N weak and N strong answers.")] = None,
    concurrency: ConcurrencyOption = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Attack the weak answers with generated padding and borrowed evidence; report how often it raised them."""
    from interviewer.evals.grading import SPLITS, default_out_dir, load_items
    from interviewer.evals.robustness import build_variants, is_strong, is_weak, markdown, run_robustness

    if split is not None and split not in SPLITS:
        raise typer.BadParameter(f"{split!r} is not one of {', '.join(SPLITS)}", param_hint="--split")
    items, problems = load_items(file)
    _warn_lines(problems)
    items = [i for i in items if split is None or i.split == split]
    pool = [i for i in items if is_strong(i)]  # neighbours are borrowed from the same split
    weak, strong = [i for i in items if is_weak(i)][:limit], pool[:limit]
    if not weak:
        err.print("No weak answers (kind normal, labelled Lean No Hire or No Hire) to attack in the file.")
        raise typer.Exit(1)
    grader, _ = _grader(engine, Settings())
    total = len(weak) + len(strong) + len(build_variants(weak, strong, pool, seed))
    with _progress("attacks") as progress:
        task = progress.add_task("grading variants", total=total, status="")
        result = run_robustness(
            [*weak, *strong], grader, engine, seed=seed, pool=pool, concurrency=concurrency,
            on_graded=lambda: progress.advance(task),
        )  # fmt: skip
    result["input"], result["split"] = str(file), split
    out = out or default_out_dir().with_name(f"robustness-{default_out_dir().name}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False), "utf-8")
    report = markdown(result, file.name, split)
    (out / "summary.md").write_text(report, encoding="utf-8")
    if as_json:
        print(json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False))
        return
    table = Table(
        Column("attack", no_wrap=True), "variants", "raised", "raised by 2+", "lowered", "lowered by 2+", "target met"
    )
    for name, row in result["families"].items():
        table.add_row(
            name, str(row["variants"]), *(_pct(row[k]) for k in ("raised", "raised_two", "lowered", "lowered_two")),
            "yes" if row["met"] else "[red]NO[/red]",
        )  # fmt: skip
    console.print(table)
    console.print(f"targets: {result['targets']['raise_attacks']}; interleave: {result['targets']['interleave']}")
    console.print(
        f"{result['weak_answers']} weak and {result['strong_answers']} strong answers, {result['variants']} variants, "
        f"engine {engine}, seed {seed}, {escape(split or 'whole file')}"
    )
    for row in result["moved"][:20]:
        where = f"{row['family']}/{row['position']}"
        console.print(f"moved {escape(row['id'])} {where}: {row['clean']} -> {row['attacked']}")
    for message in result["errors"]:
        err.print(f"[red]{escape(message)}[/red]")
    console.print(f"wrote {escape(str(out / 'summary.json'))}, {escape(str(out / 'summary.md'))}")


def _pct(fig: dict[str, Any]) -> str:
    return "n/a" if fig["value"] is None else f"{100 * fig['value']:.1f}% ({fig['count']}/{fig['of']})"


# --- eval corpus ------------------------------------------------------------------------------------


def eval_corpus(
    engine: EngineOption = "offline",
    track: Annotated[str | None, typer.Option(help="Only this track.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions with model answers.")] = None,
    concurrency: ConcurrencyOption = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Grade every model answer in the corpus against its own question; list those below Hire."""
    from interviewer.evals.corpus_check import check_corpus, reference_questions

    settings = Settings()
    grader, index = _grader(engine, settings)
    pairs, problems = reference_questions(settings, index, track, limit)
    _warn_lines(problems)
    if not pairs:
        err.print("No questions with model answers found.")
        raise typer.Exit(1)
    with _progress("model answers") as progress:
        task = progress.add_task("grading model answers", total=len(pairs), status="")
        result = check_corpus(pairs, grader, engine, concurrency=concurrency, on_graded=lambda: progress.advance(task))
    if as_json:
        print(json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False))
        return
    table = Table("source", "question", "words", "decision", "why", title="model answers that would not reach Hire")
    for row in result["weak"]:
        # The flag names are short where the cap sentences are not; the JSON carries both.
        missing = row["axes_without_evidence"]
        why = ", ".join(row["flags"]) or ("no evidence on " + ", ".join(missing) if missing else "low score")
        table.add_row(escape(row["source"]), escape(row["question"]), str(row["words"]), row["decision"], escape(why))
    console.print(table)
    console.print(
        f"{result['reach_hire']} of {result['graded']} model answers reach Hire; {len(result['weak'])} do not "
        f"({result['note']})."
    )
    for e in result["errors"]:
        err.print(f"[red]{escape(e['question_id'])}: {escape(e['error'])}[/red]")


# --- eval followups ---------------------------------------------------------------------------------


def eval_followups(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="JSONL: id, question, answer[, label, level, split, star, axes]."
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="Run folder (default evals/runs/followups-<timestamp>).")] = None,
    split: Annotated[
        str | None, typer.Option(help="Only the lines of this split: train or heldout.", show_default=False)
    ] = None,
    follow_ups: Annotated[int, typer.Option(min=1, max=3, help="Follow-ups chosen per answer, one after another.")] = 2,
) -> None:
    """The follow-ups the interviewer would ask for each answer; with labels, how often they re-ask."""
    from datetime import UTC, datetime

    from interviewer.corpus import question_bank
    from interviewer.evals.followups import SUMMARY_JSON, SUMMARY_MD, run_followups
    from interviewer.evals.grading import SPLITS
    from interviewer.grading import warm_up

    if split is not None and split not in SPLITS:
        raise typer.BadParameter(f"{split!r} is not one of {', '.join(SPLITS)}", param_hint="--split")
    out = out or Path("evals/runs") / f"followups-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    settings = Settings()
    index = open_index(settings)
    bank, _ = question_bank(settings)
    with err.status("loading the embedding model and the grader's corpus caches"):
        warm_up(index)
    err.print(f"results: {escape(str(out))}")
    with _progress("follow-ups") as progress:
        task = progress.add_task("choosing follow-ups", total=None, status="")

        def on_start(todo: int, problems: list[str]) -> None:
            _warn_lines(problems)
            progress.update(task, total=todo)

        summary = run_followups(
            file, out, index, bank, split, follow_ups, on_start=on_start, on_item=lambda: progress.advance(task)
        )
    if not summary["answers"]:
        err.print("No usable answers in the file" + (f" for split {split}." if split else "."))
        raise typer.Exit(1)

    def pct(fig: dict[str, Any]) -> str:
        return "n/a" if fig["value"] is None else f"{100 * fig['value']:.1f}% ({fig['hits']}/{fig['of']})"

    table = Table("figure", "value", title=f"{escape(file.name)}: follow-ups, split {summary['split']}")
    table.add_row("answers", str(summary["answers"]))
    table.add_row("follow-ups", f"{summary['follow_ups']} ({follow_ups} asked for per answer)")
    table.add_row("re-ask rate", pct(summary["re_ask_rate"]))
    table.add_row("re-ask rate, first follow-ups", pct(summary["re_ask_rate_first_follow_up"]))
    table.add_row("verbatim quotes", pct(summary["verbatim_quote_rate"]))
    table.add_row("below Strong Hire with a follow-up", pct(summary["below_strong_hire_with_follow_up"]))
    table.add_row("duplicate targets", str(summary["duplicate_targets"]))
    table.add_row("target mix", escape(", ".join(f"{k} {v}" for k, v in summary["target_mix"].items())))
    console.print(table)
    console.print(f"wrote {out / 'results.jsonl'}, {out / SUMMARY_JSON}, {out / SUMMARY_MD}")


def register(eval_app: typer.Typer) -> None:
    """Add grade, compare, robustness, corpus and followups to the `interviewer eval` sub-app."""
    eval_app.command("grade")(eval_grade)
    eval_app.command("compare")(eval_compare)
    eval_app.command("robustness")(eval_robustness)
    eval_app.command("corpus")(eval_corpus)
    eval_app.command("followups")(eval_followups)
