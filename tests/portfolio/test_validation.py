"""The PM validator per rule, the exact stricter-than test and the Deribit importer (pure, no database)."""

from decimal import Decimal
from pathlib import Path

import pytest

from riskgov.engine.portfolio_margin import PMParams
from riskgov.portfolio.strictness import scenario_set, stricter_violations
from riskgov.portfolio.validation import DEFAULT_EXTENDED, default_values, max_vol_shock_x, pm_errors
from riskgov.portfolio.venues.deribit import DeribitPMEError, read_deribit_pme

SAMPLE = Path(__file__).parent / "data" / "deribit_pme_simulate_btc.json"
D = Decimal


def rules(**change):
    return {(e.field, e.rule) for e in pm_errors(subject="BTC", values={**default_values(), **change})}


def test_defaults_are_valid_and_match_the_engine_defaults():
    assert pm_errors(subject="BTC", values=default_values()) == []
    eng = PMParams()
    for f, v in default_values().items():
        if f == "extended":
            got = [x for m, w in v for x in (float(m), float(w))]
            assert got == pytest.approx([x for row in eng.extended for x in row], rel=1e-11)
        elif f != "scenarios":
            assert float(v) == getattr(eng, f)


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"price_range": D(0)}, ("price_range", "price_range_range")),
        ({"price_range": D(1)}, ("price_range", "price_range_range")),
        ({"buckets": D("2.5")}, ("buckets", "buckets_integer")),
        ({"buckets": D(0)}, ("buckets", "buckets_integer")),
        ({"buckets": D(101)}, ("buckets", "buckets_integer")),
        ({"vol_range_up": D("-0.1")}, ("vol_range_up", "non_negative")),
        ({"min_vol_for_shock_up": D("-0.1")}, ("min_vol_for_shock_up", "non_negative")),
        ({"perp_contingency": D("-0.01")}, ("perp_contingency", "non_negative")),
        ({"short_option_contingency": D("-0.01")}, ("short_option_contingency", "non_negative")),
        ({"short_term_vega_power": D("-0.3")}, ("short_term_vega_power", "power_non_negative")),
        ({"long_term_vega_power": D("-1")}, ("long_term_vega_power", "power_non_negative")),
        ({"dte_floor_days": D(0)}, ("dte_floor_days", "dte_floor_positive")),
        ({"mm_factor": D(0)}, ("mm_factor", "mm_factor_range")),
        ({"mm_factor": D("1.01")}, ("mm_factor", "mm_factor_range")),
        ({"price_range": "abc"}, ("price_range", "missing_field")),
        ({"extended": ((D(-1), D("0.1")),)}, ("extended[0].move", "move_range")),
        ({"extended": ((D(0), D("0.1")),)}, ("extended[0].move", "move_range")),
        ({"extended": ((D("0.5"), D(0)),)}, ("extended[0].weight", "weight_range")),
        ({"extended": ((D("0.5"), D("1.5")),)}, ("extended[0].weight", "weight_range")),
        ({"extended": ((D("0.5"), D("0.1")), (D("0.5"), D("0.2")))}, ("extended[1].move", "duplicate_scenario")),
        ({"scenarios": ()}, ("scenarios", "scenarios_empty")),
        ({"scenarios": ((D("-0.2"), "sideways", D(1)),)}, ("scenarios[0].vol", "vol_name")),
        ({"scenarios": ((D("-1.2"), "up", D(1)),)}, ("scenarios[0].move", "move_range")),
        ({"scenarios": ((D("0.1"), "up", D(2)),)}, ("scenarios[0].weight", "weight_range")),
    ],
)
def test_each_rule_names_its_field(change, expected):
    assert expected in rules(**change)


