"""The Gradio page: layout and event wiring over a `ZeroShotService`. Presentation only.

    demo = build_demo(create_service("random"))
    launch(demo)                        # queue + launch with the app's limits and styling

Events with stable API names (see `gradio_client.Client(url).view_api()`):
    /classify   (video, labels_text, model=ZERO_SHOT, modality="both", gamma="") -> the ranking as JSON
                (gamma: a number, or "" for the checkpoint's own calibration;
                result: Prediction.to_json(): ranking, per-modality rankings, timings, warnings, ...)
"""

from __future__ import annotations

import csv
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from app.maps import MapMaker
from app.state import Session
from avzsl.media import TARGET_SAMPLE_RATE, MediaError, load_middle_frame
from avzsl.projection import METHODS, METHOD_NAMES, SPACES
from avzsl.training.checkpoint import CheckpointError
from avzsl.zeroshot import MAX_LABEL_CHARS, MAX_LABELS, ZERO_SHOT, LabelError, parse_labels

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
TITLE = "avzsl · what is happening in this video?"
MAX_FILE_SIZE = "200mb"  # uploads above this are refused by Gradio before they reach the service
CLASSIFY_CONCURRENCY = 1  # the encoders already use every core: one classification at a time, the rest queue
QUEUE_SIZE = 64
SESSION_SECONDS = 6 * 3600  # a visitor's videos and map points are forgotten this long after their last use
MODALITY_CHOICES = [("Sound + picture", "both"), ("Picture only", "visual"), ("Sound only", "audio")]
SPACE_CHOICES = [("Learned joint space", "joint"), ("Input: picture (CLIP)", "visual"),
                 ("Input: sound (CLAP)", "audio"), ("All three side by side", "all")]
TRAIN_HINT = ("`python -m avzsl.train --model clipclap --data FEATURES --out checkpoints/NAME` "
              "(features from `python -m avzsl.extract`), or `python -m avzsl.train --synthetic --out "
              "checkpoints/demo-synthetic` to try the pipeline on generated data in about a minute")

# System fonts only: the default themes fetch Google fonts, which an offline machine cannot reach.
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])
TABLE_COLUMNS = ["Rank", "Label", "Confidence", "Distance", "Seen in training?"]

CSS = """
.banner { border-radius: 8px; padding: 10px 14px !important; margin: 4px 0; }
.banner-warn { background: #fff4ce; border: 1px solid #e0b000; }
.banner-info { background: #eaf2ff; border: 1px solid #7aa7e8; }
.warnings:not(:empty) p { background: #fff4ce; border-left: 4px solid #e0b000; padding: 6px 10px; margin: 4px 0; }
.subtitle p { font-size: 1.05em; color: #444; margin-top: -6px; }
.small-note p { font-size: 0.9em; color: #555; }
"""

INTRO = ("Drop in a video and type a few labels: the app ranks your labels by how well they fit, judging "
         "from the **picture** (middle frame, CLIP) and the **sound** (10 seconds of audio, CLAP). "
         "Any words work, including labels no model was trained on — that is *zero-shot* classification.")

HOW_TO_READ = ("**How to read this:** *confidence* says how the model shares its belief among **your** labels "
               "(they always add up to 100 %, so it depends on which labels you typed); *distance* is how far the "
               "video is from each label in the model's space (smaller = closer). *Seen* labels are classes the "
               "trained model learned from; *unseen* ones are new to it.")

EXPLORE_INTRO = """
Each dot is one test video of the data set the checkpoint was trained and tested on. t-SNE or UMAP squeeze
its vectors into 2-D so that similar videos land close together: the axes mean nothing, only who is near whom.
- **Colour** = class. ● a class the model was trained on (*seen*); ◆ a class it never saw (*unseen*: the zero-shot case).
- ■ = where the class **name** lands once embedded. In the **learned joint space** a good model puts each video next
  to its own class name, unseen classes included; the **input** maps show the CLIP picture and CLAP sound features
  before the model, for comparison.
- ★ = videos you classified in this session, ✚ = labels you typed.

Hover a point for its class and video id; click a class in the legend to hide it, double-click to show only that one.
"""


# --- presentation helpers (plain functions: easy to test) ---------------------------------------------------


