"""avzsl.media.load_media on sound files and pictures, the choice of audio stream, and the 5.1 downmix.

Every file is written here, without network: sound files with PyAV's encoders (libmp3lame, FFmpeg's
vorbis, aac, flac) or soundfile, pictures with Pillow.
"""

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from avzsl.media import (
    DEFAULT_SAMPLE_RATE,
    CorruptVideoError,
    EmptyVideoError,
    MediaSegments,
    NotAVideoError,
    load_media,
)
from avzsl.synthetic_media import write_test_video
from tests.helpers import TONE_RMS, rms, span

SR = DEFAULT_SAMPLE_RATE
N = 10 * SR


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


def write_audio(path, channels: np.ndarray, rate: int, codec: str, layout: str, fmt: str | None = None):
    """Encode channels (C, n) float32 with PyAV into `path`, one stream."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        step = 4096
        for first in range(0, channels.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(channels[:, first : first + step]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts = rate, first
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


# ---------------------------------------------------------------------------------------------------------
# sound files


@pytest.mark.parametrize(
    "name, codec, fmt",
    [("song.mp3", "libmp3lame", None), ("song.ogg", "soundfile", None), ("song.m4a", "aac", "ipod"),
     ("song.flac", "flac", None)],
)
def test_sound_files_are_classified_by_sound(tmp_path, name, codec, fmt):
    rate = 44_100
    if codec == "soundfile":  # FFmpeg's own vorbis encoder is "experimental"; libsndfile's is not
        path = tmp_path / name
        sf.write(path, tone(3.0, rate), rate, format="OGG", subtype="VORBIS")
    else:
        path = write_audio(tmp_path / name, tone(3.0, rate)[None], rate, codec, "mono", fmt)

    media = load_media(path)
    assert isinstance(media, MediaSegments) and media.kind == "audio" and media.path == str(path)
    assert media[0].frame is None and media[0].frame_time is None and not media.has_frame
    assert media.has_audio and media[0].audio.shape == (N,) and media[0].audio.dtype == np.float32
    assert media.sample_rate == SR
    assert media.duration == pytest.approx(3.0, abs=0.06) and media[0].audio_seconds == pytest.approx(3.0, abs=0.06)
    assert rms(span(media[0].audio, 0.5, 2.5)) == pytest.approx(TONE_RMS, rel=0.1)
    spectrum = np.abs(np.fft.rfft(span(media[0].audio, 0.5, 1.5)))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)
    from avzsl.encoders import DEFAULT_PRESET, get_preset
    from avzsl.extraction.worker import decode_video  # extraction wants videos: a sound file is a failure there

    failure = decode_video(path, get_preset(DEFAULT_PRESET).audio)
    assert isinstance(failure, NotAVideoError) and "has no video stream" in str(failure)


def test_wav_is_classified_by_sound_with_its_centred_window(tmp_path):
    path = tmp_path / "long.wav"
    rate = 16_000
    x = tone(30.0, rate)
    x[round(15 * rate) : round(15.5 * rate)] = 0  # a gap at the middle: 5 s into the centred window
    sf.write(path, x, rate)
    media = load_media(path, sample_rate=32_000, window_seconds=10.0)
    assert media.kind == "audio" and media[0].audio.shape == (320_000,) and media.sample_rate == 32_000
    assert media.duration == pytest.approx(30.0)
    gap = media[0].audio[round(5.02 * 32_000) : round(5.48 * 32_000)]
    assert rms(gap) < 0.01 and rms(media[0].audio[: round(4.98 * 32_000)]) == pytest.approx(TONE_RMS, rel=0.05)


def test_mp3_with_cover_art_is_still_a_sound_file(tmp_path):
    """Cover art is a one-picture "video" stream flagged as attached: not a reason to call it a video."""
    song = write_audio(tmp_path / "plain.mp3", tone(2.0, 44_100)[None], 44_100, "libmp3lame", "mono")
    cover = tmp_path / "cover.png"
    Image.new("RGB", (16, 16), (200, 0, 0)).save(cover)
    tagged = tmp_path / "tagged.mp3"
    with av.open(str(song)) as a, av.open(str(cover)) as c, av.open(str(tagged), "w") as out:
        audio = out.add_stream_from_template(a.streams.audio[0])
        art = out.add_stream_from_template(c.streams.video[0])
        art.disposition = av.stream.Disposition.attached_pic
        for packet in c.demux(c.streams.video[0]):
            if packet.size:
                packet.stream = art
                out.mux(packet)
        for packet in a.demux(a.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = audio
                out.mux(packet)
    with av.open(str(tagged)) as check:
        assert check.streams.video and check.streams.video[0].disposition & av.stream.Disposition.attached_pic
    media = load_media(tagged)
    assert media.kind == "audio" and media[0].frame is None and media.has_audio


def test_empty_sound_file(tmp_path):
    path = tmp_path / "nothing.wav"
    sf.write(path, np.zeros(0, np.float32), 8000)
    with pytest.raises(EmptyVideoError, match="nothing.wav.*no audio samples"):
        load_media(path)


# ---------------------------------------------------------------------------------------------------------
# pictures


def test_png_is_classified_by_picture(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (21, 33, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    media = load_media(path)
    assert media.kind == "image" and media.has_frame and not media.has_audio and media[0].audio is None
    assert media[0].frame.dtype == np.uint8 and np.array_equal(media[0].frame, pixels)  # lossless: exact
    assert media[0].frame_time == 0.0 and media.duration == 0.0 and media[0].audio_seconds == 0.0


def test_jpeg_is_turned_upright_by_its_exif_orientation(tmp_path):
    pixels = np.zeros((40, 60, 3), np.uint8)  # 60 wide, 40 tall, red top-left corner
    pixels[:16, :16, 0] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show the stored picture rotated 90 degrees CW
    path = tmp_path / "phone.jpg"
    image.save(path, quality=95, exif=exif)
    media = load_media(path)
    assert media.kind == "image" and media[0].frame.shape == (60, 40, 3)
    assert media[0].frame[:12, -12:, 0].mean() > 200  # the top-left corner turned clockwise lands top-right


def test_transparent_png_is_shown_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black ...
    rgba[:4, :, :] = (0, 0, 255, 255)  # ... but the top half opaque blue
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    frame = load_media(path)[0].frame
    assert frame.shape == (8, 8, 3)
    assert frame[0, 0].tolist() == [0, 0, 255] and frame[-1, -1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("ext", ["webp", "bmp", "gif"])
def test_other_picture_formats(tmp_path, ext):
    path = tmp_path / f"pic.{ext}"
    Image.new("RGB", (20, 10), (0, 255, 0)).save(path)
    media = load_media(path)
    assert media.kind == "image" and media[0].frame.shape == (10, 20, 3)
    assert media[0].frame[5, 10, 1] > 200 and media[0].frame[5, 10, 0] < 50


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CorruptVideoError, match="cut.png.*(picture|truncated)"):
        load_media(path)


# ---------------------------------------------------------------------------------------------------------
# videos, and what is none of these


def test_video_is_a_video(tmp_path):
    path = write_test_video(tmp_path / "clip.mp4", seconds=2, width=64, height=48)
    media = load_media(path)
    assert media.kind == "video" and media.has_frame and media.has_audio
    assert media[0].frame.shape == (48, 64, 3) and media[0].frame_time == pytest.approx(1.0)
    silent = load_media(write_test_video(tmp_path / "silent.mp4", seconds=1, width=64, height=48, audio_hz=None))
    assert silent.kind == "video" and not silent.has_audio and silent.has_frame


def test_none_of_these(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a video, not a song, not a picture\n" * 20)
    with pytest.raises(NotAVideoError, match="notes.txt is not a video, sound or picture file"):
        load_media(path)
    with pytest.raises(NotAVideoError, match="directory"):
        load_media(tmp_path)
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(EmptyVideoError, match="empty.mp3 is empty"):
        load_media(tmp_path / "empty.mp3")


# ---------------------------------------------------------------------------------------------------------
# which audio stream, and how channels become mono


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
@pytest.mark.parametrize("flagged", [0, 1])
def test_the_default_audio_stream_is_used(tmp_path, ext, flagged):
    """Screen recorders often write a silent first track (the microphone) beside the sound: the stream
    flagged as default is the one heard, whichever position it has."""
    rate = 16_000
    sounds = [np.zeros(2 * rate, np.float32), tone(2.0, rate)]  # the silent track first
    if flagged == 0:
        sounds = sounds[::-1]  # the sound first and flagged, a silent second track: still the flagged one
    path = tmp_path / f"two_tracks.{ext}"
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("aac", rate=rate, layout="mono") for _ in sounds]
        for k, stream in enumerate(streams):
            stream.disposition = av.stream.Disposition.default if k == flagged else av.stream.Disposition(0)
        for stream, sound in zip(streams, sounds):
            frame = av.AudioFrame.from_ndarray(sound[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, 0
            out.mux(stream.encode(frame))
            out.mux(stream.encode())
    window = load_media(path)[0]
    audio, seconds = window.audio, window.audio_seconds
    assert seconds == pytest.approx(2.0, abs=0.05)
    assert rms(span(audio, 0.1, 1.9)) == pytest.approx(TONE_RMS, rel=0.1)


def five_one(front: np.ndarray, centre: np.ndarray | None = None, lfe: np.ndarray | None = None) -> np.ndarray:
    """(6, n) in FFmpeg's 5.1 order FL FR FC LFE BL BR: `front` on L and R, the rest silent unless given."""
    channels = np.zeros((6, len(front)), np.float32)
    channels[0] = channels[1] = front
    if centre is not None:
        channels[2] = centre
    if lfe is not None:
        channels[3] = lfe
    return channels


