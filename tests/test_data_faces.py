"""Reading real-world photos (segan.photos.images) and cutting/pasting faces (segan.photos.faces).

Every odd file is written here with PIL; faces are SynthFaces renders pasted into bigger,
textured "photos" at known places, so detection, crops and paste-back can be checked against
where the face really is.
"""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from segan.photos import faces as faces_module
from segan.photos import images as images_module
from segan.photos.faces import (
    CropBox,
    NoFaceError,
    centre_square,
    crop_face,
    crop_image,
    crop_mask,
    detect_faces,
    find_face,
    paste_back,
    seam_weights,
    square_box,
)
from segan.photos.images import ImageReadError, Photo, SkipLog, read_photo, read_rgb, to_tensor
from segan.synth.dataset import SynthFaces
from segan.visualize import to_uint8

FACE_SIDE = 256
# SynthFaces test items the Haar cascade finds reliably, alone and pasted into a photo
FACE_INDICES = (1, 6, 14)


@pytest.fixture(scope="module")
def synth():
    """SynthFaces renders at 256 px: faces (K, 256, 256, 3) uint8 and landmarks (K, 68, 2)."""
    batch = SynthFaces("test", 16, FACE_SIDE).batch(list(FACE_INDICES))
    return to_uint8(batch["image"]), batch["landmarks"].numpy().astype(np.float64)


def textured(width, height, seed=0, low=90, high=170):
    """A noisy mid-grey background: texture that any resampling would visibly smooth."""
    rng = np.random.default_rng(seed)
    return rng.integers(low, high, (height, width, 3)).astype(np.uint8)


def photo_with_face(face, width, height, at, noise=0, seed=0):
    """`face` pasted into a textured width x height photo with its top-left corner at `at`,
    plus +-`noise` grain over everything."""
    rng = np.random.default_rng(seed + 1)
    photo = textured(width, height, seed).astype(np.int16)
    x, y = at
    fh, fw = face.shape[:2]
    photo[max(y, 0) : y + fh, max(x, 0) : x + fw] = face[max(-y, 0) :, max(-x, 0) :][
        : height - max(y, 0), : width - max(x, 0)
    ]
    if noise:
        photo += rng.integers(-noise, noise + 1, photo.shape).astype(np.int16)
    return np.clip(photo, 0, 255).astype(np.uint8)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def gradient(width=96, height=64):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 256], -1).astype(
        np.uint8
    )


# --------------------------------------------------------------------------- reading photos


def test_corrupt_jpeg_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError) as err:
        read_photo(path)
    assert err.value.source == str(path) and str(err.value).startswith(str(path))
    assert "not an image" in err.value.reason
    # a JPEG header followed by garbage gets past identification and fails in decoding
    path.write_bytes(b"\xff\xd8\xff\xe0" + path.read_bytes())
    with pytest.raises(ImageReadError, match=r"corrupt\.jpg"):
        read_photo(path)


def test_truncated_jpeg_is_an_error_naming_the_file(tmp_path):
    data = encode(Image.fromarray(textured(200, 150)), "JPEG", quality=90)
    assert read_photo(data).rgb.shape == (150, 200, 3)  # the whole file is fine
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as err:
        read_photo(path)
    assert err.value.source == str(path) and "half.jpg" in str(err.value)
    assert err.value.reason.startswith("cannot decode")
    with pytest.raises(ImageReadError, match="<bytes>"):
        read_photo(data[: len(data) // 2])


def test_cmyk_jpeg_reads_back_as_its_rgb(tmp_path):
    rgb = gradient()
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, "JPEG", quality=95)
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    photo = read_photo(path)
    assert photo.mode == "CMYK" and photo.alpha is None
    assert photo.rgb.shape == rgb.shape and photo.rgb.dtype == np.uint8
    assert np.abs(photo.rgb.astype(int) - rgb).mean() < 3.0
    assert photo.to_pil().mode == "RGB"


def test_sixteen_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000, 16384], [32768, 49152, 65280, 65535]], np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    photo = read_photo(path)
    assert photo.rgb.shape == (2, 4, 3) and photo.alpha is None
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 1])
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 2])
    expected = np.rint(values / 65535.0 * 255.0)
    assert np.array_equal(photo.rgb[..., 0], expected)
    assert photo.rgb[1, 3, 0] == 255 and photo.rgb[1, 0, 0] == 128 and photo.rgb[0, 0, 0] == 0
    assert (photo.rgb < 255).mean() > 0.5  # not all white, as a clipping convert would give
    assert photo.to_pil().mode == "L"


