"""A run's report: summary.json, report.md and a self-contained report.html, and comparing two runs.

The HTML has no external references: plots are PNGs rendered by matplotlib's Agg canvas (through
Figure.savefig, no pyplot global state) and inlined as base64 data URIs, and the styles are inline.
Answers are untrusted text: the HTML template autoescapes everything, and report.md escapes the
characters Markdown would pass through as HTML.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interviewer.evals.grading import RESULTS_FILE, RunResult, read_results
from interviewer.evals.metrics import TARGETS, meets, summarize
from interviewer.grading.rubric import DECISIONS

SUMMARY_FILE = "summary.json"
MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"
MAX_ITEMS_SHOWN = 60
EXCERPT_CHARS = 240


# --- the summary -----------------------------------------------------------------------------------


def finish_run(result: RunResult, file: Path, engine: str, repeat: int) -> dict[str, Any]:
    """Compute the figures for a run and write summary.json, report.md and report.html into it.

    `metrics` depends only on the results, so a resumed run and an uninterrupted one have equal
    metrics; `run` holds what differs between invocations (times, paths).
    """
    graded_time = sum(float(r.get("seconds") or 0.0) for r in result.records)
    summary: dict[str, Any] = {
        "run": {
            "input": str(file),
            "out": str(result.out),
            "engine": engine,
            "repeat": repeat,
            "split": result.split,
            "outside_split": result.outside_split,
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            "bad_lines": result.problems,
            "unreadable_result_lines": result.unreadable_lines,
            "graded_this_invocation": result.graded_now,
            "skipped_already_graded": result.skipped,
            "wall_seconds_this_invocation": round(result.seconds, 3),
            "answers_per_second_this_invocation": (
                round(result.graded_now / result.seconds, 3) if result.graded_now and result.seconds > 0 else None
            ),
            "mean_seconds_per_answer": round(graded_time / len(result.records), 4) if result.records else None,
        },
        "metrics": summarize(result.records, repeat, train_lengths=result.train_lengths),
    }
    write_report(result.out, summary, result.records)
    return summary


def write_report(out: Path, summary: dict[str, Any], records: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, ensure_ascii=False, allow_nan=False), "utf-8")
    (out / MARKDOWN_FILE).write_text(render_markdown(summary, records), "utf-8")
    (out / HTML_FILE).write_text(render_html(summary, records), "utf-8")


def fmt(fig: dict[str, Any] | None) -> str:
    """0.7123 [0.61, 0.80]; or n/a (why)."""
    if not fig:
        return "n/a"
    if fig.get("value") is None:
        return f"n/a ({fig.get('reason', 'undefined')})"
    text = f"{fig['value']:.3f}"
    if fig.get("ci95"):
        text += f" [{fig['ci95'][0]:.3f}, {fig['ci95'][1]:.3f}]"
    if "count" in fig:
        text += f" ({fig['count']}/{fig['of']})"
    elif "of" in fig:
        text += f" (n={fig['of']})"
    return text


def target(name: str, fig: dict[str, Any] | None) -> str:
    """'≥ 0.90 met', '≤ 0.02 missed', or the bound alone when the figure is undefined."""
    bound, direction = TARGETS[name]
    ok = meets(name, fig)
    return f"{'≥' if direction == '>=' else '≤'} {bound:.2f}" + ("" if ok is None else " met" if ok else " missed")


def level_note(metrics: dict[str, Any]) -> str:
    lv = metrics["levels"]
    shown = ", ".join(f"{name} {n}" for name, n in lv["counts"].items()) or "none"
    return (
        f"{lv['defaulted']} of {sum(lv['counts'].values())} graded at the default level ({lv['default']}): "
        f"their lines give no level. By level: {shown}."
    )


Table = tuple[str, list[str], list[list[object]], list[str]]  # title, header, rows, notes under it


def layer_tables(metrics: dict[str, Any]) -> list[Table]:
    """The per-layer figures as tables: the decision beside the length-only baseline, per axis, STAR,
    red flags, then coherence and the tested axes as notes. A layer without labels is left out."""
    a, base, layers = metrics["agreement"], metrics["length_baseline"], metrics["layers"]
    tables: list[Table] = []
    if a["labelled"]:
        ranking = metrics["ranking"]
        rows: list[list[object]] = [
            ["quadratic weighted kappa", fmt(a["qwk"]), target("qwk", a["qwk"]), fmt(base.get("qwk"))],
            ["exact agreement", fmt(a["exact"]), "", fmt(base.get("exact"))],
            ["within-one agreement", fmt(a["within_one"]), target("within_one", a["within_one"])],
            ["Spearman (label vs score)", fmt(a["spearman"]), "", fmt(base.get("spearman"))],
            ["ranking accuracy (same question)", fmt(ranking), target("ranking", ranking), fmt(base.get("ranking"))],
        ]
        rows[2].append(fmt(base.get("within_one")))
        why = base["method"] if base.get("method") else base["reason"]
        header = ["figure", "grader", "target", "length only"]
        tables.append(("Decision, beside the length-only baseline", header, rows, [f"Length-only baseline: {why}."]))
    axes = layers["axes"]
    if any(v["labelled"] for v in axes.values()):
        header = [
            "axis",
            "weighted kappa (both scored)",
            "target",
            "null agreement",
            "within one",
            "labelled null, graded a score",
            "labelled a score, graded none",
        ]
        rows = []
        for v in axes.values():
            kappa = v["weighted_kappa"]
            rows.append([v["name"], fmt(kappa), target("axis_kappa", kappa), fmt(v["null_agreement"])])
            rows[-1] += [fmt(v["within_one"]), v["labelled_null_graded_score"], v["labelled_score_graded_none"]]
        note = (
            "Kappa over the answers both labelled and graded with a score (1-5, quadratic); null agreement: "
            "labelled null exactly when graded 'not enough evidence'."
        )
        tables.append(("Per axis", header, rows, [note]))
    star = layers["star"]
    if star["answers"]:
        header = ["element", "accuracy", "target", "labelled present", "graded present"]
        rows = []
        for v in star["elements"].values():
            accuracy = v["accuracy"]
            rows.append([v["name"], fmt(accuracy), target("star_accuracy", accuracy), v["labelled_present"]])
            rows[-1].append(v["graded_present"])
        note = f"{star['answers']} normal answers with STAR labels."
        tables.append(("STAR, per element (normal answers)", header, rows, [note]))
    flags = layers["red_flags"]
    if flags["answers"]:
        header = ["red flag", "precision", "recall", "labelled", "graded"]
        named = [*flags["flags"].values(), {"name": "all flags (pooled)", **flags["pooled"]}]
        rows = [[v["name"], fmt(v["precision"]), fmt(v["recall"]), v["labelled"], v["graded"]] for v in named]
        note = f"{flags['answers']} normal answers with red-flag labels."
        tables.append(("Red flags (normal answers)", header, rows, [note]))
    c = layers["coherence"]
    notes = [f"{c['definition']}: {fmt(c['violations'])}, target {target('coherence_rate', c['violations'])}."]
    if c["hire_with_gap"]:
        notes.append(f"Hire or better with a tested gap: {', '.join(c['hire_with_gap'])}.")
    if c["low_without_reason"]:
        notes.append(f"Lean No Hire or worse, every tested axis 4+, unexplained: {', '.join(c['low_without_reason'])}.")
    t = layers["tested_axes"]
    if t["questions"]:
        notes.append(
            f"Tested axes against the labels, per question ({t['questions']}): mean Jaccard "
            f"{fmt(t['mean_jaccard'])}, the same set {fmt(t['same_set'])}."
        )
    tables.append(("Coherence", [], [], notes))
    return tables


def headline(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures a reader looks at first, formatted (95% bootstrap intervals in brackets)."""
    a = metrics["agreement"]
    lv = metrics["levels"]
    rows = [
        ("answers graded", f"{metrics['graded']} of {metrics['results']} ({metrics['items']} items)"),
        ("labelled", str(a["labelled"])),
        ("quadratic weighted kappa", fmt(a["qwk"])),
        ("exact agreement", fmt(a["exact"])),
        ("within-one agreement", fmt(a["within_one"])),
        ("Spearman (label vs score)", fmt(a["spearman"])),
        ("ranking accuracy (same question)", fmt(metrics["ranking"])),
        ("coherence violations", fmt(metrics["layers"]["coherence"]["violations"])),
        ("adversarial pass (above Lean Hire)", fmt(metrics["adversarial"]["pass_rate"])),
        ("decision flip rate across repeats", fmt(metrics["stability"]["flip_rate"])),
        (f"graded at the default level ({lv['default']})", str(lv["defaulted"])),
        ("grading errors", str(metrics["errors"]["count"])),
        ("LLM fallbacks / invalid replies", f"{metrics['llm']['fell_back']} / {metrics['llm']['invalid_replies']}"),
    ]
    return rows


