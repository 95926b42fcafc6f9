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

State-dict layout, so that `HTSAT_BERT_zero_shot.pt` (a dict with the state dict under "model") loads
strictly; names from WavCaps retrieval/models/:
- ase_model.py ASE: `audio_encoder`, `text_encoder`, `audio_proj` (Sequential 0/1/2), `text_proj`, `temp`
- audio_encoder.py AudioEncoder: the HTS-AT is its `audio_enc`
- htsat.py HTSAT_Swin_Transformer: `audio_feats_extractor`, `bn0`, `patch_embed`, `layers`, `norm`,
  `tscam_conv`, `head` (laion_clap's class has the same names apart from the front end)
- feature_extractor.py AudioFeature: `mel_trans` (Spectrogram), `log_trans` (LogmelFilterBank)
- text_encoder.py TextEncoder: the BertModel is its `text_encoder` (its tokenizer is no module)
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertModel, BertTokenizer

from avzsl.encoders.frontend import light_front_end
from avzsl.encoders.presets import AudioEncoder as AudioEncoderSpec
from avzsl.encoders.tokens import HashTokenizer, by_length, pad
from avzsl.encoders.state import empty, fill_random, fit, load_state_dict, restore_position_buffers, seeded

logger = logging.getLogger(__name__)

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
        del enc.spectrogram_extractor, enc.logmel_extractor  # re-attached under WavCaps' names
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
    """The ASE module tree with WavCaps' names (see the module docstring); inference only."""

    def __init__(self, audio: AudioEncoderSpec):
        super().__init__()
        self.audio_encoder = _HTSATAudio(audio)
        self.text_encoder = _BertText()
        self.audio_proj = _projection(AUDIO_WIDTH, audio.dim)
        self.text_proj = _projection(TEXT_WIDTH, audio.dim)
        self.temp = nn.Parameter(torch.tensor(0.07))  # contrastive temperature (inference.yaml temp), unused here

    def encode_audio(self, waveform: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_proj(self.audio_encoder(waveform)), dim=-1)  # (B, D)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text_encoder(input_ids, attention_mask)), dim=-1)  # (B, D)


class WavCapsTower:
    """Audio and audio-text tower of the `wavcaps` audio kind, with ClapTower's methods."""

    def __init__(self, model: WavCapsASE, audio: AudioEncoderSpec, tokenizer, device: torch.device):
        self.model = model.eval()  # eval: BatchNorm uses its running statistics, no SpecAugment, no dropout
        self.audio = audio  # the preset's AudioEncoder: sample rate, window, mel settings, dim
        self.tokenizer = tokenizer  # list[str] -> token-id lists with [CLS] ... [SEP], at most text_max_tokens long
        self.device = device

    @classmethod
    def build(cls, audio: AudioEncoderSpec, weights: Path | None, tokenizer, *, seed: int, device: torch.device) -> WavCapsTower:
        """`weights` None -> random weights from `seed`; else a WavCaps checkpoint, loaded strictly."""
        state = None if weights is None else load_state_dict(weights, drop=_STALE_KEYS)  # the checkpoint's "model"
        with light_front_end(), seeded(seed):
            model = WavCapsASE(audio)
        bert = model.text_encoder.text_encoder
        if state is None:
            fill_random(bert, seed)
        else:
            fit(model, state, weights, "WavCaps HTSAT-BERT (keys audio_encoder.audio_enc.*, text_encoder.text_encoder.*, "
                "audio_proj.*, text_proj.*, temp)")
        restore_position_buffers(bert.embeddings)
        return cls(model.to(device), audio, tokenizer, device)

    @property
    def dim(self) -> int:
        return self.audio.dim

    @property
    def window_samples(self) -> int:
        return self.audio.window_samples

    @torch.inference_mode()
    def log_mel(self, waveforms: np.ndarray) -> torch.Tensor:
        """(N, window_samples) waveforms -> (N, 1, frames, n_mels): the front end alone (for tests and plots)."""
        x = torch.from_numpy(np.stack([self._check(w) for w in waveforms])).to(self.device)
        return self.model.audio_encoder.log_mel(x)

    @torch.inference_mode()
    def embed_audio(self, waveforms: np.ndarray | Sequence[np.ndarray], batch_size: int = 8) -> torch.Tensor:
        """(N, window_samples) float mono waveforms at the preset's rate -> (N, D) unit rows.

        The float samples go in as they are: the release's extraction passed librosa's float32 waveform
        straight to `encode_audio` (no int16 round trip, unlike laion_clap).
        """
        if isinstance(waveforms, np.ndarray) and waveforms.ndim != 2:
            raise ValueError(f"waveforms must be a batch (N, {self.window_samples}), not shape {waveforms.shape}")
        clips = [self._check(w) for w in waveforms]
        out = []
        for i in range(0, len(clips), batch_size):
            batch = torch.from_numpy(np.stack(clips[i : i + batch_size])).to(self.device)  # (B, S)
            out.append(self.model.encode_audio(batch))
        return torch.cat(out) if out else torch.empty(0, self.dim)

    @torch.inference_mode()
    def encode_text(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(P, D) unit prompt embeddings, each batch padded only to its longest prompt.

        BERT's positions are absolute from 0 and padded positions are masked out of attention, so right
        padding does not change the [CLS] output: sorting prompts by length and padding each batch to its
        own longest prompt gives WavCaps' "longest in the batch" result whatever the batch holds.
        """
        return by_length(self.tokenizer(list(prompts)), self.dim, batch_size, PAD, self.device, self.model.encode_text)

    @torch.inference_mode()
    def encode_text_reference(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """Every prompt padded to the full text_max_tokens, in the given order: the baseline the fast path must match."""
        ids = self.tokenizer(list(prompts))
        out = []
        for i in range(0, len(ids), batch_size):
            out.append(self.model.encode_text(*pad(ids[i : i + batch_size], self.audio.text_max_tokens, PAD, self.device)))
        return torch.cat(out) if out else torch.empty(0, self.dim)

    def _check(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=np.float32)
        if w.shape != (self.window_samples,):
            raise ValueError(
                f"WavCaps takes mono {self.audio.sample_rate // 1000} kHz clips of exactly {self.window_samples} samples "
                f"({self.audio.window_seconds:g} s), not shape {w.shape}; avzsl.media crops or pads the audio window"
            )
        return w


class BertWordPieceTokenizer:
    """bert-base-uncased's own tokenizer (the class WavCaps uses) from a local vocab.txt; truncates like WavCaps."""

    def __init__(self, vocab: Path, max_tokens: int):
        self._tok = BertTokenizer(vocab_file=str(vocab), do_lower_case=True)  # bert-base-uncased lower-cases
        self.max_tokens = max_tokens

    def __call__(self, prompts: list[str]) -> list[list[int]]:
        return self._tok(prompts, truncation=True, max_length=self.max_tokens)["input_ids"]


def offline_bert_tokenizer(max_tokens: int) -> HashTokenizer:
    """Random mode's tokenizer: text lower-cased and split as BERT pre-tokenises it (whitespace and
    punctuation), ids in [999, 30522) (where bert-base-uncased's ordinary tokens start), [CLS] ... [SEP] around."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    return HashTokenizer(BertPreTokenizer(), first_id=999, vocab_size=_BERT_BASE_UNCASED["vocab_size"], start=CLS,
                         end=SEP, max_tokens=max_tokens, lower=True)
