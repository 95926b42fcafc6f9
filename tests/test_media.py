"""avzsl.media on synthetic videos written into tmp_path: layouts, lengths, and every kind of bad file.

Frames carry their own index as a row of black/white blocks, so a test can read back exactly which frame
was decoded; audio tracks carry silent gaps at known times, so a test can read back where a window starts.
"""

import dataclasses
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from avzsl.media import (
    AUDIO_WINDOW_SECONDS,
    DEFAULT_SAMPLE_RATE,
    CorruptVideoError,
    EmptyVideoError,
    MediaError,
    MediaSegments,
    NotAVideoError,
    load_media,
)
from avzsl.synthetic_media import write_test_video
from tests.helpers import TONE_RMS, indexed_frames, read_index, rms, span

SR = DEFAULT_SAMPLE_RATE
N = round(AUDIO_WINDOW_SECONDS * SR)  # 480000


def tone_with_gaps(gaps: list[tuple[float, float]], hz: float = 440.0):
    """audio_fn: a 0.3-amplitude sine, silent inside each [start, stop) of `gaps` (seconds)."""

    def audio(t: np.ndarray) -> np.ndarray:
        x = 0.3 * np.sin(2 * np.pi * hz * t)
        for start, stop in gaps:
            x[(t >= start) & (t < stop)] = 0.0
        return x

    return audio


# ---------------------------------------------------------------------------------------------------------
# well-formed videos


def test_two_second_clip(tmp_path):
    path = write_test_video(
        tmp_path / "clip.mp4", seconds=2, width=160, height=120, frame_fn=indexed_frames(160, 120, 2)
    )
    media = load_media(path)

    assert isinstance(media, MediaSegments) and media.path == str(path) and media.kind == "video"
    assert len(media) == 1 and media.warnings == ()
    video = media[0]
    assert video.frame.shape == (120, 160, 3) and video.frame.dtype == np.uint8
    assert read_index(video.frame) == 25 and video.frame_time == pytest.approx(1.0)
    assert media.duration == pytest.approx(2.0, abs=0.05)

    assert video.audio is not None
    assert video.audio.shape == (N,) and video.audio.dtype == np.float32
    assert video.audio_seconds == pytest.approx(2.0, abs=0.03)
    assert rms(span(video.audio, 0.0, 0.1)) == pytest.approx(TONE_RMS, rel=0.1)  # starts at the start
    assert rms(span(video.audio, 0.1, 1.9)) == pytest.approx(TONE_RMS, rel=0.1)
    assert not video.audio[round(video.audio_seconds * SR) :].any()  # zero padding at the end
    spectrum = np.abs(np.fft.rfft(span(video.audio, 0.0, 1.0)))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # 1 s of audio: bin k is k Hz

    with pytest.raises(dataclasses.FrozenInstanceError):
        media.duration = 3.0


def test_sample_rate_and_window_are_parameters(tmp_path):
    """A second encoder preset wants 32 kHz audio: 320,000 samples for 10 s."""
    path = write_test_video(tmp_path / "clip.mp4", seconds=12, width=64, height=48, fps=5, audio_hz=1000.0)
    video = load_media(path, sample_rate=32_000, window_seconds=10.0)[0]
    assert video.audio.shape == (320_000,) and video.audio_seconds == pytest.approx(10.0)
    spectrum = np.abs(np.fft.rfft(video.audio[:32_000]))  # 1 s: bin k is k Hz
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)
    assert load_media(path, window_seconds=4.0)[0].audio.shape == (4 * SR,)
    with pytest.raises(ValueError, match="audio window"):
        load_media(path, window_seconds=0.0)


def test_clip_without_audio(tmp_path):
    path = write_test_video(tmp_path / "silent.mp4", seconds=1, width=64, height=48, audio_hz=None)
    media = load_media(path)
    video = media[0]
    assert video.audio is None and video.audio_seconds == 0.0
    assert not media.has_audio and media.kind == "video"
    assert video.frame.shape == (48, 64, 3)


def test_clip_shorter_than_a_second(tmp_path):
    path = write_test_video(
        tmp_path / "short.mp4", seconds=0.4, width=64, height=48, frame_fn=indexed_frames(64, 48, 0.4)
    )
    video = load_media(path)[0]
    assert read_index(video.frame) == 5 and video.frame_time == pytest.approx(0.2)
    assert video.audio_seconds == pytest.approx(0.4, abs=0.03)
    assert not video.audio[round(0.45 * SR) :].any()


