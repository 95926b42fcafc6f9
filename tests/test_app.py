"""The web app, driven like a user's script would: launched in-process, called through gradio_client.

Random-weight encoders (no downloads) and two tiny checkpoints (the session fixture `app_checkpoints`,
tests/conftest.py): one trained on SYNTHETIC features of the random encoders' sizes, one whose config claims
other encoders (the mismatch case).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

from tests.helpers import EXAMPLES, MATCHING, OTHER_ENCODERS, ROOT, random_service, running_app

# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(app_checkpoints):
    return app_checkpoints


@pytest.fixture(scope="module")
def service(checkpoints):
    return random_service(checkpoints)


@pytest.fixture(scope="module")
def app(service, tmp_path_factory):
    with running_app(service, tmp_path_factory.mktemp("app")) as (demo, url):
        yield demo, url


@pytest.fixture(scope="module")
def maps(service):
    """One map maker for the map tests: a map fitted for one is not fitted again for another."""
    from app.maps import MapMaker

    return MapMaker(service)


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app[1], verbose=False)


def classify(client, video, labels, *args, **kwargs) -> dict:
    from gradio_client import handle_file

    return client.predict(handle_file(str(video)), labels, *args, api_name="/classify", **kwargs)


# --- the API --------------------------------------------------------------------------------------------------


def test_api_offers_classify_with_defaults(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/classify", "/weights_status"]  # the page's other events are private
    assert api["named_endpoints"]["/weights_status"]["parameters"] == []
    params = {p["parameter_name"]: p for p in api["named_endpoints"]["/classify"]["parameters"]}
    assert list(params) == ["video", "labels_text", "model", "modality", "gamma", "segments", "alpha"]
    assert not params["video"]["parameter_has_default"] and not params["labels_text"]["parameter_has_default"]
    assert params["model"]["parameter_default"] == "training-free"
    assert params["modality"]["parameter_default"] == "both" and params["gamma"]["parameter_default"] == ""
    assert params["segments"]["parameter_default"] == 1


def test_app_limits_uploads_and_queues(app):
    demo, _ = app
    assert demo.max_file_size == 200 * 1024 * 1024
    assert demo._queue.max_size == 64 and demo._queue.default_concurrency_limit == 2
    classify_fn = next(fn for fn in demo.fns.values() if fn.api_name == "classify")
    assert classify_fn.concurrency_limit == 4  # side by side: the service shares the encoders in turns (test_fair_service.py)


def test_classify_ranks_several_labels(client):
    typed = "bird chirping, car engine\nplaying drums,  Car Engine , playing piano, , dog barking"
    result = classify(client, EXAMPLES / "bird.mp4", typed)
    ranking = result["ranking"]
    assert sorted(r["label"] for r in ranking) == sorted(
        ["bird chirping", "car engine", "playing drums", "playing piano", "dog barking"])  # trimmed, de-duplicated
    assert [r["rank"] for r in ranking] == [1, 2, 3, 4, 5]
    distances = [r["distance"] for r in ranking]
    confidences = [r["confidence"] for r in ranking]
    assert distances == sorted(distances) and confidences == sorted(confidences, reverse=True)
    assert sum(confidences) == pytest.approx(1.0, abs=1e-6)
    assert all(r["seen"] is None for r in ranking)  # no checkpoint: no seen / unseen
    assert set(result["modalities"]) == {"visual", "audio"}
    assert result["has_audio"] is True and result["model"] == "training-free"
    assert {"decode", "clip_image", "clap_audio", "labels", "total"} <= set(result["timings_ms"])
    assert any("meaningless" in w for w in result["warnings"])  # random encoders say so


def test_classify_with_a_checkpoint_marks_seen_labels_and_uses_gamma(client, service):
    info = service.model_info(MATCHING)
    seen_label = info.train_classes[0]
    result = classify(client, EXAMPLES / "drums.mp4", f"{seen_label}, a brand new label", MATCHING)
    seen = {r["label"]: r["seen"] for r in result["ranking"]}
    assert seen == {seen_label: True, "a brand new label": False}
    assert result["gamma"] == pytest.approx(info.gamma)
    assert any("SYNTHETIC" in w for w in result["warnings"])
    custom = classify(client, EXAMPLES / "drums.mp4", f"{seen_label}, a brand new label", MATCHING, "visual", "0.5")
    assert custom["gamma"] == 0.5 and custom["modality"] == "visual"


def test_video_without_audio_is_classified_from_the_picture_with_a_warning(client):
    result = classify(client, EXAMPLES / "aquarium.mp4", "fish in an aquarium, car engine")
    assert result["has_audio"] is False
    assert set(result["modalities"]) == {"visual"}
    assert any("no audio track" in w for w in result["warnings"])
    assert len(result["ranking"]) == 2


def _corrupt_video(tmp_path):
    """An MP4 whose header is cut off before any stream is described: nothing in it can be played (a file cut
    later, that still plays, is classified from its playable part: tests/test_media.py)."""
    data = (EXAMPLES / "bird.mp4").read_bytes()
    path = tmp_path / "broken.mp4"
    path.write_bytes(data[:64])
    return path


BAD_INPUTS = {
    "no labels": (lambda tmp: EXAMPLES / "bird.mp4", " , \n ,", (), "at least one label"),
    "too many labels": (lambda tmp: EXAMPLES / "bird.mp4", ", ".join(f"label {i}" for i in range(201)), (), "at most 200"),
    "label too long": (lambda tmp: EXAMPLES / "bird.mp4", "ok, " + "x" * 101, (), "at most 100 characters"),
    "not a video": (lambda tmp: _text_file(tmp), "dog, cat", (), "is not a video"),
    "corrupt video": (_corrupt_video, "dog, cat", (), "broken.mp4"),
    "checkpoint of other encoders": (lambda tmp: EXAMPLES / "bird.mp4", "dog, cat", (OTHER_ENCODERS,), "other encoders"),
    "unknown model": (lambda tmp: EXAMPLES / "bird.mp4", "dog, cat", ("no-such-model",), "no checkpoint named"),
    "gamma not a number": (lambda tmp: EXAMPLES / "bird.mp4", "dog, cat", (MATCHING, "both", "lots"), "must be a number"),
    "sound only without sound": (lambda tmp: EXAMPLES / "aquarium.mp4", "dog, cat", (MATCHING, "audio"), "no audio track"),
}


def _text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not a video\n")
    return path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_give_a_clear_message(client, checkpoints, tmp_path, case):
    from gradio_client.exceptions import AppError

    video, labels, extra, expected = BAD_INPUTS[case]
    with pytest.raises(AppError) as err:
        classify(client, video(tmp_path), labels, *extra)
    message = str(err.value)
    assert expected in message
    assert "Traceback" not in message and 'File "' not in message
    assert "/tmp/gradio" not in message  # the server's upload folder is not shown, the file name is
    assert str(checkpoints) not in message and str(tmp_path) not in message  # nor any other server path


def test_app_still_answers_after_errors(client):
    result = classify(client, EXAMPLES / "piano.mp4", "playing piano, dog barking")
    assert len(result["ranking"]) == 2


# --- what the page is made of (no browser needed) ------------------------------------------------------------


def _markdown_texts(demo) -> str:
    return "\n".join(str(c.get("props", {}).get("value", "")) for c in demo.config["components"])


def test_page_without_checkpoints_offers_zero_shot_and_says_how_to_train(tmp_path):
    from app.handlers import model_choices
    from app.ui import build_demo
    from avzsl.serving.service import TRAINING_FREE, TRAINING_FREE_NAME

    service = random_service(tmp_path / "empty")  # the folder does not even exist
    assert model_choices(service) == [(TRAINING_FREE_NAME, TRAINING_FREE)]
    text = _markdown_texts(build_demo(service))
    assert "No trained model" in text and "python -m avzsl.train" in text
    assert "random-weight encoders" in text


# Ways a checkpoint folder can be broken (issue 18), each with what the reason given for it must name.
BROKEN = {
    "config-a-list": (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json: the file must be a JSON object"),
    "classes-a-number": (lambda f: _edit_config(f, classes=5), "classes"),
    "metrics-a-list": (lambda f: (f / "metrics.json").write_text("[1]"), "metrics.json"),
    "no-weights": (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    "garbage-weights": (lambda f: (f / "model.safetensors").write_bytes(b"\xff" * 4096), "model.safetensors"),
    "config-not-text": (lambda f: (f / "config.json").write_bytes(b"\xff\xfe\x00garbage"), "config.json"),
}


def _edit_config(folder, **changes):
    import json

    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.fixture(scope="module")
def one_good_many_broken(checkpoints, tmp_path_factory):
    """A checkpoints folder: one good checkpoint ("good"), one folder per way of being BROKEN, and a folder
    that is no checkpoint at all (not offered)."""
    folder = tmp_path_factory.mktemp("one-good-many-broken")
    for name in ("good", *BROKEN):
        shutil.copytree(checkpoints / MATCHING, folder / name)
    for name, (breakage, _) in BROKEN.items():
        breakage(folder / name)
    (folder / "not-a-checkpoint").mkdir()
    return folder


def test_broken_checkpoints_are_listed_with_their_reason_and_never_hide_the_good_one(one_good_many_broken):
    from app.handlers import describe_model, model_choices
    from app.maps import MapMaker
    from avzsl.models.checkpoint import CheckpointError

    service = random_service(one_good_many_broken)
    infos = {info.id: info for info in service.models()}
    assert set(infos) == {"training-free", "good", *BROKEN}  # not-a-checkpoint holds no checkpoint file
    assert infos["good"].usable and infos["good"].readable and infos["good"].architecture == "clipclap"
    for name, (_, reason) in BROKEN.items():
        assert not infos[name].usable and not infos[name].readable and reason in infos[name].problem, name
        with pytest.raises(CheckpointError, match=reason):  # choosing it gives the same reason
            service.classify(EXAMPLES / "bird.mp4", ["dog", "cat"], name)
        assert reason in describe_model(service, name)
    shown = dict((value, text) for text, value in model_choices(service))
    assert "unavailable" in shown["no-weights"] and "unavailable" not in shown["good"]
    assert MapMaker(service).checkpoints() == ["good"]  # the Explore list: atlases of usable checkpoints
    assert service.classify(EXAMPLES / "bird.mp4", ["dog", "cat"], "good").model == "good"


def test_the_app_with_broken_checkpoints_lists_the_good_one_and_classifies_with_it(one_good_many_broken, tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    service = random_service(one_good_many_broken)
    with running_app(service, tmp_path) as (demo, url):
        client = Client(url, verbose=False)
        dropdowns = {c["props"].get("elem_id"): c["props"] for c in client.config["components"]
                     if c.get("type") == "dropdown"}
        offered = [value for _, value in dropdowns["model-input"]["choices"]]
        assert set(offered) == {"training-free", "good", *BROKEN}
        assert [value for _, value in dropdowns["map-checkpoint"]["choices"]] == ["good"]
        result = classify(client, EXAMPLES / "bird.mp4", "bird chirping, car engine", "good")
        assert result["model"] == "good" and len(result["ranking"]) == 2
        with pytest.raises(AppError, match="model.safetensors"):
            classify(client, EXAMPLES / "bird.mp4", "bird chirping, car engine", "garbage-weights")


def test_a_checkpoint_is_read_once_per_version_of_its_files(checkpoints, tmp_path, monkeypatch):
    """Its config and its weights' header are read once (not once per step of a request), and read again when
    config.json changes; each request asks the catalog once."""
    import json
    import os

    import avzsl.models.checkpoint
    import avzsl.serving.catalog

    reads, headers, asked = [], [], []
    real_read, real_header = avzsl.serving.catalog.read_config, avzsl.validation.safetensors_header
    monkeypatch.setattr(avzsl.serving.catalog, "read_config", lambda path: reads.append(path) or real_read(path))
    for module in (avzsl.serving.catalog, avzsl.models.checkpoint):  # where a header can be read
        monkeypatch.setattr(module, "safetensors_header", lambda *a: headers.append(a) or real_header(*a))
    shutil.copytree(checkpoints / MATCHING, tmp_path / "ck" / MATCHING)
    service = random_service(tmp_path / "ck")
    real_entry = service.catalog.entry
    monkeypatch.setattr(service.catalog, "entry", lambda model_id: asked.append(model_id) or real_entry(model_id))
    service.models()
    gamma = service.model_info(MATCHING).gamma
    asked.clear()
    for _ in range(2):
        service.classify(EXAMPLES / "bird.mp4", ["dog", "cat"], MATCHING)
    assert asked == [MATCHING, MATCHING]  # once per request
    service.encoder_spec(MATCHING)
    assert len(reads) == 1 and len(headers) == 1  # the model was loaded with the header read for the list
    config_file = tmp_path / "ck" / MATCHING / "config.json"
    config = json.loads(config_file.read_text())
    config["calibration"]["gamma"] = gamma + 1.0
    config_file.write_text(json.dumps(config))
    os.utime(config_file, ns=(1, 1))  # another modification time, even on a coarse clock
    assert service.model_info(MATCHING).gamma == gamma + 1.0 and len(reads) == 2
    assert service.classify(EXAMPLES / "bird.mp4", ["dog", "cat"], MATCHING).gamma == gamma + 1.0


def test_a_failed_encoder_load_is_remembered_and_told_without_server_paths(tmp_path, monkeypatch):
    """Encoders that fail to build (here: a RuntimeError, as a wrong CLAP file gives) are tried once: the status
    line and every later /classify give the reason, naming the file but not the hub cache's folders."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from app.handlers import PageHandlers

    service = random_service(None)
    cache_path = "/srv/cache/huggingface/hub/models--laion--clap/630k-audioset-best.pt"
    builds = []

    def broken(spec):
        builds.append(spec)
        raise RuntimeError(f"Error(s) in loading state_dict for CLAP:\n\tMissing key(s) in {cache_path}")

    monkeypatch.setattr(service.pool, "get", broken)
    with running_app(service, tmp_path) as (_, url):
        client = Client(url, verbose=False)
        for _ in range(2):
            with pytest.raises(AppError) as err:
                classify(client, EXAMPLES / "bird.mp4", "dog, cat")
            assert "Missing key(s)" in str(err.value) and "630k-audioset-best.pt" in str(err.value)
            assert "/srv/cache" not in str(err.value)
        status = client.predict(api_name="/weights_status")
    assert len(builds) == 1  # not rebuilt for the second request
    assert service.status().state == "failed" and "RuntimeError" in service.status().detail
    assert "could not be loaded" in status and "630k-audioset-best.pt" in status and "/srv/cache" not in status
    assert "\n" not in service.status().detail  # one line
    _, timer = PageHandlers(service).status_tick()
    assert timer.active is False  # the page stops polling: "Loading…" is not shown forever