def test_sixteen_bit_ramp_keeps_its_order(tmp_path):
    ramp = np.linspace(0, 65535, 256 * 4).astype(np.uint16).reshape(4, 256)
    path = tmp_path / "ramp.png"
    Image.fromarray(ramp).save(path)
    gray = read_photo(path).rgb[..., 0].astype(int)
    assert np.all(np.diff(gray.ravel()) >= 0)
    assert gray.min() == 0 and gray.max() == 255 and len(np.unique(gray)) > 200


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(6, "top-right"), (8, "bottom-left"), (3, "bottom-right"), (1, "top-left")],
)
def test_exif_orientation_is_applied(tmp_path, orientation, corner):
    width, height = 60, 40
    stored = np.full((height, width, 3), 128, np.uint8)
    stored[:10, :10] = (255, 0, 0)  # a red marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rotated{orientation}.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif)
    photo = read_photo(path)
    turned = orientation in (6, 8)
    assert photo.rgb.shape == ((width, height, 3) if turned else (height, width, 3))
    assert photo.size == ((height, width) if turned else (width, height))
    h, w = photo.rgb.shape[:2]
    corners = {
        "top-left": photo.rgb[:8, :8],
        "top-right": photo.rgb[:8, w - 8 :],
        "bottom-left": photo.rgb[h - 8 :, :8],
        "bottom-right": photo.rgb[h - 8 :, w - 8 :],
    }
    for name, block in corners.items():
        red = block[..., 0].mean() > 200 and block[..., 1].mean() < 60
        assert red == (name == corner), (name, block.mean((0, 1)))


def test_rgba_png_keeps_its_alpha_and_to_pil_restores_it(tmp_path):
    rgb = gradient(50, 30)
    alpha = np.tile(np.arange(50, dtype=np.uint8) * 5, (30, 1))
    path = tmp_path / "alpha.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    photo = read_photo(path)
    assert photo.mode == "RGBA"
    assert np.array_equal(photo.rgb, rgb) and np.array_equal(photo.alpha, alpha)
    back = photo.to_pil()
    assert back.mode == "RGBA" and back.size == (50, 30)
    assert np.array_equal(np.asarray(back), np.dstack([rgb, alpha]))
    # an edited rgb keeps the photo's alpha
    edited = photo.to_pil(255 - photo.rgb)
    assert np.array_equal(np.asarray(edited)[..., 3], alpha)
    assert np.array_equal(np.asarray(edited)[..., :3], 255 - rgb)


def test_grayscale_with_alpha_stays_grayscale_with_alpha(tmp_path):
    gray = gradient(40, 20)[..., 0]
    alpha = np.full((20, 40), 77, np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(path)
    photo = read_photo(path)
    assert photo.mode == "LA" and np.array_equal(photo.alpha, alpha)
    assert np.array_equal(photo.rgb[..., 1], gray)
    back = photo.to_pil()
    assert back.mode == "LA"
    assert np.array_equal(np.asarray(back), np.dstack([gray, alpha]))


def test_palette_png_with_and_without_transparency(tmp_path):
    indices = (np.arange(24 * 16).reshape(16, 24) % 4).astype(np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255] + [0] * (252 * 3))
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)

    plain = read_photo(encode(image, "PNG"))
    assert plain.mode == "P" and plain.alpha is None
    assert np.array_equal(plain.rgb, colours[indices])

    path = tmp_path / "transparent.png"
    image.save(path, transparency=3)  # the white entry is transparent
    photo = read_photo(path)
    assert photo.alpha is not None
    assert np.array_equal(photo.alpha, np.where(indices == 3, 0, 255))
    assert np.array_equal(photo.rgb[indices != 3], colours[indices][indices != 3])
    assert photo.to_pil().mode == "RGBA"


def test_grayscale_jpeg_becomes_equal_channels_and_to_pil_gives_l(tmp_path):
    gray = gradient(64, 48)[..., 0]
    path = tmp_path / "gray.jpg"
    Image.fromarray(gray, "L").save(path, "JPEG", quality=95)
    photo = read_photo(path)
    assert photo.mode == "L" and photo.alpha is None and photo.rgb.shape == (48, 64, 3)
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 1])
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 2])
    assert np.abs(photo.rgb[..., 0].astype(int) - gray).mean() < 3.0
    back = photo.to_pil()
    assert back.mode == "L" and np.array_equal(np.asarray(back), photo.rgb[..., 0])


