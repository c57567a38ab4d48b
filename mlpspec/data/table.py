"""Tables of numbers from CSV files, every row known by its line in the file.

Used by the ``csv`` dataset and by ``mlpspec predict``. Only a regular file is read (a FIFO or
``/dev/zero`` is refused at once), and no more of it than a run may hold in memory. numpy's
fast parser reads the table; when it refuses one, the first line and column at fault are
found and named, without quoting the file's content (a run folder's spec may point a dataset
at any readable file, and its text has no business on the terminal). Every value must be a
finite number: ``nan``, ``inf`` and ``1e400`` are refused at their line and column.

Lines are numbered from 1 as editors show them; blank lines and ``#`` comments are skipped
(as numpy's ``loadtxt`` does), and still counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpspec.core.errors import DataError
from mlpspec.core.files import FileProblem, read_limited
from mlpspec.core.limits import memory_limit
from mlpspec.data.checks import first_non_finite

DELIMITER_HELP = "one character that is not a digit, a sign, a point, an 'e', a quote or '#'"


@dataclass(frozen=True)
class Table:
    """Rows of finite float64 values, and the line (from 1) of each row in the file."""

    values: np.ndarray
    lines: list[int]
    header: int | None = None
    """The line of the header that was skipped, if any."""


def check_delimiter(delimiter: str) -> str:
    """Raise ``ValueError`` unless ``delimiter`` can separate numbers (see
    :data:`DELIMITER_HELP`); a tab or a comma, a semicolon, a bar are fine."""
    if len(delimiter) != 1 or delimiter in "0123456789+-.eE#\"'\n\r" or not (
        delimiter.isprintable() or delimiter == "\t"
    ):
        raise ValueError(f"the delimiter must be {DELIMITER_HELP}, got {delimiter!r}")
    return delimiter


def read_table(path: Path, *, delimiter: str = ",", header: bool | None = False) -> Table:
    """The numbers of the CSV file at ``path``.

    ``header``: ``True`` skips the first line that is not blank; ``None`` skips it only when
    it is one, that is when none of its cells is a number (a first row with a typo in one
    cell is an error at that cell, not a header dropped without a word).
    """
    try:
        check_delimiter(delimiter)
        raw = read_limited(path, memory_limit(), "table")
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except (FileProblem, ValueError) as exc:
        raise DataError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}, line {line}: not UTF-8 text ({exc.reason})") from None
    rows, lines = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        content = line.partition("#")[0].strip()
        if content:
            rows.append(content)
            lines.append(number)
    skipped = None
    if rows and (header or (header is None and not _has_number(rows[0], delimiter))):
        skipped = lines[0]
        rows, lines = rows[1:], lines[1:]
    if not rows:
        after = f" after the header on line {skipped}" if skipped else ""
        raise DataError(f"{path}: holds no rows of numbers{after}")
    try:
        values = np.loadtxt(rows, delimiter=delimiter, ndmin=2, dtype=np.float64, comments=None)
    except ValueError:
        raise DataError(f"{path}, {_first_fault(rows, lines, delimiter)}") from None
    at = first_non_finite(values)
    if at is not None:
        row, column = at
        raise DataError(
            f"{path}, line {lines[row]}, column {column + 1}: {values[row, column]} is not "
            "a finite number (NaN, infinite, or beyond float64's range)"
        )
    return Table(values, lines, skipped)


def _has_number(row: str, delimiter: str) -> bool:
    return any(_is_number(cell) for cell in _cells(row, delimiter))


def _cells(row: str, delimiter: str) -> list[str]:
    return [cell.strip() for cell in row.split(delimiter)]


def _is_number(cell: str) -> bool:
    """Whether numpy's parser reads ``cell`` as a number (Python's ``float`` also takes
    ``1_000`` and full-width digits, which numpy does not)."""
    if not cell.isascii() or "_" in cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _first_fault(rows: list[str], lines: list[int], delimiter: str) -> str:
    """Where numpy's parser gave up, in words that do not quote the file."""
    width = len(_cells(rows[0], delimiter))
    for row, line in zip(rows, lines, strict=True):
        cells = _cells(row, delimiter)
        if len(cells) != width:
            return (
                f"line {line}: {len(cells)} values, but line {lines[0]} has {width}: every "
                "row needs as many"
            )
        for column, cell in enumerate(cells, start=1):
            if not _is_number(cell):
                what = "an empty cell" if not cell else f"not a number ({len(cell)} characters)"
                return f"line {line}, column {column}: {what}"
        try:
            np.loadtxt([row], delimiter=delimiter, dtype=np.float64, comments=None)
        except ValueError:
            return f"line {line}: not readable as numbers"
    return "not readable as a table of numbers"
