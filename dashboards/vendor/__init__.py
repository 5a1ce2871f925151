"""regenerator-runtime (npm ``regenerator-runtime``, MIT, ``LICENSE-regenerator-runtime`` here),
served to the Dash pages in place of Dash's ``@babel/polyfill``.

dcc's and dash_table's bundles are compiled against the global ``regeneratorRuntime`` that
the polyfill defines (they fail without it); the rest of the polyfill (core-js 2, 99 kB)
re-implements ES2015+ built-ins every browser the pages support has, and evaluating and
running it cost each page 50–200 ms of its main thread (bench/dashboards.py). This file is
``runtime.js`` of the package, unchanged (25 kB, 7 kB gzipped). See
:func:`dashboards.app._use_regenerator_runtime`. To update: ``npm pack
regenerator-runtime@<version>``, copy ``runtime.js`` here as ``regenerator-runtime.js``
and set ``__version__``.
"""

__version__ = "0.14.1"  # the npm package's version

RUNTIME = "regenerator-runtime.js"
