"""The vendored plotly.js (``dashboards.plotlyjs``) holds every trace type the figure code
draws: plotly.js draws a trace of a missing type as nothing, without an error
(tests/e2e/test_dashboards_browser.py checks the drawn pages)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType

from dashboards import plotlyjs

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_DIR = Path(plotlyjs.__file__).parent


def _figure_sources() -> list[Path]:
    return sorted(p for d in ("riskgov", "dashboards") for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts)


def _plotly_uses(path: Path) -> tuple[set[str], set[str]]:
    """(trace classes named as ``go.<Class>`` or imported from ``plotly.graph_objects``,
    plotly modules imported) in one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases, classes, modules = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("plotly"):
                    modules.add(a.name)
                    if a.name in ("plotly.graph_objects", "plotly.graph_objs"):
                        aliases.add(a.asname or a.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("plotly"):
            modules.add(node.module)
            if node.module in ("plotly.graph_objects", "plotly.graph_objs"):
                classes.update(a.name for a in node.names)
            elif node.module == "plotly":
                aliases.update(a.asname or a.name for a in node.names if a.name in ("graph_objects", "graph_objs"))
                modules.update(f"plotly.{a.name}" for a in node.names)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            classes.add(node.attr)
    traces = {
        c for c in classes if isinstance(getattr(go, c, None), type) and issubclass(getattr(go, c), BaseTraceType)
    }
    return traces, modules


def test_every_trace_type_the_code_draws_is_in_the_bundle():
    drawn: dict[str, str] = {}
    imported: set[str] = set()
    for path in _figure_sources():
        traces, modules = _plotly_uses(path)
        imported |= modules
        for cls in traces:
            drawn[getattr(go, cls)().type] = str(path.relative_to(ROOT))
    assert {"scatter", "bar", "histogram", "heatmap"} <= set(drawn)  # the scan sees the figure modules
    missing = {t: where for t, where in drawn.items() if t not in plotlyjs.TRACES}
    assert missing == {}, f"trace types drawn but not in dashboards/plotlyjs (build/build.mjs TRACES): {missing}"
    # their trace types cannot be read from the code: a use needs its types added by hand here
    assert not {m for m in imported if m.startswith(("plotly.express", "plotly.figure_factory", "plotly.subplots"))}


def test_bundle_is_built_from_the_version_and_traces_it_declares():
    package = json.loads((BUNDLE_DIR / "build" / "package.json").read_text())
    assert package["devDependencies"]["plotly.js"] == plotlyjs.__version__
    lock = json.loads((BUNDLE_DIR / "build" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/plotly.js"]["version"] == plotlyjs.__version__
    head = (BUNDLE_DIR / plotlyjs.BUNDLE).read_text()[:200]
    assert head.startswith(
        f"/**\n* plotly.js (riskgov: {', '.join(plotlyjs.TRACES)} - minified) v{plotlyjs.__version__}\n"
    )
    build = (BUNDLE_DIR / "build" / "build.mjs").read_text()
    listed = ast.literal_eval(build.split("const TRACES = ", 1)[1].split(";", 1)[0])
    assert ["scatter", *listed] == list(plotlyjs.TRACES)
