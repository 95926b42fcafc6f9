"""The Explore tab's evaluation report: the chosen checkpoint's report figures (avzsl/report/), drawn from the
report.json that training stored next to metrics.json, so no data set is needed.

    figure, status = report_figure(service, "clipclap-ucf", "confusion")
"""

from __future__ import annotations

import gradio as gr

from app.figures import empty_figure
from app.text import code_span, escape_markdown, without_paths
from avzsl.io import AvzslError
from avzsl.report.figures import report_figures

FIGURE_CHOICES = [("Per-class accuracy", "class-accuracy"), ("Where unseen videos go", "unseen-outcome"),
                  ("What unseen classes are taken for", "confusion"), ("S, U, HM against γ", "gamma"),
                  ("S, U, HM against the blend α", "alpha"), ("Modalities and the training-free floor", "modalities")]


def report_figure(service, name: str | None, which: str | None):
    """(plotly figure, markdown status) of one report figure of checkpoint `name`."""
    if not name:
        return empty_figure("No checkpoint chosen."), ""
    try:
        report = service.report(name)
    except AvzslError as e:
        return empty_figure("This checkpoint's report cannot be read."), f"*{escape_markdown(without_paths(e))}*"
    if report is None:
        return (empty_figure("This checkpoint stores no evaluation report."),
                f"*{escape_markdown(name)} was trained before avzsl stored reports. Make one with "
                f"{code_span(f'python -m avzsl.evaluate --checkpoint checkpoints/{name} --data PATH --report OUT')} "
                "(it needs the data set).*")
    figures = report_figures(report)
    which = which or "class-accuracy"
    if which not in figures:
        return empty_figure("This checkpoint carries no open-vocabulary blend (trained without --blend)."), ""
    m = report.metrics
    status = (f"Test split of {escape_markdown(report.dataset)}, scored as in evaluation (γ {report.gamma:.4g}"
              + (f", α {report.alpha:.2g}" if report.alpha else "") + f"): S {m['S']:.1f} · U {m['U']:.1f} · "
              f"HM {m['HM']:.1f}; {len(report.seen)} seen and {len(report.unseen)} unseen classes. The whole report "
              f"(every class, searchable; several checkpoints compared): "
              f"{code_span(f'python -m avzsl.evaluate --checkpoint checkpoints/{name} --data PATH --report OUT')}." + (" SYNTHETIC data: the numbers say nothing about "
                                                                   "real videos." if report.synthetic else ""))
    return figures[which], status


def build_report_panel(service, checkpoint: gr.Dropdown, tab: gr.Tab) -> None:
    """The panel under the maps: a figure chooser, a status line and the figure; follows the tab's checkpoint."""
    with gr.Accordion("Where this checkpoint fails: its evaluation report on the test split", open=True):
        which = gr.Radio(FIGURE_CHOICES, value="class-accuracy", label="Figure", elem_id="report-figure")
        status = gr.Markdown(elem_classes=["small-note"], elem_id="report-status")
        plot = gr.Plot(show_label=False, elem_id="report-plot")

    def draw(name, figure):
        return report_figure(service, name, figure)

    for event in (tab.select, checkpoint.change, which.change):
        event(draw, inputs=[checkpoint, which], outputs=[plot, status], api_visibility="private", queue=False)
