"""Partial labels outside a mesh mask's face: marking, their loss, the parser's loss with them,
and the scores that count what a parser reads against them."""

from __future__ import annotations

import pytest
import torch
from test_train import COMMON
from tiny import tiny_widths

from segan.evaluate import evaluate_parser
from segan.labels import NUM_PARTS, PART_INDEX, UNKNOWN_CLASS
from segan.partial_labels import (
    ABOVE_FACE,
    INNER_PARTS,
    OUTSIDE_FACE,
    allowed_classes,
    hard_labels,
    mark_outside,
)
from segan.train.augment import augment_parts
from segan.train.config import ConfigError, load_config
from segan.train.losses import partial_nll
from segan.train.methods import make_task
from segan.train.methods.supervised import parser_loss
from segan.train.methods.task import Step
from segan.train.trainer import Trainer

SKIN, EYE, HAIR = PART_INDEX["skin"], PART_INDEX["l_eye"], PART_INDEX["hair"]


def _mesh_mask(n: int = 2, size: int = 64) -> torch.Tensor:
    """Faces whose labelled pixels are a skin square with an eye in it, unknown elsewhere."""
    mask = torch.full((n, size, size), UNKNOWN_CLASS, dtype=torch.long)
    mask[:, 16:48, 16:48] = SKIN
    mask[:, 24:28, 20:28] = EYE
    return mask


def test_unknown_pixels_far_from_the_face_are_marked_and_the_forehead_band_apart():
    mask = _mesh_mask(size=64)  # margin 1/32 -> 2 px, forehead band 1/8 -> 8 px
    marked = mark_outside(mask)
    assert torch.equal(marked[:, 16:48, 16:48], mask[:, 16:48, 16:48])  # labels kept
    assert (marked[:, 14:16, 16:48] == UNKNOWN_CLASS).all()  # within the margin: unknown
    assert (marked[:, 8:14, 16:48] == ABOVE_FACE).all()  # the band above the face's columns
    assert (marked[:, :8, 16:48] == OUTSIDE_FACE).all()  # above the band
    assert (marked[:, :, :14] == OUTSIDE_FACE).all() and (marked[:, 50:] == OUTSIDE_FACE).all()
    assert (marked[:, 8:14, 12:16] == OUTSIDE_FACE).all()  # no band beside the face's columns
    assert torch.equal(hard_labels(marked), mask)
    # the band follows each column's own top
    lower = mask.clone()
    lower[:, 16:30, 40:48] = UNKNOWN_CLASS  # the face's right part starts lower
    marked = mark_outside(lower)
    assert (marked[:, 22:28, 42:48] == ABOVE_FACE).all() and (marked[:, 8:13, 42:48] == 254).all()


def test_full_masks_and_faces_with_no_labels_are_left_as_they_are():
    full = torch.randint(0, NUM_PARTS, (2, 32, 32))
    assert torch.equal(mark_outside(full), full)
    blank = torch.full((1, 32, 32), UNKNOWN_CLASS)
    assert torch.equal(mark_outside(blank), blank)
    with pytest.raises(ValueError, match=r"\(N, H, W\) class maps"):
        mark_outside(full[0])


def test_partial_nll_is_minus_log_of_the_allowed_probability():
    torch.manual_seed(0)
    logits = torch.randn(2, NUM_PARTS, 8, 8, requires_grad=True)
    target = torch.full((2, 8, 8), UNKNOWN_CLASS)
    target[0, :4] = OUTSIDE_FACE
    target[1, :2] = ABOVE_FACE
    allowed = allowed_classes()
    loss = partial_nll(logits, target, allowed)
    p = logits.detach().softmax(1)
    expected = torch.cat(
        [
            -torch.log((p[0, allowed[OUTSIDE_FACE]][:, :4]).sum(0)).flatten(),
            -torch.log((p[1, allowed[ABOVE_FACE]][:, :2]).sum(0)).flatten(),
        ]
    ).mean()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    loss.backward()
    inner = [PART_INDEX[name] for name in INNER_PARTS]
    # raising an inner part's logit outside the face raises the loss; raising hair's lowers it
    assert (logits.grad[0, inner, :4] > 0).all() and (logits.grad[0, HAIR, :4] < 0).all()
    assert (logits.grad[0, SKIN, :4] > 0).all()  # skin is ruled out beside the face
    assert (logits.grad[1, SKIN, :2] < 0).all()  # and allowed above it
    assert float(logits.grad[:, :, 6:].abs().sum()) == 0  # unknown pixels: no gradient
    none = partial_nll(logits, torch.full((2, 8, 8), UNKNOWN_CLASS), allowed)
    assert float(none.detach()) == 0 and none.requires_grad


