"""The trainer: configs, every method in fp32 and bf16, exact resume, two-process DDP, NaN stops,
Ctrl-C, model folders, publishing (offline)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from tiny import TINY, tiny_widths

import segan
from segan.cli import main as cli
from segan.synth.dataset import SynthFaces
from segan.train import losses as L
from segan.train.config import ConfigError, builtin_configs, load_config, read_yaml
from segan.train.data import check_data
from segan.train.methods import make_task
from segan.train.publish import hardware_record
from segan.train.trainer import EMA, Trainer, checkpoints, lr_factor, train

ROOT = Path(__file__).resolve().parents[1]
COMMON = [
    "data.resolution=32",
    "optim.batch_size=2",
    "optim.n_critic=2",
    "run.log_every=1",
    "run.progress=false",
]


def tiny(name: str, out: Path, *extra: str, steps: int = 3):
    """A shipped config at 32 px and tiny widths, writing to `out`."""
    return load_config(
        name,
        [
            *COMMON,
            *tiny_widths(name),
            f"optim.steps={steps}",
            "run.sample_every=0",
            "run.checkpoint_every=0",
            f"run.output_dir={out}",
            *extra,
        ],
    )


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


# --- configs -------------------------------------------------------------------------------


def test_every_shipped_config_validates_and_names_its_data():
    names = builtin_configs()
    assert len(names) >= 27
    for name in names:
        config = load_config(name)
        make_task(config)  # model kwargs and loss terms are checked against the method
        if config.data.dataset == "synthfaces":
            check_data(config.data)
        else:  # paper datasets are read from a folder `segan prepare` writes
            with pytest.raises(ConfigError, match=r"data\.path: .*segan prepare|parser_dataset"):
                check_data(config.data, make_task(config))


def test_paper_configs_extend_the_synthfaces_recipes():
    rafd = load_config("stargan_rafd")
    synth = load_config("stargan_synthfaces")
    assert rafd.data.dataset == "rafd" and rafd.run.output_dir == "runs/stargan-rafd"
    assert rafd.loss == synth.loss == {"gp": 10, "cls": 1, "rec": 10}
    assert (rafd.optim.lr_g, rafd.optim.n_critic, rafd.optim.betas) == (1e-4, 5, [0.5, 0.999])
    seg = load_config("seghgan_unet_affectnet")
    assert seg.data.parser_dataset == "celebamaskhq" and seg.model["parser"] == {
        "architecture": "unet"
    }


def test_yaml_values_read_as_users_write_them():
    assert read_yaml("[1e-4, 2e5, 1.0e-3, 12, 1e]") == [1e-4, 2e5, 1e-3, 12, "1e"]
    c = load_config("stargan_synthfaces", ["optim.lr_g=2e-4", "run.mixed_precision=no"])
    assert c.optim.lr_g == 2e-4 and c.run.mixed_precision == "no"
    c = load_config("stargan_synthfaces", ["optim.steps=7", "loss.rec=5", "model.conv_dim=16"])
    assert (c.optim.steps, c.loss["rec"], c.model["conv_dim"]) == (7, 5, 16)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=1", r"unknown key optim\.lr "),
        ("optim.steps=abc", r"optim\.steps: expected int"),
        ("optim.steps=0", r"optim\.steps: must be positive"),
        ("optim.betas=[0.5]", r"optim\.betas"),
        ("optim.lr_g=.inf", r"optim\.lr_g: must be positive and finite"),
        ("run.mixed_precision=fp8", r"run\.mixed_precision"),
        ("loss.bogus=1", r"loss\.bogus: not a loss term of stargan"),
        ("loss.rec=-1", r"loss\.rec: a finite non-negative number"),
        ("model.bogus=1", r"model\.bogus: not an argument of StarGAN "),
        ("discriminator.depth=3", r"discriminator\.depth: not an argument"),
        ("data.dataset=imagenet", r"data\.dataset: unknown dataset 'imagenet'"),
        ("data.dataset=affectnet", r"data\.path: affectnet is read from a prepared folder"),
        ("optim", r"must look like key\.sub=value"),
        ("colour=red", r"unknown key colour"),
        ("data.flip=0.5", r"data\.flip / data\.jitter: only for a parser trained alone"),
        ("data.jitter=0.7", r"data\.jitter: in \[0, 0\.5\], got 0\.7"),
    ],
)
def test_bad_configs_stop_before_any_work(tmp_path, override, message):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=message):
        Trainer(load_config("stargan_synthfaces", [f"run.output_dir={out}", override]))
    assert not out.exists()


def test_config_files_report_their_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: stargan\noptim: {steps: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        load_config("stargan_mars")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("extends: b.yaml\nmethod: stargan\n")
    b.write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_config(a)
    b.write_text("extends: stargan_synthfaces\noptim: {steps: 9}\n")
    c = load_config(a)
    assert c.optim.steps == 9 and c.loss["rec"] == 10  # local keys over the shipped recipe


def test_train_cli_reports_config_errors_with_exit_code_2(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(["train", "stargan_synthfaces", f"run.output_dir={out}", "optim.n_critic=x"]) == 2
    assert "optim.n_critic: expected int" in capsys.readouterr().err
    assert not out.exists()


def test_schedules():
    c = load_config("stargan_synthfaces", ["optim.steps=100", "optim.decay_start=50"])
    assert [lr_factor(s, c) for s in (0, 49, 50, 75)] == [1.0, 1.0, 1.0, 0.5]
    assert lr_factor(99, c) == pytest.approx(0.02)
    c = load_config("bisenet_synthfaces", ["optim.steps=100", "optim.warmup=10"])
    assert lr_factor(0, c) == pytest.approx(0.1 * 1.0)
    assert lr_factor(50, c) == pytest.approx(0.5**0.9)
    c = load_config("sargan_synthfaces", ["optim.steps=100"])
    assert {lr_factor(s, c) for s in range(100)} == {1.0}
    # a run continued past its first schedule: decay 40..60, restart at 60, decay 80..100
    args = ["optim.steps=100", "optim.decay_start=80", "optim.restarts=[[40, 60]]"]
    c = load_config("stargan_synthfaces", args)
    got = [lr_factor(s, c) for s in (0, 39, 40, 50, 59, 60, 79, 80, 90, 99)]
    assert got == pytest.approx([1, 1, 1, 0.5, 0.05, 1, 1, 1, 0.5, 0.05])
    for bad in ("[[60, 40]]", "[[40, 60], [50, 70]]", "[[40, 90]]", "[[40]]"):
        with pytest.raises(ConfigError, match=r"optim\.restarts"):
            load_config("stargan_synthfaces", [*args[:2], f"optim.restarts={bad}"])


def test_gradient_penalty_is_unchanged_by_fp16_loss_scaling():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten())
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    torch.manual_seed(1)
    plain = L.gradient_penalty(lambda x: critic(x).sum(1), real, fake)
    torch.manual_seed(1)
    scaled = L.gradient_penalty(
        lambda x: critic(x).sum(1), real, fake, lambda t: t * 65536.0, 1 / 65536.0
    )
    assert plain > 0 and torch.allclose(plain, scaled, rtol=1e-5)
    plain.backward()  # the penalty trains the critic (create_graph)
    assert critic[0].weight.grad.abs().sum() > 0


# --- every method trains --------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["no", "bf16"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_every_method_trains_a_few_steps(tmp_path, name, precision):
    out = tmp_path / "run"
    config = tiny(name, out, f"run.mixed_precision={precision}", "run.sample_every=3")
    trainer = Trainer(config)
    role = trainer.published_role
    before = {
        k: v.clone()
        for k, v in trainer.accelerator.unwrap_model(trainer.nets[role]).state_dict().items()
    }
    model_dir = trainer.fit()
    records = metrics(out)
    assert [r["step"] for r in records] == [1, 2, 3]
    meta = ("step", "time", "images_per_s", "lr")
    terms = [(k, v) for r in records for k, v in r.items() if k not in meta]
    assert terms, "no loss terms logged"
    assert all(math.isfinite(v) for _, v in terms), terms
    after = trainer.accelerator.unwrap_model(trainer.nets[role]).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "no parameter moved"
    model = segan.load(model_dir)
    assert model.config["architecture"] == make_task(config).architecture
    card = (model_dir / "README.md").read_text()
    assert make_task(config).paper.split(",")[0] in card and f"method: {config.method}" in card
    assert (out / "config.yaml").is_file() and (model_dir / "training_config.yaml").is_file()
    assert load_config(out / "config.yaml").to_dict() == config.to_dict()
    samples = sorted((out / "samples").glob("*.png")) if (out / "samples").exists() else []
    if trainer.task.samples(model, trainer.source.fixed(1)) is not None:
        assert [p.name for p in samples] == ["step_0000003.png"]
        assert min(Image.open(samples[0]).size) >= 32


def test_published_model_edits_like_the_trained_ema(tmp_path):
    model_dir = train(tiny("stargan_synthfaces", tmp_path / "run", "optim.ema=0.5"))
    model = segan.load(model_dir)
    x = SynthFaces("test", 8, 32).batch(range(2))["image"]
    c = torch.eye(8)[[3, 5]]
    edit = model(x, c)
    assert edit.shape == x.shape and edit.abs().max() <= 1
    card = (model_dir / "README.md").read_text()
    assert "stargan" in card.lower() and "3 steps" in card and "synthfaces" in card


def test_hierarchies_start_from_trained_stargan_and_parser_folders(tmp_path):
    """model.global_weights / model.parser_weights / discriminator.global_weights load trained
    folders into the global branch, the parser and the global critic; a folder of another
    width stops with the key."""
    star = make_task(tiny("stargan_synthfaces", tmp_path / "s", "model.conv_dim=8")).build()
    star["generator"].save_pretrained(tmp_path / "star")
    star["discriminator"].save_pretrained(tmp_path / "critic")
    parser = make_task(tiny("bisenet_synthfaces", tmp_path / "p")).build()["model"]
    parser.save_pretrained(tmp_path / "parser")
    starts = [
        f"model.global_weights={tmp_path / 'star'}",
        f"model.parser_weights={tmp_path}/parser",
        f"discriminator.global_weights={tmp_path / 'critic'}",
        "discriminator.conv_dim=8",  # the tiny StarGAN critic's width
    ]
    g = make_task(tiny("seghgan_bisenet_synthfaces", tmp_path / "h", *starts)).build()
    for part, trained in (
        (g["generator"].global_g, star["generator"]),
        (g["generator"].parser, parser),
        (g["discriminator"].global_d, star["discriminator"]),
    ):
        got, want = part.state_dict(), trained.state_dict()
        # the attentive global branch has one head a StarGAN lacks; it keeps its init
        assert set(got) - set(want) == (
            {"attention_head.weight", "attention_head.bias"}
            if part is g["generator"].global_g
            else set()
        )
        assert all(torch.equal(got[k], want[k]) for k in want)
    box = make_task(tiny("boxhgan_synthfaces", tmp_path / "b", starts[0])).build()["generator"]
    assert torch.equal(
        box.global_g.state_dict()["main.0.weight"], star["generator"].state_dict()["main.0.weight"]
    )
    wide = tiny("boxhgan_synthfaces", tmp_path / "w", starts[0], "model.global_conv_dim=16")
    with pytest.raises(ConfigError, match=r"model.global_weights=.*star: its StarGAN does not fit"):
        make_task(wide).build()
    narrow = tiny("boxhgan_synthfaces", tmp_path / "n", starts[2])  # critic width 4, not 8
    with pytest.raises(ConfigError, match=r"discriminator.global_weights=.*critic: its Patch"):
        make_task(narrow).build()


def test_init_weights_fine_tune_a_trained_generator_critic_or_model(tmp_path):
    """model.init_weights / discriminator.init_weights start whole networks from trained
    folders (a GAN's generator and critic, an evaluator's model); a misfit names the key."""
    star = make_task(tiny("stargan_synthfaces", tmp_path / "s", "model.conv_dim=8")).build()
    star["generator"].save_pretrained(tmp_path / "g")
    star["discriminator"].save_pretrained(tmp_path / "d")
    starts = [f"model.init_weights={tmp_path / 'g'}", f"discriminator.init_weights={tmp_path}/d"]
    again = make_task(tiny("stargan_synthfaces", tmp_path / "a", "model.conv_dim=8", *starts))
    nets = again.build()
    for role in ("generator", "discriminator"):
        got, want = nets[role].state_dict(), star[role].state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
    fresh = make_task(tiny("stargan_synthfaces", tmp_path / "f", "model.conv_dim=8")).build()
    assert not torch.equal(
        fresh["generator"].state_dict()["main.0.weight"],
        star["generator"].state_dict()["main.0.weight"],
    )
    clf = make_task(tiny("classifier_synthfaces", tmp_path / "c")).build()["model"]
    clf.save_pretrained(tmp_path / "clf")
    tuned = make_task(
        tiny("classifier_synthfaces", tmp_path / "t", f"model.init_weights={tmp_path}/clf")
    ).build()["model"]
    assert all(torch.equal(v, clf.state_dict()[k]) for k, v in tuned.state_dict().items())
    wide = tiny("stargan_synthfaces", tmp_path / "w", starts[0], "model.conv_dim=16")
    with pytest.raises(ConfigError, match=r"model.init_weights=.*g: its StarGAN does not fit"):
        make_task(wide).build()


def test_gradient_accumulation_runs_and_counts_images(tmp_path):
    out = tmp_path / "run"
    train(tiny("sargan_synthfaces", out, "optim.grad_accum=2"))
    records = metrics(out)
    assert len(records) == 3 and all(math.isfinite(r["g_cls"]) for r in records if "g_cls" in r)


# --- checkpoints, resume, failures ------------------------------------------------------------


def _resume_matches(tmp_path: Path, name: str, *extra: str) -> None:
    args = [*extra, "optim.decay_start=2", "run.checkpoint_every=2"]
    full = tiny(name, tmp_path / "full", *args, steps=5)
    train(full)
    part = tiny(name, tmp_path / "part", *args, "run.stop_after=3", steps=5)
    train(part)
    assert [p.name for p in checkpoints(tmp_path / "part")] == ["step_0000002", "step_0000003"]
    # a new process would rebuild everything from the config; so does a new Trainer
    resumed = tiny(name, tmp_path / "part", *args, "run.resume=latest", steps=5)
    train(resumed)
    a, b = tmp_path / "full", tmp_path / "part"
    wa, wb = weights(a / "model"), weights(b / "model")
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "resumed weights differ"
    # every network of the last state (critic and optimiser moments included)
    last = a / "checkpoints" / "step_0000005"
    saved = sorted(last.rglob("*.safetensors"))
    assert any(f.parent.name == "optimizers" for f in saved) and any(
        "rng" in f.parts for f in saved
    )
    for f in saved:
        sa, sb = load_file(f), load_file(b / f.relative_to(a))
        assert all(torch.equal(sa[k], sb[k]) for k in sa), f.name
    la = [r for r in metrics(a) if r["step"] > 3]
    lb = [r for r in metrics(b) if r["step"] > 3]
    drop = {"time", "images_per_s"}
    strip = [{k: v for k, v in r.items() if k not in drop} for r in la]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in lb]
    # resumed on the same hardware: one line, as if it had never stopped
    assert (b / "hardware.txt").read_text() == (a / "hardware.txt").read_text()
    assert len((b / "hardware.txt").read_text().splitlines()) == 1


def test_hardware_record_keeps_what_a_run_started_on_and_each_change():
    one, two = "1 process(es), CPU (x86_64, 1 threads)", "1 process(es), CPU (x86_64, 2 threads)"
    assert hardware_record("", one, 0) == one + "\n"
    assert hardware_record(one + "\n", two, 0) == two + "\n"  # a fresh start forgets
    started = hardware_record(one + "\n", one, 7000)
    assert started == one + "\n"
    changed = hardware_record(started, two, 7000)
    assert changed == f"{one}\nfrom step 7000: {two}\n"
    assert hardware_record(changed, two, 9000) == changed  # still on the same
    assert hardware_record(changed, one, 9000).splitlines()[-1] == f"from step 9000: {one}"


@pytest.mark.parametrize("name", ["stargan_synthfaces", "seghgan_bisenet_synthfaces"])
def test_stopped_and_resumed_run_is_bit_identical(tmp_path, name):
    _resume_matches(tmp_path, name)


def test_parser_with_mirrors_jitter_and_dice_resumes_bit_identical(tmp_path):
    """The augmentations draw from the generator the trainer restores: a resumed parser run
    sees the same mirrored and moved faces as an unbroken one."""
    _resume_matches(tmp_path, "unet_synthfaces", "data.flip=0.5", "data.jitter=0.1", "loss.dice=1")


def test_critic_augmentation_trains_and_resumes_bit_identical(tmp_path):
    """discriminator.augment: the critic's transforms draw from the generator the trainer
    restores, so a resumed run sees the same augmented pictures as an unbroken one."""
    _resume_matches(tmp_path, "ganimation_synthfaces", "discriminator.augment=color,translation")


def test_seghgan_parser_with_its_own_sgd_trains_with_the_generator_and_resumes(tmp_path):
    """optim.parser_optimizer=sgd: a third optimiser (SGD) holds the parser and steps with the
    generator; the parser changes, the critic's steps leave it alone, and resume is exact."""
    config = tiny("seghgan_bisenet_synthfaces", tmp_path / "r", "optim.parser_optimizer=sgd")
    trainer = Trainer(config)
    assert isinstance(trainer.optimizers["parser"].optimizer, torch.optim.SGD)
    assert isinstance(trainer.optimizers["g"].optimizer, torch.optim.Adam)
    parser = trainer.accelerator.unwrap_model(trainer.nets["generator"]).parser
    before = {k: v.clone() for k, v in parser.state_dict().items()}
    trainer.train_step(1)  # the critic only (n_critic=2)
    assert all(torch.equal(before[k], v) for k, v in parser.state_dict().items())
    trainer.train_step(2)  # critic and generator: the parser moves too
    assert not all(torch.equal(before[k], v) for k, v in parser.state_dict().items())
    _resume_matches(tmp_path / "resume", "seghgan_bisenet_synthfaces", "optim.parser_optimizer=sgd")
    with pytest.raises(ConfigError, match=r"optim.parser_optimizer: 'adam' or 'sgd', got 'lion'"):
        tiny("seghgan_bisenet_synthfaces", tmp_path / "x", "optim.parser_optimizer=lion")


