"""Audio windows centred on given moments of a file's audio track, mono at a given sample rate.

The track used is FFmpeg's "best" audio stream (av_find_best_stream): one flagged as the default
wins, and among equals the one with more probed frames, then the higher bit rate, then the first; in MP4,
where the bit rate is measured from the track's size, a silent track (which compresses to almost nothing)
loses to one with sound. It is made mono with the standard ITU-R BS.775 fold-down (FFmpeg's default
matrix: front left/right at 1, centre and surrounds at 1/sqrt(2), LFE dropped, no normalisation) to stereo
and then the mean of left and right, so a sound on L and R comes out at the same level from a 5.1 file as
from a stereo one, and mono and stereo files give what they always did.
"""

import logging
from collections.abc import Sequence

import av
import numpy as np

from avzsl.media.container import (CorruptVideoError, Moment, decode_to_the_cut, open_media, scan_packets,
                                   stream_duration)

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 48_000  # CLAP (HTSAT) was trained on 48 kHz audio
AUDIO_WINDOW_SECONDS = 10.0  # CLAP's input window: 480,000 samples at 48 kHz

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
    seconds, found from its packets), and (seconds that play, seconds stated) is added to `cut`."""
    n = round(window_seconds * sample_rate)
    if sample_rate < 1 or n < 1:
        raise ValueError(f"the audio window must hold samples: {window_seconds} s at {sample_rate} Hz")
    with open_media(path) as container:
        if not container.streams.audio:
            return [(None, None, 0.0)] * len(moments), None
        stream = container.streams.best("audio")  # the default stream; see the module docstring
        stated = stream_duration(stream) if plays_for is None else plays_for  # exact in MP4, where AAC's
        duration = stated  # padded last frame is not counted
        if duration is None and container.duration is not None:
            duration = container.duration / av.time_base
        windows = []  # (audio (<= n,), first sample's index in the track)
        try:
            if duration is not None and duration > window_seconds:
                # Long track: decode only each window, which starts where the crop below would put it.
                total = round(duration * sample_rate)
                for k, (p, q) in enumerate(moments):
                    first = min(max(total * p // q - n // 2, 0), total - n)  # integer: exact for p/q = 1/2
                    start = first / sample_rate
                    audio = _decode_audio(container, stream, sample_rate, start, start + window_seconds,
                                          rewind=k > 0)
                    if len(audio) < n - sample_rate // 20 and plays_for is None:  # 50 ms short: cut short?
                        end, _ = scan_packets(path, stream.index)
                        if end and end < duration:
                            if cut is not None:
                                cut.append((end, duration))
                            return audio_windows(path, moments, sample_rate, window_seconds, plays_for=end)
                    if len(audio) == 0:
                        raise CorruptVideoError(
                            f"{path}: the audio stops before {start:.1f} s of its {duration:.1f} s; "
                            "the file is probably truncated"
                        )
                    windows.append((audio, first))
            else:
                whole = _decode_audio(container, stream, sample_rate, 0.0, stated)  # (L,)
                total = len(whole)  # the header may have understated the duration: trust the samples
                if duration is None:
                    duration = total / sample_rate
                for p, q in moments:
                    first = min(max(total * p // q - n // 2, 0), max(total - n, 0))
                    windows.append((whole[first : first + n], first))
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{path}: the audio cannot be decoded ({e.strerror})") from e
    if all(len(audio) == 0 for audio, _ in windows):
        logger.warning("%s: the audio track has no samples; treating the file as silent", path)
        return [(None, None, 0.0)] * len(moments), duration
    out = []
    for audio, first in windows:
        audio = audio[:n]
        real = len(audio)
        out.append((np.pad(audio, (0, n - real)), first / sample_rate, real / sample_rate))  # (n,) float32
    return out, duration


def _decode_audio(
    container: av.container.InputContainer,
    stream: av.audio.AudioStream,
    sample_rate: int,
    start: float = 0.0,
    stop: float | None = None,
    rewind: bool = False,
) -> np.ndarray:
    """Mono float32 samples at `sample_rate` covering [start, stop) seconds of the stream (stop=None: to
    the end). Seeks when start > 0 (or always, with `rewind`, for a container read before), so the cost is
    proportional to stop - start, not to the file."""
    # libswresample (via PyAV) converts each decoded frame as it arrives, in C, so only the window is ever
    # held in memory; librosa.resample would need the whole track as floats first and its first call spends
    # ~1.5 s importing. More than two channels are folded down to stereo by swr's default matrix (ITU-R
    # BS.775: L + C/sqrt(2) + Ls/sqrt(2), LFE dropped; with float output swr does not normalise it), and the
    # two channels are averaged below. Mono and stereo are left alone: swr's own mono downmix adds L and R
    # at -3 dB, which is louder than either channel and clips when they agree, and its mono -> stereo
    # upmix would make mono 3 dB quieter.
    layout = "stereo" if stream.codec_context.channels > 2 else None
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
    t0 = stream.start_time or 0  # in stream.time_base units
    if start > _AUDIO_PREROLL or rewind:
        container.seek(t0 + max(0, int((start - _AUDIO_PREROLL) / stream.time_base)), stream=stream)
    chunks = []  # (channels, samples) float32 each
    first_time = None  # seconds from the stream start to the first decoded sample
    decoded = 0  # samples in chunks
    for frame in decode_to_the_cut(container, stream):
        if first_time is None:
            first_time = float((frame.pts - t0) * stream.time_base) if frame.pts is not None else 0.0
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray())
            decoded += out.samples
        if stop is not None and first_time + decoded / sample_rate >= stop:
            break
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    if first_time is None:
        return np.zeros(0, np.float32)
    audio = np.concatenate([c.mean(axis=0) for c in chunks]).astype(np.float32)  # (samples,)
    skip = round((start - first_time) * sample_rate)  # < 0 if the track starts late: pad the gap
    audio = audio[skip:] if skip >= 0 else np.concatenate([np.zeros(-skip, np.float32), audio])
    if stop is not None:
        audio = audio[: round((stop - start) * sample_rate)]
    return audio