def shown_items(metrics: dict[str, Any], records: list[dict]) -> tuple[str, list[dict]]:
    """Disagreements with the labels (largest first), or without labels the lowest-scored answers."""
    first: dict[str, dict] = {}
    for r in records:
        if not r.get("error") and r.get("decision") in DECISIONS:
            first.setdefault(r["id"], r)
    rows = list(first.values())
    if metrics["agreement"]["labelled"]:
        off = [r for r in rows if r.get("label") in DECISIONS and r["label"] != r["decision"]]
        off.sort(key=lambda r: (-abs(DECISIONS.index(r["label"]) - DECISIONS.index(r["decision"])), str(r["id"])))
        return "Disagreements with the labels (largest first)", off[:MAX_ITEMS_SHOWN]
    rows.sort(key=lambda r: (float(r["score"]), str(r["id"])))
    return "Lowest-scored answers", rows[:MAX_ITEMS_SHOWN]


def split_note(run: dict[str, Any]) -> str:
    split = run.get("split")
    if not split:
        return "the whole file"
    return f"the {split} split only ({run.get('outside_split', 0)} lines of the file are outside it)"


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


# --- plots -----------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(metrics: dict[str, Any]) -> dict[str, str]:
    """Title -> base64 PNG: confusion heat map (with labels), decision distribution, axis scores."""
    from matplotlib.figure import Figure

    out: dict[str, str] = {}
    short = ["NH", "LNH", "LH", "H", "SH"]
    confusion = metrics["agreement"].get("confusion")
    if confusion:
        fig = Figure(figsize=(5, 4.2))
        ax = fig.subplots()
        matrix = confusion["matrix"]
        image = ax.imshow(matrix, cmap="Blues")
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
        ax.set_xticks(range(5), short)
        ax.set_yticks(range(5), short)
        ax.set_xlabel("grader decision")
        ax.set_ylabel("label")
        fig.colorbar(image, ax=ax, shrink=0.8)
        out["Confusion matrix (rows: label, columns: decision)"] = _png(fig)

    dist = metrics["distribution"]
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    xs = range(len(DECISIONS))
    has_labels = any(dist["labels"].values())
    width = 0.4 if has_labels else 0.7
    ax.bar([x - (width / 2 if has_labels else 0) for x in xs], list(dist["decisions"].values()), width, label="grader")
    if has_labels:
        ax.bar([x + width / 2 for x in xs], list(dist["labels"].values()), width, label="label")
        ax.set_ylim(top=1.25 * max([*dist["decisions"].values(), *dist["labels"].values(), 1]))  # room for the legend
        ax.legend(loc="upper center", ncols=2)
    ax.set_xticks(list(xs), list(DECISIONS), fontsize=8)
    ax.set_ylabel("answers")
    out["Decision distribution"] = _png(fig)

    axes = dist["axes"]
    fig = Figure(figsize=(2.2 * len(axes), 2.6))
    panels = fig.subplots(1, len(axes), sharey=True)
    for panel, info in zip(panels, axes.values(), strict=True):
        values = [info["no_evidence"], *[info["counts"][str(level)] for level in range(1, 6)]]
        panel.bar(["–", "1", "2", "3", "4", "5"], values, color=["#bbbbbb"] + ["#4c72b0"] * 5)
        panel.set_title(info["name"], fontsize=9)
    panels[0].set_ylabel("answers")
    out["Per-axis score distributions (– = not enough evidence)"] = _png(fig)
    return out


