"""Encoder presets, specs, frame conventions and the Encoders object for any preset (random weights, no network)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avzsl.encoders import (
    PROMPT_SETS,
    EncoderSpec,
    WeightFiles,
    WeightsNotFoundError,
    apply_frame_convention,
    get_preset,
    list_presets,
    load_encoders,
    release_frames,
    serving_problem,
)

RELEASE = EncoderSpec("clipclap-release", random=True)  # frames: the preset's own, "bgr"


@pytest.fixture(scope="module")
def release():
    return load_encoders(RELEASE)


def _frame():
    return np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)


# ---- the registry ----------------------------------------------------------------------------------------


def test_presets_are_the_issues_encoders():
    assert list_presets() == ["clipclap-release", "laion-clap"]
    laion, release = get_preset("laion-clap"), get_preset("clipclap-release")
    assert get_preset(None) is laion  # the default
    for p in (laion, release):  # both see frames with OpenAI's CLIP ViT-B/32
        assert (p.visual.open_clip_model, p.visual.open_clip_pretrained, p.visual.dim) == ("ViT-B-32", "openai", 512)
    a = laion.audio
    assert (a.kind, a.model, a.checkpoint, a.sample_rate, a.window_samples, a.dim, a.text_model) == (
        "laion-clap", "HTSAT-tiny", "630k-audioset-best", 48_000, 480_000, 512, "roberta-base")
    assert laion.frames == "rgb"
    a = release.audio
    assert (a.kind, a.checkpoint, a.sample_rate, a.window_samples, a.dim, a.text_model, a.text_max_tokens) == (
        "wavcaps", "HTSAT_BERT_zero_shot", 32_000, 320_000, 1024, "bert-base-uncased", 30)
    assert (a.n_mels, a.n_fft, a.hop, a.fmin, a.fmax) == (64, 1024, 320, 50, 14_000)
    with pytest.raises(ValueError, match="unknown encoder preset"):
        get_preset("clap-2")


def test_release_prompt_sets_and_frames():
    release = get_preset("clipclap-release")
    assert [release.prompt_set_for(b) for b in ("UCF", "activitynet", "VGGSound", None, "my videos")] == [
        "ucf-activitynet", "ucf-activitynet", "vggsound", "free-text", "free-text"]
    for name in ("ucf-activitynet", "vggsound"):  # the release's CLAP-side templates (reference §3.3)
        assert all(t.endswith(" can be heard.") for t in PROMPT_SETS[name].clap_templates)
    assert [release_frames(d) for d in ("UCF", "ActivityNet", "vggsound")] == ["bgr-float255", "bgr", "bgr"]


# ---- specs -----------------------------------------------------------------------------------------------


def test_spec_defaults_and_round_trip():
    assert EncoderSpec() == EncoderSpec("laion-clap", "rgb") == EncoderSpec.parse("pretrained")
    assert EncoderSpec("clipclap-release").frames == "bgr"
    spec = EncoderSpec("clipclap-release", frames="bgr-float255", random=True, seed=2)
    stored = json.loads(json.dumps(spec.to_dict()))
    assert stored["preset_spec"]["audio"]["sample_rate"] == 32_000 and stored["preset_spec"]["audio"]["dim"] == 1024
    assert EncoderSpec.from_dict(stored) == spec
    assert EncoderSpec.parse("clipclap-release:random") == EncoderSpec("clipclap-release", random=True)
    assert EncoderSpec.parse("clipclap-release") == EncoderSpec("clipclap-release")
    for bad in ("clipclap", "laion-clap:fast"):
        with pytest.raises(ValueError, match="clipclap-release, laion-clap"):
            EncoderSpec.parse(bad)
    with pytest.raises(ValueError, match="frame convention"):
        EncoderSpec("laion-clap", frames="yuv")


def test_old_spec_dicts_read_as_laion_clap():
    old = {"clip_model": "ViT-B-32", "clip_pretrained": "openai", "clap_model": "HTSAT-tiny",
           "clap_pretrained": "630k-audioset-best", "random": True, "seed": 0}
    assert EncoderSpec.from_dict(old) == EncoderSpec("laion-clap", "rgb", random=True)
    with pytest.raises(ValueError, match="match no preset"):
        EncoderSpec.from_dict({**old, "clip_pretrained": "laion2b_s34b_b79k"})


def test_serving_problem():
    laion, release = EncoderSpec(), EncoderSpec("clipclap-release")
    assert serving_problem(release, release) is None
    assert serving_problem(release.to_dict(), EncoderSpec("clipclap-release", random=True)) is None  # test mode: allowed
    old = {"clip_model": "ViT-B-32", "clip_pretrained": "openai", "clap_model": "HTSAT-tiny",
           "clap_pretrained": "630k-audioset-best", "random": False, "seed": 0}
    assert serving_problem(old, laion) is None
    problem = serving_problem(release.to_dict(), laion)
    assert "'clipclap-release'" in problem and "'laion-clap'" in problem
    assert "'laion-clap'" in serving_problem(old, release)
    problem = serving_problem(EncoderSpec("clipclap-release", frames="bgr-float255"), release)
    assert "'bgr-float255'" in problem and "'bgr'" in problem
    changed = release.to_dict()
    changed["preset_spec"]["audio"]["sample_rate"] = 16_000
    assert "audio.sample_rate was 16000, is 32000" in serving_problem(changed, release)
    assert "cannot be read" in serving_problem({"synthetic": True, "nonsense": 1}, laion)


# ---- frame conventions -----------------------------------------------------------------------------------


def test_rgb_and_bgr_frames():
    frame = _frame()
    np.testing.assert_array_equal(np.asarray(apply_frame_convention(frame, "rgb")), frame)
    np.testing.assert_array_equal(np.asarray(apply_frame_convention(frame, "bgr")), frame[:, :, ::-1])
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(apply_frame_convention(Image.fromarray(frame), "bgr")), frame[:, :, ::-1])
    with pytest.raises(ValueError, match="unknown frame convention"):
        apply_frame_convention(frame, "yuv")
    with pytest.raises(ValueError, match="uint8"):
        apply_frame_convention(frame.astype(np.float32), "rgb")


def test_ucf_float_frames_are_what_torchvision_gives():
    """The UCF extraction: OpenCV's BGR frame in a float32 tensor of 0-255 values, permuted to (3, H, W),
    through torchvision's ToPILImage. On this platform that is a colour negative: x -> (256 - x) mod 256."""
    from torchvision.transforms import ToPILImage

    frame = _frame()
    bgr = frame[:, :, ::-1].copy()
    with np.errstate(invalid="ignore"):
        expected = np.asarray(ToPILImage()(torch.tensor(bgr, dtype=torch.float32).permute(2, 0, 1)))
    got = np.asarray(apply_frame_convention(frame, "bgr-float255"))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, ((256 - bgr.astype(np.int64)) % 256).astype(np.uint8))


