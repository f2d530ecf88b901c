"""RetinaFace MobileNet-0.25 (segan.photos.retinaface): the network against the published
checkpoint's keys and shapes, the anchors and their decoding, and the detector with the real
weights on scikit-image's astronaut (one face at 512 px), pasted small into a large canvas,
twice in one picture, and on pictures with no face."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from segan.assets import AssetUnavailableError, locate
from segan.photos.retinaface import (
    Detection,
    RetinaFaceDetector,
    RetinaFaceNet,
    decode,
    load_checkpoint,
    prior_boxes,
    prior_count,
)

ASTRONAUT_FACE = (177, 56, 93, 120)  # x, y, w, h of the astronaut's face box (looked at by eye)


@pytest.fixture(scope="module")
def weights_path():
    return locate("retinaface")


@pytest.fixture(scope="module")
def detector(weights_path):
    return RetinaFaceDetector.from_file(weights_path)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def face_crop(astronaut: np.ndarray) -> np.ndarray:
    """A 240 px square around the astronaut's face: the face is half its height."""
    return astronaut[0:240, 103:343]


def inside(point, box, margin=0.0) -> bool:
    x, y, w, h = box
    return x - margin <= point[0] <= x + w + margin and y - margin <= point[1] <= y + h + margin


# --------------------------------------------------------------------------- the network


def test_network_has_the_checkpoints_keys_and_shapes(weights_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    ours = RetinaFaceNet().state_dict()
    assert list(ours) == list(state)
    for key, value in state.items():
        assert ours[key].shape == value.shape, key


@pytest.mark.parametrize("height, width", [(64, 64), (100, 37), (33, 130)])
def test_prior_count_matches_the_formula_and_the_network(height, width):
    # strides 8, 16, 32, each cell with 2 anchors; a partial cell counts
    expected = sum(math.ceil(height / s) * math.ceil(width / s) * 2 for s in (8, 16, 32))
    assert prior_count(height, width) == expected
    priors = prior_boxes(height, width)
    assert priors.shape == (expected, 3)
    net = RetinaFaceNet().eval()
    with torch.no_grad():
        logits, loc, landmarks = net(torch.zeros(1, 3, height, width))
    assert logits.shape == (1, expected, 2)
    assert loc.shape == (1, expected, 4)
    assert landmarks.shape == (1, expected, 10)
    # the first anchors: the top-left stride-8 cell, sides 16 then 32; the last: the
    # bottom-right stride-32 cell, side 512
    assert priors[0].tolist() == [4.0, 4.0, 16.0]
    assert priors[1].tolist() == [4.0, 4.0, 32.0]
    last = [(math.ceil(width / 32) - 0.5) * 32, (math.ceil(height / 32) - 0.5) * 32, 512.0]
    assert priors[-1].tolist() == last
    # within a level the anchors go along a row first
    assert priors[2].tolist() == [12.0, 4.0, 16.0]


def encode(boxes, points, priors):
    """SSD-style offsets of corner boxes (P, 4) and points (P, 5, 2) against (cx, cy, side)
    anchors, with variances 0.1 (centres, points) and 0.2 (log sizes)."""
    cx, cy, side = priors[:, 0], priors[:, 1], priors[:, 2]
    bx = (boxes[:, 0] + boxes[:, 2]) / 2
    by = (boxes[:, 1] + boxes[:, 3]) / 2
    bw = boxes[:, 2] - boxes[:, 0]
    bh = boxes[:, 3] - boxes[:, 1]
    loc = torch.stack(
        [
            (bx - cx) / (0.1 * side),
            (by - cy) / (0.1 * side),
            torch.log(bw / side) / 0.2,
            torch.log(bh / side) / 0.2,
        ],
        dim=1,
    )
    centres = torch.stack([cx, cy], dim=1)[:, None, :]
    marks = (points - centres) / (0.1 * side[:, None, None])
    return loc, marks.reshape(-1, 10)


def test_decode_inverts_the_encoding():
    gen = torch.Generator().manual_seed(0)
    priors = prior_boxes(96, 160)
    n = len(priors)
    centre = priors[:, :2] + (torch.rand(n, 2, generator=gen) - 0.5) * priors[:, 2:]
    size = priors[:, 2:] * (0.5 + torch.rand(n, 2, generator=gen))
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=1)
    points = centre[:, None, :] + (torch.rand(n, 5, 2, generator=gen) - 0.5) * size[:, None, :]
    loc, marks = encode(boxes, points, priors)
    got_boxes, got_points = decode(loc, marks, priors)
    torch.testing.assert_close(got_boxes, boxes, rtol=0, atol=1e-3)
    torch.testing.assert_close(got_points, points, rtol=0, atol=1e-3)


