"""Where a prediction's time goes on CPU, stage by stage, next to the raw encoder forwards; and batch extraction.

    python benchmarks/encode_speed.py                 # 2 threads, as on the target machine
    python benchmarks/encode_speed.py --repeats 9 --batch-sizes 8 16 --videos 24

All media is SYNTHETIC: a 10 s 640x360 25 fps H.264 + AAC clip written with
avzsl.synthetic_media.write_test_video into a temporary folder. Encoders run on random weights (same
architectures as the real ones, so the times are the real times; the outputs are meaningless).

Stages, each through the avzsl API, medians over --repeats runs after a warm-up, run round-robin (one of
each stage per round) so that a change in the machine's load hits every row alike:
  decode            avzsl.media.load_media(clip): middle frame + centred 10 s of 48 kHz mono audio
                    (what the service decodes for one segment)
  CLIP image        Encoders.embed_images on the decoded frame (PIL conversion, open_clip's transform, forward)
  CLAP audio        Encoders.embed_audio on the decoded audio (int16 round trip, laion_clap's forward)
  labels, new       Encoders.embed_labels on 10 labels never embedded before (a fresh label-cache folder in
                    the temporary directory, and a different set of 10 each round)
  labels, cached    the same 10 labels again (in-memory cache), and from the cache folder as a freshly started
                    process would find them (disk)
  predict (warm)    PredictionService.classify(clip, 10 cached labels), training-free mode (TRAINING_FREE):
                    the whole call, on a service made by create_service("random", ...) as the app makes it
Raw forwards, timed in the same rounds, under torch.inference_mode, without any of avzsl's preprocessing:
  raw CLIP          model.visual(x) on an already-preprocessed (1, 3, 224, 224) tensor
  raw CLAP          model.audio_branch({"waveform", "longer"}) + model.audio_projection on a prepared
                    (1, 480000) waveform tensor (HTSAT's STFT / log-mel are part of its forward)
Target on 2 cores: warm predict <= 1.3 x (raw CLIP + raw CLAP + decode).

Segments (--long-minutes, default 20; 0 skips): a long SYNTHETIC video (640x360, a frame every 2 s, x264's
default GOP of up to 250 frames, i.e. keyframes up to 500 s apart; 8 kHz AAC, resampled to 48 kHz on
decode; about 3-6 s to write), in the same rounds as the rows above:
  predict, 1 segment     PredictionService.classify(long video, 10 cached labels), training-free
  predict, 8 segments    the same with segments=8: 8 moments over the whole file, embedded in batches
The baseline is 8 x the 1-segment median of the same rounds. Target on 2 cores: 8 segments < 3 s warm.

Preset clipclap-release (ClipClap release's encoders: the same CLIP, WavCaps HTSAT-BERT audio at 32 kHz),
in the same run, the same rounds. The service runs this preset only for a checkpoint trained on such
features, so a tiny SYNTHETIC ClipClap checkpoint ("release-ck": make_synthetic(scale 0.05) written in the
release layout, read back with read_release(..., "UCF"), trained 1 epoch of 3 batches) is trained first in
the temporary folder; its config records preset clipclap-release with the UCF release's frame convention.
  decode (32 kHz)   load_media(clip, sample_rate=32000): middle frame + centred 10 s of 32 kHz audio
  CLIP image        Encoders.embed_images with the preset's frame convention
  WavCaps audio     Encoders.embed_audio on the (320000,) window
  labels, new / cached (memory)   as above, through the WavCaps (BERT) text tower
  raw WavCaps       model.audio_encoder (log-mel + HTS-AT) + model.audio_proj on a prepared (1, 320000) tensor
  predict (warm)    PredictionService.classify(clip, 10 cached labels, model="release-ck"): the whole call
                    (decode, both encoders, the checkpoint's forward, the open-vocabulary blend, ranking)
Target on 2 cores: warm predict <= 1.3 x (raw CLIP + raw WavCaps + decode (32 kHz)).

Extraction: --videos copies of the clip in 4 class folders (every file is decoded on its own), a random
GZSL split, then avzsl.extraction.extract_local with the random encoders, per batch size; the store is
merged to check the result. Target: >= 2 videos/s. The class-name text embeddings that extract_local
computes first are embedded beforehand (a long extraction amortises them; ExtractionResult.seconds counts them).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avzsl.encoders import Encoders, apply_frame_convention, load_encoders  # noqa: E402
from avzsl.encoders.text_cache import LabelCache  # noqa: E402
from avzsl.media import load_media  # noqa: E402
from avzsl.serving.service import TRAINING_FREE, PredictionService, create_service  # noqa: E402
from avzsl.synthetic_media import write_test_video  # noqa: E402

PREDICT_RATIO_TARGET = 1.3
SEGMENTS, SEGMENTS_TARGET_S = 8, 3.0
RELEASE_MODEL = "release-ck"  # the SYNTHETIC clipclap-release checkpoint trained in the temporary folder
EXTRACTION_TARGET = 2.0  # videos/s
LABELS = [
    "dog barking", "playing acoustic guitar", "church bell ringing", "people cheering in a stadium",
    "car engine starting", "baby crying", "thunderstorm", "typing on a keyboard", "frying food", "violin solo",
]
# Fresh labels for the "new" row, of the same lengths in words: one set per round, none embedded before.
FRESH_WORDS = ["cat", "horse", "bird", "train", "drum", "piano", "river", "crowd", "truck", "siren", "wind", "bell",
               "kettle", "saw", "flute", "rain"]
CLASSES = ["bird_chirping", "car_engine", "playing_drums", "dog_barking"]


def fresh_labels(round_index: int) -> list[str]:
    """10 labels no earlier round used: each base label with one word swapped for a word of this round."""
    word = FRESH_WORDS[round_index % len(FRESH_WORDS)] + ("" if round_index < len(FRESH_WORDS) else str(round_index))
    return [f"{word} {label.split(' ', 1)[-1]}" if " " in label else f"{word} {label}" for label in LABELS]


def machine_line(threads: int) -> str:
    load = os.getloadavg()
    return (f"{threads} threads, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"torch {torch.__version__}, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class RawForwards:
    """The encoders' model forwards alone, on inputs prepared once (what avzsl's wrappers add is excluded)."""

    def __init__(self, enc: Encoders, frame: np.ndarray, audio: np.ndarray):
        from PIL import Image

        self.clip_model = enc.clip.model
        self.clap_model = enc.clap.model
        self.device = enc.device
        with torch.inference_mode():
            self.pixels = enc.clip.preprocess(Image.fromarray(frame))[None].to(self.device)  # (1, 3, 224, 224)
        # what laion_clap's get_audio_embedding hands to its audio branch: the batch dict, already stacked
        self.audio_input = {
            "waveform": torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(self.device),  # (1, 480000)
            "longer": torch.tensor([[False]], device=self.device),  # (1, 1)
        }

    @torch.inference_mode()
    def clip(self) -> torch.Tensor:
        return self.clip_model.visual(self.pixels)  # (1, 512)

    @torch.inference_mode()
    def clap(self) -> torch.Tensor:
        m = self.clap_model
        return m.audio_projection(m.audio_branch(self.audio_input, mixup_lambda=None, device=self.device)["embedding"])


class RawClip:
    """CLIP's image forward alone, on the preset's frame convention and transform applied once."""

    def __init__(self, enc: Encoders, frame: np.ndarray):
        self.model = enc.clip.model
        with torch.inference_mode():
            self.pixels = enc.clip.preprocess(apply_frame_convention(frame, enc.frames))[None].to(enc.device)  # (1, 3, 224, 224)

    @torch.inference_mode()
    def __call__(self) -> torch.Tensor:
        return self.model.visual(self.pixels)  # (1, 512)


class RawWavCaps:
    """WavCaps' audio forward alone: log-mel + HTS-AT + projection on a prepared (1, 320000) tensor."""

    def __init__(self, enc: Encoders, audio: np.ndarray):
        self.model = enc.clap.model
        self.audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(enc.device)  # (1, 320000)

    @torch.inference_mode()
    def __call__(self) -> torch.Tensor:
        return self.model.audio_proj(self.model.audio_encoder(self.audio))  # (1, 1024)


