"""CLAP audio and text towers (laion_clap: HTSAT-tiny audio, roberta text), built without the network.

Three things laion_clap does that avzsl avoids:
- `import laion_clap` downloads three tokenizers at import time, so only its `clap_module` package is
  imported (under the top-level name "clap_module", the name laion_clap itself registers it under).
- `create_model` builds the text tower with `RobertaModel.from_pretrained('roberta-base')` (500 MB);
  here it is built from roberta-base's configuration, and the CLAP checkpoint supplies its weights.
- `get_audio_embedding_from_data` crops clips longer than 10 s at a random offset (`rand_trunc`); here
  every clip is exactly 480,000 samples (media.py crops deterministically), so the model input is the
  waveform itself after laion_clap's int16 quantisation round trip.

Text is padded to the longest prompt of a batch with an attention mask instead of laion_clap's fixed 77
tokens. Padded positions are masked out of attention and roberta derives position ids from the non-pad
tokens, so the pooled output does not depend on the padding length.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

from avzsl.encoders.frontend import light_front_end
from avzsl.encoders.tokens import HashTokenizer, by_length, pad
from avzsl.encoders.state import empty, fill_random, fit, load_state_dict, restore_position_buffers, seeded

logger = logging.getLogger(__name__)

CLIP_SAMPLES = 480_000  # 10 s at 48 kHz: HTSAT's input window (laion_clap audio_cfg.clip_samples)
CONTEXT = 77  # laion_clap tokenises with padding="max_length", truncation, max_length=77

# roberta-base's config.json, written out so building the text tower never touches the network.
# RobertaConfig's remaining defaults (gelu, dropout 0.1, absolute positions) are roberta-base's too.
_ROBERTA_BASE = dict(
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    type_vocab_size=1,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    layer_norm_eps=1e-5,
)
BOS, PAD, EOS = 0, 1, 2
# Keys in laion_clap checkpoints that newer transformers keep as non-persistent buffers (laion_clap's own
# load_state_dict drops this key too); restore_position_buffers computes it.
_STALE_KEYS = ("text_branch.embeddings.position_ids",)


class ClapTower:
    def __init__(self, model: torch.nn.Module, tokenizer, device: torch.device):
        self.model = model.eval()  # laion_clap CLAP; eval also switches off HTSAT's SpecAugment
        self.tokenizer = tokenizer  # list[str] -> list of token-id lists with <s> ... </s>, at most 77 long
        self.device = device

    @classmethod
    def build(cls, audio_model: str, pretrained: str, weights: Path | None, tokenizer, *, seed: int, device: torch.device) -> ClapTower:
        """`weights` None -> random weights from `seed`. Non-fusion checkpoints only."""
        if "fusion" in pretrained:
            raise ValueError(
                f"CLAP checkpoint {pretrained!r} is a fusion model; avzsl supports non-fusion checkpoints "
                "(630k-audioset-best, 630k-best): fusion needs torchaudio mel features"
            )
        cm = _clap_module()
        state = None if weights is None else load_state_dict(weights, drop=_STALE_KEYS)
        # HTS-AT and the projections are built with their own seeded initialisation (their front end is computed);
        # roberta, 125 M of the 158 M parameters, is built empty and filled from the file or at random.
        with _offline_roberta(cm.model), light_front_end(), seeded(seed):
            model, _ = cm.factory.create_model(audio_model, "roberta", pretrained="", precision="fp32", enable_fusion=False)
        if state is None:
            fill_random(model.text_branch, seed)
        else:
            fit(model, state, weights, f"laion_clap {audio_model}")
        restore_position_buffers(model.text_branch.embeddings)
        return cls(model.to(device), tokenizer, device)

    @property
    def dim(self) -> int:
        return self.model.joint_embed_shape

    @torch.inference_mode()
    def embed_audio(self, waveforms: np.ndarray | Sequence[np.ndarray], batch_size: int = 8) -> torch.Tensor:
        """(N, 480000) float mono 48 kHz waveforms -> (N, D) unit rows. Deterministic: no cropping."""
        if isinstance(waveforms, np.ndarray) and waveforms.ndim != 2:
            raise ValueError(f"waveforms must be a batch (N, {CLIP_SAMPLES}), not shape {waveforms.shape}")
        clips = [_quantise(_check_waveform(w)) for w in waveforms]
        out = []
        for i in range(0, len(clips), batch_size):
            # laion_clap's audio-embedding path; "longer" False = no fusion chunks (clips are exactly 10 s).
            batch = [{"waveform": torch.from_numpy(c), "longer": torch.tensor([False])} for c in clips[i : i + batch_size]]
            out.append(self.model.get_audio_embedding(batch))
        return torch.cat(out) if out else torch.empty(0, self.dim)

    @torch.inference_mode()
    def encode_text(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(P, D) unit prompt embeddings, each batch padded only to its longest prompt."""

        def forward(input_ids, mask):  # exactly laion_clap's CLAP.encode_text for roberta: pooler, then projection
            pooled = self.model.text_branch(input_ids=input_ids, attention_mask=mask)["pooler_output"]  # (B, 768)
            return self.model.text_projection(pooled)  # (B, D)

        return F.normalize(by_length(self.tokenizer(list(prompts)), self.dim, batch_size, PAD, self.device, forward), dim=-1)

    @torch.inference_mode()
    def encode_text_reference(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """laion_clap's own `get_text_embedding` with its 77-token padding: the baseline the fast path must match."""
        ids = self.tokenizer(list(prompts))
        out = []
        for i in range(0, len(ids), batch_size):
            input_ids, mask = pad(ids[i : i + batch_size], CONTEXT, PAD, self.device)
            out.append(self.model.get_text_embedding({"input_ids": input_ids, "attention_mask": mask}))
        return torch.cat(out)


class RobertaBPETokenizer:
    """roberta-base's own tokenizer (the class laion_clap uses) from local vocab.json + merges.txt."""

    def __init__(self, vocab: Path, merges: Path):
        self._tok = RobertaTokenizer(vocab_file=str(vocab), merges_file=str(merges))

    def __call__(self, prompts: list[str]) -> list[list[int]]:
        return self._tok(prompts, truncation=True, max_length=CONTEXT)["input_ids"]


def offline_tokenizer() -> HashTokenizer:
    """Random mode's tokenizer: pieces split as roberta's byte-level BPE splits them (words with their leading
    space, punctuation), ids in [4, 50265) after <s>, <pad>, </s>, <unk>, with <s> ... </s> around."""
    from tokenizers.pre_tokenizers import ByteLevel

    return HashTokenizer(ByteLevel(add_prefix_space=False), first_id=4, vocab_size=_ROBERTA_BASE["vocab_size"],
                         start=BOS, end=EOS, max_tokens=CONTEXT)


def _check_waveform(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.shape != (CLIP_SAMPLES,):
        raise ValueError(
            f"CLAP takes mono 48 kHz clips of exactly {CLIP_SAMPLES} samples (10 s), not shape {w.shape}; "
            "avzsl.media crops or pads the audio window"
        )
    return w


def _quantise(w: np.ndarray) -> np.ndarray:
    """laion_clap's int16 round trip (what its hook applies before embedding): clip, scale, truncate, rescale."""
    return (np.clip(w, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / np.float32(32767.0)


def _clap_module() -> ModuleType:
    """laion_clap's model package, with its `factory` and `model` modules imported, without running
    laion_clap/__init__.py (which downloads tokenizers) or the package's own __init__.py (whose only
    import avzsl does not need, its BPE tokenizer, costs 0.13 s a start)."""
    for name in ("clap_module", "laion_clap.clap_module"):
        if name in sys.modules and hasattr(sys.modules[name], "factory"):
            return sys.modules[name]
    package = importlib.util.find_spec("laion_clap")
    if package is None or package.origin is None:
        raise ImportError("laion_clap is not installed: pip install laion-clap==1.1.7")
    folder = Path(package.origin).parent / "clap_module"
    module = ModuleType("clap_module")
    module.__path__ = [str(folder)]  # a package: its submodules import each other relatively through this name
    module.__package__ = "clap_module"
    sys.modules["clap_module"] = module
    try:
        importlib.import_module("clap_module.factory")  # imports clap_module.model, htsat, ... in turn
    except BaseException:
        for name in [n for n in sys.modules if n == "clap_module" or n.startswith("clap_module.")]:
            del sys.modules[name]
        raise
    return module


@contextmanager
def _offline_roberta(clap_model: ModuleType):
    """While laion_clap builds a model, its `RobertaModel.from_pretrained` builds an empty model (state.empty)
    from roberta-base's config.

    Only the name inside laion_clap's model module is swapped, and only for the duration of the build.
    """

    class _FromConfig:
        @staticmethod
        def from_pretrained(*_args, **_kwargs):
            return empty(lambda: RobertaModel(RobertaConfig(**_ROBERTA_BASE)))

    original = clap_model.RobertaModel
    clap_model.RobertaModel = _FromConfig
    try:
        yield
    finally:
        clap_model.RobertaModel = original

