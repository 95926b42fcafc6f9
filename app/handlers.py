"""What the page's events do, over a `PredictionService`: each handler returns the page's new values.

    >>> from avzsl.serving.service import create_service
    >>> handlers = PageHandlers(create_service("random"))
    >>> handlers.classify_api("examples/bird.mp4", "dog, cat")["model"]   # the /classify API's JSON
    'training-free'
    >>> shown = handlers.classify_page(   # the page: a sound file or picture, the video, the form, the session
    ...     None, "examples/bird.mp4", "dog, cat", "training-free", "both", "", 1, "", None)
    >>> sorted(shown["table"]["Label"])       # keyed by result component (app/ui.py wires names to components)
    ['cat', 'dog']
    >>> shown["session"].history[-1].name
    'bird.mp4'

Both classify handlers share `predict`, so the API and the page can never disagree. The page handler shows
a failure in the result panel (and as a pop-up) instead of raising, so no stale result stays on screen.
"""

from __future__ import annotations

import contextlib
import logging

import gradio as gr
import numpy as np
import pandas as pd

from app.examples import ExampleCache, example_thumbnails, read_examples
from app.maps import MapMaker
from app.state import Session
from app.figures import empty_figure, timeline_figure
from app.text import TABLE_COLUMNS, TRAIN_HINT, code_span, escape_html, escape_markdown, without_paths
from avzsl.io import AvzslError
from avzsl.report.figures import report_figures
from avzsl.serving.service import TRAINING_FREE, EncodersUnavailable, LabelError, parse_labels
from avzsl.serving.result import clock
from avzsl.serving.turns import Busy, PerClient
from avzsl.maps.projection import SPACES

log = logging.getLogger(__name__)

JOBS_PER_CLIENT = 2  # classifications of one visitor (one page or API session) in the service at once; more are refused
TIMING_NAMES = {"decode": "decoding", "clip_image": "picture (CLIP)", "clap_audio": "sound (CLAP)",
                "labels": "label texts", "model": "model"}


# --- presentation of service answers (plain functions: easy to test) ---------------------------------------


def model_choices(service) -> list[tuple[str, str]]:
    """(shown text, model id) for every model the service offers; checkpoints say what they are."""
    choices = []
    for info in service.models():
        what = (f"{info.architecture} on {info.dataset or '?'}" + (", SYNTHETIC data" if info.synthetic else "")
                + ("" if info.usable else " — ⚠ trained on other encoders"))
        if not info.readable:
            what = "⚠ unavailable: its files cannot be read"
        choices.append((info.display_name if info.id == TRAINING_FREE else f"{info.display_name} ({what})", info.id))
    return choices


def describe_model(service, model_id: str | None) -> str:
    if not model_id or model_id == TRAINING_FREE:
        return ("No training: the labels are compared with the picture by CLIP and with the sound by CLAP, and "
                "the two similarities are averaged.")
    try:
        info = service.model_info(model_id)
    except AvzslError as e:
        return f"⚠ This checkpoint cannot be read: {escape_markdown(without_paths(e))}"
    if not info.readable:
        return f"⚠ **This checkpoint cannot be used:** {escape_markdown(without_paths(info.problem))}"
    # Everything below but the numbers comes from the checkpoint's files: escaped, shown as text.
    hm = info.metrics.get("test", {}).get("HM")
    parts = [f"**{escape_markdown(info.architecture)}** trained on {escape_markdown(info.dataset or 'unknown data')}",
             "**SYNTHETIC features** — its rankings are not meaningful" if info.synthetic else "",
             f"{len(info.train_classes)} training classes (labels naming one are *seen*)",
             "" if hm is None else f"test HM {hm:.1f}",
             "" if info.gamma is None else f"calibration γ {info.gamma:.3g}",
             f"open-vocabulary blend α {info.alpha:.2g}" if info.alpha else ""]
    text = " · ".join(filter(None, parts)) + f".\n\nEncoders: {escape_markdown(info.encoders)}."
    if not info.usable:
        text += f"\n\n⚠ **Cannot be used with the encoders in use:** {escape_markdown(without_paths(info.problem))}"
    return text


def ranking_table(prediction) -> pd.DataFrame:
    seen = {None: "— (no training)", True: "seen", False: "unseen"}
    return pd.DataFrame([[s.rank, s.label, f"{100 * s.confidence:.1f} %", round(s.distance, 4), seen[s.seen]]
                         for s in prediction.ranking], columns=TABLE_COLUMNS)