def ms(seconds: list[float]) -> tuple[float, float]:
    return 1000 * statistics.median(seconds), 1000 * min(seconds)


def decode_one(path: str, enc: Encoders):
    """What the service decodes for one segment: the middle frame and the centred window at enc's rate."""
    media = load_media(path, sample_rate=enc.sample_rate, window_seconds=enc.window_seconds)
    return media[0].frame, media[0].audio


def print_rows(title: str, rows: dict[str, list[float]]) -> dict[str, float]:
    print(title)
    print(f"  {'stage':26}{'median':>9}{'min':>9}")
    for name, seconds in rows.items():
        median, low = ms(seconds)
        print(f"  {name:26}{median:9.1f}{low:9.1f}")
    return {name: statistics.median(seconds) for name, seconds in rows.items()}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def predict_stages(args, tmp: Path, clip_path: str, service: PredictionService, long_path: str | None) -> None:
    label_dir = tmp / "label-cache"
    t = time.perf_counter()
    enc = service.encoders  # loaded on first use, as the app's background warm-up does
    print(f"encoders built in {time.perf_counter() - t:.1f} s (random weights, real architectures)")

    # Warm-up: first forwards allocate, imports happen, the files enter the page cache; the 10 labels of
    # the predict rows get embedded (and written to the label-cache folder) here.
    frame, audio = decode_one(clip_path, enc)
    assert frame.shape == (360, 640, 3) and audio.shape == (enc.window_samples,), (frame.shape, audio.shape)
    enc.embed_images([frame])
    enc.embed_audio(audio[None])
    enc.embed_labels(["warm-up label"])
    raw = RawForwards(enc, frame, audio)
    raw.clip(), raw.clap()
    service.classify(clip_path, LABELS, model=TRAINING_FREE)
    if long_path:
        service.classify(long_path, LABELS, segments=1)
        service.classify(long_path, LABELS, segments=SEGMENTS)

    def disk_lookup():
        # a new process: empty memory cache, same folder, same encoders
        fresh = Encoders(enc.spec, enc.clip, enc.clap, fingerprint=enc.fingerprint,
                         label_cache=LabelCache(directory=label_dir))
        fresh.embed_labels(LABELS)

    names = ["decode", "CLIP image", "raw CLIP", "CLAP audio", "raw CLAP", "labels, new",
             "labels, cached (memory)", "labels, cached (disk)", "predict (warm)"]
    if long_path:
        names += ["long: 1 segment", f"long: {SEGMENTS} segments"]
    rows: dict[str, list[float]] = {name: [] for name in names}
    inside: dict[str, list[float]] = {}
    inside_long: dict[str, list[float]] = {}
    for r in range(args.repeats):
        rows["decode"].append(timed(lambda: decode_one(clip_path, enc)))
        rows["CLIP image"].append(timed(lambda: enc.embed_images([frame])))
        rows["raw CLIP"].append(timed(raw.clip))
        rows["CLAP audio"].append(timed(lambda: enc.embed_audio(audio[None])))
        rows["raw CLAP"].append(timed(raw.clap))
        new = fresh_labels(r)
        rows["labels, new"].append(timed(lambda: enc.embed_labels(new)))
        rows["labels, cached (memory)"].append(timed(lambda: enc.embed_labels(LABELS)))
        rows["labels, cached (disk)"].append(timed(disk_lookup))
        started = time.perf_counter()
        prediction = service.classify(clip_path, LABELS, model=TRAINING_FREE)
        rows["predict (warm)"].append(time.perf_counter() - started)
        assert len(prediction.ranking) == len(LABELS) and prediction.model == TRAINING_FREE
        for key, value in prediction.timings_ms.items():
            inside.setdefault(key, []).append(value / 1000)
        if long_path:
            started = time.perf_counter()
            one = service.classify(long_path, LABELS, segments=1)
            rows["long: 1 segment"].append(time.perf_counter() - started)
            started = time.perf_counter()
            many = service.classify(long_path, LABELS, segments=SEGMENTS)
            rows[f"long: {SEGMENTS} segments"].append(time.perf_counter() - started)
            assert len(one.segments) == 1 and len(many.segments) == SEGMENTS, (len(one.segments), len(many.segments))
            for key, value in many.timings_ms.items():
                inside_long.setdefault(key, []).append(value / 1000)

    med = print_rows(f"\n10 s 640x360 25 fps clip, {len(LABELS)} labels; median (min) of {args.repeats} rounds, ms", rows)
    print("  inside the predict calls (Prediction.timings_ms):")
    print("    " + ", ".join(f"{k} {1000 * statistics.median(v):.1f}" for k, v in inside.items()))
    if long_path:
        print(f"  inside the {SEGMENTS}-segment calls (Prediction.timings_ms):")
        print("    " + ", ".join(f"{k} {1000 * statistics.median(v):.1f}" for k, v in inside_long.items()))

    budget = med["raw CLIP"] + med["raw CLAP"] + med["decode"]
    ratio = med["predict (warm)"] / budget
    print(f"\nwrapper overhead over the raw forwards: CLIP image {1000 * (med['CLIP image'] - med['raw CLIP']):+.1f} ms, "
          f"CLAP audio {1000 * (med['CLAP audio'] - med['raw CLAP']):+.1f} ms")
    print(f"warm predict / (raw CLIP + raw CLAP + decode) = {1000 * med['predict (warm)']:.1f} / "
          f"({1000 * med['raw CLIP']:.1f} + {1000 * med['raw CLAP']:.1f} + {1000 * med['decode']:.1f}) = {ratio:.2f}   "
          f"target <= {PREDICT_RATIO_TARGET}: {verdict(ratio <= PREDICT_RATIO_TARGET)}")
    low = {name: min(seconds) for name, seconds in rows.items()}
    print(f"  the same from the minimums (the least disturbed run of each row): "
          f"{low['predict (warm)'] / (low['raw CLIP'] + low['raw CLAP'] + low['decode']):.2f}")
    if long_path:
        one, many = med["long: 1 segment"], med[f"long: {SEGMENTS} segments"]
        print(f"{SEGMENTS} segments of the {args.long_minutes:g} min video: {many:.2f} s warm "
              f"(target < {SEGMENTS_TARGET_S:.0f} s: {verdict(many < SEGMENTS_TARGET_S)}); "
              f"{SEGMENTS} x 1 segment = {SEGMENTS} x {1000 * one:.1f} ms = {SEGMENTS * one:.2f} s; "
              f"ratio {many / (SEGMENTS * one):.2f} ({SEGMENTS * one / many:.2f}x faster than {SEGMENTS} single calls)")
    print(f"load average after the rounds: {os.getloadavg()[0]:.2f}")


