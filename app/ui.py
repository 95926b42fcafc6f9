"""The Gradio page: layout and event wiring over `PageHandlers` (app/handlers.py). Presentation only.

    demo = build_demo(create_service("random"))
    launch(demo)                        # queue + launch with the app's limits and styling

Events with stable API names (see `gradio_client.Client(url).view_api()`):
    /classify   (video, labels_text, model="training-free", modality="both", gamma="", segments=1, alpha="")
                (model: a model id, i.e. "training-free" or a checkpoint folder name; gamma: a number, or ""
                for the checkpoint's own calibration; alpha: likewise its open-vocabulary blend weight; segments: 1 = the middle moment, N = N moments over the
                whole video; result: Prediction.to_json(): ranking, per-segment and per-modality rankings,
                timings, warnings, ...). The page's button runs the same prediction.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from app.examples import EXAMPLES_DIR
from app.handlers import FIGURE_CHOICES, PageHandlers, describe_model, explore_note, model_choices, report_figure
from app.maps import SPACE_TITLES, MapMaker
from app.state import Session
from app.text import CSS, EXPLORE_INTRO, HOW_TO_READ, INTRO, TABLE_COLUMNS, THEME, TITLE, TRAIN_HINT, code_span
from avzsl.serving.service import MAX_LABEL_CHARS, MAX_LABELS, TRAINING_FREE
from avzsl.maps.projection import METHOD_NAMES, METHODS

log = logging.getLogger(__name__)

MAX_FILE_SIZE = "200mb"  # uploads above this are refused by Gradio before they reach the service
# Classifications run side by side: the service shares the encoders between them in turns (its media and
# label lanes, avzsl/serving/turns.py), so a 2-label request is not stuck behind a 200-label one. More than this wait.
CLASSIFY_CONCURRENCY = 4
QUEUE_SIZE = 64
SESSION_SECONDS = 6 * 3600  # a visitor's videos and map points are forgotten this long after their last use
MAX_MOMENTS = 32
MODALITY_CHOICES = [("Sound + picture", "both"), ("Picture only", "visual"), ("Sound only", "audio")]
SPACE_CHOICES = [(title, space) for space, title in SPACE_TITLES.items()] + [("All three side by side", "all")]
ONE_AT_A_TIME = {"concurrency_limit": CLASSIFY_CONCURRENCY, "concurrency_id": "model"}
PRIVATE = {"api_visibility": "private"}


def build_demo(service, *, maps: MapMaker | None = None) -> gr.Blocks:
    """The app's page for a ready service. `maps`: shared map maker (default: a new one, memory cache only)."""
    handlers = PageHandlers(service, maps)
    with gr.Blocks(title="avzsl — zero-shot video classification") as demo:
        session = gr.State(Session(), time_to_live=SESSION_SECONDS)  # deep-copied for every visitor
        models = model_choices(service)
        header(handlers, offers_checkpoints=len(models) > 1)
        with gr.Tabs():
            with gr.Tab("Classify a video", id="classify"), gr.Row(equal_height=False):
                with gr.Column(scale=5):  # the form on the left, the result on the right
                    classify = classify_form(handlers, models)
                with gr.Column(scale=7):
                    results = classify_results()
                wire_classify(handlers, classify, results, session)
            with gr.Tab("Explore the embedding maps", id="explore") as explore_tab:
                explore = explore_tab_layout(handlers, explore_tab, session)
                report_panel(service, explore.checkpoint, explore_tab)
        classify.model.change(handlers.on_model, inputs=[classify.model],  # the Explore tab follows the model
                              outputs=[classify.model_info, classify.gamma, classify.alpha, explore.checkpoint],
                              **PRIVATE, queue=False)
        demo.load(handlers.refresh_models, inputs=[classify.model],
                  outputs=[classify.model, classify.model_info, explore.checkpoint, explore.note], **PRIVATE, queue=False)
    demo.maps = handlers.maps  # for tests and app.py
    return demo


