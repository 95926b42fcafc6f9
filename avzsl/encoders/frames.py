"""Frame conventions: what the visual encoder is shown, given a correct (H, W, 3) uint8 RGB frame.

avzsl decodes frames as RGB (media.py). The ClipClap release decoded them with OpenCV, which returns
BGR, and handed them to PIL without reordering the channels (reference §4.1); to put new videos into the
release's feature space, CLIP has to see what it saw then:

- `rgb`: the frame as it is (correct colours; avzsl's own presets).
- `bgr`: channels reversed, what the ActivityNet and VGGSound extraction fed CLIP (an OpenCV BGR uint8
  array -> torch tensor -> torchvision ToPILImage, which keeps uint8 values and channel order).
- `bgr-float255`: what the UCF extraction most likely fed CLIP. It stored each BGR frame in a float32
  tensor holding 0-255 values and called torchvision's ToPILImage on it; for float input torchvision
  multiplies by 255 before casting to uint8, a cast of values up to 65,025 that is out of range. The
  conversion here makes exactly those library calls on exactly such a tensor rather than guessing their
  result. With the torch/torchvision/numpy of requirements.txt on x86-64 the cast wraps modulo 256, so a
  value x becomes (256 - x) mod 256 (x * 255 = 256x - x): a colour negative of the BGR frame, 0 staying 0.
  The cast is undefined behaviour in C, so another platform may map values otherwise (tests/test_presets.py
  checks the mapping on ours).

Kept free of torch imports at module level (presets.py imports the names): torch and torchvision are
imported on the first `bgr-float255` frame.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

FRAME_CONVENTIONS = ("rgb", "bgr", "bgr-float255")


def apply_frame_convention(frame: np.ndarray | Image.Image, convention: str) -> Image.Image:
    """An (H, W, 3) uint8 RGB frame (or PIL image) -> the PIL image the visual encoder's transform receives."""
    rgb = np.asarray(frame.convert("RGB") if isinstance(frame, Image.Image) else frame)  # (H, W, 3) uint8
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a frame must be an (H, W, 3) uint8 RGB array, not {rgb.dtype} {rgb.shape}")
    if convention == "rgb":
        return Image.fromarray(rgb)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # (H, W, 3) uint8, what cv2.VideoCapture.read() returns
    if convention == "bgr":
        return Image.fromarray(bgr)
    if convention == "bgr-float255":
        return _float255_to_pil(bgr)
    raise ValueError(f"unknown frame convention {convention!r}; known: {FRAME_CONVENTIONS}")


def _float255_to_pil(bgr: np.ndarray) -> Image.Image:
    """The UCF extraction's calls: float32 tensor of 0-255 values, (H, W, 3) -> permute(2, 0, 1) -> ToPILImage()."""
    import torch
    from torchvision.transforms import ToPILImage

    pixels = torch.from_numpy(bgr).to(torch.float32)  # (H, W, 3), values 0.0 .. 255.0, as the release held it
    with warnings.catch_warnings():  # numpy warns about the out-of-range cast this reproduces on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return ToPILImage()(pixels.permute(2, 0, 1))  # (3, H, W) float -> PIL "RGB"

