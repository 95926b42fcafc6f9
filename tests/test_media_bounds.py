"""Every decode is bounded by what it needs, whatever the container declares: the audio windows asked for,
one frame per moment, and pictures up to MAX_PICTURE_PIXELS.

Audio files here are a 440 Hz tone at 8 kHz mono, so that ten minutes encode in well under a second, in
containers that state no length (or a wrong one). Peak memory is measured with tracemalloc, which counts
every numpy array and Python object (the decoded audio is numpy): the same on any machine.
"""

import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import avzsl.media.audio
import avzsl.media.container
from avzsl.media import DEFAULT_SAMPLE_RATE, MediaError, load_media
from avzsl.media.audio import MAX_AUDIO_SECONDS
from avzsl.media.container import MAX_PICTURE_PIXELS

RATE = 8000
AMPLITUDE = 0.25  # of the tone
TONE_RMS = AMPLITUDE / np.sqrt(2)
FORMS = ["flac", "mkv", "adts", "ogg", "wav"]


def tone(first: int, count: int) -> np.ndarray:
    """Samples first .. first + count - 1 of the tone, (count,) float32."""
    return (AMPLITUDE * np.sin(2 * np.pi * 440 * np.arange(first, first + count) / RATE)).astype(np.float32)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


def write_audio(path: Path, seconds: int, form: str) -> Path:
    """`seconds` of the tone in a file that states no length, or a wrong one:
    flac: STREAMINFO's sample count is 0 ("unknown"), as in a FLAC written to a pipe;
    mkv:  Matroska written live (FLAC inside): no duration and no cues to seek by;
    adts: raw AAC, whose length FFmpeg can only estimate from the bit rate;
    ogg:  Ogg Vorbis whose pages after the headers carry no granule position: FFmpeg guesses a wrong length;
    wav:  a WAV whose header says its data runs for 0xFFFFFFFF bytes, as a WAV written to a pipe does."""
    path = Path(path)
    if form in ("flac", "wav", "ogg"):
        subtype = {"flac": "PCM_16", "wav": "PCM_16", "ogg": "VORBIS"}[form]
        with sf.SoundFile(path, "w", RATE, 1, format=form.upper(), subtype=subtype) as f:
            for start in range(0, seconds * RATE, 60 * RATE):
                f.write(tone(start, min(60 * RATE, seconds * RATE - start)))
        data = bytearray(path.read_bytes())
        if form == "flac":  # the sample count is the low 36 bits of STREAMINFO bytes 10..17 (file bytes 18..25)
            fields = int.from_bytes(data[18:26], "big")
            data[18:26] = (fields & ~((1 << 36) - 1)).to_bytes(8, "big")
        elif form == "wav":
            at = data.index(b"data")
            data[at + 4 : at + 8] = struct.pack("<I", 0xFFFFFFFF)
        else:
            _strip_granules(data)
        path.write_bytes(data)
        return path
    codec, options = ("aac", {}) if form == "adts" else ("flac", {"live": "1"})
    with av.open(str(path), "w", format="adts" if form == "adts" else "matroska", options=options) as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono")
        if codec == "aac":
            stream.options = {"aac_coder": "fast"}  # FFmpeg's default AAC coder writes ten minutes 3x slower
        for start in range(0, seconds * RATE, RATE):
            frame = av.AudioFrame.from_ndarray(tone(start, RATE)[None], format="flt", layout="mono")
            frame.sample_rate, frame.pts = RATE, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _strip_granules(data: bytearray) -> None:
    """Set every Ogg page's granule position after the first three (the Vorbis headers) to -1, "none", and
    its CRC to match."""
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    at, page = 0, 0
    while at < len(data):
        segments = data[at + 26]
        size = 27 + segments + sum(data[at + 27 : at + 27 + segments])
        if page >= 3:
            data[at + 6 : at + 14] = b"\xff" * 8
            data[at + 22 : at + 26] = bytes(4)
            crc = 0
            for byte in data[at : at + size]:
                crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
            data[at + 22 : at + 26] = struct.pack("<I", crc)
        at, page = at + size, page + 1


def peak_bytes(path: Path, segments: int = 1) -> int:
    """Peak of the memory allocated (numpy and Python) while loading `segments` moments of `path`."""
    tracemalloc.start()
    try:
        load_media(path, segments)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("form", FORMS)
def test_peak_memory_does_not_grow_with_the_length(tmp_path, form):
    """60 s and 600 s of audio in a container that states no length (or a wrong one) cost the same memory:
    the window (10 s at 48 kHz, 1.9 MB) and a little more. Decoding the whole track, as media did before,
    took 13 MB more for the short file and about 190 MB more for the long one."""
    short = write_audio(tmp_path / f"short.{form}", 60, form)
    long = write_audio(tmp_path / f"long.{form}", 600, form)
    peak_short, peak_long = peak_bytes(short), peak_bytes(long)
    window = 10 * DEFAULT_SAMPLE_RATE * 4  # bytes of one float32 window
    assert peak_long < peak_short + window / 2, (peak_short, peak_long)
    assert peak_long < 4 * window, (peak_short, peak_long)


