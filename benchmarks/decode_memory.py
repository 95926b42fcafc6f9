"""Peak memory of `load_media` on audio whose container states no length (or a wrong one), for a short
file and one ten times longer: it must not grow with the length.

Each load runs in a fresh process, which prints two figures: the tracemalloc peak (numpy and Python
allocations, the same on any machine) and VmHWM (the whole process's peak resident memory, FFmpeg's
buffers included). The files are the test suite's (tests/test_media_bounds.py): a 440 Hz tone at 8 kHz.
Run it with PYTHONPATH pointing at another checkout to measure that one.

    python benchmarks/decode_memory.py --seconds 180 1800
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.test_media_bounds

from tests.test_media_bounds import FORMS, write_audio  # noqa: E402

MEASURE = """
import json, sys, tracemalloc
from avzsl.media import load_media
tracemalloc.start()
media = load_media(sys.argv[1])
peak = tracemalloc.get_traced_memory()[1]
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps({"traced_mb": peak / 2**20, "vmhwm_mb": hwm / 1024, "duration_s": media.duration}))
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, nargs="+", default=[180, 1800], help="lengths of the files")
    parser.add_argument("--forms", nargs="+", default=FORMS, choices=FORMS, help="containers to try")
    args = parser.parse_args(argv)
    print(f"{'form':6} {'seconds':>8} {'traced MB':>10} {'VmHWM MB':>9} {'duration s':>11}")
    with tempfile.TemporaryDirectory() as folder:
        for form in args.forms:
            for seconds in args.seconds:
                path = write_audio(Path(folder) / f"{seconds}.{form}", seconds, form)
                # run in the folder: `python -c` puts the working folder first on the path
                run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], cwd=folder, check=True,
                                     capture_output=True, text=True)
                row = json.loads(run.stdout)
                print(f"{form:6} {seconds:8d} {row['traced_mb']:10.1f} {row['vmhwm_mb']:9.0f} "
                      f"{row['duration_s']:11.1f}")


if __name__ == "__main__":
    main()
