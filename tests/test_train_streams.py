"""A second data stream in the trainer: seghgan on a mask-less expression set (AffectNet, RaFD
in their publishers' layouts) while its parser learns from CelebAMask-HQ's masks, each prepared
with `segan prepare`; exact resume, a two-process run, and the parser moved by the stream."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train import _resume_matches, ddp_reports, metrics, tiny

from segan.cli import main as cli
from segan.data.cache import PreparedFaces
from segan.metrics.segmentation import confusion, scores
from segan.synth.writers import write_affectnet, write_celebamask_hq, write_rafd
from segan.train.config import ConfigError, load_config
from segan.train.trainer import Trainer, train

RES = 32


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, Path]:
    """AffectNet, RaFD and CelebAMask-HQ trees as their publishers ship them, each prepared at
    32 px by the CLI."""
    root = tmp_path_factory.mktemp("streams")
    write_affectnet(root / "affectnet", 24, resolution=64, seed=3)
    write_rafd(root / "rafd", 3, resolution=64, gazes=("frontal",))
    write_celebamask_hq(root / "celebamaskhq", 16, 64, 64, seed=1)
    out = {}
    for name, split in (("affectnet", "train"), ("rafd", "train"), ("celebamaskhq", "all")):
        out[name] = root / f"{name}-{RES}"
        args = ["prepare", name, str(root / name), str(out[name]), "--resolution", str(RES)]
        assert cli([*args, "--split", split]) == 0
    return out


def stream_args(prepared: dict[str, Path], main: str = "affectnet") -> list[str]:
    return [f"data.path={prepared[main]}", f"data.parser_path={prepared['celebamaskhq']}"]


def test_paper_configs_train_with_the_parser_on_its_own_mask_stream(prepared, tmp_path):
    for name, main in (("seghgan_bisenet_affectnet", "affectnet"), ("seghgan_unet_rafd", "rafd")):
        out = tmp_path / name
        config = tiny(name, out, *stream_args(prepared, main), steps=3)
        trainer = Trainer(config)
        assert set(trainer.optimizers) == {"d", "g", "parser"}
        assert len(PreparedFaces(prepared[main]).keys) and "mask" not in trainer.source.dataset.keys
        stream = trainer.sources["parser"]
        assert stream.batch(0)["mask"].shape == (2, RES, RES)  # its own batches, with masks
        trainer.fit()
        records = metrics(out)
        assert [r["step"] for r in records] == [1, 2, 3]
        assert all(r["seg_stream"] > 0 for r in records)  # every step (data.parser_every=1)
        assert sum("g_cls_global" in r for r in records) == 2  # the generator every n_critic


def test_parser_stream_has_its_own_batch_size_and_schedule(prepared, tmp_path):
    out = tmp_path / "run"
    extra = ["data.parser_batch_size=3", "data.parser_every=2"]
    config = tiny("seghgan_bisenet_affectnet", out, *stream_args(prepared), *extra, steps=4)
    trainer = Trainer(config)
    assert trainer.sources["parser"].batch(1)["image"].shape[0] == 3
    trainer.fit()
    assert ["seg_stream" in r for r in metrics(out)] == [True, False, True, False]


def _parser_miou(parser: torch.nn.Module, folder: Path) -> float:
    data = PreparedFaces(folder)
    batch = data.batch(range(len(data)))
    with torch.no_grad():
        pred = parser.eval()(batch["image"]).argmax(1)
    return scores(confusion(pred, batch["mask"]))["miou"]


@pytest.mark.parametrize("seg", [0.0, 1.0])
def test_with_gan_gradients_off_only_the_stream_moves_the_parser(prepared, tmp_path, seg):
    """loss.parser_gan=0: the parser learns from its stream alone; with the stream's weight at
    0 too it keeps its weights, with weight 1 its mIoU on the mask set rises."""
    out = tmp_path / "run"
    extra = ["loss.parser_gan=0", f"loss.seg={seg}", "optim.lr_parser=5e-3", "optim.ema=0"]
    config = tiny("seghgan_bisenet_affectnet", out, *stream_args(prepared), *extra, steps=12)
    trainer = Trainer(config)
    parser = trainer.accelerator.unwrap_model(trainer.nets["generator"]).parser
    before = {k: v.clone() for k, v in parser.state_dict().items() if v.is_floating_point()}
    miou_before = _parser_miou(parser, prepared["celebamaskhq"])
    parser.train()
    trainer.fit()
    after = {k: v for k, v in parser.state_dict().items() if k in before}
    weights_moved = any(not torch.equal(before[k], after[k]) for k in before if "running" not in k)
    miou_after = _parser_miou(parser, prepared["celebamaskhq"])
    if seg == 0:
        assert not weights_moved
    else:
        assert weights_moved and miou_after > miou_before + 1.0, (miou_before, miou_after)


@pytest.mark.parametrize(
    ("name", "main"), [("seghgan_bisenet_affectnet", "affectnet"), ("seghgan_unet_rafd", "rafd")]
)
def test_parser_stream_resumes_bit_identical(prepared, tmp_path, name, main):
    _resume_matches(tmp_path, name, *stream_args(prepared, main))


def test_parser_stream_under_two_processes(prepared, tmp_path):
    r0, r1 = ddp_reports(tmp_path, "seghgan_unet_rafd", *stream_args(prepared, "rafd"))
    assert r0["num_processes"] == 2
    assert r0["streams"]["parser"] != r1["streams"]["parser"], "both ranks read the same masks"
    assert r0["final"] == r1["final"] and r0["final"] != r0["initial"]


def test_parser_stream_settings_are_checked_before_any_work(prepared, tmp_path):
    name = "seghgan_bisenet_affectnet"
    with pytest.raises(ConfigError, match=r"data\.parser_path: celebamaskhq .*segan prepare"):
        Trainer(tiny(name, tmp_path / "a", f"data.path={prepared['affectnet']}"))
    mask_less = [f"data.path={prepared['affectnet']}", f"data.parser_path={prepared['rafd']}"]
    with pytest.raises(ConfigError, match=r"data\.parser_dataset: needs each item's 'mask'"):
        Trainer(tiny(name, tmp_path / "b", *mask_less, "data.parser_dataset=rafd"))
    with pytest.raises(ConfigError, match=r"data\.parser_every: must be positive"):
        load_config(name, ["data.parser_every=0"])
    other = ["data.parser_dataset=synthfaces"]
    with pytest.raises(ConfigError, match=r"data\.parser_dataset: only .*seghgan.*stargan"):
        train(tiny("stargan_synthfaces", tmp_path / "c", *other))
