"""The WavCaps HTSAT-BERT towers (preset clipclap-release) on random weights: no network, no weight files."""

import numpy as np
import pytest
import torch

from avzsl.encoders import WeightsNotFoundError, get_preset, load_encoders, resolve
from avzsl.encoders.weights import WeightsFormatError
from avzsl.encoders.wavcaps import WavCapsTower

AUDIO = get_preset("clipclap-release").audio

# Prompts of very different lengths, one far past the 30-token truncation.
PROMPTS = [
    "a dog barking can be heard.",
    "x",
    "a demonstration of the person practicing playing the electric guitar loudly in a crowded park can be heard.",
    "hello! a video of {braces} & symbols, 123.",
    " ".join(["word"] * 60),
]


def wavcaps_layout() -> dict[str, tuple[int, ...]]:
    """Every key of HTSAT_BERT_zero_shot.pt's "model" state dict with its shape, written from the public model
    code (github.com/XinhaoMei/WavCaps, retrieval/models/: ase_model.py, audio_encoder.py, htsat.py,
    feature_extractor.py, text_encoder.py, and settings/inference.yaml) and bert-base-uncased's config."""
    keys = {"temp": ()}
    a = "audio_encoder.audio_enc."  # ASE.audio_encoder -> AudioEncoder.audio_enc = HTSAT_Swin_Transformer
    keys[a + "audio_feats_extractor.mel_trans.stft.conv_real.weight"] = (513, 1, 1024)  # n_fft // 2 + 1 DFT rows
    keys[a + "audio_feats_extractor.mel_trans.stft.conv_imag.weight"] = (513, 1, 1024)
    keys[a + "audio_feats_extractor.log_trans.melW"] = (513, 64)
    keys.update({a + f"bn0.{n}": (64,) for n in ("weight", "bias", "running_mean", "running_var")})
    keys[a + "bn0.num_batches_tracked"] = ()
    keys[a + "patch_embed.proj.weight"], keys[a + "patch_embed.proj.bias"] = (96, 1, 4, 4), (96,)
    keys[a + "patch_embed.norm.weight"], keys[a + "patch_embed.norm.bias"] = (96,), (96,)
    window = 8
    for i, (depth, heads) in enumerate(zip((2, 2, 6, 2), (4, 8, 16, 32))):
        dim, side = 96 * 2**i, 64 // 2**i  # channels and patch-grid side of stage i (256 / patch stride 4 = 64)
        for j in range(depth):
            b = a + f"layers.{i}.blocks.{j}."
            for norm in ("norm1", "norm2"):
                keys[b + f"{norm}.weight"], keys[b + f"{norm}.bias"] = (dim,), (dim,)
            keys[b + "attn.relative_position_bias_table"] = ((2 * window - 1) ** 2, heads)
            keys[b + "attn.relative_position_index"] = (window * window, window * window)
            keys[b + "attn.qkv.weight"], keys[b + "attn.qkv.bias"] = (3 * dim, dim), (3 * dim,)
            keys[b + "attn.proj.weight"], keys[b + "attn.proj.bias"] = (dim, dim), (dim,)
            keys[b + "mlp.fc1.weight"], keys[b + "mlp.fc1.bias"] = (4 * dim, dim), (4 * dim,)
            keys[b + "mlp.fc2.weight"], keys[b + "mlp.fc2.bias"] = (dim, 4 * dim), (dim,)
            if j % 2 == 1 and side > window:  # shifted windows keep a mask; not when one window covers the grid
                keys[b + "attn_mask"] = ((side // window) ** 2, window * window, window * window)
        if i < 3:  # PatchMerging after every stage but the last
            d = a + f"layers.{i}.downsample."
            keys[d + "reduction.weight"], keys[d + "norm.weight"], keys[d + "norm.bias"] = (2 * dim, 4 * dim), (4 * dim,), (4 * dim,)
    keys[a + "norm.weight"], keys[a + "norm.bias"] = (768,), (768,)
    keys[a + "tscam_conv.weight"], keys[a + "tscam_conv.bias"] = (527, 768, 2, 3), (527,)  # SF = 256 // 8 // 4 // 4
    keys[a + "head.weight"], keys[a + "head.bias"] = (527, 527), (527,)
    t = "text_encoder.text_encoder."  # ASE.text_encoder -> TextEncoder.text_encoder = BertModel, no pooler
    keys[t + "embeddings.word_embeddings.weight"] = (30522, 768)
    keys[t + "embeddings.position_embeddings.weight"] = (512, 768)
    keys[t + "embeddings.token_type_embeddings.weight"] = (2, 768)
    keys[t + "embeddings.LayerNorm.weight"], keys[t + "embeddings.LayerNorm.bias"] = (768,), (768,)
    for k in range(12):
        b = t + f"encoder.layer.{k}."
        for name, shape in (("attention.self.query", (768, 768)), ("attention.self.key", (768, 768)),
                            ("attention.self.value", (768, 768)), ("attention.output.dense", (768, 768)),
                            ("intermediate.dense", (3072, 768)), ("output.dense", (768, 3072))):
            keys[b + f"{name}.weight"], keys[b + f"{name}.bias"] = shape, shape[:1]
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            keys[b + f"{norm}.weight"], keys[b + f"{norm}.bias"] = (768,), (768,)
    for proj, width in (("audio_proj", 768), ("text_proj", 768)):  # Linear -> ReLU (index 1, no weights) -> Linear
        keys[f"{proj}.0.weight"], keys[f"{proj}.0.bias"] = (1024, width), (1024,)
        keys[f"{proj}.2.weight"], keys[f"{proj}.2.bias"] = (1024, 1024), (1024,)
    return keys


@pytest.fixture(scope="module")
def tower():
    """The random-weight (seed 0) WavCaps tower, the one every clipclap-release:random user in this process shares."""
    return load_encoders("clipclap-release:random").clap


def _waveforms(n=2, samples=320_000):
    return (0.3 * np.random.default_rng(1).standard_normal((n, samples))).astype(np.float32)


def test_module_tree_has_wavcaps_keys_and_shapes(tower):
    own = {k: tuple(v.shape) for k, v in tower.model.state_dict().items()}
    expected = wavcaps_layout()
    assert sorted(set(own) - set(expected)) == [] and sorted(set(expected) - set(own)) == []
    assert {k: s for k, s in own.items() if expected[k] != s} == {}
    # bert-base-uncased has 109,482,240 parameters, 590,592 of them in the pooler WavCaps leaves out
    assert sum(p.numel() for p in tower.model.text_encoder.parameters()) == 109_482_240 - 590_592


@pytest.mark.slow
def test_wavcaps_checkpoint_loads_strictly(tower, tmp_path):
    """A file in HTSAT_BERT_zero_shot.pt's format (training dict, state dict under "model", the stale BERT
    position_ids an older transformers saved) loads strictly, and every tensor comes from the file."""
    g = torch.Generator().manual_seed(3)
    state = {k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone())
             for k, v in tower.model.state_dict().items()}
    state["text_encoder.text_encoder.embeddings.position_ids"] = torch.arange(512)[None]
    path = tmp_path / "HTSAT_BERT_zero_shot.pt"
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 5e-5}]},
                "config": {"embed_size": 1024, "audio_args": {"sr": 32000}}, "epoch": 12}, path)
    loaded = WavCapsTower.build(AUDIO, path, seed=0, device=torch.device("cpu"))
    for name, value in loaded.model.state_dict().items():
        assert torch.equal(value, state[name]), name
    del state["audio_proj.2.bias"]  # one parameter short: refused, not silently left random
    torch.save({"model": state}, path)
    with pytest.raises(WeightsFormatError, match="audio_proj.2.bias"):
        WavCapsTower.build(AUDIO, path, seed=0, device=torch.device("cpu"))


