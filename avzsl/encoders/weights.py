"""Where encoder weights come from, in the manner of open_clip: a plain local file always works.

Each resolver tries, in order: the explicit path (argument, i.e. a command-line flag), its environment
variable, the standard caches of the library the weights belong to, then avzsl's own cache folder
(`$AVZSL_CACHE_DIR`, default `~/.cache/avzsl`), and last fetches the file from the Hugging Face hub into
its cache (hub.py). Offline (`offline=True`, or $HF_HUB_OFFLINE) nothing is fetched: when every place is
empty a `WeightsNotFoundError` names the file, the places looked in, and how to provide it. The WavCaps
checkpoint is not on the hub, so it is never fetched.

`check_weights_file` checks a found file's structure in milliseconds (a damaged cache file is named,
with how to fetch it again); files are read with safetensors or `torch.load(weights_only=True)`, and
arbitrary pickled objects are refused.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import pickle
import struct
import threading
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from avzsl.encoders.hub import HubFile, fetch, is_offline
from avzsl.io import AvzslError, cache_dir

logger = logging.getLogger(__name__)

CLIP_WEIGHTS_ENV = "AVZSL_CLIP_WEIGHTS"
CLAP_WEIGHTS_ENV = "AVZSL_CLAP_WEIGHTS"
ROBERTA_DIR_ENV = "AVZSL_ROBERTA_DIR"
WAVCAPS_WEIGHTS_ENV = "AVZSL_WAVCAPS_WEIGHTS"
BERT_DIR_ENV = "AVZSL_BERT_DIR"

# open_clip's default names inside a Hugging Face repo, safetensors first (see open_clip.constants).
_OPEN_CLIP_HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_CLAP_HF_REPO = "lukewys/laion_clap"  # where laion_clap's CLAP_Module.load_ckpt downloads from
_ROBERTA_HF_REPOS = ("FacebookAI/roberta-base", "roberta-base")  # current and legacy repo id
ROBERTA_FILES = ("vocab.json", "merges.txt")
_BERT_HF_REPOS = ("google-bert/bert-base-uncased", "bert-base-uncased")  # current and legacy repo id
BERT_FILES = ("vocab.txt",)  # BertTokenizer needs only the vocabulary; lower-casing is its default, as in bert-base-uncased
# Where the WavCaps authors publish their retrieval checkpoints: the "Pretrained Models" Google Drive folder
# linked from retrieval/README.md of github.com/XinhaoMei/WavCaps (not on the Hugging Face hub).
WAVCAPS_DOWNLOAD = (
    "HTSAT_BERT_zero_shot.pt from the WavCaps retrieval models (the 'Pretrained Models' Google Drive folder linked in "
    "https://github.com/XinhaoMei/WavCaps/blob/master/retrieval/README.md)"
)


class WeightsNotFoundError(AvzslError, FileNotFoundError):
    """Encoder weights (or tokenizer files) are not on this machine. The message says how to provide them.

    `fetchable`: the hub has them, so a run that is not offline fetches them instead of failing."""

    def __init__(self, message: str, *, fetchable: bool = False):
        super().__init__(message)
        self.fetchable = fetchable


class WeightsFormatError(AvzslError, ValueError):
    """A weights file exists but is not a plain state dict avzsl is willing to load (or it is damaged)."""


def clip_hub_files(model: str = "ViT-B-32", pretrained: str = "openai") -> tuple[str, tuple[str, ...], str]:
    """(hub repo or "", file names there, safetensors first; download URL) of an open_clip weights tag."""
    import open_clip  # heavy; only needed here for the tag registry

    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise WeightsNotFoundError(
            f"open_clip has no weights tag {pretrained!r} for {model!r} (known tags: {tags}); "
            f"give a weights file with --clip-weights PATH or {CLIP_WEIGHTS_ENV}=PATH"
        )
    repo, names, url = "", (), cfg.get("url", "")
    if cfg.get("hf_hub"):
        repo, name = os.path.split(cfg["hf_hub"])  # "org/repo/" means open_clip's default file names
        names = _OPEN_CLIP_HF_FILES if not name else (str(Path(name).with_suffix(".safetensors")), name)
    return repo, names, url


def resolve_clip_weights(model: str = "ViT-B-32", pretrained: str = "openai", path: str | os.PathLike | None = None,
                         *, offline: bool | None = None) -> Path:
    """The local file holding open_clip weights `pretrained` for architecture `model` (fetched if need be)."""
    explicit = _explicit(path, CLIP_WEIGHTS_ENV, "CLIP weights")
    if explicit:
        return explicit
    if os.path.isfile(pretrained):
        return Path(pretrained)
    repo, names, url = clip_hub_files(model, pretrained)
    candidates = [_hf_cached(repo, n) for n in names]
    if url and not repo:  # open_clip downloads from its URL only without a HF copy (OpenAI's URL: TorchScript)
        candidates.append(("open_clip URL cache", Path.home() / ".cache" / "clip" / os.path.basename(url)))
    own = [f"{model}-{pretrained}{ext}" for ext in (".safetensors", ".bin", ".pt")]
    candidates += [("avzsl cache", cache_dir() / n) for n in own]
    found = _first_file(candidates)
    if found:
        return found
    hub = HubFile(repo, names[0]) if repo else None
    if hub and not is_offline(offline):
        return fetch(hub)
    download = f"https://huggingface.co/{repo}/resolve/main/{names[0]}" if repo else url
    raise _not_found(
        f"CLIP weights {model} / {pretrained}", names[0] if names else os.path.basename(url), candidates,
        download, CLIP_WEIGHTS_ENV, "--clip-weights", cache_dir() / own[0], fetchable=hub is not None,
    )


def resolve_clap_weights(pretrained: str = "630k-audioset-best", path: str | os.PathLike | None = None, *,
                         offline: bool | None = None) -> Path:
    """The local file holding laion_clap checkpoint `pretrained` (e.g. "630k-audioset-best" -> 630k-audioset-best.pt),
    fetched from the hub if need be."""
    explicit = _explicit(path, CLAP_WEIGHTS_ENV, "CLAP weights")
    if explicit:
        return explicit
    if os.path.isfile(pretrained):
        return Path(pretrained)
    name = pretrained if pretrained.endswith(".pt") else f"{pretrained}.pt"
    candidates = [_hf_cached(_CLAP_HF_REPO, name), ("avzsl cache", cache_dir() / name)]
    spec = importlib.util.find_spec("laion_clap")  # locates the package without importing it
    if spec and spec.origin:  # where CLAP_Module.load_ckpt() saves its downloads
        candidates.insert(0, ("laion_clap package folder", Path(spec.origin).parent / name))
    found = _first_file(candidates)
    if found:
        return found
    if not is_offline(offline):
        return fetch(clap_hub_file(name))
    raise _not_found(
        f"CLAP weights {pretrained}", name, candidates, f"https://huggingface.co/{_CLAP_HF_REPO}/resolve/main/{name}",
        CLAP_WEIGHTS_ENV, "--clap-weights", cache_dir() / name, fetchable=True,
    )


def clap_hub_file(pretrained: str = "630k-audioset-best") -> HubFile:
    return HubFile(_CLAP_HF_REPO, pretrained if pretrained.endswith(".pt") else f"{pretrained}.pt")


def resolve_roberta_files(path: str | os.PathLike | None = None, *, offline: bool | None = None) -> tuple[Path, Path]:
    """(vocab.json, merges.txt) of roberta-base's tokenizer, which CLAP's text tower needs in real mode."""
    return _tokenizer_files(
        "roberta-base tokenizer files (for CLAP's text tower)", "roberta-base", ROBERTA_FILES, _ROBERTA_HF_REPOS,
        path, ROBERTA_DIR_ENV, "--roberta-dir", offline,
    )


def resolve_bert_files(path: str | os.PathLike | None = None, *, offline: bool | None = None) -> tuple[Path]:
    """(vocab.txt,) of bert-base-uncased's tokenizer, which WavCaps' text tower needs in real mode."""
    return _tokenizer_files(
        "bert-base-uncased tokenizer file (for the WavCaps text tower)", "bert-base-uncased", BERT_FILES, _BERT_HF_REPOS,
        path, BERT_DIR_ENV, "--bert-dir", offline,
    )


ROBERTA_HUB_FILES = tuple(HubFile(_ROBERTA_HF_REPOS[0], n) for n in ROBERTA_FILES)
BERT_HUB_FILES = tuple(HubFile(_BERT_HF_REPOS[0], n) for n in BERT_FILES)


def resolve_wavcaps_weights(checkpoint: str = "HTSAT_BERT_zero_shot", path: str | os.PathLike | None = None) -> Path:
    """The local WavCaps retrieval checkpoint `checkpoint` (e.g. "HTSAT_BERT_zero_shot" -> HTSAT_BERT_zero_shot.pt)."""
    explicit = _explicit(path, WAVCAPS_WEIGHTS_ENV, "WavCaps weights")
    if explicit:
        return explicit
    if os.path.isfile(checkpoint):
        return Path(checkpoint)
    name = checkpoint if checkpoint.endswith(".pt") else f"{checkpoint}.pt"
    # No library caches it: the file is downloaded by hand. ClipClap's extraction expects it under
    # WavCaps/retrieval/pretrained_models/audio_encoders/, a path relative to wherever that checkout is.
    candidates = [("avzsl cache", cache_dir() / name), ("avzsl cache", cache_dir() / "wavcaps" / name)]
    found = _first_file(candidates)
    if found:
        return found
    raise _not_found(
        f"WavCaps weights {checkpoint}", name, candidates, WAVCAPS_DOWNLOAD,
        WAVCAPS_WEIGHTS_ENV, "--wavcaps-weights", cache_dir() / name,
    )


def _tokenizer_files(what, folder_name, names, hf_repos, path, env, flag, offline) -> tuple[Path, ...]:
    """A tokenizer's files: all from the given folder or $env, else all from one HF cache repo, else avzsl's
    cache, else all fetched from the hub's current repo."""
    folder = path or os.environ.get(env)
    if folder:
        files = tuple(Path(folder) / n for n in names)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            source = f"the {folder_name} folder" if path else f"{env}={folder}"
            raise WeightsNotFoundError(f"{source} lacks {', '.join(missing)}; it must hold {' and '.join(names)}")
        return files
    candidates = []
    for repo in hf_repos:
        found = [_hf_cached(repo, n) for n in names]
        candidates += found
        if all(p is not None and p.is_file() for _, p in found):
            return tuple(p for _, p in found)
    own = [("avzsl cache", cache_dir() / folder_name / n) for n in names]
    candidates += own
    if all(p.is_file() for _, p in own):
        return tuple(p for _, p in own)
    if not is_offline(offline):
        return tuple(fetch(HubFile(hf_repos[0], n)) for n in names)
    urls = " and ".join(f"https://huggingface.co/{hf_repos[0]}/resolve/main/{n}" for n in names)
    raise _not_found(what, " + ".join(names), candidates, urls, env, flag, cache_dir() / folder_name, is_folder=True,
                     fetchable=True)


