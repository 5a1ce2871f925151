"""plotly.js with only the trace types riskgov's figures draw (:data:`TRACES`), built from
npm's ``plotly.js`` (MIT, ``LICENSE`` here) and served to the Dash pages instead of the full
bundle the ``plotly`` package ships.

``plotly-riskgov.min.js`` is plotly.js's core (the scatter trace and every component:
shapes, annotations, legend, colorbar, hover, modebar, …) with the bar, histogram and
heatmap traces: 1.06 MB (363 KiB gzipped) against the cartesian bundle's 1.5 MB (484 KiB)
and the full bundle's 4.8 MB, which the browser must download, parse and run before the
first graph is drawn (bench/dashboards.py). It is used only while its version equals the
plotly.js version of the installed ``plotly`` package (:func:`dashboards.app.create_app`).

The built file is committed (CI and deployments need no Node). To rebuild it, e.g. for a
new plotly: set ``plotly.js`` in ``build/package.json`` to
``plotly.offline.get_plotlyjs_version()``, then in ``build/``::

    npm install --ignore-scripts   # updates package-lock.json; `npm ci` for the locked versions
    npm run build                  # writes ../plotly-riskgov.min.js (esbuild, build/build.mjs)

and set ``__version__`` here. A figure drawing another trace type (``go.Pie``, a ``px``
function's traces) needs it in ``build/build.mjs``'s ``TRACES`` and in :data:`TRACES`
(tests/dashboards/test_plotly_bundle.py checks the figure code against it); without it
plotly.js draws nothing for that trace and logs no error.
"""

__version__ = "4.1.1"  # the plotly.js version of the bundle

BUNDLE = "plotly-riskgov.min.js"

#: the trace types in the bundle (plotly.js's ``type``; scatter is in plotly.js's core)
TRACES = ("scatter", "bar", "histogram", "heatmap")
