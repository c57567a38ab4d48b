"""The IDX format of MNIST and Fashion-MNIST: a big-endian header, then raw values.

Header: two zero bytes, a type code, the number of dimensions, then each dimension as a
32-bit unsigned integer. Files may be gzip-compressed. Anything that does not add up (a wrong
magic, a truncated body, trailing bytes, a broken gzip stream) is a :class:`DataError` that
names the file.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mlpspec.core.errors import DataError
from mlpspec.core.files import FileProblem, open_regular
from mlpspec.core.limits import LIMIT_VARIABLE, gigabytes, memory_limit

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype: code for code, dtype in _TYPES.items()}


_CHUNK = 2**20
MAX_DIMENSIONS = 32
"""More dimensions than numpy arrays may have (32 in numpy 1.x) is no IDX file of ours."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into an array of its own shape and type.

    The header is read first, and no more data is read (or decompressed) than it promises:
    a header that promises more than a run may hold in memory is refused before anything
    else is read, and a gzip stream that would inflate past the promised size is cut off
    there. Only a regular file is read (a FIFO or a device is refused at once).
    """
    path = Path(path)
    try:
        handle = open_regular(path)
    except FileProblem as exc:
        raise DataError(f"{path}: {exc}") from None
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            compressed = handle.read(2) == b"\x1f\x8b"
            handle.seek(0)
            stream = gzip.GzipFile(fileobj=handle) if compressed else handle
            return _read(stream, path, None if compressed else size)
        except (OSError, EOFError, zlib.error) as exc:  # a broken gzip stream, a read error
            raise DataError(f"{path}: cannot read the file ({exc})") from None


def _read(stream: BinaryIO, path: Path, size: int | None) -> np.ndarray:
    """The array of an IDX stream; ``size`` is the file's size when it is not compressed."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[0:2] != b"\0\0" or magic[2] not in _TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = _TYPES[magic[2]], magic[3]
    if ndim == 0 or ndim > MAX_DIMENSIONS:
        raise DataError(
            f"{path}: the IDX header gives {ndim} dimensions (1 to {MAX_DIMENSIONS} can be read)"
        )
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: IDX header is truncated")
    shape = struct.unpack(f">{ndim}I", dims)
    expected = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    limit = memory_limit()
    if expected > limit:
        raise DataError(
            f"{path}: the IDX header promises {expected:,} bytes of data for shape {shape}, "
            f"more than the {gigabytes(limit)} a run may use (${LIMIT_VARIABLE})"
        )
    if size is not None:  # a plain file: its size says it all, before anything is read
        held = size - 4 - 4 * ndim
        if held != expected:
            _wrong_length(path, expected, shape, held)
        data = stream.read(expected)
    else:  # compressed: inflated a chunk at a time, never past the promise and one byte
        chunks, held = [], 0
        while held <= expected and (chunk := stream.read(min(_CHUNK, expected + 1 - held))):
            chunks.append(chunk)
            held += len(chunk)
        data = b"".join(chunks)
        if held != expected:
            _wrong_length(path, expected, shape, held if held < expected else None)
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _wrong_length(path: Path, expected: int, shape: tuple[int, ...], held: int | None) -> None:
    """Raise: the data is not as long as the header says (``held`` bytes, if known)."""
    problem = "longer than its header says" if held is None or held > expected else "truncated"
    found = "" if held is None else f", the file has {held:,}"
    raise DataError(
        f"{path}: IDX file is {problem}: the header promises {expected:,} bytes of data for "
        f"shape {shape}{found}"
    )


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> None:
    """Write ``array`` as IDX (gzip-compressed if the name ends in .gz, or if ``compress``)."""
    path = Path(path)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big not in _CODES:
        raise ValueError(f"IDX cannot store {array.dtype}")
    header = bytes([0, 0, _CODES[big], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=big).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
