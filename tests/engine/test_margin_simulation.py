"""The margin simulator's pure core (FORMATS.md "Margin simulation", RISK_MODEL §14)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from riskgov.engine.margin_simulation import MarginRequestError, simulate_margin
from riskgov.engine.portfolio_margin import PMParams
from tests.engine.test_portfolio_margin import P, ref_price, ref_unit

AS_OF = "2026-12-03T08:00:00Z"
T30 = 30.0 / 365.0


def request(**over):
    req = {
        "format": "riskgov.margin_request/1",
        "as_of": AS_OF,
        "underlyings": [{"asset": "BTC", "price": "100000", "pm": None}],
        "collateral": [
            {"asset": "USDC", "amount": "20000"},
            {"asset": "BTC", "amount": "0.1", "haircut": "0.05"},
        ],
        "perps": [{"market": "BTC-PERP", "underlying": "BTC", "size": "1", "entry_price": "95000"}],
        "options": [
            {
                "underlying": "BTC",
                "expiry": "2027-01-02T08:00:00Z",
                "strike": "110000",
                "kind": "call",
                "size": "-1",
                "mark_iv": "0.55",
            }
        ],
    }
    req.update(over)
    return req


def test_covered_call_result_matches_the_reference_and_the_format():
    res = simulate_margin(request())
    json.dumps(res)  # plain JSON
    assert set(res) == {"format", "as_of", "account", "underlyings"}
    assert res["format"] == "riskgov.margin_result/1" and res["as_of"] == AS_OF
    acc = res["account"]
    assert set(acc) == {
        "equity_usd",
        "initial_margin_usd",
        "maintenance_margin_usd",
        "margin_ratio",
        "liquidatable",
        "liquidation_move",
    }
    (u,) = res["underlyings"]
    assert set(u) == {
        "asset",
        "scenarios",
        "worst_loss_usd",
        "worst_scenario",
        "contingencies",
        "maintenance_margin_usd",
        "initial_margin_usd",
        "option_value_usd",
        "greeks",
    }
    assert set(u["greeks"]) == {"delta", "gamma", "vega_usd", "theta_usd"}
    assert set(u["contingencies"]) == {"short_option_usd", "perp_usd"}
    assert len(u["scenarios"]) == 35 and set(u["scenarios"][0]) == {"move", "vol", "weight", "loss_usd"}
    assert u["scenarios"][0]["vol"] == "down" and u["scenarios"][-1] == pytest.approx(
        {"move": 5.0, "vol": "up", "weight": 0.0072, "loss_usd": u["scenarios"][-1]["loss_usd"]}
    )
    losses, worst, c_so, c_p, mm, im = ref_unit(P, 100_000.0, [(True, 110_000.0, T30, 0.55, -1.0)], perp_q=1.0)
    np.testing.assert_allclose([s["loss_usd"] for s in u["scenarios"]], losses, rtol=1e-9, atol=1e-6)
    assert u["worst_loss_usd"] == pytest.approx(worst, rel=1e-9)
    assert u["worst_scenario"] == {"move": -0.16, "vol": "up", "weight": 1.0}
    assert u["contingencies"] == pytest.approx({"short_option_usd": c_so, "perp_usd": c_p})
    assert acc["maintenance_margin_usd"] == pytest.approx(mm, rel=1e-9)
    assert acc["initial_margin_usd"] == pytest.approx(im, rel=1e-9)
    call = ref_price(True, 100_000.0, 110_000.0, 0.55, T30)
    equity = 20_000.0 + 0.1 * 100_000.0 * 0.95 + 5_000.0 - call
    assert acc["equity_usd"] == pytest.approx(equity, rel=1e-12)
    assert u["option_value_usd"] == pytest.approx(-call, rel=1e-12)
    assert acc["margin_ratio"] == pytest.approx(mm / equity, rel=1e-9)
    assert acc["liquidatable"] is False
    assert -0.5 <= acc["liquidation_move"] < 0  # a long-delta book liquidates on the way down


def test_inline_pm_parameters_and_active_ones():
    inline = request(
        underlyings=[
            {"asset": "BTC", "price": "100000", "pm": {"price_range": "0.2", "mm_factor": "0.5", "extended": []}}
        ]
    )
    res = simulate_margin(inline)
    assert len(res["underlyings"][0]["scenarios"]) == 27
    a = res["account"]
    assert a["maintenance_margin_usd"] == pytest.approx(0.5 * a["initial_margin_usd"])
    p = PMParams(price_range=0.2, mm_factor=0.5, extended=())
    assert a["maintenance_margin_usd"] == pytest.approx(
        ref_unit(p, 100_000.0, [(True, 110_000.0, T30, 0.55, -1.0)], perp_q=1.0)[4], rel=1e-9
    )
    active = simulate_margin(request(), active_pm={"BTC": p})
    assert active["account"] == pytest.approx(a)
    listed = request(
        underlyings=[
            {
                "asset": "BTC",
                "price": "100000",
                "pm": {"scenarios": [{"move": "-0.3", "vol": "up", "weight": "1"}, ["0.3", "none", "1"]]},
            }
        ]
    )
    assert [s["move"] for s in simulate_margin(listed)["underlyings"][0]["scenarios"]] == [-0.3, 0.3]


def test_curve_forward_and_rate():
    req = request(
        underlyings=[
            {
                "asset": "BTC",
                "price": "100000",
                "rate": "0.05",
                "curve": [{"expiry": "2027-01-02T08:00:00Z", "forward": "101000", "rate": "0.04"}],
            }
        ],
        collateral=[],
        perps=[],
    )
    res = simulate_margin(req)
    d1 = (math.log(101_000 / 110_000) + 0.55**2 * T30 / 2) / (0.55 * math.sqrt(T30))
    d2 = d1 - 0.55 * math.sqrt(T30)
    n = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    call = math.exp(-0.04 * T30) * (101_000 * n(d1) - 110_000 * n(d2))
    assert res["underlyings"][0]["option_value_usd"] == pytest.approx(-call, rel=1e-12)


def test_two_underlyings_sum_without_offset_and_an_empty_one_reports_zeros():
    req = request(
        underlyings=[
            {"asset": "BTC", "price": "100000"},
            {"asset": "ETH", "price": "3000"},
            {"asset": "SOL", "price": "150"},
        ],
        perps=[
            {"market": "BTC-PERP", "underlying": "BTC", "size": "1", "entry_price": "100000"},
            {"market": "ETH-PERP", "underlying": "ETH", "size": "-30", "entry_price": "3000"},
        ],
    )
    res = simulate_margin(req)
    btc, eth, sol = res["underlyings"]
    assert res["account"]["maintenance_margin_usd"] == pytest.approx(
        btc["maintenance_margin_usd"] + eth["maintenance_margin_usd"]
    )
    assert eth["maintenance_margin_usd"] == pytest.approx(0.17 * 90_000.0)
    assert sol["maintenance_margin_usd"] == 0.0 and sol["worst_loss_usd"] == 0.0


def test_no_liquidation_move_is_null_and_an_infinite_ratio_is_null():
    rich = simulate_margin(request(collateral=[{"asset": "USDC", "amount": "1000000000"}]))
    assert rich["account"]["liquidation_move"] is None
    broke = simulate_margin(request(collateral=[{"asset": "USDC", "amount": "-100000"}]))
    assert broke["account"]["margin_ratio"] is None
    assert broke["account"]["liquidatable"] is True and broke["account"]["liquidation_move"] == 0.0


def _with(path, value):
    req = request()
    node = req
    keys = path.split("/")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is KeyError:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return req


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "riskgov.margin_request/2", "format: must be 'riskgov.margin_request/1'"),
        ("as_of", "yesterday", "as_of: not an ISO 8601 time"),
        ("as_of", "2026-12-03T08:00:00", "as_of: must say its time zone"),
        ("underlyings", KeyError, "underlyings: is required"),
        ("underlyings/0/price", "0", "underlyings[0].price: must be > 0"),
        ("underlyings/0/pm", {"mm_factor": "1.2"}, "underlyings[0].pm.mm_factor: must be in (0, 1]"),
        ("underlyings/0/pm", {"price_range": "1"}, "underlyings[0].pm.price_range: must be in (0, 1)"),
        ("underlyings/0/pm", {"extended": [{"move": "2", "weight": "0"}]}, "underlyings[0].pm.extended[0].weight"),
        ("underlyings/0/pm", {"bucket": "4"}, "underlyings[0].pm.bucket: unknown field"),
        ("underlyings/0/pm", {"buckets": "2.5"}, "underlyings[0].pm.buckets: must be an integer"),
        ("options/0/strike", "-5", "options[0].strike: must be > 0"),
        ("options/0/mark_iv", "0", "options[0].mark_iv: must be > 0"),
        ("options/0/kind", "straddle", "options[0].kind: must be 'call' or 'put'"),
        ("options/0/size", "abc", "options[0].size: not a decimal"),
        ("options/0/size", True, "options[0].size: must be a decimal string or a number"),
        ("options/0/underlying", "ETH", "options[0].underlying: unknown underlying 'ETH'"),
        ("options/0/expiry", KeyError, "options[0].expiry: is required"),
        ("perps/0/entry_price", "0", "perps[0].entry_price: must be > 0"),
        ("collateral/0/asset", "ETH", "collateral[0].price: required for 'ETH'"),
        ("collateral/1/haircut", "1", "collateral[1].haircut: must be in [0, 1)"),
        ("collateral/0/amount", "NaN", "collateral[0].amount: must be finite"),
    ],
)
def test_bad_requests_get_one_line_naming_the_field(path, value, message):
    with pytest.raises(MarginRequestError) as info:
        simulate_margin(_with(path, value))
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_same_series_nets_and_must_share_its_mark():
    req = request()
    req["options"].append(dict(req["options"][0], size="0.4"))
    res = simulate_margin(req)
    assert res["underlyings"][0]["contingencies"]["short_option_usd"] == pytest.approx(0.01 * 100_000 * 0.6)
    bad = copy.deepcopy(req)
    bad["options"][1]["mark_iv"] = "0.6"
    with pytest.raises(MarginRequestError, match=r"^options\[1\].mark_iv: differs from options\[0\]"):
        simulate_margin(bad)


def test_expired_option_settles_on_intrinsic():
    req = request(perps=[], collateral=[])
    req["options"][0].update(expiry="2026-12-01T08:00:00Z", strike="90000", size="1")
    res = simulate_margin(req)
    assert res["underlyings"][0]["option_value_usd"] == pytest.approx(10_000.0)
