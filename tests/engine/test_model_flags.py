"""The §12 flag rule (riskgov.engine.model_flags): below the highest recommendation with a
tolerance; unknown inputs give ``None``."""

from riskgov.engine.model_flags import DEFAULT_MMF_TOLERANCE, backtest_fails, mmf_check


def test_mmf_check_against_the_highest_recommendation():
    c = mmf_check(0.004, [0.003, 0.005])
    assert c.recommended == 0.005 and c.line == 0.005 and c.below
    assert not mmf_check(0.006, [0.003, 0.005]).below
    assert DEFAULT_MMF_TOLERANCE == 0.0


def test_mmf_check_tolerance_and_unknowns():
    c = mmf_check(0.004, [0.005, None], tolerance=0.25)
    assert c.line == 0.005 * 0.75 and not c.below
    assert mmf_check(None, [0.005]) is None and mmf_check(0.004, [None]) is None and mmf_check(0.004, []) is None


def test_backtest_fails():
    assert backtest_fails({"reject": True}) is True
    assert backtest_fails({"reject": False, "n": 10}) is False
    assert backtest_fails({}) is None and backtest_fails(None) is None
