"""A stand-in for the Hugging Face hub on 127.0.0.1, serving random-weight files in the real files' formats.

    python -m tests.stand_in_hub build DIR          # write the files + manifest.json (once; about a minute)
    hub = StandInHub(read_manifest(DIR)).start()    # then HF_ENDPOINT=hub.url
    hub.gets[("lukewys/laion_clap", "630k-audioset-best.pt")]   # GET requests answered per file

It implements what `hf_hub_download` asks of the hub: HEAD and GET on /{repo}/resolve/{revision}/{file},
answered with ETag (the file's sha256, as for LFS files), X-Repo-Commit and Content-Length; GET honours
`Range: bytes=N-` (206, for resumed downloads); an unknown file is a 404 with the hub's
`X-Error-Code: EntryNotFound`. `die_after` makes it send that many bytes of the next file body and then
die (listening socket closed); `gate` holds a body after its first megabyte until the event is set.
`mode` makes it answer as what stands between some users and the hub does: "no-etag" (a proxy that drops
the ETag), "portal" (a captive portal's web page, 200 text/html, instead of every file).
`silent_host()` accepts connections and never answers.

The files (built by `build`, from the random-weight encoders avzsl already has):
- timm/vit_base_patch32_clip_224.openai/open_clip_model.safetensors: a plain ViT-B-32 state dict.
- lukewys/laion_clap/630k-audioset-best.pt: torch.save of {"epoch", "name", "state_dict", "optimizer",
  "scaler"}, state_dict keys prefixed "module." and holding text_branch.embeddings.position_ids. With
  `real_size` (`build --real-size`, for benchmarks) the optimizer holds AdamW's exp_avg and exp_avg_sq for
  every parameter, as the published file does (about 1.9 GB); else for one tensor (about 0.6 GB, for tests).
- (`build --wavcaps`, not served: the hub does not have it) HTSAT_BERT_zero_shot.pt next to the manifest:
  WavCaps' {"model", "optimizer", "config", "epoch"} with Adam's state for every parameter (`wavcaps_checkpoint`).
- FacebookAI/roberta-base/{vocab.json, merges.txt}: a byte-level BPE vocabulary and merges (version header).
- google-bert/bert-base-uncased/vocab.txt: a WordPiece vocabulary with BERT's special tokens at their ids.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # the one revision every stand-in repo has
FIRST_PART = 1 << 20  # bytes sent before a gated body waits


def build(folder: Path, *, real_size: bool = False, wavcaps: bool = False) -> dict:
    """Write the stand-in files under `folder`; return (and write) the manifest {repo: {filename: path}}."""
    import torch
    from safetensors.torch import save_file

    from avzsl.encoders import load_encoders

    folder.mkdir(parents=True, exist_ok=True)
    enc = load_encoders("random")
    files = {}

    def place(repo, name):
        path = folder / repo.replace("/", "--") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        files.setdefault(repo, {})[name] = str(path)
        return path

    save_file(dict(enc.clip.model.state_dict()), str(place("timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors")))
    torch.save(clap_checkpoint(enc.clap.model, real_size=real_size), place("lukewys/laion_clap", "630k-audioset-best.pt"))
    del enc

    from transformers.models.roberta.tokenization_roberta import bytes_to_unicode

    symbols = sorted(bytes_to_unicode().values())
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    vocab.update({ch: 4 + i for i, ch in enumerate(symbols)})
    merges = [("Ġ", "a"), ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("o", "g"), ("Ġd", "og")]
    for left, right in merges:
        vocab.setdefault(left, len(vocab))
        vocab.setdefault(left + right, len(vocab))
    vocab["<mask>"] = len(vocab)
    place("FacebookAI/roberta-base", "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    place("FacebookAI/roberta-base", "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    words = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words += [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    words += [f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)] + ["dog", "bark", "##ing", "bird", "car"]
    place("google-bert/bert-base-uncased", "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    if wavcaps:
        write_wavcaps(folder / "HTSAT_BERT_zero_shot.pt", real_size=real_size)
    (folder / "manifest.json").write_text(json.dumps(files, indent=1))
    return files


def clap_checkpoint(model, *, real_size: bool, optimizer: bool = True) -> dict:
    """laion_clap's training checkpoint of `model`: AdamW's state for every parameter (`real_size`) or for
    one tensor; `optimizer` False: the state dict alone under "state_dict" (what a lean export would hold)."""
    import torch

    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    state["module.text_branch.embeddings.position_ids"] = torch.arange(514)[None]  # a buffer old transformers saved
    if not optimizer:
        return {"state_dict": state}
    return {
        "epoch": 45,
        "name": "2022_11_30-random_stand_in-lr_0.0001-b_96-j_6-p_fp32",
        "state_dict": state,
        "optimizer": adam_state(model, real_size, lr=1e-4, weight_decay=0.0),
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                   "_growth_tracker": 0},
    }


def wavcaps_checkpoint(model, *, real_size: bool, optimizer: bool = True) -> dict:
    """WavCaps' retrieval training checkpoint of an ASE `model`, as its pretrain.py saves HTSAT_BERT_zero_shot.pt:
    {"model": state dict, "optimizer": Adam's state_dict, "config": the settings YAML as a dict, "epoch"}, with
    Adam's state for every parameter (`real_size`) or for one tensor; `optimizer` False: {"model"} alone."""
    import torch

    state = dict(model.state_dict())
    state["text_encoder.text_encoder.embeddings.position_ids"] = torch.arange(512)[None]  # saved by older transformers
    if not optimizer:
        return {"model": state}
    config = {  # the shape of WavCaps' settings/pretrain.yaml (plain YAML types)
        "device": "cuda", "seed": 20, "embed_size": 1024, "temp": 0.07, "queue_size": 5120, "resume": False,
        "embed_regularization": True,
        "audio_args": {"sr": 32000, "n_fft": 1024, "hop_length": 320, "f_min": 50, "f_max": 14000, "n_mels": 64,
                       "max_length": 30, "mono": True},
        "audio_encoder_args": {"type": "transformer", "model": "htsat", "pretrained": True, "freeze": False},
        "text_encoder_args": {"type": "bert-base-uncased", "freeze": False},
        "optim_args": {"lr": 5e-5, "optimizer_name": "adam", "betas": [0.9, 0.999], "eps": 1e-8, "momentum": 0.9,
                       "warmup_epochs": 2},
        "training": {"spec_augmentation": True, "epochs": 15, "clip_grad": 2, "dropout": 0.2},
    }
    return {"model": state, "optimizer": adam_state(model, real_size, lr=5e-5, weight_decay=0.0), "config": config,
            "epoch": 12}


def adam_state(model, real_size: bool, *, lr: float, weight_decay: float) -> dict:
    """An Adam(W) optimizer's state_dict after training `model`: step, exp_avg and exp_avg_sq for every
    parameter (`real_size`: twice the model's bytes, as in the published files) or for the first one."""
    import torch

    params = [p.detach() for p in model.parameters()]
    params = params if real_size else params[:1]
    state = {i: {"step": torch.tensor(45.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
             for i, p in enumerate(params)}
    return {"state": state,
            "param_groups": [{"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": weight_decay,
                              "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                              "differentiable": False, "fused": None, "params": list(state)}]}


def write_wavcaps(path: Path, *, real_size: bool = True, optimizer: bool = True) -> Path:
    """A random-weight HTSAT_BERT_zero_shot.pt stand-in at `path` (not on the hub: users download it by hand)."""
    import torch

    from avzsl.encoders import load_encoders

    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = wavcaps_checkpoint(load_encoders("clipclap-release:random").clap.model, real_size=real_size,
                                    optimizer=optimizer)
    torch.save(checkpoint, path.with_name(path.name + ".part"))
    path.with_name(path.name + ".part").rename(path)
    return path


def read_manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())


class StandInHub:
    def __init__(self, manifest: dict, *, port: int = 0, die_after: int | None = None, gate: threading.Event | None = None,
                 mode: str = "hub"):
        self.files = {(repo, name): Path(path) for repo, names in manifest.items() for name, path in names.items()}
        self.etags = {key: _sha256(path) for key, path in self.files.items()}
        self.gets: Counter = Counter()  # (repo, filename) -> GET requests answered
        self.ranges: list[tuple[str, int]] = []  # (filename, first byte) of every ranged GET
        self.requests = 0
        self.die_after, self.gate, self.mode = die_after, gate, mode
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandInHub:
        threading.Thread(target=self._server.serve_forever, name="stand-in-hub", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def die(self) -> None:
        threading.Thread(target=self.stop, daemon=True).start()  # shutdown() must not run on a handler thread


_SHA256: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> digest: hashed once per process


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = _hash(path)
    return _SHA256[key]


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _handler(hub: StandInHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self._answer(body=False)

        def do_GET(self):
            self._answer(body=True)

        def _answer(self, body: bool):
            hub.requests += 1
            parts = self.path.split("?")[0].strip("/").split("/")
            key = None
            if len(parts) >= 5 and parts[2] == "resolve":
                key = ("/".join(parts[:2]), "/".join(parts[4:]))
            if key not in hub.files:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if hub.mode == "portal":
                page = b"<html><body>Sign in to the guest network to continue.</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("ETag", '"portal"')
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                if body:
                    self.wfile.write(page)
                return
            path = hub.files[key]
            size = path.stat().st_size
            start = 0
            ranged = self.headers.get("Range", "")
            if body and ranged.startswith("bytes="):
                start = int(ranged[len("bytes="):].split("-")[0])
                hub.ranges.append((key[1], start))
            self.send_response(206 if start else 200)
            if hub.mode != "no-etag":
                self.send_header("ETag", f'"{hub.etags[key]}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            if not body:
                return
            hub.gets[key] += 1
            with path.open("rb") as f:
                count = size - start
                if hub.die_after is not None and hub.die_after < count:
                    self.connection.sendfile(f, start, hub.die_after)
                    hub.die_after = None
                    hub.die()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if hub.gate is not None and count > FIRST_PART:
                    self.connection.sendfile(f, start, FIRST_PART)
                    hub.gate.wait()
                    start, count = start + FIRST_PART, count - FIRST_PART
                self.connection.sendfile(f, start, count)

    return Handler


def silent_host() -> tuple[socket.socket, str]:
    """(listening socket, its URL): connections are accepted by the kernel and never answered. Close it after."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


def user_environment(hub_url: str, home: Path) -> dict:
    """The environment of a first-time user on a connected machine whose hub is `hub_url`: empty caches
    under `home`, no avzsl variables, online, this checkout's avzsl first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AVZSL_", "HF_", "TRANSFORMERS_"))}
    root = Path(__file__).resolve().parents[1]
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(home / "huggingface"), AVZSL_CACHE_DIR=str(home / "avzsl"),
               HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONPATH=os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return env


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.stand_in_hub", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    built = sub.add_parser("build", help="write the stand-in files and their manifest")
    built.add_argument("folder", type=Path)
    built.add_argument("--real-size", action="store_true",
                       help="the CLAP (and WavCaps) files with optimizer state for every parameter, as published (1.9 GB)")
    built.add_argument("--wavcaps", action="store_true",
                       help="also write HTSAT_BERT_zero_shot.pt (WavCaps' training checkpoint; not served)")
    serve = sub.add_parser("serve", help="serve built files until interrupted")
    serve.add_argument("folder", type=Path)
    serve.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    if args.command == "build":
        build(args.folder, real_size=args.real_size, wavcaps=args.wavcaps)
        return 0
    hub = StandInHub(read_manifest(args.folder), port=args.port).start()
    print(f"HF_ENDPOINT={hub.url}", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
