"""Plotly figures for the Explore tab. Plain data in, `go.Figure` out: no Gradio, no models.

One legend entry per class (clicking it hides that class's videos and its text marker in every panel);
marker shapes tell what a point is:

    circle        a video of a seen class (one the model was trained on)
    diamond       a video of an unseen class (never seen in training: the zero-shot case)
    square        a class's text embedding (its name, embedded), in the class's colour
    star          a video you classified in this session
    cross         a label you typed
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from plotly import colors
from plotly.subplots import make_subplots

from app.text import escape_html
from avzsl.serving.result import clock
from avzsl.report.figures import message_figure as empty_figure  # noqa: F401 - the app's name for it

PALETTE = colors.qualitative.Dark24 + colors.qualitative.Light24 + colors.qualitative.Alphabet
SYMBOL = {"seen": "circle", "unseen": "diamond", "class": "square", "video": "star", "label": "cross"}
USER_COLOUR = "#111111"
USER_FILL = "#FFD400"
TEXT_SIDES = ("top center", "bottom center", "middle right", "middle left", "top right", "bottom left")


@dataclass
class UserPoint:
    xy: tuple[float, float]
    name: str  # shown next to the marker
    hover: str  # shown on hover (HTML allowed)


@dataclass
class MapPanel:
    """One map: atlas videos, class text markers and the user's points, all already in 2-D."""

    title: str
    video_xy: np.ndarray  # (M, 2)
    labels: np.ndarray  # (M,) global class ids
    video_ids: list[str]
    class_ids: np.ndarray  # (K,)
    class_xy: np.ndarray | None  # (K, 2) class text markers, None when the space has no text
    user_videos: list[UserPoint] = field(default_factory=list)
    user_labels: list[UserPoint] = field(default_factory=list)


def map_figure(panels: list[MapPanel], *, class_names: list[str], seen_classes) -> go.Figure:
    """Side-by-side scatter plots of the panels, sharing one legend (one entry per class)."""
    seen = set(int(c) for c in seen_classes)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p.title for p in panels],
                        horizontal_spacing=0.03 if len(panels) > 1 else 0.0)
    classes = sorted({int(c) for p in panels for c in np.unique(p.labels)}, key=lambda c: (c not in seen, class_names[c]))
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}

    for col, panel in enumerate(panels, start=1):
        first = col == 1
        for c in classes:
            rows = np.flatnonzero(panel.labels == c)
            kind = "seen" if c in seen else "unseen"
            name = f"{escape_html(class_names[c])}{'' if c in seen else ' (unseen)'}"  # plotly renders tags
            group = f"class-{c}"
            if len(rows):
                fig.add_trace(go.Scatter(
                    x=panel.video_xy[rows, 0], y=panel.video_xy[rows, 1], mode="markers", name=name,
                    legendgroup=group, showlegend=first,
                    marker=dict(symbol=SYMBOL[kind], size=7, color=colour[c], opacity=0.75, line=dict(width=0)),
                    customdata=[panel.video_ids[i] for i in rows],
                    hovertemplate=f"<b>{escape_html(class_names[c])}</b> ({kind} class)<br>video: %{{customdata}}<extra></extra>",
                ), row=1, col=col)
            if panel.class_xy is not None:
                k = np.flatnonzero(panel.class_ids == c)
                if len(k):
                    fig.add_trace(go.Scatter(
                        x=panel.class_xy[k, 0], y=panel.class_xy[k, 1], mode="markers", name=name,
                        legendgroup=group, showlegend=False,
                        marker=dict(symbol=SYMBOL["class"], size=13, color=colour[c], line=dict(width=1.5, color="#222")),
                        hovertemplate=f"<b>text of “{escape_html(class_names[c])}”</b><br>the class name, embedded<extra></extra>",
                    ), row=1, col=col)
        if panel.user_labels:
            fig.add_trace(_user_trace(panel.user_labels, "label", "your labels", first), row=1, col=col)
        if panel.user_videos:
            fig.add_trace(_user_trace(panel.user_videos, "video", "your videos", first), row=1, col=col)
    _key(fig, any(p.class_xy is not None for p in panels))

    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, title=None)
    fig.update_layout(
        height=620 if len(panels) == 1 else 560, template="plotly_white",
        margin=dict(l=10, r=10, t=40, b=10), hovermode="closest",
        legend=dict(title=dict(text="Classes (click to hide)"), itemsizing="constant", font=dict(size=11),
                    groupclick="togglegroup", tracegroupgap=0),
    )
    return fig


