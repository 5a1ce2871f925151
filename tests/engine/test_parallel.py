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


def test_the_health_app_applies_the_engine_threads_setting(settings):
    from django.apps import apps

    settings.RISKGOV_ENGINE_THREADS = 1
    apps.get_app_config("health").ready()
    assert default_threads(None) == 1
    settings.RISKGOV_ENGINE_THREADS = 0  # 0: the engine's own default (min(4, cores))
    set_default_threads(None)
    apps.get_app_config("health").ready()
    assert default_threads(None) == max(1, min(4, __import__("os").cpu_count() or 1))