# --- Markdown ---------------------------------------------------------------------------------------


def _md(text: object) -> str:
    """A Markdown table cell: no raw HTML, no pipes, no line breaks."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(summary: dict[str, Any], records: list[dict]) -> str:
    run, m = summary["run"], summary["metrics"]
    intro = f"Engine `{_md(run['engine'])}`, repeat {run['repeat']}, {_md(split_note(run))}."
    lines = [f"# Grading run: {_md(run['input'])}", "", intro, "", _md(level_note(m)), ""]
    lines += _md_table(["figure", "value"], [list(row) for row in headline(m)])
    lines += ["Plots (confusion matrix, decision and axis-score distributions) are in report.html.", ""]
    for title, header, rows, notes in layer_tables(m):
        lines += [f"## {_md(title)}", ""]
        if header:
            lines += _md_table(header, rows)
        lines += [*(_md(n) for n in notes), ""]
    if m["agreement"].get("confusion"):
        lines += ["## Confusion matrix (rows: label, columns: decision)", ""]
        matrix = m["agreement"]["confusion"]["matrix"]
        lines += _md_table(
            ["label \\ decision", *DECISIONS], [[d, *row] for d, row in zip(DECISIONS, matrix, strict=True)]
        )
    lines += ["## Per kind", ""]
    lines += _md_table(
        ["kind", "adversarial", "items", "exact", "within one", "above label", "above Lean Hire"],
        [
            [
                k,
                "yes" if v["adversarial"] else "",
                v["items"],
                fmt(v["exact"]),
                fmt(v["within_one"]),
                v["above_label"],
                v["above_lean_hire"],
            ]
            for k, v in m["per_kind"].items()
        ],
    )
    adv = m["adversarial"]
    lines += [f"Adversarial pass: {_md(adv['definition'])}: {_md(fmt(adv['pass_rate']))}.", ""]
    if adv["passed_ids"]:
        lines += [f"Passed: {_md(', '.join(adv['passed_ids']))}", ""]
    stability = m["stability"]
    if stability.get("flipped_ids"):
        lines += [f"Decision changed across repeats: {_md(', '.join(stability['flipped_ids']))}.", ""]
    lines += ["## Axes (weakest first)", ""]
    lines += _md_table(
        ["axis", "mean (no evidence = 0)", "no evidence"],
        [[w["name"], w["mean"], w["no_evidence_share"]] for w in m["distribution"]["weakest_axes"]],
    )
    lines += ["## Decisions", ""]
    dist = m["distribution"]
    lines += _md_table(
        ["decision", "grader", "label"], [[d, dist["decisions"][d], dist["labels"][d]] for d in DECISIONS]
    )
    title, items = shown_items(m, records)
    lines += [f"## {title}", ""]
    lines += _md_table(
        ["id", "kind", "label", "decision", "score", "flags", "answer"],
        [
            [
                r["id"],
                r.get("kind") or "",
                r.get("label") or "",
                r["decision"],
                r["score"],
                ", ".join(r.get("flags", [])),
                excerpt(r["answer"]),
            ]
            for r in items
        ],
    )
    errors = [r for r in records if r.get("error")]
    if errors:
        lines += ["## Grading errors", ""]
        lines += _md_table(["id", "repeat", "error"], [[r["id"], r["repeat"], r["error"]] for r in errors])
    if run["bad_lines"]:
        lines += ["## Input lines skipped", "", *[f"- {_md(p)}" for p in run["bad_lines"]], ""]
    return "\n".join(lines)


# --- HTML -------------------------------------------------------------------------------------------

HTML_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grading run: {{ run.input }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.answer{max-width:36rem;font-size:.85rem}.muted{color:#666}img{max-width:100%}
</style></head><body>
<h1>Grading run: {{ run.input }}</h1>
<p class="muted">Engine {{ run.engine }}, repeat {{ run.repeat }}, {{ split_note }}, written {{ run.written }};
{{ run.graded_this_invocation }} graded in this invocation, {{ run.skipped_already_graded }} resumed.</p>
<p>{{ level_note }}</p>
<table>{% for name, value in headline %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% for title, header, rows, notes in layer_tables %}
<h2>{{ title }}</h2>
{% if header %}<table><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% for n in notes %}<p>{{ n }}</p>{% endfor %}
{% endfor %}
{% for title, png in plots.items() %}
<h2>{{ title }}</h2><img alt="{{ title }}" src="data:image/png;base64,{{ png }}">
{% endfor %}
{% if confusion %}
<h2>Confusion matrix</h2>
<table><tr><th>label \\ decision</th>{% for d in decisions %}<th>{{ d }}</th>{% endfor %}</tr>
{% for d, row in confusion %}
<tr><th>{{ d }}</th>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% endif %}
<h2>Per kind</h2>
<table><tr><th>kind</th><th>adversarial</th><th>items</th><th>exact</th><th>within one</th>
<th>above label</th><th>above Lean Hire</th></tr>
{% for k, v in m.per_kind.items() %}
<tr><td>{{ k }}</td><td>{{ "yes" if v.adversarial else "" }}</td><td>{{ v["items"] }}</td>
<td>{{ fmt(v.exact) }}</td><td>{{ fmt(v.within_one) }}</td>
<td>{{ v.above_label }}</td><td>{{ v.above_lean_hire }}</td></tr>
{% endfor %}
</table>
<p>Adversarial pass ({{ m.adversarial.definition }}): {{ fmt(m.adversarial.pass_rate) }}
{% if m.adversarial.passed_ids %}: {{ m.adversarial.passed_ids | join(", ") }}{% endif %}</p>
{% if m.stability.flipped_ids %}<p>Decision changed across repeats: {{ m.stability.flipped_ids | join(", ") }}</p>
{% endif %}
<h2>Axes, weakest first</h2>
<table><tr><th>axis</th><th>mean (no evidence = 0)</th><th>share with no evidence</th></tr>
{% for w in m.distribution.weakest_axes %}
<tr><td>{{ w.name }}</td><td>{{ w.mean }}</td><td>{{ w.no_evidence_share }}</td></tr>
{% endfor %}
</table>
<h2>{{ items_title }}</h2>
<table><tr><th>id</th><th>kind</th><th>label</th><th>decision</th><th>score</th><th>flags</th><th>answer</th></tr>
{% for r in items %}
<tr><td>{{ r.id }}</td><td>{{ r.kind or "" }}</td><td>{{ r.label or "" }}</td><td>{{ r.decision }}</td>
<td>{{ r.score }}</td><td>{{ r.flags | join(", ") }}</td><td class="answer">{{ excerpt(r.answer) }}</td></tr>
{% endfor %}
</table>
<details><summary>All answers ({{ all_items | length }})</summary>
<table><tr><th>id</th><th>repeat</th><th>kind</th><th>label</th><th>decision</th><th>score</th><th>flags</th><th>answer</th></tr>
{% for r in all_items %}
<tr><td>{{ r.id }}</td><td>{{ r.repeat }}</td><td>{{ r.kind or "" }}</td><td>{{ r.label or "" }}</td>
<td>{{ r.decision or "error" }}</td><td>{{ r.score }}</td><td>{{ r.flags | join(", ") }}</td>
<td class="answer">{{ excerpt(r.answer) }}</td></tr>
{% endfor %}
</table></details>
{% if errors %}
<h2>Grading errors</h2>
<table><tr><th>id</th><th>repeat</th><th>error</th></tr>
{% for r in errors %}<tr><td>{{ r.id }}</td><td>{{ r.repeat }}</td><td>{{ r.error }}</td></tr>{% endfor %}
</table>
{% endif %}
{% if run.bad_lines %}
<h2>Input lines skipped</h2>
<ul>{% for p in run.bad_lines %}<li>{{ p }}</li>{% endfor %}</ul>
{% endif %}
</body></html>
"""