def test_critic_warmup_holds_the_generator_still_while_the_critic_learns(tmp_path):
    """optim.critic_warmup=N: steps 0..N-1 update the critic only (generator and its EMA
    unchanged); from step N the generator trains on its n_critic turns as usual."""
    config = tiny("ganimation_synthfaces", tmp_path / "r", "optim.critic_warmup=2")
    trainer = Trainer(config)
    unwrap = trainer.accelerator.unwrap_model

    def snapshot(role: str) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in unwrap(trainer.nets[role]).state_dict().items()}

    g, d, ema = snapshot("generator"), snapshot("discriminator"), trainer.ema.model.state_dict()
    ema = {k: v.clone() for k, v in ema.items()}
    step = 0
    for step in range(2):  # step 0 is also a generator turn (0 % n_critic == 0)
        trainer.train_step(step)
    assert all(
        torch.equal(g[k], v) for k, v in unwrap(trainer.nets["generator"]).state_dict().items()
    )
    assert all(torch.equal(ema[k], v) for k, v in trainer.ema.model.state_dict().items())
    assert not all(
        torch.equal(d[k], v) for k, v in unwrap(trainer.nets["discriminator"]).state_dict().items()
    )
    turn = step + 1
    while turn % config.optim.n_critic:  # the generator's next turn
        turn += 1
    trainer.train_step(turn)
    assert not all(
        torch.equal(g[k], v) for k, v in unwrap(trainer.nets["generator"]).state_dict().items()
    )
    with pytest.raises(ConfigError, match=r"optim.critic_warmup: steps in \[0, optim.steps=3\)"):
        Trainer(tiny("ganimation_synthfaces", tmp_path / "x", "optim.critic_warmup=3"))


