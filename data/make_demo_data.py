"""Regenerate riskgov's trimmed demo copies of the real data (standard library only).

Reads the originals from ``../shared/data`` (relative to the repository root; override with
``--source DIR``), checks each original's SHA-256 against the value recorded below (the one
in ``shared/data/SOURCES.md``), and writes the trimmed copies into this ``data/`` directory.
Output is byte-for-byte deterministic; ``--check`` regenerates in memory and exits 1 if any
file here differs (nothing is written). What is trimmed, and why, is in ``data/README.md``.

Usage::

    python data/make_demo_data.py            # write data/margin/*, data/prices/*
    python data/make_demo_data.py --check    # verify the committed copies
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data"

#: SHA-256 of every original used (from shared/data/SOURCES.md).
ORIGINALS = {
    "margin/binance/binance_usdm_leverage_tiers_freqtrade-2026.9.json": "062a97a5cd1d01053e6da9e221ed1699e86c5d637cbb917886e64bc10b9e9977",
    "margin/binance/binance_usdm_leverage_tiers_2026.9_flat.csv": "57dd3872ff73f42955d104eb19d3e1178e68cc0e45d78c7690f73080c20501db",
    "margin/hyperliquid/hyperliquid_meta_universe_marginTables.json": "654a017395d8a93d9addc459cb322a1bd5dbc837938e99225ad579b6369e1b7d",
    "margin/hyperliquid/hyperliquid_perp_meta_snapshot.csv": "ad7163c5fad4051d79cd206896c140ab54d22bb2339257591e791fff68db0fcf",
    "margin/hyperliquid/hyperliquid_margin_tiers_by_coin.csv": "3fb4b4ea8d2ce4a1491b7aa30c38d817dfef5bb92c7c4d6a277a1ebd1308bcd9",
    "margin/dydx/dydx_v4_mainnet_genesis_2023-10-26.json": "91a2a4a81f6551dde5c4bcd06a0cac854b87975ef16d7383d31a968560c13e32",
    "margin/dydx/dydx_v4_mainnet_genesis_perp_margin_params.csv": "d2ee326e5669047828f7513960ebc41646bd38c08281dfca59544f0392a828eb",
    "prices/yahoo_crypto_daily_ohlcv_22coins_2014-2025.csv": "4cd707bd569567391adcbc7568c2c7cb0024829cf30ad118bbd7e8a43040360d",
    "prices/binance_spot_BTCUSDT_1d_2018-2025.csv": "78879f5c2375a59a1e2b814b62bbe4b6c70a8c21e9d4993dbbd42cd9192dbf5c",
    "prices/binance_spot_BTCUSDT_4h_2018-2025.csv": "27b0a82160ba6728499282ca7aff94ff175a2a5af1e12f6ec1c572a0eef11a02",
    "prices/cryptodatadownload_binance_ETHUSDC_1h_2018-12_2022-09.csv": "bfbd75c20398c6c523a1d09d37b87f659ba01ad9758dc5f2606c3ae3361dee7e",
    "prices/coinmetrics_LUNA_reference_rate_2022-04-24_2022-05-31.csv": "7ae77dfe7d1a08d79479c4e27dc59feec6bbf56b8b7bdce478399cedec682fd6",
}

#: Binance USDT perps kept besides the Yahoo coins and Hyperliquid's live markets: the
#: ``TOP_BY_LEVERAGE`` with the highest first-bracket max leverage, ties broken by the largest
#: last-bracket notional cap, then symbol (Binance grants its highest leverage and largest
#: position caps to its most liquid contracts, so this is the venue's own liquidity ranking).
TOP_BY_LEVERAGE = 50
#: Non-USDT-perp entries kept so the out-of-scope and non-ASCII rules run on the demo copy.
BINANCE_EXTRA = (
    "BTC/USDC:USDC",
    "BTC/USD1:USD1",
    "BTC/U:U",
    "BTC/USDT:USDT-260925",
    "ETH/BTC:BTC",
    "币安人生/USDT:USDT",
)
#: Intraday excerpts kept (UTC month) so the 4 h / 1 h parsers run on real rows in CI.
INTRADAY_MONTH = "2020-03"

USDT_PERP = re.compile(r"([^/:]+)/USDT:USDT")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_original(source: Path, rel: str) -> bytes:
    try:
        data = (source / rel).read_bytes()
    except OSError as exc:
        raise SystemExit(f"cannot read original {source / rel}: {exc.strerror} (use --source DIR)") from exc
    if sha256(data) != ORIGINALS[rel]:
        raise SystemExit(f"{rel}: SHA-256 differs from the recorded original; refusing to trim")
    return data


def csv_text(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def yahoo_coins(yahoo: bytes) -> list[str]:
    rows = csv.reader(io.StringIO(yahoo.decode("utf-8")))
    next(rows)
    return sorted({r[0].removesuffix("-USD") for r in rows})


def hyperliquid_live_with_context(snapshot: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(snapshot.decode("utf-8"))))
    col = {c: i for i, c in reversed(list(enumerate(rows[0])))}
    return sorted(
        r[col["coin"]]
        for r in rows[1:]
        if r[col["is_delisted"]] == "False" and r[col["open_interest_usd_at_mark"]].strip()
    )


def binance_symbols(tiers: dict, keep_bases: set[str]) -> list[str]:
    perps = {s: USDT_PERP.fullmatch(s).group(1) for s in tiers if USDT_PERP.fullmatch(s)}
    ranked = sorted(
        perps,
        key=lambda s: (
            -Decimal(str(tiers[s][0]["maxLeverage"])),
            -Decimal(str(tiers[s][-1]["maxNotional"])),
            s,
        ),
    )
    keep = {s for s, base in perps.items() if base in keep_bases} | set(ranked[:TOP_BY_LEVERAGE])
    keep |= {s for s in BINANCE_EXTRA if s in tiers}
    return sorted(keep)


def trim_binance_json(original: bytes, symbols: list[str]) -> bytes:
    tiers = json.loads(original)
    out = {s: tiers[s] for s in symbols}
    text = json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    # Floats round-trip exactly through repr; prove it against a Decimal parse of both.
    exact = json.loads(original, parse_float=Decimal)
    if json.loads(text, parse_float=Decimal) != {s: exact[s] for s in symbols}:
        raise SystemExit("binance JSON: trimmed values differ from the original")
    return text.encode("utf-8")


def trim_binance_flat(original: bytes, symbols: list[str]) -> bytes:
    rows = list(csv.reader(io.StringIO(original.decode("utf-8"))))
    keep = set(symbols)
    return csv_text([rows[0]] + [r for r in rows[1:] if r[1] in keep])


def trim_dydx_genesis(original: bytes) -> bytes:
    """Keep what parse_dydx reads (+ genesis oracle prices), in the genesis' own structure."""
    g = json.loads(original)
    state = g["app_state"]
    out = {
        "genesis_time": g["genesis_time"],
        "chain_id": g["chain_id"],
        "app_state": {
            "perpetuals": state["perpetuals"],
            "clob": {"liquidations_config": state["clob"]["liquidations_config"]},
            "prices": {
                "market_params": [
                    {k: v for k, v in m.items() if k != "exchange_config_json"}
                    for m in state["prices"]["market_params"]
                ],
                "market_prices": state["prices"]["market_prices"],
            },
        },
    }
    return (json.dumps(out, indent=1) + "\n").encode("utf-8")


