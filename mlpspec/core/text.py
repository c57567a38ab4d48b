"""Text from files, made safe for a terminal.

A run folder or a spec can come from anyone; a model name holding ANSI escapes would clear the
screen or retitle the window when ``mlpspec runs`` prints it, a carriage return would print
over what came before, and Unicode's bidirectional overrides would show text in another order
than it is. Such characters (escape included) are shown as Python escapes instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 and C1 controls but tab and newline: ESC, CR, CSI...
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks and overrides
    "\u2028\u2029]"  # line and paragraph separators
)


def printable(text: str) -> str:
    """``text`` with every control character (but tab and newline) escaped, visibly."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


def one_line(text: str) -> str:
    """:func:`printable`, and newlines and tabs escaped too: for a table cell or a name."""
    return printable(text).replace("\t", "\\t").replace("\n", "\\n")


def columns(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """Rows of cells as aligned lines, the columns numbered in ``right`` right-aligned; every
    cell passes through :func:`one_line`, so that no text from a file, a spec or a plugin
    reaches the terminal raw or breaks a row."""
    cells = [[one_line(str(cell)) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))] if cells else []
    return [
        "  ".join(
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def file_name_part(text: str, max_bytes: int = 200) -> str:
    """``text`` made fit to begin a file name: letters, digits, ``-``, ``_`` and ``.`` kept,
    anything else (``/`` included) made ``_``; no leading dot or dash (no hidden file, nothing
    a command would take for an option); at most ``max_bytes`` of UTF-8, well within the 255
    bytes a file name may have, with room for what follows it."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).lstrip(".-")
    return safe.encode()[:max_bytes].decode("utf-8", "ignore")
