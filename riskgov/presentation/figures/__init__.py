"""Figure builders: data in, ``plotly.graph_objects.Figure`` out (STYLE rule 14).

* :mod:`.brackets` — bracket tables (MMF/IMF/leverage step curves, MM(N)) of parameters;
* :mod:`.health` — health-run figures of the Dash pages (history, accounts, stress, §12);
* :mod:`.report` — the report's bar charts (Plotly for PNG, and a plain SVG fallback);
* :mod:`.style` — colours and layout shared by all of them.
"""