def test_vol_down_times_largest_x_must_stay_below_one():
    # x at the 1-day floor = 30^0.3 ≈ 2.7745; d = 0.36 → d·x ≈ 0.9988 < 1, d = 0.37 → 1.0266
    x = max_vol_shock_x(dte_floor_days=D(1), short_term_vega_power=D("0.3"), long_term_vega_power=D("0.13"))
    assert abs(float(x) - 30**0.3) < 1e-14
    assert not rules(vol_range_down=D("0.36"))
    (err,) = pm_errors(subject="BTC", values={**default_values(), "vol_range_down": D("0.37")})
    assert (err.field, err.rule, err.where) == ("vol_range_down", "vol_down_below_one", "BTC vol_range_down")
    assert "largest x" in err.text
    # a floor beyond 30 days uses the long-term power only: x ≤ 1, so d < 1 suffices
    assert not rules(vol_range_down=D("0.99"), dte_floor_days=D(60))


def test_engine_agrees_with_the_validator_on_the_vol_down_bound():
    with pytest.raises(ValueError, match="vol_range_down"):
        PMParams(vol_range_down=0.37)
    PMParams(vol_range_down=0.36)


# --- stricter-than ----------------------------------------------------------------------------
def test_scenario_set_is_exact_and_has_the_27_plus_8_default_scenarios():
    s = scenario_set(default_values())
    assert len(s) == 35
    assert s[(D("-0.16"), "down")] == 1 and s[(D("0.04"), "none")] == 1
    assert s[(D("-0.66"), "up")] == DEFAULT_EXTENDED[0][1]


def test_same_parameters_are_stricter_than_themselves():
    assert stricter_violations(subject="BTC", old=default_values(), new=default_values()) == []


def test_a_finer_wider_grid_keeping_the_old_moves_and_higher_contingency_is_stricter():
    new = {**default_values(), "price_range": D("0.32"), "buckets": D(8), "perp_contingency": D("0.02")}
    new["mm_factor"] = D("0.75")
    assert stricter_violations(subject="BTC", old=default_values(), new=new) == []


@pytest.mark.parametrize(
    "change,rule",
    [
        ({"price_range": D("0.2")}, "scenario_dropped"),  # 0.05 steps lose ±0.04, ±0.08, …
        ({"vol_range_up": D("0.6")}, "vol_shock_changed"),
        ({"dte_floor_days": D(2)}, "vol_shock_changed"),
        ({"extended": DEFAULT_EXTENDED[:-1]}, "scenario_dropped"),
        ({"extended": ((DEFAULT_EXTENDED[0][0], D("0.01")), *DEFAULT_EXTENDED[1:])}, "weight_lowered"),
        ({"short_option_contingency": D("0.005")}, "contingency_lowered"),
        ({"mm_factor": D("0.9")}, "mm_factor_raised"),
    ],
)
def test_looser_or_not_provably_stricter_changes_are_refused(change, rule):
    found = stricter_violations(subject="BTC", old=default_values(), new={**default_values(), **change})
    assert rule in {e.rule for e in found}


def test_explicit_scenarios_must_contain_the_old_grid():
    grid = tuple((m, vol, w) for (m, vol), w in scenario_set(default_values()).items())
    more = {**default_values(), "scenarios": (*grid, (D("-0.5"), "up", D(1)))}
    assert stricter_violations(subject="BTC", old=default_values(), new=more) == []
    fewer = {**default_values(), "scenarios": grid[:-1]}
    assert "scenario_dropped" in {e.rule for e in stricter_violations(subject="BTC", old=default_values(), new=fewer)}


# --- Deribit importer ------------------------------------------------------------------------
def test_deribit_sample_maps_to_the_section_14_defaults():
    imp = read_deribit_pme(SAMPLE.read_text())
    assert list(imp.values) == ["BTC"]
    btc = imp.values["BTC"]
    assert btc == default_values()  # Deribit's published BTC set is riskgov's default
    assert pm_errors(subject="BTC", values=btc) == []
    assert imp.timestamp_ms == 1718619740501
    text = "\n".join(imp.notes)
    assert "m_inc" in text and "extended_dampener" in text and "dte_floor_days" in text
    assert isinstance(btc["price_range"], Decimal) and btc["price_range"] == D("0.16")


