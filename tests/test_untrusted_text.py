"""Text that comes from a file or a user is shown as text on the page, never as HTML or Markdown; labels with
no visible character are refused like empty ones."""

from __future__ import annotations

import json
import shutil

import pytest
from markdown_it import MarkdownIt

from avzsl.serving.service import LabelError, parse_labels
from tests.helpers import EXAMPLES, MATCHING, random_service

HOSTILE = "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(2)) `code`"
HOSTILE_NAME = "**ck**<img src=y>[x](y)"  # a checkpoint folder name (no slash)


def rendered(markdown: str) -> str:
    """The HTML a Markdown renderer makes of it (raw HTML allowed, as gr.Markdown allows it)."""
    return MarkdownIt("commonmark", {"html": True}).render(markdown)


def assert_shown_as_text(markdown: str, text: str) -> None:
    html = rendered(markdown)
    assert "<img" not in html and "<strong>bold" not in html and "<a " not in html and "<b>" not in html, html
    assert "<code>" not in html, html
    assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html.replace("&quot;", '"'), html


@pytest.fixture(scope="module")
def hostile_checkpoints(tmp_path_factory, app_checkpoints):
    """The app tests' checkpoint, copied under a hostile folder name with a hostile `dataset` field."""
    root = tmp_path_factory.mktemp("hostile")
    shutil.copytree(app_checkpoints / MATCHING, root / HOSTILE_NAME)
    config = json.loads((root / HOSTILE_NAME / "config.json").read_text())
    config["dataset"] = HOSTILE
    (root / HOSTILE_NAME / "config.json").write_text(json.dumps(config))
    return root


def test_checkpoint_text_in_the_model_description_is_shown_as_text(hostile_checkpoints):
    from app.handlers import describe_model

    description = describe_model(random_service(hostile_checkpoints), HOSTILE_NAME)
    assert_shown_as_text(description, HOSTILE)


def test_failures_and_warnings_are_shown_as_text(hostile_checkpoints, monkeypatch):
    import app.handlers as handlers
    from app.handlers import PageHandlers, failure, present

    assert_shown_as_text(failure(HOSTILE)["warnings"], HOSTILE)
    service = random_service(hostile_checkpoints)
    prediction = service.classify(EXAMPLES / "bird.mp4", ["dog", "cat"])
    prediction.warnings.append(HOSTILE)
    assert_shown_as_text(present(prediction)["warnings"], HOSTILE)

    toasts = []
    monkeypatch.setattr(handlers.gr, "Warning", lambda message, **kw: toasts.append(message))
    long_label = "<img src=x onerror=alert(1)>" * 5  # refused as too long; the message quotes it
    values = PageHandlers(service).classify_page(None, str(EXAMPLES / "bird.mp4"), long_label, "training-free",
                                                 "both", "", 1, "", None)
    assert toasts and "<img" not in toasts[0] and "&lt;img" in toasts[0]  # a toast renders HTML
    assert "<img" not in rendered(values["warnings"])


def test_map_status_legend_and_hover_show_checkpoint_and_user_text_as_text(hostile_checkpoints):
    from app.maps import MapMaker
    from app.state import Session

    service = random_service(hostile_checkpoints)
    session = Session()
    session.remember(service.classify(EXAMPLES / "bird.mp4", ["<b>label</b>", "dog"], model=HOSTILE_NAME),
                     "<i>clip</i>.mp4")
    result = MapMaker(service).draw(HOSTILE_NAME, ["joint"], "tsne", session.history)
    assert_shown_as_text(result.status, HOSTILE_NAME)
    texts = [str(t.name) for t in result.figure.data] + [str(x) for t in result.figure.data for x in (t.text or [])]
    texts += [str(t.hovertemplate) for t in result.figure.data] + [str(c) for t in result.figure.data
                                                                   for c in (t.customdata or []) if isinstance(c, str)]
    assert any("&lt;b&gt;label&lt;/b&gt;" in t for t in texts)  # the label typed by the user, escaped
    assert not any("<b>label" in t or "<i>clip" in t for t in texts)


def test_banner_with_a_hostile_checkpoints_folder_is_text(tmp_path):
    from app.ui import build_demo

    folder = tmp_path / "x`<img src=x>"  # one backtick: it would end a code span around the folder
    demo = build_demo(random_service(folder))
    banner = next(b.value for b in demo.blocks.values() if getattr(b, "elem_id", None) == "no-checkpoints-banner")
    assert "<img" not in rendered(banner) and "&lt;img src=x&gt;" in rendered(banner)


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u200b\ufeff", "\x01\x02", "\u2060", "\u200d\u0301"])
def test_labels_with_no_visible_character_are_refused_like_empty_ones(invisible):
    assert parse_labels(f"dog, {invisible}, cat") == ("dog", "cat")
    with pytest.raises(LabelError, match="Type at least one label"):
        parse_labels(invisible)
    with pytest.raises(LabelError, match="Type at least one label"):
        parse_labels([invisible, " "])
    assert parse_labels(f"{invisible}dog") == (f"{invisible}dog",)  # a visible label is kept as typed


# --- numbers and sizes a client sends ---------------------------------------------------------------------------


def test_oversized_label_text_is_refused_before_it_is_parsed():
    """26 MB of labels is refused in milliseconds, without a copy being split or normalised (memory stays flat)."""
    import time
    import tracemalloc

    from avzsl.serving.service import MAX_LABEL_TEXT_BYTES, MAX_LABELS

    text = "dog barking, " * 2_000_000  # 26 MB
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(LabelError, match="bytes can be sent"):
        parse_labels(text)
    elapsed, (_, peak) = time.perf_counter() - t0, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000 and elapsed < 0.5, (peak, elapsed)
    widest = ", ".join(f"{i:03d}" + "𝄞" * 97 for i in range(MAX_LABELS))  # every label at the limits, 4-byte characters
    assert len(widest.encode()) <= MAX_LABEL_TEXT_BYTES and len(parse_labels(widest)) == MAX_LABELS
    with pytest.raises(LabelError, match="bytes can be sent"):  # bytes, not characters, are counted
        parse_labels("𝄞" * (MAX_LABEL_TEXT_BYTES // 4 + 1))


@pytest.mark.parametrize("setting", [{"gamma": "nan"}, {"gamma": float("inf")}, {"gamma": "-inf"}, {"gamma": 1e6},
                                     {"alpha": "nan"}, {"alpha": float("inf")}, {"alpha": 1.5}, {"gamma": "lots"}])
def test_settings_must_be_finite_numbers_in_range(hostile_checkpoints, setting):
    from app.handlers import PageHandlers

    service = random_service(hostile_checkpoints)
    with pytest.raises(LabelError, match="must be a number from"):
        service.classify(EXAMPLES / "bird.mp4", ["dog", "cat"], HOSTILE_NAME, **setting)
    form = {"gamma": "", "alpha": "", **{k: str(v) for k, v in setting.items()}}
    with pytest.raises(LabelError, match="must be a number from"):
        PageHandlers(service).predict(str(EXAMPLES / "bird.mp4"), "dog, cat", HOSTILE_NAME, "both", form["gamma"],
                                      1, form["alpha"])


@pytest.mark.parametrize("moments", ["inf", "nan", 2.5, "lots"])
def test_moments_must_be_a_whole_number(moments):
    from app.handlers import PageHandlers

    handlers = PageHandlers(random_service(None))
    with pytest.raises(LabelError, match="whole number"):
        handlers.predict(str(EXAMPLES / "bird.mp4"), "dog, cat", "training-free", "both", "", moments)