def train_release_checkpoint(checkpoints_dir: Path, data_root: Path) -> Path:
    """A tiny SYNTHETIC ClipClap checkpoint on ClipClap-release-sized features (1024-d audio), read through
    the release reader so that it records the release's encoders, as a checkpoint trained on the papers'
    features does."""
    from avzsl.models.checkpoint import read_config
    from avzsl.data.release import read_release
    from avzsl.data.synthetic import SyntheticSpec, make_synthetic, write_release
    from avzsl.models.registry import get_recipe
    from avzsl.training.run import train

    root = write_release(make_synthetic(SyntheticSpec(scale=0.05)), data_root / "UCF")
    out = checkpoints_dir / RELEASE_MODEL
    t = time.perf_counter()
    train(get_recipe("clipclap", "UCF", training_overrides={"epochs": 1, "batches_per_epoch": 3}),
          read_release(root, "UCF"), out, device=torch.device("cpu"), progress=False)
    config = read_config(out)
    preset = config.encoders.preset if config.encoders else None
    assert preset in ("clipclap-release", None) and config.input_dims.audio == 1024, (preset, config.input_dims)
    print(f"\nSYNTHETIC clipclap-release checkpoint {RELEASE_MODEL!r} trained in {time.perf_counter() - t:.1f} s "
          f"(encoder record: preset {preset or 'none, chosen by feature sizes'}, frames "
          f"{config.encoders.frames if config.encoders else None})")
    return out


