"""Plotly figures of an evaluation report (results.py): report numbers in, `go.Figure` out. No models, no data.

Used by the HTML page (page.py) and by the app's Explore tab, which draws them from the report a checkpoint
stores. Long class lists are capped (MAX_CLASSES rows, the worst first): the page's searchable table holds
every class.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:  # types only: the app's figures import without torch (results.py imports it)
    from avzsl.report.results import CheckpointReport, Curve, Disagreement

MAX_CLASSES = 40  # rows of a per-class figure
MAX_CONFUSION_ROWS = 25  # unseen classes in the confusion figure
MAX_CONFUSION_COLUMNS = 30  # classes they are taken for
MAX_DISAGREEMENTS = 20  # classes in the comparison of several checkpoints
SEEN, UNSEEN, OTHER = "#4C78A8", "#E45756", "#B0B0B0"
METRIC_COLOURS = {"S": SEEN, "U": UNSEEN, "HM": "#222222"}
CHECKPOINT_COLOURS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D", "#EECA3B")
LAYOUT = dict(template="plotly_white", font=dict(size=12), margin=dict(l=10, r=20, t=60, b=40),
              legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0))


def class_accuracy_figure(report: CheckpointReport) -> go.Figure:
    """Per-class accuracy on the test split, lowest first, seen and unseen classes in two colours."""
    rows = report.classes[:MAX_CLASSES]
    fig = go.Figure()
    for seen, colour, name in ((True, SEEN, "seen class"), (False, UNSEEN, "unseen class")):
        part = [c for c in rows if c.seen == seen]
        fig.add_trace(go.Bar(
            y=[c.name for c in part], x=[c.accuracy for c in part], orientation="h", name=name, marker_color=colour,
            text=[f"{c.accuracy:.0f} %" for c in part], textposition="outside", cliponaxis=False,
            textfont=dict(color=colour),  # in the class's colour: a bar of 0 % still says seen or unseen
            customdata=[[c.videos, taken_for_text(c, 3), ", ".join(c.neighbours[:3])] for c in part],
            hovertemplate="<b>%{y}</b><br>%{x:.1f} % of %{customdata[0]} videos recognised<br>"
                          "taken for: %{customdata[1]}<br>text nearest: %{customdata[2]}<extra></extra>"))
    shown = "" if len(report.classes) <= MAX_CLASSES else f" (the {MAX_CLASSES} lowest of {len(report.classes)})"
    _bars_layout(fig, [c.name for c in rows], f"Per-class accuracy on the test split{shown}",
                 "accuracy (%)", [0, 109])
    # S's label right of its line, U's left of its own: they stay apart when S and U are close.
    _vline(fig, report.metrics["S"], f"S {report.metrics['S']:.1f}", "top right", SEEN, "dot", SEEN)
    _vline(fig, report.metrics["U"], f"U {report.metrics['U']:.1f}", "top left", UNSEEN, "dot", UNSEEN)
    return fig


def unseen_outcome_figure(report: CheckpointReport) -> go.Figure:
    """Where the videos of each unseen class go: recognised, taken for a seen class (the GZSL bias), or for
    another unseen class; in percent of the class's videos, lowest accuracy first."""
    rows = report.unseen[:MAX_CLASSES]
    names = [c.name for c in rows]
    fig = go.Figure()
    parts = (("recognised", [c.accuracy for c in rows], "#54A24B"),
             ("taken for a seen class", [100 * c.to_seen / c.videos for c in rows], SEEN),
             ("taken for another unseen class", [100 * c.to_unseen / c.videos for c in rows], UNSEEN))
    for name, values, colour in parts:
        fig.add_trace(go.Bar(y=names, x=values, orientation="h", name=name, marker_color=colour,
                             hovertemplate=f"<b>%{{y}}</b><br>{name}: %{{x:.1f}} %<extra></extra>"))
    shown = "" if len(report.unseen) <= MAX_CLASSES else f" (the {MAX_CLASSES} lowest of {len(report.unseen)})"
    _bars_layout(fig, names, f"Unseen classes: where their videos go{shown}", "share of the class's videos (%)",
                 [0, 100])
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    return fig


