"""Writing files so that a crash never leaves a half-written one, and taking turns on a folder.

Every file the core writes (checkpoints, the checkpoint manifest, reproduction and audit reports,
figures) goes through :func:`atomic_write`: the data goes to a temporary file in the same folder,
is flushed to disk, then renamed over the target in one step. Readers see the old file or the
complete new one; a failure removes the temporary file and leaves the old file as it was.

Example::

    >>> atomic_write("results/summary.json", json.dumps(report))
    >>> atomic_write("checkpoints/basic-cnn.pt", lambda f: torch.save(payload, f))
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

# Read once at import: os.umask can only be read by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(
    path: str | Path, data: bytes | str | Callable[[BinaryIO], None], *, encoding: str = "utf-8"
) -> Path:
    """Replace ``path`` with ``data`` atomically and return the path.

    ``data`` is bytes, text (encoded with ``encoding``) or a callback that writes into the open
    binary temporary file (``lambda f: torch.save(payload, f)``). The temporary file is named
    ``.<name>.<random>.tmp`` beside the target, so listings of ``*.pt`` or ``*.json`` never see
    it; the new file gets ordinary permissions (as ``open()`` would create it), not the private
    ones of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode(encoding) if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def directory_lock(directory: str | Path, name: str = ".lock") -> Iterator[None]:
    """Exclusive advisory lock on ``directory/name`` (both created if needed): processes that
    read-modify-write a shared file (the manifest, an audit report) take turns."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
