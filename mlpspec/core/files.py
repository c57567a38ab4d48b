"""Opening the files a spec, a run folder or a command line names, without being led astray.

Such a path may name anything: a FIFO, whose ``open`` blocks until someone writes to it;
``/dev/zero``, which never ends; a folder; a file larger than any spec. Only regular files are
read, and they are opened without blocking, so a FIFO is refused at once instead of hanging
the command; a read is bounded by the caller's limit, so even a file that grows, or a
``/proc`` file that claims to be empty, cannot make it read more.

Every refusal is a :class:`FileProblem` whose text says what the path is ("a FIFO (named
pipe), not a file"); callers turn it into their own located error (a spec's, a dataset's).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class FileProblem(Exception):
    """A path that cannot be read as a regular file; ``str()`` is the reason, for messages."""


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.EISDIR:
        return "a folder, not a file"
    if exc.errno == errno.ELOOP:
        return "a symbolic link that loops"
    return f"cannot read the file ({exc.strerror or exc})"


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file (symbolic links
    followed); anything else is a :class:`FileProblem` raised before any read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileProblem(_reason(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise FileProblem(f"{kind}, not a file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def first_file(candidates: Iterable[Path]) -> Path | None:
    """The first candidate that is a file. One that cannot even be looked at (in a folder
    the user may not search) counts as absent, so that the search goes on past it."""
    for candidate in candidates:
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def read_limited(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file at ``path``: a :class:`FileProblem` if it holds more than
    ``limit`` bytes (it is never read past ``limit + 1``).

    The file's size sizes the first read (a single allocation for an ordinary file); a file
    that turns out longer (it grows, or it is a ``/proc`` file that says it is empty) is
    read on in chunks of a mebibyte."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        chunks: list[bytes] = []
        total, want = 0, min(size, limit) + 1
        try:
            while chunk := handle.read(min(want, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise FileProblem(
                        f"larger than the {limit:,} bytes a {what} may have: is it the right "
                        "file?"
                    )
                want = 2**20
        except OSError as exc:
            raise FileProblem(_reason(exc)) from None
    return b"".join(chunks)
