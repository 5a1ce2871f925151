"""Every malformed input of issue #14 ends in a one-line error with every table unchanged."""

from __future__ import annotations

import io
import json
import os

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from tests.core.test_input_limits import _zip_bomb
from tests.snapshots.conftest import FILES, small_params, write_snapshot  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_params")]
GiB = 1 << 30
HEADER = "timestamp_utc,open,high,low,close,volume\n"


def _tables():
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label != "contenttypes"}


def _prices(tmp_path, name, body: bytes):
    p = tmp_path / name
    p.write_bytes(body)
    return ["import_prices", str(p)]


def _sparse(tmp_path):
    p = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-12-31.csv"
    with p.open("wb") as fh:
        fh.truncate(2 * GiB)
    return ["import_prices", str(p)]


def _json(tmp_path, name, text, *args):
    p = tmp_path / name
    p.write_text(text)
    return ["import_parameters", str(p), *args]


def _bytes_json(tmp_path, name, body: bytes, *args):
    p = tmp_path / name
    p.write_bytes(body)
    return ["import_parameters", str(p), *args]


def _snapshot(tmp_path, files):
    return ["import_snapshot", str(write_snapshot(tmp_path / "snap", files))]


DEEP = "[" * 100_000 + "]" * 100_000
CASES = {
    "close_1e18": (
        lambda t: _prices(
            t, "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv", (HEADER + "2024-01-01T00:00:00Z,1,1,1,1e18,1\n").encode()
        ),
        "has more than 18 digits before the point",
    ),
    "close_19_digits": (
        lambda t: _prices(
            t,
            "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv",
            (HEADER + "2024-01-01T00:00:00Z,1,1,1,1000000000000000000.5,1\n").encode(),
        ),
        "NUMERIC(30,12)",
    ),
    "random_bytes": (lambda t: _prices(t, "prices.csv", os.urandom(1 << 16)), "prices.csv"),
    "nul_bytes": (lambda t: _prices(t, "prices.csv", b"\0" * 4096), "NUL"),
    "sparse_2gib": (_sparse, "RISKGOV_MAX_FILE_BYTES"),
    "deep_json_document": (lambda t: _json(t, "deep.json", "{" + DEEP + "}"), "deep.json: JSON nesting depth"),
    "deep_json_hyperliquid": (
        lambda t: _json(t, "deep.json", DEEP, "--format", "hyperliquid"),
        "RISKGOV_MAX_JSON_DEPTH",
    ),
    "deep_json_binance": (lambda t: _json(t, "deep.json", DEEP, "--format", "binance"), "RISKGOV_MAX_JSON_DEPTH"),
    "deep_json_dydx": (lambda t: _json(t, "deep.json", DEEP, "--format", "dydx"), "RISKGOV_MAX_JSON_DEPTH"),
    "hyperliquid_universe_int": (
        lambda t: _json(t, "meta.json", json.dumps({"universe": 5}), "--format", "hyperliquid"),
        "universe is int, not a list",
    ),
    "hyperliquid_not_object": (
        lambda t: _json(t, "meta.json", "[1, 2]", "--format", "hyperliquid"),
        "not a Hyperliquid meta response",
    ),
    "dydx_perpetuals_int": (
        lambda t: _json(
            t,
            "g.json",
            json.dumps({"app_state": {"perpetuals": {"perpetuals": 5, "liquidity_tiers": []}}}),
            "--format",
            "dydx",
        ),
        "not a dYdX genesis",
    ),
    "binance_not_utf8": (lambda t: _bytes_json(t, "b.json", b"\xff\xfe{}", "--format", "binance"), "b.json"),
    "snapshot_balances_missing_column": (
        lambda t: _snapshot(t, {**FILES, "balances.csv": "account_id,asset\na1,USDT\n"}),
        "balances.csv, column amount: missing column",
    ),
    "snapshot_deep_meta": (
        lambda t: ["import_snapshot", str(_deep_meta(t))],
        "snapshot.json: JSON nesting depth",
    ),
}


# --- readers bounded since (issue #14 item 3, "bounded inputs everywhere a file is read") --------
MiB = 1 << 20
LONG = "9" * (5 * MiB)  # longer than RISKGOV_MAX_CSV_ROW_BYTES (4 MiB), no line end
TRADES = "time,user,coin,side,px,sz,crossed\n"
LEDGER = "time,user,delta_usd\n"


def _sparse_file(path):
    with path.open("wb") as fh:
        fh.truncate(2 * GiB)
    return path


def _history(tmp_path, trades: bytes | None = None):
    """A history folder whose non_mm_trades.csv is ``trades`` (``None``: a 2 GiB sparse file)."""
    d = tmp_path / "history"
    d.mkdir()
    (d / "non_mm_ledger_updates.csv").write_text(LEDGER)
    if trades is None:
        _sparse_file(d / "non_mm_trades.csv")
    else:
        (d / "non_mm_trades.csv").write_bytes(trades)
    return ["replay_history", str(d), "--at", "2023-03-01T00:00:00Z", "--output", str(tmp_path / "out")]


