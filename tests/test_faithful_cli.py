"""User paths through the command lines (exit codes, output files, output text), on tiny SYNTHETIC data:
resume in the middle of stage 1 and after Ctrl-C, --text-alignment sorted-keys where sorted keys and names
disagree (ActivityNet), evaluate --gamma."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avzsl import evaluate as evaluate_cli
from avzsl import train as train_cli
from avzsl.data.release import read_release
from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
from avzsl.training import protocol

QUICK = ["--epochs", "3", "--batches-per-epoch", "6", "--batch-size", "32", "--no-progress", "--device", "cpu"]


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    data = make_synthetic(SyntheticSpec(scale=0.05, seed=4, audio_dim=24, visual_dim=16,
                                        text_parts=(("clip", 16), ("clap", 24))))
    return write_release(data, tmp_path_factory.mktemp("cli") / "UCF")


@pytest.fixture(scope="module")
def straight(ucf, tmp_path_factory):
    """A run on `ucf` that nothing interrupted (read only by the tests)."""
    out = tmp_path_factory.mktemp("cli-runs") / "straight"
    assert train_cli.main(["--data", str(ucf), "--out", str(out), *QUICK]) == 0
    return out


def test_ctrl_c_in_the_middle_of_stage_one_exits_130_and_the_rerun_loses_nothing(ucf, straight, tmp_path, monkeypatch,
                                                                                 capsys):
    capsys.readouterr()

    real_epoch = protocol.StageTrainer.train_epoch
    calls = {"n": 0}

    def interrupted(self, model, optimizer, epoch):
        calls["n"] += 1
        if self.stage == 1 and epoch == 1:  # after stage-1 epoch 0 was saved: the user presses Ctrl-C
            raise KeyboardInterrupt
        return real_epoch(self, model, optimizer, epoch)

    monkeypatch.setattr(protocol.StageTrainer, "train_epoch", interrupted)
    resumed = tmp_path / "resumed"
    assert train_cli.main(["--data", str(ucf), "--out", str(resumed), *QUICK]) == 130
    state = json.loads((resumed / ".resume" / "stage1.json").read_text())
    assert state["epochs_done"] == 1 and not (resumed / "metrics.json").exists()

    calls["n"] = 0
    monkeypatch.setattr(protocol.StageTrainer, "train_epoch", real_epoch)
    assert train_cli.main(["--data", str(ucf), "--out", str(resumed), *QUICK]) == 0
    printed = json.loads(capsys.readouterr().out)  # the scores, and the calibration and best epoch chosen
    assert {k: printed[k] for k in ("val", "test")} == json.loads((straight / "metrics.json").read_text())
    assert json.loads((resumed / "metrics.json").read_text()) == json.loads((straight / "metrics.json").read_text())
    log = [json.loads(line) for line in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in log][:3] == [(1, 0), (1, 1), (1, 2)]  # epoch 0 kept, not redone


def test_evaluate_gamma_moves_predictions_between_seen_and_unseen(ucf, straight, capsys):
    results = {}
    for gamma in ("0", "1e6", "-1e6"):
        capsys.readouterr()
        assert evaluate_cli.main(["--checkpoint", str(straight), "--data", str(ucf), f"--gamma={gamma}", "--json",
                                  "--device", "cpu"]) == 0
        results[gamma] = json.loads(capsys.readouterr().out)
        assert results[gamma]["gamma"] == float(gamma)
    assert results["1e6"]["test"]["S"] == 0.0 and results["1e6"]["test"]["U"] >= results["0"]["test"]["U"]
    assert results["-1e6"]["test"]["U"] == 0.0 and results["-1e6"]["test"]["S"] >= results["0"]["test"]["S"]
    # ZSL does not depend on γ
    assert results["1e6"]["test"]["ZSL"] == results["0"]["test"]["ZSL"] == results["-1e6"]["test"]["ZSL"]


def test_sorted_keys_alignment_on_activitynet_through_train_and_evaluate(tmp_path, capsys):
    data = make_synthetic(SyntheticSpec(benchmark="ActivityNet", scale=0.01, seed=2, audio_dim=12, visual_dim=8,
                                        text_parts=(("clip", 8), ("clap", 12))))
    root = write_release(data, tmp_path / "ActivityNet")
    permuted = read_release(root, text_alignment="sorted-keys").text.embeddings
    assert np.any(np.abs(permuted - data.text.embeddings) > 1e-6, axis=1).sum() == 8  # reference §3.4
    out = tmp_path / "run"
    assert train_cli.main(["--data", str(root), "--dataset", "ActivityNet", "--text-alignment", "sorted-keys",
                           "--out", str(out), *QUICK]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["text_alignment"] == "sorted-keys" and config["data"]["text_alignment"] == "sorted-keys"
    # evaluate re-reads the data with the checkpoint's alignment and reproduces the training-time test figures
    capsys.readouterr()
    assert evaluate_cli.main(["--checkpoint", str(out), "--data", str(root), "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = json.loads((out / "metrics.json").read_text())["test"]
    for key in ("S", "U", "HM", "ZSL"):
        assert result["test"][key] == pytest.approx(expected[key], abs=1e-6)


# --- predict's text output and extract's flags, through the command lines only ------------------------------

@pytest.mark.slow
def test_predict_text_output_lists_every_label_in_the_json_ranking_order(capsys):
    from avzsl.predict import main as predict_main
    from tests.helpers import EXAMPLES

    labels = "bird chirping, car engine, playing drums"
    argv = [str(EXAMPLES / "bird.mp4"), "--labels", labels, "--encoders", "random", "--device", "cpu"]
    assert predict_main([*argv, "--json"]) == 0
    ranking = [s["label"] for s in json.loads(capsys.readouterr().out)["ranking"]]
    assert predict_main(argv) == 0
    text = capsys.readouterr().out
    assert "{" not in text  # a human-readable listing, not JSON
    positions = [text.find(label) for label in ranking]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), text  # best first, as in JSON


@pytest.mark.slow
def test_extract_cli_with_labels_csv_no_audio_silence_and_retry_failed(tmp_path, caplog):
    from avzsl.data.store import read_store
    from avzsl.extract import main as extract_main
    from avzsl.synthetic_media import write_test_video

    videos = tmp_path / "videos"
    videos.mkdir()
    rows = []
    # The fewest clips a random split (seed 0) of these classes takes: seen dog barking and rain 3 each (rain's
    # silent and broken files come on top), validation-unseen car engine 2, test-unseen playing drums 1.
    for c, (name, count) in enumerate({"dog barking": 3, "rain": 3, "playing drums": 1, "car engine": 2}.items()):
        for i in range(count):
            path = f"{c}_{i}.mp4"
            write_test_video(videos / path, seconds=1.0, width=32, height=24, fps=5, audio_hz=200 + 150 * c + 20 * i,
                             frame_fn=lambda k, t, s=30 * c + 10 * i: np.full((24, 32, 3), s, np.uint8))
            rows.append(f"{path},{name}")
    write_test_video(videos / "silent.mp4", seconds=1.0, width=32, height=24, fps=5, audio_hz=None)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 cut short")
    rows += ["silent.mp4,rain", "broken.mp4,rain"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    common = [str(videos), "--labels", str(tmp_path / "labels.csv"), "--random-split", "0", "--encoders", "random",
              "--device", "cpu", "--no-progress"]

    assert extract_main([*common, "--out", str(tmp_path / "kept"), "--no-audio", "silence"]) == 0
    kept = read_store(tmp_path / "kept")
    ids = {i for f in kept.subsets.values() for i in f.video_ids}
    assert any("silent" in i for i in ids) and not any("broken" in i for i in ids)
    assert "broken" in (tmp_path / "kept" / "failed.csv").read_text()

    assert extract_main([*common, "--out", str(tmp_path / "skipped")]) == 0  # default: silent videos are skipped
    failed = (tmp_path / "skipped" / "failed.csv").read_text()
    assert "silent" in failed and "broken" in failed
    write_test_video(videos / "broken.mp4", seconds=1.0, width=32, height=24, fps=5)  # the user repairs it
    # README: "--retry-failed tries the failed files again", also once the store is finished.
    assert extract_main([*common, "--out", str(tmp_path / "skipped"), "--retry-failed"]) == 0
    repaired = read_store(tmp_path / "skipped")
    assert any("broken" in i for f in repaired.subsets.values() for i in f.video_ids)


@pytest.mark.slow
def test_extract_cli_with_a_split_folder(tmp_path, caplog):
    """--splits DIR: the class roles come from the folder's lists, not from a random draw."""
    from avzsl.data.store import read_store
    from avzsl.extract import main as extract_main
    from avzsl.synthetic_media import write_test_video

    roles = {"Archery": "seen", "Bowling": "seen", "Diving": "val-unseen", "Surfing": "test-unseen"}
    clips = {"seen": 3, "val-unseen": 2, "test-unseen": 2}  # a seen class needs 3 (train, validation, test)
    videos = tmp_path / "videos"
    for c, name in enumerate(roles):
        (videos / name).mkdir(parents=True)
        for i in range(clips[roles[name]]):
            write_test_video(videos / name / f"{i}.mp4", seconds=1.0, width=32, height=24, fps=5,
                             audio_hz=220 + 110 * c + 10 * i,
                             frame_fn=lambda k, t, s=40 * c + 5 * i: np.full((24, 32, 3), s, np.uint8))
    split = tmp_path / "class-split"
    split.mkdir()
    seen = [n for n, r in roles.items() if r == "seen"]
    lists = {
        "all_class": [*roles, "Unused"],  # a class of the split without videos is allowed
        "stage_1_train": seen, "stage_1_val_seen": seen, "stage_1_val_unseen": ["Diving"],
        "stage_2_train": [*seen, "Diving"], "stage_2_test_seen": [*seen, "Diving"], "stage_2_test_unseen": ["Surfing"],
    }
    for name, classes in lists.items():
        (split / f"{name}.txt").write_text("\n".join(classes) + "\n")
    common = ["--splits", str(split), "--encoders", "random", "--device", "cpu", "--no-progress"]

    assert extract_main([str(videos), "--out", str(tmp_path / "store"), *common]) == 0
    data = read_store(tmp_path / "store")
    names = data.split.class_names
    assert [names[c] for c in data.split.lists["stage_2_test_unseen"]] == ["Surfing"]
    assert [names[c] for c in data.split.lists["stage_1_val_unseen"]] == ["Diving"]
    test_unseen = data.subsets["stage_2_test_unseen"]
    assert {names[c] for c in test_unseen.labels} == {"Surfing"} and len(test_unseen) == 2
    assert {names[c] for c in data.subsets["stage_1_train"].labels} == set(seen)

    (videos / "Cycling").mkdir()  # a class the split folder does not know: a clear error, nothing written
    write_test_video(videos / "Cycling" / "0.mp4", seconds=1.0, width=32, height=24, fps=5)
    assert extract_main([str(videos), "--out", str(tmp_path / "other"), *common]) == 2
    assert "not in" in caplog.text and "all_class.txt" in caplog.text and "Cycling" in caplog.text
    assert not (tmp_path / "other" / "store.json").exists()
