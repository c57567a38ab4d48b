"""Fused elementwise kernels for the training step: numba-compiled when the optional ``fast``
extra is installed, plain numpy otherwise.

Both versions do, for every element, the very same float operations in the same order, each
rounded to the array's dtype (numba without ``fastmath`` neither reorders nor contracts them
into fused multiply-adds), so a run gives the same bits with or without numba. What the
compiled version saves is memory traffic and calls: numpy makes one pass over the arrays per
operation (four for a momentum update), the kernel one pass in all.

numba costs each process about a second to import and one or two more to load the compiled
kernels from its disk cache (measured 2–3.5 s on a busy 2-core machine), and about 100 MB of
resident memory; the fused update saves about 0.3 µs per thousand parameters a step. So the
compiled kernels are used only for parameters of at least :data:`WORTH_COMPILING` elements,
and a network without any never loads numba: they pay for wide networks trained for many
steps (W5's 1.3 M parameters: after about 7,000 steps), not for small ones.

Set ``MLPSPEC_NUMBA=0`` to use numpy even where numba is installed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np

Array = np.ndarray


WORTH_COMPILING = 1 << 17
"""Elements from which a parameter is updated by the compiled kernels, where installed."""


def numpy_momentum(w: Array, g: Array, v: Array, mu: float, lr: float) -> None:
    """v ← μ·v + lr·g;  w ← w − v in numpy's four in-place passes (g is overwritten)."""
    v *= mu
    g *= lr
    v += g
    w -= v


def numpy_sgd(w: Array, g: Array, lr: float) -> None:
    """w ← w − lr·g in numpy's two in-place passes (g is overwritten)."""
    g *= lr
    w -= g


@functools.cache
def compiled() -> tuple[Callable[..., None], Callable[..., None]] | None:
    """The numba versions of the kernels, or None without numba (or with MLPSPEC_NUMBA=0).

    Compiled on first use, not at import: commands that do not train never load numba."""
    if os.environ.get("MLPSPEC_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None

    # cache=True keeps the machine code on disk (beside this file, or in NUMBA_CACHE_DIR), so
    # that only the first process on a machine pays the compilation (about a second)
    jit = numba.njit(nogil=True, cache=True, error_model="numpy")

    @jit
    def momentum(w, g, v, mu, lr):  # pragma: no cover - compiled
        for i in range(w.size):
            velocity = v[i] * mu + g[i] * lr
            v[i] = velocity
            w[i] -= velocity

    @jit
    def sgd(w, g, lr):  # pragma: no cover - compiled
        for i in range(w.size):
            w[i] -= g[i] * lr

    return momentum, sgd


def momentum(w: Array, g: Array, v: Array, mu: float, lr: float) -> None:
    """v ← μ·v + lr·g;  w ← w − v, in place, on same-shaped contiguous arrays (g may be
    overwritten): compiled where numba is installed."""
    kernels = compiled()
    if kernels is None:
        numpy_momentum(w, g, v, mu, lr)
    else:
        scalar = w.dtype.type
        kernels[0](w.reshape(-1), g.reshape(-1), v.reshape(-1), scalar(mu), scalar(lr))


def sgd(w: Array, g: Array, lr: float) -> None:
    """w ← w − lr·g, in place (g may be overwritten): compiled where numba is installed."""
    kernels = compiled()
    if kernels is None:
        numpy_sgd(w, g, lr)
    else:
        kernels[1](w.reshape(-1), g.reshape(-1), w.dtype.type(lr))


def momentum_for(size: int) -> Callable[[Array, Array, Array, float, float], None]:
    """The momentum update worth using for a parameter of ``size`` elements. Call it on the
    thread that splits the work: it loads numba there, once, rather than in each pool
    thread at the same time."""
    if size >= WORTH_COMPILING and compiled() is not None:
        return momentum
    return numpy_momentum


def sgd_for(size: int) -> Callable[[Array, Array, float], None]:
    """The SGD update worth using for a parameter of ``size`` elements (see
    :func:`momentum_for`)."""
    if size >= WORTH_COMPILING and compiled() is not None:
        return sgd
    return numpy_sgd