def _file(tmp_path, name, body: bytes | None, *argv):
    """``argv`` with the path of a file ``name`` holding ``body`` (``None``: 2 GiB sparse) first."""
    p = tmp_path / name
    if body is None:
        _sparse_file(p)
    else:
        p.write_bytes(body)
    return [argv[0], str(p), *argv[1:]]


def _snapshot_table(tmp_path, name, body: bytes | None):
    path = write_snapshot(tmp_path / "snap")
    if body is None:
        _sparse_file(path / name)
    else:
        (path / name).write_bytes(body)
    return ["import_snapshot", str(path)]


def many_rows_parquet(path, rows: int) -> None:
    """A valid ``balances.parquet`` of ``rows`` identical rows: dictionary- and run-length
    encoded, a few KB on disk (written without holding ``rows`` strings)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def col(value):
        return pa.DictionaryArray.from_arrays(np.zeros(rows, dtype=np.int32), pa.array([value]))

    table = pa.table({"account_id": col("a1"), "asset": col("USDT"), "amount": col("1")})
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)


def _snapshot_parquet(tmp_path, build):
    """A snapshot whose balances table is ``balances.parquet`` made by ``build(path)``."""
    path = write_snapshot(tmp_path / "snap")
    (path / "balances.csv").unlink()
    build(path / "balances.parquet")
    return ["import_snapshot", str(path)]


def _long_footer(path):
    """A valid Parquet file whose footer length claims more than the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"account_id": ["a1"], "asset": ["USDT"], "amount": ["1"]}), path)
    data = bytearray(path.read_bytes())
    data[-8:-4] = (len(data) * 1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))


BOUNDED = {
    # snapshot Parquet tables: bounded by their footer before any column is decoded
    "snapshot_parquet_millions_of_rows": (
        lambda t: _snapshot_parquet(t, lambda p: many_rows_parquet(p, 6_000_000)),
        "invalid snapshot: balances.parquet: row count 6000000 exceeds the limit RISKGOV_MAX_PARQUET_ROWS=5000000",
    ),
    "snapshot_parquet_footer_longer_than_file": (
        lambda t: _snapshot_parquet(t, _long_footer),
        "exceeds the file size",
    ),
    "snapshot_parquet_not_parquet": (
        lambda t: _snapshot_parquet(t, lambda p: p.write_bytes(os.urandom(1 << 12))),
        "balances.parquet: not a Parquet file (no PAR1 magic at its start and end)",
    ),
    # history CSV (replay_history / backtest_liquidations)
    "history_random_bytes": (lambda t: _history(t, os.urandom(1 << 16)), "non_mm_trades.csv"),
    "history_nul_bytes": (
        lambda t: _history(t, TRADES.encode() + b"\0" * 64),
        "non_mm_trades.csv line 2: ",
    ),
    "history_huge_file": (lambda t: _history(t, None), "non_mm_trades.csv: file size 2.0 GiB"),
    "history_long_row": (
        lambda t: _history(t, (TRADES + LONG + "\n").encode()),
        "non_mm_trades.csv line 2: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES=4.0 MiB",
    ),
    "history_long_field": (
        lambda t: _history(t, (TRADES + '"' + "x" * (2 * MiB) + '",u,BTC,Bid,1,1,true\n').encode()),
        "field larger than field limit (1048576) (RISKGOV_MAX_CSV_FIELD_BYTES)",
    ),
    # Deribit PM parameters (import_pm_parameters)
    "pm_random_bytes": (lambda t: _file(t, "pm.json", os.urandom(1 << 16), "import_pm_parameters"), "pm.json: not"),
    "pm_deep_json": (
        lambda t: _file(t, "pm.json", DEEP.encode(), "import_pm_parameters"),
        "pm.json: JSON nesting depth 100000 exceeds the limit RISKGOV_MAX_JSON_DEPTH=64",
    ),
    "pm_huge_file": (lambda t: _file(t, "pm.json", None, "import_pm_parameters"), "RISKGOV_MAX_JSON_BYTES"),
    "pm_long_integer": (
        lambda t: _file(t, "pm.json", b'{"result": ' + b"1" * 5000 + b"}", "import_pm_parameters"),
        "pm.json: not JSON: number too long",
    ),
    # margin request (simulate_margin)
    "margin_random_bytes": (lambda t: _file(t, "req.json", os.urandom(1 << 16), "simulate_margin"), "invalid request"),
    "margin_deep_json": (
        lambda t: _file(t, "req.json", DEEP.encode(), "simulate_margin"),
        "invalid request: request: req.json: JSON nesting depth 100000 exceeds the limit RISKGOV_MAX_JSON_DEPTH=64",
    ),
    "margin_huge_file": (lambda t: _file(t, "req.json", None, "simulate_margin"), "RISKGOV_MAX_JSON_BYTES"),
    # the row limit on every CSV reader
    "prices_long_row": (
        lambda t: _file(
            t,
            "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv",
            (HEADER + "2024-01-01T00:00:00Z,1,1,1,1,1\n" + LONG + "\n").encode(),
            "import_prices",
        ),
        ", line 3: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES=4.0 MiB",
    ),
    "venue_csv_long_row": (
        lambda t: _file(
            t,
            "tiers.csv",
            (
                "symbol,tier,min_notional,max_notional,maint_margin_rate,max_leverage,maint_amount_cum\n" + LONG + "\n"
            ).encode(),
            "import_parameters",
            "--format",
            "binance",
        ),
        "tiers.csv line 2: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES",
    ),
    "snapshot_long_row": (
        lambda t: _snapshot_table(t, "positions.csv", (FILES["positions.csv"] + LONG + "\n").encode()),
        "positions.csv data row 5: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES=4.0 MiB",
    ),
    "snapshot_long_header": (
        lambda t: _snapshot_table(t, "accounts.csv", (LONG + "\n").encode()),
        "accounts.csv: header row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES",
    ),
    "snapshot_random_bytes": (lambda t: _snapshot_table(t, "positions.csv", os.urandom(1 << 16)), "positions.csv"),
    "snapshot_huge_table": (
        lambda t: _snapshot_table(t, "balances.csv", None),
        "balances.csv: file size 2.0 GiB (2147483648 bytes) exceeds the limit RISKGOV_MAX_FILE_BYTES",
    ),
}
CASES.update(BOUNDED)


