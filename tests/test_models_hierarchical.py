"""Hierarchical editors: seghgan (parser soft masks, end to end) and boxhgan (landmark boxes)."""

from __future__ import annotations

import pytest
import torch

import segan
from segan.models.boxhgan import BoxHGAN
from segan.models.hierarchical import HierarchicalDiscriminator, blend, soft_dilate
from segan.models.seghgan import SegHGAN
from segan.synth.dataset import SPLITS, render
from segan.train.config import load_config

TINY = {"global_conv_dim": 8, "global_repeat": 1, "local_conv_dim": 4, "local_repeat": 1}
PARSERS = {
    "bisenet": {"architecture": "bisenet", "base_width": 8},
    "unet": {"architecture": "unet", "base_width": 4},
}


def _seghgan(parser: str = "bisenet", size: int = 64, **kw) -> SegHGAN:
    torch.manual_seed(0)
    return SegHGAN(image_size=size, parser=PARSERS[parser], **{**TINY, **kw})


def _inputs(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=gen) * 2 - 1, torch.eye(8)[:n]


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("size", [64, 128])
def test_seghgan_shapes_and_explanations(parser, size):
    model = _seghgan(parser, size)
    x, c = _inputs(2, size)
    out = model.explain(x, c)
    assert out.image.shape == (2, 3, size, size)
    assert out.image.abs().max() <= 1.0
    assert out.region_masks.shape == (2, 4, size, size) and out.region_names[0] == "eyes"
    assert float(out.region_masks.min()) >= 0.0 and float(out.region_masks.max()) <= 1.0
    assert out.parser_logits.shape == (2, 19, size, size)
    assert torch.equal(model(x, c), out.image)


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_generator_losses_reach_the_parser_unless_frozen(parser):
    x, c = _inputs(2, 64)
    model = _seghgan(parser)
    model(x, c).square().mean().backward()
    params = list(model.parser.parameters())
    first = params[0]  # the parser's first convolution
    assert first.grad is not None and float(first.grad.abs().sum()) > 0
    # All but the auxiliary training heads (unused by the main output) get gradients.
    assert sum(p.grad is not None for p in params) > 0.8 * len(params)
    frozen = _seghgan(parser, freeze_parser=True)
    frozen(x, c).square().mean().backward()
    assert all(p.grad is None for p in frozen.parser.parameters())
    assert any(p.grad is not None for p in frozen.global_g.parameters())


def test_masks_route_the_local_generators():
    """Where every region mask is 0 the output is the global generator's; with masks the
    local generators take over."""
    global_out = torch.rand(1, 3, 8, 8)
    local_outs = torch.rand(1, 2, 3, 8, 8)
    weights = torch.zeros(1, 2, 8, 8)
    assert torch.equal(blend(global_out, local_outs, weights), global_out)
    weights[:, 0] = 1.0
    assert torch.allclose(blend(global_out, local_outs, weights), local_outs[:, 0])
    weights[:, 1] = 1.0  # overlapping regions share the pixel
    assert torch.allclose(blend(global_out, local_outs, weights), local_outs.mean(1))
    m = torch.zeros(1, 1, 9, 9)
    m[0, 0, 4, 4] = 1.0
    grown = soft_dilate(m, 2)
    assert grown[0, 0, 4, 4] > 0.9 and grown[0, 0, 4, 1] > 0 and grown[0, 0, 4, 0] == 0


@pytest.mark.parametrize("size", [64, 128])
def test_dilation_is_in_pixels_at_128_px_and_grows_each_region_that_far(size):
    """The shipped seghgan configs' radii reach the model, scaled with the image, and each
    region's mask covers pixels that far from its part (and, feathered, one more) only."""
    dilation = load_config("seghgan_bisenet_synthfaces").model["dilation"]
    model = _seghgan(size=size, dilation=dilation)
    radii = tuple(round(dilation[r] * size / 128) for r in model.region_names)
    assert model.radii == radii and radii != _seghgan(size=size).radii
    centre = size // 2
    for r, part in enumerate(["l_eye", "l_brow", "nose", "mouth"]):  # one region at a time
        logits = torch.full((1, 19, size, size), -20.0)
        logits[:, 0] = 20.0  # background everywhere but one pixel of the part
        logits[0, model.parser.part_names.index(part), centre, centre] = 40.0
        row = model.masks_from_logits(logits)[0, r, centre]
        radius = radii[r]
        assert row[centre + radius] > 0.6 and row[centre + radius + 1] > 0.3
        assert float(row[centre + radius + 2 :].max()) < 1e-6


def test_regions_and_parser_choices_are_validated():
    with pytest.raises(ValueError, match="unknown part classes"):
        SegHGAN(regions={"eyes": ["l_eye", "third_eye"]}, **TINY)
    with pytest.raises(ValueError, match="face parser"):
        SegHGAN(parser={"architecture": "stargan"}, **TINY)
    model = _seghgan()
    with pytest.raises(ValueError, match=r"\(2, 8\)"):
        model(torch.zeros(2, 3, 64, 64), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="64x64"):
        model(torch.zeros(1, 3, 32, 32), torch.zeros(1, 8))


