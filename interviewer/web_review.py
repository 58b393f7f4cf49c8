"""The app's memory: the "Due for review" panel and the per-axis progress chart (review.py underneath).

Kept apart from web.py so the interview screen's layout stays readable: web.py places these pieces
and this module builds and wires them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from interviewer.review import axis_progress, describe, due, nothing_due, review_plan, schedule
from interviewer.session import MIXED, SessionConfig, replay_all

if TYPE_CHECKING:
    from interviewer.web import Handlers


def _esc(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def queue_markdown(h: Handlers, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    items = schedule(replay_all(h.interviewer.log))
    queue = due(items, now)
    if not queue:
        return _esc(nothing_due(items, now))
    return "\n".join(f"- {_esc(describe(i, now))}" for i in queue)  # under the panel's own title


def start_review(h: Handlers, level: str, questions: float, follow_ups: float) -> Iterator[tuple]:
    """A session of what is due (the same outputs as Start interview)."""
    from interviewer.profiles import profiles_for

    now = datetime.now(UTC)
    items = schedule(replay_all(h.interviewer.log))
    queue = due(items, now)
    plan = review_plan(queue, h.interviewer.bank, profiles_for(h.index), int(questions)) if queue else []
    if not plan:  # the session in progress, if any, is left as it is
        yield gr.update(), f"**{_esc(nothing_due(items, now))}**", gr.update(), gr.update(), gr.update(), gr.update()
        return
    config = SessionConfig(
        track=MIXED,
        level=level,
        questions=len(plan),
        follow_ups=int(follow_ups),
        seed=0,
        backend=h.settings.backend,
    )
    state = h.interviewer.start(config, plan=plan)
    yield from h._stream(state, previous=0, status=f"Review session {state.id}: {len(plan)} question(s) due.")


@dataclass
class ReviewPanel:
    queue: Any
    refresh: Any
    start: Any


def review_panel(h: Handlers) -> ReviewPanel:
    """Placed in the interview tab; wired by `wire_review` once the interview's outputs exist. The queue
    is read on every page load (a callable value), and again on Refresh."""
    with gr.Accordion("Due for review", open=False):
        queue = gr.Markdown(lambda: queue_markdown(h))
        with gr.Row():
            refresh = gr.Button("Refresh the review queue")
            start = gr.Button("Start a review session", variant="secondary")
    return ReviewPanel(queue, refresh, start)


def wire_review(h: Handlers, panel: ReviewPanel, settings_inputs: list[Any], outputs: list[Any]) -> None:
    """`settings_inputs`: the level, questions and follow-ups controls of the Setup panel."""
    panel.refresh.click(lambda: queue_markdown(h), None, panel.queue, api_name="review_queue")

    def run(level: str, questions: float, follow_ups: float) -> Iterator[tuple]:
        yield from start_review(h, level, questions, follow_ups)

    panel.start.click(run, settings_inputs, outputs, api_name="review")


def progress_frame(h: Handlers) -> pd.DataFrame:
    """Long form for the chart: one row per session and axis with a score."""
    rows = []
    for row in axis_progress(replay_all(h.interviewer.log)):
        for name, value in row.items():
            if name not in ("session", "started") and value is not None:
                rows.append({"started": row["started"].replace(tzinfo=None), "axis": name, "score": float(value)})
    return pd.DataFrame(rows, columns=["started", "axis", "score"])


def progress_plot(h: Handlers) -> Any:
    return gr.LinePlot(
        lambda: progress_frame(h),  # read on every page load
        x="started",
        y="score",
        color="axis",
        y_lim=[1, 5],
        title="Per-axis progress (average score per session)",
        label="Per-axis progress",
    )


def wire_progress(h: Handlers, refresh: Any, plot: Any) -> None:
    refresh.click(lambda: progress_frame(h), None, plot, api_name="progress")
