"""The §12 flag rule (riskgov.engine.model_flags): MMF_1 below ``(1 − tol)`` × the
recommendation (tol 0.25 by default), or a backtest rejecting with MORE exceedances than
expected; unknown inputs give ``None``; both stored editions are read."""

from riskgov.engine.model_flags import (
    DEFAULT_MMF_TOLERANCE,
    backtest_fails,
    backtests,
    edition,
    mmf_check,
    recommended_mmfs,
)


def test_default_tolerance_is_the_section_12_one():
    assert DEFAULT_MMF_TOLERANCE == 0.25
    c = mmf_check(0.004, [0.005])  # 0.004 ≥ 0.75 · 0.005 = 0.00375: not flagged
    assert c.line == 0.005 * 0.75 and not c.below
    assert mmf_check(0.0037, [0.005]).below


def test_mmf_check_against_the_highest_recommendation():
    c = mmf_check(0.004, [0.003, 0.005], tolerance=0.0)
    assert c.recommended == 0.005 and c.line == 0.005 and c.below
    assert not mmf_check(0.006, [0.003, 0.005]).below


def test_mmf_check_tolerance_and_unknowns():
    c = mmf_check(0.004, [0.005, None], tolerance=0.25)
    assert c.line == 0.005 * 0.75 and not c.below
    assert mmf_check(None, [0.005]) is None and mmf_check(0.004, [None]) is None and mmf_check(0.004, []) is None


def test_backtest_flags_only_a_rejection_with_more_exceedances_than_expected():
    # edition 2: the engine's too_many, or reject with x > expected
    assert backtest_fails({"reject": True, "too_many": True, "exceedances": 200, "expected": 87.6}) is True
    assert backtest_fails({"reject": True, "too_many": False, "exceedances": 10, "expected": 87.6}) is False
    assert backtest_fails({"reject": True, "exceedances": 200, "expected": 87.6}) is True
    assert backtest_fails({"reject": True, "exceedances": 10, "expected": 87.6}) is False  # conservative
    assert backtest_fails({"reject": False, "exceedances": 95, "expected": 87.6}) is False
    # edition 1: expected = n · expected_rate
    assert backtest_fails({"reject": True, "exceedances": 870, "n": 1094, "expected_rate": 0.005}) is True
    assert backtest_fails({"reject": True, "exceedances": 0, "n": 1094, "expected_rate": 0.005}) is False
    assert backtest_fails({"reject": True}) is True  # direction unknown: not silenced
    assert backtest_fails({"reject": False, "n": 10}) is False
    assert backtest_fails({}) is None and backtest_fails(None) is None


def test_both_editions_are_read():
    new = {
        "edition": 2,
        "horizon_minutes": 5.0,
        "brackets": [{"mmf_rec": 0.009}, {"mmf_rec": 0.012}],
        "backtest": {"reject": False, "too_many": False},
    }
    old = {"h1": {"mmf_rec": 0.1, "backtest": {"reject": True}}, "h3": {"mmf_rec": 0.2}}
    assert edition(new) == 2 and edition(old) == 1
    assert recommended_mmfs(new) == [0.009]  # MMF_1's recommendation only
    assert recommended_mmfs(old) == [0.1, 0.2]
    assert backtests(new) == [("5 min", new["backtest"])]
    assert backtests(old) == [("1 d", {"reject": True})]
    assert recommended_mmfs({"edition": 2, "note": "no history"}) == [] and backtests({"edition": 2}) == []
