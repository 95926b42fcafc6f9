"""Fetch every weights file an encoder preset needs, ahead of time: `python -m avzsl.download --help`.

    python -m avzsl.download                                  # preset laion-clap, into the Hugging Face cache
    python -m avzsl.download --preset clipclap-release        # the ClipClap release's encoders
    python -m avzsl.download --to models                      # into models/ (clip/, clap/, roberta-base/, ...),
                                                              # to copy to an offline machine
    python -m avzsl.download --force                          # fetch again (a damaged cache file)

Every avzsl command fetches what it lacks on first use anyway; this one is for a machine that will run
offline, or to pay the download before a demo. With --to it prints the variables that point avzsl at the
folder. A partial download resumes when the command is run again. The WavCaps checkpoint (preset
clipclap-release) is not on the Hugging Face hub: the command says where to get it by hand.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from avzsl.cli import add_verbose_option, entry_point, setup_logging
log = logging.getLogger("avzsl.download")


@dataclass(frozen=True)
class Needed:
    file: object  # avzsl.encoders.hub.HubFile
    folder: str  # sub-folder of --to DIR
    env: str  # the variable that points avzsl at it
    env_is_folder: bool  # the variable names the folder (tokenizers), not the file


def needed_files(preset_name: str | None = None) -> list[Needed]:
    """The hub files of a preset, in the order they are fetched (the WavCaps checkpoint is not on the hub)."""
    from avzsl.encoders.hub import HubFile
    from avzsl.encoders.presets import get_preset
    from avzsl.encoders.weights import (BERT_DIR_ENV, BERT_HUB_FILES, CLAP_WEIGHTS_ENV, CLIP_WEIGHTS_ENV,
                                        ROBERTA_DIR_ENV, ROBERTA_HUB_FILES, clap_hub_file, clip_hub_files)

    preset = get_preset(preset_name)
    repo, names, _ = clip_hub_files(preset.visual.open_clip_model, preset.visual.open_clip_pretrained)
    files = [Needed(HubFile(repo, names[0]), "clip", CLIP_WEIGHTS_ENV, False)]
    if preset.audio.kind == "laion-clap":
        files.append(Needed(clap_hub_file(preset.audio.checkpoint), "clap", CLAP_WEIGHTS_ENV, False))
        files += [Needed(f, "roberta-base", ROBERTA_DIR_ENV, True) for f in ROBERTA_HUB_FILES]
    else:
        files += [Needed(f, "bert-base-uncased", BERT_DIR_ENV, True) for f in BERT_HUB_FILES]
    return files


def build_parser() -> argparse.ArgumentParser:
    # Heavy imports (torch) in main(), never at the top: a Ctrl-C during them is one line like any other.
    from avzsl.encoders.presets import DEFAULT_PRESET, list_presets

    p = argparse.ArgumentParser(prog="python -m avzsl.download", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list_presets(),
                   help=f"encoder preset whose files to fetch (default: {DEFAULT_PRESET})")
    p.add_argument("--to", type=Path, metavar="DIR",
                   help="put the files in DIR (one sub-folder each) instead of the Hugging Face cache")
    p.add_argument("--force", action="store_true", help="fetch again even what is already there")
    add_verbose_option(p)
    return p


@entry_point
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from avzsl.encoders.hub import fetch, human_size
    from avzsl.encoders.presets import get_preset
    from avzsl.encoders.weights import (WAVCAPS_WEIGHTS_ENV, WeightsNotFoundError, check_weights_file,
                                        resolve_wavcaps_weights)

    exports = {}
    for needed in needed_files(args.preset):
        local_dir = args.to / needed.folder if args.to else None
        path = check_weights_file(fetch(needed.file, force=args.force, local_dir=local_dir))
        print(f"{needed.file.repo}/{needed.file.filename}  {human_size(path.stat().st_size)}  {path}")
        exports[needed.env] = (path.parent if needed.env_is_folder else path).resolve()
    if get_preset(args.preset).audio.kind == "wavcaps":
        try:
            print(f"WavCaps checkpoint found at {resolve_wavcaps_weights(get_preset(args.preset).audio.checkpoint)}")
        except WeightsNotFoundError as e:  # not on the hub: today's message, which says where to get it
            log.error("the WavCaps checkpoint is not on the Hugging Face hub; get it by hand:\n%s", e)
            return 1
    if args.to:
        print(f"\nOn the offline machine, with {args.to} copied over (adjust the paths), point avzsl at the files:")
        for env, path in exports.items():
            print(f"export {env}={path}")
        if get_preset(args.preset).audio.kind == "wavcaps":
            print(f"export {WAVCAPS_WEIGHTS_ENV}=/path/to/HTSAT_BERT_zero_shot.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
