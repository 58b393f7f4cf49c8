"""Measuring the interviewer like the grader: which follow-ups it would ask, and whether they listen.

For each `{id, question, answer}` line (the grader's input format, see evals/grading.py; the question
is a bank question when its text matches one, else a free question) the answer is judged offline, as
in an interview, and the follow-ups the interviewer would ask are chosen one after another as if the
candidate added nothing: each next one must find a target the exchange has not probed. DIR gets
`results.jsonl` (`{"id", "follow_ups": [{"text", "target", "quote"}]}`), `summary.json` and `summary.md`.

With STAR/axis labels present (the dev set's v2 labels), the summary reports the re-ask rate: a
follow-up whose target is a STAR element labelled present, or an axis labelled 4-5, asks for what the
candidate already gave. Always: the target mix, the verbatim-quote rate (a quote must be a literal
substring of the answer), the share of answers labelled below Strong Hire that got a follow-up, and
the follow-ups that repeat a target within one exchange.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interviewer.evals.grading import Item, load_items
from interviewer.files import write_atomically
from interviewer.followups import choose_offline
from interviewer.questions import Question
from interviewer.text import normalize_for_match

if TYPE_CHECKING:
    from interviewer.index import Index

RESULTS_FILE = "results.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
DEFAULT_FOLLOW_UPS = 2


def question_for(text: str, bank: list[Question]) -> Question:
    """The bank question with this text, or a free question (profiled from retrieval when graded)."""
    key = normalize_for_match(text)
    for q in bank:
        if normalize_for_match(q.text) == key:
            return q
    return Question(id="free", text=text, source="", section="", track="", origin="free")


def follow_ups_for(question: Question, grade: Any, n: int) -> list[dict[str, str]]:
    """The first `n` follow-ups the interviewer would ask after this graded answer, in order."""
    asked: list[str] = []
    targets: list[str] = []
    out: list[dict[str, str]] = []
    for _ in range(n):
        chosen = choose_offline(question, grade, targets, asked, grade.answer)
        if chosen is None:
            break
        asked.append(chosen.text)
        targets.append(chosen.gap.target)
        out.append({"text": chosen.text, "target": chosen.gap.target, "quote": chosen.gap.quote})
    return out


def re_ask(target: str, item: Item) -> bool:
    """The target asks for what the labels say the answer already has."""
    kind, _, what = target.partition(":")
    if kind == "star" and item.labels.star is not None:
        return bool(item.labels.star.get(what))
    if kind == "axis" and item.labels.axes is not None:
        score = item.labels.axes.get(what)
        return score is not None and score >= 4
    return False


def _rate(hits: int, total: int) -> dict[str, Any]:
    return {"value": round(hits / total, 4) if total else None, "hits": hits, "of": total}


def summarise(items: list[Item], results: dict[str, list[dict[str, str]]], split: str | None) -> dict[str, Any]:
    follow_ups = [(item, f, n) for item in items for n, f in enumerate(results[item.id])]
    labelled = [(i, f, n) for i, f, n in follow_ups if i.labels.star is not None or i.labels.axes is not None]
    re_asks = [(item, f, n) for item, f, n in labelled if re_ask(f["target"], item)]
    first = [(item, f) for item, f, n in labelled if n == 0]
    verbatim = sum(bool(f["quote"]) and f["quote"] in item.answer for item, f, _ in follow_ups)
    below = [item for item in items if item.label is not None and item.label != "Strong Hire"]
    duplicates = sum(len(results[i.id]) - len({f["target"] for f in results[i.id]}) for i in items)
    return {
        "split": split or "all",
        "answers": len(items),
        "follow_ups": len(follow_ups),
        "follow_ups_per_answer": len(follow_ups) / len(items) if items else 0.0,
        "re_ask_rate": _rate(len(re_asks), len(labelled)),
        "re_ask_rate_first_follow_up": _rate(sum(re_ask(f["target"], i) for i, f in first), len(first)),
        "verbatim_quote_rate": _rate(verbatim, len(follow_ups)),
        "quotes_empty": sum(not f["quote"] for _, f, _ in follow_ups),
        "below_strong_hire_with_follow_up": _rate(sum(bool(results[i.id]) for i in below), len(below)),
        "duplicate_targets": duplicates,
        "target_mix": dict(Counter(f["target"].partition(":")[0] for _, f, _ in follow_ups).most_common()),
        "targets": dict(Counter(f["target"] for _, f, _ in follow_ups).most_common()),
        "first_target_mix": dict(Counter(results[i.id][0]["target"].partition(":")[0] for i in items if results[i.id])),
        "re_asks": [{"id": item.id, "target": f["target"], "n": n} for item, f, n in re_asks],
        "without_follow_up": [i.id for i in items if not results[i.id]],
    }


def markdown(summary: dict[str, Any], source: str) -> str:
    def pct(fig: dict[str, Any]) -> str:
        return "n/a" if fig["value"] is None else f"{100 * fig['value']:.1f}% ({fig['hits']} of {fig['of']})"

    lines = [
        f"# Follow-ups: {source}, split {summary['split']}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| answers | {summary['answers']} |",
        f"| follow-ups ({summary['follow_ups_per_answer']:.2f} per answer) | {summary['follow_ups']} |",
        f"| re-ask rate (target labelled present / axis labelled 4-5) | {pct(summary['re_ask_rate'])} |",
        f"| re-ask rate, first follow-ups | {pct(summary['re_ask_rate_first_follow_up'])} |",
        f"| verbatim quotes | {pct(summary['verbatim_quote_rate'])} |",
        f"| answers below Strong Hire with a follow-up | {pct(summary['below_strong_hire_with_follow_up'])} |",
        f"| duplicate targets within an exchange | {summary['duplicate_targets']} |",
        "",
        "| target kind | follow-ups | first follow-ups |",
        "|---|---|---|",
    ]
    for kind, n in summary["target_mix"].items():
        lines.append(f"| {kind} | {n} | {summary['first_target_mix'].get(kind, 0)} |")
    if summary["re_asks"]:
        lines += ["", "Re-asks: " + ", ".join(f"{r['id']} ({r['target']})" for r in summary["re_asks"])]
    return "\n".join(lines) + "\n"


def run_followups(
    path: Path,
    out: Path,
    index: Index,
    bank: list[Question],
    split: str | None = None,
    follow_ups: int = DEFAULT_FOLLOW_UPS,
    on_start: Callable[[int, list[str]], None] | None = None,
    on_item: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Judge every answer offline, choose its follow-ups, write results and the summary; return it."""
    from interviewer.grading.offline import grade_answer, prefetch

    items, problems = load_items(path)
    if split is not None:
        items = [i for i in items if i.split == split]
    if on_start:
        on_start(len(items), problems)
    out.mkdir(parents=True, exist_ok=True)
    prefetch([(i.question, i.answer) for i in items])
    results: dict[str, list[dict[str, str]]] = {}
    started = time.perf_counter()
    with (out / RESULTS_FILE).open("w", encoding="utf-8") as fh:
        for item in items:
            question = question_for(item.question, bank)
            grade = grade_answer(question.text, item.answer, index, item.level)
            results[item.id] = follow_ups_for(question, grade, follow_ups)
            fh.write(json.dumps({"id": item.id, "follow_ups": results[item.id]}, ensure_ascii=False) + "\n")
            if on_item:
                on_item()
    summary = summarise(items, results, split)
    summary["source"] = str(path)
    summary["follow_ups_asked_per_answer"] = follow_ups
    summary["seconds"] = round(time.perf_counter() - started, 2)
    summary["skipped_lines"] = problems
    write_atomically(out / SUMMARY_JSON, json.dumps(summary, indent=1, ensure_ascii=False).encode())
    write_atomically(out / SUMMARY_MD, markdown(summary, path.name).encode())
    return summary
