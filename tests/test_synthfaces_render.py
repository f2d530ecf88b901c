"""SynthFaces renderer: outputs, determinism, identities, AU locality and semantics, masks."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from segan.labels import AU_IDS, EXPRESSIONS, NUM_PARTS, PART_INDEX, au_index
from segan.synth.dataset import (
    AU_ZONES,
    EXPRESSION_AUS,
    SPLITS,
    au_region,
    expression_aus,
    identity_range,
    render,
)
from segan.synth.identity import sample_identity

TEST_START = SPLITS["test"][0]


def _ids(n: int, start: int = TEST_START) -> torch.Tensor:
    return torch.arange(start, start + n)


def _au(au: int, value: float, n: int) -> torch.Tensor:
    aus = torch.zeros(n, 17)
    aus[:, au_index(au)] = value
    return aus


def test_outputs_have_documented_shapes_types_and_ranges():
    ids = _ids(6)
    aus = torch.rand(6, 17, generator=torch.Generator().manual_seed(0)) * 5
    out = render(ids, aus, 64)
    assert out["image"].shape == (6, 3, 64, 64) and out["image"].dtype == torch.float32
    assert out["image"].min() >= -1.0 and out["image"].max() <= 1.0
    assert out["image"].std() > 0.2  # a picture, not a flat fill
    assert out["mask"].shape == (6, 64, 64) and out["mask"].dtype == torch.int64
    assert int(out["mask"].min()) >= 0 and int(out["mask"].max()) < NUM_PARTS
    assert out["landmarks"].shape == (6, 68, 2)
    assert torch.equal(out["identity"], ids) and torch.equal(out["aus"], aus)
    lm = out["landmarks"]
    assert lm.min() >= 0 and lm.max() <= 63


def test_same_inputs_give_bit_identical_outputs():
    ids = _ids(5, 123)
    aus = expression_aus(torch.arange(5), 4.0)
    a, b = render(ids, aus, 64), render(ids.clone(), aus.clone(), 64)
    for key in ("image", "mask", "landmarks"):
        assert torch.equal(a[key], b[key]), key


def test_a_face_does_not_depend_on_the_rest_of_its_batch():
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 2**31 - 1, (24,), generator=gen)
    aus = torch.rand(24, 17, generator=gen) * 5
    batch = render(ids, aus, 64)
    for j in range(0, 24, 3):
        alone = render(ids[j : j + 1], aus[j : j + 1], 64)
        assert torch.allclose(batch["image"][j], alone["image"][0], atol=1e-5)
        assert torch.equal(batch["mask"][j], alone["mask"][0])


def test_identity_splits_are_disjoint_and_large():
    ranges = sorted(SPLITS.values())
    for (_, stop), (start, _) in itertools.pairwise(ranges):
        assert stop <= start
    assert all(stop - start >= 1_000_000 for start, stop in SPLITS.values())
    with pytest.raises(ValueError, match="split"):
        identity_range("holdout")


def test_identities_are_distinct_people():
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(0, 2_000_000_000, (2000,), generator=gen).unique()
    p = sample_identity(ids)
    names = ["face_width", "eye_sep", "skin_tone", "nose_len", "mouth_w", "hair_color"]
    params = torch.stack([p.values[k] for k in names], 1)
    assert params.unique(dim=0).shape[0] == ids.shape[0]
    # Looks vary widely: skin tone spans the ramp, all hair styles and colours occur.
    assert p.skin_tone.min() < 0.05 and p.skin_tone.max() > 0.95
    assert p.hair_style.unique().numel() == 6 and p.hair_color.unique().numel() == 8
    for flag in ("glasses", "hat", "earrings", "necklace"):
        assert 0.05 < p.values[flag].mean() < 0.35, flag
    images = render(ids[:64], torch.zeros(64, 17), 32)["image"]
    flat = (images.flatten(1) * 127).round()
    assert flat.unique(dim=0).shape[0] == 64


@pytest.mark.parametrize("au", AU_IDS)
def test_each_au_changes_pixels_only_where_its_anatomy_is(au):
    n, res = 8, 64
    ids = _ids(n, TEST_START + 1000)
    src, tgt = torch.zeros(n, 17), _au(au, 5.0, n)
    changed = (render(ids, src, res)["image"] - render(ids, tgt, res)["image"]).abs().amax(1)
    changed = changed > 4 / 255
    region = au_region(ids, src, tgt, res, dilate_px=2)
    per_face = changed.flatten(1).sum(1)
    assert per_face.min() >= 15, f"AU{au} barely changes some faces: {per_face.tolist()}"
    inside = (changed & region).sum() / changed.sum()
    assert inside >= 0.9, f"AU{au}: only {inside:.2%} of changed pixels lie in {AU_ZONES[au]}"


def _landmarks(au: int, value: float, n: int = 6) -> torch.Tensor:
    return render(_ids(n, TEST_START + 77), _au(au, value, n), 128)["landmarks"]


def _moves(au: int) -> torch.Tensor:
    """Landmark displacement (N, 68, 2) caused by AU `au` at full intensity, in pixels."""
    return _landmarks(au, 5.0) - _landmarks(au, 0.0)


# (AU, landmark indices, axis 0=x 1=y, sign of the expected mean displacement)
_DIRECTIONS = [
    (1, [20, 21, 22, 23], 1, -1),  # inner brows up
    (2, [17, 18, 25, 26], 1, -1),  # outer brows up
    (4, [19, 20, 21, 22, 23, 24], 1, +1),  # brows down
    (5, [37, 38, 43, 44], 1, -1),  # upper lids up
    (6, [40, 41, 46, 47], 1, -1),  # lower lids pushed up by the cheeks
    (9, [31, 32, 33, 34, 35], 1, -1),  # nose wings and tip up
    (10, [50, 51, 52], 1, -1),  # upper lip up
    (12, [48, 54], 1, -1),  # lip corners up
    (15, [48, 54], 1, +1),  # lip corners down
    (17, [56, 57, 58], 1, -1),  # lower lip pushed up
    (26, [8], 1, +1),  # chin down
    (26, [66], 1, +1),  # lower inner lip down
    (45, [37, 38, 43, 44], 1, +1),  # lids close
]


@pytest.mark.parametrize(("au", "points", "axis", "sign"), _DIRECTIONS)
def test_aus_move_landmarks_the_way_facs_names_them(au, points, axis, sign):
    d = _moves(au)[:, points, axis].mean()
    assert sign * d > 0.5, f"AU{au}: mean move {d:.2f} px along axis {axis}"


def test_horizontal_au_semantics():
    width = lambda lm: lm[:, 54, 0] - lm[:, 48, 0]  # noqa: E731
    for au, sign in ((12, +1), (20, +1), (23, -1)):
        dw = (width(_landmarks(au, 5.0)) - width(_landmarks(au, 0.0))).mean()
        assert sign * dw > 1.0, f"AU{au} mouth width change {dw:.2f}"
    # AU4 pulls the inner brows together.
    gap = lambda lm: lm[:, 22, 0] - lm[:, 21, 0]  # noqa: E731
    assert (gap(_landmarks(4, 5.0)) - gap(_landmarks(4, 0.0))).mean() < -0.5
    # AU14 is one-sided: the subject's right corner (image left, point 48) rises, 54 stays.
    d = _moves(14)
    assert d[:, 48, 1].mean() < -0.8 and d[:, 54, 1].abs().mean() < 0.1
    # AU7 and AU45 narrow the eyes; AU25 and AU26 part the lips.
    aperture = lambda lm: lm[:, [40, 41], 1].mean(1) - lm[:, [37, 38], 1].mean(1)  # noqa: E731
    for au, ratio in ((7, 0.85), (45, 0.2)):
        assert (aperture(_landmarks(au, 5.0)) / aperture(_landmarks(au, 0.0))).max() < ratio
    gap_lips = lambda lm: lm[:, 66, 1] - lm[:, 62, 1]  # noqa: E731
    for au in (25, 26):
        assert (gap_lips(_landmarks(au, 5.0)) - gap_lips(_landmarks(au, 0.0))).min() > 1.0


def test_expression_prototypes_follow_emfacs():
    assert EXPRESSION_AUS.shape == (8, 17)
    active = {
        EXPRESSIONS[e]: {AU_IDS[k] for k in torch.nonzero(EXPRESSION_AUS[e])[:, 0].tolist()}
        for e in range(8)
    }
    assert active["neutral"] == set()
    assert active["happy"] == {6, 12}
    assert active["sad"] == {1, 4, 15}
    assert active["surprise"] == {1, 2, 5, 26}
    assert active["fear"] == {1, 2, 4, 5, 7, 20, 26}
    assert active["anger"] == {4, 5, 7, 23}
    assert {9, 15} <= active["disgust"] <= {9, 10, 15}
    assert active["contempt"] == {12, 14}
    c = EXPRESSION_AUS[EXPRESSIONS.index("contempt")]
    assert c[au_index(14)] > c[au_index(12)]  # the one-sided dimpler dominates
    assert torch.equal(expression_aus(1, 4.0), EXPRESSION_AUS[1] * 4.0)
    with pytest.raises(ValueError, match="expression"):
        expression_aus(8, 1.0)


def _expression_features(lm: torch.Tensor) -> torch.Tensor:
    """Pose- and size-normalised landmark coordinates."""
    centre = lm[:, 27:36].mean(1, keepdim=True)
    eyes = lm[:, 42:48].mean(1) - lm[:, 36:42].mean(1)
    scale = eyes.norm(dim=1)[:, None, None]
    ang = torch.atan2(eyes[:, 1], eyes[:, 0])
    c, s = torch.cos(-ang)[:, None], torch.sin(-ang)[:, None]
    x, y = (lm[..., 0] - centre[..., 0]), (lm[..., 1] - centre[..., 1])
    rot = torch.stack([c * x - s * y, s * x + c * y], -1) / scale
    return rot.flatten(1)


def test_expressions_are_recognisable_across_people():
    """A linear (ridge) classifier on normalised landmarks, fitted on some people, recognises
    the 8 expressions of other people at other intensities: the prototypes read as
    expressions."""

    def faces(start: int, people: int, seed: int):
        ids = _ids(people, start).repeat_interleave(8)
        expr = torch.arange(8).repeat(people)
        gen = torch.Generator().manual_seed(seed)
        intensity = 2.5 + 2.5 * torch.rand(ids.shape[0], generator=gen)
        lm = render(ids, expression_aus(expr, intensity), 64)["landmarks"]
        return _expression_features(lm), expr

    x_fit, y_fit = faces(TEST_START + 5000, 30, 0)
    x_new, y_new = faces(TEST_START + 9000, 12, 1)
    mu, sd = x_fit.mean(0), x_fit.std(0) + 1e-6

    def design(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([(x - mu) / sd, torch.ones(x.shape[0], 1)], 1)

    a = design(x_fit)
    w = torch.linalg.solve(a.T @ a + torch.eye(a.shape[1]), a.T @ F.one_hot(y_fit, 8).float())
    accuracy = ((design(x_new) @ w).argmax(1) == y_new).float().mean()
    assert accuracy >= 0.95, f"expression accuracy {accuracy:.2f}"


def test_every_class_occurs_and_masks_are_anatomical():
    ids = torch.arange(300) * 7_919 + 11
    expr = torch.arange(300) % 8
    out = render(ids, expression_aus(expr, 4.0), 64)
    mask = out["mask"]
    counts = torch.bincount(mask.flatten(), minlength=NUM_PARTS)
    assert (counts > 0).all(), f"missing classes: {torch.nonzero(counts == 0).flatten().tolist()}"
    per_face = F.one_hot(mask.flatten(1), NUM_PARTS).sum(1)  # (N, 19)
    for name in ("background", "skin", "nose", "u_lip", "l_lip", "neck", "cloth"):
        assert (per_face[:, PART_INDEX[name]] > 0).float().mean() > 0.95, name
    # Inner mouth shows when the lips part (surprise, fear), not for neutral lips.
    mouth = per_face[:, PART_INDEX["mouth"]]
    assert (mouth[expr == 3] > 0).all() and (mouth[expr == 0] == 0).all()
    # The subject's left eye is on the image's right.
    cols = torch.arange(64).float()
    for left, right in (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")):
        ml, mr = mask == PART_INDEX[left], mask == PART_INDEX[right]
        both = (ml.flatten(1).any(1)) & (mr.flatten(1).any(1))
        xl = (ml * cols).flatten(1).sum(1) / ml.flatten(1).sum(1).clamp(min=1)
        xr = (mr * cols).flatten(1).sum(1) / mr.flatten(1).sum(1).clamp(min=1)
        assert (xl[both] > xr[both]).all(), left


def test_landmarks_sit_on_their_parts():
    ids = _ids(40, TEST_START + 300)
    out = render(ids, expression_aus(torch.arange(40) % 8, 3.5), 128)
    mask, lm = out["mask"], out["landmarks"].round().long().clamp(0, 127)

    def hit(points: list[int], classes: list[str], dilate: int) -> float:
        allowed = torch.zeros_like(mask, dtype=torch.bool)
        for c in classes:
            allowed |= mask == PART_INDEX[c]
        k = 2 * dilate + 1
        allowed = F.max_pool2d(allowed[:, None].float(), k, 1, dilate)[:, 0] > 0
        n = torch.arange(mask.shape[0])[:, None]
        return allowed[n, lm[:, points, 1], lm[:, points, 0]].float().mean().item()

    occluders = ["hair", "hat", "eye_g"]
    assert hit([30], ["nose"], 1) > 0.95
    assert hit(list(range(48, 68)), ["u_lip", "l_lip", "mouth"], 1) > 0.95
    assert hit(list(range(36, 48)), ["l_eye", "r_eye", *occluders], 2) > 0.95
    assert hit(list(range(17, 27)), ["l_brow", "r_brow", *occluders], 1) > 0.9
    assert hit(list(range(0, 17)), ["skin", "background", "neck", "hair"], 1) > 0.95


@pytest.mark.parametrize(
    ("identity", "aus", "resolution", "message"),
    [
        (torch.arange(2)[:, None], torch.zeros(2, 17), 64, "shape"),
        (torch.arange(2), torch.zeros(2, 16), 64, r"\(N, 17\)"),
        (torch.arange(3), torch.zeros(2, 17), 64, "3 entries"),
        (torch.arange(2), torch.full((2, 17), -0.1), 64, r"\[0, 5\]"),
        (torch.arange(2), torch.full((2, 17), 5.5), 64, r"\[0, 5\]"),
        (torch.arange(2), torch.full((2, 17), float("nan")), 64, "NaN"),
        (torch.tensor([-1, 0]), torch.zeros(2, 17), 64, "identity"),
        (torch.tensor([0.0, 1.0]), torch.zeros(2, 17), 64, "integers"),
        ([0, 1], torch.zeros(2, 17), 64, "LongTensor"),
        (torch.arange(2), torch.zeros(2, 17), 60, "not supported"),
        (torch.arange(2), torch.zeros(2, 17), 16, "not supported"),
        (torch.arange(2), torch.zeros(2, 17), 2048, "not supported"),
        (torch.arange(2), torch.zeros(2, 17), 64.0, "int"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(identity, aus, resolution, message):
    with pytest.raises(ValueError, match=message):
        render(identity, aus, resolution)