# ---- Encoders for the release preset ---------------------------------------------------------------------


def test_release_encoders_sizes_and_window(release):
    assert (release.clip_dim, release.clap_dim) == (512, 1024)
    assert (release.sample_rate, release.window_samples, release.window_seconds) == (32_000, 320_000, 10.0)
    assert release.text_parts == (("clip", 512), ("clap", 1024)) and release.frames == "bgr"
    assert release.preset.name == "clipclap-release" and release.spec.random
    audio = (0.3 * np.random.default_rng(2).standard_normal((1, 320_000))).astype(np.float32)
    a = release.embed_audio(audio)
    assert a.shape == (1, 1024) and a.dtype == np.float32 and np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="320000"):
        release.embed_audio(np.zeros((1, 480_000), np.float32))  # a 48 kHz window is not silently accepted


def test_frame_convention_is_applied_before_clip(release):
    rgb = load_encoders(EncoderSpec("clipclap-release", frames="rgb", random=True))
    assert rgb.clip is release.clip and rgb.clap is release.clap  # frames do not rebuild towers
    assert rgb.fingerprint != release.fingerprint
    frame = _frame()
    shown_bgr = release.embed_images([frame])
    np.testing.assert_allclose(shown_bgr, rgb.embed_images([np.ascontiguousarray(frame[:, :, ::-1])]), atol=1e-6)
    assert not np.allclose(shown_bgr, rgb.embed_images([frame]), atol=1e-3)
    ucf = load_encoders(EncoderSpec("clipclap-release", frames="bgr-float255", random=True))
    negative = ((256 - frame[:, :, ::-1].astype(np.int64)) % 256).astype(np.uint8)
    np.testing.assert_allclose(ucf.embed_images([frame]), rgb.embed_images([negative]), atol=1e-6)


def test_presets_share_the_clip_tower(release):
    laion = load_encoders("random")
    assert laion.clip is release.clip and laion.clap is not release.clap  # same ViT-B/32, another audio tower
    assert (laion.sample_rate, laion.window_samples, laion.clap_dim) == (48_000, 480_000, 512)