def model_choices(service) -> list[tuple[str, str]]:
    """(shown text, value) for every model the service offers; checkpoints say what they are."""
    choices = [(f"{ZERO_SHOT}", ZERO_SHOT)]
    for name in service.available_models()[1:]:
        try:
            info = service.model_info(name)
        except (CheckpointError, OSError, KeyError, ValueError) as e:
            log.warning("not offering checkpoint %s: %s", name, e)
            continue
        what = f"{info.get('model') or 'model'} on {info.get('dataset') or '?'}"
        if info.get("synthetic"):
            what += ", SYNTHETIC data"
        if not info.get("compatible"):
            what += " — ⚠ trained on other encoders"
        choices.append((f"{name} ({what})", name))
    return choices


def describe_model(service, name: str) -> str:
    if not name or name == ZERO_SHOT:
        return ("No training: the labels are compared with the picture by CLIP and with the sound by CLAP, and "
                "the two similarities are averaged.")
    try:
        info = service.model_info(name)
    except (CheckpointError, OSError, KeyError, ValueError) as e:
        return f"⚠ This checkpoint cannot be read: {e}"
    parts = [f"**{info.get('model') or 'model'}** trained on {info.get('dataset') or 'unknown data'}"]
    if info.get("synthetic"):
        parts.append("**SYNTHETIC features** — its rankings are not meaningful")
    train = info.get("train_classes") or []
    parts.append(f"{len(train)} training classes (labels naming one are *seen*)")
    hm = (info.get("metrics") or {}).get("test", {}).get("HM")
    if hm is not None:
        parts.append(f"test HM {hm:.1f}")
    if info.get("gamma") is not None:
        parts.append(f"calibration γ {info['gamma']:.3g}")
    text = " · ".join(parts) + "."
    if not info.get("compatible"):
        text += f"\n\n⚠ **Cannot be used with the encoders in use:** {info.get('problem')}"
    return text


def ranking_table(prediction) -> pd.DataFrame:
    zero_shot = all(s.seen is None for s in prediction.ranking)
    rows = []
    for s in prediction.ranking:
        seen = "— (no training)" if zero_shot else ("seen" if s.seen else "unseen")
        rows.append([s.rank, s.label, f"{100 * s.confidence:.1f} %", round(s.distance, 4), seen])
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def confidences(scores, top: int | None = None) -> dict[str, float]:
    return {s.label: float(s.confidence) for s in (scores[:top] if top else scores)}


def timings_text(timings: dict[str, float], app_ms: float | None = None) -> str:
    names = {"decode": "decoding", "clip_image": "picture (CLIP)", "clap_audio": "sound (CLAP)",
             "labels": "label texts", "model": "model"}
    parts = [f"{names[k]} {_ms(v)}" for k, v in timings.items() if k in names]
    total = f"**total {_ms(timings['total'])}**" if "total" in timings else ""
    return "Time taken: " + " · ".join(parts + ([total] if total else []))


