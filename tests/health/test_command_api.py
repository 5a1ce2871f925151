"""``run_health`` (FORMATS.md ``riskgov.health/1``) and the ``/api/v1/health-runs/`` API."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from riskgov.core.roles import ADMIN, ANALYST, VIEWER
from riskgov.health.models import HealthRun, RunStatus

pytestmark = pytest.mark.django_db

TOP = ["format", "snapshot", "parameters", "totals", "accounts", "positions", "scenarios", "tail"]
#: riskgov.health/2 recommendations: per market and bracket (FORMATS.md keys), then the sentence
RECOMMENDATION = [
    "market",
    "bracket",
    "mmf_rec",
    "imf_rec",
    "q_recent",
    "q_long",
    "horizon_minutes",
    "resolution",
    "n",
    "exceedances",
    "expected",
    "lr",
    "flagged",
    "verdict",
    "note",
]
TOTALS = [
    "accounts",
    "positions",
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "liquidatable_accounts",
    "bankrupt_accounts",
    "shortfall_usd",
    "insurance_fund_usd",
    "coverage_ratio",
]
ACCOUNT = [
    "account_id",
    "equity_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "margin_ratio",
    "liquidatable",
    "bankrupt",
    "shortfall_usd",
]
POSITION = [
    "account_id",
    "market",
    "size",
    "notional_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "liquidation_price",
    "bankruptcy_price",
]
SCENARIO = [
    "name",
    "kind",
    "liquidatable_accounts",
    "bankrupt_accounts",
    "shortfall_usd",
    "insurance_fund_after_usd",
    "adl_usd",
    "coverage_ratio",
]
TAIL = ["alpha", "scenarios", "var_usd", "es_usd", "cover2_usd", "coverage_at_es"]
SCENARIO_2 = [*SCENARIO, "family", "steps", "step_minutes", "interpolated_share", "worst_step"]
TAILS = ["family", *TAIL]


def test_run_health_writes_exactly_the_format(venue, tmp_path, capsys):
    out = tmp_path / "h.json"
    call_command("run_health", "--output-json", str(out), "--chunk-accounts", "5")
    doc = json.loads(out.read_text())
    assert list(doc) == [*TOP, "tails", "recommendations"]
    assert doc["format"] == "riskgov.health/2"
    assert list(doc["snapshot"]) == ["venue", "taken_at"] and doc["snapshot"]["taken_at"] == "2020-04-16T00:00:00Z"
    assert list(doc["parameters"]) == ["name", "version"]
    assert list(doc["totals"]) == TOTALS and doc["totals"]["accounts"] == 21
    assert all(list(a) == ACCOUNT for a in doc["accounts"]) and len(doc["accounts"]) == 21
    assert all(list(p) == POSITION for p in doc["positions"]) and doc["positions"]
    assert all(list(s) == SCENARIO_2 for s in doc["scenarios"])
    assert list(doc["tail"]) == TAIL
    assert doc["recommendations"] and all(list(r) == RECOMMENDATION for r in doc["recommendations"])
    btc = [r for r in doc["recommendations"] if r["market"] == "BTC-PERP"]
    assert [r["bracket"] for r in btc] == list(range(1, len(btc) + 1))
    assert {r["horizon_minutes"] for r in btc} == {5.0} and btc[0]["verdict"].startswith("BTC-PERP: at a 5 min")
    assert all(list(t) == TAILS for t in doc["tails"])
    families = {s["family"] for s in doc["scenarios"]}
    assert families == {"gap", "trend", "path_1d", "path_3d"}
    assert [t["family"] for t in doc["tails"]] == ["gap", "trend", "path_1d", "path_3d"]
    head = next(t for t in doc["tails"] if t["family"] == "path_1d")
    assert doc["tail"] == {k: head[k] for k in TAIL}  # the headline family
    for s in doc["scenarios"]:
        assert s["steps"] == {"gap": 1, "trend": 24, "path_1d": 24, "path_3d": 72}[s["family"]]
        assert 0.0 <= s["interpolated_share"] <= 1.0 and 0 <= s["worst_step"] <= s["steps"]
        assert (s["worst_step"] > 0) == (s["shortfall_usd"] > 0)
    assert {s["step_minutes"] for s in doc["scenarios"] if s["family"] != "gap"} == {60}
    assert all(s["steps"] == 1 for s in doc["scenarios"] if s["kind"] == "uniform")
    # null = infinity / none; never NaN or Infinity in the file
    assert "Infinity" not in out.read_text() and "NaN" not in out.read_text()
    assert any(a["margin_ratio"] is None for a in doc["accounts"] if a["equity_usd"] <= 0)
    ids = {a["account_id"] for a in doc["accounts"]}
    assert {p["account_id"] for p in doc["positions"]} <= ids
    assert "published" in capsys.readouterr().out

    out2 = tmp_path / "small.json"
    call_command("run_health", "--output-json", str(out2), "--no-accounts", "--scenarios", "uniform")
    small = json.loads(out2.read_text())
    assert list(small) == [
        "format",
        "snapshot",
        "parameters",
        "totals",
        "scenarios",
        "tail",
        "tails",
        "recommendations",
    ]
    assert len(small["scenarios"]) == 10 and [t["family"] for t in small["tails"]] == ["gap"]


def test_run_health_refuses_bad_input(venue):
    with pytest.raises(CommandError, match="proposals arrive with the governance issue"):
        call_command("run_health", "--proposal", "1")
    with pytest.raises(CommandError, match="no such snapshot"):
        call_command("run_health", "--snapshot", "99999")
    with pytest.raises(CommandError, match="unknown scenario tokens"):
        call_command("run_health", "--scenarios", "nope")
    assert not HealthRun.objects.exists()


def test_api_roles_progress_results_accounts_export(venue, api, users, django_capture_on_commit_callbacks):
    api.force_authenticate(users[VIEWER])
    r = api.post("/api/v1/health-runs/", {}, format="json")
    assert r.status_code == 403 and set(r.json()) == {"message", "extra"}
    api.force_authenticate(users[ANALYST])
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/health-runs/", {"snapshot": venue.pk, "label": "mine"}, format="json")
    assert r.status_code == 202, r.content
    run_id = r.json()["id"]
    assert HealthRun.objects.get(pk=run_id).status == RunStatus.SUCCEEDED  # eager in tests
    p = api.get(f"/api/v1/health-runs/{run_id}/progress/").json()
    assert (p["status"], p["progress"]) == ("succeeded", 100)
    res = api.get(f"/api/v1/health-runs/{run_id}/results/").json()
    assert res["totals"]["accounts"] == 21 and res["tail"]["alpha"] == 0.99 and res["scenarios"]
    acc = api.get(f"/api/v1/health-runs/{run_id}/accounts/").json()
    assert acc["count"] == 21
    ratios = [a["margin_ratio"] for a in acc["results"]]
    finite = [x for x in ratios if x is not None]
    assert finite == sorted(finite, reverse=True) and ratios.index(finite[0]) == len(ratios) - len(finite)
    # ranked by stress shortfall (largest account shortfall over the gap scenarios), with its scenario
    by_stress = api.get(f"/api/v1/health-runs/{run_id}/accounts/?rank=stress_shortfall").json()
    stress = [a["stress_shortfall_usd"] for a in by_stress["results"]]
    assert by_stress["count"] == 21 and stress == sorted(stress, reverse=True) and stress[0] > 0
    assert by_stress["results"][0]["stress_scenario"]
    notional = [
        a["notional_usd"] for a in api.get(f"/api/v1/health-runs/{run_id}/accounts/?rank=notional").json()["results"]
    ]
    assert notional == sorted(notional, reverse=True)
    bad = api.get(f"/api/v1/health-runs/{run_id}/accounts/?rank=equity")
    assert bad.status_code == 400 and "rank must be one of" in bad.json()["message"]
    exp = api.get(f"/api/v1/health-runs/{run_id}/export/")
    doc = json.loads(b"".join(exp.streaming_content))
    assert list(doc) == TOP and doc["format"] == "riskgov.health/1"  # health/1 readers keep working
    assert all(list(s) == SCENARIO for s in doc["scenarios"])
    exp2 = api.get(f"/api/v1/health-runs/{run_id}/export/?health=2&accounts=0")
    doc2 = json.loads(b"".join(exp2.streaming_content))
    assert doc2["format"] == "riskgov.health/2" and list(doc2)[-2:] == ["tails", "recommendations"]
    # viewers see published runs
    api.force_authenticate(users[VIEWER])
    listed = api.get("/api/v1/health-runs/").json()
    assert [x["id"] for x in listed["results"]] == [run_id]
    api.force_authenticate(users[ADMIN])
    assert api.post("/api/v1/health-runs/", {"scenarios": "uniform"}, format="json").status_code == 202


def test_api_hides_unpublished_runs_of_others(venue, api, users):
    from riskgov.health.services import health_run_create

    run = health_run_create(snapshot=venue, by=users[ANALYST], enqueue=False)
    api.force_authenticate(users[VIEWER])
    assert api.get(f"/api/v1/health-runs/{run.pk}/").status_code == 404
    api.force_authenticate(users[ANALYST])
    assert api.get(f"/api/v1/health-runs/{run.pk}/").json()["status"] == "pending"
    r = api.get(f"/api/v1/health-runs/{run.pk}/results/")
    assert r.status_code == 409
