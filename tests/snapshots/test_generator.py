"""The generator on the real demo data: deterministic, imports cleanly, realistic features."""

import filecmp

import numpy as np
import pytest
from django.core.management import call_command

from riskgov.demo import DemoFiles, demo_load
from riskgov.engine.brackets import bracket_index
from riskgov.engine.health import evaluate_health
from riskgov.parameters.adapters import engine_parameters
from riskgov.snapshots.adapters import snapshot_venue_state
from riskgov.snapshots.generator import generate_snapshot
from riskgov.snapshots.models import Snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def demo(db):
    demo_load(DemoFiles.locate(), log=lambda s: None)


def test_generated_venue(demo, tmp_path, capsys):
    a = generate_snapshot(tmp_path / "a", accounts=2000, seed=11)
    b = generate_snapshot(tmp_path / "b", accounts=2000, seed=11)
    c = generate_snapshot(tmp_path / "c", accounts=2000, seed=12)
    names = ["snapshot.json", "prices.csv", "accounts.csv", "balances.csv", "positions.csv"]
    assert filecmp.cmpfiles(a, b, names, shallow=False)[0] == names
    assert not filecmp.cmp(a / "positions.csv", c / "positions.csv", shallow=False)

    call_command("generate_snapshot", str(tmp_path / "d"), "--accounts", "2000", "--seed", "11", "--import")
    out = capsys.readouterr().out.strip().splitlines()
    snap = Snapshot.objects.get(pk=int(out[-1]))
    assert snap.generated and snap.n_accounts == 2000 and "Generated demo venue (seed 11" in snap.venue
    params = engine_parameters().params
    st = snapshot_venue_state(snapshot=snap, params=params)
    pf = st.state.portfolio
    assert pf.n_positions > 2000

    # leverage at entry never above 1/IMF of the entry bracket
    mk = params.markets
    entry_notional = np.abs(pf.size) * pf.entry_price
    k = bracket_index(mk, pf.position_market, entry_notional)
    imf = mk.imf[pf.position_market, k]
    entry_im = entry_notional * imf
    iso = pf.isolated
    assert np.all(entry_im[iso] <= pf.isolated_margin[iso] * (1 + 1e-6) + 1e-6)

    health = evaluate_health(params, st.state)
    acc = health.accounts
    assert 0.01 < iso.mean() < 0.1  # ~5 % isolated
    n_assets = np.bincount(pf.balance_account, minlength=pf.n_accounts)
    assert 0.05 < (n_assets > 1).mean() < 0.15  # ~10 % multi-collateral
    assert (pf.balance_amount < 0).any()  # a few liabilities
    assert 3 <= acc.liquidatable.sum() <= 20  # a handful under maintenance margin
    assert ((acc.health_factor > 1) & (acc.health_factor < 1.2)).sum() >= 3
    assert st.state.insurance_fund > 0 and pf.n_accounts == 2000
    assert "Generated demo venue (seed 11, 2,000 accounts, prices of" in (a / "snapshot.json").read_text()


def test_parquet_output_imports(demo, tmp_path):
    from riskgov.snapshots.services import snapshot_import

    p = generate_snapshot(tmp_path / "pq", accounts=300, seed=3, fmt="parquet")
    snap = snapshot_import(path=p, generated=True)
    assert snap.n_accounts == 300 and snap.generated


def test_generated_options_book(demo, tmp_path):
    """pm_share > 0: portfolio accounts with options around the money, several expiries, a
    smile; deterministic; imports cleanly; pm_share = 0 writes the same files as before."""
    import pyarrow.csv as pacsv

    from riskgov.snapshots.services import snapshot_import

    plain = generate_snapshot(tmp_path / "plain", accounts=1500, seed=5)
    a = generate_snapshot(tmp_path / "a", accounts=1500, seed=5, pm_share=0.03)
    b = generate_snapshot(tmp_path / "b", accounts=1500, seed=5, pm_share=0.03)
    names = ["accounts.csv", "positions.csv", "options.csv", "option_marks.csv", "balances.csv"]
    assert filecmp.cmpfiles(a, b, names, shallow=False)[0] == names
    assert not (plain / "options.csv").exists()
    assert filecmp.cmp(plain / "prices.csv", a / "prices.csv", shallow=False)
    opts = pacsv.read_csv(a / "options.csv").to_pandas()
    marks = pacsv.read_csv(a / "option_marks.csv").to_pandas()
    accts = pacsv.read_csv(a / "accounts.csv").to_pandas()
    assert (accts.margin_mode == "portfolio").sum() == 45
    assert set(opts.account_id) <= set(accts.account_id[accts.margin_mode == "portfolio"])
    assert marks.expiry.nunique() >= 4 and set(marks.kind) == {"call", "put"}
    btc = marks[(marks.underlying == "BTC") & (marks.expiry == marks.expiry.max()) & (marks.kind == "call")]
    iv = btc.sort_values("strike").mark_iv.to_numpy()
    assert iv[0] > iv.min() and iv[-1] > iv.min()  # a smile: both wings above the lowest vol
    snap = snapshot_import(path=a, generated=True)
    assert snap.n_options == len(opts) > 0 and snap.accounts.filter(portfolio=True).count() == 45


def test_health_run_of_a_generated_options_book(demo, tmp_path, django_capture_on_commit_callbacks):
    """The generated PM accounts run through a health run with the §14 defaults: every one of
    them healthy at the snapshot (topped up to 1.3–3× IM), PM in the run's summary."""
    from riskgov.health.export import health_document
    from riskgov.health.services import health_run_create
    from riskgov.markets.models import Asset
    from riskgov.portfolio.services import pm_defaults_seed
    from riskgov.snapshots.services import snapshot_import

    for sym in ("BTC", "ETH"):
        pm_defaults_seed(underlying=Asset.objects.get(symbol=sym))
    path = generate_snapshot(tmp_path / "pm", accounts=1500, seed=5, pm_share=0.03)
    snap = snapshot_import(path=path, generated=True)
    with django_capture_on_commit_callbacks(execute=True):
        run = health_run_create(snapshot=snap, scenario_spec="uniform")
    run.refresh_from_db()
    assert run.published_at is not None, run.error
    pm = run.tail["portfolio_margin"]
    assert pm["accounts"] == 45 and pm["liquidatable"] == 0 and set(pm["underlyings"]) <= {"BTC", "ETH"}
    ids = set(snap.accounts.filter(portfolio=True).values_list("account_id", flat=True))
    rows = [r for r in health_document(run)["accounts"] if r["account_id"] in ids]
    assert len(rows) == 45 and all(r["equity_usd"] >= 1.29 * r["initial_margin_usd"] > 0 for r in rows)
