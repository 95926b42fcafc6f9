"""avzsl.encoders on random weights: no network, no weight files (tests/conftest.py sets HF_HUB_OFFLINE)."""

import importlib.util
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avzsl.encoders import (
    PROMPT_SETS,
    EncoderSpec,
    Encoders,
    WeightsNotFoundError,
    get_prompt_set,
    load_encoders,
    resolve,
)
from avzsl.encoders.text_cache import LabelCache

# Prompts of very different lengths in one batch, including one past the 77-token context (truncated).
PROMPTS = [
    "a photo of a dog.",
    "x",
    "a demonstration of the person practicing playing the electric guitar loudly in a crowded park.",
    "hello! a video of {braces} & symbols, 123.",
    " ".join(["word"] * 100),
]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def built():
    """Random-weight encoders (seed 0), built once per process, and what loading them logged."""
    records = _Records()
    logging.getLogger("avzsl.encoders").addHandler(records)
    try:
        enc = load_encoders("random")
    finally:
        logging.getLogger("avzsl.encoders").removeHandler(records)
    return enc, records.messages


@pytest.fixture(scope="module")
def enc(built):
    return built[0]


@pytest.fixture(scope="module")
def seed0_outputs(enc):
    """Image and audio embeddings of the seed-0 build, computed once (HTSAT is the slow part)."""
    return enc.embed_images(_frames()), enc.embed_audio(_waveforms())


def _frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), rng.integers(0, 256, (360, 200, 3), dtype=np.uint8)]


def _waveforms():
    rng = np.random.default_rng(1)
    return (0.3 * rng.standard_normal((2, 480_000))).astype(np.float32)


def _unit_rows(x):
    return np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


# ---- prompts and spec --------------------------------------------------------------------------------


# The reference notes' CLAP template lists (§3.3), word for word and in their order.
REFERENCE_UCF_CLAP = (
    "a person {}", "a example of a person {}", "a demonstration of a person {}", "the person {}",
    "a example of the person {}", "a demonstration of the person {}",
    "a person using {}", "a example of a person using {}", "a demonstration of a person using {}",
    "a example of the person using {}", "a demonstration of the person using {}",
    "a person doing {}", "a example of a person doing {}", "a demonstration of a person doing {}",
    "a example of the person doing {}", "a demonstration of the person doing {}",
    "a example of a person during {}", "a demonstration of a person during {}", "a example of the person during {}",
    "a demonstration of the person during {}",
    "a person performing {}", "a example of a person performing {}", "a demonstration of a person performing {}",
    "a example of the person performing {}", "a demonstration of the person performing {}",
    "a person practicing {}", "a example of a person practicing {}", "a demonstration of a person practicing {}",
    "a example of the person practicing {}", "a demonstration of the person practicing {}",
)
REFERENCE_VGGSOUND_CLAP = (
    "a {}", "a example of a {}", "a demonstration of a {}", "the {}", "a example of the {}", "a demonstration of the {}",
    "{}", "a example of {}", "a demonstration of {}",
)


def test_prompt_sets_copy_the_reference():
    ucf = PROMPT_SETS["ucf-activitynet"]
    assert ucf.clap_templates == tuple(f"{t} can be heard." for t in REFERENCE_UCF_CLAP)
    assert PROMPT_SETS["vggsound"].clap_templates == tuple(f"{t} can be heard." for t in REFERENCE_VGGSOUND_CLAP)
    assert (len(ucf.clip_templates), len(ucf.clap_templates)) == (48, 30)
    assert len(set(ucf.clip_templates)) == 48
    for t in ("a photo of a person {}.", "a demonstration of the person using {}.", "a example of a person practicing {}."):
        assert t in ucf.clip_templates
    assert ucf.clap_templates[0] == "a person {} can be heard." and ucf.clap_templates[-1] == "a demonstration of the person practicing {} can be heard."
    vgg = PROMPT_SETS["vggsound"]
    assert (len(vgg.clip_templates), len(vgg.clap_templates)) == (8, 9)
    assert "a photo of the person {}." in vgg.clip_templates and "{} can be heard." in vgg.clap_templates
    free = get_prompt_set(None)
    assert free.name == "free-text" and len(free.clip_templates) <= 6 and len(free.clap_templates) <= 6
    with pytest.raises(ValueError, match="unknown prompt set"):
        get_prompt_set("nope")


def test_spec_round_trip():
    spec = EncoderSpec(random=True, seed=3)
    assert EncoderSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert EncoderSpec.parse("pretrained") == EncoderSpec() and EncoderSpec.parse("random").random
    with pytest.raises(ValueError):
        EncoderSpec.from_dict({"clip_model": "ViT-B-32", "typo": 1})