def header(handlers: PageHandlers, *, offers_checkpoints: bool) -> None:
    """Title, introduction, the banners of a test mode or of a checkpoint folder with nothing in it, and a status
    line while the encoders' weights are fetched or loaded (polled each second, "" once ready) with the
    /weights_status API that reads it."""
    service = handlers.service
    gr.Markdown(f"# {TITLE}")
    gr.Markdown(INTRO, elem_classes=["subtitle"])
    if service.random_encoders:
        gr.Markdown(
            "⚠ **Test mode — random-weight encoders: every result on this page is meaningless.** "
            "The app was started with `--encoders random` (or `AVZSL_ENCODERS=random`) to check that it "
            "works without the CLIP and CLAP weights. For real answers, provide the weights and run "
            "`python app.py` (see docs/app.md).", elem_classes=["banner", "banner-warn"], elem_id="random-banner")
    if not offers_checkpoints:
        gr.Markdown(f"ℹ No trained model in {code_span(str(service.catalog.folder) + '/')} yet — the training-free "
                    f"CLIP+CLAP mode works without one. To train a model: {TRAIN_HINT}.", elem_classes=["banner", "banner-info"],
                    elem_id="no-checkpoints-banner")
    status = handlers.weights_status()
    line = gr.Markdown(status, elem_id="weights-status")
    timer = gr.Timer(1.0, active=bool(status))
    timer.tick(handlers.status_tick, outputs=[line, timer], **PRIVATE, queue=False)
    status_api = gr.Button(visible=False)  # carries the /weights_status API
    status_api.click(handlers.weights_status, outputs=[line], api_name="weights_status", queue=False)


def classify_form(handlers: PageHandlers, models: list[tuple[str, str]]) -> SimpleNamespace:
    """The form's components, by the names events use."""
    video = gr.Video(label="1. Your video", sources=["upload", "webcam"], include_audio=True,
                     webcam_options=gr.WebcamOptions(mirror=False), height=340, elem_id="video-input")
    media_file = gr.File(label="…or a sound file or a picture (classified by that alone)",
                         file_types=["audio", "image"], height=110, elem_id="file-input")
    labels = gr.Textbox(
        label="2. Labels to choose from", lines=3, max_lines=12, elem_id="labels-input",
        placeholder="dog barking, playing guitar, car engine",
        info=f"Separate with commas or new lines (up to {MAX_LABELS} labels, "
             f"{MAX_LABEL_CHARS} characters each). Duplicates are ignored.")
    model = gr.Dropdown(models, value=TRAINING_FREE, label="3. Model", elem_id="model-input", allow_custom_value=True,
                        info="A trained checkpoint from checkpoints/, or no training at all.")
    model_info = gr.Markdown(describe_model(handlers.service, TRAINING_FREE), elem_classes=["small-note"])
    moments = gr.Slider(1, MAX_MOMENTS, value=1, step=1, label="Moments over the whole video", elem_id="moments-input",
                        info="1 = the middle moment only (as the papers do); more = moments spread "
                             "over the whole video, ranked one by one on a timeline.")
    with gr.Accordion("Options", open=False):
        modality = gr.Radio(MODALITY_CHOICES, value="both", label="Use", info="What the decision is based on.")
        gamma = gr.Textbox(value="", label="Calibration γ (trained models only)",
                           placeholder="the checkpoint's own value", interactive=False,
                           info="Added to the distance of seen labels; larger favours unseen "
                                "labels. Empty = the checkpoint's own value.")
        alpha = gr.Textbox(value="", label="Open-vocabulary blend α (trained models only)",
                           placeholder="the checkpoint's own value", interactive=False, elem_id="alpha-input",
                           info="0 = the trained model alone, 1 = CLIP/CLAP alone; in between "
                                "keeps CLIP/CLAP's open vocabulary for words the model never saw. "
                                "Empty = the checkpoint's own value.")
    button = gr.Button("Classify", variant="primary", elem_id="classify-button")
    return SimpleNamespace(video=video, media_file=media_file, labels=labels, model=model, model_info=model_info,
                           moments=moments, modality=modality, gamma=gamma, alpha=alpha, button=button,
                           gallery=examples_gallery(handlers))


