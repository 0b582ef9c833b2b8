"""Output files are written under a temporary name in the target directory and renamed into
place when complete, so an interrupted run never leaves a half-written file behind (a device or
a pipe, such as ``-o /dev/stdout``, is written directly)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path


def file_in_the_way(directory: Path) -> Path | None:
    """The nearest existing ancestor of ``directory`` (itself included) if it is not a directory
    (a file where a directory must be created), else None."""
    d = directory
    while not d.exists():
        if d.parent == d:
            return None
        d = d.parent
    return None if d.is_dir() else d


def output_file(path: str | Path, create: bool = True) -> Path:
    """``path`` as a file that can be written, its directory created (unless ``create`` is
    false: then it is only checked): an ``OSError`` naming it when it is a directory or when a file
    stands where one of its directories belongs (instead of the rename or mkdir failure, which
    names a temporary file or the wrong path)."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory: give the path of a file to write", str(target))
    blocker = file_in_the_way(target.parent)
    if blocker is not None:
        raise NotADirectoryError(errno.ENOTDIR, f"cannot be created: {blocker} is a file, not a directory", str(target))
    if create:
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and rename ``tmp_path`` to ``path`` once it returns. A ``path``
    that exists and is not a regular file (``-o /dev/stdout``, ``/dev/null``, a named pipe) is
    written directly: renaming over it would replace the device or pipe with a file."""
    target = output_file(path)
    if target.exists() and not target.is_file():
        write(target)
        return target
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as e:
        if e.filename not in (str(tmp), tmp):
            raise
        # the temporary file is an implementation detail: the error names the file asked for
        raise type(e)(e.errno, e.strerror, str(target)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
