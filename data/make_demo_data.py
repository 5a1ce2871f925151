"""Regenerate riskgov's trimmed demo copies of the real data (standard library only).

Reads the originals from ``../shared/data`` (relative to the repository root; override with
``--source DIR``), checks each original's SHA-256 against the value recorded below (the one
in ``shared/data/SOURCES.md``), and writes the trimmed copies into this ``data/`` directory.
Output is byte-for-byte deterministic; ``--check`` regenerates in memory and exits 1 if any
file here differs (nothing is written). What is trimmed, and why, is in ``data/README.md``.

Usage::

    python data/make_demo_data.py            # write data/margin/*, data/prices/*, data/prices/intraday/*
    python data/make_demo_data.py --check    # verify the committed copies
"""

from __future__ import annotations

import argparse
import csv
import gzip
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
    "history/hyperliquid_2023/non_mm_trades.csv": "a7519346b7413cfb68acdd96d1dcbbbab2ac98f550df3125ed280dec18e4c4c3",
    "history/hyperliquid_2023/non_mm_ledger_updates.csv": "ad8af3542b45a4d532a8f18a5334fadafe7ff03c55f9e559f19eb4c5ef133bec",
    "history/hyperliquid_2023/liquidations.csv": "056b9eb2ce8d5649d249fbadb2f4df8b7e282f9e1a52e11f6201acc8a2c545a7",
}

#: The Hyperliquid history month (validation data, identical copies).
HISTORY_FILES = tuple(rel for rel in ORIGINALS if rel.startswith("history/"))

#: SHA-256 of the intraday originals (from shared/data/prices/intraday/SOURCES.md): the hourly
#: Binance spot series of every demo asset that has one (all 13 are Yahoo coins, so demo
#: markets) and the 5-minute windows around the 2024-08-05 and 2025-10-10 crashes (SUI, not a
#: demo asset, is left out).
INTRADAY_ORIGINALS = {
    "prices/intraday/binance_ADAUSDT_1h_2020-08_2026-02.csv": "2b3f7bfd4cbb4a6845ab89fbf0b8964a1f66aa883a1875658a61dfa330b775ab",
    "prices/intraday/binance_AVAXUSDT_1h_2022-01_2026-02.csv": "d7a6cef800f99c7faa2e98d0353a0bf1edc788704bb019e69b19119f1b9b0b95",
    "prices/intraday/binance_BCHUSDT_1h_2024-01_2026-02.csv": "80682d7da1371ead502377fc6cd21bec2efaa2f481d2af2c03246a659e5744b2",
    "prices/intraday/binance_BNBUSDT_1h_2020-08_2026-02.csv": "da70519d63dd7e10ebe073d0c5b7d98296d67d4c920607d9a69c4f9439a26ece",
    "prices/intraday/binance_BTCUSDT_1h_2017-08_2026-02.csv": "2ff291f9c9a9399d3e1ce52432f55a37c09a39ee744795a4af1b533bfbedba85",
    "prices/intraday/binance_DOGEUSDT_1h_2023-04_2026-02.csv": "92e654a85b8b69fad4ca8c761dd1bd43e57b1fdfd5d36bca78fccf8b5e1005f9",
    "prices/intraday/binance_DOTUSDT_1h_2021-04_2025-06.csv": "9d53150cd1b8546a0c1e6fe6395fb9414e5cd466e2d4dd4502b3b9032cbab617",
    "prices/intraday/binance_ETHUSDT_1h_2017-08_2026-02.csv": "6cc2b0b7d42cef5b10e80e7e55f6295d908eb88c5abe78fcd4a01f9a4ff95de1",
    "prices/intraday/binance_LINKUSDT_1h_2022-01_2026-02.csv": "376bf8f954a2c8839a32073fe4c5094d18d4d45165fc951cf07f345f5b1c7b9a",
    "prices/intraday/binance_LTCUSDT_1h_2021-01_2026-02.csv": "5977f6b055618dda09277d3e55f2c0d1f3471e13bce8fc1162f969bb2ef3b2a5",
    "prices/intraday/binance_SOLUSDT_1h_2021-04_2026-02.csv": "84dac6823d5feeee17c549c46024aefc3ef04cf6fbe0d5db9e3f3d12093670f9",
    "prices/intraday/binance_TRXUSDT_1h_2022-01_2026-02.csv": "0e67fc5a7b9b853fd366bed5f9d897bf1e20f6592228089628d9a1cb94190993",
    "prices/intraday/binance_XRPUSDT_1h_2022-01_2026-02.csv": "a13b60190a359f8f704f82f057f2ea6b7f916d606b773f32eb4522bc5f863e44",
    "prices/intraday/binance_ADAUSDT_5m_2025-10-06_2025-10-15.csv": "72f2201c8f1f0b0d8f381e32f7ebac2cc0debad56852456914a257939fb14fe5",
    "prices/intraday/binance_AVAXUSDT_5m_2024-08-01_2024-08-10.csv": "b95277c23e86ddf71efc4f97c4e0aedbea18eba8c6effaa76e02e216e0fda380",
    "prices/intraday/binance_BCHUSDT_5m_2024-08-01_2024-08-10.csv": "fb623a289dd17cc08733bfc9646e6a1bba558ee922775a1f65d7a451a63c1f5e",
    "prices/intraday/binance_BCHUSDT_5m_2025-10-06_2025-10-15.csv": "303632062312c852ab8444f8e813ed4e611361c57db23bf3f95fbe872e5d3ff0",
    "prices/intraday/binance_BNBUSDT_5m_2025-10-06_2025-10-15.csv": "df6f7776e7a7c9648ef8467d84e5c66a6d13368f86a5923d1c95aa4158aee1b1",
    "prices/intraday/binance_BTCUSDT_5m_2024-08-01_2024-08-10.csv": "732bb2d2a8a6262956eb0cd5a960cd4231b104d96e93b6a73d6598e5fbff2807",
    "prices/intraday/binance_BTCUSDT_5m_2025-10-06_2025-10-15.csv": "0caafed6c64a76b5fa87ec2fe5b29e72c75131d213b6f22dfdd803fe0ae08605",
    "prices/intraday/binance_DOGEUSDT_5m_2024-08-01_2024-08-10.csv": "fc26496ecf9ff5b2086ed4ca75cf5e6f9405b18692754e70b2eb59452d8807c9",
    "prices/intraday/binance_DOGEUSDT_5m_2025-10-06_2025-10-15.csv": "e831957a3d29c298641ce6a5777c4f3bc1844cd86352820051ab7087c2418cb6",
    "prices/intraday/binance_ETHUSDT_5m_2024-08-01_2024-08-10.csv": "1acdea7e678984b3fea7dcf090e42b2340d935c5d9bfff43bedb0d1b2f4061e4",
    "prices/intraday/binance_ETHUSDT_5m_2025-10-06_2025-10-15.csv": "93e1a243dea1e110a4cc43607e43168d33edc97e605a079db522df648840ce81",
    "prices/intraday/binance_LINKUSDT_5m_2024-08-01_2024-08-10.csv": "2c592543e180c6355822c9084632f9dbfa6633cf8736390995472bff0051edf8",
    "prices/intraday/binance_LTCUSDT_5m_2024-08-01_2024-08-10.csv": "0bdcdd7da381da4eb1810125c9cd739a97174543753c61c25fe90ba28f310c95",
    "prices/intraday/binance_LTCUSDT_5m_2025-10-06_2025-10-15.csv": "3ba9a2df8508261de6fcc380197342e7c275fa2f88382eb61e982b0f97cbddf8",
    "prices/intraday/binance_SOLUSDT_5m_2024-08-01_2024-08-10.csv": "095a90d43d52f8a88a517d02603bb005b8e30f935685ae13975a6a25fa2a6dc2",
    "prices/intraday/binance_SOLUSDT_5m_2025-10-06_2025-10-15.csv": "55a60d9a898ec6027b9eba0da605c2a4693aae368e6601fdd23a001cd5cf85bb",
    "prices/intraday/binance_TRXUSDT_5m_2024-08-01_2024-08-10.csv": "569e5655d890fa4eec72f5c95fb8e06d831fc0c91e723291fce6569d37994969",
    "prices/intraday/binance_XRPUSDT_5m_2024-08-01_2024-08-10.csv": "4e26d546767ed8831219bef07015e5406193b7986f5ecae6d91bbb966cdd7071",
    "prices/intraday/binance_XRPUSDT_5m_2025-10-06_2025-10-15.csv": "17bd90929c406608e41e136d01fae8fa07073840c395d146eb558329df421010",
}
ORIGINALS.update(INTRADAY_ORIGINALS)

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