@pytest.mark.parametrize("arch", ["bisenet", "unet"])
def test_parser_alone_with_frozen_batch_norm_keeps_its_statistics(tmp_path, arch):
    """optim.freeze_bn (the joint parser's control): the weights train, the batch-norm
    running statistics stay; without it they move. A GAN method refuses the key."""

    def stats_after_a_step(*extra):
        trainer = Trainer(tiny(f"{arch}_synthfaces", tmp_path / "-".join(extra or "x"), *extra))
        model = trainer.accelerator.unwrap_model(trainer.nets["model"])
        before = {k: v.clone() for k, v in model.state_dict().items()}
        trainer.train_step(1)
        after = model.state_dict()
        moved = {k for k in before if not torch.equal(before[k], after[k])}
        return {k for k in moved if "running_" in k}, moved

    frozen_stats, frozen_moved = stats_after_a_step("optim.freeze_bn=true")
    assert not frozen_stats and any(k.endswith("weight") for k in frozen_moved)
    free_stats, _ = stats_after_a_step()
    assert free_stats
    with pytest.raises(ConfigError, match=r"optim.freeze_bn: only for a parser trained alone"):
        make_task(tiny("stargan_synthfaces", tmp_path / "s", "optim.freeze_bn=true"))


@pytest.mark.parametrize("scale", [0.0, 1.0])
def test_parser_gan_scales_every_generator_term_reaching_the_parser(tmp_path, scale):
    """loss.parser_gan scales the GAN gradient into the parser on the edit and on the cycle
    pass alike: at 0 (and no segmentation loss) the parser gets nothing from g_loss."""
    from segan.train.methods import Step, make_task

    config = tiny("seghgan_bisenet_synthfaces", tmp_path, f"loss.parser_gan={scale}", "loss.seg=0")
    task = make_task(config)
    nets = task.build()
    batch = task.prepare(SynthFaces("train", 2, 32)[[0, 1]], torch.Generator().manual_seed(0))
    total, _ = task.g_loss(Step(nets, batch, task.weights, 1))
    total.backward()
    grads = [p.grad for p in nets["generator"].parser.parameters() if p.grad is not None]
    reached = sum(float(g.abs().sum()) for g in grads)
    assert (reached == 0.0) if scale == 0.0 else (reached > 0.0)