def trim_yahoo(original: bytes) -> bytes:
    rows = csv.reader(io.StringIO(original.decode("utf-8")))
    header = next(rows)
    i = [header.index(c) for c in ("symbol", "date", "close")]
    return csv_text([["symbol", "date", "close"]] + [[r[j] for j in i] for r in rows])


def excerpt_4h(original: bytes) -> bytes:
    lines = original.decode("utf-8").splitlines(keepends=True)
    return "".join([lines[0]] + [x for x in lines[1:] if x.startswith(INTRADAY_MONTH)]).encode()


def excerpt_cdd(original: bytes) -> bytes:
    lines = original.decode("utf-8").splitlines(keepends=True)
    body = [x for x in lines[2:] if x.split(",")[1].startswith(INTRADAY_MONTH)]
    return "".join(lines[:2] + body).encode("utf-8")


def build(source: Path) -> dict[str, bytes]:
    """Every output file (path relative to data/) and its bytes."""
    o = {rel: read_original(source, rel) for rel in ORIGINALS}
    yahoo = o["prices/yahoo_crypto_daily_ohlcv_22coins_2014-2025.csv"]
    snapshot = o["margin/hyperliquid/hyperliquid_perp_meta_snapshot.csv"]
    tiers_raw = o["margin/binance/binance_usdm_leverage_tiers_freqtrade-2026.9.json"]
    keep_bases = set(yahoo_coins(yahoo)) | set(hyperliquid_live_with_context(snapshot))
    symbols = binance_symbols(json.loads(tiers_raw), keep_bases)
    return {
        "margin/binance_usdm_leverage_tiers.json": trim_binance_json(tiers_raw, symbols),
        "margin/binance_usdm_leverage_tiers_flat.csv": trim_binance_flat(
            o["margin/binance/binance_usdm_leverage_tiers_2026.9_flat.csv"], symbols
        ),
        "margin/hyperliquid_meta_universe_marginTables.json": o[
            "margin/hyperliquid/hyperliquid_meta_universe_marginTables.json"
        ],
        "margin/hyperliquid_perp_meta_snapshot.csv": snapshot,
        "margin/hyperliquid_margin_tiers_by_coin.csv": o["margin/hyperliquid/hyperliquid_margin_tiers_by_coin.csv"],
        "margin/dydx_v4_genesis_perpetuals.json": trim_dydx_genesis(
            o["margin/dydx/dydx_v4_mainnet_genesis_2023-10-26.json"]
        ),
        "margin/dydx_v4_genesis_perp_margin_params.csv": o[
            "margin/dydx/dydx_v4_mainnet_genesis_perp_margin_params.csv"
        ],
        "prices/yahoo_daily_closes.csv": trim_yahoo(yahoo),
        "prices/binance_BTCUSDT_1d.csv": o["prices/binance_spot_BTCUSDT_1d_2018-2025.csv"],
        f"prices/binance_BTCUSDT_4h_{INTRADAY_MONTH}.csv": excerpt_4h(
            o["prices/binance_spot_BTCUSDT_4h_2018-2025.csv"]
        ),
        f"prices/cryptodatadownload_ETHUSDC_1h_{INTRADAY_MONTH}.csv": excerpt_cdd(
            o["prices/cryptodatadownload_binance_ETHUSDC_1h_2018-12_2022-09.csv"]
        ),
        "prices/coinmetrics_LUNA_reference_rate.csv": o[
            "prices/coinmetrics_LUNA_reference_rate_2022-04-24_2022-05-31.csv"
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="shared/data directory")
    parser.add_argument("--check", action="store_true", help="verify, write nothing")
    args = parser.parse_args(argv)
    outputs = build(args.source)
    stale = []
    for rel, data in outputs.items():
        target = HERE / rel
        if args.check:
            if not target.exists() or target.read_bytes() != data:
                stale.append(rel)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        print(f"{sha256(data)}  {len(data):>9}  {rel}")
    print(f"total {sum(len(d) for d in outputs.values())} bytes")
    if stale:
        print("differs from a fresh build: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
