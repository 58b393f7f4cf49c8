"""Starting the practice app: settings, index, model and interviewer built once, then Gradio launched.

`interviewer serve` and `python app.py` (a checkout's `make run`) both come here, so an installed
wheel serves the same app as the source tree. The UI itself lives in web.py.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field

# No telemetry and no hub downloads unless the environment asks otherwise: set before the imports
# that read them (gradio, chromadb, transformers).
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

# How many events Gradio runs at once across sessions (each session holds a lock of its own).
QUEUE_CONCURRENCY = 8


@dataclass(frozen=True)
class Listen:
    """Where and how the app listens, decided from settings alone (no side effects, so it is testable)."""

    server_name: str
    server_port: int
    auth: tuple[str, str] | None = field(repr=False)  # the password stays out of logs and tracebacks
    share: bool = False  # never a public gradio.live tunnel: sessions hold candidates' answers
    warning: str | None = None  # set when the app is reachable beyond this machine without a password


def is_loopback(host: str) -> bool:
    """True for names that only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a hostname, "0.0.0.0", "" (all interfaces): assume it is reachable from elsewhere


def listen_options(settings: Settings) -> Listen:
    auth = None
    if settings.auth_username and settings.auth_password and settings.auth_password.get_secret_value():
        auth = (settings.auth_username, settings.auth_password.get_secret_value())
    warning = None
    if auth is None and not is_loopback(settings.server_name):
        warning = (
            f"LISTENING ON {settings.server_name or 'ALL INTERFACES'} WITHOUT A PASSWORD: anyone who can reach "
            "this address can use the app and read every session. Set INTERVIEWER_AUTH_USERNAME and "
            "INTERVIEWER_AUTH_PASSWORD, or INTERVIEWER_SERVER_NAME=127.0.0.1 to keep it on this machine."
        )
    return Listen(settings.server_name, settings.server_port, auth, share=False, warning=warning)


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    listen = listen_options(settings)
    if listen.warning:
        log.warning(listen.warning)
    index = Index(settings)
    if index.count() == 0:
        index.sync()
    index.warm_up()
    warm_up_grader(index)
    interviewer = build_interviewer(settings, index)
    demo = build_app(settings, index, interviewer)
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY)
    demo.launch(server_name=listen.server_name, server_port=listen.server_port, share=listen.share, auth=listen.auth)
