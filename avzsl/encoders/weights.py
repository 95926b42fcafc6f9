"""Where encoder weights come from: one table of sources, in the manner of open_clip's pretrained registry.

Each source (SOURCES) is one file, or one tokenizer folder, an encoder needs, with every way of pointing
avzsl at it: a command-line flag, an environment variable, the hub repo that has it. `WeightFiles` holds
what the user gave on the command line. A source is found by trying, in order: the flag's path, its
variable (the flag wins), the standard caches of the library the weights belong to, avzsl's own cache
folder (`$AVZSL_CACHE_DIR`, default `~/.cache/avzsl`), and last the Hugging Face hub (hub.py). Offline
(`offline=True`, or $HF_HUB_OFFLINE) nothing is fetched: when every place is empty a
`WeightsNotFoundError` names the file, the places looked in, and how to provide it. The WavCaps
checkpoint is not on the hub, so it is never fetched.

    files = find_files(get_preset("laion-clap"), WeightFiles(clap_weights=Path("630k.pt")))
    files["clap_weights"]            # (Path("630k.pt"),): resolved and checked once per process

`check_weights_file` checks a found file's structure in milliseconds (a damaged file is named, with how
to fetch it again when it came from the hub). Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import zipfile
from dataclasses import dataclass, fields, replace
from pathlib import Path

from avzsl.encoders.hub import HubFile, fetch, is_offline
from avzsl.encoders.presets import DEFAULT_PRESET, Preset, get_preset
from avzsl.io import AvzslError, atomic_write_json, cache_dir
from avzsl.validation import safetensors_header

logger = logging.getLogger(__name__)


class WeightsNotFoundError(AvzslError, FileNotFoundError):
    """Encoder weights (or tokenizer files) are not on this machine. The message says how to provide them.

    `fetchable`: the hub has them, so a run that is not offline fetches them instead of failing."""

    def __init__(self, message: str, *, fetchable: bool = False):
        super().__init__(message)
        self.fetchable = fetchable


class WeightsFormatError(AvzslError, ValueError):
    """A weights file exists but cannot be loaded: damaged, not a plain state dict, or made for another model."""


@dataclass(frozen=True)
class Source:
    """One file (or tokenizer folder) an encoder needs, and every way of pointing avzsl at it."""

    field: str  # WeightFiles field and argparse dest, e.g. "clip_weights"
    what: str  # as messages name it
    env: str  # the environment variable that gives its path
    flag: str  # the command-line flag that gives its path (and wins over the variable)
    help: str  # the flag's help (the folder's files, the variable and the caches are added)
    folder: str  # sub-folder of `avzsl.download --to DIR`, and of avzsl's cache for a tokenizer
    hub_repos: tuple[str, ...] = ()  # hub repos that have it, the current one first (CLIP: open_clip's registry)
    folder_files: tuple[str, ...] = ()  # a tokenizer: the files its folder holds (flag and variable name the folder)
    download: str = ""  # where to get it by hand when the hub does not have it


SOURCES = {s.field: s for s in (
    Source("clip_weights", "CLIP weights", "AVZSL_CLIP_WEIGHTS", "--clip-weights", folder="clip",
           help="local open_clip weights file"),
    Source("clap_weights", "CLAP weights", "AVZSL_CLAP_WEIGHTS", "--clap-weights", folder="clap",
           hub_repos=("lukewys/laion_clap",),  # where laion_clap's CLAP_Module.load_ckpt downloads from
           help="local laion_clap checkpoint, e.g. 630k-audioset-best.pt"),
    Source("roberta_dir", "roberta-base tokenizer files (for CLAP's text tower)", "AVZSL_ROBERTA_DIR", "--roberta-dir",
           folder="roberta-base", hub_repos=("FacebookAI/roberta-base", "roberta-base"),  # current and legacy id
           folder_files=("vocab.json", "merges.txt"), help="local roberta-base folder for CLAP's text tower"),
    # Not on the Hugging Face hub: the WavCaps authors publish their retrieval checkpoints in a Google Drive folder.
    Source("wavcaps_weights", "WavCaps weights", "AVZSL_WAVCAPS_WEIGHTS", "--wavcaps-weights", folder="wavcaps",
           help="preset clipclap-release: local WavCaps HTSAT_BERT_zero_shot.pt",
           download="HTSAT_BERT_zero_shot.pt from the WavCaps retrieval models (the 'Pretrained Models' Google Drive "
                    "folder linked in https://github.com/XinhaoMei/WavCaps/blob/master/retrieval/README.md)"),
    Source("bert_dir", "bert-base-uncased tokenizer file (for the WavCaps text tower)", "AVZSL_BERT_DIR", "--bert-dir",
           folder="bert-base-uncased", hub_repos=("google-bert/bert-base-uncased", "bert-base-uncased"),
           folder_files=("vocab.txt",),  # BertTokenizer needs only the vocabulary (lower-casing is its default)
           help="preset clipclap-release: local bert-base-uncased folder for WavCaps' text tower"),
)}
# Which sources each audio kind reads; the CLIP file is read by every preset.
AUDIO_SOURCES = {"laion-clap": ("clap_weights", "roberta_dir"), "wavcaps": ("wavcaps_weights", "bert_dir")}
# open_clip's default names inside a Hugging Face repo, safetensors first (see open_clip.constants).
_OPEN_CLIP_HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def preset_sources(preset: Preset) -> tuple[Source, ...]:
    return tuple(SOURCES[name] for name in ("clip_weights", *AUDIO_SOURCES[preset.audio.kind]))


@dataclass(frozen=True)
class WeightFiles:
    """The weight files and tokenizer folders given on the command line (None: found the usual way)."""

    clip_weights: Path | None = None
    clap_weights: Path | None = None
    roberta_dir: Path | None = None
    wavcaps_weights: Path | None = None
    bert_dir: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> WeightFiles:
        return cls(**{f.name: getattr(args, f.name, None) for f in fields(cls)})

    def given(self) -> dict[str, Path]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def absolute(self) -> WeightFiles:
        """The same files as absolute paths (for workers that start in another folder)."""
        return replace(self, **{name: Path(path).resolve() for name, path in self.given().items()})

    def for_preset(self, preset: Preset) -> WeightFiles:
        """Only the files `preset` reads; files of the other audio kind are refused rather than ignored."""
        wanted = {s.field for s in preset_sources(preset)}
        wrong = sorted(set(self.given()) - wanted)
        if wrong:
            raise ValueError(f"{', '.join(wrong)} do not belong to preset {preset.name!r} (audio kind "
                             f"{preset.audio.kind}, which reads {', '.join(AUDIO_SOURCES[preset.audio.kind])})")
        return self


def add_weight_file_options(parser: argparse.ArgumentParser) -> None:
    """One flag per source (--clip-weights PATH, ...); read back with WeightFiles.from_args."""
    for source in SOURCES.values():
        files = f" ({', '.join(source.folder_files)})" if source.folder_files else ""
        parser.add_argument(source.flag, dest=source.field, type=Path,
                            help=f"{source.help}{files} (else ${source.env}, then the caches)")


# --- finding the files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wanted:
    """What one source must provide for a preset, and where it may be."""

    names: tuple[str, ...]  # file names (a weights source: one)
    places: tuple[tuple[str, tuple[Path | None, ...]], ...]  # (description, one path per name), tried in order
    hub: tuple[HubFile, ...]  # () when the hub does not have it
    download: str  # URL(s) or instructions for fetching it by hand
    destination: Path  # where in avzsl's cache to put it
    tag: str = ""  # which weights, as messages name them: "ViT-B-32 / openai"


def _wanted(source: Source, preset: Preset) -> _Wanted:
    own = cache_dir()
    if source.folder_files:  # a tokenizer: every file from one place
        places = [_hf_place(repo, source.folder_files) for repo in source.hub_repos]
        places.append(("avzsl cache", tuple(own / source.folder / n for n in source.folder_files)))
        hub = tuple(HubFile(source.hub_repos[0], n) for n in source.folder_files)
        urls = " and ".join(f.download_url() for f in hub)
        return _Wanted(source.folder_files, tuple(places), hub, urls, own / source.folder)
    if source.field == "clip_weights":
        visual = preset.visual
        repo, names, url = clip_hub_files(visual.open_clip_model, visual.open_clip_pretrained)
        places = [("the pretrained tag as a path", (Path(visual.open_clip_pretrained),))]
        places += [_hf_place(repo, (n,)) for n in names]
        if url and not repo:  # open_clip downloads from its URL only without a HF copy (OpenAI's URL: TorchScript)
            places.append(("open_clip URL cache", (Path.home() / ".cache" / "clip" / os.path.basename(url),)))
        own_names = [f"{visual.open_clip_model}-{visual.open_clip_pretrained}{ext}" for ext in (".safetensors", ".bin", ".pt")]
        places += [("avzsl cache", (own / n,)) for n in own_names]
        hub = (HubFile(repo, names[0]),) if repo else ()
        return _Wanted((names[0] if names else os.path.basename(url),), tuple(places), hub,
                       hub[0].download_url() if hub else url, own / own_names[0],
                       f" {visual.open_clip_model} / {visual.open_clip_pretrained}")
    checkpoint = preset.audio.checkpoint
    name = checkpoint if checkpoint.endswith(".pt") else f"{checkpoint}.pt"
    places = [("the checkpoint name as a path", (Path(checkpoint),))]
    if source.hub_repos:
        places.append(_hf_place(source.hub_repos[0], (name,)))
        spec = importlib.util.find_spec("laion_clap")  # locates the package without importing it
        if spec and spec.origin:  # where CLAP_Module.load_ckpt() saves its downloads
            places.insert(1, ("laion_clap package folder", (Path(spec.origin).parent / name,)))
    # No library caches the WavCaps file: it is downloaded by hand (ClipClap's extraction expects it under
    # WavCaps/retrieval/pretrained_models/audio_encoders/, relative to wherever that checkout is).
    places += [("avzsl cache", (own / name,)), ("avzsl cache", (own / source.folder / name,))]
    hub = tuple(HubFile(repo, name) for repo in source.hub_repos[:1])
    return _Wanted((name,), tuple(places), hub, hub[0].download_url() if hub else source.download, own / name,
                   f" {checkpoint}")


def clip_hub_files(model: str = "ViT-B-32", pretrained: str = "openai") -> tuple[str, tuple[str, ...], str]:
    """(hub repo or "", file names there, safetensors first; download URL) of an open_clip weights tag."""
    cfg = _registry_entry(model, pretrained)
    if not cfg:
        if os.path.isfile(pretrained):
            return "", (), ""
        import open_clip

        tags = open_clip.list_pretrained_tags_by_model(model)
        raise WeightsNotFoundError(
            f"open_clip has no weights tag {pretrained!r} for {model!r} (known tags: {tags}); "
            f"give a weights file with --clip-weights PATH or AVZSL_CLIP_WEIGHTS=PATH"
        )
    repo, names, url = "", (), cfg.get("url", "")
    if cfg.get("hf_hub"):
        repo, name = os.path.split(cfg["hf_hub"])  # "org/repo/" means open_clip's default file names
        names = _OPEN_CLIP_HF_FILES if not name else (str(Path(name).with_suffix(".safetensors")), name)
    return repo, names, url


def _registry_entry(model: str, pretrained: str) -> dict:
    """open_clip's registry entry of a weights tag ({"hf_hub", "url"}; {} for an unknown tag), remembered per
    open_clip version in avzsl's cache: importing open_clip imports torch, and the app checks the weights
    before it serves its page, which must not wait for torch."""
    memo = cache_dir() / "open_clip_tags.json"
    key = f"open_clip {importlib.metadata.version('open_clip_torch')}: {model} / {pretrained}"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    known = known if isinstance(known, dict) else {}
    entry = known.get(key)
    if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("hf_hub", "url")):
        return entry
    import open_clip  # heavy: the tag registry, once per open_clip version

    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        return {}
    entry = {"hf_hub": cfg.get("hf_hub", ""), "url": cfg.get("url", "")}
    with contextlib.suppress(OSError):  # a read-only cache: asked again next time
        atomic_write_json(memo, {**known, key: entry})
    return entry


def hub_files(preset: Preset) -> list[tuple[Source, HubFile]]:
    """The hub files of a preset, in the order they are fetched (the WavCaps checkpoint is not on the hub)."""
    return [(source, f) for source in preset_sources(preset) for f in _wanted(source, preset).hub]


# (source, preset's tag, path given, cache folders, offline) -> (paths, their identities): found once per process
_found: dict[tuple, tuple[tuple[Path, ...], tuple[str, ...]]] = {}
_checked: set[str] = set()  # identities of files whose structure was checked


def resolve(field: str, preset: Preset | str | None = None, given: str | os.PathLike | None = None, *,
            offline: bool | None = None) -> tuple[Path, ...]:
    """The local files of source `field` for `preset` (default preset): given path, variable, caches, then the hub.

    Raises WeightsNotFoundError (offline, or not on the hub) naming the file and how to provide it."""
    source = SOURCES[field]
    preset = preset if isinstance(preset, Preset) else get_preset(preset or DEFAULT_PRESET)
    value = given or os.environ.get(source.env)  # the flag wins over the variable
    offline = is_offline(offline)
    from huggingface_hub import constants

    tag = preset.visual if field == "clip_weights" else preset.audio.checkpoint
    key = (field, tag, os.fspath(value) if value else None, str(cache_dir()), constants.HF_HUB_CACHE, offline)
    hit = _found.get(key)
    if hit and hit[1] == tuple(file_identity(p) for p in hit[0]):
        return hit[0]
    paths = _explicit(source, Path(value), from_flag=bool(given)) if value else _look(source, preset, offline)
    _found[key] = (paths, tuple(file_identity(p) for p in paths))
    return paths


def _explicit(source: Source, value: Path, *, from_flag: bool) -> tuple[Path, ...]:
    where = "given" if from_flag else f"from {source.env}"
    if source.folder_files:
        files = tuple(value / n for n in source.folder_files)
        missing = [str(f) for f in files if not f.is_file()]
        problem = ("lacks " + ", ".join(missing) if value.is_dir() else "is a file, not a folder" if value.exists()
                   else "does not exist")
        if missing:
            raise WeightsNotFoundError(f"{source.what}: the folder {value} ({where}) {problem}; it must hold "
                                       f"{' and '.join(source.folder_files)}")
        return files
    if value.is_dir():
        raise WeightsNotFoundError(f"{source.what} file {value} ({where}) is a folder, not a file; give the weights "
                                   "file itself")
    if not value.is_file():
        raise WeightsNotFoundError(f"{source.what} file {value} ({where}) does not exist")
    logger.info("%s: %s", source.what, value)
    return (value,)


def _look(source: Source, preset: Preset, offline: bool) -> tuple[Path, ...]:
    wanted = _wanted(source, preset)
    for _, paths in wanted.places:
        if all(p is not None and p.is_file() for p in paths):
            return paths
    if wanted.hub and not offline:
        return tuple(fetch(f) for f in wanted.hub)
    looked = "\n".join(f"  - {desc}" + ("" if "Hugging Face" in desc else f": {', '.join(map(str, paths))}")
                       for desc, paths in wanted.places if "as a path" not in desc)
    target = "the folder" if source.folder_files else "PATH"
    raise WeightsNotFoundError(
        f"{source.what}{wanted.tag} not found ({' + '.join(wanted.names)}).\n"
        f"Looked in:\n  - {source.env} (unset)\n{looked}\n"
        "Provide them by one of:\n"
        f"  - download {wanted.download} on a connected machine, then pass {source.flag} {target} or set "
        f"{source.env}={target}\n"
        f"  - put the download at {wanted.destination}\n"
        + ("  - or go online (no --offline, HF_HUB_OFFLINE unset): it is then fetched on first use\n" if wanted.hub else "")
        + "  - for a smoke test only, use random-weight encoders (encoders='random'); their results are meaningless",
        fetchable=bool(wanted.hub),
    )


def find_files(preset: Preset, files: WeightFiles | None = None, *, offline: bool | None = None) -> dict[str, tuple[Path, ...]]:
    """Every file real mode needs for `preset`, found and checked before any building: what is missing is
    reported at once, in milliseconds, rather than one file per attempt after seconds of building. Online,
    files that only the hub has are fetched once it is clear that nothing else is missing."""
    given = (files or WeightFiles()).for_preset(preset)
    found, missing = {}, []
    for source in preset_sources(preset):
        try:
            found[source.field] = resolve(source.field, preset, getattr(given, source.field), offline=True)
        except WeightsNotFoundError as e:
            missing.append((source, e))
    if missing and not is_offline(offline) and all(e.fetchable for _, e in missing):
        for source, _ in missing:
            found[source.field] = resolve(source.field, preset, getattr(given, source.field), offline=False)
        missing = []
    if missing:
        raise WeightsNotFoundError("\n\n".join(str(e) for _, e in missing), fetchable=all(e.fetchable for _, e in missing))
    for paths in found.values():
        for path in paths:
            if file_identity(path) not in _checked:
                check_weights_file(path)
                _checked.add(file_identity(path))
    return found


# --- checking a found file -------------------------------------------------------------------------------


def check_weights_file(path: str | os.PathLike) -> Path:
    """`path`, after a structural check that takes milliseconds: a safetensors header that accounts for the
    file's size, a torch zip archive's directory, a JSON vocabulary that parses, a tokenizer text file whose
    last line is whole. The full read (and its weights_only check) happens when the weights are loaded.

    Raises WeightsFormatError naming the file and, for a file from the Hugging Face hub's cache, how to fetch
    it again."""
    path = Path(path)
    try:
        problem = _structure_problem(path)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:  # unreadable, undecodable, malformed
        problem = f"{type(e).__name__}: {e}"
    if problem:
        raise WeightsFormatError(f"{path} is damaged: {problem}{repair_hint(path)}")
    return path


def repair_hint(path: Path) -> str:
    """How to replace a bad file: fetch it again when it lies in the hub's cache, else replace it."""
    from huggingface_hub import constants

    real = path.resolve()
    if real.is_relative_to(Path(constants.HF_HUB_CACHE).resolve()):
        return f"; fetch it again with `python -m avzsl.download --force` (or delete {real} and run again)"
    return "; replace it with a complete copy"