# --------------------------------------------------------------------------- loading


def test_a_truncated_file_fails_naming_it(weights_path, tmp_path):
    bad = tmp_path / "mobilenet0.25_Final.pth"
    bad.write_bytes(weights_path.read_bytes()[:50_000])
    with pytest.raises(ValueError, match=str(bad)):
        load_checkpoint(RetinaFaceNet(), bad)
    with pytest.raises(AssetUnavailableError, match=str(bad)):
        RetinaFaceDetector.from_file(bad)  # the SHA-256 check names it first


def test_a_wrong_checkpoint_fails_naming_the_file_and_key(weights_path, tmp_path):
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    renamed = {("module." + k): v for k, v in state.items()}  # DataParallel's prefix is fine
    ok = tmp_path / "prefixed.pth"
    torch.save(renamed, ok)
    net = load_checkpoint(RetinaFaceNet(), ok)
    assert torch.equal(net.fpn.merge1[0].weight, state["fpn.merge1.0.weight"])

    missing = dict(state)
    del missing["ssh2.conv3X3.1.running_var"]
    path = tmp_path / "missing.pth"
    torch.save(missing, path)
    with pytest.raises(ValueError, match=rf"{path}.*'ssh2\.conv3X3\.1\.running_var'"):
        load_checkpoint(RetinaFaceNet(), path)

    reshaped = dict(state)
    reshaped["ClassHead.1.conv1x1.weight"] = torch.zeros(6, 64, 1, 1)  # 3 anchors, not 2
    path = tmp_path / "reshaped.pth"
    torch.save(reshaped, path)
    with pytest.raises(ValueError, match=rf"{path}.*'ClassHead\.1\.conv1x1\.weight'"):
        load_checkpoint(RetinaFaceNet(), path)

    extra = dict(state)
    extra["body.fc.weight"] = torch.zeros(1000, 256)
    path = tmp_path / "extra.pth"
    torch.save(extra, path)
    with pytest.raises(ValueError, match=rf"{path}.*'body\.fc\.weight'"):
        load_checkpoint(RetinaFaceNet(), path)


# --------------------------------------------------------------------------- detection


def test_the_astronaut_has_one_face(detector, astronaut):
    found = detector.detect(astronaut)
    assert len(found) == 1
    face = found[0]
    assert isinstance(face, Detection)
    assert face.score > 0.9
    assert face.points.shape == (5, 2) and face.points.dtype == np.float32
    left_eye, right_eye, nose, mouth_left, mouth_right = face.points
    assert inside(left_eye, face.box) and inside(right_eye, face.box)
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert left_eye[1] < nose[1] < mouth_left[1]
    np.testing.assert_allclose(face.box, ASTRONAUT_FACE, atol=8)


def test_points_follow_the_image_in_a_mirrored_photo(detector, astronaut):
    (face,) = detector.detect(np.ascontiguousarray(astronaut[:, ::-1]))
    assert face.points[0, 0] < face.points[1, 0]
    x, y, w, h = ASTRONAUT_FACE
    np.testing.assert_allclose(face.box, (512 - x - w, y, w, h), atol=8)


