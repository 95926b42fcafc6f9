"""avzsl.media.load_media(path, N): N evenly spaced moments, each with its own frame and audio window.

The 3-hour video is made cheap honestly: 64x48 pixels, one frame every 10 s (1,080 frames, long GOPs as
x264 makes them) and 1 kHz 8-bit PCM sound in a .mov, which costs nothing to encode: about a second to
write. Frames carry their index in binary blocks (tests.helpers.indexed_frames); the sound is a tone
whose pitch says which eighth of the video it is in, silent for 0.25 s from each eighth's centre.
"""

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from avzsl.media import (
    DEFAULT_SAMPLE_RATE,
    MediaSegments,
    Segment,
    load_media,
)
from avzsl.synthetic_media import write_test_video
from tests.helpers import TONE_RMS, indexed_frames, read_index, rms, span

SR = DEFAULT_SAMPLE_RATE
HOURS_3 = 3 * 3600.0
PARTS = 8
PART = HOURS_3 / PARTS  # 1350 s
GAP = 0.25  # seconds of silence from each part's centre


def part_hz(part: int) -> float:
    return 100.0 + 40.0 * part  # 100 .. 380 Hz, under the 500 Hz a 1 kHz track can hold


def marked_tone(t: np.ndarray) -> np.ndarray:
    part = np.minimum(t // PART, PARTS - 1)
    x = 0.3 * np.sin(2 * np.pi * part_hz(part) * t)
    since_centre = t - (part + 0.5) * PART
    x[(since_centre >= 0) & (since_centre < GAP)] = 0.0
    return x


@pytest.fixture(scope="module")
def three_hours(tmp_path_factory):
    return write_test_video(
        tmp_path_factory.mktemp("hours") / "three_hours.mov",
        seconds=HOURS_3,
        width=64,
        height=48,
        fps=Fraction(1, 10),
        sample_rate=1000,
        audio_codec="pcm_u8",
        frame_fn=indexed_frames(64, 48, HOURS_3),
        audio_fn=marked_tone,
    )


def test_segments_span_the_video(three_hours):
    segments = load_media(three_hours, PARTS)
    assert isinstance(segments, MediaSegments) and segments.kind == "video" and len(segments) == PARTS
    assert segments.duration == pytest.approx(HOURS_3)
    assert all(isinstance(s, Segment) for s in segments)
    assert [s.index for s in segments] == list(range(PARTS))
    assert segments[0].start_s == 0.0 and segments[-1].end_s == pytest.approx(HOURS_3)
    for s in segments:
        assert s.end_s - s.start_s == pytest.approx(PART)
        assert s.time_s == pytest.approx((s.start_s + s.end_s) / 2)
    for a, b in zip(segments.segments, segments.segments[1:]):
        assert a.end_s == pytest.approx(b.start_s)


def test_each_segment_frame_comes_from_its_own_time(three_hours):
    segments = load_media(three_hours, PARTS)
    for s in segments:
        on_screen = int(s.time_s // 10)  # a frame every 10 s: the last one at or before the moment
        assert read_index(s.frame) == on_screen, s
        assert s.frame_time == pytest.approx(10.0 * on_screen)
        assert s.frame[:20].mean() == pytest.approx(255 * s.frame_time / HOURS_3, abs=3)  # brightness too
    assert np.stack([s.frame for s in segments]).shape == (PARTS, 48, 64, 3)


def test_each_segment_audio_window_is_centred_on_its_moment(three_hours):
    segments = load_media(three_hours, PARTS)
    assert np.stack([s.audio for s in segments]).shape == (PARTS, 10 * SR)
    for i, s in enumerate(segments):
        assert s.audio is not None and s.audio_seconds == pytest.approx(10.0)
        assert s.audio_start_s == pytest.approx(s.time_s - 5.0)
        # the gap at the moment lands 5 s into the window, to within 20 ms
        assert rms(span(s.audio, 5.0 + 0.02, 5.0 + GAP - 0.02)) < 0.01, i
        assert rms(span(s.audio, 4.8, 4.98)) == pytest.approx(TONE_RMS, rel=0.15)
        assert rms(span(s.audio, 5.0 + GAP + 0.02, 5.5)) == pytest.approx(TONE_RMS, rel=0.15)
        # and the pitch is this part's: 4 s of audio, so bin k is k / 4 Hz
        spectrum = np.abs(np.fft.rfft(span(s.audio, 0.5, 4.5)))
        assert np.argmax(spectrum) / 4 == pytest.approx(part_hz(i), abs=0.5)


def test_other_sample_rate_and_window(three_hours):
    segments = load_media(three_hours, 2, sample_rate=32_000, window_seconds=4.0)
    assert segments.sample_rate == 32_000 and segments.window_seconds == 4.0
    assert np.stack([s.audio for s in segments]).shape == (2, 128_000)
    assert segments[1].audio_start_s == pytest.approx(0.75 * HOURS_3 - 2.0)


@pytest.mark.parametrize("count", [3, 5])
def test_the_middle_of_an_odd_count_is_the_middle_moment(tmp_path, three_hours, count):
    """With an odd count the middle segment is the one-segment moment and window (to AAC's rounding: after
    an earlier window the decoder resumes from another packet)."""
    short = write_test_video(tmp_path / "short.mp4", seconds=12.4, width=64, height=48, fps=10,
                             frame_fn=indexed_frames(64, 48, 12.4))
    for path in (short, three_hours):
        one = load_media(path)
        video = one[0]
        middle = load_media(path, count)[count // 2]
        assert np.array_equal(middle.frame, video.frame) and middle.frame_time == video.frame_time
        np.testing.assert_allclose(middle.audio, video.audio, atol=1e-4)
        assert middle.audio_seconds == video.audio_seconds
        assert middle.time_s == video.time_s == pytest.approx(one.duration / 2)


@pytest.mark.parametrize("count", [8, 20, 300])  # 300: several moments fall on the same frame
def test_many_segments_of_a_short_clip(tmp_path, count):
    """Close moments decode on from the previous one instead of seeking back to the keyframe (the clip's
    only one): the frames must still be the ones on screen at each moment."""
    path = write_test_video(tmp_path / "ten.mp4", seconds=10, width=64, height=48, fps=25, audio_hz=None,
                            frame_fn=indexed_frames(64, 48, 10))
    segments = load_media(path, count)
    for s in segments:
        assert read_index(s.frame) == int(s.time_s * 25 + 1e-9), s.time_s
        assert s.frame_time == pytest.approx(int(s.time_s * 25 + 1e-9) / 25)


def test_keyframes_only(three_hours):
    import av

    with av.open(three_hours) as container:
        stream = container.streams.video[0]
        keyframes = {float(p.pts * stream.time_base) for p in container.demux(stream) if p.is_keyframe}
    segments = load_media(three_hours, PARTS, keyframes_only=True)
    for s in segments:
        assert s.frame_time in keyframes and s.frame_time <= s.time_s
        assert s.time_s - s.frame_time < max(b - a for a, b in zip(sorted(keyframes), sorted(keyframes)[1:])) + 1
        assert read_index(s.frame) == round(s.frame_time / 10)
    exact = load_media(three_hours, PARTS)
    assert [s.audio_start_s for s in segments] == [s.audio_start_s for s in exact]  # audio is unchanged


def test_windows_stay_inside_a_short_track(tmp_path):
    path = write_test_video(tmp_path / "twenty.mp4", seconds=20, width=64, height=48, fps=5)
    segments = load_media(path, 4)  # moments 2.5, 7.5, 12.5, 17.5 s
    assert [s.audio_start_s for s in segments] == pytest.approx([0.0, 2.5, 7.5, 10.0], abs=1e-3)
    assert all(s.audio_seconds == pytest.approx(10.0) for s in segments)  # real sound, no padding


def test_track_shorter_than_the_window_is_shared(tmp_path):
    path = write_test_video(tmp_path / "four.mp4", seconds=4, width=64, height=48, fps=5)
    segments = load_media(path, 4)
    video = load_media(path)[0]
    for s in segments:
        assert s.audio_start_s == 0.0 and np.array_equal(s.audio, video.audio)
    assert [s.frame_time for s in segments] == pytest.approx([0.4, 1.4, 2.4, 3.4])  # 5 fps


def test_video_without_audio(tmp_path):
    path = write_test_video(tmp_path / "silent.mp4", seconds=3, width=64, height=48, audio_hz=None)
    segments = load_media(path, 3)
    assert not segments.has_audio
    assert all(s.audio is None and s.audio_start_s is None for s in segments)
    assert np.stack([s.frame for s in segments]).shape == (3, 48, 64, 3)


def test_segments_of_a_sound_file(tmp_path):
    path = tmp_path / "long.wav"
    rate = 16_000
    t = np.arange(60 * rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    for centre in (7.5, 22.5, 37.5, 52.5):  # the centres of four 15 s parts
        x[(t >= centre) & (t < centre + GAP)] = 0.0
    sf.write(path, x, rate)
    segments = load_media(path, 4)
    assert segments.kind == "audio" and segments.duration == pytest.approx(60.0)
    assert not segments.has_frame and all(s.frame is None and s.frame_time is None for s in segments)
    for s in segments:
        assert s.audio_start_s == pytest.approx(s.time_s - 5.0)
        assert rms(span(s.audio, 5.02, 5.0 + GAP - 0.02)) < 0.01
        assert rms(span(s.audio, 4.5, 4.98)) == pytest.approx(TONE_RMS, rel=0.1)


def test_a_picture_is_one_segment(tmp_path):
    from PIL import Image

    path = tmp_path / "pic.png"
    Image.new("RGB", (30, 20), (10, 200, 30)).save(path)
    segments = load_media(path, 5)
    assert segments.kind == "image" and len(segments) == 1 and not segments.has_audio
    only = segments[0]
    assert only.start_s == only.end_s == 0.0 and only.frame[0, 0].tolist() == [10, 200, 30]


@pytest.mark.parametrize("count", [0, -2, 1.5, True, "8"])
def test_bad_count(tmp_path, count):
    path = write_test_video(tmp_path / "clip.mp4", seconds=1, width=64, height=48)
    with pytest.raises(ValueError, match="number of segments"):
        load_media(path, count)
