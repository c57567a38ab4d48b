"""The IDX format of MNIST and Fashion-MNIST: a big-endian header, then raw values.

Header: two zero bytes, a type code, the number of dimensions, then each dimension as a
32-bit unsigned integer. Files may be gzip-compressed. Anything that does not add up (a wrong
magic, a truncated body, trailing bytes, a broken gzip stream) is a :class:`DataError` that
names the file.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from mlpspec.core.errors import DataError

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype: code for code, dtype in _TYPES.items()}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into an array of its own shape and type."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from None
    if len(raw) < 4 or raw[0:2] != b"\0\0" or raw[2] not in _TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated or has no dimensions")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        problem = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise DataError(
            f"{path}: IDX file is {problem}: the header promises {expected:,} bytes of data for "
            f"shape {shape}, the file has {len(raw) - header:,}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


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
