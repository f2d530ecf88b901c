"""Parser-training augmentations (mirror with left/right classes swapped, similarity jitter)
and the soft-Dice term."""

from __future__ import annotations

import torch

from segan.labels import FACE_PARTS, PART_INDEX
from segan.train.augment import augment_parts, mirror_classes
from segan.train.losses import UNKNOWN_CLASS, soft_dice


def _faces(n: int = 3, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    mask = torch.randint(0, len(FACE_PARTS), (n, size, size), generator=g)
    return image, mask


def test_mirror_swaps_each_left_class_with_its_right_and_keeps_the_rest():
    table = mirror_classes()
    pairs = [("l_brow", "r_brow"), ("l_eye", "r_eye"), ("l_ear", "r_ear")]
    for left, right in pairs:
        assert table[PART_INDEX[left]] == PART_INDEX[right]
        assert table[PART_INDEX[right]] == PART_INDEX[left]
    swapped = {PART_INDEX[n] for pair in pairs for n in pair}
    for i in set(range(len(FACE_PARTS))) - swapped:
        assert table[i] == i, FACE_PARTS[i]  # ear_r (earring), nose, ... stay
    assert table[UNKNOWN_CLASS] == UNKNOWN_CLASS


def test_every_face_mirrored_at_flip_one_and_none_at_zero():
    image, mask = _faces()
    same_image, same_mask = augment_parts(image, mask)
    assert torch.equal(same_image, image) and torch.equal(same_mask, mask)
    flipped, flipped_mask = augment_parts(image, mask, flip=1.0)
    assert torch.equal(flipped, image.flip(-1))
    eye = mask == PART_INDEX["l_eye"]
    assert bool((flipped_mask.flip(-1)[eye] == PART_INDEX["r_eye"]).all())


def test_about_half_the_faces_are_mirrored_at_flip_half():
    image, mask = _faces(400, 8)
    torch.manual_seed(1)
    out, _ = augment_parts(image, mask, flip=0.5)
    mirrored = (out == image.flip(-1)).flatten(1).all(1) & ~(out == image).flatten(1).all(1)
    assert 150 < int(mirrored.sum()) < 250


def test_jitter_moves_image_and_mask_together_and_marks_the_outside_unknown():
    size = 32
    image = torch.full((2, 3, size, size), -1.0)
    mask = torch.zeros(2, size, size, dtype=torch.long)
    image[:, :, 12:20, 12:20] = 1.0  # a bright square labelled nose
    mask[:, 12:20, 12:20] = PART_INDEX["nose"]
    torch.manual_seed(0)
    moved, moved_mask = augment_parts(image, mask, jitter=0.3)
    assert not torch.equal(moved_mask, mask)
    nose = moved_mask == PART_INDEX["nose"]
    bright = moved.mean(1) > 0.5
    agree = (nose & bright).sum() / (nose | bright).sum()
    assert agree > 0.8, float(agree)  # the labels follow the pixels they label
    assert bool((moved_mask == UNKNOWN_CLASS).any())  # shifted or shrunk: outside is unknown
    assert set(moved_mask.unique().tolist()) <= {0, PART_INDEX["nose"], UNKNOWN_CLASS}


def test_soft_dice_is_zero_for_a_certain_right_answer_and_ignores_unknown_pixels():
    _, mask = _faces(2, 16)
    perfect = torch.nn.functional.one_hot(mask, len(FACE_PARTS)).permute(0, 3, 1, 2) * 50.0
    assert float(soft_dice(perfect, mask)) < 1e-3
    wrong = perfect.roll(1, dims=1)  # every pixel predicted as another class
    assert float(soft_dice(wrong, mask)) > 0.9
    hidden = mask.clone()
    hidden[:, :8] = UNKNOWN_CLASS
    mixed = torch.cat([wrong[:, :, :8], perfect[:, :, 8:]], 2)  # wrong only where unknown
    assert float(soft_dice(mixed, hidden)) < 1e-3
    nothing = torch.full_like(mask, UNKNOWN_CLASS)
    logits = perfect.float().requires_grad_()
    loss = soft_dice(logits, nothing)
    loss.backward()
    assert float(loss.detach()) == 0 and float(logits.grad.abs().sum()) == 0
