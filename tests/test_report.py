"""The evaluation report (avzsl/report/, `python -m avzsl.evaluate --report`) on a SYNTHETIC benchmark.

One test-unseen class is made unlearnable on purpose: its class text is replaced by a random vector, so no
model can match its videos to its name. Two short runs (ClipClap with the open-vocabulary blend, CoGe)
give the checkpoints; the report's numbers are checked against the metrics evaluation reports.
"""

import contextlib
import io
import json
import re

import numpy as np
import pytest

from avzsl import evaluate as evaluate_cli
from avzsl import train as train_cli
from avzsl.models.checkpoint import read_config, read_metrics
from avzsl.data.store import write_store
from avzsl.data.synthetic import SyntheticSpec, make_synthetic
from avzsl.report.results import CheckpointReport, load_report

UNLEARNABLE = "CuttingInKitchen"  # a test-unseen class of UCF that the model otherwise recognises well
QUICK = ["--epochs", "2", "--batches-per-epoch", "25", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data = make_synthetic(SyntheticSpec(kind="linear", scale=0.15, seed=7))
    c = data.split.class_names.index(UNLEARNABLE)
    assert c in data.split.lists["stage_2_test_unseen"]
    rng = np.random.default_rng(0)
    start = 0
    for _, dim in data.text.parts:  # a random unit vector in each text part: its name says nothing
        noise = rng.standard_normal(dim)
        data.text.embeddings[c, start : start + dim] = noise / np.linalg.norm(noise)
        start += dim
    path = tmp_path_factory.mktemp("report-data") / "store"
    write_store(path, data)
    return path


@pytest.fixture(scope="module")
def runs(store, tmp_path_factory):
    root = tmp_path_factory.mktemp("report-runs")
    for model, extra in (("clipclap", ["--blend"]), ("coge", ["--batch-size", "64"])):
        assert train_cli.main(["--model", model, "--data", str(store), "--out", str(root / model), *QUICK, *extra]) == 0
    return root


@pytest.fixture(scope="module")
def report(runs, store, tmp_path_factory):
    """The report of the ClipClap run through the CLI (--json), as a CheckpointReport."""
    return _report_json(["--checkpoint", str(runs / "clipclap"), "--data", str(store)], tmp_path_factory.mktemp("out"))


def _report_json(argv, out):
    """What `--report OUT --json` prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert evaluate_cli.main([*argv, "--report", str(out), "--no-png", "--json", "--device", "cpu"]) == 0
    printed = json.loads(buffer.getvalue())
    assert printed == json.loads((out / "report.json").read_text())  # the same numbers as the page's
    return printed


def test_per_class_accuracies_average_to_the_reported_S_and_U(report, runs):
    r = CheckpointReport.from_dict(report["checkpoints"][0])
    test = read_metrics(runs / "clipclap")["test"]  # what evaluation reported when the run finished
    for key in ("S", "U", "HM", "ZSL"):
        assert r.metrics[key] == pytest.approx(test[key], abs=1e-9)
    assert len(r.seen) == 42 and len(r.unseen) == 6
    assert np.mean([c.accuracy for c in r.seen]) == pytest.approx(test["S"], abs=1e-9)
    assert np.mean([c.accuracy for c in r.unseen]) == pytest.approx(test["U"], abs=1e-9)
    for c in r.classes:  # every video is recognised, or taken for a seen or an unseen class
        recognised = round(c.accuracy * c.videos / 100)
        assert recognised + c.to_seen + c.to_unseen == c.videos
        assert sum(n for _, n in c.taken_for) <= c.to_seen + c.to_unseen
        assert c.name not in c.neighbours and len(c.neighbours) == 5
    # A class's mistakes split into seen and unseen classes: recounted where every mistake is listed.
    is_seen = {c.name: c.seen for c in r.classes}
    recounted = [c for c in r.classes if sum(n for _, n in c.taken_for) == c.to_seen + c.to_unseen]
    for c in recounted:
        assert c.to_seen == sum(n for name, n in c.taken_for if is_seen[name]), c
    assert any(c.to_seen != c.to_unseen for c in recounted)  # a swap of the two would show
    # The report training stored in the checkpoint (for the app) holds the same numbers.
    stored = load_report(runs / "clipclap")
    assert [(c.name, c.accuracy, c.taken_for) for c in stored.classes] == [(c.name, c.accuracy, c.taken_for) for c in r.classes]


def test_gamma_curve_at_the_chosen_gamma_equals_the_reported_hm(report, runs, store, tmp_path):
    r = CheckpointReport.from_dict(report["checkpoints"][0])
    calibration = read_config(runs / "clipclap").calibration
    curve = r.gamma_curve
    assert curve.chosen == r.gamma == calibration.gamma and curve.validated == calibration.gamma
    assert curve.at(curve.chosen)["HM"] == pytest.approx(r.metrics["HM"], abs=1e-9)
    assert len(curve.values) > 100 and min(curve.HM) < max(curve.HM)  # a curve, not a point
    # Another γ: the curve passes through what evaluate reports with --gamma, and marks both values.
    other = curve.values[len(curve.values) // 3]
    moved = _report_json(["--checkpoint", str(runs / "clipclap"), "--data", str(store), "--gamma", str(other)], tmp_path)
    moved_report = CheckpointReport.from_dict(moved["checkpoints"][0])
    assert moved_report.gamma_curve.chosen == other and moved_report.gamma_curve.validated == calibration.gamma
    assert curve.at(other)["HM"] == pytest.approx(moved_report.metrics["HM"], abs=1e-9)
    # The blend: trained with --blend, the report has the α curve, through the reported HM at the α in use.
    assert r.alpha_curve is not None and r.alpha_curve.chosen == calibration.alpha
    assert r.alpha_curve.at(r.alpha)["HM"] == pytest.approx(r.metrics["HM"], abs=1e-9)


def test_a_class_made_unlearnable_shows_at_the_bottom(report):
    r = CheckpointReport.from_dict(report["checkpoints"][0])
    accuracy = [c.accuracy for c in r.classes]
    assert accuracy == sorted(accuracy)  # lowest first
    bottom = r.classes[:3]
    assert UNLEARNABLE in [c.name for c in bottom], [(c.name, c.accuracy) for c in bottom]
    worst = next(c for c in r.classes if c.name == UNLEARNABLE)
    assert worst.accuracy < 10 and worst.taken_for  # and the report says what its videos are taken for
    assert worst.to_seen + worst.to_unseen > 0.9 * worst.videos


def test_modalities_and_the_training_free_floor(report, runs, store, tmp_path):
    keys = [s["key"] for s in report["checkpoints"][0]["scorings"]]
    assert keys == ["model", "free", "free-visual", "free-audio"]  # ClipClap decides on both modalities together
    coge = _report_json(["--checkpoint", str(runs / "coge"), "--data", str(store)], tmp_path)["checkpoints"][0]
    scorings = {s["key"]: s for s in coge["scorings"]}
    assert list(scorings) == ["model", "model-audio", "model-visual", "free", "free-visual", "free-audio"]
    assert coge["alpha_curve"] is None  # trained without the blend
    # The model row is evaluate's own numbers; a branch is scored by itself (its numbers differ from the mix).
    assert scorings["model"]["HM"] == pytest.approx(read_metrics(runs / "coge")["test"]["HM"], abs=1e-9)
    assert (scorings["model-audio"]["S"], scorings["model-audio"]["U"]) != (scorings["model"]["S"], scorings["model"]["U"])
    # The training-free floor is the same for both checkpoints: it depends on the data alone.
    clipclap_free = {s["key"]: s for s in report["checkpoints"][0]["scorings"]}["free"]
    assert scorings["free"] == clipclap_free


def test_two_checkpoints_give_one_comparison_table(runs, store, tmp_path, capsys):
    out = tmp_path / "compare"
    argv = ["--checkpoint", str(runs / "clipclap"), "--checkpoint", str(runs / "coge"), "--data", str(store),
            "--report", str(out), "--no-png", "--device", "cpu"]
    assert evaluate_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "clipclap:" in printed and "coge:" in printed and f"report: {out / 'report.html'}" in printed
    numbers = json.loads((out / "report.json").read_text())
    page = (out / "report.html").read_text()
    assert page.count("<table id='summary-table'>") == 1
    summary = page.split("<table id='summary-table'>")[1].split("</table>")[0]
    assert summary.count("<tr>") == 3  # the header and one row per checkpoint
    for r in numbers["checkpoints"]:
        assert f"{r['metrics']['HM']:.2f}" in summary
    rows = numbers["disagreements"]
    assert len(rows) == 48 and [d["spread"] for d in rows] == sorted((d["spread"] for d in rows), reverse=True)
    a, b = ({c["name"]: c["accuracy"] for c in r["classes"]} for r in numbers["checkpoints"])
    assert rows[0]["accuracies"] == [a[rows[0]["name"]], b[rows[0]["name"]]]
    assert rows[0]["spread"] == pytest.approx(max(abs(a[n] - b[n]) for n in a))
    assert "figure-compare-overlay" in page and "figure-compare-disagreement" in page


def test_bad_report_input_is_one_clear_line(runs, store, tmp_path, caplog):
    assert evaluate_cli.main(["--checkpoint", str(runs / "clipclap"), "--checkpoint", str(tmp_path / "nothing"),
                              "--data", str(store), "--report", str(tmp_path / "out"), "--device", "cpu"]) == 2
    assert f"checkpoint folder {tmp_path / 'nothing'} does not exist" in caplog.text
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_without_a_browser_the_pngs_give_the_reason_and_leave_no_folder(tmp_path, monkeypatch, caplog):
    """kaleido's error for a missing Chrome starts with blank lines: the warning still says what is missing."""
    import plotly.graph_objects as go

    from avzsl.report.page import write_pngs

    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium-here"))  # where kaleido looks first
    assert write_pngs({"bars": go.Figure(go.Bar(y=[1, 2]))}, tmp_path / "figures") == []
    warning = next(r.getMessage() for r in caplog.records if "no PNGs written" in r.getMessage())
    assert re.search(r"no PNGs written \(\w+: \w[^)]+\)", warning), warning
    assert not (tmp_path / "figures").exists()


@pytest.mark.slow
@pytest.mark.browser
def test_report_page_loads_offline_with_its_figures_in_a_browser(runs, store, tmp_path):
    """The page in headless Chromium: every figure drawn, no request leaves the file (plotly.js is inlined),
    the search box finds a class; and a PNG of every figure was written beside it."""
    from playwright.sync_api import expect, sync_playwright

    from avzsl.report.page import all_figures
    from tests.helpers import CHROMIUM, CHROMIUM_ARGS

    out = tmp_path / "page"
    assert evaluate_cli.main(["--checkpoint", str(runs / "clipclap"), "--checkpoint", str(runs / "coge"), "--data",
                              str(store), "--report", str(out), "--device", "cpu"]) == 0
    numbers = json.loads((out / "report.json").read_text())
    keys = list(all_figures([CheckpointReport.from_dict(r) for r in numbers["checkpoints"]]))
    assert "1-alpha" in keys and "2-alpha" not in keys  # the blend's curve for the checkpoint that has one
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(keys)
    assert all((out / "figures" / f"{k}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for k in keys)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests, crashes = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: crashes.append(str(e)))
        page.goto((out / "report.html").as_uri())
        drawn = "() => document.querySelectorAll('.figure .js-plotly-plot .main-svg').length"
        page.wait_for_function(f"{drawn} >= {2 * len(keys)}", timeout=60_000)  # plotly draws two SVG layers
        assert page.locator(".figure .js-plotly-plot").count() == len(keys)
        for key in keys:
            expect(page.locator(f"#figure-{key}")).to_be_visible()
        # The accuracy figure's bars carry the class names (plotly's SVG text).
        assert page.evaluate(f"() => [...document.querySelectorAll('#figure-1-class-accuracy svg text')]"
                             f".some(e => e.textContent === {UNLEARNABLE!r})")
        rows = page.locator("#class-table tbody tr")
        assert rows.count() == 48
        page.locator("#class-search").fill(UNLEARNABLE.lower())
        expect(page.locator("#class-count")).to_have_text("1")
        visible = page.locator("#class-table tbody tr:visible")
        expect(visible).to_have_count(1)
        expect(visible).to_contain_text(UNLEARNABLE)
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert not crashes, crashes
    assert all(url.startswith(("file:", "data:", "blob:")) for url in requests), requests
    print(f"\nscreenshot: {tmp_path / 'report.png'}")


def test_explore_tab_draws_the_stored_report_without_the_data_set(app_checkpoints, tmp_path):
    """The app's report panel: every figure of the report training stored, for a checkpoint of the app's folder."""
    import shutil

    from app.handlers import FIGURE_CHOICES, report_figure
    from tests.helpers import MATCHING, random_service

    checkpoints = app_checkpoints
    service = random_service(checkpoints)
    stored = load_report(checkpoints / MATCHING)
    assert stored is not None and stored.metrics == read_metrics(checkpoints / MATCHING)["test"]
    for _, key in FIGURE_CHOICES:
        figure, status = report_figure(service, MATCHING, key)
        if key == "alpha":  # trained without --blend
            assert "no open-vocabulary blend" in figure.layout.annotations[0].text
            continue
        assert len(figure.data) >= 1, key
        assert f"HM {stored.metrics['HM']:.1f}" in status and "SYNTHETIC" in status
    figure, _ = report_figure(service, MATCHING, "class-accuracy")
    assert stored.classes[0].name in [name for trace in figure.data for name in trace.y]

    # A checkpoint trained before reports were stored says how to make one; a name outside the folder is refused.
    older = tmp_path / "checkpoints"
    shutil.copytree(checkpoints / MATCHING, older / "older")
    (older / "older" / "report.json").unlink()
    _, status = report_figure(random_service(older), "older", "gamma")
    assert "python -m avzsl.evaluate --checkpoint checkpoints/older" in status
    _, status = report_figure(service, "../older", "gamma")
    assert "no checkpoint named" in status