def confusion_figure(report: CheckpointReport) -> go.Figure:
    """Mistakes only: the share of each unseen class's videos taken for each other class (columns: seen classes,
    then unseen ones), with the classes nearest to it by text embedding written next to each row."""
    classes = [c for c in report.unseen if c.taken_for][:MAX_CONFUSION_ROWS]
    if not classes:
        return message_figure("No unseen video was mistaken for another class.", height=160)
    seen = {c.name for c in report.seen}
    total: dict[str, int] = {}
    for c in classes:
        for name, n in c.taken_for:
            total[name] = total.get(name, 0) + n
    top = sorted(total, key=lambda n: (-total[n], n))[:MAX_CONFUSION_COLUMNS]
    order = [n for n in top if n in seen] + [n for n in top if n not in seen]  # grouped: seen | unseen
    share = np.full((len(classes), len(order)), np.nan)
    for i, c in enumerate(classes):
        for name, n in c.taken_for:
            if name in order:
                share[i, order.index(name)] = 100 * n / c.videos
    ticks = [_short(n) for n in order]
    fig = go.Figure(go.Heatmap(
        z=share, x=list(range(len(order))), y=[c.name for c in classes], colorscale="Reds", zmin=0, xgap=1, ygap=1,
        colorbar=dict(title=dict(text="% of the row's videos", side="right"), thickness=10, x=1.0, xpad=4),
        customdata=[order] * len(classes),  # the full names, for the hover
        hovertemplate="<b>%{y}</b> taken for <b>%{customdata}</b>: %{z:.1f} % of its videos<extra></extra>"))
    n_seen = sum(n in seen for n in order)
    if 0 < n_seen < len(order):  # a line between the seen and the unseen columns
        fig.add_vline(x=n_seen - 0.5, line=dict(color="#333", width=2))
    for start, stop, text in ((0, n_seen, "seen classes"), (n_seen, len(order), "unseen classes")):
        if stop > start:
            fig.add_annotation(x=(start + stop - 1) / 2, xref="x", y=1.0, yref="paper", yanchor="bottom",
                               showarrow=False, text=f"<b>{text}</b>", font=dict(size=11, color=SEEN if start == 0 else UNSEEN))
    for c in classes:  # the text neighbours, next to each row
        fig.add_annotation(x=1.0, xref="paper", y=c.name, yref="y", xanchor="left", xshift=95, showarrow=False,
                           text=html.escape(", ".join(_short(n, 22) for n in c.neighbours[:3])),
                           font=dict(size=10, color="#555"))
    fig.add_annotation(x=1.0, xref="paper", y=1.0, yref="paper", yanchor="bottom", xanchor="left", xshift=95,
                       showarrow=False, text="<b>nearest by text embedding</b>", font=dict(size=11, color="#555"))
    fig.update_xaxes(tickangle=-40, tickvals=list(range(len(order))), ticktext=ticks, title="taken for")
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_layout(**LAYOUT, height=220 + 24 * len(classes),
                      title=dict(text=f"What unseen classes are taken for: the mistakes of the {len(classes)} "
                                      "lowest", y=0.98, yanchor="top"))
    fig.update_layout(margin=dict(l=10, r=360, t=70, b=40))
    return fig


def curve_figure(curve: Curve, title: str | None = None) -> go.Figure:
    """S, U and HM against γ (or α), the value in use and the validated one marked."""
    symbol = "γ" if curve.setting == "gamma" else "α"
    fig = go.Figure()
    for metric in ("S", "U", "HM"):
        fig.add_trace(go.Scatter(x=curve.values, y=getattr(curve, metric), mode="lines", name=metric,
                                 line=dict(color=METRIC_COLOURS[metric], width=3 if metric == "HM" else 2),
                                 hovertemplate=f"{symbol} %{{x:.3g}}: {metric} %{{y:.1f}}<extra></extra>"))
    _vline(fig, curve.chosen, f"in use {symbol} = {curve.chosen:.3g}", "top left", dash="solid")
    if curve.validated is not None and not np.isclose(curve.validated, curve.chosen):
        _vline(fig, curve.validated, f"validation optimum {curve.validated:.3g}", "top right", dash="dash")
    best = curve.best
    fig.add_trace(go.Scatter(x=[best], y=[max(curve.HM)], mode="markers", name="best HM on test (hindsight)",
                             marker=dict(symbol="star", size=12, color="#222"),
                             hovertemplate=f"best on test: {symbol} %{{x:.3g}}, HM %{{y:.1f}}<extra></extra>"))
    what = "calibration γ (added to the seen classes' distances)" if curve.setting == "gamma" \
        else "open-vocabulary blend α (0 = the model alone, 1 = CLIP/CLAP alone)"
    fig.update_xaxes(title=what)
    fig.update_yaxes(title="percent", range=[0, 100])
    fig.update_layout(**LAYOUT, height=420, title=dict(text=title or f"S, U and HM as a function of {symbol}"))
    return fig


def scoring_figure(report: CheckpointReport) -> go.Figure:
    """S, U and HM of the model, of each of its branches where it has them, and of the training-free score."""
    rows = report.scorings
    labels = [s.label for s in rows]
    fig = go.Figure()
    for metric in ("S", "U", "HM"):
        fig.add_trace(go.Bar(y=labels, x=[getattr(s, metric) for s in rows], orientation="h", name=metric,
                             marker_color=METRIC_COLOURS[metric],
                             hovertemplate=f"<b>%{{y}}</b><br>{metric} %{{x:.1f}}<extra></extra>"))
    _bars_layout(fig, labels, "What each modality contributes, and the training-free floor", "percent", [0, 100])
    fig.update_layout(barmode="group", height=160 + 60 * len(rows))
    return fig


