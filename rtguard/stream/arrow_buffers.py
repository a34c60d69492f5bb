"""Arrow arrays to and from numpy through their buffers, never through pa.array, pa.scalar or to_numpy.

Those import pandas at their first call (pyarrow checks whether what it is given is a
pandas object): about 0.2 s that a one-shot `rtguard score` would spend inside its
stream, and a module the serving path otherwise never loads (tests/test_imports.py).
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa

_NUMPY = {pa.float64(): np.dtype(np.float64), pa.int32(): np.dtype(np.int32)}  # numbers, and dictionary codes


def values_of(array: pa.Array) -> np.ndarray:
    """A null-free numeric array's values, viewed."""
    dtype = _NUMPY[array.type]
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def binary(pieces: list[bytes]) -> pa.BinaryArray:
    offsets = np.zeros(len(pieces) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, pieces), dtype=np.int32, count=len(pieces)), out=offsets[1:])
    return pa.BinaryArray.from_buffers(pa.binary(), len(pieces), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(pieces))])


def integers(values: np.ndarray) -> pa.Int64Array:
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


@functools.lru_cache(maxsize=256)
def scalar(text: bytes, type: pa.DataType = pa.binary()) -> pa.Scalar:
    """A constant's scalar, made once: a scalar costs microseconds."""
    return binary([text]).cast(type)[0]
