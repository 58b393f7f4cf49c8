"""Gradio entry point: builds settings, index, model and interviewer once; the UI lives in web.py."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from interviewer.assemble import build_interviewer
from interviewer.grading.reference import warm_up as warm_up_grader
from interviewer.index import Index
from interviewer.settings import Settings
from interviewer.web import build_app

log = logging.getLogger("interviewer.app")


def main() -> None:
    settings = Settings()
    index = Index(settings)
    if index.count() == 0:
        index.sync()
    index.warm_up()
    warm_up_grader(index)
    interviewer = build_interviewer(settings, index)
    auth = None
    if settings.auth_username and settings.auth_password:
        auth = (settings.auth_username, settings.auth_password.get_secret_value())
    elif settings.server_name not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "LISTENING ON %s WITHOUT A PASSWORD: anyone who can reach this address can use the app and read "
            "sessions. Set INTERVIEWER_AUTH_USERNAME and INTERVIEWER_AUTH_PASSWORD.",
            settings.server_name,
        )
    demo = build_app(settings, index, interviewer)
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name=settings.server_name, server_port=settings.server_port, share=False, auth=auth)


if __name__ == "__main__":
    main()
