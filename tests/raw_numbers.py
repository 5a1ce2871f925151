"""Find numbers shown without the presentation rule (issue #16 item 10): a float with five or
more decimals (``0.0133333334``), an integer of five or more digits without separators
(``13105677``), scientific notation (``+0E-9``) or money signed after the dollar sign
(``$+32,321``; the rule is ``+$32,321`` / ``−$32,321``), in the visible text of a page.

``html_raw_numbers(html)`` reads a Django page (text outside ``<script>``/``<style>``, not
attributes); ``dash_raw_numbers(layout)`` reads a Dash layout (text children, and the cells
of every ``DataTable`` column the browser shows as it is: a ``numeric`` column with a
``format`` is formatted by the table itself). Ids (``#12345``, ``acct-00012``), dates and
times are not numbers shown to the reader and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

#: a raw float, a long unseparated integer, scientific notation; not part of an id or a date
RAW = re.compile(
    r"(?<![\w.#/:\-])(?:\d+\.\d{5,}|\d{5,}|\d+(?:\.\d+)?[eE][-+]?\d+)(?![\w/:\-]|\.\d)",
)


#: money with its sign after the dollar sign ("$+32,321", "$-1,000"): the rule is "+$32,321" /
#: "−$32,321" (U+2212, ``riskgov.presentation.formats.money``)
MISPLACED_SIGN = re.compile(r"\$[+\-\u2212]\d[\d,]*(?:\.\d+)?")


def _code_ids() -> list[str]:
    """The hex ids in this checkout's code version (``git describe`` + engine hash): an id
    such as ``7788e94`` reads like scientific notation but is not a number shown."""
    from riskgov.health.services._base import code_version

    return re.findall(r"[0-9a-f]{7,}", code_version())


def raw_numbers(text: str) -> list[str]:
    """The raw numbers in ``text`` (empty when every number follows the rule): raw floats,
    long unseparated integers, scientific notation (the code version's hex ids skipped) and
    money signed after its dollar sign (``$+1,000``: the rule is ``+$1,000``)."""
    signs = MISPLACED_SIGN.findall(text or "")
    found = RAW.findall(text or "")
    if not found:
        return signs
    ids = _code_ids()
    return [m for m in found if not any(m in i for i in ids)] + signs


class _Text(HTMLParser):
    SKIP = {"script", "style", "template"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML page, one chunk per line."""
    p = _Text()
    p.feed(html)
    return "\n".join(s.strip() for s in p.parts if s.strip())


def html_raw_numbers(html: str) -> list[str]:
    """Raw numbers in the visible text of an HTML page."""
    return raw_numbers(html_text(html))


def _walk(node: Any) -> Iterator[Any]:
    if node is None or isinstance(node, (str, int, float)):
        return
    if isinstance(node, (list, tuple)):
        for n in node:
            yield from _walk(n)
        return
    yield node
    yield from _walk(getattr(node, "children", None))


def dash_texts(layout: Any) -> Iterator[str]:
    """Every text a Dash layout shows: string/number children and raw DataTable cells."""

    def own(children: Any) -> Iterator[str]:
        if isinstance(children, bool):
            return
        if isinstance(children, (str, int, float)):
            yield str(children)
        elif isinstance(children, (list, tuple)):
            for c in children:
                if isinstance(c, (str, int, float)) and not isinstance(c, bool):
                    yield str(c)

    for node in _walk(layout):
        yield from own(getattr(node, "children", None))
        if type(node).__name__ == "DataTable":
            columns = getattr(node, "columns", None) or []
            shown = {
                c["id"]
                for c in columns
                if not (c.get("type") == "numeric" and c.get("format")) and c.get("presentation") != "markdown"
            }
            for row in getattr(node, "data", None) or []:
                for key, value in row.items():
                    if key in shown and value is not None:
                        yield f"{value}"


def _unformatted_big_cells(layout: Any) -> Iterator[str]:
    """Numbers ≥ 1,000 in a DataTable column without a numeric format: the browser shows
    them without separators (``24066.84``)."""
    for node in _walk(layout):
        if type(node).__name__ != "DataTable":
            continue
        columns = getattr(node, "columns", None) or []
        plain = {c["id"] for c in columns if not c.get("format") and c.get("presentation") != "markdown"}
        for row in getattr(node, "data", None) or []:
            for key, value in row.items():
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if key in plain and number and abs(value) >= 1000:
                    yield f"{value}"


def dash_raw_numbers(layout: Any) -> list[str]:
    """Raw numbers a Dash layout shows (text, and table cells without a number format)."""
    return [n for t in dash_texts(layout) for n in raw_numbers(t)] + list(_unformatted_big_cells(layout))
