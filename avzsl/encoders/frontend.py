"""The log-mel front end of both HTS-AT audio towers (torchlibrosa's Spectrogram + LogmelFilterBank),
built without importing librosa.

torchlibrosa computes its STFT kernels and mel filters when a tower is built, through `librosa.filters`
and `librosa.util`. Importing those loads numba and librosa's numba-compiled functions: about 2 s on
every start (2 idle cores), for a few small arrays. While a tower is built,
`light_front_end()` gives torchlibrosa the three functions it calls (`filters.get_window`, `util.pad_center`,
`filters.mel`) from scipy and numpy instead, and an STFT matrix from the n roots of unity instead of n * n
complex powers (0.4 s). The values agree with librosa's to float32 rounding (tests/test_frontend.py compares
them); with real weights they are replaced by the checkpoint's tensors in any case.

    >>> mel = slaney_mel_filters(sr=48_000, n_fft=1024, n_mels=64, fmin=50, fmax=14_000)
    >>> mel.shape, mel.dtype
    ((64, 513), dtype('float32'))
    >>> bool((mel >= 0).all()) and bool((mel.sum(axis=1) > 0).all())  # every filter covers some bins
    True
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import scipy.signal

# The Slaney (Auditory Toolbox) mel scale: linear below 1 kHz at 3 mels per 200 Hz, logarithmic above,
# with 27 mels per factor of 6.4 in frequency.
_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL  # 15 mels
_LOG_STEP = np.log(6.4) / 27.0  # natural-log Hz per mel above the break


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mels of frequencies in Hz."""
    hz = np.asarray(hz, dtype=np.float64)
    above = _BREAK_MEL + np.log(np.maximum(hz, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(hz >= _BREAK_HZ, above, hz / _LINEAR_HZ_PER_MEL)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of Slaney mels (the inverse of hz_to_mel)."""
    mel = np.asarray(mel, dtype=np.float64)
    above = _BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _BREAK_MEL) - _BREAK_MEL))
    return np.where(mel >= _BREAK_MEL, above, mel * _LINEAR_HZ_PER_MEL)


def slaney_mel_filters(sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters, evenly spaced on the Slaney mel scale between
    fmin and fmax (default sr / 2), each scaled to unit area ("slaney" normalisation): what
    `librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=)` gives with its defaults."""
    fmax = sr / 2 if fmax is None else fmax
    bins_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)  # (F,)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # (M + 2,) left, centre, right
    left, centre, right = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]  # (M, 1) each
    rising = (bins_hz - left) / (centre - left)  # (M, F)
    falling = (right - bins_hz) / (right - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return (triangles * (2.0 / (right - left))).astype(np.float32)


def pad_center(data: np.ndarray, size: int) -> np.ndarray:
    """`data` zero-padded on both sides to `size` samples, the extra sample (if odd) on the right."""
    extra = size - data.shape[-1]
    if extra < 0:
        raise ValueError(f"cannot pad {data.shape[-1]} samples to {size}")
    return np.pad(data, [(0, 0)] * (data.ndim - 1) + [(extra // 2, extra - extra // 2)])


def dft_matrix(n: int) -> np.ndarray:
    """(n, n) complex DFT matrix, W[j, k] = exp(-2 pi i j k / n): the n-th roots of unity, gathered by
    j k mod n (n complex exponentials instead of n * n complex powers)."""
    roots = np.exp(-2j * np.pi * np.arange(n) / n)  # (n,)
    return roots[np.outer(np.arange(n), np.arange(n)) % n]


LIBROSA_STANDIN = SimpleNamespace(  # scipy's get_window is the one librosa's own get_window calls
    filters=SimpleNamespace(get_window=scipy.signal.get_window, mel=slaney_mel_filters),
    util=SimpleNamespace(pad_center=pad_center),
)
_swap_lock = threading.Lock()


@contextmanager
def light_front_end():
    """While building an HTS-AT tower: torchlibrosa's STFT and mel filters come from this module.

    Only torchlibrosa.stft's own name `librosa` and its DFT-matrix method are swapped, for the duration
    of the block, and one block at a time.
    """
    import torchlibrosa.stft as stft

    with _swap_lock:
        librosa, dft = stft.librosa, stft.DFTBase.dft_matrix
        stft.librosa, stft.DFTBase.dft_matrix = LIBROSA_STANDIN, lambda _self, n: dft_matrix(n)
        try:
            yield
        finally:
            stft.librosa, stft.DFTBase.dft_matrix = librosa, dft
