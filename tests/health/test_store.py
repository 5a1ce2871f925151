"""The storage boundary of a run (``health.services._store``): partial JSON and ``inf → null``."""

import math

import numpy as np

from riskgov.engine.combine import combine_partials
from riskgov.engine.run import run_result
from riskgov.health.services._store import null_inf, partial_from_json, partial_to_json
from tests.engine.test_combine import hand_partial


def test_partial_json_round_trip_keeps_every_bit():
    p = hand_partial(7, equity=0.1 + 0.2)
    data = partial_to_json(p)
    assert set(data) == {
        "accounts", "positions", "equity", "initial_margin", "maintenance_margin", "liquidatable",
        "bankrupt", "shortfall", "limit_breaches", "s_liquidated", "s_bankrupt", "s_shortfall",
        "s_penalties", "s_top2", "s_top2_account",
    }  # fmt: skip
    back = partial_from_json({**data, "dist": {}}, first_account=7)
    for name in p.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(back, name), getattr(p, name), err_msg=name)
    assert back.top2_shortfall.shape == (3, 2)


def test_infinite_ratios_are_stored_null():
    r = run_result(combine_partials([], n_scenarios=1), insurance_fund=5.0)
    assert math.isinf(r.coverage_ratio) and null_inf(r.coverage_ratio) is None
    assert null_inf(float("nan")) is None and null_inf(-math.inf) is None
    assert null_inf(np.float64(0.5)) == 0.5