def test_points_turn_with_an_upside_down_face(detector, astronaut):
    (face,) = detector.detect(np.ascontiguousarray(astronaut[::-1, ::-1]))
    first_eye, second_eye, _, mouth_a, mouth_b = face.points
    assert first_eye[0] > second_eye[0]  # the person's right eye, now on the image's right
    assert min(first_eye[1], second_eye[1]) > max(mouth_a[1], mouth_b[1])  # eyes below mouth
    (upright,) = detector.detect(astronaut)
    np.testing.assert_allclose(first_eye, 511 - upright.points[0], atol=12)


def test_a_shrunk_photo_is_reported_in_its_own_pixels(detector, astronaut):
    wide = np.full((512, 768, 3), 128, np.uint8)
    wide[:, 200:712] = astronaut
    big = cv2.resize(wide, (1536, 1024), interpolation=cv2.INTER_CUBIC)
    (face,) = detector.detect(big, max_side=512)
    # the same working picture, 512 x 341 (1024 / 3 rounded), detected as it is
    work = cv2.resize(big, (512, 341), interpolation=cv2.INTER_AREA)
    (small,) = detector.detect(work, max_side=None)
    sx, sy = 1536 / 512, 1024 / 341
    np.testing.assert_allclose(face.box, np.multiply(small.box, (sx, sy, sx, sy)), atol=0.01)
    np.testing.assert_allclose(face.points, small.points * (sx, sy), atol=0.01)
    assert face.score == pytest.approx(small.score)
    (full,) = detector.detect(big, max_side=None)
    # the box at full size (a 240 px face) differs by the network's scale dependence only
    np.testing.assert_allclose(full.box, face.box, atol=0.1 * 240)


def test_a_small_face_in_a_large_canvas_is_found(detector, astronaut):
    side, face_fraction = 2048, 0.06
    n = round(2 * face_fraction * side)  # the crop is twice the face's height
    canvas = np.full((side, side, 3), 128, np.uint8)
    x, y = 1300, 700
    small = cv2.resize(face_crop(astronaut), (n, n), interpolation=cv2.INTER_AREA)
    canvas[y : y + n, x : x + n] = small
    found = detector.detect(canvas)
    assert len(found) == 1
    bx, by, bw, bh = found[0].box
    assert inside((bx + bw / 2, by + bh / 2), (x, y, n, n))
    assert 0.6 * face_fraction * side < bh < 1.4 * face_fraction * side
    assert detector.detect(canvas, min_size=200) == []  # the face is ~120 px high


def test_two_faces_are_found_largest_first(detector, astronaut):
    picture = np.full((512, 800, 3), 90, np.uint8)
    picture[:, :512] = astronaut
    picture[100:356, 530:786] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    found = detector.detect(picture)
    assert len(found) == 2
    big, small = found
    assert big.box[0] < 512 <= small.box[0]
    assert big.area > 3 * small.area
    np.testing.assert_allclose(big.box, ASTRONAUT_FACE, atol=8)


@pytest.mark.parametrize("picture", ["coffee", "noise"])
def test_no_face_gives_an_empty_list(detector, picture):
    if picture == "noise":
        rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    else:
        rgb = getattr(data, picture)()
    assert detector.detect(rgb) == []


@pytest.mark.parametrize(
    "given, named",
    [
        (np.zeros((64, 64, 3), np.float32), "float32"),
        (np.zeros((64, 64), np.uint8), r"\(64, 64\)"),
        (np.zeros((64, 64, 4), np.uint8), r"\(64, 64, 4\)"),
        (np.zeros((0, 64, 3), np.uint8), r"\(0, 64, 3\)"),
        ([[[0, 0, 0]]], "list"),
    ],
)
def test_bad_input_is_refused_naming_it(given, named):
    detector = RetinaFaceDetector(RetinaFaceNet())  # random weights: validation comes first
    with pytest.raises(ValueError, match=named):
        detector.detect(given)