def overlay_figure(reports: list[CheckpointReport]) -> go.Figure:
    """HM against γ for several checkpoints on one axis, each one's γ in use marked."""
    fig = go.Figure()
    for i, r in enumerate(reports):
        colour = CHECKPOINT_COLOURS[i % len(CHECKPOINT_COLOURS)]
        c = r.gamma_curve
        fig.add_trace(go.Scatter(x=c.values, y=c.HM, mode="lines", name=r.name, line=dict(color=colour, width=2.5),
                                 legendgroup=r.name,
                                 hovertemplate=f"<b>{html.escape(r.name)}</b><br>γ %{{x:.3g}}: HM %{{y:.1f}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[c.chosen], y=[c.at(c.chosen)["HM"]], mode="markers", legendgroup=r.name,
                                 showlegend=False, marker=dict(size=11, color=colour, line=dict(width=1.5, color="#222")),
                                 hovertemplate=f"{html.escape(r.name)}: γ in use %{{x:.3g}}, HM %{{y:.1f}}<extra></extra>"))
    fig.update_xaxes(title="calibration γ (● the γ each checkpoint uses)")
    fig.update_yaxes(title="HM (%)", range=[0, 100])
    fig.update_layout(**LAYOUT, height=420, title=dict(text="HM as a function of γ, checkpoints overlaid"))
    return fig


def disagreement_figure(reports: list[CheckpointReport], rows: list[Disagreement]) -> go.Figure:
    """The classes on which the checkpoints' accuracies differ most (MAX_DISAGREEMENTS), one bar per checkpoint."""
    rows = rows[:MAX_DISAGREEMENTS]
    names = [r.name + ("" if r.seen else " ◆") for r in rows]
    fig = go.Figure()
    for i, report in enumerate(reports):
        fig.add_trace(go.Bar(y=names, x=[r.accuracies[i] for r in rows], orientation="h", name=report.name,
                             marker_color=CHECKPOINT_COLOURS[i % len(CHECKPOINT_COLOURS)],
                             hovertemplate=f"<b>%{{y}}</b><br>{html.escape(report.name)}: %{{x:.1f}} %<extra></extra>"))
    _bars_layout(fig, names, f"The {len(rows)} classes on which the checkpoints disagree most (◆ unseen)",
                 "accuracy (%)", [0, 100])
    fig.update_layout(barmode="group", height=140 + 16 * len(rows) * max(2, len(reports)))
    return fig


def report_figures(report: CheckpointReport) -> dict[str, go.Figure]:
    """Every figure of one checkpoint, by a file-name-safe key, in the page's order."""
    figures = {"class-accuracy": class_accuracy_figure(report), "unseen-outcome": unseen_outcome_figure(report),
               "confusion": confusion_figure(report), "gamma": curve_figure(report.gamma_curve)}
    if report.alpha_curve is not None:
        figures["alpha"] = curve_figure(report.alpha_curve, f"S, U and HM as a function of α (at γ = {report.gamma:.3g})")
    figures["modalities"] = scoring_figure(report)
    return figures


# --- helpers ---------------------------------------------------------------------------------------------------


def _bars_layout(fig: go.Figure, names: list[str], title: str, axis: str, x_range) -> None:
    fig.update_yaxes(categoryorder="array", categoryarray=names, autorange="reversed", title=None, automargin=True)
    fig.update_xaxes(title=axis, range=x_range, tickvals=[0, 20, 40, 60, 80, 100])
    fig.update_layout(**LAYOUT, height=160 + 22 * len(names), title=dict(text=title), bargap=0.25)


def _vline(fig: go.Figure, x: float, text: str, position: str, colour: str = "#555", dash: str = "dot",
           text_colour: str = "#333") -> None:
    """A vertical line at `x` labelled `text` (an S or U mean, a γ or α in use)."""
    fig.add_vline(x=x, line=dict(color=colour, width=1.5, dash=dash), annotation_text=text,
                  annotation_position=position, annotation_font=dict(size=11, color=text_colour))


def taken_for_text(c, n: int) -> str:
    """The first `n` classes a class's videos are taken for, with their counts: "Archery (3), Bowling (1)"."""
    return ", ".join(f"{name} ({k})" for name, k in c.taken_for[:n]) or "—"


def _short(name: str, width: int = 24) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def message_figure(message: str, height: int = 300) -> go.Figure:
    """An empty figure that says why there is nothing to show."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=15), xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=10, r=10, t=10, b=10))
    return fig
