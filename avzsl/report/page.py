"""The report as files: one self-contained HTML page (plotly.js inlined, works offline), a PNG of each figure,
and the numbers as JSON.

    OUT/report.html      summary table, comparison (several checkpoints), each checkpoint's figures, and a
                         searchable table of every class
    OUT/report.json      the same numbers (report_json)
    OUT/figures/*.png    each figure (plotly's static export: kaleido driving the system's Chromium)
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
import time
from pathlib import Path

import plotly.io as pio
from plotly.offline import get_plotlyjs

import avzsl
from avzsl.io import atomic_write_bytes, atomic_write_json
from avzsl.report.figures import disagreement_figure, overlay_figure, report_figures, taken_for_text
from avzsl.report.results import REPORT_FORMAT, REPORT_VERSION, CheckpointReport, disagreements

log = logging.getLogger(__name__)

PNG_WIDTH = 1100  # pixels; heights are the figures' own
CAPTIONS = {  # how to read each figure, under it
    "class-accuracy": "Each test class's accuracy, lowest first (the dotted lines are S and U, their means). "
                      "Hover a bar for what the class's videos are taken for and the classes nearest to its name.",
    "unseen-outcome": "Each unseen class's videos: recognised, taken for a seen class (the seen-class bias that "
                      "calibration γ counters), or taken for another unseen class.",
    "confusion": "The mistakes of the worst unseen classes: which classes their videos are taken for, seen classes "
                 "left of the line; on the right, the classes whose names embed nearest to each row's.",
    "gamma": "Calibration γ trades seen accuracy S for unseen accuracy U. The solid line is the γ in use, the dashed "
             "one the γ chosen on validation, the star the best HM on the test split (known only in hindsight).",
    "alpha": "The open-vocabulary blend: α of the training-free CLIP/CLAP distances mixed into the model's, at the "
             "γ in use.",
    "modalities": "The same test split scored by the model, by each of its modality branches where it has them, and "
                  "by the training-free CLIP/CLAP cosine score (no training, γ = 0): the floor a model must beat.",
    "overlay": "HM against γ for every checkpoint; a dot marks the γ each one uses.",
    "disagreement": "Classes whose accuracy differs most between the checkpoints.",
}
# The page's look and its class search, inlined into every page (it works offline, as one file).
STYLE = (Path(__file__).parent / "page.css").read_text(encoding="utf-8")
SEARCH_SCRIPT = (Path(__file__).parent / "page.js").read_text(encoding="utf-8")


def report_json(reports: list[CheckpointReport], data: str = "") -> dict:
    """All the numbers of the page: every checkpoint's report and, with several, the classes they disagree on."""
    out = {"format": REPORT_FORMAT, "version": REPORT_VERSION, "data": data, "split": "test",
           "checkpoints": [r.to_dict() for r in reports]}
    if len(reports) > 1:
        out["disagreements"] = [{**dataclasses.asdict(d), "spread": d.spread} for d in disagreements(reports)]
    return out


def all_figures(reports: list[CheckpointReport]) -> dict[str, object]:
    """Every figure of the page, keyed by a file-name-safe name (several checkpoints: prefixed by their place)."""
    figures = {}
    if len(reports) > 1:
        figures["compare-overlay"] = overlay_figure(reports)
        figures["compare-disagreement"] = disagreement_figure(reports, disagreements(reports))
    for i, report in enumerate(reports):
        prefix = f"{i + 1}-" if len(reports) > 1 else ""
        figures.update({f"{prefix}{key}": fig for key, fig in report_figures(report).items()})
    return figures


def write_report(reports: list[CheckpointReport], out: str | Path, *, data: str = "", png: bool = True) -> Path:
    """Write OUT/report.html, OUT/report.json and (png) OUT/figures/*.png; returns the page's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    figures = all_figures(reports)
    page = out / "report.html"
    atomic_write_bytes(page, render_page(reports, figures, data).encode("utf-8"))
    atomic_write_json(out / "report.json", report_json(reports, data))
    log.info("report page with %d figures in %.1f s: %s", len(figures), time.perf_counter() - began, page)
    if png:
        write_pngs(figures, out / "figures")
    return page


def write_pngs(figures: dict, folder: Path) -> list[Path]:
    """A PNG of every figure (one browser start for all). Without kaleido or a Chromium it says why and writes none:
    the HTML page holds the same figures."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{key}.png" for key in figures]
    began = time.perf_counter()
    for name in ("kaleido", "choreographer"):  # they log every browser step at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        pio.write_images(list(figures.values()), paths, width=PNG_WIDTH, scale=1,
                         height=[fig.layout.height or 500 for fig in figures.values()])
    except Exception as e:  # noqa: BLE001 - kaleido's errors (no package, no browser) have no common base
        reason = next((line.strip() for line in str(e).splitlines() if line.strip()), "no message")  # kaleido's
        log.warning("no PNGs written (%s: %s); the HTML page has every figure. PNGs need the kaleido package and "
                    "Chromium (apt-get install chromium)", type(e).__name__, reason)  # starts with blank lines
        with contextlib.suppress(OSError):
            folder.rmdir()  # when empty: no figures/ folder without figures
        return []
    log.info("%d PNGs in %.1f s under %s", len(paths), time.perf_counter() - began, folder)
    return paths


