"""Where a prediction's time goes on CPU, stage by stage, next to the raw encoder forwards; and batch extraction.

    python benchmarks/encode_speed.py                 # 2 threads, as on the target machine
    python benchmarks/encode_speed.py --repeats 9 --batch-sizes 8 16 --videos 24

All media is SYNTHETIC: a 10 s 640x360 25 fps H.264 + AAC clip written with
avzsl.synthetic_media.write_test_video into a temporary folder. Encoders run on random weights (same
architectures as the real ones, so the times are the real times; the outputs are meaningless).

Stages, each through the avzsl API, medians over --repeats runs after a warm-up, run round-robin (one of
each stage per round) so that a change in the machine's load hits every row alike:
  decode            avzsl.media.load_video: middle frame + centred 10 s of 48 kHz mono audio
  CLIP image        Encoders.embed_images on the decoded frame (PIL conversion, open_clip's transform, forward)
  CLAP audio        Encoders.embed_audio on the decoded audio (int16 round trip, laion_clap's forward)
  labels, new       Encoders.embed_labels on 10 labels never embedded before (a fresh label-cache folder in
                    the temporary directory, and a different set of 10 each round)
  labels, cached    the same 10 labels again (in-memory cache), and from the cache folder as a freshly started
                    process would find them (disk)
  predict (warm)    ZeroShotService.classify(video, 10 cached labels), training-free mode: the whole call
Raw forwards, timed in the same rounds, under torch.inference_mode, without any of avzsl's preprocessing:
  raw CLIP          model.visual(x) on an already-preprocessed (1, 3, 224, 224) tensor
  raw CLAP          model.audio_branch({"waveform", "longer"}) + model.audio_projection on a prepared
                    (1, 480000) waveform tensor (HTSAT's STFT / log-mel are part of its forward)
Target on 2 cores: warm predict <= 1.3 x (raw CLIP + raw CLAP + decode).

Preset clipclap-release (ClipClap release's encoders: the same CLIP, WavCaps HTSAT-BERT audio at 32 kHz),
in the same run, the same rounds:
  decode            middle frame + centred 10 s of 32 kHz mono audio (load_middle_frame + load_audio_window)
  CLIP image        Encoders.embed_images with the preset's "bgr" frame convention
  WavCaps audio     Encoders.embed_audio on the (320000,) window
  labels, new / cached (memory)   as above, through the WavCaps (BERT) text tower
  raw WavCaps       model.audio_encoder (log-mel + HTS-AT) + model.audio_proj on a prepared (1, 320000) tensor
The prediction service does not serve this preset yet, so it has no "predict (warm)" row; the sum of its
wrapped stages (decode + image + audio + cached labels) is printed next to the raw forwards + decode.

Extraction: --videos copies of the clip in 4 class folders (every file is decoded on its own), a random
GZSL split, then avzsl.extraction.extract_shard with the random encoders, per batch size; the store is
merged to check the result. Target: >= 2 videos/s. The class-name text embeddings that extract_shard
computes first are embedded beforehand (a long extraction amortises them; ShardResult.seconds counts them).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avzsl.encoders import EncoderSpec, Encoders, apply_frame_convention, load_encoders  # noqa: E402
from avzsl.encoders.text_cache import LabelCache  # noqa: E402
from avzsl.media import load_audio_window, load_middle_frame, load_video  # noqa: E402
from avzsl.synthetic_media import write_test_video  # noqa: E402
from avzsl.zeroshot import ZERO_SHOT, ZeroShotService  # noqa: E402

PREDICT_RATIO_TARGET = 1.3
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


def predict_stages(args, tmp: Path, clip_path: str) -> None:
    label_dir = tmp / "label-cache"
    t = time.perf_counter()
    enc = load_encoders("random", label_cache_dir=label_dir)
    print(f"encoders built in {time.perf_counter() - t:.1f} s (random weights, real architectures)")
    service = ZeroShotService(enc, checkpoints_dir=tmp / "no-checkpoints")

    # Warm-up: first forwards allocate, imports happen, the file enters the page cache; the 10 labels of
    # the predict row get embedded (and written to the label-cache folder) here.
    video = load_video(clip_path)
    assert video.has_audio and video.frame.shape == (360, 640, 3), (video.frame.shape, video.has_audio)
    enc.embed_images([video.frame])
    enc.embed_audio(video.audio[None])
    enc.embed_labels(["warm-up label"])
    raw = RawForwards(enc, video.frame, video.audio)
    raw.clip(), raw.clap()
    service.classify(clip_path, LABELS, model=ZERO_SHOT)

    def disk_lookup():
        # a new process: empty memory cache, same folder, same encoders
        fresh = Encoders(enc.spec, enc.clip, enc.clap, fingerprint=enc.fingerprint,
                         label_cache=LabelCache(directory=label_dir))
        fresh.embed_labels(LABELS)

    rows: dict[str, list[float]] = {name: [] for name in (
        "decode", "CLIP image", "raw CLIP", "CLAP audio", "raw CLAP", "labels, new",
        "labels, cached (memory)", "labels, cached (disk)", "predict (warm)")}
    inside: dict[str, list[float]] = {}
    for r in range(args.repeats):
        rows["decode"].append(timed(lambda: load_video(clip_path)))
        rows["CLIP image"].append(timed(lambda: enc.embed_images([video.frame])))
        rows["raw CLIP"].append(timed(raw.clip))
        rows["CLAP audio"].append(timed(lambda: enc.embed_audio(video.audio[None])))
        rows["raw CLAP"].append(timed(raw.clap))
        new = fresh_labels(r)
        rows["labels, new"].append(timed(lambda: enc.embed_labels(new)))
        rows["labels, cached (memory)"].append(timed(lambda: enc.embed_labels(LABELS)))
        rows["labels, cached (disk)"].append(timed(disk_lookup))
        started = time.perf_counter()
        prediction = service.classify(clip_path, LABELS, model=ZERO_SHOT)
        rows["predict (warm)"].append(time.perf_counter() - started)
        assert len(prediction.ranking) == len(LABELS)
        for key, value in prediction.timings_ms.items():
            inside.setdefault(key, []).append(value / 1000)

    print(f"\n10 s 640x360 25 fps clip, {len(LABELS)} labels; median (min) of {args.repeats} rounds, ms")
    print(f"  {'stage':26}{'median':>9}{'min':>9}")
    for name, seconds in rows.items():
        median, low = ms(seconds)
        print(f"  {name:26}{median:9.1f}{low:9.1f}")
    print("  inside the predict calls (Prediction.timings_ms):")
    print("    " + ", ".join(f"{k} {1000 * statistics.median(v):.1f}" for k, v in inside.items()))

    med = {name: statistics.median(seconds) for name, seconds in rows.items()}
    budget = med["raw CLIP"] + med["raw CLAP"] + med["decode"]
    ratio = med["predict (warm)"] / budget
    print(f"\nwrapper overhead over the raw forwards: CLIP image {1000 * (med['CLIP image'] - med['raw CLIP']):+.1f} ms, "
          f"CLAP audio {1000 * (med['CLAP audio'] - med['raw CLAP']):+.1f} ms")
    print(f"warm predict / (raw CLIP + raw CLAP + decode) = {1000 * med['predict (warm)']:.1f} / "
          f"({1000 * med['raw CLIP']:.1f} + {1000 * med['raw CLAP']:.1f} + {1000 * med['decode']:.1f}) = {ratio:.2f}   "
          f"target <= {PREDICT_RATIO_TARGET}: {'PASS' if ratio <= PREDICT_RATIO_TARGET else 'FAIL'}")
    low = {name: min(seconds) for name, seconds in rows.items()}
    print(f"  the same from the minimums (the least disturbed run of each row): "
          f"{low['predict (warm)'] / (low['raw CLIP'] + low['raw CLAP'] + low['decode']):.2f}")
    print(f"load average after the rounds: {os.getloadavg()[0]:.2f}")


def release_stages(args, tmp: Path, clip_path: str) -> None:
    t = time.perf_counter()
    enc = load_encoders(EncoderSpec("clipclap-release", random=True), label_cache_dir=tmp / "label-cache-release")
    print(f"\nclipclap-release encoders built in {time.perf_counter() - t:.1f} s (random weights, real architectures; "
          f"CLIP tower shared with laion-clap)")

    def decode():
        frame, _ = load_middle_frame(clip_path)
        audio, _ = load_audio_window(clip_path, sample_rate=enc.sample_rate, seconds=enc.window_seconds)
        return frame, audio

    frame, audio = decode()
    assert audio.shape == (enc.window_samples,), audio.shape
    enc.embed_images([frame])  # warm-up
    enc.embed_audio(audio[None])
    enc.embed_labels(LABELS)
    raw_clip, raw_audio = RawClip(enc, frame), RawWavCaps(enc, audio)
    raw_clip(), raw_audio()

    rows: dict[str, list[float]] = {name: [] for name in (
        "decode (32 kHz)", "CLIP image (bgr)", "raw CLIP", "WavCaps audio", "raw WavCaps", "labels, new",
        "labels, cached (memory)")}
    for r in range(args.repeats):
        rows["decode (32 kHz)"].append(timed(decode))
        rows["CLIP image (bgr)"].append(timed(lambda: enc.embed_images([frame])))
        rows["raw CLIP"].append(timed(raw_clip))
        rows["WavCaps audio"].append(timed(lambda: enc.embed_audio(audio[None])))
        rows["raw WavCaps"].append(timed(raw_audio))
        new = fresh_labels(r)
        rows["labels, new"].append(timed(lambda: enc.embed_labels(new)))
        rows["labels, cached (memory)"].append(timed(lambda: enc.embed_labels(LABELS)))

    print(f"clipclap-release, same clip, {len(LABELS)} labels; median (min) of {args.repeats} rounds, ms")
    print(f"  {'stage':26}{'median':>9}{'min':>9}")
    for name, seconds in rows.items():
        median, low = ms(seconds)
        print(f"  {name:26}{median:9.1f}{low:9.1f}")
    med = {name: statistics.median(seconds) for name, seconds in rows.items()}
    wrapped = med["decode (32 kHz)"] + med["CLIP image (bgr)"] + med["WavCaps audio"] + med["labels, cached (memory)"]
    budget = med["raw CLIP"] + med["raw WavCaps"] + med["decode (32 kHz)"]
    print(f"wrapper overhead over the raw forwards: CLIP image {1000 * (med['CLIP image (bgr)'] - med['raw CLIP']):+.1f} ms, "
          f"WavCaps audio {1000 * (med['WavCaps audio'] - med['raw WavCaps']):+.1f} ms")
    print(f"wrapped stages (decode + image + audio + cached labels) / (raw CLIP + raw WavCaps + decode) = "
          f"{1000 * wrapped:.1f} / {1000 * budget:.1f} = {wrapped / budget:.2f}   (warm predict: not served yet)")
    print(f"load average after the rounds: {os.getloadavg()[0]:.2f}")


def extraction(args, tmp: Path, clip_path: str) -> None:
    from avzsl.extraction import ExtractionSettings, extract_shard, find_videos, merge_extraction, plan_random_split

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
          f"random split, extract_shard (1 shard)")
    print(f"  {'batch':>5}{'decode threads':>15}{'videos/s':>10}{'s/video':>9}{'wall (s)':>10}{'merge (s)':>11}"
          f"   load avg   target >= {EXTRACTION_TARGET:.0f}/s")
    for batch_size, workers in itertools.product(args.batch_sizes, args.decode_workers):
        store = tmp / f"store-b{batch_size}-w{workers}"
        started = time.perf_counter()
        result = extract_shard(store, videos_dir, plan, settings, enc, batch_size=batch_size,
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
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[8, 16], help="extract_shard batch sizes; none: skip")
    parser.add_argument("--decode-workers", type=int, nargs="+", default=[2], help="extract_shard decode threads")
    parser.add_argument("--presets", nargs="+", choices=("laion-clap", "clipclap-release"),
                        default=["laion-clap", "clipclap-release"], help="encoder presets to time (default: both)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*meshgrid.*")  # torchlibrosa, once per process

    # Other processes competing for the cores slow every row down: check the load average first.
    print(machine_line(args.threads))
    print("data: SYNTHETIC (write_test_video); encoders: random weights")
    with tempfile.TemporaryDirectory(prefix="avzsl-encode-bench-") as tmp:
        tmp = Path(tmp)
        clip_path = str(tmp / "10s_360p_25fps.mp4")
        t = time.perf_counter()
        write_test_video(clip_path, seconds=10, width=640, height=360, fps=25, sample_rate=48_000)
        print(f"clip written in {time.perf_counter() - t:.1f} s")
        if "laion-clap" in args.presets:
            predict_stages(args, tmp, clip_path)
        if "clipclap-release" in args.presets:
            release_stages(args, tmp, clip_path)
        if args.batch_sizes:
            extraction(args, tmp, clip_path)
    print(f"\n{machine_line(args.threads)}")


if __name__ == "__main__":
    main()
