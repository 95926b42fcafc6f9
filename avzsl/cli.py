"""Helpers shared by the command-line entry points (never imported by library code)."""

from __future__ import annotations

import _thread
import argparse
import errno
import functools
import logging
import os
import signal
import sys
import threading

from avzsl.io import AvzslError


def command_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of `python -m module`, described by the module's docstring (its examples kept as written)."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def start(parser: argparse.ArgumentParser, argv: list[str] | None):
    """The start every command shares: parse `argv`, set up logging and, for a command with --device, give torch
    its threads (`pick_threads`) and choose the device. Returns (args, the torch.device or None)."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if "device" not in args:
        return args, None
    set_threads(args.threads)
    return args, pick_device(args.device)


def setup_logging(verbose: bool = False) -> None:
    """avzsl's own messages at INFO (DEBUG with -v); other libraries' only from WARNING up (open_clip and
    laion_clap log every model build at INFO on the root logger)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("avzsl").setLevel(logging.DEBUG if verbose else logging.INFO)
    quiet_hub_retries()


def quiet_hub_retries() -> None:
    """huggingface_hub warns at every retry of a failed request; avzsl reports the failure once, in one line.
    (Through its own setter: importing huggingface_hub resets its logger's level.)"""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()


def pick_device(name: str | None):
    """`auto` (or None) = CUDA when present, else CPU: a torch.device."""
    import torch  # here, so that `--help` answers without importing torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AvzslError(f"--device {name}: CUDA is not available on this machine")
    return device


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, metavar="N",
                        help="torch CPU threads (default: $OMP_NUM_THREADS, else one per core this process may use)")


def pick_threads(requested: int | None = None) -> int:
    """Threads to give torch: `requested` (--threads), else $OMP_NUM_THREADS, else the cores this process may use.

    One rule for every command and the app, and the same answer on every run of a machine: CPU results depend
    on the thread count (the order of a reduction), so it is never guessed from the machine's load.
    """
    if requested is None:
        setting = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()  # OpenMP allows "4,2": per level
        if not setting:
            return len(os.sched_getaffinity(0))
        if not setting.isdigit():
            raise AvzslError(f"OMP_NUM_THREADS must be a whole number of threads, not {setting!r}")
        requested = int(setting)
    if requested < 1:
        raise AvzslError(f"the number of threads must be at least 1, not {requested}")
    return requested


def set_threads(requested: int | None) -> None:
    """Give torch `pick_threads(requested)` CPU threads."""
    import torch

    torch.set_num_threads(pick_threads(requested))


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """--device and --threads (read back by `start`, or by `pick_device` and `set_threads`)."""
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto = CUDA when present)")
    add_threads_option(parser)


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """-v (debug logging) and --debug."""
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_debug_option(parser)


def add_debug_option(parser: argparse.ArgumentParser) -> None:
    """--debug: an error shows its full traceback instead of one line (read by `entry_point`)."""
    parser.add_argument(DEBUG_FLAG, action="store_true", help="show the full traceback of an error")


def add_encoder_options(parser: argparse.ArgumentParser, default: str = "pretrained") -> None:
    """--encoders and the local weight files; read back with `encoder_files(args)`."""
    parser.add_argument("--encoders", choices=("pretrained", "random"), default=default,
                        help="pretrained weights (default), or random weights with the same architectures: "
                             "no downloads, meaningless results, for tests and smoke runs")
    from avzsl.encoders.weights import add_weight_file_options  # the flags come from the table of weight sources

    add_weight_file_options(parser)
    parser.add_argument("--offline", action="store_true", default=None,
                        help="never touch the network: weights missing from the caches are an error instead of being "
                             "fetched from the Hugging Face hub on first use (same as HF_HUB_OFFLINE=1)")


def encoder_files(args: argparse.Namespace) -> dict:
    """Keyword arguments of `load_encoders`: `files`, the weight files the user gave, and `offline` if set."""
    from avzsl.encoders.weights import WeightFiles

    given = {"files": WeightFiles.from_args(args)}
    return given if getattr(args, "offline", None) is None else {**given, "offline": args.offline}


# --- one line for every failure ----------------------------------------------------------------------------

DEBUG_FLAG = "--debug"
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130
FREE_SPACE = "free some space and run the same command again (finished work is kept)"
OS_HINTS = {errno.ENOSPC: FREE_SPACE, errno.EDQUOT: FREE_SPACE, errno.EFBIG: FREE_SPACE}


def entry_point(main=None, *, interrupted: str = "interrupted"):
    """Wrap a CLI's `main(argv=None) -> int` so that every failure is one line on stderr and an exit code.

    AvzslError (bad input) and OSError (disk full, permission denied, ...) exit 2 with their message; an
    unexpected exception exits 1 with its type and message and a hint to rerun with --debug, which shows
    the traceback instead. Ctrl-C exits 130 (`_interrupt`) and logs `interrupted` (`@entry_point(interrupted=
    ...)`: what to do next). Tests call the wrapped `main(argv)` as before.
    An entry module imports torch and the like inside main (and build_parser), never at its top, so that a
    Ctrl-C during those seconds of imports is handled here too.
    """
    if main is None:
        return functools.partial(entry_point, interrupted=interrupted)

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        debug = DEBUG_FLAG in (sys.argv[1:] if argv is None else argv)
        log = logging.getLogger(_module_name(main))
        in_main_thread = threading.current_thread() is threading.main_thread()  # where signals are handled
        previous_handler = signal.signal(signal.SIGINT, _interrupt) if in_main_thread else None
        try:
            return main(argv)
        except KeyboardInterrupt:
            log.error("%s", interrupted)
            return EXIT_INTERRUPTED
        except Exception as e:  # noqa: BLE001 - the one place a CLI turns an error into its line
            if debug:
                raise
            log.error("%s", one_line(e))
            return EXIT_BAD_INPUT if isinstance(e, (AvzslError, OSError)) else EXIT_FAILED
        finally:
            if in_main_thread:
                signal.signal(signal.SIGINT, previous_handler)

    return run


def _interrupt(signal_number: int, frame) -> None:
    """The SIGINT handler while a command runs: KeyboardInterrupt, but not inside Python's import machinery,
    where it would leave the import locks and sys.modules inconsistent (a later import then fails) or land in a
    weakref callback, where Python prints and drops it: there it comes again 10 ms later, from the module being
    imported (with torch that is seconds of imports)."""
    if frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
        threading.Timer(0.01, _thread.interrupt_main).start()
        return
    raise KeyboardInterrupt


def _module_name(function) -> str:
    """avzsl.train, also when run as `python -m avzsl.train` (where the module is called __main__)."""
    if function.__module__ != "__main__":
        return function.__module__
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec else "avzsl"


def one_line(error: Exception) -> str:
    """What a CLI prints for `error`: its message; for an OSError what failed, on which file, and what to do."""
    if isinstance(error, AvzslError):
        return str(error)
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        hint = f"; {OS_HINTS[error.errno]}" if error.errno in OS_HINTS else ""
        return f"{error.strerror or error}{where}{hint}"
    message = " ".join(str(error).split())[:300]
    return (f"unexpected error {type(error).__name__}{': ' + message if message else ''} "
            f"(a bug: rerun with {DEBUG_FLAG} for the traceback and report it)")
