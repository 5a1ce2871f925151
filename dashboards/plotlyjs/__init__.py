"""plotly.js's cartesian bundle (npm ``plotly.js-cartesian-dist-min``, MIT, ``LICENSE`` here),
served to the Dash pages instead of the full bundle the ``plotly`` package ships.

The pages draw only cartesian traces (scatter, bar, histogram, heatmap); this bundle has them
in 1.5 MB against the full bundle's 4.8 MB, which the browser must download, parse and run
before the first graph is drawn (bench/dashboards.py). It is used only while its version
equals the plotly.js version of the installed ``plotly`` package (:func:`dashboards.app.create_app`).
To update: ``npm pack plotly.js-cartesian-dist-min@<plotly.offline.get_plotlyjs_version()>``
and copy ``plotly-cartesian.min.js`` here, then set ``__version__``.
"""

__version__ = "4.1.1"  # the plotly.js version of the bundle

BUNDLE = "plotly-cartesian.min.js"
