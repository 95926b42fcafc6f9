"""Faithfulness of the data side: the discriminative SYNTHETIC benchmark and the release reader's naming."""

import numpy as np
import pytest

from avzsl.data.errors import DataError
from avzsl.data.loading import open_data
from avzsl.data.release import read_release
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release


@pytest.fixture(scope="module")
def tiny_ucf():
    return make_synthetic(SyntheticSpec(scale=0.03, seed=5, audio_dim=24, visual_dim=16,
                                        text_parts=(("clip", 16), ("clap", 24))))


@pytest.mark.parametrize("folder", ["ucf-gzsl", "features-2024"])
def test_release_root_not_named_like_the_benchmark_reads_the_benchmarks_name_csv(tiny_ucf, tmp_path, folder):
    """Issue 11: data/ucf-gzsl lost ucf_clip_class_names.csv, so training failed with 'no vector for
    ['ApplyEyeMakeup', ...]'. --dataset UCF decides the CSV and its column; without it, the CSV present does."""
    root = write_release(tiny_ucf, tmp_path / folder)
    for dataset in ("UCF", None):
        data = read_release(root, dataset)
        assert data.name == "UCF"
        assert data.split.prompt_names[data.split.index("ApplyEyeMakeup")] == "Apply Eye Makeup"
        np.testing.assert_allclose(data.text.embeddings, tiny_ucf.text.embeddings, atol=1e-7)
    assert open_data(root, "UCF").name == "UCF"


def test_release_with_dataset_but_without_its_name_csv_says_so(tiny_ucf, tmp_path):
    root = write_release(tiny_ucf, tmp_path / "somewhere")
    (root / "class-split" / "ucf_clip_class_names.csv").unlink()
    with pytest.raises(DataError, match="no ucf_clip_class_names.csv"):
        read_release(root, "UCF")
