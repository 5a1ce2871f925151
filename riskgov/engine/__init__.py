"""riskgov's pure risk engine: numpy/scipy in, numpy out. No Django, no Celery, no I/O.

Formulas follow ``RISK_MODEL.md`` (cited as §N in every docstring).

Modules (import them directly; this package imports nothing):

* ``types`` — the data contract (frozen dataclasses of arrays) and the engine's errors;
* ``brackets`` — bracket tables, maintenance amounts, lookups (§2, §3);
* ``margin`` — position, account and protocol metrics (§2–§6); documents how isolated
  positions enter account totals; re-exports ``validation`` (``validate_state``),
  ``positions``, ``accounts`` and ``totals``, where the three passes live;
* ``liquidation`` — liquidation and bankruptcy prices (§7);
* ``health`` — ``evaluate_health``: one validated base pass (§2–§7);
* ``tail`` — VaR, ES, Cover-2, coverage (§10);
* ``recommend`` — volatility-based MMF/IMF and the Kupiec backtest (§12);
* ``stress``, ``scenarios``, ``cascade`` — stress runs (§8, §9, §11); ``units`` holds the
  margin-unit layout and the §8 outcome of one unit (shared by stress, cascade and ADL),
  ``pruning`` the exact pruning of the fast stress path;
* ``paths``, ``path_stress`` (+ ``path_pruning``), ``path_cascade``, ``path_tail`` — path
  scenarios (gap, trend, historical hourly windows, ``(S, T, A)`` shocks), step-by-step
  first liquidation with the same exact pruning, the cascade along one path and its replay
  series, tails per family (§8–§11);
* ``_parallel`` — chunked, threaded elementwise passes (bitwise independent of threads).
"""