def test_text_file_missing_path_and_directory_are_errors(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n" * 20)
    with pytest.raises(ImageReadError, match=r"notes\.jpg") as err:
        read_photo(text)
    assert "not an image" in err.value.reason

    missing = tmp_path / "nowhere.png"
    with pytest.raises(ImageReadError) as err:
        read_photo(missing)
    assert err.value.reason == "no such file" and err.value.source == str(missing)
    assert "nowhere.png" in str(err.value)

    with pytest.raises(ImageReadError) as err:
        read_photo(tmp_path)
    assert err.value.reason == "not a file"
    assert isinstance(err.value, ValueError)


def test_bytes_paths_and_read_rgb_agree(tmp_path):
    rgb = gradient(33, 21)
    path = tmp_path / "plain.png"
    Image.fromarray(rgb).save(path)
    for source in (path, str(path), path.read_bytes()):
        photo = read_photo(source)
        assert photo.mode == "RGB" and photo.alpha is None and np.array_equal(photo.rgb, rgb)
    assert np.array_equal(read_rgb(path), rgb)
    assert read_rgb(path).flags.writeable


def test_too_many_pixels_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(gradient(20, 20)).save(path)
    monkeypatch.setattr(images_module, "MAX_PIXELS", 399)
    with pytest.raises(ImageReadError, match=r"20x20 .*megapixels"):
        read_photo(path)
    monkeypatch.setattr(images_module, "MAX_PIXELS", 400)
    assert read_photo(path).size == (20, 20)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGB pixels and holds none: PIL opens it (the header
    says its size) and fails only when decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("side", "message"),
    [
        (12_000, r"12000x12000 \(144.0 megapixels\); at most 50.0 megapixels"),  # PIL warns
        (20_000, r"more than 179 megapixels; at most 50.0 megapixels"),  # PIL refuses
    ],
)
def test_a_picture_pil_calls_a_decompression_bomb_gets_our_size_message(tmp_path, side, message):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(side, side))
    with pytest.raises(ImageReadError, match=message) as err:
        read_photo(path, 50_000_000)
    assert "DOS" not in str(err.value) and str(path) in str(err.value)


def test_to_pil_checks_the_pixels():
    photo = Photo(gradient(10, 8), None, "RGB")
    with pytest.raises(ValueError, match="uint8"):
        photo.to_pil(photo.rgb.astype(np.float32))
    with pytest.raises(ValueError):
        photo.to_pil(photo.rgb[:4])


def test_to_tensor_maps_bytes_to_minus_one_one():
    rgb = np.zeros((3, 5, 3), np.uint8)
    rgb[0, 0] = (255, 0, 128)
    rgb[2, 4] = (10, 20, 30)
    x = to_tensor(rgb)
    assert x.shape == (3, 3, 5) and x.dtype == torch.float32
    assert x[0, 0, 0] == 1.0 and x[1, 0, 0] == -1.0 and x[0, 1, 1] == -1.0
    assert x[2, 0, 0].item() == pytest.approx(128 / 127.5 - 1, abs=1e-6)
    assert torch.allclose(x[:, 2, 4], torch.tensor([10, 20, 30]) / 127.5 - 1, atol=1e-6)
    # round trip through segan's own image conversion
    assert np.array_equal(to_uint8(x), rgb)
    assert to_tensor(rgb[:, ::-1]).shape == (3, 3, 5)  # non-contiguous views are fine


