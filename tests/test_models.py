"""Model architectures, metrics and the registry."""

import numpy as np
import pytest
import torch

from avzsl.models.base import Batch, InputDims
from avzsl.models.registry import create_model, get_recipe, list_models
from avzsl.training.metrics import gzsl_metrics

RELEASE_DIMS = InputDims(audio=1024, visual=512, text_parts=(("clip", 512), ("clap", 1024)))  # WavCaps CLAP
LAION_DIMS = InputDims(audio=512, visual=512, text_parts=(("clip", 512), ("clap", 512)))  # laion_clap


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_clipclap_parameter_counts_match_the_reference():
    assert n_params(create_model("clipclap", RELEASE_DIMS)) == 2_237_824
    # the paper's ablations (reference §5.2)
    assert n_params(create_model("clipclap", RELEASE_DIMS, modality="audio")) == 1_713_536
    assert n_params(create_model("clipclap", RELEASE_DIMS, text="clip")) == 1_713_536
    assert n_params(create_model("clipclap", RELEASE_DIMS, text="clap")) == 1_975_680
    assert n_params(create_model("clipclap", RELEASE_DIMS, modality="visual")) == 1_189_248


def test_avca_parameter_count_matches_the_papers_clip_clap_variant():
    model = create_model("avca", RELEASE_DIMS)
    assert n_params(model) == 2_416_952  # reference §6.5: 1,955,252 + a 1536 -> 300 text encoder
    assert not model.modality_embedding.requires_grad  # frozen, as in the reference


def test_input_sizes_come_from_the_data():
    model = create_model("clipclap", LAION_DIMS)
    assert model.O_enc[0].in_features == 1024 and model.W_enc[0].in_features == 1024


def test_recipes_carry_the_per_benchmark_schedules():
    assert get_recipe("clipclap", "UCF").training.lr == 7e-5
    assert get_recipe("clipclap", "VGGSound").training.epochs == 15
    assert get_recipe("avca", "VGGSound").config.decoder_dropout == 0.0
    assert get_recipe("avca").training.gamma_grid == (0.0, 3.0, 16)
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        get_recipe("nope")


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_and_embeds(name):
    torch.manual_seed(0)
    model = create_model(name, LAION_DIMS)
    b, k = 16, 5
    target = torch.arange(b) % k
    class_text = torch.nn.functional.normalize(torch.randn(k, LAION_DIMS.text), dim=1)
    batch = Batch(torch.randn(b, 512), torch.randn(b, 512), class_text[target], target,
                  torch.randn(b, 512), torch.randn(b, 512), class_text[(target + 1) % k])
    losses = model.training_losses(batch, class_text)
    assert losses["loss"].ndim == 0 and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        audio, visual = torch.randn(3, 512), torch.randn(3, 512)
        assert model.class_distances(audio, visual, class_text).shape == (3, k)
        # Validation embeds the videos once for both of its class sets: the same numbers as one call per set, and
        # as the distances the prediction service reads from joint_scores (CoGe writes both paths itself).
        together = model.distances_to_sets(audio, visual, [class_text, class_text[2:]])
        for text, distances in zip((class_text, class_text[2:]), together):
            assert torch.equal(distances, model.class_distances(audio, visual, text))
            assert torch.equal(distances, model.joint_scores(audio, visual, text).distances)


def test_metrics_on_a_hand_made_case():
    # classes 0, 1 seen; 2 unseen. Distances favour seen classes; γ = 0.5 flips the unseen sample right.
    d = np.array([[0.1, 0.9, 0.9],   # label 0: stays right while γ < 0.8
                  [0.9, 0.1, 0.9],   # label 1
                  [0.2, 0.9, 0.6]])  # label 2: predicted 0 without calibration
    labels = np.array([0, 1, 2])
    m0 = gzsl_metrics(d, labels, np.array([0, 1, 2]), np.array([0, 1]), np.array([2]), 0.0)
    assert (m0.S, m0.U, m0.HM, m0.ZSL) == (100.0, 0.0, 0.0, 100.0)
    m = gzsl_metrics(d, labels, np.array([0, 1, 2]), np.array([0, 1]), np.array([2]), np.linspace(0, 1, 11))
    assert m.gamma == pytest.approx(0.5)  # first grid γ > 0.4, where the unseen sample wins
    assert (m.S, m.U) == (100.0, 100.0) and m.HM == pytest.approx(100.0)