def test_results_and_sessions_import_without_torch():
    """What a prediction gives back and what a session keeps can be read (and unpickled) without the encoders."""
    import subprocess
    import sys

    code = ("import sys, avzsl.serving.result, app.state; "
            "print(sorted(m for m in ('torch', 'open_clip', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# `python app.py` run as itself, its `launch` wrapped: once the page answers over HTTP, print which heavy modules
# the process had imported at that moment, and stop (before the warm-up, which imports them).
PAGE_FIRST = """
import os, runpy, sys, urllib.request
import app.ui

def launch(demo, **options):
    served = served_launch(demo, **options)
    status = urllib.request.urlopen(served[1], timeout=60).status
    heavy = sorted(m for m in ("torch", "open_clip", "transformers", "laion_clap") if m in sys.modules)
    print("page", status, "heavy", heavy, flush=True)
    os._exit(0)

served_launch, app.ui.launch = app.ui.launch, launch
runpy.run_path("app.py", run_name="__main__")
"""


PAGE_MODES = ["random encoders", "missing weights", "checkpoints"]


@pytest.fixture(scope="module")
def page_starts(app_checkpoints, tmp_path_factory):
    """`python app.py` started once per mode, all at once (each is seconds of imports): {mode: Child}. Each has
    its own empty caches; "missing weights" first does what the first start ever does: read open_clip's weight
    tags (torch) and remember them."""
    import os

    from avzsl.encoders import EncoderPool
    from tests.helpers import Child, free_port

    starts = {}
    for mode in PAGE_MODES:
        home = tmp_path_factory.mktemp("page-first")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AVZSL_", "HF_"))}
        env.update(AVZSL_CACHE_DIR=str(home / "avzsl"), HF_HOME=str(home / "hf"), GRADIO_ANALYTICS_ENABLED="False")
        flags = ["--encoders", "random"] if mode != "missing weights" else ["--offline"]
        checkpoints = app_checkpoints if mode == "checkpoints" else home / "none"
        if mode == "missing weights":
            with pytest.MonkeyPatch.context() as monkeypatch:
                monkeypatch.setenv("AVZSL_CACHE_DIR", env["AVZSL_CACHE_DIR"])
                pool = EncoderPool(offline=True)
                pool.missing(pool.spec())
            assert (home / "avzsl" / "open_clip_tags.json").is_file()
        starts[mode] = Child("-c", PAGE_FIRST, *flags, "--checkpoints", str(checkpoints), "--port", str(free_port()),
                             env=env)
    yield starts
    for child in starts.values():
        child.stop()


@pytest.mark.parametrize("mode", PAGE_MODES)
def test_the_page_is_served_before_torch_is_imported(mode, page_starts):
    """A start shows its page at once: torch, open_clip and transformers come later, in the warm-up. On a busy
    machine too (load >= cores), where the app gives torch one thread. With checkpoints too: the model list, the
    descriptions and the Explore tab's atlases read their configs, metrics and headers without torch."""
    started = page_starts[mode].result(timeout=300)
    out = started.stdout + started.stderr[-2000:]

    assert "page 200 heavy []" in out, out


def test_typed_labels_are_parsed_once(service, monkeypatch):
    import app.handlers
    import avzsl.serving.service

    calls = []
    real = avzsl.serving.service.parse_labels

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(avzsl.serving.service, "parse_labels", counted)
    monkeypatch.setattr(app.handlers, "parse_labels", counted)
    prediction = app.handlers.PageHandlers(service).predict(str(EXAMPLES / "bird.mp4"), "dog, cat,  Dog", MATCHING,
                                                             "both", "")
    assert prediction.labels == ["dog", "cat"] and len(calls) == 1


def test_checkpoint_choices_say_what_each_is(checkpoints):
    from app.handlers import model_choices

    labels = dict((v, k) for k, v in model_choices(random_service(checkpoints)))
    assert "SYNTHETIC" in labels[MATCHING] and "other encoders" in labels[OTHER_ENCODERS]


def test_missing_weights_give_a_page_that_explains(monkeypatch, tmp_path):
    from avzsl.encoders import WeightsNotFoundError

    entry = _load_app_py()

    def no_weights(*args, **kwargs):
        raise WeightsNotFoundError("CLIP weights ViT-B-32 / openai not found (open_clip_model.safetensors).")

    monkeypatch.setattr(entry, "create_service", no_weights)
    demo = entry.create_app(entry.parse_args(["--checkpoints", str(tmp_path)]))
    text = _markdown_texts(demo)
    assert "open_clip_model.safetensors" in text and "--encoders random" in text


def test_command_line_defaults_follow_the_environment(monkeypatch):
    entry = _load_app_py()
    monkeypatch.setenv("AVZSL_ENCODERS", "random")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    args = entry.parse_args([])
    assert args.encoders == "random" and args.port == 7999 and args.host == "127.0.0.1"
    monkeypatch.delenv("AVZSL_ENCODERS")
    monkeypatch.delenv("GRADIO_SERVER_PORT")
    args = entry.parse_args(["--encoders", "random", "--port", "8001"])
    assert args.encoders == "random" and args.port == 8001
    assert entry.parse_args([]).encoders == "pretrained" and entry.parse_args([]).port == 7860


def _load_app_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("avzsl_app_entry", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- maps of the session ---------------------------------------------------------------------------------------


def test_maps_show_the_session_videos_and_labels(service, maps):
    from app.state import Session
    from avzsl.serving.service import parse_labels

    session = Session()
    for video, model in ((EXAMPLES / "bird.mp4", MATCHING), (EXAMPLES / "car.mp4", "training-free")):
        labels = parse_labels("bird chirping, car engine, playing drums")
        session.remember(service.classify(video, labels, model=model), str(video))
    result = maps.draw(MATCHING, ["joint", "visual", "audio"], "tsne", session.history)
    traces = {t.name: t for t in result.figure.data if t.legendgroup == "user-video"}
    assert traces  # the session's videos are drawn
    per_panel = [len(t.x) for t in result.figure.data if t.legendgroup == "user-video"]
    assert per_panel == [1, 2, 2]  # joint: only the video classified with this checkpoint; inputs: both
    label_traces = [t for t in result.figure.data if t.legendgroup == "user-label"]
    assert [len(t.x) for t in label_traces] == [3, 3, 3] and set(label_traces[0].text) == {
        "bird chirping", "car engine", "playing drums"}
    symbols = {t.marker.symbol for t in result.figure.data if t.legendgroup and t.legendgroup.startswith("class-")}
    assert symbols == {"circle", "diamond", "square"}  # seen videos, unseen videos, class text markers
    assert "126 test videos" in result.status or "test videos" in result.status
    fits = maps.cache.fits
    maps.draw(MATCHING, ["joint"], "tsne", session.history[:1])  # new user points: no new fit
    assert maps.cache.fits == fits
    hover = next(t for t in result.figure.data if t.legendgroup and t.legendgroup.startswith("class-"))
    assert "video:" in hover.hovertemplate and len(hover.customdata) == len(hover.x)


def test_map_of_a_checkpoint_of_other_encoders_leaves_out_the_users_points(service, maps):
    from app.state import Session

    session = Session()
    labels = ["dog barking", "car engine"]
    session.remember(service.classify(EXAMPLES / "bird.mp4", labels), "bird.mp4")
    result = maps.draw(OTHER_ENCODERS, ["visual"], "tsne", session.history)
    assert not [t for t in result.figure.data if (t.legendgroup or "").startswith("user-")]
    assert "other encoders" in result.status


def test_presentation_of_a_prediction(service):
    from app.handlers import TABLE_COLUMNS, present, ranking_table

    prediction = service.classify(EXAMPLES / "aquarium.mp4", ["fish in an aquarium", "car engine", "dog barking"], MATCHING)
    values = present(prediction)
    top, table, warnings, frame, audio, audio_note, by_picture, by_sound, timings = (
        values[k] for k in ("top", "table", "warnings", "frame", "audio", "audio_note", "by_picture", "by_sound", "timings"))
    assert values["timeline"] is None and values["moment_frames"] == []  # one moment: no timeline
    assert list(top) == [s.label for s in prediction.ranking] and sum(top.values()) == pytest.approx(1.0)
    assert list(table.columns) == TABLE_COLUMNS and list(table["Rank"]) == [1, 2, 3]
    assert set(ranking_table(prediction)["Seen in training?"]) <= {"seen", "unseen"}
    assert "no audio track" in warnings and audio is None and "no sound track" in audio_note
    assert frame.shape[2] == 3 and by_sound is None and set(by_picture) <= set(top)
    assert "total" in timings
    assert np.isfinite(list(top.values())).all()


def test_example_results_are_kept_per_file_labels_and_model(tmp_path):
    from app.examples import ExampleCache, read_examples

    examples = read_examples()
    assert [Path(e.path).name for e in examples][:2] == ["bird.mp4", "car.mp4"]
    assert "bird chirping, car engine" in examples[0].labels  # the CSV's ';' lists become comma-separated labels
    assert [e.has_audio for e in examples if Path(e.path).name == "aquarium.mp4"] == [False]
    cache = ExampleCache(size=2)
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes((EXAMPLES / "bird.mp4").read_bytes())
    key = cache.key(str(EXAMPLES / "bird.mp4"), ["a", "b"], "m", "both", None)
    assert key == cache.key(str(copy), ["a", "b"], "m", "both", None)  # same content, same entry
    assert key != cache.key(str(copy), ["a", "b"], "m", "visual", None)
    cache.put(key, "prediction")
    assert cache.get(key) == "prediction"
    cache.put(("x",), 1)
    cache.put(("y",), 2)
    assert cache.get(key) is None and cache.get(("y",)) == 2  # oldest dropped beyond the size


# --- the whole video on a timeline, sound files -------------------------------------------------------------


def test_classify_api_ranks_moments_of_the_whole_video(client):
    result = classify(client, EXAMPLES / "scenes.mp4", "bird chirping, car engine, playing piano", "training-free",
                      "both", "", 4)
    assert [round(s["start_s"]) for s in result["segments"]] == [0, 12, 24, 36]
    assert all(len(s["ranking"]) == 3 for s in result["segments"])


def test_timeline_shows_each_moment_and_label(service):
    from app.handlers import present

    labels = ["bird chirping", "car engine", "playing drums", "playing piano"]
    prediction = service.classify(EXAMPLES / "scenes.mp4", labels, segments=8)
    values = present(prediction)
    heat = values["timeline"].data[0]
    assert heat.type == "heatmap" and np.asarray(heat.z).shape == (4, 8)
    assert list(heat.y) == [s.label for s in prediction.ranking]  # rows in the overall order
    expected = [[100 * {s.label: s.confidence for s in seg.ranking}[label] for seg in prediction.segments]
                for label in heat.y]
    np.testing.assert_allclose(np.asarray(heat.z), expected)
    assert "confidence" in heat.hovertemplate and heat.customdata[0][1] == "0:06–0:12"
    assert len(values["moment_frames"]) == 8 and values["moment_frames"][2][1] == "0:12"  # captioned by start time
    assert values["timeline_group"]["visible"] is True


def test_a_sound_file_through_the_page_handler(service):
    from app.handlers import PageHandlers

    handlers = PageHandlers(service)
    values = handlers.classify_page(str(EXAMPLES / "piano.mp3"), str(EXAMPLES / "bird.mp4"),
                                    "playing piano, bird chirping", "training-free", "both", "", 1, "", None)
    raw, session = values["raw"], values["session"]
    assert raw["kind"] == "audio" and set(raw["modalities"]) == {"audio"}  # the file box wins over the video
    assert values["frame"] is None and "sound file" in values["audio_note"] and values["by_picture"] == {}
    assert session.history[-1].name == "piano.mp3"
    values = handlers.classify_page(None, None, "a, b", "training-free", "both", "", 1, "", session)
    assert values["raw"] is None and "Add a video first" in values["warnings"]


def test_explore_says_preparing_while_the_start_up_warm_up_runs(service, maps):
    from app.handlers import PageHandlers

    maps._warming = True
  # as if warm_up_in_background were still compiling UMAP
    steps = PageHandlers(service, maps).draw(MATCHING, "joint", "tsne", True, None)
    _, status = next(steps)
    assert "Preparing the maps" in status
    maps.warmed.set()  # the warm-up is done: the same request now draws the map
    _, status = next(steps)
    assert "test videos" in status


def test_open_vocabulary_blend_of_a_checkpoint(service):
    from avzsl.serving.service import LabelError

    labels = ["bird chirping", "car engine", "playing drums", service.model_info(MATCHING).train_classes[0]]
    video = EXAMPLES / "bird.mp4"
    own = service.classify(video, labels, MATCHING)  # the checkpoint's own α, 0 when trained without the blend
    zero = service.classify(video, labels, MATCHING, alpha=0.0)
    assert own.alpha == 0.0 and [(s.label, s.distance) for s in own.ranking] == [(s.label, s.distance) for s in zero.ranking]
    free = {s.label: s.distance for s in service.classify(video, labels).ranking}  # training-free
    only_free = service.classify(video, labels, MATCHING, gamma=0.0, alpha=1.0)
    assert {s.label: s.distance for s in only_free.ranking} == pytest.approx(free, abs=1e-6)  # blend_scale 1 here
    model = {s.label: s.distance for s in service.classify(video, labels, MATCHING, gamma=0.0, alpha=0.0).ranking}
    half = {s.label: s.distance for s in service.classify(video, labels, MATCHING, gamma=0.0, alpha=0.5).ranking}
    assert half == pytest.approx({k: (model[k] + free[k]) / 2 for k in labels}, abs=1e-6)
    with pytest.raises(LabelError, match="from 0 to 1"):
        service.classify(video, labels, MATCHING, alpha=1.5)