def release_stages(args, tmp: Path, clip_path: str, service: PredictionService) -> None:
    t = time.perf_counter()
    enc = service.encoders_for(RELEASE_MODEL)
    assert enc.spec.preset == "clipclap-release" and enc.sample_rate == 32_000, enc.spec
    print(f"clipclap-release encoders ({enc.spec.describe()}) built in {time.perf_counter() - t:.1f} s "
          f"(random weights, real architectures; CLIP tower shared with laion-clap)")

    frame, audio = decode_one(clip_path, enc)
    assert audio.shape == (enc.window_samples,), audio.shape
    enc.embed_images([frame])  # warm-up
    enc.embed_audio(audio[None])
    raw_clip, raw_audio = RawClip(enc, frame), RawWavCaps(enc, audio)
    raw_clip(), raw_audio()
    service.classify(clip_path, LABELS, model=RELEASE_MODEL)  # the checkpoint's prompt set: labels cached here
    service.classify(clip_path, LABELS, model=RELEASE_MODEL)

    rows: dict[str, list[float]] = {name: [] for name in (
        "decode (32 kHz)", "CLIP image", "raw CLIP", "WavCaps audio", "raw WavCaps", "labels, new",
        "labels, cached (memory)", "predict (warm)")}
    inside: dict[str, list[float]] = {}
    for r in range(args.repeats):
        rows["decode (32 kHz)"].append(timed(lambda: decode_one(clip_path, enc)))
        rows["CLIP image"].append(timed(lambda: enc.embed_images([frame])))
        rows["raw CLIP"].append(timed(raw_clip))
        rows["WavCaps audio"].append(timed(lambda: enc.embed_audio(audio[None])))
        rows["raw WavCaps"].append(timed(raw_audio))
        new = fresh_labels(r)
        rows["labels, new"].append(timed(lambda: enc.embed_labels(new)))
        rows["labels, cached (memory)"].append(timed(lambda: enc.embed_labels(LABELS)))
        started = time.perf_counter()
        prediction = service.classify(clip_path, LABELS, model=RELEASE_MODEL)
        rows["predict (warm)"].append(time.perf_counter() - started)
        assert len(prediction.ranking) == len(LABELS) and prediction.model == RELEASE_MODEL
        for key, value in prediction.timings_ms.items():
            inside.setdefault(key, []).append(value / 1000)

    med = print_rows(f"clipclap-release ({RELEASE_MODEL}), same clip, {len(LABELS)} labels; "
                     f"median (min) of {args.repeats} rounds, ms", rows)
    print("  inside the predict calls (Prediction.timings_ms):")
    print("    " + ", ".join(f"{k} {1000 * statistics.median(v):.1f}" for k, v in inside.items()))
    budget = med["raw CLIP"] + med["raw WavCaps"] + med["decode (32 kHz)"]
    ratio = med["predict (warm)"] / budget
    print(f"wrapper overhead over the raw forwards: CLIP image {1000 * (med['CLIP image'] - med['raw CLIP']):+.1f} ms, "
          f"WavCaps audio {1000 * (med['WavCaps audio'] - med['raw WavCaps']):+.1f} ms")
    print(f"warm predict ({RELEASE_MODEL}) / (raw CLIP + raw WavCaps + decode 32 kHz) = "
          f"{1000 * med['predict (warm)']:.1f} / ({1000 * med['raw CLIP']:.1f} + {1000 * med['raw WavCaps']:.1f} + "
          f"{1000 * med['decode (32 kHz)']:.1f}) = {ratio:.2f}   target <= {PREDICT_RATIO_TARGET}: "
          f"{verdict(ratio <= PREDICT_RATIO_TARGET)}")
    low = {name: min(seconds) for name, seconds in rows.items()}
    print(f"  the same from the minimums: "
          f"{low['predict (warm)'] / (low['raw CLIP'] + low['raw WavCaps'] + low['decode (32 kHz)']):.2f}")
    print(f"load average after the rounds: {os.getloadavg()[0]:.2f}")


