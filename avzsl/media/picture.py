"""A picture file -> one upright RGB frame (Pillow, with FFmpeg for the formats Pillow does not read)."""

import av
import numpy as np

from avzsl.media.container import (MAX_PICTURE_PIXELS, CorruptVideoError, EmptyVideoError, MediaError, check_pixels,
                                   open_media)


def decode_picture(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a picture file, turned upright as its EXIF orientation says (phone photos),
    transparency composited onto white (as a viewer shows it); an animated one gives its middle frame."""
    # imported here: only pictures need Pillow
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # reads the header only: the size is known before decoding
            check_pixels(path, *image.size)
            if getattr(image, "n_frames", 1) > 1:
                image.seek(image.n_frames // 2)
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                white = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(white, image)
            return np.ascontiguousarray(np.asarray(image.convert("RGB")))  # (H, W, 3) uint8
    except MediaError:  # too large (check_pixels): not "damaged"
        raise
    except Image.DecompressionBombError as e:  # Pillow's own limit, above ours
        raise MediaError(f"{path}: the picture has more than the {MAX_PICTURE_PIXELS:,} pixels accepted") from e
    except UnidentifiedImageError:
        pass  # a picture format FFmpeg reads and Pillow does not: decode its frame with FFmpeg below
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's errors for truncated or damaged data
        raise CorruptVideoError(f"{path}: the picture cannot be decoded ({e}); the file is probably "
                                "truncated or damaged") from e
    try:
        with open_media(path) as container:
            for frame in container.decode(video=0):
                check_pixels(path, frame.width, frame.height)
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as e:
        raise CorruptVideoError(f"{path}: the picture cannot be decoded ({e.strerror})") from e
    raise EmptyVideoError(f"{path}: the picture file holds no picture")
