"""replay_history and backtest_liquidations on the shipped month: counts, files, errors."""

import json
import shutil

import pytest
from django.core.management import CommandError, call_command

from riskgov.parameters.document import dump_document
from riskgov.parameters.venues import parse_hyperliquid
from riskgov.snapshots.history.reading import parse_time
from riskgov.snapshots.history.replay import replay_at
from riskgov.snapshots.models import LiquidationBacktest, Snapshot
from riskgov.snapshots.selectors import latest_backtest
from riskgov.snapshots.validation import snapshot_read
from tests.conftest import DATA

HISTORY = DATA / "history" / "hyperliquid_2023"
PARAMS = HISTORY / "parameters_2023-03.json"
TIERS = HISTORY / "margin_tiers_2023-03.csv"


def test_the_parameter_document_is_the_hyperliquid_import_of_the_2023_table():
    fresh = parse_hyperliquid(TIERS, name="Hyperliquid, March 2023 (as best known)").document
    assert PARAMS.read_text() == dump_document(fresh)
    mmfs = {m["symbol"]: m["brackets"][0]["maintenance_margin_fraction"] for m in fresh["markets"]}
    assert len(mmfs) == 11 and set(mmfs.values()) == {"0.01"}  # 50x everywhere, MMF 1 %


@pytest.mark.django_db
def test_backtest_counts_on_the_shipped_month(tmp_path):
    out = tmp_path / "bt.json"
    call_command("backtest_liquidations", str(HISTORY), "--parameters", str(PARAMS), "--output-json", str(out))
    doc = json.loads(out.read_text())
    assert list(doc) == ["format", "liquidations", "false_alarms", "totals"]
    assert doc["format"] == "riskgov.liquidation_backtest/1"
    assert set(doc["liquidations"][0]) == {
        "time",
        "user",
        "predicted_liquidatable",
        "lead_minutes",
        "equity_usd",
        "reported_account_value_usd",
        "maintenance_margin_usd",
    }
    t = doc["totals"]
    assert (t["events"], t["detected"], t["false_alarms"]) == (17, 2, 0)
    assert t["recall"] == pytest.approx(2 / 17, abs=1e-6)
    assert t["precision"] == 1.0
    assert t["median_lead_minutes"] == pytest.approx(507.2)
    assert t["median_equity_error"] == pytest.approx(44.512101, abs=1e-4)
    detected = {r["user"][:6] for r in doc["liquidations"] if r["predicted_liquidatable"]}
    assert detected == {"0xc128", "0x6482"}
    # 0xc128 at 22:27:36: cash 15, ETH -0.4316 @1633.5 marked at the last ETH fill
    row = next(r for r in doc["liquidations"] if r["user"].startswith("0xc128"))
    assert row["maintenance_margin_usd"] == pytest.approx(0.01 * 0.4316 * (row["maintenance_margin_usd"] / 0.004316))
    assert row["equity_usd"] < row["maintenance_margin_usd"]

    stored = latest_backtest()
    assert stored.totals == t
    assert [r["mmf_factor"] for r in stored.sensitivity] == [0.5, 0.75, 1.0, 1.25, 1.5, 2.0]
    assert [r["reported_value_below_mm"] for r in stored.sensitivity] == [3, 3, 16, 17, 17, 17]
    assert [r["detected"] for r in stored.sensitivity] == [0, 1, 2, 2, 2, 3]
    assert len(stored.events) == 17 and all(e["explanation"] for e in stored.events)
    assert all(e["series"] and e["series"][-1][0] == 0.0 for e in stored.events)


@pytest.mark.django_db
def test_backtest_since_scores_later_events_only(tmp_path):
    out = tmp_path / "bt.json"
    call_command(
        "backtest_liquidations",
        str(HISTORY),
        "--parameters",
        str(PARAMS),
        "--since",
        "2023-03-12T00:00:00Z",
        "--output-json",
        str(out),
        "--no-store",
    )
    t = json.loads(out.read_text())["totals"]
    assert (t["events"], t["detected"]) == (8, 1)
    assert not LiquidationBacktest.objects.exists()