def _faces(n: int, size: int) -> dict:
    ids = torch.arange(SPLITS["test"][0], SPLITS["test"][0] + n)
    return render(ids, torch.zeros(n, 17), size)


@pytest.mark.parametrize("make", ["seghgan", "boxhgan"])
def test_attentive_global_branch_starts_near_its_input_and_keeps_it_where_attention_is_one(make):
    """The global branch is A * x + (1 - A) * C (GANimation's output on StarGAN's network),
    starting at A = sigmoid(3) everywhere; with A saturated to 1 the hierarchy returns the
    input outside its regions; with the option off the branch is a plain StarGAN."""
    torch.manual_seed(0)
    x, c = _inputs(2, 64)
    model = _seghgan() if make == "seghgan" else BoxHGAN(image_size=64, crop_size=16, **TINY)
    out = model.explain(x, c)
    g = model.global_g.explain(x, c)
    assert torch.allclose(g.image, g.attention * x + (1 - g.attention) * g.color)
    assert torch.equal(out.attention, g.attention) and torch.equal(out.extras["global"], g.image)
    assert torch.allclose(g.attention, torch.sigmoid(torch.tensor(3.0)))
    assert (g.color - x).abs().mean() > 0.1  # so the start is really near x, not near C
    with torch.no_grad():
        model.global_g.attention_head.bias.fill_(1e4)
    kept = model.explain(x, c)
    assert torch.allclose(kept.extras["global"], x, atol=1e-6)
    # the output moves from x only by the regions' share (boxes: exactly x outside them)
    share = kept.region_masks.sum(1, keepdim=True).clamp(max=1)
    assert ((kept.image - x).abs() <= 2 * share + 1e-5).all()
    assert (kept.image - x).abs().mean() < (out.image - x).abs().mean()
    plain = SegHGAN(image_size=64, parser=PARSERS["bisenet"], global_attention=False, **TINY)
    assert type(plain.global_g).__name__ == "StarGAN" and plain.explain(x, c).attention is None


@pytest.mark.parametrize("make", ["seghgan", "boxhgan"])
def test_attentive_local_branches_keep_the_input_where_their_attention_is_one(make):
    """With `local_attention` each local branch is A * x + (1 - A) * C (Cascade EF-GAN's
    branches): A saturated to 1 keeps the input pixels inside the regions, A at 0 gives the
    colour output; the maps come back in extras["local_attention"]. Off, there are none."""
    torch.manual_seed(0)
    x, c = _inputs(2, 64)
    kw = {**TINY, "local_attention": True}
    model = _seghgan(**kw) if make == "seghgan" else BoxHGAN(image_size=64, crop_size=16, **kw)
    out = model.explain(x, c)
    side = 64 if make == "seghgan" else 16
    assert out.extras["local_attention"].shape == (2, 4, side, side)
    a = out.extras["local_attention"]
    assert float(a.min()) > 0 and float(a.max()) < 1

    def recolour() -> None:  # new weights for every local branch's colour output
        with torch.no_grad():
            for branch in model.local_g.values():
                branch.main[-2].weight.normal_()

    recolour()
    assert not torch.allclose(model(x, c), out.image, atol=1e-3)  # the colour shows
    with torch.no_grad():
        for branch in model.local_g.values():
            branch.attention.bias.fill_(1e4)
    kept = model(x, c)
    recolour()
    assert torch.equal(model(x, c), kept)  # A = 1: the local outputs are the input's pixels
    if make == "seghgan":  # blended over the global output by the region masks
        o = model.explain(x, c)
        expected = blend(o.extras["global"], x[:, None].expand(-1, 4, -1, -1, -1), o.region_masks)
        assert torch.allclose(kept, expected, atol=1e-5)
    with torch.no_grad():
        for branch in model.local_g.values():
            branch.attention.bias.fill_(-1e4)
            branch_in = torch.rand(1, 3 + 1 + 8, 16, 16)
            color, attention = branch(branch_in)
            assert torch.allclose(color, branch.main(branch_in)) and float(attention.max()) < 1e-6
    plain = _seghgan() if make == "seghgan" else BoxHGAN(image_size=64, crop_size=16, **TINY)
    assert "local_attention" not in plain.explain(x, c).extras


