"""Prompt templates are files in `bundled/prompts/` (package data), rendered with Jinja2's StrictUndefined.

A missing variable is an error, never an empty string. Untrusted text (a candidate's answer, an
uploaded document) is "spotlighted" before it goes into a prompt: wrapped in a delimiter that is
random per request (so the text cannot close it) and datamarked (every space replaced by a marker
character) so the model can tell data from instructions, which the templates repeat after it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from interviewer.resources import package_path

PROMPTS_DIR = package_path("bundled", "prompts")
DATAMARK = "\u02c6"  # ˆ, rare in real answers; spaces in untrusted text become this


@dataclass(frozen=True)
class Spotlit:
    delimiter: str
    text: str


def spotlight(untrusted: str, label: str = "UNTRUSTED") -> Spotlit:
    delimiter = f"{label}-{secrets.token_hex(8)}"
    marked = untrusted.replace(DATAMARK, "^").replace(" ", DATAMARK)
    return Spotlit(delimiter, marked)


@cache
def _environment(directory: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(directory)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


def render_prompt(name: str, directory: Path = PROMPTS_DIR, **variables: object) -> str:
    return _environment(directory).get_template(name).render(**variables, datamark=DATAMARK, spotlight=spotlight)


def prompt_names(directory: Path = PROMPTS_DIR) -> list[str]:
    return sorted(p.name for p in directory.glob("*.j2"))