def test_odd_frame_size(tmp_path):
    render = indexed_frames(96, 61, 1)  # blocks 6 px wide; the 97th column stays black

    def frame_fn(i, t):
        return np.pad(render(i, t), ((0, 0), (0, 1), (0, 0)))

    path = write_test_video(tmp_path / "odd.mp4", seconds=1, width=97, height=61, frame_fn=frame_fn)
    video = load_media(path)[0]
    assert video.frame.shape == (61, 97, 3) and video.frame.flags.c_contiguous
    assert read_index(video.frame[:, :96]) == 12  # 25 fps: frame 12 is on screen at 0.5 s


def test_rotation_metadata_is_applied(tmp_path):
    def frame_fn(i, t):  # 64 wide, 48 tall, red in the top-left corner
        img = np.zeros((48, 64, 3), np.uint8)
        img[:16, :16, 0] = 255
        return img

    src = write_test_video(tmp_path / "src.mp4", seconds=1, width=64, height=48, frame_fn=frame_fn)
    rotated = tmp_path / "rotated.mp4"
    with av.open(src) as inp, av.open(rotated, "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        stream.set_display_rotation(90)  # shown turned 90 degrees counter-clockwise, as phones record
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)

    frame = load_media(rotated)[0].frame
    assert frame.shape == (64, 48, 3)
    assert frame[-8:, :8, 0].mean() > 200  # the top-left corner turned CCW lands bottom-left


def test_container_without_duration(tmp_path):
    """Browser recordings (WebM/Matroska written to a pipe) carry no duration at all."""
    src = write_test_video(
        tmp_path / "src.mp4", seconds=3, width=64, height=48, fps=10, frame_fn=indexed_frames(64, 48, 3)
    )

    class Pipe:  # write-only, so the muxer cannot go back and fill in the duration
        def __init__(self, f):
            self.f = f

        def write(self, data):
            return self.f.write(data)

    recorded = tmp_path / "recorded.mkv"
    with open(recorded, "wb") as f, av.open(src) as inp, av.open(Pipe(f), "w", format="matroska") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    with av.open(recorded) as c:
        assert c.duration is None and c.streams.video[0].duration is None

    media = load_media(recorded)
    video = media[0]
    assert read_index(video.frame) == 15 and media.duration == pytest.approx(3.0, abs=0.11)
    assert video.audio_seconds == pytest.approx(3.0, abs=0.05)


# ---------------------------------------------------------------------------------------------------------
# long videos: only the middle is decoded, and it is the right middle

MINUTES_20 = 20 * 60.0
LONG_GAPS = [(594.0, 594.5), (600.0, 600.5), (603.0, 603.25)]  # the window is [595, 605)


@pytest.fixture(scope="module")
def twenty_minutes(tmp_path_factory):
    """64x48 at 2 fps with 8 kHz audio: the encoders write 20 minutes of it in about two seconds."""
    return write_test_video(
        tmp_path_factory.mktemp("long") / "twenty_minutes.mp4",
        seconds=MINUTES_20,
        width=64,
        height=48,
        fps=2,
        sample_rate=8000,
        frame_fn=indexed_frames(64, 48, MINUTES_20),
        audio_fn=tone_with_gaps(LONG_GAPS),
    )


def test_twenty_minute_clip_is_fast(tmp_path, twenty_minutes):
    short = write_test_video(tmp_path / "short.mp4", seconds=10, width=64, height=48, fps=2, sample_rate=8000)
    load_media(short)  # warm up
    started = time.perf_counter()
    load_media(short)
    short_seconds = time.perf_counter() - started
    started = time.perf_counter()
    load_media(twenty_minutes)
    long_seconds = time.perf_counter() - started
    # Decoding the whole file would take seconds; seeking takes milliseconds. Generous for loaded CI machines.
    assert long_seconds < max(1.0, 10 * short_seconds)


def test_twenty_minute_clip_middle_frame(twenty_minutes):
    media = load_media(twenty_minutes)
    video = media[0]
    assert media.duration == pytest.approx(MINUTES_20)
    assert video.frame_time == pytest.approx(600.0)
    assert read_index(video.frame) == 1200  # 2 fps
    assert video.frame[:20].mean() == pytest.approx(127.5, abs=4)  # brightness encodes t / duration