def _structure_problem(path: Path) -> str | None:
    size = path.stat().st_size
    if path.suffix == ".json":
        if not isinstance(json.loads(path.read_text(encoding="utf-8")), dict):
            return "a tokenizer vocabulary must be a JSON object"
        return None
    if path.suffix == ".txt":  # a tokenizer's lines (vocab.txt, merges.txt): a cut copy ends inside a line
        text = path.read_text(encoding="utf-8")
        if not text.endswith("\n"):
            return f"its last line is cut short ({size} bytes, no final line break): a partial copy"
        if path.name == "merges.txt" and any(len(line.split()) != 2 for line in text.splitlines()[1:] if line):
            return "merges.txt lines must each hold two symbols"
        return None
    if size == 0:
        return "the file is empty"
    if zipfile.is_zipfile(path):  # torch.save's zip archive: its directory sits at the end
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith("data.pkl") for name in archive.namelist()):
                return "a zip archive without torch's data.pkl"
        return None
    if path.suffix in (".pt", ".bin", ".pth"):
        return "not a complete torch archive (its zip directory is missing: a partial or damaged file)"
    try:  # any other file must be a whole safetensors file
        safetensors_header(path, WeightsFormatError)
    except WeightsFormatError as e:
        return str(e).removeprefix(f"{path} is ").removeprefix(f"{path}: ")
    return None


def file_identity(path: Path) -> str:
    """Cheap identity of a file: hashing 600 MB on every start would be too slow."""
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def _hf_place(repo: str, names: tuple[str, ...]) -> tuple[str, tuple[Path | None, ...]]:
    """(description, paths or None) of files in the standard Hugging Face cache; never touches the network."""
    from huggingface_hub import constants, try_to_load_from_cache

    found = [try_to_load_from_cache(repo, n) for n in names]
    where = f"Hugging Face cache {constants.HF_HUB_CACHE} ({repo}/{', '.join(names)})"
    return where, tuple(Path(f) if isinstance(f, str) else None for f in found)
