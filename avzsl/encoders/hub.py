"""Weights fetched from the Hugging Face hub on first use, into the standard Hugging Face cache.

    path = fetch(HubFile("lukewys/laion_clap", "630k-audioset-best.pt"))   # ~/.cache/huggingface/hub/...
    is_offline()                                    # True under HF_HUB_OFFLINE=1 (or a CLI's --offline)
    [f.describe() for f in FETCHES.active()]        # what is being fetched now: file, size, progress

`huggingface_hub.hf_hub_download` does the transfer, as for open_clip and transformers: it honours
HF_ENDPOINT and HF_HOME, writes into `<blob>.incomplete` and moves the blob into place only once its size
is checked (so a partial download is never loaded, and the next run resumes it with a Range request),
and holds a file lock per blob, so processes starting together fetch each file once. It draws a progress
bar on the terminal. This module adds the offline switch; one HEAD request without retries before each
transfer, so that a host that refuses, never answers (15 s), or answers as no hub does (a proxy that drops
the ETag, a captive portal's web page) gives, within 30 s, a one-line error naming the file, the host and
the offline switch; and `FETCHES`, a record of the transfers in progress that the app shows.

weights.py decides when to fetch: only after the explicit path, its variable and the caches are empty.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from avzsl.io import AvzslError

logger = logging.getLogger(__name__)

OFFLINE_ENV = "HF_HUB_OFFLINE"
CONNECT_SECONDS = 10.0  # to open a connection to the hub
ANSWER_SECONDS = 15.0  # for the hub to answer a request: a host that never answers fails within 30 s
POLL_SECONDS = 0.5  # how often a transfer's progress is read from the size of its .incomplete file
LOG_SECONDS = 10.0  # how often it is logged (the terminal's progress bar needs a TTY; a Space's log has none)


class HubUnreachableError(AvzslError, ConnectionError):
    """A file could not be fetched from the hub (no network, hub down, file not there). One line."""


@dataclass(frozen=True)
class HubFile:
    repo: str  # "owner/name" of a model repository
    filename: str  # path of the file inside it

    def url(self) -> str:
        """Its address on the hub in use ($HF_ENDPOINT)."""
        from huggingface_hub import constants

        return f"{constants.ENDPOINT.rstrip('/')}/{self.repo}/resolve/main/{quote(self.filename)}"

    def download_url(self) -> str:
        """Its address on huggingface.co, for a person to download by hand (whatever $HF_ENDPOINT is)."""
        return f"https://huggingface.co/{self.repo}/resolve/main/{self.filename}"


def is_offline(flag: bool | None = None) -> bool:
    """The offline switch: `flag` when given (a CLI's --offline), else $HF_HUB_OFFLINE."""
    if flag is not None:
        return bool(flag)
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get(OFFLINE_ENV, "").upper() in ("1", "ON", "YES", "TRUE")


@dataclass
class Fetch:
    """One transfer in progress, as the app and the log show it."""

    file: HubFile
    host: str
    size: int | None  # bytes, from the hub's answer
    done: int = 0  # bytes on disk so far (resumed bytes included)

    def describe(self) -> str:
        """'630k-audioset-best.pt (1.9 GB) from huggingface.co: 45%'."""
        share = f"{100 * self.done / self.size:.0f}%" if self.size else human_size(self.done)
        return f"{self.file.filename}{f' ({human_size(self.size)})' if self.size else ''} from {self.host}: {share}"


class Fetches:
    """Process-wide record of the transfers this process has in progress, for progress displays."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: dict[HubFile, Fetch] = {}

    def active(self) -> list[Fetch]:
        with self._lock:
            return list(self._items.values())

    @contextmanager
    def running(self, record: Fetch, incomplete: Path | None):
        """`record` is active while the block runs; its size on disk is read from `incomplete` (the
        .incomplete file hf_hub_download writes) every POLL_SECONDS and logged every LOG_SECONDS."""
        with self._lock:
            self._items[record.file] = record
        stop = threading.Event()
        threading.Thread(target=_watch, args=(record, incomplete, stop), name="avzsl-fetch-progress", daemon=True).start()
        try:
            yield
        finally:
            stop.set()
            with self._lock:
                if self._items.get(record.file) is record:  # a transfer of the same file may have started since
                    del self._items[record.file]


FETCHES = Fetches()


def fetch(file: HubFile, *, force: bool = False, local_dir: str | os.PathLike | None = None) -> Path:
    """Download `file` into the Hugging Face cache (or `local_dir`), resuming a partial download; the path.

    force: fetch again even when the cache has it (a damaged file). Raises HubUnreachableError.
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.file_download import repo_folder_name

    host = urlparse(constants.ENDPOINT).netloc or constants.ENDPOINT  # the hub in use ($HF_ENDPOINT)
    try:
        etag, size = _probe(file)
        folder = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=file.repo, repo_type="model")
        blob = None if local_dir else folder / "blobs" / etag
        if blob is not None and blob.is_file() and not force:  # cached (e.g. by `avzsl.download`): nothing to fetch
            return Path(hf_hub_download(file.repo, file.filename))
        logger.info("fetching %s (%s) from %s/%s into %s (first use only)", file.filename, human_size(size),
                    host, file.repo, local_dir or constants.HF_HUB_CACHE)
        incomplete = None if blob is None else blob.with_name(blob.name + ".incomplete")
        with FETCHES.running(Fetch(file, host, size), incomplete):
            return Path(hf_hub_download(file.repo, file.filename, force_download=force, local_dir=local_dir,
                                        etag_timeout=ANSWER_SECONDS))
    except Exception as e:  # noqa: BLE001 - every transfer failure becomes one line; the cause stays chained
        message = _failure(file, host, e)
        if message is None:
            raise
        raise HubUnreachableError(message) from e


