"""Chunked, threaded execution of elementwise kernels over positions.

numpy's ufuncs and ``take`` release the GIL, so independent slices of a position array can
be computed by a few threads at once. A kernel writes its slice of preallocated outputs;
nothing is summed across chunks, so results are bitwise the same for any thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

#: rows per chunk (keeps a chunk's temporaries in cache)
CHUNK_ROWS = 1 << 18
#: below this many rows the kernel runs inline, in one chunk
MIN_PARALLEL_ROWS = 1 << 19


#: threads when a call gives none (``set_default_threads``); ``None``: ``min(4, os.cpu_count())``
_DEFAULT: int | None = None


def set_default_threads(threads: int | None) -> None:
    """Set the threads every engine call uses when it is given none (``None``: back to
    ``min(4, os.cpu_count())``). A host running several worker processes gives each
    ``cores // workers`` (the health app sets it from ``RISKGOV_ENGINE_THREADS``), so that the
    processes do not share cores between more threads than there are cores.

    Raises:
        ValueError: ``threads`` below 1.
    """
    global _DEFAULT
    if threads is not None and int(threads) < 1:
        raise ValueError(f"engine threads must be at least 1, got {threads}")
    _DEFAULT = None if threads is None else int(threads)


def default_threads(threads: int | None) -> int:
    """Worker threads: ``threads`` when given, else the ``set_default_threads`` value, else
    ``min(4, os.cpu_count())``; at least 1."""
    if threads is None:
        return _DEFAULT if _DEFAULT is not None else max(1, min(4, os.cpu_count() or 1))
    return max(1, int(threads))


def run_chunks(n: int, kernel: Callable[[int, int], None], threads: int | None = None) -> None:
    """Call ``kernel(lo, hi)`` over ``[0, n)`` in chunks of ``CHUNK_ROWS``, on worker threads.

    The kernel must only write rows ``lo:hi`` of its outputs (no shared accumulators).
    """
    workers = default_threads(threads)
    if n < MIN_PARALLEL_ROWS or workers == 1:
        kernel(0, n)
        return
    bounds = [(lo, min(n, lo + CHUNK_ROWS)) for lo in range(0, n, CHUNK_ROWS)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(lambda b: kernel(*b), bounds):
            pass
