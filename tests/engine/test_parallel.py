"""Engine threads: a process-wide default (one share of the host's cores per worker process),
and results bitwise the same for any thread count."""

import numpy as np
import pytest

from riskgov.engine import _parallel
from riskgov.engine._parallel import default_threads, run_chunks, set_default_threads


@pytest.fixture(autouse=True)
def _reset():
    yield
    set_default_threads(None)


def test_default_threads_follows_the_process_setting():
    auto = default_threads(None)
    assert 1 <= auto <= 4
    set_default_threads(1)
    assert default_threads(None) == 1 and default_threads(3) == 3
    set_default_threads(None)
    assert default_threads(None) == auto
    with pytest.raises(ValueError, match="at least 1"):
        set_default_threads(0)


def test_chunked_kernel_is_the_same_for_any_thread_count():
    n = _parallel.MIN_PARALLEL_ROWS + 12345
    x = np.random.default_rng(3).normal(size=n)
    outs = []
    for threads in (1, 2, 3):
        set_default_threads(threads)
        out = np.empty(n)

        def kernel(lo, hi, out=out):
            out[lo:hi] = np.sqrt(np.abs(x[lo:hi])) * x[lo:hi]

        run_chunks(n, kernel)
        outs.append(out)
    assert all(o.tobytes() == outs[0].tobytes() for o in outs)