def confidences(scores) -> dict[str, float]:
    return {s.label: float(s.confidence) for s in scores}


def timings_text(timings: dict[str, float]) -> str:
    parts = [f"{TIMING_NAMES[k]} {_ms(v)}" for k, v in timings.items() if k in TIMING_NAMES]
    total = [f"**total {_ms(timings['total'])}**"] if "total" in timings else []
    return "Time taken: " + " · ".join(parts + total)


def _ms(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms" if ms >= 1 else f"{ms:.2f} ms"


def present(prediction) -> dict:
    """Prediction -> the new value of each result component, by its name in the ClassifyTab (app/ui.py)."""
    audio = None
    if prediction.audio is not None:  # 16-bit PCM, as Gradio would convert it (with a warning) anyway
        audio = (prediction.sample_rate, (np.clip(prediction.audio, -1.0, 1.0) * 32767).astype(np.int16))
    modal = prediction.modalities
    several = len(prediction.segments) > 1
    return dict(
        raw=prediction.to_json(),
        top=confidences(prediction.ranking),
        table=ranking_table(prediction),
        warnings="\n\n".join(f"⚠ {escape_markdown(w)}" for w in prediction.warnings),
        frame=prediction.frame,
        audio=audio,
        audio_note=audio_note(prediction),
        by_picture=confidences(modal.get("visual", [])),
        by_sound=confidences(modal["audio"]) if "audio" in modal else None,
        timings=timings_text(prediction.timings_ms),
        timeline_group=gr.update(visible=several),
        timeline=timeline_figure(prediction.segments, [s.label for s in prediction.ranking]) if several else None,
        moment_frames=[(f, clock(seg.start_s)) for f, seg in zip(prediction.segment_frames, prediction.segments)
                       if f is not None] if several else [],
    )


def audio_note(prediction) -> str:
    if not prediction.has_audio:
        what = "picture" if prediction.kind == "image" else "video"
        return f"**This {what} has no sound track**: it was classified from the picture alone."
    if prediction.kind == "audio":
        return "**A sound file**: the 10 s of sound the model heard, and no picture."
    if len(prediction.segments) > 1:
        return "The 10 s of sound of the moment that fits the best label most."
    return "The 10 s of sound the model heard (centred on the middle of the video)."


def failure(message: str) -> dict:
    """The result components after a failed request: the message, and no stale result anywhere."""
    return dict(raw=None, top=None, table=pd.DataFrame(columns=TABLE_COLUMNS), frame=None, audio=None,
                audio_note="", by_picture=None, by_sound=None, timings="", timeline_group=gr.update(visible=False),
                timeline=None, moment_frames=[], warnings=f"**Not classified:** {escape_markdown(message)}")


def explore_note(atlas_names: list[str]) -> str:
    if atlas_names:
        return "The maps of the first checkpoint are prepared at start-up; others take a few seconds the first time."
    return ("No checkpoint with an embedding atlas yet: the maps need a trained model, which saves one at the end "
            f"of training. To train one: {TRAIN_HINT}.")


FIGURE_CHOICES = [("Per-class accuracy", "class-accuracy"), ("Where unseen videos go", "unseen-outcome"),
                  ("What unseen classes are taken for", "confusion"), ("S, U, HM against γ", "gamma"),
                  ("S, U, HM against the blend α", "alpha"), ("Modalities and the training-free floor", "modalities")]


def report_figure(service, name: str | None, which: str | None):
    """(plotly figure, markdown status) of one figure of the report that training stored with checkpoint `name`
    (avzsl/report/), next to its metrics.json: no data set is needed."""
    if not name:
        return empty_figure("No checkpoint chosen."), ""
    try:
        report = service.report(name)
    except AvzslError as e:
        return empty_figure("This checkpoint's report cannot be read."), f"*{escape_markdown(without_paths(e))}*"
    make_one = code_span(f"python -m avzsl.evaluate --checkpoint checkpoints/{name} --data PATH --report OUT")
    if report is None:
        return (empty_figure("This checkpoint stores no evaluation report."),
                f"*{escape_markdown(name)} was trained before avzsl stored reports. Make one with {make_one} "
                "(it needs the data set).*")
    figures = report_figures(report)
    which = which or "class-accuracy"
    if which not in figures:
        return empty_figure("This checkpoint carries no open-vocabulary blend (trained without --blend)."), ""
    m = report.metrics
    status = (f"Test split of {escape_markdown(report.dataset)}, scored as in evaluation (γ {report.gamma:.4g}"
              + (f", α {report.alpha:.2g}" if report.alpha else "") + f"): S {m['S']:.1f} · U {m['U']:.1f} · "
              f"HM {m['HM']:.1f}; {len(report.seen)} seen and {len(report.unseen)} unseen classes. The whole report "
              f"(every class, searchable; several checkpoints compared): {make_one}."
              + (" SYNTHETIC data: the numbers say nothing about real videos." if report.synthetic else ""))
    return figures[which], status


# --- the handlers ------------------------------------------------------------------------------------------


class PageHandlers:
    """The page's events over a service and a map maker. No layout here: see app/ui.py."""

    def __init__(self, service, maps: MapMaker | None = None):
        self.service = service
        self.admission = PerClient(JOBS_PER_CLIENT)
        self.maps = maps or MapMaker(service)
        self.example_results = ExampleCache()
        self.thumbnails = example_thumbnails(read_examples())  # (example, middle frame, caption) that decode

    # --- classification -------------------------------------------------------------------------------

    def predict(self, video, labels_text, model, modality, gamma, segments=1, alpha="",
                cache: ExampleCache | None = None, request: gr.Request | None = None):
        """The one prediction path of the page and the API; raises AvzslError subclasses for bad input, and
        Busy for a client that already has JOBS_PER_CLIENT of them running (request: its Gradio session)."""
        if not video:
            raise LabelError("Add a video first: drop a file on the video box, record one with the webcam, "
                             "or click one of the examples (a sound file or a picture works too).")
        if self.service.status().state in ("fetching", "loading"):
            gr.Info("The encoders are still being fetched or loaded (first start only): this classification starts "
                    "as soon as they are ready.", title="One moment")
        labels = parse_labels(labels_text or "")
        options = dict(model=model or TRAINING_FREE, modality=modality or "both", gamma=gamma, segments=segments,
                       alpha=alpha)  # the service checks them
        key = cache.key(video, labels, *options.values()) if cache is not None else None
        prediction = cache.get(key) if key else None
        if prediction is None:
            with self.admission.admit(request.session_hash if request else None):
                prediction = self.service.classify(video, labels, **options)
            if key:
                cache.put(key, prediction)
        return prediction

    def classify_api(self, video, labels_text, model=TRAINING_FREE, modality="both", gamma="", segments=1,
                     alpha="", request: gr.Request = None) -> dict:
        """/classify: the ranking as JSON (Prediction.to_json()); bad input raises gr.Error with the reason."""
        try:
            return self.predict(video, labels_text, model, modality, gamma, segments, alpha, request=request).to_json()
        except Exception as e:  # noqa: BLE001 - turned into a message; never a stack trace in the client
            title, message = self._explain(e)
            raise gr.Error(message, title=title, print_exception=False) from None

    def weights_status(self) -> str:
        """/weights_status, the page's line for `service.status()`: a fetch, the loading, or why they failed (no
        server path); "" once the encoders are ready, or in random mode."""
        status = self.service.status()
        if status.state == "fetching":
            return ("⏳ **Fetching the encoders' weights** (first start only; they are kept in the Hugging Face "
                    f"cache): {without_paths(status.detail)}. Classify waits for them.")
        if status.state == "failed":
            return (f"⚠ **The encoders could not be loaded:** {escape_markdown(without_paths(status.detail))} "
                    "Fix this and restart the app.")
        if status.state == "loading":
            return "⏳ **Loading the CLIP and CLAP encoders…** Classify waits for them."
        return ""

    def status_tick(self) -> tuple:
        """The page's status line, polled until the encoders are ready or failed: (text, timer still active?)."""
        return self.weights_status(), gr.Timer(active=self.service.status().state in ("fetching", "loading"))

    def classify_page(self, media_file, video, labels_text, model, modality, gamma, segments, alpha, session,
                      request: gr.Request = None, *, cache: ExampleCache | None = None) -> dict:
        """The Classify button: the session and the result panel's values by name; a failure fills the panel
        with why. media_file: a sound file or picture from the file box; used instead of the video when given.
        cache: for a click on an example, whose result is kept for the next click on it (keyword-only: Gradio
        fills every positional parameter)."""
        session = session if isinstance(session, Session) else Session()
        path = media_file or video
        try:
            prediction = self.predict(path, labels_text, model, modality, gamma, segments, alpha, cache, request)
        except Exception as e:  # noqa: BLE001
            title, message = self._explain(e)
            gr.Warning(escape_html(message), title=title)  # a toast renders HTML
            return {"session": session, **failure(message)}
        session.remember(prediction, path)
        return {"session": session, **present(prediction)}

    def pick_example(self, text, evt: gr.SelectData):
        """An example was clicked: load it (a video in the video box, a sound file in the file box); keep the
        user's labels, or offer the example's suggested ones; a multi-scene clip is shown on a timeline."""
        example = self.thumbnails[evt.index][0]
        try:
            parse_labels(text or "")
        except LabelError:
            text = example.labels
        video, media_file = (example.path, None) if example.kind == "video" else (None, example.path)
        moments = 8 if example.scenes > 1 else 1
        return video, media_file, text, moments

    @staticmethod
    def forget_other_input(value):
        """A new video replaces a sound file or picture given before (and the other way round)."""
        return None if value else gr.update()

    @staticmethod
    def _explain(error: Exception) -> tuple[str, str]:
        """(title, message) for the user, naming files but no server path (not the upload folder, the
        checkpoints folder or the hub cache); unexpected errors are logged with their traceback."""
        from avzsl.media import MediaError

        titles = {Busy: "One moment", LabelError: "Check your input", MediaError: "Cannot read this video",
                  EncodersUnavailable: "The encoders could not be loaded", AvzslError: "This model cannot be used"}
        for kind, title in titles.items():
            if isinstance(error, kind):
                return title, without_paths(error)
        log.error("classify failed", exc_info=error)
        return "Internal error", (f"Something went wrong while classifying ({type(error).__name__}). "
                                  "The details are in the server log.")

    # --- models and maps ------------------------------------------------------------------------------

    def on_model(self, model_id):
        """The model changed: its description, its γ and α in the options, and the Explore tab follows it."""
        gamma = alpha = None
        trained = model_id not in (None, "", TRAINING_FREE)
        if trained:
            with contextlib.suppress(AvzslError):
                info = self.service.model_info(model_id)
                gamma, alpha = info.gamma, info.alpha
        explore = gr.update(value=model_id) if model_id in self.maps.checkpoints() else gr.update()
        return (describe_model(self.service, model_id),
                gr.update(value="" if gamma is None else f"{gamma:.4g}", interactive=trained),
                gr.update(value="" if alpha is None else f"{alpha:.4g}", interactive=trained),
                explore)

    def refresh_models(self, current):
        """On page load: the checkpoints on disk now (trained since the app started, too)."""
        choices = model_choices(self.service)
        value = current if current in [v for _, v in choices] else TRAINING_FREE
        atlas_names = self.maps.checkpoints()
        return (gr.update(choices=choices, value=value), describe_model(self.service, value),
                gr.update(choices=atlas_names, value=atlas_names[0] if atlas_names else None), explore_note(atlas_names))

    def draw(self, name, space, method, show_mine, session):
        """The Explore map (a generator: while the start-up warm-up still compiles UMAP, it says so first)."""
        session = session if isinstance(session, Session) else Session()
        spaces = list(SPACES) if space == "all" else [space or "joint"]
        if self.maps.preparing:
            yield (empty_figure("Preparing the maps…"),
                   "*Preparing the maps: UMAP is being compiled at start-up (a minute at most); the map follows.*")
            self.maps.warmed.wait(timeout=600)
        try:
            result = self.maps.draw(name, spaces, method or "umap", session.history, bool(show_mine))
        except (AvzslError, FileNotFoundError, ValueError) as e:
            raise gr.Error(f"Cannot draw this map: {escape_html(e)}", title="Map", print_exception=False) from None
        except Exception as e:  # noqa: BLE001
            log.exception("map failed")
            raise gr.Error(f"Something went wrong while drawing the map ({type(e).__name__}). "
                           "The details are in the server log.", title="Internal error", print_exception=False) from None
        yield result.figure, result.status