def _ms(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms" if ms >= 1 else f"{ms:.2f} ms"


def present(prediction) -> tuple:
    """Prediction -> values of the result components (see `_result_components`)."""
    warnings = "\n\n".join(f"⚠ {w}" for w in prediction.warnings)
    audio = None
    if prediction.audio is not None:  # 16-bit PCM, as Gradio would convert it (with a warning) anyway
        audio = (TARGET_SAMPLE_RATE, (np.clip(prediction.audio, -1.0, 1.0) * 32767).astype(np.int16))
    audio_note = ("The 10 s of sound the model heard (centred on the middle of the video)." if prediction.has_audio
                  else "**This video has no sound track**: it was classified from the picture alone.")
    modal = prediction.modalities
    return (
        confidences(prediction.ranking),
        ranking_table(prediction),
        warnings,
        prediction.frame,
        audio,
        audio_note,
        confidences(modal.get("visual", [])),
        confidences(modal.get("audio", [])) if "audio" in modal else None,
        timings_text(prediction.timings_ms),
    )


def parse_gamma(text) -> float | None:
    """The γ box: empty means the checkpoint's own value."""
    if text is None or str(text).strip() == "":
        return None
    try:
        return float(str(text).strip())
    except ValueError:
        raise LabelError(f"Calibration γ must be a number such as 0.2, or empty for the checkpoint's own value; "
                         f"got {str(text)[:20]!r}.") from None


class ExampleCache:
    """Predictions of example clicks, computed on the first click ("lazily") and kept for the process.

    Keyed by the file's content, the labels and the model settings, so a changed model or label list is a
    new entry. In memory only: the encoders are fixed for the life of the process.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._items: dict[tuple, object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(video: str, labels: list[str], model: str, modality: str, gamma: float | None) -> tuple:
        digest = hashlib.sha256(Path(video).read_bytes()).hexdigest()
        return digest, tuple(labels), model, modality, gamma

    def get(self, key: tuple):
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple, prediction) -> None:
        with self._lock:
            self._items[key] = prediction
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))


@dataclass
class Example:
    path: str
    labels: str  # suggested labels, comma-separated
    description: str
    has_audio: bool


def read_examples(folder: Path = EXAMPLES_DIR) -> list[Example]:
    """The clips listed in examples/examples.csv that exist (its ';'-separated label lists become commas)."""
    index = folder / "examples.csv"
    if not index.is_file():
        return []
    out = []
    with open(index, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = folder / row["file"]
            if path.is_file():
                labels = ", ".join(x.strip() for x in row.get("suggested_labels", "").split(";") if x.strip())
                out.append(Example(str(path), labels or row.get("label", ""), row.get("description", ""),
                                   row.get("has_audio", "yes").strip().lower() != "no"))
    return out


def example_thumbnails(examples: list[Example]) -> list[tuple[Example, object, str]]:
    """(example, middle frame, caption) for the gallery: the frame CLIP will see, not the clip's first one."""
    out = []
    for example in examples:
        try:
            frame, _ = load_middle_frame(example.path)
        except MediaError as e:
            log.warning("example %s left out: %s", example.path, e)
            continue
        out.append((example, frame, Path(example.path).stem))
    return out


# --- the page ----------------------------------------------------------------------------------------------


def build_demo(service, *, maps: MapMaker | None = None) -> gr.Blocks:
    """The app's page for a ready service. `maps`: shared map maker (default: a new one, memory cache only)."""
    maps = maps or MapMaker(service)
    example_results = ExampleCache()
    thumbnails = example_thumbnails(read_examples())  # (example, middle frame, caption) of those that decode

    def classify(video, labels_text, model, modality, gamma, session, cache=None):
        session = session if isinstance(session, Session) else Session()
        try:
            return _classify(video, labels_text, model, modality, gamma, session, cache)
        except gr.Error as e:
            session.error = e.message  # the state object is kept even when the event fails: see show_failure
            raise

    def classify_example(video, labels_text, model, modality, gamma, session):
        """A click on an example: the same as the button, but results are kept for the next click on it."""
        return classify(video, labels_text, model, modality, gamma, session, cache=example_results)

    def _classify(video, labels_text, model, modality, gamma, session, cache):
        session.error = ""
        if not video:
            raise gr.Error("Add a video first: drop a file on the video box, record one with the webcam, "
                           "or click one of the examples.", title="No video", print_exception=False)
        model = model or ZERO_SHOT
        modality = modality or "both"
        try:
            gamma = parse_gamma(gamma)
            labels = parse_labels(labels_text or "")
            key = cache.key(video, labels, model, modality, gamma) if cache is not None else None
            prediction = cache.get(key) if key else None
            if prediction is None:
                prediction = service.classify(video, labels, model=model, modality=modality, gamma=gamma)
                if key:
                    cache.put(key, prediction)
        except LabelError as e:
            raise gr.Error(str(e), title="Check your input", print_exception=False) from None
        except MediaError as e:
            raise gr.Error(str(_short_paths(e, video)), title="Cannot read this video", print_exception=False) from None
        except CheckpointError as e:
            raise gr.Error(str(e), title="This model cannot be used", print_exception=False) from None
        except (ValueError, FileNotFoundError) as e:
            raise gr.Error(str(e), title="Cannot classify", print_exception=False) from None
        except Exception as e:  # noqa: BLE001 - never a stack trace in the page; the log has it
            log.exception("classify failed")
            raise gr.Error(f"Something went wrong while classifying ({type(e).__name__}). "
                           "The details are in the server log.", title="Internal error", print_exception=False) from None
        session.remember(prediction, video, labels)
        return prediction.to_json(), session

    def show_last(session):
        values = present(session.last)
        session.last = None  # shown: the frame and 10 s of audio need not stay in the session's memory
        return values

    def show_failure(session):
        """After a failed request: the message in the result panel too, and no stale result from before."""
        message = getattr(session, "error", "") or "The last request failed; see the message in the corner."
        return (None, pd.DataFrame(columns=TABLE_COLUMNS), f"**Not classified:** {message}", None, None, "", None,
                None, "")

    def pick_example(text, evt: gr.SelectData):
        """An example was clicked: load its video; keep the user's labels, or offer the example's suggested ones."""
        example = thumbnails[evt.index][0]
        try:
            parse_labels(text or "")
        except LabelError:
            text = example.labels
        return example.path, text

    def on_model(name):
        info_text = describe_model(service, name)
        gamma = None
        if name and name != ZERO_SHOT:
            try:
                gamma = service.model_info(name).get("gamma")
            except (CheckpointError, OSError, KeyError, ValueError):
                gamma = None
        # The Explore tab follows the model: its map is where this model's classifications are drawn.
        explore = gr.update(value=name) if name in maps.checkpoints() else gr.update()
        return info_text, gr.update(value="" if gamma is None else f"{gamma:.4g}",
                                    interactive=name not in (None, ZERO_SHOT)), explore

    def refresh_models(current):
        choices = model_choices(service)
        values = [v for _, v in choices]
        value = current if current in values else ZERO_SHOT
        atlas_names = maps.checkpoints()
        return (gr.update(choices=choices, value=value), describe_model(service, value),
                gr.update(choices=atlas_names, value=atlas_names[0] if atlas_names else None),
                _explore_note(atlas_names))

    def draw(name, space, method, show_mine, session):
        session = session if isinstance(session, Session) else Session()
        spaces = list(SPACES) if space == "all" else [space or "joint"]
        try:
            result = maps.draw(name, spaces, method or "umap", session.history, bool(show_mine))
        except (CheckpointError, FileNotFoundError, ValueError) as e:
            raise gr.Error(f"Cannot draw this map: {e}", title="Map", print_exception=False) from None
        except Exception as e:  # noqa: BLE001
            log.exception("map failed")
            raise gr.Error(f"Something went wrong while drawing the map ({type(e).__name__}). "
                           "The details are in the server log.", title="Internal error", print_exception=False) from None
        return result.figure, result.status

    models = model_choices(service)
    atlas_names = maps.checkpoints()
    with gr.Blocks(title="avzsl — zero-shot video classification") as demo:
        session = gr.State(Session(), time_to_live=SESSION_SECONDS)  # deep-copied for every visitor
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(INTRO, elem_classes=["subtitle"])
        if getattr(service, "random_encoders", False):
            gr.Markdown(
                "⚠ **Test mode — random-weight encoders: every result on this page is meaningless.** "
                "The app was started with `--encoders random` (or `AVZSL_ENCODERS=random`) to check that it "
                "works without the CLIP and CLAP weights. For real answers, provide the weights and run "
                "`python app.py` (see docs/app.md).", elem_classes=["banner", "banner-warn"], elem_id="random-banner")
        if len(models) == 1:
            gr.Markdown(f"ℹ No trained model in `{service.checkpoints_dir}/` yet — the training-free CLIP+CLAP mode "
                        f"works without one. To train a model: {TRAIN_HINT}.", elem_classes=["banner", "banner-info"],
                        elem_id="no-checkpoints-banner")

        with gr.Tabs():
            with gr.Tab("Classify a video", id="classify"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5):
                        video = gr.Video(label="1. Your video", sources=["upload", "webcam"], include_audio=True,
                                         webcam_options=gr.WebcamOptions(mirror=False), height=340,
                                         elem_id="video-input")
                        labels = gr.Textbox(
                            label="2. Labels to choose from", lines=3, max_lines=12, elem_id="labels-input",
                            placeholder="dog barking, playing guitar, car engine",
                            info=f"Separate with commas or new lines (up to {MAX_LABELS} labels, "
                                 f"{MAX_LABEL_CHARS} characters each). Duplicates are ignored.")
                        model = gr.Dropdown(models, value=ZERO_SHOT, label="3. Model", elem_id="model-input",
                                            allow_custom_value=True,
                                            info="A trained checkpoint from checkpoints/, or no training at all.")
                        model_info = gr.Markdown(describe_model(service, ZERO_SHOT), elem_classes=["small-note"])
                        with gr.Accordion("Options", open=False):
                            modality = gr.Radio(MODALITY_CHOICES, value="both", label="Use",
                                                info="What the decision is based on.")
                            gamma = gr.Textbox(value="", label="Calibration γ (trained models only)",
                                               placeholder="the checkpoint's own value", interactive=False,
                                               info="Added to the distance of seen labels; larger favours unseen "
                                                    "labels. Empty = the checkpoint's own value.")
                        button = gr.Button("Classify", variant="primary", elem_id="classify-button")
                        gallery = None
                        if thumbnails:
                            silent = [caption for example, _, caption in thumbnails if not example.has_audio]
                            gr.Markdown("**Or click an example** (SYNTHETIC clips drawn by examples/make_examples.py"
                                        + (f"; {' and '.join(silent)} {'has' if len(silent) == 1 else 'have'} no "
                                           "sound" if silent else "") + "):", elem_classes=["small-note"])
                            gallery = gr.Gallery(
                                [(frame, caption) for _, frame, caption in thumbnails], columns=3, height=345,
                                allow_preview=False, interactive=False, buttons=[], object_fit="cover",
                                show_label=False, label="Examples", elem_id="examples")
                    with gr.Column(scale=7):
                        warnings = gr.Markdown(elem_classes=["warnings"], elem_id="warnings")
                        top = gr.Label(num_top_classes=5, label="Best labels", elem_id="top-labels")
                        table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), label="All your labels, best first",
                                             interactive=False, wrap=True, max_height=320, elem_id="ranking-table")
                        gr.Markdown(HOW_TO_READ, elem_classes=["small-note"])
                        with gr.Accordion("What the model looked at and listened to", open=True):
                            with gr.Row():
                                frame = gr.Image(label="Middle frame (what CLIP saw)", height=200, interactive=False)
                                with gr.Column():
                                    audio = gr.Audio(label="Sound (what CLAP heard)", interactive=False, elem_id="heard-audio")
                                    audio_note = gr.Markdown(elem_classes=["small-note"])
                            with gr.Row():
                                by_picture = gr.Label(num_top_classes=3, label="The picture alone (CLIP) says")
                                by_sound = gr.Label(num_top_classes=3, label="The sound alone (CLAP) says")
                        timings = gr.Markdown(elem_classes=["small-note"], elem_id="timings")
                        with gr.Accordion("Raw result (JSON, as returned by the /classify API)", open=False):
                            raw = gr.JSON(label="Prediction")
                results = [top, table, warnings, frame, audio, audio_note, by_picture, by_sound, timings]

            with gr.Tab("Explore the embedding maps", id="explore") as explore_tab:
                gr.Markdown(EXPLORE_INTRO)
                explore_note = gr.Markdown(_explore_note(atlas_names), elem_classes=["banner", "banner-info"])
                with gr.Row():
                    checkpoint = gr.Dropdown(atlas_names, value=atlas_names[0] if atlas_names else None,
                                             label="Checkpoint", elem_id="map-checkpoint", scale=2)
                    space = gr.Radio(SPACE_CHOICES, value="joint", label="Space", scale=3, elem_id="map-space")
                    method = gr.Radio([(METHOD_NAMES[m], m) for m in METHODS], value="umap", label="Method", scale=1)
                    show_mine = gr.Checkbox(value=True, label="Show my videos and labels", scale=1)
                map_status = gr.Markdown(elem_classes=["small-note"], elem_id="map-status")
                plot = gr.Plot(label="Embedding map", show_label=False, elem_id="embedding-map")

        clicked = button.click(classify, inputs=[video, labels, model, modality, gamma, session], outputs=[raw, session],
                     api_name="classify", concurrency_limit=CLASSIFY_CONCURRENCY, concurrency_id="model",
                     scroll_to_output=False)
        submitted = labels.submit(classify, inputs=[video, labels, model, modality, gamma, session],
                                  outputs=[raw, session], api_visibility="private",
                                  concurrency_limit=CLASSIFY_CONCURRENCY, concurrency_id="model")
        events = [clicked, submitted]
        if gallery is not None:  # a click loads the video, suggests labels if none are typed, then classifies
            events.append(gallery.select(
                pick_example, inputs=[labels], outputs=[video, labels], api_visibility="private", queue=False,
            ).then(
                classify_example, inputs=[video, labels, model, modality, gamma, session], outputs=[raw, session],
                api_visibility="private", concurrency_limit=CLASSIFY_CONCURRENCY, concurrency_id="model"))
        for event in events:
            event.success(show_last, inputs=[session], outputs=results, api_visibility="private", queue=False)
            event.failure(show_failure, inputs=[session], outputs=results, api_visibility="private", queue=False)
        model.change(on_model, inputs=[model], outputs=[model_info, gamma, checkpoint], api_visibility="private",
                     queue=False)
        map_inputs = [checkpoint, space, method, show_mine, session]
        explore_tab.select(draw, inputs=map_inputs, outputs=[plot, map_status], api_visibility="private",
                           concurrency_limit=1, concurrency_id="maps", trigger_mode="always_last")
        for control in (checkpoint, space, method, show_mine):
            control.input(draw, inputs=map_inputs, outputs=[plot, map_status], api_visibility="private",
                          concurrency_limit=1, concurrency_id="maps", trigger_mode="always_last")
        demo.load(refresh_models, inputs=[model], outputs=[model, model_info, checkpoint, explore_note],
                  api_visibility="private", queue=False)
    demo.maps = maps  # for tests and app.py
    return demo


