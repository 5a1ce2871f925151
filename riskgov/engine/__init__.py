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
* ``tail`` — VaR, ES, Cover-2, coverage (§10); ``fund`` — insurance fund after and ADL
  amount of a scenario (§8, §9);
* ``recommend`` — volatility-based MMF/IMF and the Kupiec backtest (§12);
* ``stress``, ``scenarios``, ``cascade`` — stress runs (§8, §9, §11); ``units`` holds the
  margin-unit layout and the §8 outcome of one unit (shared by stress, cascade and ADL),
  ``pruning`` the exact pruning of the fast stress path;
* ``combine`` — a chunked run's partials and their exact combination; ``run`` — the run's
  per-scenario results, tails and coverage from the combined partials (§1, §8–§10);
* ``distributions`` — dashboard histograms and per-market sums that add up across chunks;
* ``options`` — Black-76 prices and Greeks of European options (§14);
* ``portfolio_margin`` — PM parameters, the scenario grid, vol shocks, MM/IM per risk unit
  and per account, the liquidation move (§14, §4, §5);
* ``margin_simulation`` — the margin simulator's pure core
  (``riskgov.margin_request/1`` → ``riskgov.margin_result/1``);
* ``paths``, ``path_stress`` (+ ``path_pruning``), ``path_cascade``, ``path_tail`` — path
  scenarios (gap, trend, historical hourly windows, ``(S, T, A)`` shocks), step-by-step
  first liquidation with the same exact pruning, the cascade along one path and its replay
  series, tails per family (§8–§11);
* ``_parallel`` — chunked, threaded elementwise passes (bitwise independent of threads).
"""