def test_stand_in_embeddings(release):
    silence = release.silence_embedding()
    assert silence.shape == (1024,) and not silence.flags.writeable
    np.testing.assert_allclose(silence, release.embed_audio(np.zeros((1, 320_000), np.float32))[0], atol=1e-6)
    assert release.silence_embedding() is silence  # computed once
    grey = release.grey_frame_embedding()
    assert grey.shape == (512,) and release.grey_frame_embedding() is grey
    np.testing.assert_allclose(grey, release.embed_images([np.full((224, 224, 3), 128, np.uint8)])[0], atol=1e-6)


def test_release_label_embeddings_use_the_wavcaps_text_tower(release):
    prompts = PROMPT_SETS["vggsound"]
    got = release.embed_labels(["church bell ringing", "dog barking"], "vggsound")
    assert got.clip.shape == (2, 512) and got.clap.shape == (2, 1024)

    def ensemble(tower, templates):
        x = F.normalize(tower.encode_text([t.replace("{}", "church bell ringing") for t in templates]), dim=-1)
        return F.normalize(x.mean(0), dim=-1).numpy()

    np.testing.assert_allclose(got.clap[0], ensemble(release.clap, prompts.clap_templates), atol=1e-5)
    np.testing.assert_allclose(got.clip[0], ensemble(release.clip, prompts.clip_templates), atol=1e-5)


def test_release_weights_are_resolved_and_files_of_other_kinds_refused(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("AVZSL_CACHE_DIR", str(tmp_path / "avzsl"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("AVZSL_CLIP_WEIGHTS", "AVZSL_CLAP_WEIGHTS", "AVZSL_ROBERTA_DIR", "AVZSL_WAVCAPS_WEIGHTS", "AVZSL_BERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(WeightsNotFoundError) as missing:
        load_encoders("clipclap-release")  # every missing file at once, before any building
    message = str(missing.value)
    for part in ("open_clip_model.safetensors", "HTSAT_BERT_zero_shot.pt", "AVZSL_WAVCAPS_WEIGHTS", "vocab.txt", "AVZSL_BERT_DIR"):
        assert part in message
    assert "630k-audioset-best" not in message and "roberta" not in message  # not this preset's files
    with pytest.raises(ValueError, match="clap_weights do not belong to preset 'clipclap-release'"):
        load_encoders("clipclap-release", files=WeightFiles(clap_weights=Path("630k-audioset-best.pt")))
    with pytest.raises(ValueError, match="random-weight"):
        load_encoders("clipclap-release:random", files=WeightFiles(wavcaps_weights=Path("HTSAT_BERT_zero_shot.pt")))


@pytest.mark.slow
def test_release_real_mode_loads_the_files(release, tmp_path, monkeypatch):
    """Real mode end to end from local files in the release's formats (random values, perturbed so they
    differ from the seed-0 build): CLIP safetensors, a WavCaps training checkpoint, a BERT vocab.txt."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(5)
    wavcaps = {k: v + 0.1 * torch.randn(v.shape, generator=g) if k.startswith("audio_proj") else v
               for k, v in release.clap.model.state_dict().items()}
    torch.save({"model": wavcaps, "epoch": 3}, tmp_path / "HTSAT_BERT_zero_shot.pt")
    save_file(dict(release.clip.model.state_dict()), str(tmp_path / "clip.safetensors"))
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "dog", "barking"]) + "\n")
    monkeypatch.setenv("AVZSL_CLIP_WEIGHTS", str(tmp_path / "clip.safetensors"))
    monkeypatch.setenv("AVZSL_WAVCAPS_WEIGHTS", str(tmp_path / "HTSAT_BERT_zero_shot.pt"))
    monkeypatch.setenv("AVZSL_BERT_DIR", str(tmp_path / "bert"))

    real = load_encoders("clipclap-release")
    assert not real.spec.random and real.clap is not release.clap and real.fingerprint != release.fingerprint
    for name, value in real.clap.model.state_dict().items():
        assert torch.equal(value, wavcaps[name]), name
    audio = (0.3 * np.random.default_rng(2).standard_normal((1, 320_000))).astype(np.float32)
    assert not np.allclose(real.embed_audio(audio), release.embed_audio(audio), atol=1e-3)  # the file's projection
    assert real.clap.tokenizer(["Dog barking"]) == [[2, 5, 6, 3]]  # bert's tokenizer from AVZSL_BERT_DIR
    labels = real.embed_labels(["dog barking"], "vggsound")
    assert labels.clap.shape == (1, 1024) and np.isclose(np.linalg.norm(labels.clap), 1.0, atol=1e-5)