def test_twenty_minute_clip_audio_window(twenty_minutes):
    video = load_media(twenty_minutes)[0]
    audio = video.audio  # window [595, 605) s of the track
    assert audio.shape == (N,) and video.audio_seconds == pytest.approx(AUDIO_WINDOW_SECONDS)
    # the gaps at 600 s and 603 s land 5 s and 8 s into the window, to within 20 ms
    for start, stop in [(5.0, 5.5), (8.0, 8.25)]:
        assert rms(span(audio, start + 0.02, stop - 0.02)) < 0.01
        assert rms(span(audio, start - 0.1, start - 0.02)) == pytest.approx(TONE_RMS, rel=0.15)
        assert rms(span(audio, stop + 0.02, stop + 0.1)) == pytest.approx(TONE_RMS, rel=0.15)
    # the gap at 594 s is outside; everything else is tone, up to the very end of the window
    assert rms(span(audio, 0.0, 4.98)) == pytest.approx(TONE_RMS, rel=0.1)
    assert rms(span(audio, 9.9, 10.0)) == pytest.approx(TONE_RMS, rel=0.1)


def test_long_audio_is_centre_cropped(tmp_path):
    path = write_test_video(
        tmp_path / "thirty.mp4",
        seconds=30,
        width=64,
        height=48,
        fps=2,
        audio_fn=tone_with_gaps([(9.5, 10.0), (15.0, 15.5)]),
    )
    window = load_media(path)[0]  # window [10, 20) s, decoded after a seek
    audio, seconds = window.audio, window.audio_seconds
    assert seconds == pytest.approx(AUDIO_WINDOW_SECONDS)
    assert rms(span(audio, 5.02, 5.48)) < 0.01  # the gap at 15 s
    assert rms(span(audio, 0.0, 4.98)) == pytest.approx(TONE_RMS, rel=0.1)  # the gap at 9.5 s is outside

    # the same samples as decoding the whole track (a window longer than it) and cropping its centre
    whole = load_media(path, window_seconds=40.0)[0]
    whole, whole_seconds = whole.audio, whole.audio_seconds
    length = round(whole_seconds * SR)
    assert length == 30 * SR
    expected = whole[length // 2 - N // 2 : length // 2 + N // 2]
    np.testing.assert_allclose(audio, expected, atol=1e-3)


def test_stereo_audio_is_averaged_to_mono(tmp_path):
    path = tmp_path / "stereo.wav"
    t = np.arange(44_100) / 44_100
    left = 0.8 * np.sin(2 * np.pi * 300 * t)
    sf.write(path, np.stack([left, left], axis=1), 44_100)
    sound = load_media(path)[0]
    audio, seconds = sound.audio, sound.audio_seconds
    assert seconds == pytest.approx(1.0, abs=1e-3)
    assert np.abs(audio).max() == pytest.approx(0.8, abs=0.02)  # not 0.8 * 2 at -3 dB = 1.13


# ---------------------------------------------------------------------------------------------------------
# bad files


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.mp4"
    with pytest.raises(FileNotFoundError, match="No such media file: .*nowhere.mp4"):
        load_media(path)


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(EmptyVideoError, match="empty.mp4"):
        load_media(path)


def test_text_file_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 50)
    with pytest.raises(NotAVideoError, match="notes.mp4 is not a video, sound or picture file"):
        load_media(path)


def test_directory(tmp_path):
    with pytest.raises(NotAVideoError, match="directory"):
        load_media(tmp_path)


@pytest.fixture
def clip_bytes(tmp_path) -> bytes:
    with open(write_test_video(tmp_path / "good.mp4", seconds=4, width=160, height=120), "rb") as f:
        return f.read()


def test_a_file_cut_short_that_plays_is_read_from_the_part_that_plays(tmp_path):
    """A download stopped half-way: the index is at the front (faststart), so a player shows the file up to
    the cut, and so does avzsl: the middle moment is that of the part that plays, with a warning."""
    seconds = 4
    whole = write_test_video(tmp_path / "whole.mp4", seconds=seconds, width=160, height=120, fps=25,
                             frame_fn=indexed_frames(160, 120, seconds))
    data = Path(whole).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])  # index intact, media cut half-way
    with av.open(path) as container:
        stated = float(container.streams.video[0].duration * container.streams.video[0].time_base)
    assert stated == pytest.approx(seconds, abs=0.05)  # the header still promises the whole clip

    media = load_media(path)
    plays = media.duration
    assert 0.5 < plays < 0.9 * seconds  # the part that plays, not the stated length
    assert len(media.warnings) == 1 and "cut short" in media.warnings[0] and f"of {seconds:.1f} s" in media.warnings[0]
    video = media[0]
    assert video.frame_time == pytest.approx(plays / 2, abs=0.05)
    assert read_index(video.frame) == round(video.frame_time * 25)  # the frame then on screen
    assert video.audio is not None and 0 < video.audio_seconds <= plays + 0.1

    four = load_media(path, 4)  # every moment inside the part that plays
    assert [s.time_s for s in four] == pytest.approx([plays * (2 * i + 1) / 8 for i in range(4)])
    assert all(s.frame_time <= plays for s in four)
    assert load_media(whole).warnings == ()  # a whole file has nothing to say