@pytest.mark.parametrize(
    "text,where",
    [
        ("{", "not JSON"),
        ('{"result": {"model_params": {"currency_pair": {}}}}', "model_params.general"),
        (
            '{"general": {"mm_factor": 0.8, "buckets_count": 4, "vol_scenarios_count": 5}, "currency_pair": {}}',
            "vol_scenarios_count",
        ),
        (
            '{"general": {"mm_factor": 0.8, "buckets_count": 4}, "currency_pair": {"btc_usd": {"price_range": 0.1}}}',
            "currency_pair.btc_usd.volatility_range_up",
        ),
        ('{"general": {"mm_factor": "x", "buckets_count": 4}, "currency_pair": {}}', "general.mm_factor"),
    ],
)
def test_deribit_bad_files_name_the_place(text, where):
    with pytest.raises(DeribitPMEError, match=where.replace(".", r"\.")):
        read_deribit_pme(text)


# --- the stricter-than proof, checked against the engine on random books ----------------------
def _pm_json(values):
    out = {f: str(v) for f, v in values.items() if f not in ("extended", "scenarios")}
    out["buckets"] = int(values["buckets"])
    out["extended"] = [{"move": str(m), "weight": str(w)} for m, w in values["extended"]]
    if values.get("scenarios") is not None:
        out["scenarios"] = [{"move": str(m), "vol": v, "weight": str(w)} for m, v, w in values["scenarios"]]
    return out


def _random_book(rng):
    from tests.engine.test_margin_simulation import request

    legs = []
    for _ in range(int(rng.integers(1, 7))):
        expiry = str(rng.choice(["2026-12-04T08:00:00Z", "2026-12-24T08:00:00Z", "2027-03-26T08:00:00Z"]))
        strike = int(rng.integers(60, 150)) * 1000
        legs.append(
            {
                "underlying": "BTC",
                "expiry": expiry,
                "strike": str(strike),
                "kind": str(rng.choice(["call", "put"])),
                "size": str(round(float(rng.normal(0, 2)), 3) or 0.5),
                "mark_iv": str(0.4 + abs(strike - 100_000) / 200_000 + 0.1 * int(expiry[6])),  # a smile, one per series
            }
        )
    perps = [
        {
            "market": "BTC-PERP",
            "underlying": "BTC",
            "size": str(round(float(rng.normal(0, 1)), 3)),
            "entry_price": "99000",
        }
    ]
    return request(options=legs, perps=perps)


@pytest.mark.parametrize(
    "change",
    [
        {"price_range": D("0.32"), "buckets": D(8)},
        {"extended": (*DEFAULT_EXTENDED, (D("-0.5"), D("0.5")))},
        {"short_option_contingency": D("0.02"), "perp_contingency": D("0.015"), "mm_factor": D("0.7")},
        {"extended": tuple((m, min(D(1), w * 2)) for m, w in DEFAULT_EXTENDED)},
    ],
)
def test_a_change_that_passes_the_test_never_lowers_mm_or_im_on_random_books(change):
    import numpy as np

    from riskgov.engine.margin_simulation import simulate_margin

    old, new = default_values(), {**default_values(), **change}
    assert stricter_violations(subject="BTC", old=old, new=new) == []
    rng = np.random.default_rng(17)
    for _ in range(40):
        book = _random_book(rng)
        res = {}
        for name, v in (("old", old), ("new", new)):
            book["underlyings"] = [{"asset": "BTC", "price": "100000", "pm": _pm_json(v)}]
            res[name] = simulate_margin(book)["account"]
        for key in ("maintenance_margin_usd", "initial_margin_usd"):
            assert res["new"][key] >= res["old"][key] - 1e-6 * max(1.0, res["old"][key])