def bad_copy(tmp_path, line_no, size):
    """A copy of the month whose trades line ``line_no`` has ``size`` in its ``sz`` field."""
    d = tmp_path / "bad"
    shutil.copytree(HISTORY, d)
    lines = (d / "non_mm_trades.csv").read_text().splitlines()
    fields = lines[line_no - 1].split(",")
    fields[5] = size
    lines[line_no - 1] = ",".join(fields)
    (d / "non_mm_trades.csv").write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.django_db
def test_a_bad_row_stores_nothing(tmp_path):
    d = bad_copy(tmp_path, 800, "x")
    with pytest.raises(CommandError) as exc:
        call_command("backtest_liquidations", str(d), "--parameters", str(PARAMS))
    assert str(exc.value).startswith("non_mm_trades.csv line 800 column sz: not a decimal number")
    assert not LiquidationBacktest.objects.exists()
    out = tmp_path / "snaps"
    with pytest.raises(CommandError, match="line 800 column sz"):
        call_command(
            "replay_history", str(d), "--at", "2023-03-01T00:00:00Z", "--every", "1d", "--until",
            "2023-03-31T00:00:00Z", "--output", str(out), "--import",
        )  # fmt: skip
    assert not out.exists() and not list(tmp_path.glob(".snaps*"))
    assert not Snapshot.objects.exists()


@pytest.mark.django_db
def test_replay_history_writes_valid_snapshots_and_imports_them(tmp_path, capsys):
    call_command("import_parameters", str(PARAMS))
    out = tmp_path / "snaps"
    call_command(
        "replay_history", str(HISTORY), "--at", "2023-03-01T00:00:00Z", "--every", "12h", "--until",
        "2023-03-02T00:00:00Z", "--output", str(out), "--import",
    )  # fmt: skip
    names = sorted(p.name for p in out.iterdir())
    assert names == ["20230301T000000Z", "20230301T120000Z", "20230302T000000Z"]
    assert Snapshot.objects.count() == 3
    snap = Snapshot.objects.order_by("taken_at").first()
    assert snap.taken_at.isoformat() == "2023-03-01T00:00:00+00:00"
    # the book at that instant, counted by the pure replay
    _, book = next(replay_at(HISTORY, [parse_time("2023-03-01T00:00:00Z")]))
    assert snap.n_accounts == len(book.accounts)
    assert snap.n_positions == sum(len(a.positions) for a in book.accounts.values())
    assert "funding payments are not in the data" in (out / names[0] / "NOTES.md").read_text()
    assert "3 snapshots" in capsys.readouterr().out


@pytest.mark.django_db
def test_replayed_snapshot_validates_against_the_markets(tmp_path):
    call_command("import_parameters", str(PARAMS))
    out = tmp_path / "s"
    call_command("replay_history", str(HISTORY), "--at", "2023-03-31T23:59:59Z", "--output", str(out))
    from riskgov.markets.models import Asset, Market

    assets = dict(Asset.objects.values_list("symbol", "pk"))
    markets = {s: (pk, b) for s, pk, b in Market.objects.values_list("symbol", "pk", "base_asset_id")}
    data = snapshot_read(next(out.iterdir()), assets=assets, markets=markets)
    assert len(data.account_ids) == 27  # every user seen in the month


def test_replay_history_arguments():
    with pytest.raises(CommandError, match="--every and --until go together"):
        call_command("replay_history", str(HISTORY), "--at", "2023-03-01", "--every", "1h", "--output", "/tmp/x")
    with pytest.raises(CommandError, match="--at: not an ISO 8601 time"):
        call_command("replay_history", str(HISTORY), "--at", "soon", "--output", "/tmp/x")
