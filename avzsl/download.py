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
from pathlib import Path

from avzsl.cli import add_verbose_option, command_parser, entry_point, start

log = logging.getLogger("avzsl.download")


def build_parser() -> argparse.ArgumentParser:
    from avzsl.encoders.presets import DEFAULT_PRESET, list_presets

    p = command_parser("avzsl.download", __doc__)
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list_presets(),
                   help=f"encoder preset whose files to fetch (default: {DEFAULT_PRESET})")
    p.add_argument("--to", type=Path, metavar="DIR",
                   help="put the files in DIR (one sub-folder each) instead of the Hugging Face cache")
    p.add_argument("--force", action="store_true", help="fetch again even what is already there")
    add_verbose_option(p)
    return p


@entry_point
def main(argv: list[str] | None = None) -> int:
    args, _ = start(build_parser(), argv)
    from avzsl.encoders.hub import fetch, human_size
    from avzsl.encoders.presets import get_preset
    from avzsl.encoders.weights import SOURCES, WeightsNotFoundError, check_weights_file, hub_files, resolve

    exports = {}
    preset = get_preset(args.preset)
    for source, file in hub_files(preset):
        local_dir = args.to / source.folder if args.to else None
        path = check_weights_file(fetch(file, force=args.force, local_dir=local_dir))
        print(f"{file.repo}/{file.filename}  {human_size(path.stat().st_size)}  {path}")
        exports[source.env] = (path.parent if source.folder_files else path).resolve()
    if preset.audio.kind == "wavcaps":
        try:
            print(f"WavCaps checkpoint found at {resolve('wavcaps_weights', preset, offline=True)[0]}")
        except WeightsNotFoundError as e:  # not on the hub: today's message, which says where to get it
            log.error("the WavCaps checkpoint is not on the Hugging Face hub; get it by hand:\n%s", e)
            return 1
    if args.to:
        print(f"\nOn the offline machine, with {args.to} copied over (adjust the paths), point avzsl at the files:")
        for env, path in exports.items():
            print(f"export {env}={path}")
        if preset.audio.kind == "wavcaps":
            print(f"export {SOURCES['wavcaps_weights'].env}=/path/to/HTSAT_BERT_zero_shot.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
