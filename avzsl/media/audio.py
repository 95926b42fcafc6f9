"""Audio windows centred on given moments of a file's audio track, mono at a given sample rate.

The track used is FFmpeg's "best" audio stream (av_find_best_stream): one flagged as the default
wins, and among equals the one with more probed frames, then the higher bit rate, then the first; in MP4,
where the bit rate is measured from the track's size, a silent track (which compresses to almost nothing)
loses to one with sound. It is made mono with the standard ITU-R BS.775 fold-down (FFmpeg's default
matrix: front left/right at 1, centre and surrounds at 1/sqrt(2), LFE dropped, no normalisation) to stereo
and then the mean of left and right, so a sound on L and R comes out at the same level from a 5.1 file as
from a stereo one, and mono and stereo files give what they always did.
"""

import itertools
import logging
from collections.abc import Sequence

import av
import numpy as np

from avzsl.media.container import CorruptVideoError, Moment, decode_to_the_cut, open_media, scan_packets, stated_duration

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 48_000  # CLAP (HTSAT) was trained on 48 kHz audio
AUDIO_WINDOW_SECONDS = 10.0  # CLAP's input window: 480,000 samples at 48 kHz
MAX_AUDIO_SECONDS = 15 * 60  # audio decoded for one file at most, all its windows: 173 MB of float32 at 48 kHz

# Audio codecs overlap neighbouring frames (AAC's MDCT), so the first frame decoded after a seek is not
# exact; decode this much before the window and throw it away.
_AUDIO_PREROLL = 0.5  # seconds

AudioWindow = tuple[np.ndarray | None, float | None, float]  # (audio (n,), start in s, seconds of real audio)


def audio_windows(
    path: str, moments: Sequence[Moment], sample_rate: int, window_seconds: float,
    cut: list | None = None, plays_for: float | None = None,
) -> tuple[list[AudioWindow], float | None]:
    """([(audio (n,) float32 mono, start s, real seconds)] for the window centred on each moment of the
    audio track, track duration in s), from one open of the file; [(None, None, 0.0)] * len(moments) and
    None without an audio track. n = round(window_seconds * sample_rate); the window is shifted to stay
    inside the track and a track shorter than it is zero-padded at the end (see load_media). A track that
    stops before its stated duration (a file cut short) is read again over the part that plays (`plays_for`
    seconds, found from its packets), and (seconds that play, seconds stated) is added to `cut`.

    Each window decodes at most its n samples, whatever the container declares: a track without a stated
    length (a FLAC or Matroska file written as a stream) is measured from its packets' timestamps, which
    reads the file but decodes nothing, so memory does not grow with the track's length."""
    n = round(window_seconds * sample_rate)
    if sample_rate < 1 or n < 1:
        raise ValueError(f"the audio window must hold samples: {window_seconds} s at {sample_rate} Hz")
    with open_media(path) as container:
        if not container.streams.audio:
            return [(None, None, 0.0)] * len(moments), None
        if len(moments) * window_seconds > MAX_AUDIO_SECONDS:
            raise ValueError(f"{len(moments)} windows of {window_seconds:g} s is more audio than the "
                             f"{MAX_AUDIO_SECONDS:g} s decoded from one file at most")
        stream = container.streams.best("audio")  # the default stream; see the module docstring
        # exact in MP4, where AAC's padded last frame is not counted
        duration = stated_duration(container, stream) if plays_for is None else plays_for
        if duration is None:
            duration, _ = scan_packets(path, stream.index)  # None without timestamps: the first window
        total = round((duration or 0) * sample_rate)
        windows, decoded = [], {}  # (audio (<= n,), first sample's index in the track); audio by first sample
        try:
            for k, (p, q) in enumerate(moments):
                first = min(max(total * p // q - n // 2, 0), max(total - n, 0))  # integer: exact for p/q = 1/2
                if first not in decoded:  # at most n samples; at most the stated length of a shorter track
                    count = min(n, total - first) if total else n
                    decoded[first] = _decode_audio(container, stream, sample_rate, first, count, rewind=k > 0)
                audio = decoded[first]
                if total > n and len(audio) < n - sample_rate // 20 and plays_for is None:  # 50 ms short: cut?
                    end, _ = scan_packets(path, stream.index)
                    if end and end < duration:
                        if cut is not None:
                            cut.append((end, duration))
                        return audio_windows(path, moments, sample_rate, window_seconds, plays_for=end)
                if total > n and len(audio) == 0:
                    raise CorruptVideoError(f"{path}: the audio stops before {first / sample_rate:.1f} s of its "
                                            f"{duration:.1f} s; the file is probably truncated")
                windows.append((audio, first))
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the audio cannot be decoded ({e.strerror})") from e
    if all(len(audio) == 0 for audio, _ in windows):
        logger.warning("%s: the audio track has no samples; treating the file as silent", path)
        return [(None, None, 0.0)] * len(moments), duration
    # (n,) float32 each, zero-padded after its real samples
    out = [(np.pad(audio, (0, n - len(audio))), first / sample_rate, len(audio) / sample_rate) for audio, first in windows]
    return out, duration or max(len(audio) for audio, _ in windows) / sample_rate


def _decode_audio(container: av.container.InputContainer, stream: av.audio.AudioStream, sample_rate: int,
                  first: int, count: int, rewind: bool = False) -> np.ndarray:
    """Mono float32 samples first .. first + count - 1 of the stream at `sample_rate` (fewer where the stream
    ends before; zeros before a track that starts late). Seeks when the window starts after the preroll (or
    always, with `rewind`, for a container read before), so the cost is proportional to `count`, not to the
    file; samples before the window (where a seek lands early, or a container cannot seek) are decoded and
    dropped, so memory is bounded by `count` whatever the container."""
    # libswresample (via PyAV) converts each decoded frame as it arrives, in C, so only the window is ever
    # held in memory; librosa.resample would need the whole track as floats first and its first call spends
    # ~1.5 s importing. More than two channels are folded down to stereo by swr's default matrix (the module
    # docstring's), and the two are averaged below. Mono and stereo are left alone: swr's own mono downmix adds
    # L and R at -3 dB, which is louder than either channel and clips when they agree, and its mono -> stereo
    # upmix would make mono 3 dB quieter.
    layout = "stereo" if stream.codec_context.channels > 2 else None
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
    t0 = stream.start_time or 0  # in stream.time_base units
    start = first / sample_rate
    if start > _AUDIO_PREROLL or rewind:
        container.seek(t0 + max(0, int((start - _AUDIO_PREROLL) / stream.time_base)), stream=stream)
    window = np.zeros(count, np.float32)  # (count,)
    at = None  # the track's sample index (at sample_rate) of the next sample the resampler gives
    filled = 0  # samples of `window` up to the last one decoded
    for frame in itertools.chain(decode_to_the_cut(container, stream), [None]):  # None: flush the resampler
        if at is None and frame is not None:
            at = round(float((frame.pts - t0) * stream.time_base) * sample_rate) if frame.pts is not None else 0
        for out in resampler.resample(frame):
            samples = out.to_ndarray().mean(axis=0)  # (out.samples,) from (channels, out.samples)
            offset = at - first  # where samples[0] lands in `window`; < 0: before it, dropped
            lo, hi = max(offset, 0), min(offset + len(samples), count)
            if lo < hi:
                window[lo:hi] = samples[lo - offset : hi - offset]
                filled = hi
            at += len(samples)
        if at is not None and at >= first + count:
            break
    return window[:filled]
