"""SynthFaces dataset: deterministic items, balanced labels, batching, true edits."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from segan.labels import EXPRESSION_AUS, PART_INDEX, au_index
from segan.synth.dataset import SPLITS, SynthFaces, render, render_pair

KEYS = {"image", "mask", "expression", "aus", "identity", "landmarks", "intensity"}


def test_items_are_deterministic_and_carry_every_key():
    a, b = SynthFaces("train", 50, 32, seed=3), SynthFaces("train", 50, 32, seed=3)
    item = a[17]
    assert set(item) == KEYS
    assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (32, 32)
    assert item["landmarks"].shape == (68, 2) and item["aus"].shape == (17,)
    for key, value in b[17].items():
        assert torch.equal(value, item[key]), key
    other = SynthFaces("train", 50, 32, seed=4)[17]
    assert other["identity"] != item["identity"]


def test_splits_hold_disjoint_identities():
    seen = {}
    for split, (start, stop) in SPLITS.items():
        ids = SynthFaces(split, 4000, 32).labels(range(4000))["identity"]
        assert ids.min() >= start and ids.max() < stop, split
        seen[split] = set(ids.tolist())
        assert len(seen[split]) > 3990  # practically every item is a new person
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]


def test_expressions_are_balanced_with_random_intensity_and_small_noise():
    ds = SynthFaces("val", 800, 32, intensity=(2.0, 4.5), au_noise=0.3)
    lab = ds.labels(range(800))
    assert torch.bincount(lab["expression"], minlength=8).tolist() == [100] * 8
    assert lab["intensity"].min() >= 2.0 and lab["intensity"].max() <= 4.5
    assert lab["intensity"].std() > 0.5
    prototype = EXPRESSION_AUS[lab["expression"]] * lab["intensity"][:, None]
    noise = lab["aus"] - prototype
    assert noise.min() >= 0 and noise.max() <= 0.3 + 1e-6 and noise.mean() > 0.02
    neutral = lab["aus"][lab["expression"] == 0]
    assert neutral.max() <= 0.3 + 1e-6


def test_batched_fetch_matches_single_items_and_dataloader_collates():
    ds = SynthFaces("test", 40, 32)
    batch = ds.__getitems__([5, 6, 7])
    for j, i in enumerate([5, 6, 7]):
        single = ds[i]
        assert torch.allclose(batch[j]["image"], single["image"], atol=1e-5)
        assert torch.equal(batch[j]["mask"], single["mask"])
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    got = next(iter(loader))
    assert set(got) == KEYS and got["image"].shape == (8, 3, 32, 32)
    assert got["expression"].dtype == torch.int64 and got["expression"].shape == (8,)


def test_batch_loader_yields_whole_rendered_batches_in_a_fixed_order():
    ds = SynthFaces("test", 20, 32)
    batches = list(ds.loader(8, shuffle=True, seed=5))
    assert [b["image"].shape[0] for b in batches] == [8, 8, 4]
    again = list(ds.loader(8, shuffle=True, seed=5))
    assert torch.equal(batches[1]["identity"], again[1]["identity"])
    seen = torch.cat([b["identity"] for b in batches])
    assert torch.equal(seen.sort().values, ds.labels(range(20))["identity"].sort().values)
    direct = ds[[3, 4]]
    assert direct["image"].shape == (2, 3, 32, 32)
    assert torch.allclose(direct["image"][1], ds[4]["image"], atol=1e-5)


def test_pair_gives_the_true_edit_of_the_same_person():
    ds = SynthFaces("test", 64, 32)
    idx = [0, 1, 2, 3]
    pair = ds.pair(idx, 1)  # to happy
    lab = ds.labels(idx)
    assert torch.equal(pair["target_expression"], torch.ones(4, dtype=torch.int64))
    # Only the expression changes: the intensity and the AU noise are kept.
    expected = (EXPRESSION_AUS[1] * lab["intensity"][:, None] + lab["au_noise"]).clamp(0, 5)
    assert torch.allclose(pair["target_aus"], expected)
    truth = render(lab["identity"], pair["target_aus"], 32)["image"]
    assert torch.allclose(pair["edited"], truth, atol=1e-5)
    source = ds.batch(idx)
    assert torch.allclose(pair["image"], source["image"], atol=1e-5)
    # Editing to its own expression reproduces the source exactly.
    same = ds.pair(idx, lab["expression"])
    assert torch.allclose(same["edited"], same["image"], atol=1e-5)
    # The edit changes the face, never the background (beyond the one-pixel rim where the
    # shading normals of the face edge are estimated).
    changed = (pair["edited"] - pair["image"]).abs().amax(1) > 0.02
    person = (pair["mask"] != 0).float()[:, None]
    background = torch.nn.functional.max_pool2d(person, 3, 1, 1)[:, 0] == 0
    assert changed.any() and not (changed & background).any()


def test_pair_with_an_au_target_and_a_single_index():
    ds = SynthFaces("test", 16, 32)
    target = torch.zeros(17)
    target[au_index(26)] = 5.0
    pair = ds.pair(3, target)
    assert pair["target_expression"].item() == -1
    assert torch.equal(pair["target_aus"], target)
    assert pair["edited"].shape == (3, 32, 32)
    src, edit = render_pair(pair["identity"][None], pair["aus"][None], target[None], 32)
    assert torch.allclose(edit["image"][0], pair["edited"], atol=1e-5)
    assert torch.allclose(src["image"][0], pair["image"], atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "holdout"}, "split"),
        ({"size": 0}, "size"),
        ({"resolution": 50}, "resolution"),
        ({"intensity": (4.0, 2.0)}, "intensity"),
        ({"au_noise": 2.0}, "au_noise"),
    ],
)
def test_bad_dataset_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthFaces(**kwargs)


def test_bad_pair_targets_and_indices():
    ds = SynthFaces("test", 8, 32)
    with pytest.raises(ValueError, match="expression"):
        ds.pair([0, 1], 9)
    with pytest.raises(ValueError, match="AU target"):
        ds.pair([0, 1], torch.zeros(3, 17))
    with pytest.raises(IndexError):
        ds[8]


def test_skin_tone_styles_keep_only_people_of_those_tones():
    from segan.synth.identity import sample_identity

    dark = SynthFaces("test", 64, 32, skin_tones=(0.0, 0.3))
    light = SynthFaces("test", 64, 32, skin_tones=(0.7, 1.0))
    tones_dark = sample_identity(dark.labels(range(64))["identity"]).skin_tone
    tones_light = sample_identity(light.labels(range(64))["identity"]).skin_tone
    assert float(tones_dark.max()) < 0.3 and float(tones_light.min()) >= 0.7
    everyone = sample_identity(SynthFaces("test", 64, 32).labels(range(64))["identity"])
    assert float(everyone.skin_tone.min()) < 0.3 < 0.7 < float(everyone.skin_tone.max())
    again = SynthFaces("test", 64, 32, skin_tones=(0.0, 0.3)).labels(range(64))["identity"]
    assert torch.equal(again, dark.labels(range(64))["identity"])  # deterministic
    # rendered pictures follow: dark-skinned faces are darker on their skin pixels
    a, b = dark.batch(range(16)), light.batch(range(16))
    skin = PART_INDEX["skin"]
    assert float(a["image"].mean(1)[a["mask"] == skin].mean()) < float(
        b["image"].mean(1)[b["mask"] == skin].mean()
    )
    with pytest.raises(ValueError, match="skin_tones"):
        SynthFaces("test", 8, 32, skin_tones=(0.5, 0.52))
