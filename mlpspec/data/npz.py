""".npz and .npy files read with their size known before a byte is decompressed.

An ``.npz`` file is a zip archive of ``.npy`` arrays, each with a small header giving its
shape and dtype. A 2 MB archive can hold one deflated array of 2 GiB of zeros: ``np.load``
would decompress all of it before anyone could check a name or a shape. Here every header is
read first, and the archive is refused, before any array data is decompressed, when:

- an array holds Python objects (they would need unpickling: never done);
- an array is not among ``names`` (when the caller says which it reads: the others are never
  decompressed) or, with ``expected``, its name, shape or dtype differs from what the caller
  expects (a saved model's own arrays);
- an array would inflate more than :data:`MAX_RATIO` times its compressed size, and to more
  than :data:`RATIO_FLOOR` (no real data compresses so well: a zip bomb does);
- the arrays together would take more memory than a run may use
  (:func:`~mlpspec.core.limits.memory_limit`, ``$MLPSPEC_MAX_MEMORY``).

So a file can make mlpspec decompress at most about a hundred times its own size.

A ``.npy`` file is uncompressed: its header may not promise more data than the file holds.
Every refusal is a :class:`~mlpspec.core.errors.DataError` naming the file.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from mlpspec.core.errors import DataError
from mlpspec.core.files import FileProblem, open_regular
from mlpspec.core.limits import LIMIT_VARIABLE, gigabytes, memory_limit

_SUFFIX = ".npy"
MAX_RATIO = 100
"""How many times its compressed size an array may inflate to (deflate reaches 1,000)."""
RATIO_FLOOR = 64 * 2**20
"""Arrays up to this size may compress any amount (a small array of zeros does)."""


class Shaped(Protocol):
    """What a caller expects of an array: an ndarray, or anything with a shape and a dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype


def read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a ``.npy`` stream declares, leaving it at the start of the data;
    ``ValueError`` for what is not a ``.npy`` header of format 1 or 2."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f".npy format {version[0]}.{version[1]} is not read")
    return shape, dtype


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize  # Python integers: no overflow


def read_npz(
    path: Path,
    *,
    what: str = "array file",
    names: Collection[str] | None = None,
    expected: Mapping[str, Shaped] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file at ``path`` (only ``names``, if given), once their
    headers passed the checks of this module; ``what`` names the file in errors (``model
    file``, ``checkpoint``)."""
    try:
        handle = open_regular(path)
    except FileProblem as exc:
        raise DataError(f"{path}: {exc}") from None
    with handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable {what} (not a zip archive: {exc})") from None
        with archive:
            members = _members(archive, path, what)
            wanted = {k: v for k, v in members.items() if names is None or k in names}
            declared = _headers(archive, wanted, path, what)
            _check(declared, expected, path, what, memory_limit())
            arrays = {}
            for key, info in wanted.items():
                try:
                    with archive.open(info) as member:
                        arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
                except Exception as exc:  # zip, zlib, CRC and format errors alike
                    raise DataError(f"{path}: not a readable {what} ({key}: {exc})") from None
    return arrays


def _members(archive: zipfile.ZipFile, path: Path, what: str) -> dict[str, zipfile.ZipInfo]:
    members = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        if not info.filename.endswith(_SUFFIX):
            raise DataError(f"{path}: not a readable {what} ({info.filename!r} is not an array)")
        members[info.filename.removesuffix(_SUFFIX)] = info
    return members


def _headers(
    archive: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo], path: Path, what: str
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each member's declared shape and dtype: only its first bytes are decompressed."""
    declared = {}
    for key, info in members.items():
        try:
            with archive.open(info) as member:
                shape, dtype = read_header(member)
        except Exception as exc:  # a damaged header, a broken zip entry
            raise DataError(f"{path}: not a readable {what} ({key}: {exc})") from None
        if dtype.hasobject:
            raise DataError(
                f"{path}: {key} holds Python objects, which would need unpickling: refused"
            )
        size = _nbytes(shape, dtype)
        if (
            info.compress_type != zipfile.ZIP_STORED
            and size > RATIO_FLOOR
            and size > MAX_RATIO * info.compress_size
        ):
            raise DataError(
                f"{path}: {key} would inflate from {info.compress_size:,} to {size:,} bytes, "
                f"{size / max(info.compress_size, 1):,.0f} times: a decompression bomb? refused "
                "before decompressing"
            )
        declared[key] = (shape, dtype)
    return declared


def _check(
    declared: Mapping[str, tuple[tuple[int, ...], np.dtype]],
    expected: Mapping[str, Shaped] | None,
    path: Path,
    what: str,
    limit: int,
) -> None:
    if expected is not None:
        missing = sorted(set(expected) - set(declared))
        extra = sorted(set(declared) - set(expected))
        if missing or extra:
            raise DataError(
                f"{path}: does not fit: missing {missing}, unexpected {extra} (is it this "
                f"run's {what}?)"
            )
        for key, (shape, dtype) in declared.items():
            want = expected[key]
            if tuple(shape) != tuple(want.shape) or dtype != np.dtype(want.dtype):
                raise DataError(
                    f"{path}: {key} is {dtype}, shape {tuple(shape)}; expected "
                    f"{np.dtype(want.dtype)}, shape {tuple(want.shape)}"
                )
    total = sum(_nbytes(shape, dtype) for shape, dtype in declared.values())
    if total > limit:
        raise DataError(
            f"{path}: its arrays would take {gigabytes(total)} once decompressed, more than "
            f"the {gigabytes(limit)} a run may use (${LIMIT_VARIABLE}, else the machine's "
            "memory): refused before decompressing"
        )


def array_names(path: Path) -> list[str]:
    """The names of the arrays an ``.npz`` file holds, from its table of contents alone."""
    try:
        handle = open_regular(path)
    except FileProblem as exc:
        raise DataError(f"{path}: {exc}") from None
    with handle:
        try:
            with zipfile.ZipFile(handle) as archive:
                return list(_members(archive, path, ".npz file"))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def read_npy(path: Path) -> np.ndarray:
    """The array of the ``.npy`` file at ``path``, once its header was found to promise no
    more data than the file holds and no Python objects."""
    try:
        handle = open_regular(path)
    except FileProblem as exc:
        raise DataError(f"{path}: {exc}") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            shape, dtype = read_header(handle)
        except ValueError as exc:
            raise DataError(f"{path}: not a readable .npy file ({exc})") from None
        if dtype.hasobject:
            raise DataError(f"{path}: holds Python objects, which would need unpickling: refused")
        promised, held = _nbytes(shape, dtype), size - handle.tell()
        if promised > held:
            raise DataError(
                f"{path}: truncated: its header promises {promised:,} bytes of data for shape "
                f"{shape}, the file has {held:,}"
            )
        handle.seek(0)
        try:
            return np.lib.format.read_array(handle, allow_pickle=False)
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npy file ({exc})") from None
