"""Beyond the middle moment: segments over the whole file, sound files, pictures, and folders.

Through `python -m avzsl.predict` (in-process `main(argv)`) and the service, with random-weight encoders.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from avzsl.predict import main
from avzsl.serving.service import LabelError, create_service, pool_segments
from tests.helpers import COGE, EXAMPLES

pytestmark = pytest.mark.slow

LABELS = "bird chirping, car engine, playing drums, playing piano"
RANDOM = ["--encoders", "random", "--device", "cpu"]


def run_json(capsys, *args) -> dict:
    code = main([*map(str, args), "--labels", LABELS, *RANDOM, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.fixture(scope="module")
def service():
    return create_service("random", EXAMPLES / "no-checkpoints-here")


def by_label(scores: list[dict]) -> dict[str, float]:
    return {s["label"]: s["distance"] for s in scores}


def test_segments_span_the_video_and_the_answer_pools_them(capsys):
    result = run_json(capsys, EXAMPLES / "scenes.mp4", "--segments", "4")
    segments = result["segments"]
    assert len(segments) == 4
    assert segments[0]["start_s"] == 0 and segments[-1]["end_s"] == pytest.approx(48.0, abs=0.1)  # four 12 s scenes
    for before, after in zip(segments, segments[1:]):
        assert before["end_s"] == pytest.approx(after["start_s"])  # contiguous equal parts
    assert [s["end_s"] - s["start_s"] for s in segments] == pytest.approx([12.0] * 4, abs=0.05)
    per_segment = np.array([[by_label(s["ranking"])[label] for label in LABELS.split(", ")] for s in segments])
    assert len({tuple(row) for row in per_segment.round(6)}) == 4  # each scene is its own picture and sound
    overall = by_label(result["ranking"])
    # Each label's overall distance is its best moment's (see prediction.pool_segments).
    assert [overall[label] for label in LABELS.split(", ")] == pytest.approx(per_segment.min(axis=0).tolist())


def test_one_segment_is_the_middle_moment(capsys, service):
    result = run_json(capsys, EXAMPLES / "bird.mp4")
    assert len(result["segments"]) == 1 and result["segments"][0]["ranking"] == result["ranking"]
    prediction = service.classify(EXAMPLES / "bird.mp4", LABELS.split(", "))
    from avzsl.media import load_media

    np.testing.assert_array_equal(prediction.frame, load_media(EXAMPLES / "bird.mp4")[0].frame)


def test_a_half_downloaded_video_that_plays_is_classified_from_the_part_that_plays(capsys, service, tmp_path):
    """Issue 18: an MP4 cut in half, its index at the front, plays up to the cut: it is classified from that
    part (the middle frame of what plays), with a warning saying so, instead of being refused."""
    from avzsl.media import load_media

    data = (EXAMPLES / "scenes.mp4").read_bytes()  # 48 s, index at the front (faststart)
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    prediction = service.classify(half, LABELS.split(", "))
    [warning] = [w for w in prediction.warnings if "cut short" in w]
    assert "of 48.0 s" in warning
    assert prediction.segments[0].end_s < 40  # the part that plays, not the stated 48 s
    np.testing.assert_array_equal(prediction.frame, load_media(half)[0].frame)
    result = run_json(capsys, half)  # the CLI answers too, with the warning
    assert any("cut short" in w for w in result["warnings"])


def test_pooling_takes_each_labels_best_segment():
    distances = np.array([[0.2, 0.9], [0.7, 0.1], [0.5, 0.5]])
    assert pool_segments(distances).tolist() == [0.2, 0.1]
    assert pool_segments(distances[:1]).tolist() == [0.2, 0.9]


@pytest.mark.parametrize("make", ["mp3", "wav"])
def test_a_sound_file_is_classified_by_its_sound(capsys, tmp_path, make):
    if make == "mp3":
        path = EXAMPLES / "piano.mp3"
    else:
        import soundfile

        path = tmp_path / "tone.wav"
        t = np.arange(48_000 * 3) / 48_000
        soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48_000)
    result = run_json(capsys, path)
    assert result["kind"] == "audio" and result["has_audio"] is True
    assert set(result["modalities"]) == {"audio"}
    assert result["ranking"] == result["modalities"]["audio"]  # the sound alone decides
    assert any("sound file" in w and "sound alone" in w for w in result["warnings"])
    assert "clip_image" not in result["timings_ms"] and "clap_audio" in result["timings_ms"]


def test_a_picture_is_classified_by_the_picture(capsys, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[:, None, None], (1, 80, 3))).save(path)
    result = run_json(capsys, path, "--segments", "3")
    assert result["kind"] == "image" and result["has_audio"] is False
    assert set(result["modalities"]) == {"visual"} and result["ranking"] == result["modalities"]["visual"]
    assert len(result["segments"]) == 1  # a picture has no time
    assert any("picture alone" in w for w in result["warnings"])


def test_a_sound_file_with_a_checkpoint_and_impossible_modalities(service, coge_checkpoints):
    from avzsl.serving.service import PredictionService

    trained = PredictionService(service.encoders, checkpoints_dir=coge_checkpoints)
    prediction = trained.classify(EXAMPLES / "piano.mp3", LABELS.split(", "), COGE)
    assert prediction.kind == "audio" and all(type(s.seen) is bool for s in prediction.ranking)
    with pytest.raises(LabelError, match="Picture only was chosen, but this sound file has no picture"):
        service.classify(EXAMPLES / "piano.mp3", ["a", "b"], modality="visual")
    with pytest.raises(LabelError, match="whole number from 1"):
        service.classify(EXAMPLES / "bird.mp4", ["a", "b"], segments=0)


def test_a_folder_gives_a_row_per_file_and_carries_on_after_a_broken_one(capsys, tmp_path):
    folder = tmp_path / "videos"
    (folder / "more").mkdir(parents=True)
    for name in ("bird.mp4", "piano.mp3"):
        (folder / name).write_bytes((EXAMPLES / name).read_bytes())
    (folder / "more" / "car.mp4").write_bytes((EXAMPLES / "car.mp4").read_bytes())
    (folder / "more" / "broken.mp4").write_bytes(b"not a video at all")
    (folder / "notes.txt").write_text("not media, not listed")
    out = tmp_path / "ranked.csv"
    assert main([str(folder), "--labels", LABELS, *RANDOM, "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["file"] for r in rows] == ["bird.mp4", "more/broken.mp4", "more/car.mp4", "piano.mp3"]
    broken = rows[1]
    assert "broken.mp4" in broken["error"] and broken["label_1"] == ""
    for row in (rows[0], rows[2], rows[3]):
        assert row["error"] == "" and row["label_1"] in LABELS.split(", ")
        assert float(row["confidence_1"]) >= float(row["confidence_2"]) >= float(row["confidence_3"])
    assert [r["kind"] for r in rows] == ["video", "", "video", "audio"]
    capsys.readouterr()

    assert main([str(folder), "--labels", LABELS, *RANDOM, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [r["file"] for r in rows]
    assert "error" in lines[1] and lines[0]["ranking"][0]["rank"] == 1


def test_an_empty_folder_is_an_error(tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--labels", LABELS, *RANDOM]) == 2
    assert "holds no video, sound or picture files" in caplog.text