def trim_intraday(original: bytes, rel: str) -> bytes:
    """Keep ``timestamp_utc`` and ``close`` of a ``riskgov.prices/1`` file, gzipped.

    The header stays exactly ``timestamp_utc,open,high,low,close,volume`` (FORMATS says only
    ``close`` must be non-empty); open/high/low/volume are left empty, every row and its
    close text unchanged. gzip level 9 with mtime 0 and no file name, so output depends only
    on the input (and zlib); ``--check`` compares the decompressed text.
    """
    lines = original.decode("utf-8").splitlines()
    header = "timestamp_utc,open,high,low,close,volume"
    if lines[0] != header:
        raise SystemExit(f"{rel}: header {lines[0]!r} is not riskgov.prices/1")
    out = [header]
    for line in lines[1:]:
        cols = line.split(",")
        if len(cols) != 6 or not cols[4]:
            raise SystemExit(f"{rel}: unexpected row {line!r}")
        out.append(f"{cols[0]},,,,{cols[4]},")
    return gzip.compress(("\n".join(out) + "\n").encode("utf-8"), compresslevel=9, mtime=0)


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
        **{rel + ".gz": trim_intraday(o[rel], rel) for rel in INTRADAY_ORIGINALS},
        **{rel: o[rel] for rel in HISTORY_FILES},
    }


def same(target: Path, data: bytes) -> bool:
    """The committed file equals a fresh build (gzip: same decompressed text)."""
    if not target.exists():
        return False
    if target.suffix == ".gz":
        return gzip.decompress(target.read_bytes()) == gzip.decompress(data)
    return target.read_bytes() == data


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
            if not same(target, data):
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