# ---- random-weight build -------------------------------------------------------------------------------


def test_random_build_warns_and_is_loaded_once(built):
    enc, messages = built
    assert any("random-weight encoders: results are meaningless" in m for m in messages)
    assert load_encoders("random") is enc
    assert (enc.clip_dim, enc.clap_dim) == (512, 512)


def test_random_build_has_the_real_architectures(enc):
    from open_clip.transformer import QuickGELU

    # OpenAI CLIP weights need QuickGELU, so the random build must use it too.
    assert any(isinstance(m, QuickGELU) for m in enc.clip.model.modules())
    assert sum(p.numel() for p in enc.clip.model.parameters()) == 151_277_313  # ViT-B/32
    assert sum(p.numel() for p in enc.clap.model.text_branch.parameters()) == 124_645_632  # roberta-base
    assert enc.clap.model.text_branch.config.vocab_size == 50265


def test_shapes_and_unit_norms(enc, seed0_outputs):
    from PIL import Image

    v, a = seed0_outputs
    assert v.shape == (2, 512) and v.dtype == np.float32 and _unit_rows(v)
    np.testing.assert_allclose(enc.embed_images([Image.fromarray(_frames()[0])])[0], v[0], atol=1e-6)  # PIL = numpy
    assert a.shape == (2, 512) and a.dtype == np.float32 and _unit_rows(a)
    t = enc.embed_labels(["dog barking", "playing guitar", "dog barking"])
    assert t.labels == ["dog barking", "playing guitar", "dog barking"]
    assert t.clip.shape == (3, 512) and t.clap.shape == (3, 512) and _unit_rows(t.clip) and _unit_rows(t.clap)
    np.testing.assert_array_equal(t.clip[0], t.clip[2])
    assert not np.allclose(t.clip[0], t.clip[1])


def test_bad_inputs_are_rejected(enc):
    with pytest.raises(ValueError, match="480000"):
        enc.embed_audio([np.zeros(16_000, np.float32)])
    with pytest.raises(ValueError, match="uint8"):
        enc.embed_images([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ValueError, match="non-empty"):
        enc.embed_labels(["  "])


def test_audio_is_deterministic(enc, seed0_outputs):
    """No random crop: the same clip always gives the same embedding, alone or in a batch."""
    clip = _waveforms()[1:]
    first, second = enc.embed_audio(clip), enc.embed_audio(clip)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first[0], seed0_outputs[1][1], atol=1e-5)


def test_audio_quantisation_matches_laion_clap(enc):
    from avzsl.encoders.clap import _quantise

    w = np.array([0.5, -1.5, 1.0, 1e-5, -0.25], np.float32)
    expected = (np.clip(w, -1, 1) * 32767.0).astype(np.int16) / 32767.0  # laion_clap's float32_to_int16 round trip
    np.testing.assert_array_equal(_quantise(w), expected.astype(np.float32))


# ---- exactness of the fast text paths -----------------------------------------------------------------


def test_clip_trimmed_text_matches_open_clip_full_context(enc):
    tokens = enc.clip.tokenizer(PROMPTS)  # (P, 77)
    assert enc.clip.trims and int(tokens.argmax(-1).min()) < 10  # some prompts are far shorter than 77
    with torch.inference_mode():
        expected = F.normalize(enc.clip.model.encode_text(tokens), dim=-1)  # open_clip, full 77-token context
    got = enc.clip.encode_text(PROMPTS)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(enc.clip.encode_text(PROMPTS, batch_size=2), expected, atol=1e-5, rtol=0)