def examples_gallery(handlers: PageHandlers) -> gr.Gallery | None:
    """The example clips that decode, as a gallery to click; None when there are none."""
    if not handlers.thumbnails:
        return None
    silent = [caption for example, _, caption in handlers.thumbnails if not example.has_audio]
    gr.Markdown("**Or click an example** (SYNTHETIC clips drawn by examples/make_examples.py"
                + (f"; {' and '.join(silent)} {'has' if len(silent) == 1 else 'have'} no "
                   "sound" if silent else "") + "):", elem_classes=["small-note"])
    return gr.Gallery(
        [(frame, caption) for _, frame, caption in handlers.thumbnails], columns=3, height=345,
        allow_preview=False, interactive=False, buttons=[], object_fit="cover",
        show_label=False, label="Examples", elem_id="examples")


def classify_results() -> dict:
    """The result panel: its components by the names that handlers.present() gives their values."""
    warnings = gr.Markdown(elem_classes=["warnings"], elem_id="warnings")
    top = gr.Label(num_top_classes=5, label="Best labels", elem_id="top-labels")
    table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), label="All your labels, best first",
                         interactive=False, wrap=True, max_height=320, elem_id="ranking-table")
    gr.Markdown(HOW_TO_READ, elem_classes=["small-note"])
    with gr.Group(visible=False) as timeline_group:
        timeline = gr.Plot(show_label=False, elem_id="timeline")
        moment_frames = gr.Gallery(label="The moments (what CLIP saw at each)", columns=8, height=130,
                                   allow_preview=True, interactive=False, object_fit="contain", elem_id="moment-frames")
    with gr.Accordion("What the model looked at and listened to", open=True):
        with gr.Row():
            frame = gr.Image(label="The frame CLIP saw", height=200, interactive=False)
            with gr.Column():
                audio = gr.Audio(label="Sound (what CLAP heard)", interactive=False, elem_id="heard-audio")
                audio_note = gr.Markdown(elem_classes=["small-note"])
        with gr.Row():
            by_picture = gr.Label(num_top_classes=3, label="The picture alone (CLIP) says")
            by_sound = gr.Label(num_top_classes=3, label="The sound alone (CLAP) says")
    timings = gr.Markdown(elem_classes=["small-note"], elem_id="timings")
    with gr.Accordion("Raw result (JSON, as returned by the /classify API)", open=False):
        raw = gr.JSON(label="Prediction")
    return dict(top=top, table=table, warnings=warnings, frame=frame, audio=audio, audio_note=audio_note,
                by_picture=by_picture, by_sound=by_sound, timings=timings, timeline_group=timeline_group,
                timeline=timeline, moment_frames=moment_frames, raw=raw)


def explore_tab_layout(handlers: PageHandlers, explore_tab: gr.Tab, session: gr.State) -> SimpleNamespace:
    """The Explore tab's maps; the map is drawn when the tab opens and whenever one of its controls changes
    (the latest wins). Returns the components other events write: the checkpoint chooser and the note."""
    atlas_names = handlers.maps.checkpoints()
    gr.Markdown(EXPLORE_INTRO)
    note = gr.Markdown(explore_note(atlas_names), elem_classes=["banner", "banner-info"])
    with gr.Row():
        checkpoint = gr.Dropdown(atlas_names, value=atlas_names[0] if atlas_names else None, label="Checkpoint",
                                 elem_id="map-checkpoint", scale=2)
        space = gr.Radio(SPACE_CHOICES, value="joint", label="Space", scale=3, elem_id="map-space")
        method = gr.Radio([(METHOD_NAMES[m], m) for m in METHODS], value="umap", label="Method", scale=1)
        show_mine = gr.Checkbox(value=True, label="Show my videos and labels", scale=1)
    status = gr.Markdown(elem_classes=["small-note"], elem_id="map-status")
    plot = gr.Plot(label="Embedding map", show_label=False, elem_id="embedding-map")
    controls = [checkpoint, space, method, show_mine]
    drawing = {"concurrency_limit": 1, "concurrency_id": "maps", "trigger_mode": "always_last", **PRIVATE}
    for event in (explore_tab.select, *(control.input for control in controls)):
        event(handlers.draw, inputs=[*controls, session], outputs=[plot, status], **drawing)
    return SimpleNamespace(note=note, checkpoint=checkpoint)


