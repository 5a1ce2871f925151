"""riskgov's pure risk engine: numpy/scipy in, numpy out. No Django, no Celery, no I/O.

Formulas follow ``RISK_MODEL.md`` (cited as §N in every docstring).
"""