def test_front_end_is_the_configured_log_mel(tower):
    """32 kHz, hop 320, centred frames: 10 s = 320,000 samples -> 1001 frames of 64 mel bins."""
    assert (AUDIO.sample_rate, AUDIO.window_samples, AUDIO.n_mels, AUDIO.hop, AUDIO.n_fft) == (32_000, 320_000, 64, 320, 1024)
    mel = tower.log_mel(_waveforms())
    assert mel.shape == (2, 1, 320_000 // 320 + 1, 64)
    front = tower.model.audio_encoder.audio_enc.audio_feats_extractor
    assert (front.mel_trans.stft.conv_real.kernel_size, front.mel_trans.stft.conv_real.stride) == ((1024,), (320,))
    import librosa  # the filter bank is librosa's for 32 kHz, 50-14,000 Hz (not laion_clap's 48 kHz one)

    expected = librosa.filters.mel(sr=32_000, n_fft=1024, n_mels=64, fmin=50, fmax=14_000).T  # (513, 64)
    np.testing.assert_allclose(front.log_trans.melW.detach().numpy(), expected, atol=1e-6)


def test_audio_embeddings(tower):
    w = _waveforms()
    a = tower.embed_audio(w)
    assert a.shape == (2, 1024) and torch.allclose(a.norm(dim=1), torch.ones(2), atol=1e-5)
    torch.testing.assert_close(tower.embed_audio(w[1:]), a[1:], atol=1e-5, rtol=0)  # alone = in a batch
    with pytest.raises(ValueError, match="320000"):
        tower.embed_audio(_waveforms(1, 480_000))


def test_text_padded_to_longest_equals_full_padding(tower):
    ids = tower.tokenizer(PROMPTS)
    assert min(map(len, ids)) == 3 and max(map(len, ids)) == 30  # [CLS] x [SEP]; truncated at 30
    expected = tower.encode_text_reference(PROMPTS)  # every prompt padded to 30
    torch.testing.assert_close(tower.encode_text(PROMPTS), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(tower.encode_text(PROMPTS, batch_size=2), expected, atol=1e-5, rtol=0)
    assert torch.allclose(expected.norm(dim=1), torch.ones(len(PROMPTS)), atol=1e-5)
    assert not torch.allclose(expected[0], expected[1], atol=1e-3)


def test_bert_tokenizer_from_a_local_vocab(tmp_path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "can", "be", "heard", ".", "bark", "##ing"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = WavCapsTower.file_tokenizer([tmp_path / "vocab.txt"], AUDIO)  # truncates at text_max_tokens, 30
    assert tok(["A dog Barking can be heard."]) == [[2, 5, 6, 11, 12, 7, 8, 9, 10, 3]]  # lower-cased WordPiece
    assert len(tok(["dog " * 50])[0]) == 30


def test_missing_wavcaps_files_name_the_file_and_the_remedy(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("AVZSL_CACHE_DIR", str(tmp_path / "avzsl"))
    for var in ("AVZSL_WAVCAPS_WEIGHTS", "AVZSL_BERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(WeightsNotFoundError) as weights:
        resolve("wavcaps_weights", "clipclap-release")
    for part in ("HTSAT_BERT_zero_shot.pt", "AVZSL_WAVCAPS_WEIGHTS", "--wavcaps-weights", str(tmp_path / "avzsl"),
                 "github.com/XinhaoMei/WavCaps"):
        assert part in str(weights.value)
    with pytest.raises(WeightsNotFoundError) as bert:
        resolve("bert_dir", "clipclap-release")
    for part in ("vocab.txt", "AVZSL_BERT_DIR", "--bert-dir", "https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt"):
        assert part in str(bert.value)
    # ... and where the message says to put them, they are found
    (tmp_path / "avzsl" / "bert-base-uncased").mkdir(parents=True)
    (tmp_path / "avzsl" / "bert-base-uncased" / "vocab.txt").write_text("[PAD]\n")
    (tmp_path / "avzsl" / "HTSAT_BERT_zero_shot.pt").write_bytes(b"")
    assert resolve("bert_dir", "clipclap-release") == (tmp_path / "avzsl" / "bert-base-uncased" / "vocab.txt",)
    assert resolve("wavcaps_weights", "clipclap-release") == (tmp_path / "avzsl" / "HTSAT_BERT_zero_shot.pt",)
    monkeypatch.setenv("AVZSL_WAVCAPS_WEIGHTS", str(tmp_path / "nowhere.pt"))
    with pytest.raises(WeightsNotFoundError, match="nowhere.pt"):
        resolve("wavcaps_weights", "clipclap-release")
