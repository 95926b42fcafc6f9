"""WavCaps HTSAT-BERT audio and text towers (the ClipClap release's "CLAP"), built without the network.

The WavCaps retrieval model ("ASE", github.com/XinhaoMei/WavCaps, retrieval/models/) is:

    audio  waveform (B, 320000) 32 kHz -> log-mel (B, 1, 1001, 64) -> BatchNorm over mel bins
           -> HTS-AT (Swin: embed 96, depths 2-2-6-2, heads 4-8-16-32, window 8, spec size 256) -> (B, 768)
           -> audio_proj: Linear(768, 1024) -> ReLU -> Linear(1024, 1024) -> L2-normalise      (B, 1024)
    text   prompts -> bert-base-uncased tokens (padding to the longest, truncation at 30)
           -> BertModel without pooler -> hidden state of [CLS] (B, 768)
           -> text_proj: the same shape of MLP -> L2-normalise                                 (B, 1024)

Nothing of WavCaps' code is used. The HTS-AT is laion_clap's `HTSAT_Swin_Transformer` (the same
network: both descend from the HTS-AT authors' code), whose log-mel front end is already the torchlibrosa
pair WavCaps uses (retrieval/models/feature_extractor.py: Spectrogram(hann, centre, reflect padding) +
LogmelFilterBank(ref 1.0, amin 1e-10, no top_db)); only its two front-end modules are re-attached under
WavCaps' names. BERT is transformers' BertModel built from bert-base-uncased's configuration written out
below, and the checkpoint supplies every weight.

The module tree has WavCaps' names (retrieval/models/), so that `HTSAT_BERT_zero_shot.pt` (a training
dict with the state dict under "model") loads strictly; each class below names the WavCaps class it mirrors.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel, BertTokenizer

from avzsl.encoders.presets import AudioEncoder as AudioEncoderSpec
from avzsl.encoders.state import empty
from avzsl.encoders.audio_tower import AudioTower, HashTokenizer

# bert-base-uncased's config.json, written out so building the text tower never touches the network.
# BertConfig's remaining defaults (gelu, dropout 0.1, absolute positions) are bert-base-uncased's too.
_BERT_BASE_UNCASED = dict(
    vocab_size=30522,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
    pad_token_id=0,
    layer_norm_eps=1e-12,
)
PAD, UNK, CLS, SEP = 0, 100, 101, 102  # bert-base-uncased's special token ids
TEXT_WIDTH = 768  # BERT hidden size (WavCaps text_encoder.py MODELS["bert-base-uncased"][-1])
AUDIO_WIDTH = 768  # HTS-AT clip embedding (WavCaps audio_encoder.py audio_width for "transformer")
N_CLASSES = 527  # AudioSet classes of HTS-AT's tagging head, which ASE keeps (unused by the embedding)
# Keys a checkpoint saved by an older transformers holds and newer ones keep as non-persistent buffers.
_STALE_KEYS = ("text_encoder.text_encoder.embeddings.position_ids",)


class _AudioFeature(nn.Module):
    """WavCaps' AudioFeature names around laion_clap's own front-end modules: waveform -> log-mel."""

    def __init__(self, mel_trans: nn.Module, log_trans: nn.Module):
        super().__init__()
        self.mel_trans = mel_trans  # torchlibrosa Spectrogram: (B, S) -> (B, 1, T, n_fft // 2 + 1) power
        self.log_trans = log_trans  # torchlibrosa LogmelFilterBank: -> (B, 1, T, n_mels) dB

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.log_trans(self.mel_trans(waveform))


class _HTSATAudio(nn.Module):
    """WavCaps' AudioEncoder: `audio_enc` is the HTS-AT; its forward returns the (B, 768) clip embedding."""

    def __init__(self, audio: AudioEncoderSpec):
        super().__init__()
        from avzsl.encoders.clap import _clap_module

        _clap_module()  # registers laion_clap's model package as "clap_module" without laion_clap's downloads
        htsat = importlib.import_module("clap_module.htsat")
        cfg = SimpleNamespace(  # the fields laion_clap's HTS-AT reads from its audio config
            sample_rate=audio.sample_rate, window_size=audio.n_fft, hop_size=audio.hop,
            mel_bins=audio.n_mels, fmin=audio.fmin, fmax=audio.fmax, class_num=N_CLASSES,
        )
        enc = htsat.HTSAT_Swin_Transformer(
            spec_size=256, patch_size=4, patch_stride=(4, 4), num_classes=N_CLASSES, embed_dim=96,
            depths=[2, 2, 6, 2], num_heads=[4, 8, 16, 32], window_size=8, config=cfg,
        )
        front_end = _AudioFeature(enc.spectrogram_extractor, enc.logmel_extractor)
        # laion_clap's HTS-AT has WavCaps' names (bn0, patch_embed, layers, norm, tscam_conv, head) but for the
        # front end, re-attached here under WavCaps' name
        del enc.spectrogram_extractor, enc.logmel_extractor
        enc.audio_feats_extractor = front_end
        self.audio_enc = enc

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, S) waveforms -> (B, 1, T, n_mels) log-mel; T = S // hop + 1 (centred frames)."""
        return self.audio_enc.audio_feats_extractor(waveform)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        # WavCaps htsat.py HTSAT_Swin_Transformer.forward in eval mode (no SpecAugment), step by step.
        enc = self.audio_enc
        x = self.log_mel(waveform)  # (B, 1, T, 64)
        x = enc.bn0(x.transpose(1, 3)).transpose(1, 3)  # BatchNorm2d over the 64 mel bins
        x = enc.reshape_wav2img(x)  # (B, 1, 256, 256): T resized to 1024 (bicubic), folded into 4 rows of 256
        return enc.forward_features(x)["embedding"]  # (B, 768)


