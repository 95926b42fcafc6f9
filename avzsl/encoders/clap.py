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
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

from avzsl.encoders.presets import AudioEncoder
from avzsl.encoders.state import empty
from avzsl.encoders.audio_tower import AudioTower, HashTokenizer

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


class ClapTower(AudioTower):
    """laion_clap's CLAP (non-fusion checkpoints only): 48 kHz clips of exactly 480,000 samples."""

    name, pad_id, stale_keys = "CLAP", PAD, _STALE_KEYS

    @staticmethod
    def new_model(audio: AudioEncoder) -> torch.nn.Module:
        if "fusion" in audio.checkpoint:
            raise ValueError(
                f"CLAP checkpoint {audio.checkpoint!r} is a fusion model; avzsl supports non-fusion checkpoints "
                "(630k-audioset-best, 630k-best): fusion needs torchaudio mel features"
            )
        cm = _clap_module()
        with _offline_roberta(cm.model):
            model, _ = cm.factory.create_model(audio.model, "roberta", pretrained="", precision="fp32", enable_fusion=False)
        return model

    @staticmethod
    def text_transformer(model: torch.nn.Module) -> torch.nn.Module:
        return model.text_branch

    def audio_forward(self, clips: list[np.ndarray]) -> torch.Tensor:
        # laion_clap's audio-embedding path; "longer" False = no fusion chunks (clips are exactly 10 s).
        batch = [{"waveform": torch.from_numpy(_quantise(c)), "longer": torch.tensor([False])} for c in clips]
        return self.model.get_audio_embedding(batch)

    def text_forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # exactly laion_clap's CLAP.encode_text for roberta: pooler, then projection
        pooled = self.model.text_branch(input_ids=input_ids, attention_mask=mask)["pooler_output"]  # (B, 768)
        return F.normalize(self.model.text_projection(pooled), dim=-1)  # (B, D)

    def reference_text_forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """laion_clap's own `get_text_embedding` (on its 77-token padding)."""
        return self.model.get_text_embedding({"input_ids": input_ids, "attention_mask": mask})

    @staticmethod
    def library_tokenizer(files: Sequence[Path]) -> RobertaTokenizer:
        """roberta-base's own tokenizer (the class laion_clap uses) from local vocab.json + merges.txt."""
        vocab, merges = files
        return RobertaTokenizer(vocab_file=str(vocab), merges_file=str(merges))

    @staticmethod
    def offline_tokenizer(audio: AudioEncoder) -> HashTokenizer:
        """Random mode's tokenizer: pieces split as roberta's byte-level BPE splits them (words with their
        leading space, punctuation), ids in [4, 50265) after <s>, <pad>, </s>, <unk>, with <s> ... </s> around."""
        from tokenizers.pre_tokenizers import ByteLevel

        return HashTokenizer(ByteLevel(add_prefix_space=False), first_id=4, vocab_size=_ROBERTA_BASE["vocab_size"],
                             start=BOS, end=EOS, max_tokens=audio.text_max_tokens)


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
    original = clap_model.RobertaModel
    clap_model.RobertaModel = SimpleNamespace(
        from_pretrained=lambda *_args, **_kwargs: empty(lambda: RobertaModel(RobertaConfig(**_ROBERTA_BASE))))
    try:
        yield
    finally:
        clap_model.RobertaModel = original

