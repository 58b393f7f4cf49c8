"""Files that ship inside the package, found through importlib.resources.

The bundled corpus (`bundled/corpus/`), the prompt templates (`bundled/prompts/`), the rubric
(`rubric.yaml`) and the fitted grading parameters (`grading/calibration.json`) are package data, so
an installed wheel reads its own copy: nothing is looked up relative to a source checkout, which an
installed package does not have. In an editable install the same call points into the source tree,
so `interviewer eval calibrate` still rewrites the committed calibration.json.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

# Paths handed out by as_file() for a package imported from a zip stay valid until the process ends.
_extracted = ExitStack()
atexit.register(_extracted.close)


def package_path(*parts: str) -> Path:
    """A file or folder shipped in the `interviewer` package, as a real path on disk.

    Callers need a Path (the corpus loader lists and stats files, Jinja2 and Chroma's manifest take
    paths). A wheel installed by pip is unpacked, so importlib.resources gives one directly; only a
    package imported from a zip archive is extracted to a temporary copy first.
    """
    resource = files("interviewer").joinpath(*parts)
    if isinstance(resource, Path):
        return resource
    return _extracted.enter_context(as_file(resource))
