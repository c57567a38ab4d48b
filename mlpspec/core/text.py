"""Text from files, made safe for a terminal.

A run folder or a spec can come from anyone; a model name holding ANSI escapes would clear the
screen or retitle the window when ``mlpspec runs`` prints it. Control characters (escape
included) are shown as Python escapes instead.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character (but tab and newline) escaped, visibly."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)