def render_html(summary: dict[str, Any], records: list[dict]) -> str:
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined)
    m = summary["metrics"]
    title, items = shown_items(m, records)
    confusion = m["agreement"].get("confusion")
    return env.from_string(HTML_TEMPLATE).render(
        run=summary["run"],
        m=m,
        headline=headline(m),
        layer_tables=layer_tables(m),
        level_note=level_note(m),
        split_note=split_note(summary["run"]),
        plots=plots(m),
        decisions=DECISIONS,
        confusion=list(zip(DECISIONS, confusion["matrix"], strict=True)) if confusion else [],
        items_title=title,
        items=items,
        all_items=records,
        errors=[r for r in records if r.get("error")],
        fmt=fmt,
        excerpt=excerpt,
    )


# --- comparing two runs -------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, float | int | None]:
    """Scalar figures by dotted path; lists (ids, intervals, matrices) are left out."""
    out: dict[str, float | int | None] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    elif value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        out[prefix] = value
    return out


def load_run(run_dir: Path) -> tuple[dict[str, Any], dict[tuple[str, int], dict]]:
    summary_path = run_dir / SUMMARY_FILE
    if not summary_path.exists():
        raise FileNotFoundError(f"{summary_path} not found: finish that run with `interviewer eval grade ... --resume`")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    records, _ = read_results(run_dir / RESULTS_FILE)
    return summary, records


