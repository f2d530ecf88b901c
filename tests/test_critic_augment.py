"""DiffAugment for critics: the transforms, the policy, and a critic that applies them."""

from __future__ import annotations

import pytest
import torch

from segan.models.critic_augment import augment, color, cutout, parse_policy, shift
from segan.models.discriminators import PatchDiscriminator
from segan.train.losses import gradient_penalty


def test_policy_names_transforms_and_refuses_unknown_or_repeated_ones():
    assert parse_policy("") == ()
    assert parse_policy(" color, translation ,cutout") == ("color", "translation", "cutout")
    with pytest.raises(ValueError, match=r"'colour'.*color, translation, cutout"):
        parse_policy("colour,translation")
    with pytest.raises(ValueError, match="twice"):
        parse_policy("color,color")
    with pytest.raises(ValueError, match="'flip'"):
        PatchDiscriminator(image_size=32, conv_dim=8, repeat_num=3, augment="flip")


def test_shift_moves_each_picture_by_its_own_offset_and_fills_with_grey():
    x = torch.full((2, 3, 8, 8), -1.0)
    x[:, :, 3, 4] = 1.0
    out = shift(x, torch.tensor([2, -1]), torch.tensor([-3, 0]))
    assert out[0, :, 5, 1].eq(1).all() and out[1, :, 2, 4].eq(1).all()
    assert (out == 1).sum() == 6  # the bright pixel moved, nothing else became bright
    assert out[0, :, :2].eq(0).all() and out[0, :, :, -3:].eq(0).all()  # uncovered: grey
    assert out[1, :, -1:].eq(0).all() and out[1, :, :-1].ne(0).all()


def test_cutout_blanks_one_half_side_square_per_picture():
    torch.manual_seed(0)
    out = cutout(torch.ones(4, 3, 16, 16))
    zeros = (out == 0).all(dim=1)
    assert zeros.flatten(1).sum(1).tolist() == [64] * 4
    for hole in zeros:  # one 8x8 square
        ys, xs = hole.nonzero(as_tuple=True)
        assert ys.max() - ys.min() == 7 and xs.max() - xs.min() == 7


def test_color_changes_each_picture_as_a_whole():
    """Brightness, saturation and contrast act on the whole picture: a flat picture stays
    flat, and two pictures of a batch draw different changes."""
    torch.manual_seed(0)
    flat = torch.zeros(2, 3, 8, 8)
    flat[:, 0] = 0.4
    out = color(flat)
    assert torch.allclose(out, out[:, :, :1, :1].expand_as(out), atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_a_training_critic_augments_and_an_evaluating_one_does_not():
    torch.manual_seed(0)
    plain = PatchDiscriminator(image_size=32, conv_dim=8, repeat_num=3, num_outputs=4)
    augmented = PatchDiscriminator(
        image_size=32, conv_dim=8, repeat_num=3, num_outputs=4, augment="color,translation"
    )
    augmented.load_state_dict(plain.state_dict())
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    plain.eval(), augmented.eval()
    assert all(torch.equal(a, b) for a, b in zip(plain(x), augmented(x), strict=True))
    augmented.train()
    assert not torch.allclose(plain(x)[0], augmented(x)[0])
    # the transforms are differentiable: the gradient penalty reaches the input through them
    fake = torch.rand(3, 3, 32, 32) * 2 - 1
    gp = gradient_penalty(lambda v: augmented(v)[0], x, fake)
    gp.backward()
    assert torch.isfinite(gp) and gp > 0
    assert augmented.main[0].weight.grad.abs().sum() > 0


def test_augment_draws_from_the_global_generator():
    """A run that restores torch's generator draws the same transforms again."""
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    ops = parse_policy("color,translation,cutout")
    torch.manual_seed(3)
    first = augment(x, ops)
    torch.manual_seed(3)
    assert torch.equal(first, augment(x, ops))
