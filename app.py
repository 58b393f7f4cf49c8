"""Gradio entry point for a checkout (`make run`); an installed package runs `interviewer serve`.

Both start interviewer/serve.py, which builds settings, index, model and interviewer once.
"""

from __future__ import annotations

from interviewer.serve import main

if __name__ == "__main__":
    main()
