"""Rebuild the Binance corpus files from the freqtrade wheels (see SOURCES.md): the trimmed
``binance/<date>_freqtrade-<version>.json`` and the untrimmed members, gzipped byte for byte
(``binance/untrimmed/<date>_freqtrade-<version>.json.gz``, level 9, no name or time in the
header, so a rebuild gives the same bytes).

    pip download freqtrade==2022.4 freqtrade==2022.10 ... --no-deps -d WHEELS
    python tests/data/venue_corpus/make_corpus.py WHEELS

Each kept symbol's tiers are copied unchanged: numbers keep their original text (no float
round trip), so sentinels such as ``9223372036854776000`` and ``9.223372036854776e+18`` and
strings such as ``"1.000163E8"`` stay exactly as published.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEMBER = "freqtrade/exchange/binance_leverage_tiers.json"
#: wheel version -> (sha256 of the member, its number of symbols), as SOURCES.md states them;
#: a rebuild from other bytes stops instead of rewriting the corpus.
WHEELS = {
    "2022.4": ("acaed40889becff69a2eae869bc54d23a6403f779ecebc6830c0c494a1c8fcc8", 162),
    "2022.10": ("468aaa9ffd8f7193c107e8fa793677777e2fd332c0fff14a3425f70aab8f3cf1", 193),
    "2023.6": ("6f550cb2d2a339bfcb8a28cf1005f9c7c799800c03ccad47f00ebe1c9c10a80c", 235),
    "2024.4": ("32a0411fd6a233c2b7c412460c4dd4b830e9fe76737c17bf6b2a124eb7b1230b", 312),
    "2025.3": ("974b1314000e0236dce13f0a1a09f35a7349222002d1821cad990f418b51e5a7", 454),
}


class Raw(str):
    """A JSON number kept as its source text."""


def _dump(v, indent=0) -> str:
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(x, indent + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{_dump(x, indent + 1)}" for x in v) + f"\n{pad}]"
    return json.dumps(v, ensure_ascii=False)


def _huge(t: dict) -> bool:
    return float(str(t.get("maxNotional"))) > 1e15


def keep(data: dict) -> list[str]:
    """Symbols kept: the first two, BTC/ETH perps, every sentinel or odd-valued symbol, one of
    each out-of-scope kind (BUSD/USDC-margined, dated, raw Binance id)."""
    keys = list(data)
    kept = keys[:2]
    kept += [k for k in keys if re.fullmatch(r"(BTC|ETH)/USDT(:USDT)?", k)]
    kept += [k for k in keys if any(_huge(t) for t in data[k])]
    kept += [k for k in keys if any(re.search(r"[eE]", str(t.get("info", {}).get("cum", ""))) for t in data[k])][:2]
    for pattern in (r".*/BUSD(:BUSD)?", r".*/USDC(:USDC)?", r".*_\d{6}|.*:USDT-\d{6}", r"[A-Z0-9]+USDT"):
        kept += [k for k in keys if re.fullmatch(pattern, k)][:1]
    return list(dict.fromkeys(kept))


def main(wheels: Path) -> None:
    for version in WHEELS:
        whl = wheels / f"freqtrade-{version}-py3-none-any.whl"
        with zipfile.ZipFile(whl) as z:
            info = z.getinfo(MEMBER)
            member = z.read(MEMBER)
        sha, n_symbols = WHEELS[version]
        if hashlib.sha256(member).hexdigest() != sha:
            sys.exit(f"{whl.name}: {MEMBER} sha256 is not the one SOURCES.md records ({sha})")
        text = member.decode()
        y, mo, d = info.date_time[:3]
        date = f"{y:04d}-{mo:02d}-{d:02d}"
        data = json.loads(text, parse_float=Raw, parse_int=Raw)
        if len(data) != n_symbols:
            sys.exit(f"{whl.name}: {len(data)} symbols, SOURCES.md says {n_symbols}")
        full = HERE / "binance" / "untrimmed" / f"{date}_freqtrade-{version}.json.gz"
        full.parent.mkdir(exist_ok=True)
        full.write_bytes(gzip.compress(member, compresslevel=9, mtime=0))
        out = {k: data[k] for k in keep(data)}
        dest = HERE / "binance" / f"{date}_freqtrade-{version}.json"
        dest.write_text(_dump(out) + "\n", encoding="utf-8")
        print(f"{dest.name}: {len(data)} -> {len(out)} symbols: {', '.join(out)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
