"""The evaluation report: where a checkpoint fails, and how checkpoints compare (`python -m avzsl.evaluate --report`).

    results.py   the numbers (per-class accuracy, what classes are taken for, γ / α curves, modalities)
    figures.py   plotly figures of those numbers (also shown by the app's Explore tab)
    page.py      one self-contained HTML page (plotly.js inlined) plus a PNG of each figure
"""