def test_skip_log_counts_reasons(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"garbage" * 100)
    (tmp_path / "b.txt").write_text("hello")
    data = encode(Image.fromarray(textured(120, 90)), "JPEG")
    (tmp_path / "c.jpg").write_bytes(data[: len(data) // 3])
    Image.fromarray(gradient()).save(tmp_path / "good.png")
    log = SkipLog()
    assert len(log) == 0 and log.summary() == "0 skipped"
    read = []
    for name in ("a.jpg", "b.txt", "missing.png", "c.jpg", "good.png"):
        try:
            read.append(read_photo(tmp_path / name))
        except ImageReadError as err:
            log.add(err.source, err.reason)
    assert len(read) == 1 and len(log) == 4
    assert [source for source, _ in log] == [
        str(tmp_path / n) for n in ("a.jpg", "b.txt", "missing.png", "c.jpg")
    ]
    assert log.by_reason() == {
        "not an image PIL can read": 2,
        "no such file": 1,
        "cannot decode": 1,
    }
    assert log.summary().startswith("4 skipped: 2 not an image PIL can read, ")
    assert "1 no such file" in log.summary() and "1 cannot decode" in log.summary()


# --------------------------------------------------------------------------- boxes and crops


def test_square_box_and_centre_square():
    box = square_box((10, 20, 30, 40), scale=2.0)
    assert box == CropBox(-15, 0, 80)  # side 2 * 40, centred on (25, 40)
    assert square_box((10, 20, 30, 40), scale=2.0, shift=0.25) == CropBox(-15, 20, 80)
    assert square_box((10, 20, 30, 40), scale=2.0, shift=-0.25) == CropBox(-15, -20, 80)
    assert square_box((0, 0, 1, 1), scale=0.1).side == 1
    for face, scale in [((0, 0, 0, 10), 2.0), ((0, 0, 10, -1), 2.0), ((0, 0, 10, 10), 0.0)]:
        with pytest.raises(ValueError):
            square_box(face, scale)
    assert centre_square(640, 480) == CropBox(80, 0, 480)
    assert centre_square(300, 501) == CropBox(0, 100, 300)
    assert centre_square(7, 7) == CropBox(0, 0, 7)
    with pytest.raises(ValueError):
        CropBox(0, 0, 0)


def test_crop_box_maps_points_into_the_crop():
    box = CropBox(-20, 30, 200)
    corners = np.array([[-20, 30], [180, 230], [80, 130]])
    assert np.allclose(box.to_crop(corners, 100), [[0, 0], [100, 100], [50, 50]])
    assert box.to_crop(np.zeros((4, 68, 2)), 64).shape == (4, 68, 2)


def test_crop_image_inside_the_photo_is_the_exact_window():
    rgb = textured(50, 40, seed=3)
    assert np.array_equal(crop_image(rgb, CropBox(5, 7, 30), 30), rgb[7:37, 5:35])
    # enlarging and shrinking give the requested size
    assert crop_image(rgb, CropBox(5, 7, 30), 64).shape == (64, 64, 3)
    assert crop_image(rgb, CropBox(5, 7, 30), 16).dtype == np.uint8


@pytest.mark.parametrize(
    "box", [CropBox(-5, -7, 30), CropBox(30, 25, 30), CropBox(-10, -10, 70), CropBox(45, -3, 9)]
)
def test_crop_image_replicates_the_edge_outside_the_photo(box):
    rgb = textured(50, 40, seed=4)
    padded = np.pad(rgb, ((100, 100), (100, 100), (0, 0)), mode="edge")
    expected = padded[box.top + 100 : box.top + 100 + box.side, box.left + 100 :][:, : box.side]
    assert np.array_equal(crop_image(rgb, box, box.side), expected)


def test_crop_image_refuses_a_box_off_the_photo():
    rgb = textured(50, 40)
    for box in (CropBox(50, 0, 10), CropBox(-10, 0, 10), CropBox(0, 40, 5), CropBox(0, -5, 5)):
        with pytest.raises(ValueError, match="outside"):
            crop_image(rgb, box, 16)


def test_crop_image_shrinks_without_aliasing():
    checker = ((np.indices((128, 128)).sum(0) % 2) * 255).astype(np.uint8)
    rgb = np.repeat(checker[..., None], 3, axis=2)
    small = crop_image(rgb, CropBox(0, 0, 128), 64)
    assert np.all(np.abs(small.astype(int) - 127.5) <= 1)  # averaged, not sampled


def test_crop_mask_at_half_size_agrees_with_the_full_size_mask():
    rng = np.random.default_rng(5)
    half = rng.integers(1, 19, (80, 100)).astype(np.uint8)  # no background inside the picture
    full = np.repeat(np.repeat(half, 2, axis=0), 2, axis=1)  # the photo is 200 x 160
    box = CropBox(-20, 30, 120)
    a = crop_mask(half, box, 60, scale=0.5)
    b = crop_mask(full, box, 60)
    assert a.shape == (60, 60) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # the 20 photo columns left of the picture are background, everything else is a part
    assert np.all(a[:, :10] == 0) and np.all(a[:, 10:] > 0)
    # an odd box at another output size: labels in blocks (as real parts are) nearly all agree
    blocks = np.kron(rng.integers(1, 19, (8, 10)), np.ones((10, 10), int)).astype(np.uint8)
    full = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)
    box = CropBox(131, 101, 97)  # runs past the right and bottom edges
    a, b = crop_mask(blocks, box, 64, scale=0.5), crop_mask(full, box, 64)
    assert (a == b).mean() > 0.95
    edge = box.to_crop(np.array([200, 160]), 64)  # the photo's bottom-right corner
    assert np.all(a[:, int(edge[0]) + 1 :] == 0) and np.all(a[int(edge[1]) + 1 :] == 0)
    assert np.all(a[: int(edge[1]) - 1, : int(edge[0]) - 1] > 0)


@pytest.mark.parametrize(
    ("box", "resolution"),
    [(CropBox(0, 0, 512), 128), (CropBox(37, 21, 400), 64), (CropBox(100, 100, 60), 64)],
)
def test_crop_mask_lines_up_with_crop_image(box, resolution):
    """The mask crop must label the same pixels the image crop shows (no half-pixel shift)."""
    yy, xx = np.indices((512, 512))
    mask = (((xx - 261.3) ** 2 + (yy - 240.7) ** 2) < 150**2).astype(np.uint8) * 4
    picture = np.repeat((mask * 60)[..., None], 3, axis=2).astype(np.uint8)
    shown = crop_image(picture, box, resolution)[..., 0] > 120
    labelled = crop_mask(mask, box, resolution) == 4
    centre_shown = np.argwhere(shown).mean(0)
    centre_labelled = np.argwhere(labelled).mean(0)
    assert np.all(np.abs(centre_shown - centre_labelled) < 0.2), (centre_shown, centre_labelled)
    assert (shown != labelled).mean() < 0.01


def test_crop_mask_uses_nearest_labels_only():
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 7
    mask[20:40, 10:20] = 3
    out = crop_mask(mask, CropBox(0, 0, 64), 100)
    assert set(np.unique(out)) == {0, 3, 7}  # no blended labels
    assert np.array_equal(crop_mask(mask, CropBox(0, 0, 64), 64), mask)
    with pytest.raises(ValueError):
        crop_mask(mask, CropBox(100, 100, 10), 16)


# --------------------------------------------------------------------------- seam weights


def test_seam_weights_ramp_is_one_inside_and_fades_to_the_edge():
    side, feather = 100, 0.1
    w = seam_weights(side, feather)
    assert w.shape == (side, side)
    assert np.all(w[10:90, 10:90] == 1.0)  # the interior, beyond the 10 px band
    assert np.all(w > 0) and np.all(w <= 1)
    assert w[0, 50] < 0.1 and w[50, 0] < 0.1 and w[0, 0] == w[0, 50]
    row = w[50, :50]
    assert np.all(np.diff(row) >= 0) and np.all(np.diff(row[:10]) > 0)  # monotone ramp
    assert np.allclose(np.diff(row[:10]), 0.1)  # linear over the band
    assert np.array_equal(w, w.T)
    assert np.array_equal(w, w[::-1]) and np.array_equal(w, w[:, ::-1])
    assert np.array_equal(seam_weights(37, 0.0), np.ones((37, 37)))
    assert np.array_equal(seam_weights(1, 0.0), np.ones((1, 1)))
    wide = seam_weights(101, 0.5)
    assert wide[50, 50] == pytest.approx(1.0) and wide.max() <= 1.0 and wide[0, 0] < 0.02
    for bad in (-0.01, 0.51, 1.0):
        with pytest.raises(ValueError, match="feather"):
            seam_weights(64, bad)


# --------------------------------------------------------------------------- detection


def test_detect_faces_finds_the_pasted_face(synth):
    faces, landmarks = synth
    for k in range(len(faces)):
        at = (200, 120)
        photo = photo_with_face(faces[k], 640, 480, at, seed=k)
        boxes = detect_faces(photo)
        assert boxes, FACE_INDICES[k]
        x, y, w, h = boxes[0]
        areas = [b[2] * b[3] for b in boxes]
        assert areas == sorted(areas, reverse=True)
        centre = landmarks[k].mean(0) + at
        assert abs(x + w / 2 - centre[0]) < 0.1 * FACE_SIDE
        assert abs(y + h / 2 - centre[1]) < 0.15 * FACE_SIDE
        assert 0.3 * FACE_SIDE < w < 0.7 * FACE_SIDE
        # the face lies inside the pasted square
        assert at[0] <= x and x + w <= at[0] + FACE_SIDE
        assert at[1] <= y and y + h <= at[1] + FACE_SIDE


def test_detect_faces_scales_boxes_back_from_a_shrunk_photo(synth):
    faces, landmarks = synth
    big = cv2.resize(faces[0], (2 * FACE_SIDE, 2 * FACE_SIDE), interpolation=cv2.INTER_CUBIC)
    at = (700, 350)
    photo = photo_with_face(big, 1600, 1200, at)  # detection runs at 640 px wide
    boxes = detect_faces(photo)
    assert boxes
    x, y, w, h = boxes[0]
    centre = 2 * landmarks[0].mean(0) + at
    assert abs(x + w / 2 - centre[0]) < 0.1 * 2 * FACE_SIDE
    assert abs(y + h / 2 - centre[1]) < 0.15 * 2 * FACE_SIDE
    assert 0.3 * 2 * FACE_SIDE < w < 0.7 * 2 * FACE_SIDE


def test_detect_faces_checks_its_input():
    with pytest.raises(ValueError):
        detect_faces(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError):
        detect_faces(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        detect_faces(np.zeros((64, 64, 4), np.uint8))


def test_crop_face_frames_the_face_like_synthfaces(synth):
    faces, landmarks = synth
    resolution = 128
    for k in range(len(faces)):
        at = (380, 260)
        photo = photo_with_face(faces[k], 900, 700, at, noise=12, seed=10 + k)
        face = crop_face(photo, resolution)
        assert face.crop.shape == (resolution, resolution, 3) and face.crop.dtype == np.uint8
        assert face.box == square_box(face.face, 2.2)
        assert face.box.side == round(2.2 * max(face.face[2:]))
        points = face.box.to_crop(landmarks[k] + at, resolution)
        reference = landmarks[k] * resolution / FACE_SIDE  # where SynthFaces puts them
        offset = np.abs(points.mean(0) - reference.mean(0))
        assert np.all(offset < 0.1 * resolution), (FACE_INDICES[k], offset)
        spread = np.ptp(points, axis=0) / np.ptp(reference, axis=0)
        assert np.all((spread > 0.7) & (spread < 1.4)), (FACE_INDICES[k], spread)
        # the crop really shows the photo there: compare with a direct crop
        assert np.array_equal(face.crop, crop_image(photo, face.box, resolution))


def test_no_face_in_flat_noise():
    noise = textured(640, 480, seed=7, low=0, high=256)
    with pytest.raises(NoFaceError, match="no face found") as err:
        find_face(noise)
    assert "640x480" in str(err.value) and isinstance(err.value, ValueError)
    with pytest.raises(NoFaceError):
        crop_face(noise, 64)
    with pytest.raises(NoFaceError):
        find_face(np.full((300, 400, 3), 128, np.uint8))


def test_a_given_box_bypasses_detection(monkeypatch):
    def no_detection(*_args, **_kwargs):
        raise AssertionError("detection must not run when a box is given")

    monkeypatch.setattr(faces_module, "detect_faces", no_detection)
    noise = textured(640, 480, seed=8)
    assert find_face(noise, (10.4, 20.6, 30, 40)) == (10, 21, 30, 40)
    assert find_face(noise, (-5, -5, 10, 10)) == (-5, -5, 10, 10)  # overlapping a corner
    face = crop_face(noise, 64, box=(100, 100, 50, 50), scale=2.0)
    assert face.box == CropBox(75, 75, 100) and face.face == (100, 100, 50, 50)
    assert np.array_equal(face.crop, crop_image(noise, CropBox(75, 75, 100), 64))


@pytest.mark.parametrize(
    "box",
    [(640, 0, 10, 10), (-10, 0, 10, 10), (0, 480, 10, 10), (0, -20, 10, 20), (5, 5, 0, 10)],
)
def test_a_box_off_the_picture_is_a_value_error(box):
    noise = textured(640, 480, seed=9)
    with pytest.raises(ValueError, match="does not overlap") as err:
        find_face(noise, box)
    assert not isinstance(err.value, NoFaceError)


# --------------------------------------------------------------------------- paste-back


@pytest.fixture(scope="module")
def big_photo(synth):
    faces, _ = synth
    return photo_with_face(faces[0], 900, 700, (380, 260), noise=12, seed=20)


def box_slices(box, shape):
    h, w = shape[:2]
    return (
        slice(max(box.top, 0), min(box.top + box.side, h)),
        slice(max(box.left, 0), min(box.left + box.side, w)),
    )


def outside(box, shape):
    keep = np.ones(shape[:2], bool)
    keep[box_slices(box, shape)] = False
    return keep


@pytest.mark.parametrize("resolution", [64, 128])
def test_identity_edit_leaves_the_photo_exactly_as_it_was(big_photo, resolution):
    face = crop_face(big_photo, resolution)  # detected
    assert face.box.side > resolution  # the crop was resampled
    out = paste_back(big_photo, face.crop, face.crop.copy(), face.box)
    assert out.shape == big_photo.shape and out.dtype == np.uint8
    assert np.array_equal(out, big_photo)
    assert out is not big_photo
    for feather in (0.0, 0.25, 0.5):
        assert np.array_equal(
            paste_back(big_photo, face.crop, face.crop, face.box, feather), big_photo
        )


def test_identity_edit_in_replace_mode_only_resamples(big_photo, synth):
    face = crop_face(big_photo, 128)
    out = paste_back(big_photo, face.crop, face.crop, face.box, mode="replace")
    keep = outside(face.box, big_photo.shape)
    assert np.array_equal(out[keep], big_photo[keep])  # byte-identical outside the box
    inner = box_slices(face.box, big_photo.shape)
    diff = np.abs(out[inner].astype(int) - big_photo[inner])
    # the grain is lost to resampling: that is why "residual" is the default
    assert diff.mean() > 1.0
    # ... but the picture is the same: a blurred copy differs little from the blurred photo
    blur = cv2.GaussianBlur(big_photo, (0, 0), 3)[inner].astype(int)
    assert np.abs(cv2.GaussianBlur(out, (0, 0), 3)[inner].astype(int) - blur).mean() < 2.0
    # on a smooth photo an identity edit changes next to nothing
    faces, _ = synth
    smooth = photo_with_face(faces[0], 900, 700, (380, 260))
    smooth = cv2.GaussianBlur(smooth, (0, 0), 4)
    face = crop_face(smooth, 128, box=face.face)
    out = paste_back(smooth, face.crop, face.crop, face.box, mode="replace")
    keep = outside(face.box, smooth.shape)
    assert np.array_equal(out[keep], smooth[keep])
    diff = np.abs(out.astype(int) - smooth)
    assert diff.mean() < 0.2 and diff.max() <= 8


@pytest.mark.parametrize("mode", ["residual", "replace"])
def test_a_local_edit_lands_in_the_right_place(big_photo, mode):
    resolution = 128
    face = crop_face(big_photo, resolution)
    box = face.box
    edited = face.crop.astype(int)
    edited[48:80, 48:80] = np.clip(edited[48:80, 48:80] + 50, 0, 255)
    edited = edited.astype(np.uint8)
    out = paste_back(big_photo, face.crop, edited, box, mode=mode)
    keep = outside(box, big_photo.shape)
    assert np.array_equal(out[keep], big_photo[keep])
    change = out.astype(int) - big_photo
    scale = box.side / resolution

    # brighter where the crop was brightened
    ys = slice(box.top + round(52 * scale), box.top + round(76 * scale))
    xs = slice(box.left + round(52 * scale), box.left + round(76 * scale))
    assert change[ys, xs].mean() > (35 if mode == "residual" else 25)
    if mode == "residual":
        # and nowhere else in the box, beyond a pixel or so of resampling
        changed = np.abs(change).max(axis=2) > 1
        rows, cols = np.nonzero(changed)
        assert rows.min() >= box.top + 46 * scale and rows.max() <= box.top + 82 * scale
        assert cols.min() >= box.left + 46 * scale and cols.max() <= box.left + 82 * scale


def test_a_uniform_edit_fades_across_the_seam():
    rgb = textured(500, 400, seed=11, low=60, high=190)  # no clipping after +40
    face = crop_face(rgb, 128, box=(200, 150, 100, 100), scale=2.5)
    box = face.box
    assert box == CropBox(125, 75, 250)
    edited = face.crop + np.uint8(40)
    out = paste_back(rgb, face.crop, edited, box, feather=0.1)
    change = out.astype(int) - rgb
    keep = outside(box, rgb.shape)
    assert np.all(change[keep] == 0)
    inner = change[box.top : box.top + box.side, box.left : box.left + box.side]
    expected = 40 * seam_weights(box.side, 0.1)
    assert np.all(np.abs(inner - expected[..., None]) <= 0.51)
    assert np.all(inner[25:-25, 25:-25] == 40)  # full strength inside the 25 px band
    row = inner[box.side // 2, : box.side // 2, 0]
    assert np.all(np.diff(row) >= 0)  # monotone from the edge inwards
    band = inner[box.side // 2, :25, 0]
    assert 0 <= band[0] <= 2 and np.all((band > 0) & (band < 40))  # faded, not cut


def test_a_box_running_off_the_photo_edge(synth):
    faces, landmarks = synth
    photo = photo_with_face(faces[1], 640, 480, (-70, 150), seed=12)  # cut at the left edge
    face = crop_face(photo, 128)
    box = face.box
    assert box.left < 0  # the crop leaves the photo
    # the part outside repeats the photo's first column
    cols_outside = round(-box.left * 128 / box.side)
    assert cols_outside >= 4
    window = crop_image(photo, box, box.side)
    assert np.all(window[:, : -box.left] == window[:, -box.left : -box.left + 1])
    # a face box also still frames the face
    points = box.to_crop(landmarks[1] + (-70, 150), 128)
    assert np.all(np.abs(points.mean(0) - landmarks[1].mean(0) / 2) < 0.1 * 128)

    # identity: nothing changes; an edit: only pixels inside the photo and the box are written
    assert np.array_equal(paste_back(photo, face.crop, face.crop, box), photo)
    rgb = textured(640, 480, seed=13, low=60, high=190)
    crop = crop_image(rgb, box, 128)
    out = paste_back(rgb, crop, crop + np.uint8(40), box, feather=0.1)
    assert out.shape == rgb.shape
    change = out.astype(int) - rgb
    keep = outside(box, rgb.shape)
    assert np.all(change[keep] == 0)
    ys, xs = box_slices(box, rgb.shape)
    weights = seam_weights(box.side, 0.1)[ys.start - box.top : ys.stop - box.top][
        :, xs.start - box.left : xs.stop - box.left
    ]
    assert np.all(np.abs(change[ys, xs] - 40 * weights[..., None]) <= 0.51)
    # the photo's left column is deep inside the box: it gets the full edit
    assert change[box.top + box.side // 2, 0, 0] == 40


def test_paste_back_corner_box_and_argument_checks():
    rgb = textured(120, 90, seed=14, low=60, high=190)
    box = CropBox(-30, -40, 100)  # over the top-left corner
    crop = crop_image(rgb, box, 64)
    out = paste_back(rgb, crop, crop + np.uint8(20), box, feather=0.0)
    change = out.astype(int) - rgb
    assert np.all(change[:60, :70] == 20) and np.all(change[60:] == 0)
    assert np.all(change[:, 70:] == 0)
    with pytest.raises(ValueError, match="mode"):
        paste_back(rgb, crop, crop, box, mode="blend")
    with pytest.raises(ValueError, match="same square"):
        paste_back(rgb, crop, crop[:32, :32], box)
    with pytest.raises(ValueError, match="same square"):
        paste_back(rgb, crop[:, :32], crop[:, :32], box)
    with pytest.raises(ValueError, match="outside"):
        paste_back(rgb, crop, crop, CropBox(120, 0, 50))
    with pytest.raises(ValueError, match="feather"):
        paste_back(rgb, crop, crop, box, feather=0.7)


# --------------------------------------------------------------------------- whole flow


def face_file(tmp_path, synth, kind, width, height, at):
    """A photo with a face at `at` saved in the `kind` of file a user might bring."""
    faces, _ = synth
    rgb = photo_with_face(faces[2], width, height, at, seed=15)
    image = Image.fromarray(rgb)
    alpha = None
    if kind == "L":
        image, suffix = image.convert("L"), "png"
    elif kind == "RGBA":
        alpha = np.tile(np.linspace(30, 255, width).astype(np.uint8), (height, 1))
        image.putalpha(Image.fromarray(alpha, "L"))
        suffix = "png"
    elif kind == "I;16":
        gray = np.asarray(image.convert("L")).astype(np.uint16) * 257
        image, suffix = Image.fromarray(gray), "png"
    else:
        suffix = "jpg"
    path = tmp_path / f"photo_{kind.replace(';', '')}.{suffix}"
    image.save(path)
    return path, alpha


@pytest.mark.parametrize(
    ("kind", "width", "height", "saved_mode"),
    [
        ("RGB", 517, 333, "RGB"),
        ("L", 401, 299, "L"),
        ("RGBA", 350, 420, "RGBA"),
        ("I;16", 300, 310, "L"),
    ],
)
def test_read_crop_edit_paste_save_keeps_size_and_mode(
    tmp_path, synth, kind, width, height, saved_mode
):
    at = (width - FACE_SIDE) // 2, (height - FACE_SIDE) // 2
    path, alpha = face_file(tmp_path, synth, kind, width, height, at)
    photo = read_photo(path)
    assert photo.size == (width, height)
    face = crop_face(photo.rgb, 128, box=(at[0] + 65, at[1] + 65, 125, 125))

    same = photo.to_pil(paste_back(photo.rgb, face.crop, face.crop, face.box))
    assert same.size == (width, height) and same.mode == saved_mode
    if kind in ("L", "RGBA"):  # lossless files come back byte for byte
        with Image.open(path) as original:
            assert np.array_equal(np.asarray(same), np.asarray(original))

    edited = np.clip(face.crop.astype(int) - 40, 0, 255).astype(np.uint8)
    out = paste_back(photo.rgb, face.crop, edited, face.box)
    saved = photo.to_pil(out)
    assert saved.size == (width, height) and saved.mode == saved_mode
    values = np.asarray(saved).astype(int)
    base = np.asarray(photo.to_pil()).astype(int)
    cy, cx = at[1] + 128, at[0] + 128
    assert (
        values[cy - 10 : cy + 10, cx - 10 : cx + 10] - base[cy - 10 : cy + 10, cx - 10 : cx + 10]
    ).mean() < -20
    if alpha is not None:
        assert np.array_equal(np.asarray(saved)[..., 3], alpha)
    # and it saves and reads back the same way
    again = tmp_path / "again.png"
    saved.save(again)
    back = read_photo(again)
    assert back.size == (width, height) and back.mode == saved_mode
    if alpha is not None:
        assert np.array_equal(back.alpha, alpha)
