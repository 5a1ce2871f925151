"""Venue history replay and the liquidation backtest (FORMATS.md "Venue history").

``reading`` streams and checks the history files, ``replay`` rebuilds each user's cash,
net sizes and entry prices (pure, no Django), ``files`` writes a replayed state as a
``riskgov.snapshot/1``, ``backtest`` compares the engine's liquidatable test with the
venue's real liquidations (pure), ``services`` stores results and imports snapshots.
"""
