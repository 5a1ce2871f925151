"""The "pm" governed kind: proposal → approve → activate, lint, diff, emergency, DB guards, seeding."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, connection, transaction

from riskgov.core.subjects import kind_for_spec, subject_kind
from riskgov.engine.portfolio_margin import PMParams
from riskgov.governance import services as gs
from riskgov.governance.models import GovernedKind, Proposal
from riskgov.portfolio.adapters import active_pm_params, pm_params
from riskgov.portfolio.models import PMParameterVersion
from riskgov.portfolio.services import PMParametersInvalid, pm_defaults_seed, pm_version_create
from riskgov.portfolio.subjects import PM
from tests.governance_fixtures import later, submit_for_votes

pytestmark = pytest.mark.django_db


@pytest.fixture
def btc_pm(market):
    from riskgov.markets.models import Asset

    return pm_defaults_seed(underlying=Asset.objects.get(symbol="BTC"))


def active_pm():
    return PMParameterVersion.objects.get(underlying__symbol="BTC", status="active")


def test_registered_and_known_to_the_database():
    assert subject_kind("pm") is PM and kind_for_spec({"pm": "BTC", "price_range": "0.2"}) is PM
    assert GovernedKind.objects.get(name="pm").version_table == "portfolio_pmparameterversion"


def test_seed_is_the_section_14_default_and_adapts_to_pm_params(btc_pm):
    assert btc_pm.status == "active" and btc_pm.number == 1
    assert btc_pm.price_range == Decimal("0.16") and btc_pm.buckets == 4 and btc_pm.scenarios is None
    p = pm_params(btc_pm)
    d = PMParams()
    assert (p.price_range, p.buckets, p.mm_factor, p.vol_range_down) == (d.price_range, d.buckets, 0.8, 0.25)
    assert [x for r in p.extended for x in r] == pytest.approx([x for r in d.extended for x in r], rel=1e-11)
    assert list(active_pm_params()) == ["BTC"]
    assert pm_defaults_seed(underlying=btc_pm.underlying) is None  # once


def test_service_refuses_invalid_values_with_structured_errors(btc_pm):
    with pytest.raises(PMParametersInvalid) as exc:
        pm_version_create(underlying=btc_pm.underlying, values={"mm_factor": Decimal("1.2")})
    (e,) = exc.value.extra["pm_errors"]
    assert e == {"subject": "BTC", "field": "mm_factor", "rule": "mm_factor_range", "message": "1.2 is not in (0, 1]"}


def test_proposal_submit_approve_activate(people, btc_pm, django_capture_on_commit_callbacks):
    spec = {"pm": "BTC", "price_range": "0.2", "short_option_contingency": "0.015"}
    p = gs.proposal_create(
        by=people["analyst"],
        title="Wider BTC PM range",
        rationale="vol regime",
        effective_at=later(days=3),
        changes=[spec],
    )
    change = p.changes.get()
    assert (change.kind, change.subject, change.base_version_id) == ("pm", "BTC", btc_pm.pk)
    assert change.version.status == "draft" and change.version.price_range == Decimal("0.2")
    diff = {c.path: (c.before, c.after) for c in PM.diff(btc_pm, change.version)}
    assert diff == {"price_range": ("0.16", "0.2"), "short_option_contingency": ("0.01", "0.015")}
    p = submit_for_votes(p, people["analyst"])
    for m in ("m1", "m2"):
        gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert gs.proposals_activate_due(now=p.effective_at) == [p.pk]
    new = active_pm()
    assert new.pk == change.version_id and new.number == 2
    assert PMParameterVersion.objects.get(pk=btc_pm.pk).status == "superseded"
    assert active_pm_params()["BTC"].price_range == 0.2


def test_lint_refuses_a_bad_spec_naming_the_field(make_proposal, btc_pm):
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"pm": "BTC", "extended": [{"move": "0.5", "weight": "2"}]}])
    (e,) = exc.value.extra["errors"]
    assert (e["rule"], e["field"], e["subject"]) == ("weight_range", "extended", "BTC")
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"pm": "BTC", "mm_factor": "abc"}])
    assert exc.value.extra["errors"][0]["rule"] == "not_a_number"
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"pm": "BTC", "nope": 1}])
    assert exc.value.extra["errors"][0]["rule"] == "unknown_field"


def test_emergency_accepts_stricter_and_refuses_a_vol_shock_change(people, btc_pm, django_capture_on_commit_callbacks):
    with pytest.raises(gs.LintFailed) as exc:
        gs.emergency_change(by=people["m1"], rationale="x", changes=[{"pm": "BTC", "vol_range_up": "0.6"}])
    assert "vol_shock_changed" in {e.rule for e in exc.value.errors}
    stricter = {"pm": "BTC", "price_range": "0.32", "buckets": 8, "perp_contingency": "0.02"}
    with django_capture_on_commit_callbacks(execute=True):
        p = gs.emergency_change(by=people["m1"], rationale="exchange hack", changes=[stricter])
    assert (p.status, p.kind) == ("active", "emergency")
    assert active_pm().buckets == 8


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL guards")
def test_database_keeps_active_versions_immutable(btc_pm):
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        PMParameterVersion.objects.filter(pk=btc_pm.pk).update(price_range=Decimal("0.5"))
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        PMParameterVersion.objects.filter(pk=btc_pm.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():  # one active per underlying
        PMParameterVersion.objects.create(
            underlying=btc_pm.underlying,
            number=9,
            status="active",
            **{
                f: getattr(btc_pm, f)
                for f in (
                    "price_range",
                    "buckets",
                    "vol_range_up",
                    "vol_range_down",
                    "short_term_vega_power",
                    "long_term_vega_power",
                    "dte_floor_days",
                    "min_vol_for_shock_up",
                    "mm_factor",
                    "short_option_contingency",
                    "perp_contingency",
                )
            },
        )


# --- import_pm_parameters -----------------------------------------------------------------------
SAMPLE = "tests/portfolio/data/deribit_pme_simulate_btc.json"


def _import(*args):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("import_pm_parameters", *args, stdout=out)
    return out.getvalue()


def test_import_deribit_sample_first_active_then_a_draft(market):
    out = _import(SAMPLE)
    assert "BTC: PM version 1 active" in out and "note: currency_pair.btc_usd: " in out
    v1 = active_pm()
    assert v1.source.startswith("Deribit API v2 private/pme/simulate") and "1718619740501" in v1.source
    assert (v1.price_range, v1.buckets, v1.mm_factor) == (Decimal("0.16"), 4, Decimal("0.8"))
    out = _import(SAMPLE, "--reason", "refresh")
    assert "BTC: draft PM version 2; propose it with the change spec {" in out
    assert PMParameterVersion.objects.get(number=2).status == "draft"


def test_import_refuses_bad_files_and_unknown_assets(market, tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "bad.json"
    bad.write_text('{"general": {"mm_factor": 0.8, "buckets_count": 4}, "currency_pair": {"eth_usd": {}}}')
    with pytest.raises(CommandError, match="currency_pair.eth_usd.price_range: missing"):
        _import(str(bad))
    with pytest.raises(CommandError, match="no underlying"):
        _import(SAMPLE, "--underlying", "ETH")
    assert PMParameterVersion.objects.count() == 0
    assert "BTC: PM version 1 active (RISK_MODEL §14 defaults)" in _import()
    assert "nothing seeded" in _import()


def test_proposal_page_and_api_show_the_pm_diff(client, api, people, btc_pm, make_proposal):
    p = make_proposal(changes=[{"pm": "BTC", "price_range": "0.2", "extended": [{"move": "-0.5", "weight": "0.07"}]}])
    client.force_login(people["m1"])
    html = client.get(f"/proposals/{p.pk}/").content.decode()
    assert "price_range" in html and "0.16" in html and "0.2" in html and "extended[8].move" in html
    api.force_authenticate(people["m1"])
    body = api.get(f"/api/v1/proposals/{p.pk}/").json()
    assert "pm" in str(body) and "price_range" in str(body)
