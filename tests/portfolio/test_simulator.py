"""The margin simulator through its two front ends: ``manage.py simulate_margin`` and
``POST /api/v1/margin/simulate`` (FORMATS.md "Margin simulation"), with the governed PM parameters."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from riskgov.markets.models import Asset
from riskgov.portfolio.services import pm_defaults_seed, pm_version_create
from tests.engine.test_margin_simulation import request

pytestmark = pytest.mark.django_db
ACCOUNT_KEYS = {
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "margin_ratio",
    "liquidatable",
    "liquidation_move",
}
UNDERLYING_KEYS = {
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


def run(path, *extra):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("simulate_margin", str(path), *extra, stdout=out, stderr=err)
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def wider_active(market):
    """BTC with active PM parameters whose price range is 0.3 (not the default)."""
    btc = Asset.objects.get(symbol="BTC")
    v1 = pm_defaults_seed(underlying=btc)
    from riskgov.portfolio.services import pm_version_set_status

    v2 = pm_version_create(underlying=btc, values={"price_range": Decimal("0.3"), "buckets": Decimal(6)})
    pm_version_set_status(version=v2, status="approved")
    pm_version_set_status(version=v1, status="superseded")
    return pm_version_set_status(version=v2, status="active")


# --- command ----------------------------------------------------------------------------------
def test_command_good_request_prints_a_summary_and_writes_the_exact_format(tmp_path, wider_active):
    req, out_json = tmp_path / "req.json", tmp_path / "out.json"
    req.write_text(json.dumps(request()))
    code, out, err = run(req, "--output-json", str(out_json))
    assert code == 0 and err == ""
    assert out.startswith("account: equity $") and "\nBTC: MM $" in out and f"wrote {out_json}" in out
    res = json.loads(out_json.read_text())
    assert set(res) == {"format", "as_of", "account", "underlyings"} and res["format"] == "riskgov.margin_result/1"
    assert set(res["account"]) == ACCOUNT_KEYS
    (u,) = res["underlyings"]
    assert set(u) == UNDERLYING_KEYS and set(u["scenarios"][0]) == {"move", "vol", "weight", "loss_usd"}
    # pm: null → the active governed set (R 0.3, n 6 → 13 moves × 3 vols + 8 extended)
    assert len(u["scenarios"]) == 13 * 3 + 8 and u["scenarios"][0]["move"] == pytest.approx(-0.3)


@pytest.mark.parametrize(
    "mutate,line",
    [
        (lambda r: r["options"][0].update(strike="-1"), "invalid request: options[0].strike: must be > 0"),
        (lambda r: r.update(format="x"), "invalid request: format: must be 'riskgov.margin_request/1'"),
        (lambda r: r["perps"][0].update(underlying="ETH"), "invalid request: perps[0].underlying: unknown underlying"),
    ],
)
def test_command_bad_request_exits_1_with_one_line(tmp_path, mutate, line):
    r = request()
    mutate(r)
    req, out_json = tmp_path / "req.json", tmp_path / "out.json"
    req.write_text(json.dumps(r))
    code, out, err = run(req, "--output-json", str(out_json))
    assert code == 1 and out == "" and not out_json.exists()
    assert err.count("\n") == 1 and err.startswith(line)


def test_command_unreadable_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    code, _, err = run(bad)
    assert code == 1 and err.startswith("invalid request: request: not JSON")
    code, _, err = run(tmp_path / "missing.json")
    assert code == 1 and err.startswith("invalid request: request: cannot read")


# --- API --------------------------------------------------------------------------------------
URL = "/api/v1/margin/simulate"


@pytest.mark.parametrize("who,status", [("analyst", 200), ("m1", 200), ("admin", 200), ("viewer", 403)])
def test_api_permissions_per_role(api, people, market, who, status):
    api.force_authenticate(people[who])
    res = api.post(URL, request(), format="json")
    assert res.status_code == status
    if status == 403:
        assert set(res.json()) == {"message", "extra"}


def test_api_refuses_anonymous_and_role_less_users(api, db):
    from tests.factories import UserFactory

    assert api.post(URL, request(), format="json").status_code in (401, 403)
    api.force_authenticate(UserFactory(username="nobody"))
    assert api.post(URL, request(), format="json").status_code == 403


def test_api_answers_like_the_command_with_the_active_parameters(api, people, wider_active, tmp_path):
    api.force_authenticate(people["analyst"])
    res = api.post(URL, request(), format="json")
    assert res.status_code == 200
    req, out_json = tmp_path / "req.json", tmp_path / "out.json"
    req.write_text(json.dumps(request()))
    assert run(req, "--output-json", str(out_json))[0] == 0
    assert res.json() == json.loads(out_json.read_text())


def test_api_inline_pm_overrides_the_active_set(api, people, wider_active):
    api.force_authenticate(people["analyst"])
    r = request(underlyings=[{"asset": "BTC", "price": "100000", "pm": {"buckets": 2}}])
    (u,) = api.post(URL, r, format="json").json()["underlyings"]
    assert len(u["scenarios"]) == 5 * 3 + 8 and u["scenarios"][0]["move"] == pytest.approx(-0.16)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda r: r["options"][0].update(mark_iv="0"), "options[0].mark_iv"),
        (lambda r: r["collateral"][0].pop("amount"), "collateral[0].amount"),
        (lambda r: r["underlyings"][0].update(pm={"mm_factor": 2}), "underlyings[0].pm.mm_factor"),
        (lambda r: r.pop("as_of"), "as_of"),
    ],
)
def test_api_400_names_the_field(api, people, market, mutate, field):
    api.force_authenticate(people["analyst"])
    r = request()
    mutate(r)
    res = api.post(URL, r, format="json")
    assert res.status_code == 400
    body = res.json()
    assert body["extra"]["field"] == field and body["message"].startswith(f"invalid request: {field}: ")


def test_api_400_on_a_body_that_is_not_an_object(api, people, market):
    api.force_authenticate(people["analyst"])
    res = api.post(URL, [1, 2], format="json")
    assert res.status_code == 400 and res.json()["extra"]["field"] == "request"


def test_api_400_on_a_deep_or_large_json_body(api, people, market, settings):
    """The bounded JSON parser (riskgov.api.parsers): a deep body or one over the size limit
    is a 400 naming the limit, not a RecursionError (500)."""
    api.force_authenticate(people["analyst"])
    deep = "[" * 100_000 + "]" * 100_000
    res = api.post(URL, deep, content_type="application/json")
    assert res.status_code == 400
    assert "request body: JSON nesting depth 100000 exceeds the limit RISKGOV_MAX_JSON_DEPTH=64" in str(res.json())
    settings.RISKGOV_MAX_JSON_BYTES = 100
    res = api.post(URL, json.dumps({"x": "y" * 200}), content_type="application/json")
    assert res.status_code == 400
    assert "request body: JSON size exceeds the limit RISKGOV_MAX_JSON_BYTES=100" in str(res.json())
    settings.RISKGOV_MAX_JSON_BYTES = 64 << 20
    res = api.post(URL, '{"as_of": NaN}', content_type="application/json")
    assert res.status_code == 400 and "JSON parse error" in str(res.json())
    assert api.post(URL, request(), format="json").status_code == 200