@pytest.mark.parametrize("codec, ext", [("flac", "flac"), ("aac", "m4a")])
def test_5_1_is_as_loud_as_stereo(tmp_path, codec, ext):
    rate = 48_000
    x = tone(2.0, rate)
    stereo = write_audio(tmp_path / f"stereo.{ext}", np.stack([x, x]), rate, codec, "stereo",
                         "ipod" if ext == "m4a" else None)
    surround = write_audio(tmp_path / f"surround.{ext}", five_one(x), rate, codec, "5.1",
                           "ipod" if ext == "m4a" else None)
    with av.open(str(surround)) as check:
        assert check.streams.audio[0].codec_context.channels == 6
    level = rms(span(load_media(stereo)[0].audio, 0.2, 1.8))
    assert level == pytest.approx(TONE_RMS, rel=0.05)
    # the plain mean of six channels would give a third of it
    assert rms(span(load_media(surround)[0].audio, 0.2, 1.8)) == pytest.approx(level, rel=0.05)


def test_5_1_centre_and_lfe(tmp_path):
    """Dialogue on the centre channel comes through at 1/sqrt(2) (-3 dB); the LFE channel is dropped."""
    rate = 48_000
    silent = np.zeros(2 * rate, np.float32)
    centre = write_audio(tmp_path / "centre.flac", five_one(silent, centre=tone(2.0, rate)), rate, "flac", "5.1")
    lfe = write_audio(tmp_path / "lfe.flac", five_one(silent, lfe=tone(2.0, rate, hz=60)), rate, "flac", "5.1")
    assert rms(span(load_media(centre)[0].audio, 0.2, 1.8)) == pytest.approx(TONE_RMS / np.sqrt(2), rel=0.05)
    assert rms(span(load_media(lfe)[0].audio, 0.2, 1.8)) < 1e-4


def test_six_channel_wav_without_a_layout_is_read_as_5_1(tmp_path):
    """A plain 6-channel WAV names no speakers; FFmpeg assumes 5.1's order, as players do."""
    x = tone(1.0, 48_000)
    path = tmp_path / "six.wav"
    sf.write(path, five_one(x).T, 48_000)
    assert rms(span(load_media(path)[0].audio, 0.1, 0.9)) == pytest.approx(TONE_RMS, rel=0.05)
