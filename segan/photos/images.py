"""Reading pictures as they come from cameras and publishers, and counting the ones we skip.

Every loader reads through `read_photo`: EXIF rotation applied, palette/CMYK/grayscale/16-bit
converted to 8-bit RGB, alpha kept aside (so a paste-back can restore it), and any decoding
failure, including a truncated file, raised as `ImageReadError` naming the file. Loaders catch
that error, record it in a `SkipLog` and go on, so a bad file never stops an epoch.
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "Photo",
    "SkipLog",
    "check_pixels",
    "is_blank",
    "photo_from_array",
    "photo_from_pil",
    "read_photo",
    "read_rgb",
    "to_tensor",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Above this many pixels PIL warns of a decompression bomb; we refuse with a clear message.
MAX_PIXELS = 16_384 * 16_384
# A picture whose grey levels all lie within this range shows nothing (a black placeholder
# after JPEG noise); a photograph of a face spans far more.
BLANK_RANGE = 8


class ImageReadError(ValueError):
    """A picture that cannot be read; names the file and the reason."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source, self.reason = source, reason


@dataclass
class Photo:
    """A decoded picture: `rgb` (H, W, 3) uint8 after EXIF rotation, `alpha` (H, W) uint8 or
    None, and the `mode` it was stored in (so an edited copy can be saved the same way)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    mode: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]

    def to_pil(self, rgb: np.ndarray | None = None) -> Image.Image:
        """`rgb` (default: this photo's pixels) as a PIL image in the photo's own kind:
        grayscale stays grayscale, an alpha channel is put back."""
        rgb = self.rgb if rgb is None else rgb
        if rgb.shape != self.rgb.shape or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8 {self.rgb.shape}, got {rgb.dtype} {rgb.shape}")
        image = Image.fromarray(rgb, "RGB")
        if self.mode in ("L", "LA", "I", "I;16", "I;16B", "I;16L", "1"):
            image = image.convert("L")
        if self.alpha is not None:
            image.putalpha(Image.fromarray(self.alpha, "L"))
        return image


def _sixteen_bit(image: Image.Image) -> Image.Image:
    """A 16/32-bit integer grayscale image scaled to 8 bits (PIL's convert would clip at 255)."""
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
    return Image.fromarray(np.clip(np.rint(values * 255.0 / top), 0, 255).astype(np.uint8), "L")


def check_pixels(width: int, height: int, name: str, max_pixels: int = MAX_PIXELS) -> None:
    """ImageReadError naming the picture's size when it has more than `max_pixels`."""
    if width * height > max_pixels:
        raise ImageReadError(
            name,
            f"the picture is {width}x{height} ({width * height / 1e6:.1f} megapixels); at most "
            f"{max_pixels / 1e6:.1f} megapixels are accepted, so scale it down first",
        )


def _decode(image: Image.Image, name: str, max_pixels: int = MAX_PIXELS) -> Photo:
    check_pixels(*image.size, name, max_pixels)
    image.load()  # decodes now: a truncated or corrupt file fails here, not later
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    alpha = None
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A")).copy()
        image = image.convert("RGB")
    elif mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        image = _sixteen_bit(image)
    elif mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if values.max() <= 1.0 else 1.0
        image = Image.fromarray(np.clip(values * scale, 0, 255).astype(np.uint8), "L")
    rgb = np.asarray(image.convert("RGB")).copy()
    return Photo(rgb, alpha, mode)


def read_photo(source: str | Path | bytes, max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode a picture file (or its bytes) into a `Photo`; raise `ImageReadError` otherwise
    (also for pictures of more than `max_pixels`, checked before decoding)."""
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise ImageReadError(name, "no such file" if not Path(source).exists() else "not a file")
    limit = min(max_pixels, MAX_PIXELS)
    try:
        with warnings.catch_warnings():
            # opening reads the header only; check_pixels refuses a large picture before it
            # is decoded, with its size, so PIL's own warning has nothing to add
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            handle = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(handle) as image:
                return _decode(image, name, limit)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image PIL can read") from None
    except Image.DecompressionBombError:  # PIL refuses to open it at all
        raise ImageReadError(
            name,
            f"the picture has more than {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} megapixels;"
            f" at most {limit / 1e6:.1f} megapixels are accepted, so scale it down first",
        ) from None
    except (OSError, SyntaxError, ValueError, Warning) as err:
        raise ImageReadError(name, f"cannot decode ({err})") from None


def photo_from_pil(
    image: Image.Image, name: str = "<PIL image>", max_pixels: int = MAX_PIXELS
) -> Photo:
    """A PIL image as a `Photo`, decoded like a file (EXIF turn, modes, alpha)."""
    try:
        return _decode(image, name, min(max_pixels, MAX_PIXELS))
    except ImageReadError:
        raise
    except (OSError, ValueError) as err:
        raise ImageReadError(name, f"cannot decode ({err})") from None


def photo_from_array(array: np.ndarray, max_pixels: int = MAX_PIXELS) -> Photo:
    """A uint8 array (H, W), (H, W, 3) or (H, W, 4) as a Photo (alpha kept aside)."""
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ImageReadError(
            "<array>", f"expected uint8 (H, W[, 3|4]), got {array.dtype} {array.shape}"
        )
    h, w = array.shape[:2]
    check_pixels(w, h, "<array>", max_pixels)
    if array.ndim == 2:
        return Photo(np.repeat(array[..., None], 3, 2), None, "L")
    if array.shape[2] == 4:
        return Photo(np.ascontiguousarray(array[..., :3]), array[..., 3].copy(), "RGBA")
    if array.shape[2] != 3:
        raise ImageReadError("<array>", f"expected 1, 3 or 4 channels, got {array.shape[2]}")
    return Photo(np.ascontiguousarray(array), None, "RGB")


def is_blank(path: str | Path, max_range: int = BLANK_RANGE) -> bool:
    """Whether a picture has no content: all its grey levels within `max_range` of each other.

    Decoded small (a JPEG at down to 1/8 of its size) so a dataset can be scanned up front; a
    picture that cannot be decoded is not called blank (reading it later skips and names it).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.draft("L", (64, 64))
                gray = np.asarray(image.convert("L"))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Warning):
        return False
    return gray.size > 0 and int(gray.max()) - int(gray.min()) <= max_range


def read_rgb(source: str | Path | bytes) -> np.ndarray:
    """The picture as (H, W, 3) uint8 RGB (alpha dropped)."""
    return read_photo(source).rgb


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [-1, 1], segan's image convention."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div(127.5).sub(1.0)


class SkipLog:
    """Files a loader passed over, with the reason, so nothing is lost silently."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def add(self, source: str | Path, reason: str) -> None:
        self.entries.append((str(source), reason))

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def by_reason(self) -> Counter:
        """How many files were skipped for each kind of reason (text before the first '(')."""
        return Counter(reason.split(" (")[0] for _, reason in self.entries)

    def summary(self) -> str:
        """One line, e.g. '3 skipped: 2 cannot decode, 1 no such file'."""
        if not self.entries:
            return "0 skipped"
        parts = ", ".join(f"{n} {reason}" for reason, n in self.by_reason().most_common())
        return f"{len(self.entries)} skipped: {parts}"
