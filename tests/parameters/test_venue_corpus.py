"""Real venue files from several years import and round-trip (issue #14 item 6).

Each file of ``tests/data/venue_corpus/`` (origins in its ``SOURCES.md``) is imported with
``import_parameters``; the test checks the number of markets, the first and last bracket of one
market against the raw file (read here independently of the importer), that the exported active
set re-imports as "unchanged", and that a broken real row (or a format that cannot be imported)
fails in one line naming file, market and field with every table unchanged.

The five freqtrade wheel members are also here whole (``binance/untrimmed/*.json.gz``, checked
against their recorded sha256), and every "N imported, M out of scope" that SOURCES.md states
is asserted against the file it names.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from riskgov.parameters.document import load_document
from riskgov.parameters.importing import read_parameter_file
from riskgov.parameters.models import Bracket, MarketParameterVersion, ParameterImport
from riskgov.parameters.venues import parse_hyperliquid
from riskgov.parameters.venues.common import VenueFileError

pytestmark = pytest.mark.django_db
CORPUS = Path(__file__).resolve().parents[1] / "data" / "venue_corpus"
INT64_MAX = Decimal(2**63 - 1)


def _raw(path: Path):
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal, parse_int=Decimal)


def _inv(lev) -> Decimal:
    """1/lev rounded up to 10 places (riskgov.parameters.venues.common convention)."""
    return (Decimal(1) / Decimal(str(lev))).quantize(Decimal("1e-10"), rounding=ROUND_CEILING).normalize()


def _binance_expect(raw, key):
    if isinstance(raw, list):  # Binance's own GET /fapi/v1/leverageBracket list
        brackets = next(e["brackets"] for e in raw if e["symbol"] == key)
        tiers = [
            {
                "minNotional": b["notionalFloor"],
                "maxNotional": b["notionalCap"],
                "maxLeverage": b["initialLeverage"],
                "maintenanceMarginRate": b["maintMarginRatio"],
            }
            for b in brackets
        ]
    else:
        tiers = raw[key]
    top = Decimal(str(tiers[-1]["maxNotional"]))
    return {
        "first": (
            Decimal(str(tiers[0]["minNotional"])),
            _inv(tiers[0]["maxLeverage"]),
            Decimal(str(tiers[0]["maintenanceMarginRate"])),
        ),
        "last": (
            Decimal(str(tiers[-1]["minNotional"])),
            _inv(tiers[-1]["maxLeverage"]),
            Decimal(str(tiers[-1]["maintenanceMarginRate"])),
        ),
        "n": len(tiers),
        "max_position": None if top >= INT64_MAX else top,
    }


def _hyperliquid_expect(raw, coin):
    meta = raw[0] if isinstance(raw, list) else raw
    entry = next(u for u in meta["universe"] if u["name"] == coin)
    tables = {int(t[0]): t[1]["marginTiers"] for t in meta.get("marginTables", [])}
    if "marginTableId" not in entry:  # before 2025: the coin's maxLeverage is its one tier
        tiers = [{"lowerBound": 0, "maxLeverage": entry["maxLeverage"]}]
    else:
        tid = int(entry["marginTableId"])
        tiers = [{"lowerBound": 0, "maxLeverage": tid}] if tid < 50 else tables[tid]

    def row(t):
        lev = Decimal(str(t["maxLeverage"]))
        half = (Decimal("0.5") / lev).quantize(Decimal("1e-10"), rounding=ROUND_CEILING).normalize()
        return Decimal(str(t["lowerBound"])), _inv(lev), half

    return {"first": row(tiers[0]), "last": row(tiers[-1]), "n": len(tiers), "max_position": None}


def _dydx_expect(raw, ticker):
    if "markets" in raw:
        m = raw["markets"][ticker]
        imf, mmf = Decimal(m["initialMarginFraction"]), Decimal(m["maintenanceMarginFraction"])
    else:
        state = raw["app_state"]["perpetuals"]
        perp = next(p for p in state["perpetuals"] if p["params"]["ticker"] == ticker)
        tier = next(t for t in state["liquidity_tiers"] if t["id"] == perp["params"]["liquidity_tier"])
        imf = Decimal(tier["initial_margin_ppm"]) / Decimal(1_000_000)
        mmf = imf * Decimal(tier["maintenance_fraction_ppm"]) / Decimal(1_000_000)
    return {"first": (Decimal(0), imf, mmf), "last": (Decimal(0), imf, mmf), "n": 1, "max_position": None}


EXPECT = {"binance": _binance_expect, "hyperliquid": _hyperliquid_expect, "dydx": _dydx_expect}

# (file, format, markets imported, market checked: (riskgov symbol, venue key))
CASES = [
    ("binance/2022-05-01_freqtrade-2022.4.json", "binance", 4, ("BTC-PERP", "BTC/USDT")),
    ("binance/2022-10-29_freqtrade-2022.10.json", "binance", 3, ("BTC-PERP", "BTC/USDT")),
    ("binance/2023-07-07_freqtrade-2023.6.json", "binance", 4, ("BTCST-PERP", "BTCST/USDT:USDT")),
    ("binance/2024-04-30_freqtrade-2024.4.json", "binance", 5, ("BTC-PERP", "BTC/USDT:USDT")),
    ("binance/2025-03-27_freqtrade-2025.3.json", "binance", 4, ("BTC-PERP", "BTC/USDT:USDT")),
    ("binance/2026-09-02_btc-futures-e2e-e9e7a32_leverageBracket.json", "binance", 5, ("BTC-PERP", "BTCUSDT")),
    ("binance/undated_heikin-ashi-trading-bot-f4c6c76_leverageBracket.json", "binance", 1, ("BTC-PERP", "BTCUSDT")),
    ("hyperliquid/2023-07-17_hyperliquid-python-sdk-fd8ae74_meta.json", "hyperliquid", 28, ("BTC-PERP", "BTC")),
    (
        "hyperliquid/2024-12_goat-sdk-py-aiflow-3f6f7f4_testnet-meta-and-ctxs.json",
        "hyperliquid",
        18,
        ("UNIBOT-PERP", "UNIBOT"),
    ),
    # the five freqtrade members whole (gzipped; decompressed into tmp_path by _corpus_file)
    ("binance/untrimmed/2022-05-01_freqtrade-2022.4.json.gz", "binance", 137, ("BTC-PERP", "BTC/USDT")),
    ("binance/untrimmed/2022-10-29_freqtrade-2022.10.json.gz", "binance", 150, ("BTC-PERP", "BTC/USDT")),
    ("binance/untrimmed/2023-07-07_freqtrade-2023.6.json.gz", "binance", 194, ("BTCST-PERP", "BTCST/USDT:USDT")),
    ("binance/untrimmed/2024-04-30_freqtrade-2024.4.json.gz", "binance", 284, ("BTC-PERP", "BTC/USDT:USDT")),
    ("binance/untrimmed/2025-03-27_freqtrade-2025.3.json.gz", "binance", 417, ("BTC-PERP", "BTC/USDT:USDT")),
    ("hyperliquid/2025-12_riskgov-data-meta.json", "hyperliquid", 6, ("BTC-PERP", "BTC")),
    ("hyperliquid/2025_nautilus-trader-1cef3d0_meta-perp-sample.json", "hyperliquid", 3, ("ETH-PERP", "ETH")),
    ("dydx/2022-06-04_crypto-msg-parser-f53e81a_v3-markets.json", "dydx", 2, ("AVAX-PERP", "AVAX-USD")),
    ("dydx/2023-10-26_dydxopsdao-networks_v4-genesis.json", "dydx", 33, ("BTC-PERP", "BTC-USD")),
    ("dydx/2025-12-08_nautilus-trader-97dd51f_v4-perpetual-markets.json", "dydx", 3, ("SOL-PERP", "SOL-USD")),
]


#: Real files that cannot be imported (no leverage, so no initial margin): refused in one line.
REFUSED = [
    "binance/2021_freqtrade-git-778f0d9_leverage-brackets.json",
    "hyperliquid/2023-03-27_hyperliquid-python-sdk-69017e4_meta-no-leverage.json",
]

#: What SOURCES.md states for each file: (markets imported, symbols skipped as out of scope).
STATED_COUNTS = {
    "binance/2022-05-01_freqtrade-2022.4.json": (4, 10),
    "binance/2022-10-29_freqtrade-2022.10.json": (3, 4),
    "binance/2023-07-07_freqtrade-2023.6.json": (4, 3),
    "binance/2024-04-30_freqtrade-2024.4.json": (5, 2),
    "binance/2025-03-27_freqtrade-2025.3.json": (4, 2),
    "binance/2026-09-02_btc-futures-e2e-e9e7a32_leverageBracket.json": (5, 0),
    "binance/undated_heikin-ashi-trading-bot-f4c6c76_leverageBracket.json": (1, 0),
    "hyperliquid/2023-07-17_hyperliquid-python-sdk-fd8ae74_meta.json": (28, 0),
    "hyperliquid/2024-12_goat-sdk-py-aiflow-3f6f7f4_testnet-meta-and-ctxs.json": (18, 0),
    "binance/untrimmed/2022-05-01_freqtrade-2022.4.json.gz": (137, 25),
    "binance/untrimmed/2022-10-29_freqtrade-2022.10.json.gz": (150, 43),
    "binance/untrimmed/2023-07-07_freqtrade-2023.6.json.gz": (194, 41),
    "binance/untrimmed/2024-04-30_freqtrade-2024.4.json.gz": (284, 28),
    "binance/untrimmed/2025-03-27_freqtrade-2025.3.json.gz": (417, 37),
}


def _sources_line(name: str) -> str:
    """The one SOURCES.md line that names the file (as `file name`, in backticks)."""
    text = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if f"`{Path(name).name}`" in ln]
    assert len(lines) == 1, (name, lines)
    return lines[0]


def _corpus_file(name: str, tmp_path: Path) -> Path:
    """The corpus file to import: itself, or for ``untrimmed/*.json.gz`` the wheel member
    decompressed into ``tmp_path`` after checking its sha256 is the one SOURCES.md records."""
    path = CORPUS / name
    if path.suffix != ".gz":
        return path
    member = gzip.decompress(path.read_bytes())
    assert f"`{hashlib.sha256(member).hexdigest()}`" in _sources_line(name)
    out = tmp_path / path.name.removesuffix(".gz")
    out.write_bytes(member)
    return out


def _counts() -> tuple[int, int, int]:
    return ParameterImport.objects.count(), MarketParameterVersion.objects.count(), Bracket.objects.count()


def _bracket(b) -> tuple[Decimal, Decimal, Decimal]:
    return (
        Decimal(b["notional_floor"]).normalize(),
        Decimal(b["initial_margin_fraction"]).normalize(),
        Decimal(b["maintenance_margin_fraction"]).normalize(),
    )


def _norm(x) -> tuple[Decimal, ...]:
    return tuple(Decimal(v).normalize() for v in x)


def _plain_markets(doc: dict) -> list[dict]:
    """Markets with every decimal normalised (so "0.0500" == "0.05"), for comparing documents."""

    def norm(v):
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, str):
            try:
                return Decimal(v).normalize()
            except ArithmeticError:
                return v
        return v

    return norm(sorted(doc["markets"], key=lambda m: m["symbol"]))


def test_every_corpus_file_is_listed_with_its_origin():
    files = sorted(
        str(p.relative_to(CORPUS)) for p in [*CORPUS.glob("*/*.json"), *CORPUS.glob("*/untrimmed/*.json.gz")]
    )
    assert files == sorted([c[0] for c in CASES] + REFUSED)
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    assert all(Path(f).name in sources for f in files)
    years = {f.split("/")[0]: set() for f in files}
    for f in files:
        years[f.split("/")[0]].add(Path(f).name[:4])
    assert len(years["binance"]) >= 4 and len(years["dydx"]) >= 3


def _case(c):
    """The whole wheel members (137–417 markets, 25–70 s each to store, export and re-import)
    are ``slow``: still run in CI, deselectable with ``-m "not slow"``."""
    return pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if "/untrimmed/" in c[0] else [])


@pytest.mark.parametrize("name,fmt,n_markets,market", [_case(c) for c in CASES])
def test_corpus_file_imports_and_round_trips(name, fmt, n_markets, market, tmp_path, capsys):
    path = _corpus_file(name, tmp_path)
    symbol, venue_key = market
    doc, _ = read_parameter_file(path, fmt=fmt)
    assert len(doc["markets"]) == n_markets

    # First and last bracket of one market equal the raw file's values.
    expect = EXPECT[fmt](_raw(path), venue_key)
    m = next(x for x in doc["markets"] if x["symbol"] == symbol)
    assert len(m["brackets"]) == expect["n"]
    assert _bracket(m["brackets"][0]) == _norm(expect["first"])
    assert _bracket(m["brackets"][-1]) == _norm(expect["last"])
    cap = m["max_position_notional_usd"]
    assert (None if cap is None else Decimal(cap)) == expect["max_position"]

    # Stored as the initial active set, exported, re-imported: identical, nothing new stored.
    call_command("import_parameters", str(path), "--format", fmt)
    assert MarketParameterVersion.objects.count() == n_markets
    out = tmp_path / "export.json"
    call_command("export_parameters", str(out))
    exported = load_document(out)
    assert _plain_markets(exported) == _plain_markets(doc)
    before = _counts()[1:]
    capsys.readouterr()
    call_command("import_parameters", str(out))
    assert f"0 market and 0 asset draft versions; {n_markets + len(doc['assets'])} unchanged" in capsys.readouterr().out
    assert _counts()[1:] == before


def test_unbounded_sentinel_is_an_open_top_bracket():
    """2022.10: Binance's BTC/USDT top bracket is published as 9.223372036854776e+18 (2^63−1)."""
    doc, _ = read_parameter_file(CORPUS / "binance/2022-10-29_freqtrade-2022.10.json", fmt="binance")
    btc = next(m for m in doc["markets"] if m["symbol"] == "BTC-PERP")
    assert btc["max_position_notional_usd"] is None
    assert Decimal(btc["brackets"][-1]["notional_floor"]) == Decimal(300_000_000)


def test_old_symbols_and_bare_ids():
    """2022.4: ``BTC/USDT`` is the perpetual; bare ids and dated contracts are out of scope."""
    doc, findings = read_parameter_file(CORPUS / "binance/2022-05-01_freqtrade-2022.4.json", fmt="binance")
    assert [m["symbol"] for m in doc["markets"]] == ["BTC-PERP", "ETH-PERP", "RAY-PERP", "SUSHI-PERP"]
    out = {f.market for f in findings if f.kind == "out_of_scope"}
    assert {"BTCSTUSDT", "LENDUSDT", "BTCUSDT_210326", "BTC/BUSD"} <= out


def test_v4_open_interest_caps_are_kept():
    doc, _ = read_parameter_file(
        CORPUS / "dydx/2025-12-08_nautilus-trader-97dd51f_v4-perpetual-markets.json", fmt="dydx"
    )
    sol = next(m for m in doc["markets"] if m["symbol"] == "SOL-PERP")
    assert (Decimal(sol["oi_cap_lower_usd"]), Decimal(sol["oi_cap_upper_usd"])) == (
        Decimal(40_000_000),
        Decimal(100_000_000),
    )


def test_hyperliquid_universe_without_margin_tables(tmp_path):
    """Pre-2025 responses had no marginTableId/marginTables: maxLeverage is the one tier; the
    metaAndAssetCtxs shape ``[meta, ctxs]`` is read too."""
    meta = _raw(CORPUS / "hyperliquid/2025_nautilus-trader-1cef3d0_meta-perp-sample.json")
    old = {"universe": [{k: v for k, v in u.items() if k != "marginTableId"} for u in meta["universe"]]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps([old, []], default=str))
    doc, _ = parse_hyperliquid(path)
    btc = next(m for m in doc["markets"] if m["symbol"] == "BTC-PERP")
    assert [_bracket(b) for b in btc["brackets"]] == [_norm(("0", "0.025", "0.0125"))]


def _one_line_refusal(argv, *needles):
    before = _counts()
    with pytest.raises(CommandError) as exc:
        call_command("import_parameters", *argv)
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    for n in needles:
        assert n in msg
    assert _counts() == before
    return msg


def test_bracket_pairs_format_is_refused_in_one_line():
    path = CORPUS / "binance/2021_freqtrade-git-778f0d9_leverage-brackets.json"
    _one_line_refusal([str(path), "--format", "binance"], path.name, "1000SHIB/USDT", "no max leverage")


def _broken_copy(tmp_path: Path, name: str, edit) -> Path:
    raw = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / Path(name).name
    path.write_text(json.dumps(raw))
    return path


BROKEN = [
    (
        "binance/2024-04-30_freqtrade-2024.4.json",
        "binance",
        lambda r: r["ETH/USDT:USDT"][2].__setitem__("maintenanceMarginRate", "n/a"),
        ("ETH/USDT:USDT", "tier #3", "maintenanceMarginRate"),
    ),
    (
        "binance/2023-07-07_freqtrade-2023.6.json",
        "binance",
        lambda r: r["BTC/USDT:USDT"][-1].__setitem__("maxNotional", 5e18),
        ("BTC/USDT:USDT", "maxNotional", "sentinel"),
    ),
    (
        "hyperliquid/2025_nautilus-trader-1cef3d0_meta-perp-sample.json",
        "hyperliquid",
        lambda r: r["marginTables"][1][1]["marginTiers"][1].pop("lowerBound"),
        ("table 56", "tier 2", "lowerBound"),
    ),
    (
        "dydx/2025-12-08_nautilus-trader-97dd51f_v4-perpetual-markets.json",
        "dydx",
        lambda r: r["markets"]["ETH-USD"].__setitem__("maintenanceMarginFraction", None),
        ("ETH-USD", "maintenanceMarginFraction"),
    ),
    (
        "dydx/2022-06-04_crypto-msg-parser-f53e81a_v3-markets.json",
        "dydx",
        lambda r: r["markets"]["BTC-USD"].__setitem__("maintenanceMarginFraction", "0.06"),
        ("BTC-USD", "maintenance_margin_fraction"),
    ),
]


@pytest.mark.parametrize("name,fmt,edit,needles", BROKEN, ids=[f"{b[0]}:{b[3][-1]}" for b in BROKEN])
def test_broken_real_row_stores_nothing(name, fmt, edit, needles, tmp_path):
    call_command("import_parameters", str(CORPUS / name), "--format", fmt)  # a prior good import
    path = _broken_copy(tmp_path, name, edit)
    _one_line_refusal([str(path), "--format", fmt], path.name, *needles)
    _one_line_refusal([str(path), "--format", fmt, "--reference"], path.name)


def test_file_with_no_market_in_scope_is_refused(tmp_path):
    path = _broken_copy(
        tmp_path,
        "binance/2022-05-01_freqtrade-2022.4.json",
        lambda r: [r.pop(k) for k in list(r) if "/USDT" in k and "BUSD" not in k],
    )
    _one_line_refusal([str(path), "--format", "binance", "--reference"], "no market to import", "out_of_scope")
    with pytest.raises(VenueFileError):
        read_parameter_file(path, fmt="binance")


@pytest.mark.parametrize("name", sorted(STATED_COUNTS), ids=sorted(STATED_COUNTS))
def test_sources_md_counts_are_those_of_the_file_in_the_corpus(name, tmp_path):
    """SOURCES.md states, on the file's own line, how many markets it imports and how many
    symbols are out of scope; both are what importing that very file gives."""
    imported, out_of_scope = STATED_COUNTS[name]
    doc, findings = read_parameter_file(_corpus_file(name, tmp_path), fmt=name.split("/")[0])
    assert len(doc["markets"]) == imported
    assert sum(f.kind == "out_of_scope" for f in findings) == out_of_scope
    assert not [f for f in findings if f.kind == "market_skipped" and f.broken]
    assert f"{imported} imported, {out_of_scope} out of scope" in _sources_line(name)


def test_sources_md_claims_no_count_of_a_file_not_in_the_corpus():
    """Every "N imported, M out of scope" in SOURCES.md is on the line of a corpus file that
    the test above checks."""
    text = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    claimed = [ln for ln in text.splitlines() if re.search(r"\d+ imported", ln)]
    assert len(claimed) == len(STATED_COUNTS)
    assert all(any(f"`{Path(n).name}`" in ln for n in STATED_COUNTS) for ln in claimed)
    assert all((CORPUS / n).is_file() for n in STATED_COUNTS)


@pytest.mark.parametrize(
    "name",
    [
        "binance/2026-09-02_btc-futures-e2e-e9e7a32_leverageBracket.json",
        "binance/undated_heikin-ashi-trading-bot-f4c6c76_leverageBracket.json",
    ],
)
def test_native_leverage_bracket_response_imports_exactly(name):
    """Binance's own ``GET /fapi/v1/leverageBracket`` list (numbers as JSON numbers, or as strings
    through ccxt's implicit API): every bracket of every symbol equals the raw file (IMF =
    1/initialLeverage, MMF = maintMarginRatio, floor = notionalFloor, max position = the last
    notionalCap), and Binance's ``cum`` equals riskgov's derived maintenance amount (RISK_MODEL §2)."""
    raw = _raw(CORPUS / name)
    doc, findings = read_parameter_file(CORPUS / name, fmt="binance")
    assert not [f for f in findings if f.kind == "maintenance_amount_mismatch"]
    by_symbol = {m["symbol"]: m for m in doc["markets"]}
    assert sorted(by_symbol) == sorted(e["symbol"].removesuffix("USDT") + "-PERP" for e in raw)
    for e in raw:
        m = by_symbol[e["symbol"].removesuffix("USDT") + "-PERP"]
        assert [_bracket(b) for b in m["brackets"]] == [
            _norm((b["notionalFloor"], _inv(b["initialLeverage"]), b["maintMarginRatio"])) for b in e["brackets"]
        ]
        assert Decimal(m["max_position_notional_usd"]) == Decimal(str(e["brackets"][-1]["notionalCap"]))


def test_meta_without_leverage_is_refused_in_one_line():
    """hyperliquid-python-sdk's 2023-03-27 ``meta`` capture: coins carry only name and
    szDecimals; no initial margin can be derived, so nothing is stored."""
    path = CORPUS / "hyperliquid/2023-03-27_hyperliquid-python-sdk-69017e4_meta-no-leverage.json"
    _one_line_refusal([str(path), "--format", "hyperliquid"], path.name, "(BTC)", "maxLeverage")
