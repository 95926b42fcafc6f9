"""Building the towers without paying for initialisation (avzsl.encoders.state).

Real weights: the big stacks are built empty and the file's tensors are assigned; the result must be
exactly what the old way gives (initialise, then copy the file in). Random weights (a test mode): seeded
draws; same seed, same weights in any process. No torch function is replaced on the way.
"""

import numpy as np
import pytest
import torch

from avzsl.encoders import get_preset, load_encoders
from avzsl.encoders.state import empty, fill_random, seeded
from avzsl.encoders.weights import WeightsFormatError
from tests.helpers import state_digest

ORIGINALS = (torch.Tensor.uniform_, torch.Tensor.normal_, torch.rand, torch.randn, torch.nn.init.normal_)

CPU = torch.device("cpu")
LAION_AUDIO = get_preset("laion-clap").audio


@pytest.fixture(scope="module")
def enc():
    return load_encoders("random")


def _frames():
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(3)]


def _waveforms():
    rng = np.random.default_rng(6)
    return (0.1 * rng.standard_normal((2, 480_000))).astype(np.float32)


def _assert_same_tensors(new: torch.nn.Module, old: torch.nn.Module):
    """Every parameter and buffer, persistent or not (masks, position ids, mel filters), is equal."""
    new_tensors = dict(new.named_parameters()) | dict(new.named_buffers())
    old_tensors = dict(old.named_parameters()) | dict(old.named_buffers())
    assert new_tensors.keys() == old_tensors.keys()
    for name, value in new_tensors.items():
        assert value.device.type == "cpu" and value.dtype == old_tensors[name].dtype, name
        assert torch.equal(value, old_tensors[name]), name


def test_real_weights_clip_matches_loading_the_old_way(enc, tmp_path):
    import open_clip
    from safetensors.torch import save_file

    from avzsl.encoders.clip import ClipTower

    path = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in enc.clip.model.state_dict().items()}, str(path))
    new = ClipTower.build("ViT-B-32", "openai", path, seed=0, device=CPU)
    old = open_clip.create_model("ViT-B-32", pretrained=str(path), force_quick_gelu=True).eval()  # initialise + copy
    _assert_same_tensors(new.model, old)
    assert new.model.attn_mask is not None and torch.isinf(new.model.attn_mask).any()  # a real causal mask
    frames = _frames()
    np.testing.assert_array_equal(new.embed_images(frames).numpy(), enc.clip.embed_images(frames).numpy())
    with torch.inference_mode():
        tokens = new.tokenizer(["a dog barking", "x"])
        expected = torch.nn.functional.normalize(old.encode_text(tokens), dim=-1)
    np.testing.assert_array_equal(new.encode_text_reference(["a dog barking", "x"]).numpy(), expected.numpy())


def test_real_weights_clap_matches_loading_the_old_way(enc, tmp_path, monkeypatch):
    from transformers import RobertaConfig, RobertaModel

    from avzsl.encoders.clap import _ROBERTA_BASE, ClapTower, _clap_module

    path = tmp_path / "clap.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in enc.clap.model.state_dict().items()}}, path)
    new = ClapTower.build(LAION_AUDIO, path, seed=0, device=CPU)
    cm = _clap_module()

    class Initialised:  # the old way: roberta built initialised, then the weights copied in
        @staticmethod
        def from_pretrained(*_args, **_kwargs):
            return RobertaModel(RobertaConfig(**_ROBERTA_BASE))

    monkeypatch.setattr(cm.model, "RobertaModel", Initialised)
    old, _ = cm.factory.create_model("HTSAT-tiny", "roberta", pretrained="", precision="fp32", enable_fusion=False)
    old.load_state_dict(enc.clap.model.state_dict(), strict=True)
    _assert_same_tensors(new.model, old.eval())
    waves = _waveforms()
    np.testing.assert_array_equal(new.embed_audio(waves).numpy(), enc.clap.embed_audio(waves).numpy())
    prompts = ["the sound of a dog barking", "x"]
    np.testing.assert_array_equal(new.encode_text(prompts).numpy(), enc.clap.encode_text(prompts).numpy())