def _watch(record: Fetch, incomplete: Path | None, stop: threading.Event) -> None:
    logged = time.monotonic()
    while incomplete is not None and not stop.wait(POLL_SECONDS):
        try:
            record.done = incomplete.stat().st_size
        except OSError:  # not created yet, or already moved into place
            continue
        if time.monotonic() - logged >= LOG_SECONDS:
            logged = time.monotonic()
            logger.info("%s", record.describe())


class _NotAHubAnswer(Exception):
    """The host answered, but not as the hub does (a proxy's or captive portal's page)."""


def _probe(file: HubFile) -> tuple[str, int | None]:
    """(ETag, size) of `file`, from one HEAD request that fails at once, without retries (huggingface_hub
    retries a dead host with back-off for 20 s to minutes). Refuses an answer that is not a hub file's:
    no ETag, or an HTML page."""
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    if is_offline():
        from huggingface_hub.errors import OfflineModeIsEnabled

        raise OfflineModeIsEnabled("offline")
    answer = get_session().head(file.url(), headers={**build_hf_headers(), "Accept-Encoding": "identity"},
                                allow_redirects=False, timeout=(CONNECT_SECONDS, ANSWER_SECONDS))
    hf_raise_for_status(answer)
    headers = answer.headers
    etag = headers.get(constants.HUGGINGFACE_HEADER_X_LINKED_ETAG) or headers.get("ETag")
    if "text/html" in headers.get("Content-Type", "") and not 300 <= answer.status_code < 400:
        raise _NotAHubAnswer("it answered with a web page instead of the file")
    if not etag:
        raise _NotAHubAnswer("its answer lacks the ETag every hub file has")
    size = headers.get(constants.HUGGINGFACE_HEADER_X_LINKED_SIZE) or headers.get("Content-Length")
    return etag.removeprefix("W/").strip('"'), int(size) if size and size.isdigit() else None


def _failure(file: HubFile, host: str, error: Exception) -> str | None:
    """The one-line message for a failed transfer, or None for an error that is not about the transfer."""
    import requests
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError)

    where = f"{file.filename} ({file.repo}) from {host}"
    if isinstance(error, OfflineModeIsEnabled):
        return f"cannot fetch {where}: {OFFLINE_ENV} is set, so nothing is fetched; unset it to fetch"
    advice = ("check the connection and run again (a partial download resumes), or work offline with --offline "
              f"or {OFFLINE_ENV}=1 after copying the files over (python -m avzsl.download --to DIR on a connected machine)")
    if isinstance(error, _NotAHubAnswer):  # a proxy or captive portal between this machine and the hub
        return f"could not fetch {where}: {host} is not answering as the Hugging Face hub does ({error}); {advice}"
    if isinstance(error, (EntryNotFoundError, RepositoryNotFoundError)):
        status = getattr(getattr(error, "response", None), "status_code", "?")
        return f"could not fetch {where}: the hub has no such file (HTTP {status}); {advice}"
    if isinstance(error, (requests.RequestException, HfHubHTTPError, LocalEntryNotFoundError)):
        cause = error.__cause__ if isinstance(error, LocalEntryNotFoundError) and error.__cause__ else error
        return f"could not fetch {where}: {_short(cause)}; {advice}"
    if isinstance(error, OSError) and "Consistency check failed" in str(error):  # the transfer ended early
        return f"could not fetch {where}: the transfer ended before the whole file came; {advice}"
    return None


def _short(error: BaseException) -> str:
    """A transfer error in a few words: 'ConnectionError: ... Connection refused'."""
    text = " ".join(str(error).split())
    if "Connection refused" in text:
        text = "connection refused"
    elif "IncompleteRead" in text or "Connection broken" in text:
        text = "the connection broke before the whole file came"
    elif len(text) > 160:
        text = text[:157] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"

