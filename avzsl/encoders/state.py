"""Encoder weights into a model: read lean from a file, checked against the model, or drawn at random.

Building CLIP and CLAP's ~280 M parameters the ordinary way initialises every one of them (seconds), only
for a file to replace them all. Their big transformer stacks are therefore built with `empty(build)`: on
the meta device (no memory, no initialisation), then given uninitialised CPU memory. Then either

- `fit(model, state, path)` checks a file's state dict against the model, keys and shapes, and refuses a
  file made for another model in one line, before taking its tensors as the parameters; or
- `fill_random(module, seed)` draws seeded random weights (random mode, a test mode): ones and zeros for
  norms and biases, N(0, 0.02) for the rest, BERT's and CLIP's own scale.

Either way the buffers a file does not carry (causal masks, position ids) are computed again afterwards
(open_clip's causal mask, `restore_position_buffers`). No torch function is replaced.

`load_state_dict` reads a training checkpoint lean: torch.load(mmap=True) maps the file, and only the
model's tensors are copied out of it; AdamW's state, twice the model's size in laion_clap's and WavCaps'
checkpoints, is never read.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avzsl.encoders.weights import WeightsFormatError, repair_hint
from avzsl.validation import check_finite

MAX_NAMED = 3  # differing keys a message names


@contextmanager
def seeded(seed: int):
    """torch's generator seeded for a build; the caller's random state is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def empty(build: Callable[[], nn.Module]) -> nn.Module:
    """`build()` on the meta device, then uninitialised CPU memory for every tensor: no initialisation paid.

    Every parameter must then come from `fit` or `fill_random`, every non-persistent buffer be computed again."""
    with torch.device("meta"):
        module = build()
    return module.to_empty(device="cpu")


def fill_random(module: nn.Module, seed: int) -> None:
    """Seeded random weights for a module built with `empty`: norms 1 and 0, biases and vectors 0, N(0, 0.02) else."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            for name, tensor in [*layer.named_parameters(recurse=False), *layer.named_buffers(recurse=False)]:
                if isinstance(layer, nn.LayerNorm) and name == "weight":
                    tensor.fill_(1.0)
                elif tensor.ndim >= 2 and tensor.is_floating_point():
                    tensor.normal_(0.0, 0.02, generator=generator)
                else:
                    tensor.zero_()
            if isinstance(layer, nn.Embedding) and layer.padding_idx is not None:
                layer.weight[layer.padding_idx] = 0.0


def restore_position_buffers(embeddings: nn.Module) -> None:
    """A BERT / RoBERTa embeddings module's non-persistent buffers, as transformers computes them."""
    positions = torch.arange(embeddings.position_ids.shape[-1]).expand((1, -1))  # (1, max_positions)
    embeddings.position_ids = positions
    embeddings.token_type_ids = torch.zeros(positions.shape, dtype=torch.long)


def fit(model: nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Take `state` as the model's parameters and buffers (`assign`), after checking that its keys and shapes
    are exactly the model's. Tensors are cast to the model's dtype (a float16 file gives the float32 model).

    Raises WeightsFormatError, one line naming the file and the first keys that differ."""
    own = model.state_dict(keep_vars=True)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} (the model's: {tuple(own[k].shape)})" for k in own
                if k in state and state[k].shape != own[k].shape]
    problems = [f"{label} {', '.join(keys[:MAX_NAMED])}" + (f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else "")
                for label, keys in (("it lacks", missing), ("it has unknown", unexpected), ("wrong shapes:", reshaped)) if keys]
    if problems:
        raise WeightsFormatError(f"{path} does not fit the {what} model: {'; '.join(problems)}{repair_hint(Path(path))}")
    for name, tensor in state.items():  # NaN or infinity in one weight makes every embedding NaN
        check_finite(tensor, f"tensor {name}", str(path), WeightsFormatError)
    state = {k: v.to(own[k].dtype) if v.dtype != own[k].dtype else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)


def load_state_dict(path: str | os.PathLike, drop: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """A plain state dict from a safetensors file or a torch file, without unpickling arbitrary objects.

    Accepts a bare state dict or a training checkpoint {"state_dict": ..., ...} (laion_clap) or
    {"model": ..., "optimizer": ..., ...} (WavCaps), reading only the model's tensors; strips DataParallel's
    "module." prefix and drops the keys `drop` (buffers older libraries saved).
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        from safetensors.torch import load_file

        try:
            return _model_tensors(load_file(str(path)), path, drop)
        except Exception as e:  # noqa: BLE001 - SafetensorError and the like: a damaged file, in one line
            raise WeightsFormatError(f"{path} cannot be read as safetensors or a torch archive: {e}{repair_hint(path)}") from None
    try:
        obj = _torch_load(path)
    except Exception as e:  # noqa: BLE001 - torch's message is a page long: its one useful line is kept
        found = re.search(r"Unsupported global: GLOBAL [\w.]+", str(e))
        raise WeightsFormatError(
            f"{path} cannot be read with torch.load(weights_only=True) "
            f"({found.group(0) if found else ' '.join(str(e).split())[:200]}); avzsl only "
            "loads plain state dicts (it never unpickles arbitrary objects): use the safetensors or state-dict release"
        ) from None
    for key in ("state_dict", "model"):  # laion_clap's training checkpoints / WavCaps' ({"model", "optimizer", ...})
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    # Copied out of the mapped file: the model owns its memory and the rest of the file is never read.
    return {k: v.clone() for k, v in _model_tensors(obj, path, drop).items()}


def _model_tensors(obj, path: Path, drop: tuple[str, ...]) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsFormatError(f"{path} does not hold a state dict (name -> tensor){repair_hint(path)}")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return {k: v for k, v in obj.items() if k not in drop}


def _torch_load(path: Path):
    """torch.load(weights_only=True, mmap=True), also accepting numpy scalars and arrays: training checkpoints
    often store an epoch or a learning rate that way. Exactly numpy's data reconstructors are allowed."""
    multiarray = np.core.multiarray
    dtype_classes = [getattr(np.dtypes, n) for n in np.dtypes.__all__]  # what an unpickled np.dtype is built as
    with torch.serialization.safe_globals([np.dtype, np.ndarray, multiarray.scalar, multiarray._reconstruct, *dtype_classes]):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