def _explore_note(atlas_names: list[str]) -> str:
    if atlas_names:
        return "The maps of the first checkpoint are prepared at start-up; others take a few seconds the first time."
    return ("No checkpoint with an embedding atlas yet: the maps need a trained model, which saves one at the end "
            f"of training. To train one: {TRAIN_HINT}.")


def _short_paths(error: Exception, video: str) -> str:
    """Media errors name the file; show its name, not the server's temporary folder."""
    return str(error).replace(str(video), Path(str(video)).name)


def build_missing_weights_page(problem: str, *, checkpoints_dir: str | Path = "checkpoints") -> gr.Blocks:
    """What the app shows when the encoder weights are missing: how to get them, instead of a crash."""
    with gr.Blocks(title="avzsl — weights needed") as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(INTRO, elem_classes=["subtitle"])
        gr.Markdown(
            "⚠ **The CLIP and CLAP weights are not on this machine, so nothing can be classified yet.** "
            "Nothing is downloaded automatically; the details are below.",
            elem_classes=["banner", "banner-warn"], elem_id="weights-missing")
        gr.Markdown(
            "**To get going:**\n\n"
            "1. Download the files named below on a connected machine and pass them with the flags shown "
            "(`python app.py --clip-weights PATH --clap-weights PATH --roberta-dir DIR`), set the environment "
            "variables shown, or put them in the cache folders listed; then restart the app.\n"
            "2. Or try the whole app right now with **random-weight encoders** (results are meaningless, the page "
            "says so): `python app.py --encoders random` or `AVZSL_ENCODERS=random python app.py`.\n\n"
            f"Trained checkpoints are read from `{checkpoints_dir}/`. See docs/app.md.")
        gr.Code(problem, language=None, label="What is missing, and where it was looked for", interactive=False)
    return demo


def launch(demo: gr.Blocks, *, host: str | None = None, port: int | None = None, concurrency: int = 2,
           **kwargs) -> tuple:
    """Queue and launch with the app's limits and styling. Returns what `Blocks.launch` returns."""
    demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_SIZE)
    t0 = time.perf_counter()
    result = demo.launch(server_name=host, server_port=port, max_file_size=MAX_FILE_SIZE, css=CSS,
                         allowed_paths=[str(EXAMPLES_DIR)],  # the gallery's clips, wherever the app is started from
                         theme=THEME, show_error=True, footer_links=["api", "gradio"], **kwargs)
    log.info("app launched in %.1f s", time.perf_counter() - t0)
    return result