def test_boxhgan_changes_nothing_outside_its_boxes():
    torch.manual_seed(0)
    model = BoxHGAN(image_size=64, crop_size=16, **TINY)
    faces = _faces(3, 64)
    c = torch.eye(8)[[1, 3, 6]]
    out = model.explain(faces["image"], c, faces["landmarks"])
    inside = out.region_masks.amax(1, keepdim=True) > 0
    # Outside the union of boxes: exactly the global generator's output.
    assert torch.equal(out.image * ~inside, out.extras["global"] * ~inside)
    # Inside: the local edits (they differ from the global output).
    assert (out.image - out.extras["global"]).abs()[inside.expand_as(out.image)].mean() > 1e-3
    # Boxes enclose their landmarks.
    lm = faces["landmarks"]
    eyes = out.boxes[:, out.region_names.index("eyes")]
    assert (eyes[:, 0] <= lm[:, 36:48, 0].amin(1)).all()
    assert (eyes[:, 2] >= lm[:, 36:48, 0].amax(1)).all()
    mouth = out.boxes[:, out.region_names.index("mouth")]
    assert (mouth[:, 1] <= lm[:, 48:68, 1].amin(1)).all()
    assert (mouth[:, 3] >= lm[:, 48:68, 1].amax(1)).all()
    # Without landmarks the mean aligned face places the boxes.
    default = model.explain(faces["image"], c)
    assert default.boxes.shape == (3, 4, 4)
    with pytest.raises(ValueError, match="landmarks"):
        model(faces["image"], c, torch.zeros(3, 5, 2))


def test_box_crops_and_pastes_are_pixel_exact_at_the_box_size():
    """Cropping a box at its own size takes its pixels; pasting puts them back in place."""
    from segan.models.boxhgan import _crop, _paste

    x = torch.rand(2, 3, 64, 64)
    box = torch.tensor([[10.0, 12.0, 41.0, 43.0], [0.0, 0.0, 31.0, 31.0]])  # 32 x 32 boxes
    crop = _crop(x, box, 32)
    assert torch.allclose(crop[0], x[0, :, 12:44, 10:42], atol=1e-5)
    assert torch.allclose(crop[1], x[1, :, 0:32, 0:32], atol=1e-5)
    back, inside = _paste(crop, box, 64)
    assert inside.shape == (2, 1, 64, 64) and int(inside[0].sum()) == 32 * 32
    assert inside[0, 0, 12, 10] and inside[0, 0, 43, 41] and not inside[0, 0, 44, 41]
    mask = inside.expand_as(back)
    assert torch.allclose(back[mask], x[mask], atol=1e-5)


@pytest.mark.parametrize("make", ["seghgan", "boxhgan", "discriminator"])
def test_save_and_load_round_trip(make, tmp_path):
    torch.manual_seed(0)
    x, c = _inputs(2, 64)
    if make == "seghgan":
        model = _seghgan("unet")
    elif make == "boxhgan":
        model = BoxHGAN(image_size=64, crop_size=16, **TINY)
    else:
        model = HierarchicalDiscriminator(
            64, 8, conv_dim=4, repeat_num=3, local_conv_dim=4, local_repeat_num=3
        )
    model.eval().save_pretrained(tmp_path)
    loaded = segan.load(tmp_path)
    assert type(loaded) is type(model)
    if make == "discriminator":
        masks = torch.rand(2, 4, 64, 64)
        a, b = model(x, masks), loaded(x, masks)
        assert set(a) == {"global", "eyes", "brows", "nose", "mouth"}
        assert all(torch.equal(a[k][0], b[k][0]) and torch.equal(a[k][1], b[k][1]) for k in a)
    else:
        assert torch.equal(model(x, c), loaded(x, c))
    if make == "seghgan":
        assert loaded.config["parser"]["architecture"] == "unet"


def test_mean_landmarks_are_the_mean_aligned_synthfaces_face():
    """segan.labels.MEAN_LANDMARKS (what boxhgan boxes a photo without landmarks by) is the
    mean of 256 rendered neutral faces at any crop size."""
    from segan.labels import MEAN_LANDMARKS

    ids = torch.arange(2_100_000_000 - 256, 2_100_000_000)
    for size in (32, 128):
        rendered = render(ids, torch.zeros(256, 17), size)["landmarks"].mean(0)
        table = torch.tensor(MEAN_LANDMARKS) * size - 0.5
        assert torch.allclose(rendered, table, atol=1e-3), float((rendered - table).abs().max())


def test_a_first_boxhgan_edit_without_landmarks_renders_no_faces():
    """The models never import the SynthFaces renderer: boxhgan's default boxes are a table."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from segan.models.boxhgan import BoxHGAN\n"
        "m = BoxHGAN(image_size=32, global_conv_dim=8, global_repeat=1, local_conv_dim=4,"
        " crop_size=8).eval()\n"
        "c = torch.zeros(1, len(m.labels)); c[0, 1] = 1\n"
        "m(torch.zeros(1, 3, 32, 32), c)\n"
        "print(sorted(k for k in sys.modules if k.startswith(('segan.data', 'segan.synth'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("kind", ["seghgan", "boxhgan"])
def test_hierarchies_take_resize_upsampling_in_every_generator(tmp_path, kind):
    torch.manual_seed(0)
    model = (
        _seghgan(upsample="resize")
        if kind == "seghgan"
        else BoxHGAN(image_size=64, upsample="resize", **TINY)
    ).eval()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    assert model.global_g.upsample == "resize"
    x, c = _inputs(2, 64)
    with torch.no_grad():
        out = model(x, c)
    assert out.shape == x.shape
    model.save_pretrained(tmp_path / kind)
    with torch.no_grad():
        torch.testing.assert_close(segan.load(tmp_path / kind)(x, c), out, rtol=0, atol=0)