def test_parser_loss_counts_partial_labels_only_when_given_their_sets():
    mask = mark_outside(_mesh_mask(1, 64))
    logits = torch.zeros(1, NUM_PARTS, 64, 64)
    logits[:, EYE] = 5.0  # an eye everywhere: wrong on the skin and outside the face
    w = {"dice": 0.0, "outside": 1.0}
    plain, main = parser_loss("cross_entropy", [logits], mask, w)
    with_sets, main_too = parser_loss("cross_entropy", [logits], mask, w, allowed_classes())
    assert float(main) == float(main_too) == float(plain)
    assert float(with_sets) > float(plain) + 2.5  # -log p(no inner part) = -log(11 / 166) here
    off, _ = parser_loss("cross_entropy", [logits], mask, {**w, "outside": 0.0}, allowed_classes())
    assert float(off) == float(plain)


def test_mirror_and_jitter_keep_partial_labels():
    torch.manual_seed(0)
    mask = mark_outside(_mesh_mask(2, 64))
    image = torch.rand(2, 3, 64, 64)
    _, mirrored = augment_parts(image, mask, flip=1.0)
    assert torch.equal(mirrored == OUTSIDE_FACE, (mask == OUTSIDE_FACE).flip(-1))
    _, moved = augment_parts(image, mask, jitter=0.1)
    values = set(moved.unique().tolist())
    assert {OUTSIDE_FACE, ABOVE_FACE, SKIN} <= values
    assert values <= set(range(NUM_PARTS)) | {OUTSIDE_FACE, ABOVE_FACE, UNKNOWN_CLASS}


class _Constant:
    """A 'parser' reading every pixel as one class."""

    def __init__(self, cls: int):
        self.cls = cls

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(image.shape[0], NUM_PARTS, *image.shape[2:])
        out[:, self.cls] = 1.0
        return out


class _MeshFaces:
    dataset = "mesh"

    def batches(self):
        yield {"image": torch.zeros(2, 3, 64, 64), "mask": _mesh_mask(2, 64)}


@pytest.mark.parametrize(("cls", "part_outside", "skin_outside"), [(EYE, 100, 0), (SKIN, 0, 100)])
def test_parser_scores_count_parts_outside_the_face_and_skin_beside_it(
    cls, part_outside, skin_outside
):
    metrics = evaluate_parser(_Constant(cls), _MeshFaces())["metrics"]
    assert metrics["part_outside"] == part_outside
    assert metrics["skin_outside"] == skin_outside


def test_partial_labels_are_only_for_a_parser_trained_alone(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(
        ConfigError, match=r"data\.partial_labels: only for a task that trains a parser"
    ):
        Trainer(
            load_config("stargan_synthfaces", [f"run.output_dir={out}", "data.partial_labels=true"])
        )
    assert not out.exists()


def test_seghgan_adds_the_partial_labels_loss_to_its_parsers_objective(tmp_path):
    base = [*COMMON, *tiny_widths("seghgan_unet_synthfaces"), f"run.output_dir={tmp_path}"]
    mask = _mesh_mask(2, 64)[:, ::2, ::2]  # a 32 px face with unknown pixels around it
    batch = {"image": torch.rand(2, 3, 32, 32) * 2 - 1, "mask": mask}
    losses = []
    for partial in ("false", "true"):
        torch.manual_seed(0)
        task = make_task(
            load_config("seghgan_unet_synthfaces", [*base, f"data.partial_labels={partial}"])
        )
        nets = task.build()
        loss, _ = task.parser_stream_loss(Step(nets, batch, task.weights, 0))
        losses.append(float(loss.detach()))
    assert losses[1] > losses[0] + 0.1  # the untrained parser is wrong outside the face too
