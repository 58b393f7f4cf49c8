"""Gradio entry point: builds settings and the index once, hands plain functions to the UI.

The practice interview (questions, follow-ups, grades, debrief) is not built yet; until it lands,
this page says so and offers what works today: searching the corpus and browsing the question bank.
"""

from __future__ import annotations

import html
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gradio as gr

from interviewer.corpus import question_bank
from interviewer.index import Index
from interviewer.settings import Settings

NOT_YET = (
    "**The practice interview is not built yet.** This page will host the mock panel (questions, "
    "follow-ups, graded feedback and a debrief). What works today: search the interview-prep corpus "
    "and browse the question bank it was extracted from."
)


def search_markdown(index: Index, query: str, kind: str) -> str:
    """Ranked hits as HTML-escaped Markdown (corpus and user text is never rendered as markup)."""
    if not query.strip():
        return "Type something to search for."
    hits = index.search(query[:2000], k=5, kind=None if kind == "any" else kind)
    if not hits:
        return "No hits."
    blocks = []
    for rank, hit in enumerate(hits, 1):
        body = html.escape(" ".join(hit.text.split())[:600])
        blocks.append(
            f"**{rank}. {html.escape(hit.heading)}** ({hit.kind}, score {hit.score:.4f})\n\n{body}\n\n`{hit.id}`"
        )
    return "\n\n---\n\n".join(blocks)


def build_app(settings: Settings, index: Index) -> gr.Blocks:
    questions, _ = question_bank(settings)
    tracks = sorted({q.track for q in questions})

    def bank_rows(track: str) -> list[list[str]]:
        return [
            [q.track, q.text, "yes" if q.has_model_answer else "", q.source]
            for q in questions
            if track == "all" or q.track == track
        ]

    with gr.Blocks(title="Mock interviewer — engineering leadership") as demo:
        gr.Markdown("# Mock interviewer for engineering-leadership panels")
        gr.Markdown(NOT_YET)
        with gr.Tab("Search the corpus"):
            query = gr.Textbox(label="Search", placeholder="e.g. how do you cut a data platform bill?")
            kind = gr.Dropdown(
                ["any", "model_answer", "question", "rubric", "feedback_example", "star_story", "guidance"],
                value="any",
                label="Kind",
            )
            results = gr.Markdown()
            go = gr.Button("Search", variant="primary")
            go.click(lambda q, k: search_markdown(index, q, k), [query, kind], results, api_name="search")
            query.submit(lambda q, k: search_markdown(index, q, k), [query, kind], results, api_name=False)
        with gr.Tab(f"Question bank ({len(questions)})"):
            track = gr.Dropdown(["all", *tracks], value="all", label="Track")
            table = gr.Dataframe(
                value=bank_rows("all"), headers=["track", "question", "model answer", "source"], wrap=True
            )
            track.change(bank_rows, track, table, api_name="questions")
    return demo


def main() -> None:
    settings = Settings()
    index = Index(settings)
    if index.count() == 0:
        index.sync()
    index.warm_up()
    demo = build_app(settings, index)
    demo.launch(server_name=settings.server_name, server_port=settings.server_port, share=False)


if __name__ == "__main__":
    main()