@pytest.mark.parametrize("name", ["seghgan_bisenet_synthfaces", "boxhgan_synthfaces"])
def test_attentive_local_branches_train_under_the_attention_smoothness(tmp_path, name):
    """The shipped hierarchies have attentive local branches (model.local_attention): the
    generator loss adds the total variation of their attention maps (loss.mask_smooth), and
    its gradient reaches their attention heads; with the option off there is no such term."""
    from segan.train.methods import Step, make_task

    batch_data = SynthFaces("train", 2, 32)[[0, 1]]
    found = {}
    for on in (True, False):
        config = tiny(name, tmp_path / str(on), f"model.local_attention={str(on).lower()}")
        task = make_task(config)
        nets = task.build()
        batch = task.prepare(batch_data, torch.Generator().manual_seed(0))
        total, terms = task.g_loss(Step(nets, batch, task.weights, 1))
        found[on] = terms
        if on:
            assert float(terms["local_mask_tv"]) > 0 and 0 < float(terms["local_mask"]) < 1
            total.backward()
            heads = [b.attention for b in nets["generator"].local_g.values()]
            assert all(float(h.weight.grad.abs().sum()) > 0 for h in heads)
    assert "local_mask_tv" not in found[False]


def test_ganimation_null_edit_term_pulls_an_edit_to_its_own_aus_towards_the_input(tmp_path):
    """loss.rec (off in the paper's recipe) adds L1 between the input and its edit towards
    its own AUs: the term appears only when weighted, and its gradient, alone, lowers it."""
    from segan.train import losses as L
    from segan.train.methods import Step, make_task

    batch_data = SynthFaces("train", 2, 32)[[0, 1]]
    config = tiny("ganimation_synthfaces", tmp_path / "off")
    task = make_task(config)
    nets = task.build()
    batch = task.prepare(batch_data, torch.Generator().manual_seed(0))
    assert "rec" not in task.g_loss(Step(nets, batch, task.weights, 1))[1]

    task = make_task(tiny("ganimation_synthfaces", tmp_path / "on", "loss.rec=10"))
    nets = task.build()
    batch = task.prepare(batch_data, torch.Generator().manual_seed(0))
    g = nets["generator"]
    _, terms = task.g_loss(Step(nets, batch, task.weights, 1))
    before = float(terms["rec"])
    assert before > 0

    def null_edit():
        return L.l1(g(batch["image"], batch["aus_org"]), batch["image"])

    assert float(null_edit()) == pytest.approx(before, rel=1e-5)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    for _ in range(5):
        opt.zero_grad()
        null_edit().backward()
        opt.step()
    assert float(null_edit()) < before