def test_a_long_file_cut_short_takes_its_audio_window_from_the_part_that_plays(tmp_path):
    whole = write_test_video(tmp_path / "whole.mp4", seconds=40, width=64, height=48, fps=2, sample_rate=8000,
                             frame_fn=indexed_frames(64, 48, 40))
    data = Path(whole).read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    media = load_media(path, window_seconds=5.0)
    [warning] = media.warnings  # one line for the file, though both streams stop early
    assert "cut short" in warning and "of 40.0 s" in warning
    video = media[0]
    assert video.audio_seconds == pytest.approx(5.0, abs=0.01)  # a whole window, no padding
    assert video.audio_start_s + video.audio_seconds < media.duration + 0.5


def test_truncated_before_the_index(tmp_path, clip_bytes):
    path = tmp_path / "stub.mp4"
    path.write_bytes(clip_bytes[:200])  # an MP4 header, then nothing
    with pytest.raises(CorruptVideoError, match="stub.mp4 looks like a media file"):
        load_media(path)


@pytest.mark.parametrize("size", [1, 3, 40])  # inside the 4-byte EBML magic, and just after it
def test_webm_cut_short_is_reported_as_truncated(tmp_path, size):
    """A browser recording whose upload stopped after a few bytes (seen with Gradio's webcam recorder)."""
    path = tmp_path / "sample.webm"
    path.write_bytes((b"\x1a\x45\xdf\xa3" + bytes(range(60)))[:size])
    with pytest.raises(CorruptVideoError, match=f"sample.webm looks like a media file .*\\({size} bytes?\\).*truncated"):
        load_media(path)


def test_text_starting_like_no_container_is_not_a_video(tmp_path):
    path = tmp_path / "notes.webm"
    path.write_bytes(b"\x1b")  # one byte, but not the start of any container signature
    with pytest.raises(NotAVideoError, match="notes.webm is not a video, sound or picture file"):
        load_media(path)


def test_garbled_mp4(tmp_path, clip_bytes):
    data = bytearray(clip_bytes)
    quarter = len(data) // 4
    data[quarter:-quarter] = np.random.default_rng(0).bytes(len(data) - 2 * quarter)
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptVideoError, match="garbled.mp4"):
        load_media(path)


def test_errors_are_value_errors():
    for error in (NotAVideoError, CorruptVideoError, EmptyVideoError):
        assert issubclass(error, MediaError) and issubclass(error, ValueError)


# ---------------------------------------------------------------------------------------------------------
# the example clips


def test_make_examples(tmp_path):
    import csv

    from examples.make_examples import main

    main(["--out", str(tmp_path)])
    with open(tmp_path / "examples.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 4 and all(row["source"].startswith("synthetic") for row in rows)
    assert {row["kind"] for row in rows} == {"video", "audio"}
    for row in rows:
        path = tmp_path / row["file"]
        assert path.stat().st_size < 1_000_000
        media = load_media(path)
        assert media.kind == row["kind"]
        if media.kind == "video":
            assert media[0].frame.shape == (240, 320, 3)
        assert media.has_audio == (row["has_audio"] == "yes")
        if media.has_audio:
            assert 0.05 < np.abs(media[0].audio).max() <= 1.0


def test_the_multi_scene_example_changes_scene_and_sound_every_12_seconds():
    """Segment k of 4 of examples/scenes.mp4 shows and sounds like the k-th single-scene example."""
    from examples.make_examples import SCENES, SCENES_FILE

    folder = Path(__file__).parent.parent / "examples"
    segments = load_media(folder / SCENES_FILE, len(SCENES))
    assert segments.duration == pytest.approx(48.0, abs=0.1) and segments.has_audio
    singles = [load_media(folder / example.file)[0] for example in SCENES]

    def spectrum(audio):  # (n,) -> (bins,) magnitudes in 50 Hz bands up to 6 kHz, unit length
        bands = np.abs(np.fft.rfft(audio[: 4 * SR]))[: 4 * 6000].reshape(-1, 200).sum(axis=1)
        return bands / np.linalg.norm(bands)

    for k, segment in enumerate(segments):
        assert segment.audio_start_s >= k * 12.0 and segment.audio_start_s + segment.audio_seconds <= (k + 1) * 12.0 + 0.05
        picture = [np.abs(segment.frame.astype(int) - single.frame).mean() for single in singles]
        sound = [spectrum(segment.audio) @ spectrum(single.audio) for single in singles]
        assert np.argmin(picture) == k and np.argmax(sound) == k, (picture, sound)
