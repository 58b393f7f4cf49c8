"""The placeholder app, launched on loopback and driven through gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import Client

from interviewer.index import Index


@pytest.fixture(scope="module")
def launched(corpus_index: Index):
    from app import build_app

    demo = build_app(corpus_index.settings, corpus_index)
    demo.launch(server_name="127.0.0.1", server_port=None, share=False, prevent_thread_lock=True, quiet=True)
    try:
        yield demo
    finally:
        demo.close()


def test_placeholder_says_the_interview_is_not_there_yet():
    from app import NOT_YET

    assert "not built yet" in NOT_YET


def test_search_endpoint_returns_escaped_hits(launched):
    client = Client(launched.local_url, verbose=False)
    out = client.predict("how do you cut a data platform bill?", "any", api_name="/search")
    assert "1." in out and "`" in out
    injected = client.predict("<script>alert(1)</script>", "any", api_name="/search")
    assert "<script>" not in injected
    rows = client.predict("leadership", api_name="/questions")
    assert len(rows["data"]) == 10
    assert launched.local_url.startswith("http://127.0.0.1:")