def report_panel(service, checkpoint: gr.Dropdown, tab: gr.Tab) -> None:
    """Under the maps: a figure of the chosen checkpoint's evaluation report, with a chooser and a status line."""
    with gr.Accordion("Where this checkpoint fails: its evaluation report on the test split", open=True):
        which = gr.Radio(FIGURE_CHOICES, value="class-accuracy", label="Figure", elem_id="report-figure")
        status = gr.Markdown(elem_classes=["small-note"], elem_id="report-status")
        plot = gr.Plot(show_label=False, elem_id="report-plot")

    for event in (tab.select, checkpoint.change, which.change):
        event(functools.partial(report_figure, service), inputs=[checkpoint, which], outputs=[plot, status], **PRIVATE,
              queue=False)


def wire_classify(handlers: PageHandlers, tab: SimpleNamespace, results: dict, session: gr.State) -> None:
    """The Classify tab's events: the button, Enter, the API (a hidden button carries /classify), new inputs,
    examples."""
    api_form = [tab.video, tab.labels, tab.model, tab.modality, tab.gamma, tab.moments, tab.alpha]  # in its order
    page_inputs = [tab.media_file, *api_form, session]
    shown = {**results, "session": session}
    page_outputs = list(shown.values())
    classify_page = by_component(handlers.classify_page, shown)
    classify_example = by_component(handlers.classify_page, shown, cache=handlers.example_results)
    tab.button.click(classify_page, inputs=page_inputs, outputs=page_outputs, **PRIVATE, **ONE_AT_A_TIME,
                     scroll_to_output=False)
    tab.labels.submit(classify_page, inputs=page_inputs, outputs=page_outputs, **PRIVATE, **ONE_AT_A_TIME)
    gr.Button(visible=False).click(handlers.classify_api, inputs=api_form, outputs=[results["raw"]],
                                   api_name="classify", **ONE_AT_A_TIME)
    for new_video in (tab.video.upload, tab.video.stop_recording):
        new_video(handlers.forget_other_input, inputs=[tab.video], outputs=[tab.media_file], **PRIVATE, queue=False)
    tab.media_file.upload(handlers.forget_other_input, inputs=[tab.media_file], outputs=[tab.video], **PRIVATE,
                          queue=False)
    if tab.gallery is not None:  # a click loads the example, suggests labels if none are typed, then classifies
        tab.gallery.select(handlers.pick_example, inputs=[tab.labels],
                           outputs=[tab.video, tab.media_file, tab.labels, tab.moments], **PRIVATE, queue=False).then(
            classify_example, inputs=page_inputs, outputs=page_outputs, **PRIVATE, **ONE_AT_A_TIME)


def by_component(handler, components: dict, **fixed):
    """The handler (given the keyword arguments `fixed` too) with its answer {name: value} turned into what
    Gradio takes: {component: value}."""
    @functools.wraps(handler)  # Gradio reads the handler's own signature
    def run(*args):
        return {components[name]: value for name, value in handler(*args, **fixed).items()}
    return run


def build_missing_weights_page(problem: str, *, checkpoints_dir: str | Path = "checkpoints") -> gr.Blocks:
    """What the app shows when the encoder weights are missing: how to get them, instead of a crash."""
    with gr.Blocks(title="avzsl — weights needed") as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(INTRO, elem_classes=["subtitle"])
        gr.Markdown(
            "⚠ **The CLIP and CLAP weights are not on this machine, so nothing can be classified yet.** "
            "They are fetched on first start only when the app runs online; the details below say what is missing and "
            "where it was looked for.",
            elem_classes=["banner", "banner-warn"], elem_id="weights-missing")
        gr.Markdown(
            "**To get going:**\n\n"
            "1. Start the app without `--offline` (and with `HF_HUB_OFFLINE` unset) on a connected machine: the "
            "weights are fetched on first start. Or run `python -m avzsl.download --to models` on a connected machine, "
            "copy `models/` here and pass the files with the flags shown "
            "(`python app.py --clip-weights PATH --clap-weights PATH --roberta-dir DIR`), set the environment "
            "variables shown, or put them in the cache folders listed; then restart the app.\n"
            "2. Or try the whole app right now with **random-weight encoders** (results are meaningless, the page "
            "says so): `python app.py --encoders random` or `AVZSL_ENCODERS=random python app.py`.\n\n"
            f"Trained checkpoints are read from {code_span(str(checkpoints_dir) + '/')}. See docs/app.md.")
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