@pytest.mark.parametrize("form", ["flac", "mkv", "wav"])
def test_a_track_without_a_stated_length_is_measured_from_its_packets(tmp_path, form):
    """Half an hour of audio whose container states no length: its length comes from the packets, the
    windows are centred on the moments of the whole track and hold the tone."""
    path = write_audio(tmp_path / f"half_an_hour.{form}", 1800, form)
    if form != "wav":  # FFmpeg works a WAV's length out from its size
        with av.open(str(path)) as container:
            assert container.duration is None and container.streams.audio[0].duration is None
    media = load_media(path, 3)
    assert media.kind == "audio" and media.duration == pytest.approx(1800, abs=0.1)
    assert [s.audio_start_s for s in media] == pytest.approx([295, 895, 1495], abs=0.01)
    for s in media:
        assert rms(s.audio) == pytest.approx(TONE_RMS, rel=0.05)


def test_a_track_without_timestamps_gives_its_first_window(tmp_path, monkeypatch):
    """A track whose packets carry no timestamps has no length to centre on: its first window is read."""
    monkeypatch.setattr(avzsl.media.audio, "scan_packets", lambda path, index: (None, 1000))
    media = load_media(write_audio(tmp_path / "no_time.flac", 600, "flac"), 2)
    assert [s.audio_start_s for s in media] == [0.0, 0.0]
    assert media.duration == pytest.approx(10.0) and media[0].audio_seconds == pytest.approx(10.0)
    assert rms(media[0].audio) == pytest.approx(TONE_RMS, rel=0.05)


@pytest.mark.parametrize("claimed, plays", [(2 * 3600, 600), (2, 2)])  # seconds the header says, seconds used
def test_a_wav_header_that_lies_about_its_length(tmp_path, claimed, plays):
    """A WAV that claims two hours but holds ten minutes is read over its ten minutes; one that claims two
    seconds but holds ten minutes is two seconds long (FFmpeg stops at its data's stated end)."""
    path = write_audio(tmp_path / "lies.wav", 600, "wav")
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", claimed * RATE * 2)  # 16-bit mono
    path.write_bytes(data)
    media = load_media(path)
    assert media.duration == pytest.approx(plays, abs=0.01)
    assert media[0].audio_seconds == pytest.approx(min(plays, 10), abs=0.01)
    assert peak_bytes(path) < 4 * 10 * DEFAULT_SAMPLE_RATE * 4


def test_audio_beyond_the_budget_is_refused(tmp_path):
    path = write_audio(tmp_path / "minute.flac", 60, "flac")
    too_many = int(MAX_AUDIO_SECONDS // 10) + 1
    with pytest.raises(ValueError, match="more audio than"):
        load_media(path, too_many)
    assert len(load_media(path, too_many - 1)) == too_many - 1


@pytest.mark.parametrize("size", [(9000, 8000), (14000, 14000)])  # beyond our limit; beyond Pillow's too
def test_a_picture_beyond_the_pixel_limit_is_a_media_error(tmp_path, size):
    assert size[0] * size[1] > MAX_PICTURE_PIXELS
    path = tmp_path / "huge.png"
    Image.new("1", size).save(path)  # 1 bit a pixel: small to write, and to store
    with pytest.raises(MediaError, match=f"{MAX_PICTURE_PIXELS:,}") as error:
        load_media(path)
    assert type(error.value) is MediaError and "\n" not in str(error.value)


def test_opening_a_huge_picture_decodes_nothing(tmp_path):
    """FFmpeg's probe would decode a 9000 x 8000 RGB picture (216 MB) just to open it: a child process that
    refuses it stays well below that (about 60 MB here, most of it Python and the libraries)."""
    path = tmp_path / "huge.png"
    Image.new("RGB", (9000, 8000)).save(path, compress_level=1)
    # VmHWM: the child's own peak (ru_maxrss would carry this process's over the exec)
    code = (f"from avzsl.media import MediaError, load_media\ntry:\n    load_media({str(path)!r})\n"
            "except MediaError:\n    print([s.split()[1] for s in open('/proc/self/status') if 'VmHWM' in s][0])")
    peak_kb = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert peak_kb < 180 * 1024


def test_video_frames_beyond_the_pixel_limit_are_refused(monkeypatch):
    monkeypatch.setattr(avzsl.media.container, "MAX_PICTURE_PIXELS", 320 * 240 - 1)
    with pytest.raises(MediaError, match="320 x 240 pixels"):
        load_media(Path(__file__).parents[1] / "examples" / "bird.mp4")