def compare_runs(run_a: Path, run_b: Path) -> dict[str, Any]:
    """Metrics whose value changed, and items whose decision changed, between two runs."""
    summary_a, records_a = load_run(run_a)
    summary_b, records_b = load_run(run_b)
    flat_a, flat_b = _flatten(summary_a["metrics"]), _flatten(summary_b["metrics"])
    metrics = []
    for key in sorted(set(flat_a) | set(flat_b)):
        a, b = flat_a.get(key), flat_b.get(key)
        if a != b:
            delta = round(b - a, 4) if isinstance(a, int | float) and isinstance(b, int | float) else None
            metrics.append({"metric": key, "a": a, "b": b, "delta": delta})
    items = []
    for pair in sorted(set(records_a) & set(records_b)):
        ra, rb = records_a[pair], records_b[pair]
        if ra.get("decision") != rb.get("decision"):
            ia, ib = (DECISIONS.index(d) if d in DECISIONS else None for d in (ra.get("decision"), rb.get("decision")))
            items.append(
                {
                    "id": pair[0],
                    "repeat": pair[1],
                    "label": ra.get("label"),
                    "kind": ra.get("kind"),
                    "a": ra.get("decision") or f"error: {ra.get('error')}",
                    "b": rb.get("decision") or f"error: {rb.get('error')}",
                    "change": ib - ia if ia is not None and ib is not None else None,
                }
            )
    return {
        "a": str(run_a),
        "b": str(run_b),
        "engines": [summary_a["run"]["engine"], summary_b["run"]["engine"]],
        "metrics_changed": metrics,
        "items_changed": items,
        "only_in_a": sorted(f"{i}#{r}" for i, r in set(records_a) - set(records_b)),
        "only_in_b": sorted(f"{i}#{r}" for i, r in set(records_b) - set(records_a)),
    }
