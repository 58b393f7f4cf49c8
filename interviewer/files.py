"""Writing files so that neither a crash nor a second writer ever leaves half of one."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomically(target: Path, data: bytes) -> None:
    """Write a hidden temporary file beside `target`, fsync it, then rename it over `target`.

    The temporary name is unique per process and thread, so two writers of one file (two events of a
    session streaming at once) never share it; readers see the old file or the new one. Hidden, so a
    folder scan (the documents folder) skips one left behind by a crash.
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
