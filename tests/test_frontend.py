"""The HTS-AT front end built without librosa (avzsl/encoders/frontend.py) gives librosa's values, and
building an audio tower no longer imports librosa's numba-compiled modules."""

import librosa  # a requirement (laion_clap's); here only as the reference to compare with
import numpy as np
import pytest
import torchlibrosa.stft as stft

from avzsl.encoders import frontend
from avzsl.encoders.presets import PRESETS

# (sr, n_fft, n_mels, fmin, fmax): both presets' audio front ends, plus librosa's defaults and a small one
PRESET_SETTINGS = {(p.audio.sample_rate, p.audio.n_fft, p.audio.n_mels, p.audio.fmin, p.audio.fmax)
                   for p in PRESETS.values()}
MEL_SETTINGS = sorted(PRESET_SETTINGS) + [(22_050, 2048, 128, 0.0, None), (16_000, 512, 40, 20.0, 8000.0)]


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", MEL_SETTINGS)
def test_mel_filters_match_librosa(sr, n_fft, n_mels, fmin, fmax):
    expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax if fmax else sr / 2)
    ours = frontend.slaney_mel_filters(sr, n_fft, n_mels, fmin, fmax)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-8)  # float32 rounding of values up to ~0.04


def test_mel_scale_is_slaney():
    hz = np.array([0.0, 60.0, 999.0, 1000.0, 1001.0, 4000.0, 14_000.0, 24_000.0])
    np.testing.assert_allclose(frontend.hz_to_mel(hz), librosa.hz_to_mel(hz), rtol=1e-12)
    np.testing.assert_allclose(frontend.mel_to_hz(frontend.hz_to_mel(hz)), hz, rtol=1e-12)


def test_window_padding_and_dft_match_torchlibrosa_originals():
    np.testing.assert_array_equal(frontend.LIBROSA_STANDIN.filters.get_window("hann", 1024, fftbins=True),
                                  librosa.filters.get_window("hann", 1024, fftbins=True))
    for n, size in [(5, 10), (6, 10), (10, 10)]:
        data = np.arange(1.0, n + 1)
        np.testing.assert_array_equal(frontend.pad_center(data, size), librosa.util.pad_center(data, size=size))
    with pytest.raises(ValueError):
        frontend.pad_center(np.ones(11), 10)
    original = stft.DFTBase().dft_matrix(1024)
    np.testing.assert_allclose(frontend.dft_matrix(1024), original, rtol=0, atol=1e-9)


def test_torchlibrosa_modules_built_inside_equal_those_built_outside_and_the_swap_is_undone():
    def build():
        spectrogram = stft.Spectrogram(n_fft=1024, hop_length=480, win_length=1024, window="hann")
        mel = stft.LogmelFilterBank(sr=48_000, n_fft=1024, n_mels=64, fmin=50, fmax=14_000)
        return spectrogram.stft.conv_real.weight, spectrogram.stft.conv_imag.weight, mel.melW

    librosa_module, dft_method = stft.librosa, stft.DFTBase.dft_matrix
    with frontend.light_front_end():
        assert stft.librosa is not librosa_module
        light = build()
    assert stft.librosa is librosa_module and stft.DFTBase.dft_matrix is dft_method
    for ours, theirs in zip(light, build()):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-6)
        assert ours.abs().max() > 0


@pytest.mark.slow  # a fresh process builds both presets' encoders: about 10 s, shared with test_cold_start.py
def test_building_the_audio_towers_does_not_import_librosas_compiled_modules(encoders_in_a_new_process):
    """In a fresh process: what was imported is the point (numba and librosa.util's compiled functions cost
    about 2 s a start)."""
    assert encoders_in_a_new_process["heavy"] == []