def _deep_meta(tmp_path):
    path = write_snapshot(tmp_path / "snap")
    (path / "snapshot.json").write_text(DEEP)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_is_one_line_and_changes_nothing(case, tmp_path):
    build, expected = CASES[case]
    argv = build(tmp_path)
    before = _tables()
    msg = _refusal(argv)
    assert "\n" not in msg and "Traceback" not in msg
    assert expected in msg
    assert _tables() == before


def _refusal(argv) -> str:
    """The one-line refusal of a command: its CommandError, or what it wrote before exit 1
    (``simulate_margin`` writes ``invalid request: …`` and exits 1)."""
    err = io.StringIO()
    try:
        call_command(*argv, stdout=io.StringIO(), stderr=err)
    except CommandError as exc:
        return str(exc)
    except SystemExit as exc:
        assert exc.code == 1
        return err.getvalue().strip()
    raise AssertionError(f"{argv[0]} accepted the input")


def test_zip_bomb_snapshot_is_one_line_and_changes_nothing(tmp_path):
    bomb = _zip_bomb(tmp_path / "bomb.zip")
    before = _tables()
    with pytest.raises(CommandError) as exc:
        call_command("import_snapshot", str(bomb))
    msg = str(exc.value)
    assert "\n" not in msg and "RISKGOV_MAX_UNCOMPRESSED_BYTES" in msg and "positions.csv" in msg
    assert _tables() == before


@pytest.mark.django_db(transaction=True)
def test_import_snapshot_command_line_exits_1_after_the_message(tmp_path):
    """The real command line (not call_command): exit code 1, one line, no SIGABRT at teardown."""
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    path = write_snapshot(tmp_path / "snap", {**FILES, "balances.csv": "account_id,asset\na1,USDT\n"})
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    if connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL test database")
    manage = settings.BASE_DIR / "manage.py"
    for _ in range(4):
        proc = subprocess.run(
            [sys.executable, str(manage), "import_snapshot", str(path)], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 1, proc.stderr[-2000:]
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert lines[-1].endswith("balances.csv, column amount: missing column"), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr


def test_parquet_uncompressed_size_is_bounded_by_its_footer(tmp_path, settings):
    """A Parquet table whose column chunks decode to more than RISKGOV_MAX_UNCOMPRESSED_BYTES
    (limit lowered here: a real one would be GiBs) is refused before it is decoded."""
    settings.RISKGOV_MAX_UNCOMPRESSED_BYTES = 1 << 20

    def build(p):  # plain-encoded, zstd: ~2 MiB of column data in a few KB on disk
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = 100_000
        table = pa.table({"account_id": ["a1"] * n, "asset": ["USDT"] * n, "amount": ["1"] * n})
        pq.write_table(table, p, compression="zstd", use_dictionary=False)
        assert p.stat().st_size < 64 << 10

    before = _tables()
    msg = _refusal(_snapshot_parquet(tmp_path, build))
    assert msg.startswith("invalid snapshot: balances.parquet: uncompressed size ")
    assert msg.endswith("exceeds the limit RISKGOV_MAX_UNCOMPRESSED_BYTES=1.0 MiB (1048576 bytes)") and "\n" not in msg
    assert _tables() == before


def test_a_parquet_table_within_the_bounds_imports(tmp_path):
    """The footer checks leave a good Parquet table alone (the same snapshot as the CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    def build(p):
        table = pacsv.read_csv(
            pa.BufferReader(FILES["balances.csv"].encode()),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in ("account_id", "asset", "amount")}
            ),
        )
        pq.write_table(table, p)

    call_command(*_snapshot_parquet(tmp_path, build), stdout=io.StringIO())