def check_weights_file(path: str | os.PathLike) -> Path:
    """`path`, after a structural check that takes milliseconds: a safetensors header that accounts for the
    file's size, a torch zip archive's directory, a JSON vocabulary that parses, a text file that decodes.
    The full read (and its weights_only check) happens when the weights are loaded.

    Raises WeightsFormatError naming the file and, for a file in the Hugging Face cache, how to fetch it again.
    """
    path = Path(path)
    try:
        problem = _structure_problem(path)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # unreadable, undecodable, malformed header
        problem = f"{type(e).__name__}: {e}"
    if problem:
        real = path.resolve()
        again = (f"; fetch it again with `python -m avzsl.download --force` (or delete {real} and run again)"
                 if "huggingface" in str(real) else "; replace it with a complete copy")
        raise WeightsFormatError(f"{path} is damaged: {problem}{again}")
    return path


def _structure_problem(path: Path) -> str | None:
    size = path.stat().st_size
    if path.suffix == ".safetensors":  # u64 header length, JSON header, then the data its offsets describe
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{size} bytes is too short for a safetensors file"
            (n,) = struct.unpack("<Q", head)
            if 8 + n > size:
                return f"its safetensors header claims {n} bytes but the file has {size}"
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end != size:
            return f"its safetensors header describes {8 + n + end} bytes but the file has {size}"
    elif path.suffix in (".pt", ".bin", ".pth"):  # torch.save's zip archive: its directory sits at the end
        if not zipfile.is_zipfile(path):
            return "not a complete torch archive (its zip directory is missing: a partial or damaged file)"
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith("data.pkl") for name in archive.namelist()):
                return "a zip archive without torch's data.pkl"
    elif path.suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif path.suffix == ".txt":
        path.read_text(encoding="utf-8")
    return None


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A plain state dict from a safetensors file or a torch file, without unpickling arbitrary objects.

    Accepts a bare state dict or a training checkpoint {"state_dict": ..., ...} (laion_clap) or
    {"model": ..., "optimizer": ..., ...} (WavCaps); strips DataParallel's "module." prefix.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path))
    else:
        try:
            obj = _torch_load(path)
        except Exception as e:
            raise WeightsFormatError(
                f"{path} cannot be read with torch.load(weights_only=True): {e}\n"
                "avzsl only loads plain state dicts (it never unpickles arbitrary objects): use the safetensors "
                "or state-dict release of these weights."
            ) from e
    for key in ("state_dict", "model"):  # laion_clap's training checkpoints / WavCaps' ({"model", "optimizer", ...})
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsFormatError(f"{path} does not hold a state dict (name -> tensor)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _torch_load(path: Path):
    """torch.load(weights_only=True), also accepting numpy scalars and arrays: training checkpoints often
    store an epoch or a learning rate that way. Exactly numpy's data reconstructors are allowed, nothing else."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        multiarray = np.core.multiarray
        data_only = {
            "numpy.dtype": np.dtype,
            "numpy.ndarray": np.ndarray,
            "numpy.core.multiarray.scalar": multiarray.scalar,
            "numpy.core.multiarray._reconstruct": multiarray._reconstruct,
        }
        if not unsafe or not unsafe <= data_only.keys():
            raise
        dtype_classes = [getattr(np.dtypes, n) for n in np.dtypes.__all__]  # what an unpickled np.dtype is built as
        with torch.serialization.safe_globals([data_only[name] for name in unsafe] + dtype_classes):
            return torch.load(path, map_location="cpu", weights_only=True)


@contextmanager
def initialisation(*, random: bool, seed: int):
    """Context for building a model without paying for torch's per-element initialisation, which takes
    seconds for CLIP + CLAP's ~250 M parameters. The caller's RNG state is untouched either way.

    Real weights (random=False): every in-place write to a parameter made while building (nn.init,
    trunc_normal_, `.data.normal_()`, fill_, ...) is skipped, so parameters hold uninitialised memory
    until `assign_state_dict` replaces all of them with the file's tensors. Work on anything else runs as
    usual, so buffers that no file carries (causal masks, position ids) are computed as always. Load after
    the block: inside it a copy into a parameter would be skipped too.

    Random weights (random=True, a test mode): the modules' own initialisation runs, but each random draw
    it makes (Tensor.uniform_ / normal_, torch.rand / randn: what kaiming, xavier, trunc_normal_ and
    roberta's init are built on) reads a window of a seeded pool (`_DrawPool`) instead of drawing every
    element from torch's generator. Distribution families, scales, ones and zeros, and computed front ends
    (STFT kernels, mel filters) stay the modules' own; the same seed gives the same weights in any process.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # what the pool does not serve (randint, randperm, ...) is seeded as before
        if random:
            with _pooled_draws(_DrawPool(seed)):
                yield
        else:
            with _SkipParameterWrites():
                yield


def assign_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Strictly load `state` into a model built under `initialisation(random=False)`, by taking its tensors
    as the parameters and buffers (`assign=True`) rather than copying them into uninitialised ones.

    Tensors are cast to the model's dtype first (a float16 file gives the float32 model it would by copying).
    Raises load_state_dict's own RuntimeError (missing / unexpected keys, shape mismatches).
    """
    own = model.state_dict(keep_vars=True)
    state = {k: v.to(own[k].dtype) if k in own and v.dtype != own[k].dtype else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)


class _DrawPool:
    """Random numbers drawn once per build, from which every draw of that build is read.

    A draw of n values reads positions start, start + 1, ... (cyclically) of a pool of P values, with
    `start` seeded; P is prime and larger than any row, so the rows of a weight matrix are distinct
    windows of the pool and no two rows are equal. Values within one tensor are not independent, which
    a test mode does not need; filling costs a memory pass instead of a generator call per element.
    """

    SIZE = 1_048_573  # the largest prime below 2**20

    def __init__(self, seed: int):
        self._generator = torch.Generator().manual_seed(seed)
        # Doubled, so that a window starting anywhere in the first copy never wraps. numpy does the filling:
        # single-threaded, it does not slow down on a shared machine the way torch's parallel ops do.
        self._pools = {
            "uniform": (2 * torch.rand(self.SIZE, generator=self._generator) - 1).repeat(2).numpy(),  # U[-1, 1)
            "normal": torch.randn(self.SIZE, generator=self._generator).repeat(2).numpy(),  # N(0, 1)
        }

    def fill(self, tensor: torch.Tensor, kind: str, loc: float, scale: float) -> torch.Tensor:
        """tensor <- loc + scale * (a window of the `kind` pool: U[-1, 1) or N(0, 1)), in place; returns tensor."""
        direct = tensor.device.type == "cpu" and tensor.dtype == torch.float32 and tensor.is_contiguous()
        values = tensor.detach() if direct else torch.empty(tensor.shape, dtype=torch.float32)
        flat = values.view(-1).numpy()
        start = int(torch.randint(self.SIZE, (), generator=self._generator))
        pool = self._pools[kind]
        for begin in range(0, flat.size, self.SIZE):
            chunk = flat[begin : begin + self.SIZE]
            np.multiply(pool[start : start + chunk.size], np.float32(scale), out=chunk)
            if loc:  # zero-centred pools: most draws (symmetric bounds, zero means) need no second pass
                chunk += np.float32(loc)
        if not direct:
            with torch.no_grad():
                tensor.copy_(values)
        return tensor


_build_state = threading.local()  # .pool: the pool of the build running on this thread, if any
_patch_lock = threading.Lock()
_patch_users = 0  # builds (on any thread) that need the pooled draws installed


def _pooled_uniform_(self, *args, generator=None, **kwargs):
    pool = getattr(_build_state, "pool", None)
    if pool is None or generator is not None or not self.is_floating_point():
        return torch._C.TensorBase.uniform_(self, *args, generator=generator, **kwargs)
    low, high = _arguments(args, kwargs, ("from", 0.0), ("to", 1.0))
    return pool.fill(self, "uniform", (low + high) / 2, (high - low) / 2)  # centre + half-width U[-1, 1)


def _pooled_normal_(self, *args, generator=None, **kwargs):
    pool = getattr(_build_state, "pool", None)
    if pool is None or generator is not None or not self.is_floating_point():
        return torch._C.TensorBase.normal_(self, *args, generator=generator, **kwargs)
    mean, std = _arguments(args, kwargs, ("mean", 0.0), ("std", 1.0))
    return pool.fill(self, "normal", mean, std)  # mean + std N(0, 1)


def _pooled_factory(original, kind: str):
    def draw(*size, generator=None, out=None, **kwargs):
        pool = getattr(_build_state, "pool", None)
        if pool is None or generator is not None or out is not None:
            return original(*size, generator=generator, out=out, **kwargs)
        if "size" in kwargs:
            size = (kwargs.pop("size"),)
        requires_grad = kwargs.pop("requires_grad", False)
        loc, scale = (0.5, 0.5) if kind == "uniform" else (0.0, 1.0)  # rand: U[0, 1); randn: N(0, 1)
        return pool.fill(torch.empty(*size, **kwargs), kind, loc, scale).requires_grad_(requires_grad)

    draw.original = original
    return draw


@contextmanager
def _pooled_draws(pool: _DrawPool):
    """Route this thread's uniform_ / normal_ / rand / randn through `pool` while building.

    The methods are replaced on torch.Tensor (Parameters inherit them) and on the torch module while any
    build needs them; other threads, and calls with an explicit generator or `out`, get torch's own.
    """
    global _patch_users
    if getattr(_build_state, "pool", None) is not None:  # nested build on this thread: the outer pool serves it
        yield
        return
    with _patch_lock:
        if _patch_users == 0:
            torch.Tensor.uniform_, torch.Tensor.normal_ = _pooled_uniform_, _pooled_normal_
            torch.rand, torch.randn = _pooled_factory(torch.rand, "uniform"), _pooled_factory(torch.randn, "normal")
        _patch_users += 1
    _build_state.pool = pool
    try:
        yield
    finally:
        _build_state.pool = None
        with _patch_lock:
            _patch_users -= 1
            if _patch_users == 0:
                del torch.Tensor.uniform_, torch.Tensor.normal_  # back to TensorBase's
                torch.rand, torch.randn = torch.rand.original, torch.randn.original


def _arguments(args: tuple, kwargs: dict, *names_and_defaults: tuple[str, float]) -> list[float]:
    """Positional-or-keyword arguments of a torch method, e.g. normal_(0.0, std=0.02) -> [0.0, 0.02]."""
    values = list(args) + [kwargs.get(name, default) for name, default in names_and_defaults[len(args):]]
    return [float(v) for v in values]


class _SkipParameterWrites(TorchFunctionMode):
    """While building for real weights: in-place operations whose target is a parameter (or a `.data`
    alias of one) do nothing, since a strict load replaces every parameter afterwards.

    A torch-function mode is per thread, so other threads are unaffected.
    """

    def __init__(self):
        super().__init__()
        self._parameter_storages: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        # torch.nn.init's functions arrive with their tensor as a keyword argument
        target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        name = getattr(func, "__name__", "")
        if isinstance(target, torch.Tensor) and (name.endswith("_") and not name.endswith("__") or name == "__setitem__"):
            storage = target.untyped_storage().data_ptr()
            if isinstance(target, torch.nn.Parameter):
                self._parameter_storages.add(storage)
            if storage in self._parameter_storages and storage != 0:
                return target
        return func(*args, **kwargs)


def file_identity(path: Path) -> str:
    """Cheap identity of a weights file for cache keys: hashing 600 MB on every start would be too slow."""
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def _explicit(path, env: str, what: str) -> Path | None:
    value = path or os.environ.get(env)
    if not value:
        return None
    if not os.path.isfile(value):
        source = "given" if path else f"from {env}"
        raise WeightsNotFoundError(f"{what} file {value} ({source}) does not exist")
    logger.info("%s: %s", what, value)
    return Path(value)


def _hf_cached(repo: str, filename: str) -> tuple[str, Path | None]:
    """(description, path or None) of a file in the standard Hugging Face cache; never touches the network."""
    from huggingface_hub import constants, try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename)
    where = f"Hugging Face cache {constants.HF_HUB_CACHE} ({repo}/{filename})"
    return where, Path(found) if isinstance(found, str) else None


def _first_file(candidates: list[tuple[str, Path | None]]) -> Path | None:
    for _, p in candidates:
        if p is not None and p.is_file():
            return p
    return None


def _not_found(what, filename, candidates, url, env, flag, destination, *, is_folder=False,
               fetchable=False) -> WeightsNotFoundError:
    looked = "\n".join(f"  - {desc}" + (f": {p}" if p is not None and "Hugging Face" not in desc else "") for desc, p in candidates)
    target = "the folder" if is_folder else "PATH"
    return WeightsNotFoundError(
        f"{what} not found ({filename}).\n"
        f"Looked in:\n  - {env} (unset)\n{looked}\n"
        "Provide them by one of:\n"
        f"  - download {url} on a connected machine, then pass {flag} {target} or set {env}={target}\n"
        f"  - put the download at {destination}\n"
        + (f"  - or go online (no --offline, HF_HUB_OFFLINE unset): it is then fetched on first use\n" if fetchable else "")
        + "  - for a smoke test only, use random-weight encoders (encoders='random'); their results are meaningless",
        fetchable=fetchable,
    )
