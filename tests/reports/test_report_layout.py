"""The report PDF's layout (issue #16 item 2): every table lies within the page's content box.

The pypdf text test cannot see clipping (text off the paper is still in the PDF), so this lays
the report out with WeasyPrint and measures each table box and every box inside it."""

import pytest

from riskgov.reports.services import report_build

pytestmark = pytest.mark.django_db


def _boxes(box):
    yield box
    for child in getattr(box, "children", None) or ():
        yield from _boxes(child)


def _overflows(html: str) -> list[str]:
    """``"<table id> page N: right edge X > content edge Y"`` for every box of a table that
    ends beyond the right edge of its page's content box (CSS px, 0.5 px tolerance)."""
    from weasyprint import HTML
    from weasyprint.formatting_structure import boxes

    doc = HTML(string=html).render()
    out, tables = [], 0
    for n, page in enumerate(doc.pages, start=1):
        pb = page._page_box
        right = pb.content_box_x() + pb.width
        for box in _boxes(pb):
            if not isinstance(box, boxes.TableBox):
                continue
            tables += 1
            name = (
                (box.element.get("id") or box.element.get("class") or "table") if box.element is not None else "table"
            )
            for inner in _boxes(box):
                if not hasattr(inner, "border_box_x") or inner.width is None:
                    continue
                edge = inner.border_box_x() + inner.border_width()
                if edge > right + 0.5:
                    out.append(f"{name} page {n}: right edge {edge:.1f} > content edge {right:.1f}")
                    break
    assert tables, "no table laid out"
    return out


@pytest.mark.pango
def test_every_table_of_the_report_fits_within_the_page(published_run):
    report = report_build()
    html = report.html.read().decode()
    assert 'id="family-tails"' in html and 'id="scenarios"' in html and 'id="shortfall-distribution"' in html
    assert len(report.figures["families"]) >= 4 and report.figures["stress"]["standard"]
    bad = _overflows(html)
    assert not bad, "\n".join(bad)