class _BertText(nn.Module):
    """WavCaps' TextEncoder: `text_encoder` is a BertModel without pooler; the feature is [CLS]'s hidden state."""

    def __init__(self):
        super().__init__()
        # Built empty (state.empty): the tower fills it from the checkpoint or at random.
        self.text_encoder = empty(lambda: BertModel(BertConfig(**_BERT_BASE_UNCASED), add_pooling_layer=False))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, 768)
        return hidden[:, 0]  # (B, 768): ASE.encode_text takes text_feats[:, 0, :]


def _projection(width: int, embed: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, embed), nn.ReLU(), nn.Linear(embed, embed))


class WavCapsASE(nn.Module):
    """WavCaps' ASE (ase_model.py) for inference: `audio_encoder`, `text_encoder`, `audio_proj`, `text_proj`
    (Sequential 0/1/2), `temp`."""

    def __init__(self, audio: AudioEncoderSpec):
        super().__init__()
        self.audio_encoder = _HTSATAudio(audio)
        self.text_encoder = _BertText()
        self.audio_proj = _projection(AUDIO_WIDTH, audio.dim)
        self.text_proj = _projection(TEXT_WIDTH, audio.dim)
        self.temp = nn.Parameter(torch.tensor(0.07))  # contrastive temperature (inference.yaml temp), unused here


class WavCapsTower(AudioTower):
    """Audio and audio-text tower of the `wavcaps` audio kind."""

    name, pad_id, stale_keys = "WavCaps", PAD, _STALE_KEYS
    layout = " (keys audio_encoder.audio_enc.*, text_encoder.text_encoder.*, audio_proj.*, text_proj.*, temp)"
    new_model = WavCapsASE

    @staticmethod
    def text_transformer(model: WavCapsASE) -> nn.Module:
        return model.text_encoder.text_encoder

    @torch.inference_mode()
    def log_mel(self, waveforms: np.ndarray) -> torch.Tensor:
        """(N, window_samples) waveforms -> (N, 1, frames, n_mels): the front end alone (for tests and plots)."""
        return self.model.audio_encoder.log_mel(torch.from_numpy(np.stack(self.clips(waveforms))).to(self.device))

    def audio_forward(self, clips: list[np.ndarray]) -> torch.Tensor:
        # The float samples go in as they are: the release's extraction passed librosa's float32 waveform
        # straight to ASE's `encode_audio`, this (no int16 round trip, unlike laion_clap).
        waveforms = torch.from_numpy(np.stack(clips)).to(self.device)  # (B, S)
        return F.normalize(self.model.audio_proj(self.model.audio_encoder(waveforms)), dim=-1)  # (B, D)

    def text_forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # BERT's positions are absolute from 0 and padded positions are masked out of attention, so right
        # padding does not change the [CLS] output: padding each length-sorted batch to its own longest prompt
        # gives WavCaps' "longest in the batch" result whatever the batch holds. ASE's `encode_text`:
        return F.normalize(self.model.text_proj(self.model.text_encoder(input_ids, mask)), dim=-1)  # (B, D)

    @staticmethod
    def library_tokenizer(files: Sequence[Path]) -> BertTokenizer:
        """bert-base-uncased's own tokenizer (the class WavCaps uses) from a local vocab.txt; truncates like WavCaps."""
        (vocab,) = files
        return BertTokenizer(vocab_file=str(vocab), do_lower_case=True)

    @staticmethod
    def offline_tokenizer(audio: AudioEncoderSpec) -> HashTokenizer:
        """Random mode's tokenizer: text lower-cased and split as BERT pre-tokenises it (whitespace and
        punctuation), ids in [999, 30522) (where bert-base-uncased's ordinary tokens start), [CLS] ... [SEP] around."""
        from tokenizers.pre_tokenizers import BertPreTokenizer

        return HashTokenizer(BertPreTokenizer(), first_id=999, vocab_size=_BERT_BASE_UNCASED["vocab_size"], start=CLS,
                             end=SEP, max_tokens=audio.text_max_tokens, lower=True)