def test_checkpoints_rotate_and_resume_auto_without_any_starts_fresh(tmp_path, capsys):
    out = tmp_path / "run"
    train(
        tiny(
            "unet_synthfaces",
            out,
            "run.checkpoint_every=1",
            "run.keep_checkpoints=2",
            "run.resume=auto",
            steps=4,
        )
    )
    assert "no checkpoint in" in capsys.readouterr().out
    assert [p.name for p in checkpoints(out)] == ["step_0000003", "step_0000004"]
    with pytest.raises(ConfigError, match="does not exist"):
        train(tiny("unet_synthfaces", out, f"run.resume={out / 'checkpoints' / 'step_9'}"))


def test_resume_latest_of_a_folder_without_checkpoints_is_refused(tmp_path):
    """A mistyped run folder must not start the whole recipe over."""
    out = tmp_path / "typo"
    with pytest.raises(ConfigError, match=r"run.resume=latest: no checkpoint in .*typo"):
        Trainer(tiny("stargan_synthfaces", out, "run.resume=latest"))
    assert not out.exists()


def test_a_time_limited_session_checkpoints_and_its_resume_matches_one_run(tmp_path, capsys):
    """run.time_limit ends a session at the first logged step past the limit with a
    checkpoint there; resuming the run folder (which drops the limit) ends where one
    uninterrupted run does, weight for weight."""
    args = ["run.checkpoint_every=3", "run.log_every=2", "optim.decay_start=2"]
    whole, out = tmp_path / "whole", tmp_path / "timed"
    train(tiny("stargan_synthfaces", whole, *args, steps=4))
    train(tiny("stargan_synthfaces", out, *args, "run.time_limit=0", steps=4))
    assert "run.time_limit=0.0 min reached at step 2" in capsys.readouterr().out
    assert [p.name for p in checkpoints(out)] == ["step_0000002"]
    assert cli(["train", "--resume", str(out)]) == 0
    assert checkpoints(out)[-1].name == "step_0000004"
    wa, wb = weights(whole / "model"), weights(out / "model")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with pytest.raises(ConfigError, match=r"run\.time_limit: minutes >= 0, got -1"):
        tiny("stargan_synthfaces", out, "run.time_limit=-1")