def _user_trace(points: list[UserPoint], kind: str, name: str, showlegend: bool) -> go.Scatter:
    xy = np.asarray([p.xy for p in points], dtype=float)
    is_video = kind == "video"
    return go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name, legendgroup=f"user-{kind}", legendrank=1,
        showlegend=showlegend, text=[escape_html(p.name) for p in points],
        # alternate the side of the name, so that labels landing close together stay readable
        textposition=["top center" if is_video else TEXT_SIDES[i % len(TEXT_SIDES)] for i in range(len(points))],
        textfont=dict(size=12 if is_video else 11, color=USER_COLOUR),
        marker=dict(symbol=SYMBOL[kind], size=20 if is_video else 12,
                    color=USER_FILL if is_video else USER_COLOUR, line=dict(width=1.5, color=USER_COLOUR)),
        customdata=[p.hover for p in points], hovertemplate="%{customdata}<extra></extra>",
    )


def _key(fig: go.Figure, with_text: bool) -> None:
    """Grey legend entries explaining the marker shapes (no data)."""
    items = [("● video of a seen class", SYMBOL["seen"]), ("◆ video of an unseen class", SYMBOL["unseen"])]
    if with_text:
        items.append(("■ class name (text embedding)", SYMBOL["class"]))
    for text, symbol in items:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=text, legendgroup="key", legendrank=2,
                                 marker=dict(symbol=symbol, size=9, color="#9a9a9a"), hoverinfo="skip"))


MAX_TIMELINE_LABELS = 12


def timeline_figure(segments, labels_in_order: list[str]) -> go.Figure:
    """Labels × time: each segment's confidence in each label (a heat map; hover for the numbers).

    segments: prediction.segments (start_s, end_s, ranking); labels_in_order: rows top to bottom, e.g. the
    overall ranking, at most MAX_TIMELINE_LABELS of them.
    """
    labels = labels_in_order[:MAX_TIMELINE_LABELS]
    confidence = np.array([[{s.label: s.confidence for s in seg.ranking}[label] for seg in segments] for label in labels])
    labels = [escape_html(label) for label in labels]  # the rows' names: plotly renders tags in them
    centres = [(seg.start_s + seg.end_s) / 2 for seg in segments]
    widths = [seg.end_s - seg.start_s for seg in segments]
    spans = [[f"{clock(seg.start_s)}–{clock(seg.end_s)}" for seg in segments] for _ in labels]
    fig = go.Figure(go.Heatmap(
        z=100 * confidence, x=centres, y=labels, customdata=spans, colorscale="YlGnBu", zmin=0,
        colorbar=dict(title=dict(text="confidence %"), thickness=12),
        hovertemplate="<b>%{y}</b><br>%{customdata}<br>confidence %{z:.1f} %<extra></extra>",
        xgap=2, ygap=2,
    ))
    best = confidence.argmax(axis=0)  # the winning label of each segment, marked
    fig.add_trace(go.Scatter(x=centres, y=[labels[i] for i in best], mode="markers", name="best label",
                             marker=dict(symbol="circle-open", size=14, color="#d62728", line=dict(width=2)),
                             hoverinfo="skip", showlegend=False))
    fig.update_xaxes(title="time (s)", range=[min(s.start_s for s in segments), max(s.end_s for s in segments)],
                     tickvals=[seg.start_s for seg in segments] + [segments[-1].end_s],
                     ticktext=[clock(seg.start_s) for seg in segments] + [clock(segments[-1].end_s)])
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_layout(height=120 + 30 * len(labels), template="plotly_white", margin=dict(l=10, r=10, t=30, b=40),
                      title=dict(text=f"What happens when: {len(segments)} moments, "
                                      f"each {widths[0]:.0f} s of the video", font=dict(size=13)))
    return fig
