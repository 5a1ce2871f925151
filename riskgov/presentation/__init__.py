"""One presentation layer: number formats, field metadata and figure builders shared by the
Dash pages, the committee templates (template filters), the reports and the CSV exports.

Pure Python + plotly: nothing here imports Django, an ORM model or a selector; callers pass
plain values (floats, Decimals, dicts, dataclasses) in and get strings or figures out.
"""