def test_clap_short_padding_matches_laion_clap_77(enc):
    ids = enc.clap.tokenizer(PROMPTS)
    assert min(map(len, ids)) < 10 and max(map(len, ids)) == 77
    input_ids = torch.ones(len(ids), 77, dtype=torch.long)  # laion_clap: padding="max_length" with <pad>=1
    mask = torch.zeros(len(ids), 77, dtype=torch.long)
    for i, seq in enumerate(ids):
        input_ids[i, : len(seq)], mask[i, : len(seq)] = torch.tensor(seq), 1
    with torch.inference_mode():
        expected = enc.clap.model.get_text_embedding({"input_ids": input_ids, "attention_mask": mask})
    torch.testing.assert_close(enc.clap.encode_text(PROMPTS), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(enc.clap.encode_text(PROMPTS[:4], batch_size=2), expected[:4], atol=1e-5, rtol=0)


def test_label_embedding_is_the_prompt_ensemble(enc):
    prompts = PROMPT_SETS["vggsound"]
    got = enc.embed_labels(["church bell ringing"], prompts)

    def ensemble(tower, templates):
        x = F.normalize(tower.encode_text([t.replace("{}", "church bell ringing") for t in templates]), dim=-1)
        return F.normalize(x.mean(0), dim=-1).numpy()

    np.testing.assert_allclose(got.clip[0], ensemble(enc.clip, prompts.clip_templates), atol=1e-5)
    np.testing.assert_allclose(got.clap[0], ensemble(enc.clap, prompts.clap_templates), atol=1e-5)


# ---- label cache ---------------------------------------------------------------------------------------


def test_cached_labels_are_identical_and_fast(enc):
    labels = [f"cache test label {i}" for i in range(4)]
    first = enc.embed_labels(labels)
    timings = []
    for _ in range(5):
        t = time.perf_counter()
        again = enc.embed_labels(labels)
        timings.append(time.perf_counter() - t)
    np.testing.assert_array_equal(first.clip, again.clip)
    np.testing.assert_array_equal(first.clap, again.clap)
    assert min(timings) < 1e-3, timings
    other = enc.embed_labels(labels[:1], "vggsound")  # other templates: another cache entry
    assert not np.allclose(other.clip[0], first.clip[0])


def test_disk_cache_survives_a_new_process(enc, tmp_path, monkeypatch):
    with_disk = load_encoders("random", label_cache_dir=tmp_path)
    assert with_disk.clip is enc.clip and with_disk.label_cache is not enc.label_cache  # towers are shared
    first = with_disk.embed_labels(["disk cached label", "another one"])
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
    # What a new process would have: the same encoders, an empty memory cache, the same folder.
    restarted = Encoders(enc.spec, enc.clip, enc.clap, fingerprint=enc.fingerprint, label_cache=LabelCache(directory=tmp_path))
    monkeypatch.setattr(enc.clip, "encode_text", lambda *a, **k: pytest.fail("cache miss"))
    again = restarted.embed_labels(["another one", "disk cached label"])
    np.testing.assert_array_equal(again.clip, first.clip[::-1])
    np.testing.assert_array_equal(again.clap, first.clap[::-1])


# ---- weight resolution ---------------------------------------------------------------------------------


@pytest.fixture
def no_caches(tmp_path, monkeypatch):
    """Empty Hugging Face and avzsl caches, no avzsl environment variables."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("AVZSL_CACHE_DIR", str(tmp_path / "avzsl"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("AVZSL_CLIP_WEIGHTS", "AVZSL_CLAP_WEIGHTS", "AVZSL_ROBERTA_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_missing_weights_name_the_file_and_the_remedy(no_caches):
    laion_clap_folder = Path(importlib.util.find_spec("laion_clap").origin).parent
    if (laion_clap_folder / "630k-audioset-best.pt").exists():
        pytest.skip("real CLAP weights are installed in laion_clap's package folder")
    with pytest.raises(WeightsNotFoundError) as clip_error:
        resolve("clip_weights")
    message = str(clip_error.value)
    for part in ("open_clip_model.safetensors", "AVZSL_CLIP_WEIGHTS", "--clip-weights", "https://huggingface.co/timm/vit_base_patch32_clip_224.openai"):
        assert part in message
    with pytest.raises(WeightsNotFoundError) as clap_error:
        resolve("clap_weights")
    assert isinstance(clap_error.value, FileNotFoundError)
    for part in ("630k-audioset-best.pt", "AVZSL_CLAP_WEIGHTS", "laion_clap package folder", "lukewys/laion_clap"):
        assert part in str(clap_error.value)
    with pytest.raises(WeightsNotFoundError) as all_missing:
        load_encoders("pretrained")  # fails while resolving files, before any model is built
    for part in ("open_clip_model.safetensors", "630k-audioset-best.pt", "vocab.json", "AVZSL_ROBERTA_DIR"):
        assert part in str(all_missing.value)  # everything missing is reported at once
    with pytest.raises(WeightsNotFoundError, match="does-not-exist.pt"):
        resolve("clap_weights", given=no_caches / "does-not-exist.pt")


def _roberta_files(folder):
    """A byte-level vocabulary in roberta's file format: enough for RobertaTokenizer, not a real vocabulary."""
    from transformers.models.roberta.tokenization_roberta import bytes_to_unicode

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({ch: 4 + i for i, ch in enumerate(sorted(bytes_to_unicode().values()))})
    vocab["<mask>"] = len(vocab)
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


@pytest.mark.slow  # writes and loads a CLIP and a CLAP file of the real formats (over 1 GB)
def test_weight_files_from_environment_variables(enc, seed0_outputs, no_caches, monkeypatch):
    """Random weights saved in the real formats load as "real" weights: strict loads prove the random
    builds have exactly the parameters real checkpoints need, and the embeddings follow the files."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(1)

    def perturbed(module, names):  # different weights than the seed-0 build, same names and shapes
        state = dict(module.state_dict())
        for name in names:
            state[name] = state[name] + 0.1 * torch.randn(state[name].shape, generator=g)
        return state

    clip_state = perturbed(enc.clip.model, ["visual.proj", "text_projection"])
    clap_state = perturbed(enc.clap.model, ["audio_projection.0.weight", "text_projection.0.weight"])
    save_file(clip_state, str(no_caches / "clip.safetensors"))  # open_clip's safetensors format
    # laion_clap's training checkpoint format: DataParallel prefixes and a stale roberta buffer.
    checkpoint = {f"module.{k}": v for k, v in clap_state.items()}
    checkpoint["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]
    torch.save({"epoch": 45, "lr": np.float64(1e-4), "state_dict": checkpoint}, no_caches / "clap.pt")
    monkeypatch.setenv("AVZSL_CLIP_WEIGHTS", str(no_caches / "clip.safetensors"))
    monkeypatch.setenv("AVZSL_CLAP_WEIGHTS", str(no_caches / "clap.pt"))
    monkeypatch.setenv("AVZSL_ROBERTA_DIR", str(_roberta_files(no_caches / "roberta")))
    del clip_state, checkpoint

    real = load_encoders("pretrained")
    assert not real.spec.random and real.fingerprint != enc.fingerprint
    for name, value in real.clap.model.state_dict().items():
        assert torch.equal(value, clap_state[name]), name
    images, audio = seed0_outputs
    assert not np.allclose(real.embed_images(_frames()[:1])[0], images[0], atol=1e-3)
    assert not np.allclose(real.embed_audio(_waveforms()[:1])[0], audio[0], atol=1e-3)
    labels = real.embed_labels(["dog barking"])  # roberta tokenizer from AVZSL_ROBERTA_DIR
    assert labels.clap.shape == (1, 512) and _unit_rows(labels.clap)


def test_arbitrary_pickles_are_refused(tmp_path):
    import argparse

    from avzsl.encoders.state import load_state_dict
    from avzsl.encoders.weights import WeightsFormatError

    torch.save({"state_dict": {"module.w": torch.ones(2)}, "step": np.int64(3)}, tmp_path / "ok.pt")
    assert list(load_state_dict(tmp_path / "ok.pt")) == ["w"]  # numpy scalars are data: accepted
    torch.save({"state_dict": {"w": torch.ones(2)}, "args": argparse.Namespace(lr=0.1)}, tmp_path / "args.pt")
    with pytest.raises(WeightsFormatError, match="argparse.Namespace"):
        load_state_dict(tmp_path / "args.pt")


def test_damaged_files_are_named_before_loading(tmp_path):
    """A file cut short (a partial copy, a full disk) is refused by a structural check that reads no weights."""
    from safetensors.torch import save_file

    from avzsl.encoders.weights import WeightsFormatError, check_weights_file

    save_file({"w": torch.ones(1000)}, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": {"w": torch.ones(1000)}, "epoch": 3}, tmp_path / "w.pt")
    (tmp_path / "vocab.json").write_text(json.dumps({"<s>": 0, "dog": 1}))
    for name in ("w.safetensors", "w.pt", "vocab.json"):
        path = tmp_path / name
        assert check_weights_file(path) == path
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(WeightsFormatError, match=f"{name} is damaged"):
            check_weights_file(path)


def test_the_flag_wins_over_the_environment_variable(no_caches, monkeypatch):
    from avzsl.cli import add_encoder_options, encoder_files
    from avzsl.encoders import WeightFiles

    flag, variable = no_caches / "flag.pt", no_caches / "variable.pt"
    flag.write_bytes(b"x")
    variable.write_bytes(b"x")
    monkeypatch.setenv("AVZSL_CLAP_WEIGHTS", str(variable))
    parser = __import__("argparse").ArgumentParser()
    add_encoder_options(parser)
    files = encoder_files(parser.parse_args(["--clap-weights", str(flag)]))["files"]
    assert files == WeightFiles(clap_weights=flag)
    assert resolve("clap_weights", given=files.clap_weights) == (flag,)
    assert resolve("clap_weights") == (variable,)  # without the flag, the variable


def test_a_folder_or_a_file_where_the_other_is_wanted_is_named(no_caches, monkeypatch):
    folder = no_caches / "weights"
    folder.mkdir()
    monkeypatch.setenv("AVZSL_CLIP_WEIGHTS", str(folder))
    with pytest.raises(WeightsNotFoundError, match=f"{folder} \\(from AVZSL_CLIP_WEIGHTS\\) is a folder, not a file"):
        resolve("clip_weights")
    (folder / "vocab.json").write_text("{}")
    monkeypatch.setenv("AVZSL_ROBERTA_DIR", str(folder / "vocab.json"))
    with pytest.raises(WeightsNotFoundError, match="is a file, not a folder"):
        resolve("roberta_dir")


def test_tokenizer_files_and_suffix_less_files_are_checked(tmp_path):
    from avzsl.encoders.weights import WeightsFormatError, check_weights_file

    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\nĠ a\nĠ t\nh e\n")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\ndog\n")
    for path in (merges, vocab):
        assert check_weights_file(path) == path
        path.write_bytes(path.read_bytes()[:-3])  # a copy cut inside its last line
        with pytest.raises(WeightsFormatError, match=f"{path.name} is damaged"):
            check_weights_file(path)
    (tmp_path / "weights").write_bytes(b"")  # no suffix, nothing in it
    with pytest.raises(WeightsFormatError, match="weights is damaged: the file is empty"):
        check_weights_file(tmp_path / "weights")
    (tmp_path / "weights").write_bytes(b"\x10" * 40)
    with pytest.raises(WeightsFormatError, match="weights is damaged"):
        check_weights_file(tmp_path / "weights")


def test_a_checkpoint_for_another_model_is_refused_in_one_line_before_use(tmp_path, monkeypatch):
    """Keys or shapes that do not fit: one AvzslError line naming the file and the first differing keys, with
    `avzsl.download --force` when the file lies in the hub's cache (wherever that is), never a RuntimeError."""
    import huggingface_hub.constants
    from safetensors.torch import save_file

    from avzsl.encoders.clip import ClipTower
    from avzsl.io import AvzslError

    hub_cache = tmp_path / "somewhere" / "hub"  # no "huggingface" in the path
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    for folder, hint in ((hub_cache / "models--x" / "blobs", "python -m avzsl.download --force"),
                         (tmp_path / "mine", "replace it with a complete copy")):
        folder.mkdir(parents=True)
        save_file({"visual.proj": torch.ones(3, 3), "other.weight": torch.ones(2)}, str(folder / "w.safetensors"))
        with pytest.raises(AvzslError) as refused:
            ClipTower.build("ViT-B-32", "openai", folder / "w.safetensors", seed=0, device=torch.device("cpu"))
        message = str(refused.value)
        assert "\n" not in message and str(folder / "w.safetensors") in message and hint in message
        assert "does not fit" in message and "other.weight" in message and "visual.proj (3, 3)" in message


def test_weights_holding_infinity_are_refused(enc, tmp_path):
    from safetensors.torch import save_file

    from avzsl.encoders.clip import ClipTower
    from avzsl.encoders.weights import WeightsFormatError

    state = {k: v.contiguous() for k, v in enc.clip.model.state_dict().items() if k != "attn_mask"}
    for bad in (float("inf"), float("nan")):
        save_file({**state, "text_projection": torch.full_like(state["text_projection"], bad)}, str(tmp_path / "w.safetensors"))
        with pytest.raises(WeightsFormatError, match="tensor text_projection has .*non-finite"):
            ClipTower.build("ViT-B-32", "openai", tmp_path / "w.safetensors", seed=0, device=torch.device("cpu"))


def test_the_spec_and_the_weight_table_import_without_torch():
    import subprocess
    import sys

    code = ("import sys, avzsl.encoders.spec, avzsl.encoders.weights, avzsl.encoders\n"
            "from avzsl.encoders import EncoderSpec, WeightFiles\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_each_file_is_looked_up_once_per_process(no_caches, monkeypatch):
    from avzsl.encoders import weights

    (no_caches / "avzsl").mkdir()
    (no_caches / "avzsl" / "630k-audioset-best.pt").write_bytes(b"x")
    first = resolve("clap_weights")
    monkeypatch.setattr(weights, "_look", lambda *args: pytest.fail("the caches were searched again"))
    assert resolve("clap_weights") == first == (no_caches / "avzsl" / "630k-audioset-best.pt",)
