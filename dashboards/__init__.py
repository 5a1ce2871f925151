"""riskgov's Plotly Dash pages, mounted under /dash/ next to Django (DESIGN.md stack facts)."""