def render_page(reports: list[CheckpointReport], figures: dict, data: str = "") -> str:
    names = ", ".join(r.name for r in reports)
    first = reports[0]
    n_seen, n_unseen = len(first.seen), len(first.unseen)
    videos = sum(c.videos for c in first.classes)
    parts = [f"<h1>Evaluation report: {_e(names)}</h1>",
             f"<p class='meta'>{_e(first.dataset)} test split ({_e(data)}): {n_seen} seen and {n_unseen} unseen "
             f"classes, {videos} videos. Written {time.strftime('%Y-%m-%d %H:%M')} by avzsl {avzsl.__version__}; "
             f"the numbers are also in report.json.</p>"]
    if any(r.synthetic for r in reports):
        parts.append("<p class='banner'>⚠ Trained on SYNTHETIC data: these numbers show that the pipeline works "
                     "and say nothing about real videos.</p>")
    for r in reports:
        parts += [f"<p class='banner'>{_e(r.name)}: {_e(note)}</p>" for note in r.notes]
    sections = {"summary": "Summary", **({"comparison": "Comparison"} if len(reports) > 1 else {}),
                **{f"checkpoint-{i + 1}": r.name for i, r in enumerate(reports)}, "classes": "All classes"}
    parts.append("<nav>" + "".join(f"<a href='#{s}'>{_e(title)}</a>" for s, title in sections.items()) + "</nav>")
    parts += ["<h2 id='summary'>Summary</h2>", _summary_table(reports)]
    if len(reports) > 1:
        parts.append("<h2 id='comparison'>Comparison</h2>")
        parts += [_figure(figures[k], k, k.removeprefix("compare-")) for k in ("compare-overlay", "compare-disagreement")]
    for i, r in enumerate(reports):
        prefix = f"{i + 1}-" if len(reports) > 1 else ""
        parts.append(f"<h2 id='checkpoint-{i + 1}'>{_e(r.name)} <small class='meta'>({_e(r.model)}, γ = "
                     f"{r.gamma:.4g}" + (f", α = {r.alpha:.2g}" if r.alpha else "") + ")</small></h2>")
        parts += [_figure(fig, key, key.removeprefix(prefix)) for key, fig in figures.items() if key.startswith(prefix)
                  and not key.startswith("compare-")]
    parts += ["<h2 id='classes'>All classes</h2>", _class_table(reports)]
    body = "\n".join(parts)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>avzsl report: {_e(names)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head>\n<body>\n{body}\n<script>{SEARCH_SCRIPT}</script>\n</body></html>\n")


def _figure(fig, key: str, kind: str) -> str:
    div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"figure-{key}",
                      config={"displaylogo": False, "responsive": True})
    return f"<div class='figure' data-figure='{_e(key)}'>{div}</div><p class='caption'>{_e(CAPTIONS.get(kind, ''))}</p>"


def _summary_table(reports: list[CheckpointReport]) -> str:
    head = "<tr><th>checkpoint</th><th>model</th><th>γ</th><th>α</th><th>S</th><th>U</th><th>HM</th><th>ZSL</th>" \
           "<th>training-free HM</th><th>worst unseen class</th></tr>"
    rows = []
    for r in reports:
        m = r.metrics
        free = next((s.HM for s in r.scorings if s.key == "free"), None)
        worst = r.unseen[0] if r.unseen else None
        rows.append(
            f"<tr><td>{_e(r.name)}</td><td>{_e(r.model)}</td><td class='num'>{r.gamma:.4g}</td>"
            f"<td class='num'>{r.alpha:.2g}</td>" + "".join(f"<td class='num'>{m[k]:.2f}</td>" for k in ("S", "U", "HM", "ZSL"))
            + f"<td class='num'>{'—' if free is None else f'{free:.2f}'}</td>"
            + f"<td>{_e(worst.name) + f' ({worst.accuracy:.0f} %)' if worst else '—'}</td></tr>")
    return f"<table id='summary-table'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _class_table(reports: list[CheckpointReport]) -> str:
    """Every test class (figures show the worst only), searchable: accuracy and mistakes under each checkpoint."""
    by_name = [{c.name: c for c in r.classes} for r in reports]
    several = len(reports) > 1
    head = "<tr><th>class</th><th>kind</th><th>videos</th>" + "".join(
        f"<th>accuracy{(' ' + _e(r.name)) if several else ''}</th><th>taken for{(' ' + _e(r.name)) if several else ''}"
        "</th>" for r in reports) + "<th>nearest by text embedding</th></tr>"
    rows = []
    for c in reports[0].classes:  # the first checkpoint's order: its lowest accuracy first
        cells = [f"<td>{_e(c.name)}</td>", f"<td class='{'seen' if c.seen else 'unseen'}'>{'seen' if c.seen else 'unseen'}</td>",
                 f"<td class='num'>{c.videos}</td>"]
        for b in by_name:
            other = b.get(c.name)
            cells.append(f"<td class='num'>{other.accuracy:.1f}</td>" if other else "<td>—</td>")
            cells.append(f"<td>{_e(taken_for_text(other, 4)) if other else '—'}</td>")
        cells.append(f"<td>{_e(', '.join(c.neighbours))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<input id='class-search' type='search' placeholder='Find a class by name' "
            f"aria-label='Search classes'> <span class='meta'><span id='class-count'>{len(rows)}</span> of "
            f"{len(rows)} classes</span><div class='table-box'><table id='class-table'><thead>{head}</thead><tbody>"
            + "".join(rows) + "</tbody></table></div>")


def _e(text) -> str:
    return html.escape(str(text), quote=True)