def test_resume_by_run_folder_needs_nothing_else_and_refuses_network_changes(tmp_path, capsys):
    """`segan train --resume RUN` continues with the run's own config.yaml (overrides of the
    schedule allowed); an override, or a config, that changes the networks is refused by name."""
    out = tmp_path / "sg"
    args = ["run.checkpoint_every=1", "optim.decay_start=2"]
    whole = tmp_path / "whole"
    train(tiny("stargan_synthfaces", whole, *args, steps=4))
    train(tiny("stargan_synthfaces", out, *args, "run.stop_after=2", steps=4))
    assert cli(["train", "--resume", str(out)]) == 0
    wa, wb = weights(whole / "model"), weights(out / "model")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert cli(["train", "--resume", str(out), "optim.steps=6"]) == 0  # a longer schedule
    assert checkpoints(out)[-1].name == "step_0000006"
    capsys.readouterr()
    assert cli(["train", "--resume", str(out), "model.conv_dim=16", "optim.steps=8"]) == 2
    err = capsys.readouterr().err
    assert "model.conv_dim: 16 here, 8 in" in err and "size mismatch" not in err
    # the README's older form: the full config without the run's overrides
    plain = load_config(
        "stargan_synthfaces", [*COMMON, f"run.output_dir={out}", "run.resume=latest"]
    )
    with pytest.raises(ConfigError, match=r"discriminator.conv_dim: 64 here, 8 in .*config.yaml"):
        Trainer(plain)
    assert cli(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "no config.yaml there" in capsys.readouterr().err


def test_nan_loss_stops_with_step_and_term_and_saves_nothing_after(tmp_path, capsys):
    out = tmp_path / "run"
    blowup = [
        "optim.lr_g=1e4",
        "optim.lr_d=1e4",
        "run.checkpoint_every=1",
        "run.keep_checkpoints=50",
    ]
    with pytest.raises(FloatingPointError) as err:
        train(tiny("stargan_synthfaces", out, *blowup, steps=30))
    message = str(err.value)
    step = int(message.rsplit("at step ", 1)[1])
    assert "loss term '" in message and ("nan" in message or "inf" in message)
    saved = [int(p.name.split("_")[1]) for p in checkpoints(out)]
    assert saved == list(range(1, step + 1))  # the states before the bad step, none after
    assert not (out / "model").exists()
    assert "No checkpoint was written after it" in capsys.readouterr().err


def test_ctrl_c_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    args = [*COMMON, *TINY["stargan_synthfaces"], "optim.steps=100000", "run.checkpoint_every=2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "segan.train", "stargan_synthfaces", *args, f"run.output_dir={out}"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not checkpoints(out) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted at step" in stderr and f"segan train --resume {out}" in stderr
    assert "Traceback" not in stderr and checkpoints(out)


# --- distributed ---------------------------------------------------------------------------


def test_accelerate_asked_for_two_processes_that_starts_one_is_refused(tmp_path):
    """On a machine without a GPU, `accelerate launch --num_processes 2` (no --multi_gpu)
    starts one process: the run refuses and names the commands that start two."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2"]
    cmd += ["-m", "segan.train", "stargan_synthfaces", f"run.output_dir={out}", "optim.steps=1"]
    cmd += [*COMMON, *TINY["stargan_synthfaces"]]  # quick, should the check ever miss
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode != 0 and not out.exists()
    assert "--num_processes 2 started 1 process" in done.stderr
    assert "--multi_gpu" in done.stderr and "torchrun --nproc_per_node 2" in done.stderr


def _torchrun(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def ddp_reports(tmp_path: Path, name: str, *extra: str) -> tuple[dict, dict]:
    """Train a tiny config 3 steps (2 accumulated micro-batches) in two torchrun processes
    (tests/_ddp_worker.py); what each rank reports."""
    overrides = [*COMMON, *tiny_widths(name), *extra, "optim.steps=3", "optim.grad_accum=2"]
    overrides += [
        "run.checkpoint_every=0",
        "run.sample_every=0",
        f"run.output_dir={tmp_path / 'run'}",
    ]
    done = _torchrun([str(ROOT / "tests" / "_ddp_worker.py"), str(tmp_path), name, *overrides])
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    return r0, r1


@pytest.mark.parametrize("name", ["stargan_synthfaces", "seghgan_bisenet_synthfaces"])
def test_two_process_ddp_ranks_end_identical(tmp_path, name):
    r0, r1 = ddp_reports(tmp_path, name)
    assert r0["num_processes"] == r1["num_processes"] == 2
    assert r0["distributed_type"].endswith("MULTI_CPU") and r0["backend"] == "gloo"
    assert r0["first_batch"] != r1["first_batch"], "both ranks trained on the same faces"
    assert r0["initial"] == r1["initial"]
    assert r0["final"] == r1["final"] and r0["ema"] == r1["ema"]
    assert r0["final"] != r0["initial"]


def test_train_module_under_torchrun_publishes_one_model(tmp_path):
    out = tmp_path / "run"
    name = "unet_synthfaces"
    args = [
        *COMMON,
        *TINY[name],
        "optim.steps=2",
        "run.checkpoint_every=1",
        f"run.output_dir={out}",
    ]
    done = _torchrun(["-m", "segan.train", name, *args])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("model written to") == 1  # the main process reports
    assert len(metrics(out)) == 2
    card = (out / "model" / "README.md").read_text()
    assert "2 process(es)" in card and "MULTI_CPU" in card
    assert [p.name for p in checkpoints(out)] == ["step_0000001", "step_0000002"]


# --- publishing ----------------------------------------------------------------------------


def test_push_to_a_local_folder_at_the_end_of_a_run(tmp_path):
    dest = tmp_path / "published"
    model_dir = train(tiny("sargan_synthfaces", tmp_path / "run", f"run.push_to_hub={dest}/"))
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in model_dir.iterdir())
    a, b = weights(model_dir), weights(dest)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert type(segan.load(dest)).__name__ == type(segan.load(model_dir)).__name__


def test_segan_push_into_a_hub_cache_loads_by_repo_id_offline(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny("stargan_synthfaces", run))
    cache = tmp_path / "hub"
    assert cli(["push", str(run), "acme/stargan-tiny", "--cache", str(cache)]) == 0
    assert "pushed" in capsys.readouterr().out
    code = (
        "import segan, torch\n"
        "from safetensors.torch import load_file\n"
        "m = segan.load('acme/stargan-tiny')\n"
        f"ref = load_file({str(run / 'model' / 'model.safetensors')!r})\n"
        "print(type(m).__name__, all(torch.equal(v, ref[k]) for k, v in m.state_dict().items()))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "StarGAN True"
    assert cli(["push", str(run), "not a repo", "--cache", str(cache)]) == 2


def test_push_to_a_repo_id_honours_hf_hub_offline(tmp_path):
    run = tmp_path / "run"
    train(tiny("unet_synthfaces", run, steps=1))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "segan", "push", str(run), "acme/unet-tiny"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "HF_HUB_OFFLINE" in done.stderr and "acme/unet-tiny" in done.stderr
    assert "Traceback" not in done.stderr
    missing = subprocess.run(
        [*cmd[:4], str(tmp_path / "nothing"), "x/y"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "not a segan model folder" in missing.stderr
    # no network (a closed port as the Hub): one line, no client traceback
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "127.0.0.1:9 cannot be reached" in done.stderr and "segan push" in done.stderr


def test_push_to_a_repo_id_uploads_the_model_folder(tmp_path, monkeypatch):
    """The online path, with the Hub client replaced by a recorder (no network in tests)."""
    import huggingface_hub

    from segan.train import publish

    run = tmp_path / "run"
    model_dir = train(tiny("unet_synthfaces", run, steps=1))
    calls = []

    class Recorder:
        def create_repo(self, repo_id, exist_ok=False):
            calls.append(("create_repo", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message):
            files = sorted(p.name for p in Path(folder_path).iterdir())
            calls.append(("upload_folder", repo_id, files))
            return "https://huggingface.co/acme/unet-tiny/commit/0"

    monkeypatch.setattr(huggingface_hub, "HfApi", Recorder)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    import socket

    with socket.create_server(("127.0.0.1", 0)) as hub:  # a reachable endpoint
        port = hub.getsockname()[1]
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", f"http://127.0.0.1:{port}")
        where = publish.push(model_dir, "acme/unet-tiny")
    assert where.endswith("/commit/0")
    assert calls == [
        ("create_repo", "acme/unet-tiny", True),
        ("upload_folder", "acme/unet-tiny", sorted(p.name for p in model_dir.iterdir())),
    ]


def test_ema_warms_up_then_follows_slowly():
    net = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema = EMA(net, decay=0.999)
    torch.nn.init.ones_(net.weight)
    ema.update(net)  # first update: decay (1 + 0) / 10 = 0.1
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 0.9))
    for _ in range(10_000):  # (1 + n) / (10 + n) passes 0.999 at n = 8991
        ema.update(net)
    assert int(ema.updates) == 10_001 and torch.allclose(ema.model.weight, torch.ones(1, 2))
    state = ema.state_dict()
    assert "updates" in state  # checkpointed with the run, so resumed runs average alike
    with torch.no_grad():
        net.weight.fill_(2.0)
    ema.update(net)  # late updates move by 1 - 0.999
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 1.001))


def test_bf16_on_a_cpu_without_native_kernels_is_called_out(monkeypatch):
    """Emulated bf16 autocast is far slower than fp32: the trainer says so at the start."""
    from segan.train.trainer import emulated_precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert "run.mixed_precision=no" in emulated_precision("bf16", cpu)
    assert emulated_precision("no", cpu) is None
    assert emulated_precision("bf16", torch.device("cuda")) is None
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert emulated_precision("bf16", cpu) is None
