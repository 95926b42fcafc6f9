"""CLIP image and text towers (open_clip), with a text forward that stops at the longest prompt.

open_clip's `encode_text` always runs the full 77-token context. CLIP's text transformer is causal and
pools at the end-of-text token, so positions after the last EOT in a batch cannot influence the output:
running only the first L = (last EOT index + 1) positions, with the positional embedding and the causal
mask sliced to L, gives the same embeddings (up to float rounding) several times faster on short prompts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from open_clip.transformer import text_global_pool
from PIL import Image

from avzsl.encoders.frames import apply_frame_convention
from avzsl.encoders.state import empty, fill_random, fit, load_state_dict
from avzsl.encoders.weights import WeightsFormatError

logger = logging.getLogger(__name__)

_TRIMMABLE_POOLS = ("argmax", "eos")  # pooled position known from the tokens; "last" would need all 77


class ClipTower:
    def __init__(self, model: open_clip.CLIP, preprocess, tokenizer, device: torch.device):
        self.model = model.eval()
        self.preprocess = preprocess  # PIL image -> (3, 224, 224) float tensor, open_clip's own eval transform
        self.tokenizer = tokenizer  # list[str] -> (P, 77) int64, open_clip's tokenizer for the architecture
        self.device = device
        # Trimming is exact only for a causal text transformer pooled at a token found from the ids.
        self.trims = isinstance(model, open_clip.CLIP) and model.attn_mask is not None and model.text_pool_type in _TRIMMABLE_POOLS
        if not self.trims:
            logger.info("CLIP text tower of this architecture runs at full context (no trimming)")

    @classmethod
    def build(cls, name: str, pretrained: str, weights: Path | None, *, seed: int, device: torch.device) -> ClipTower:
        """`weights` None -> random weights from `seed`; the architecture is the one the tag's weights need."""
        tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
        # OpenAI's weights were trained with QuickGELU: random builds use it too, so both run the same network.
        quick_gelu = tag_cfg.get("quick_gelu", False)
        # Built empty (no initialisation, no memory written), then filled from the file or at random.
        model = empty(lambda: open_clip.create_model(name, pretrained=None, force_quick_gelu=quick_gelu, device="meta"))
        if weights is None:
            fill_random(model, seed)
        else:
            logger.info("loading CLIP %s / %s from %s", name, pretrained, weights)
            state = load_state_dict(weights)  # read with safetensors or torch.load(weights_only=True)
            try:
                state = _open_clip_state(model, state)
            except Exception as e:  # noqa: BLE001 - open_clip's conversions fail on another model's keys
                raise WeightsFormatError(f"{weights} is not an open_clip state dict of {name}: {type(e).__name__}: {e}; "
                                         "for OpenAI CLIP use open_clip_model.safetensors from "
                                         "https://huggingface.co/timm/vit_base_patch32_clip_224.openai") from None
            fit(model, state, weights, f"CLIP {name}")
        if model.attn_mask is not None:  # the one buffer no file carries: (77, 77), -inf above the diagonal
            model.attn_mask = torch.full(model.attn_mask.shape, float("-inf")).triu_(1)
        model.to(device)
        pp = PreprocessCfg(**merge_preprocess_dict(model.visual.preprocess_cfg, tag_cfg))  # tag's mean/std etc.
        return cls(model, image_transform_v2(pp, is_train=False), open_clip.get_tokenizer(name), device)

    @property
    def dim(self) -> int:
        return self.model.visual.output_dim

    @torch.inference_mode()
    def embed_images(self, frames: Sequence[np.ndarray | Image.Image], batch_size: int = 32) -> torch.Tensor:
        """(H, W, 3) uint8 RGB frames or PIL images -> (N, D) unit rows."""
        out = []
        for i in range(0, len(frames), batch_size):
            pixels = torch.stack([self.preprocess(apply_frame_convention(f, "rgb")) for f in frames[i : i + batch_size]])  # (B, 3, 224, 224)
            out.append(self.model.encode_image(pixels.to(self.device)))
        return F.normalize(torch.cat(out), dim=-1) if out else torch.empty(0, self.dim)

    @torch.inference_mode()
    def encode_text(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """(P, D) unit prompt embeddings, each batch trimmed to its longest prompt."""
        if not self.trims:
            return self.encode_text_reference(prompts, batch_size)
        tokens = self.tokenizer(list(prompts)).to(self.device)  # (P, 77)
        if self.model.text_pool_type == "argmax":  # EOT has the highest id in CLIP's vocabulary
            ends = tokens.argmax(dim=-1)  # (P,) position each prompt is pooled at
        else:
            ends = (tokens == self.model.text_eos_id).int().argmax(dim=-1)
        out = torch.empty(len(tokens), self.dim, device=self.device)
        # Sorting by length groups similar prompts, so each batch pads only to its own longest prompt.
        for rows in torch.argsort(ends).split(batch_size):
            out[rows] = self._forward_trimmed(tokens[rows, : int(ends[rows].max()) + 1])
        return F.normalize(out, dim=-1)

    @torch.inference_mode()
    def encode_text_reference(self, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        """open_clip's own `encode_text` at full 77-token context: the baseline the fast path must match."""
        tokens = self.tokenizer(list(prompts)).to(self.device)  # (P, 77)
        return F.normalize(torch.cat([self.model.encode_text(t) for t in tokens.split(batch_size)]), dim=-1)

    def _forward_trimmed(self, tokens: torch.Tensor) -> torch.Tensor:
        """open_clip's CLIP.encode_text on (B, L) tokens, L <= context length. Returns (B, D), not normalised."""
        m, L = self.model, tokens.shape[1]
        cast_dtype = m.transformer.get_cast_dtype()
        x = m.token_embedding(tokens).to(cast_dtype) + m.positional_embedding[:L].to(cast_dtype)  # (B, L, W)
        x = m.transformer(x, attn_mask=m.attn_mask[:L, :L])  # (B, L, W); the transformer handles batch_first
        x = m.ln_final(x)
        x = text_global_pool(x, tokens, m.text_pool_type, eos_token_id=m.text_eos_id)  # (B, W)
        if m.text_projection is None:
            return x
        if isinstance(m.text_projection, torch.nn.Linear):
            return m.text_projection(x)
        return x @ m.text_projection  # (B, D)


def _open_clip_state(model: open_clip.CLIP, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The adjustments open_clip's `load_checkpoint` makes to a state dict before loading it (its own
    loading copies into the model; `fit` takes the tensors instead)."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed, resize_text_pos_embed

    state = convert_state_dict(model, state)  # third-party layouts -> open_clip's
    if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for key in ("logit_scale", "logit_bias"):  # scalar vs 1-element parameter
        if key in state and getattr(model, key, None) is not None and model.get_parameter(key).ndim != state[key].ndim:
            state[key] = state[key].reshape(model.get_parameter(key).shape)
    if "logit_bias" not in state and getattr(model, "logit_bias", None) is not None:
        state["logit_bias"] = torch.zeros_like(state["logit_scale"])
    state.pop("text.transformer.embeddings.position_ids", None)  # a buffer newer transformers do not save
    resize_pos_embed(state, model)
    resize_text_pos_embed(state, model)
    return state