def extraction(args, tmp: Path, clip_path: str) -> None:
    from avzsl.extraction import ExtractionSettings, extract_local, find_videos, merge_extraction, plan_random_split

    videos_dir = tmp / "videos"
    for i in range(args.videos):
        folder = videos_dir / CLASSES[i % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip_path, folder / f"{folder.name}_{i:03d}.mp4")
    videos = find_videos(videos_dir)
    plan = plan_random_split(videos, seed=0, dataset="synthetic")
    enc = load_encoders("random")
    settings = ExtractionSettings()
    enc.embed_labels(list(plan.split.prompt_names), settings.prompt_set)  # see the docstring

    print(f"\nextraction: {len(videos)} SYNTHETIC 10 s 640x360 clips in {len(CLASSES)} class folders, "
          f"random split, extract_local")
    print(f"  {'batch':>5}{'decode threads':>15}{'videos/s':>10}{'s/video':>9}{'wall (s)':>10}{'merge (s)':>11}"
          f"   load avg   target >= {EXTRACTION_TARGET:.0f}/s")
    for batch_size, workers in itertools.product(args.batch_sizes, args.decode_workers):
        store = tmp / f"store-b{batch_size}-w{workers}"
        started = time.perf_counter()
        result = extract_local(store, videos_dir, plan, settings, enc, batch_size=batch_size,
                               decode_workers=workers, progress=False)
        wall = time.perf_counter() - started
        assert result.extracted == len(videos) and result.failed == 0, result
        started = time.perf_counter()
        merge_extraction(store)
        merged = time.perf_counter() - started
        rate = result.videos_per_second
        print(f"  {batch_size:5d}{workers:15d}{rate:10.2f}{1 / rate:9.3f}{wall:10.2f}{merged:11.2f}   {os.getloadavg()[0]:8.2f}   "
              f"{'PASS' if rate >= EXTRACTION_TARGET else 'FAIL'}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of every stage (medians reported)")
    parser.add_argument("--videos", type=int, default=16, help="clips for the extraction run")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[8, 16], help="extract_local batch sizes; none: skip")
    parser.add_argument("--decode-workers", type=int, nargs="+", default=[2], help="extract_local decode threads")
    parser.add_argument("--presets", nargs="+", choices=("laion-clap", "clipclap-release"),
                        default=["laion-clap", "clipclap-release"], help="encoder presets to time (default: both)")
    parser.add_argument("--long-minutes", type=float, default=20,
                        help="length of the long video of the segments rows (laion-clap); 0 skips them")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*meshgrid.*")  # torchlibrosa, once per process
    # load_encoders repeats its random-weights warning on every look-up (once per classify); said once here
    logging.getLogger("avzsl.encoders.loader").setLevel(logging.ERROR)

    # Other processes competing for the cores slow every row down: check the load average first.
    print(machine_line(args.threads))
    print("data: SYNTHETIC (write_test_video); encoders: random weights")
    with tempfile.TemporaryDirectory(prefix="avzsl-encode-bench-") as tmp:
        tmp = Path(tmp)
        clip_path = str(tmp / "10s_360p_25fps.mp4")
        t = time.perf_counter()
        write_test_video(clip_path, seconds=10, width=640, height=360, fps=25, sample_rate=48_000)
        print(f"clip written in {time.perf_counter() - t:.1f} s")
        long_path = None
        if args.long_minutes > 0 and "laion-clap" in args.presets:
            long_path = str(tmp / f"{args.long_minutes:g}min_360p.mp4")
            t = time.perf_counter()
            write_test_video(long_path, seconds=60 * args.long_minutes, width=640, height=360, fps=Fraction(1, 2),
                             sample_rate=8_000)
            print(f"{args.long_minutes:g} min 640x360 0.5 fps video (8 kHz AAC) written in {time.perf_counter() - t:.1f} s, "
                  f"{os.path.getsize(long_path) / 2**20:.1f} MiB")
        checkpoints = tmp / "checkpoints"
        checkpoints.mkdir()
        # The service the app builds (encoders loaded on first use), with the label cache in the temporary folder.
        service = create_service("random", checkpoints, label_cache_dir=tmp / "label-cache")
        if "laion-clap" in args.presets:
            predict_stages(args, tmp, clip_path, service, long_path)
        if "clipclap-release" in args.presets:
            train_release_checkpoint(checkpoints, tmp / "data")
            release_stages(args, tmp, clip_path, service)
        if args.batch_sizes:
            extraction(args, tmp, clip_path)
    print(f"\n{machine_line(args.threads)}")


if __name__ == "__main__":
    main()