def test_strict_loading_still_names_the_missing_tensor(enc, tmp_path):
    from safetensors.torch import save_file

    from avzsl.encoders.clip import ClipTower

    state = {k: v.contiguous() for k, v in enc.clip.model.state_dict().items() if k != "text_projection"}
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(WeightsFormatError, match="text_projection"):
        ClipTower.build("ViT-B-32", "openai", tmp_path / "partial.safetensors", seed=0, device=CPU)


@pytest.mark.slow  # a second process builds the towers: about 10 s, shared with test_frontend.py
def test_random_weights_are_the_same_in_another_process(enc, encoders_in_a_new_process):
    built = encoders_in_a_new_process
    assert (built["clip"], built["clap"]) == (state_digest(enc.clip.model), state_digest(enc.clap.model))


def test_empty_builds_draw_nothing():
    state = torch.random.get_rng_state()
    layers = empty(lambda: torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Embedding(10, 8), torch.nn.LayerNorm(8)))
    assert torch.equal(torch.random.get_rng_state(), state)  # not one random draw was made
    assert all(p.device.type == "cpu" for p in layers.parameters())


def test_the_seed_decides_the_weights_and_the_callers_rng_is_untouched():
    def layers(seed):
        with seeded(seed):
            built = empty(lambda: torch.nn.Sequential(torch.nn.Linear(300, 200), torch.nn.LayerNorm(200)))
            fill_random(built, seed)
            return built, torch.randn(50)

    state = torch.random.get_rng_state()
    (a, ra), (b, rb), (c, rc) = layers(1), layers(1), layers(2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a[0].weight, b[0].weight) and torch.equal(ra, rb)
    assert not torch.equal(a[0].weight, c[0].weight) and not torch.equal(ra, rc)
    assert 0.018 < float(a[0].weight.std()) < 0.022 and not a[0].bias.any()  # N(0, 0.02), zero biases
    assert torch.equal(a[1].weight, torch.ones(200)) and not a[1].bias.any()  # norms: ones and zeros


def test_torch_functions_are_the_originals_after_real_and_random_builds(enc, tmp_path):
    """Library code never replaces torch's functions: none is swapped, and no torch-function mode is left on."""
    from avzsl.encoders.clap import ClapTower

    path = tmp_path / "clap.pt"
    torch.save({"state_dict": dict(enc.clap.model.state_dict()), "optimizer": {"state": {}}}, path)
    ClapTower.build(LAION_AUDIO, path, seed=0, device=CPU)  # a real-format load
    load_encoders("clipclap-release:random")  # and a random build
    now = (torch.Tensor.uniform_, torch.Tensor.normal_, torch.rand, torch.randn, torch.nn.init.normal_)
    assert all(a is b for a, b in zip(now, ORIGINALS))
    assert "uniform_" not in torch.Tensor.__dict__ and "normal_" not in torch.Tensor.__dict__
    assert not torch.overrides._get_current_function_mode_stack()


def test_random_weights_keep_the_modules_own_scheme_and_are_not_degenerate(enc):
    clip, clap = enc.clip.model, enc.clap.model
    assert torch.equal(clip.ln_final.weight, torch.ones_like(clip.ln_final.weight))  # norms: ones / zeros
    assert not clip.ln_final.bias.any()
    emb = clip.token_embedding.weight  # (49408, 512), far more values than the pool: no two rows are equal
    assert torch.unique(emb, dim=0).shape[0] == emb.shape[0]
    assert 0.015 < float(emb.detach().std()) < 0.025  # open_clip's normal(std=0.02)
    roberta = clap.text_branch.embeddings.word_embeddings.weight
    assert 0.015 < float(roberta.detach().std()) < 0.025  # roberta's initializer_range
    # Computed front ends are not random: the mel filters are non-negative triangles.
    mel = clap.audio_branch.logmel_extractor.melW
    assert (mel >= 0).all() and mel.sum() > 0

    images = enc.embed_images(_frames())
    audio = enc.embed_audio(_waveforms())
    text = enc.embed_labels(["dog barking", "playing guitar", "car engine"])
    for x in (images, audio, text.clip, text.clap):
        assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
        cosines = x @ x.T
        assert (cosines[~np.eye(len(x), dtype=bool)] < 0.9999).all()  # distinct inputs, distinct vectors
