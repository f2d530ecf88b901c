"""The bundled-model recipes and publishing (segan.train.bundle): every recipe is a valid config,
the command is an `accelerate launch -m segan.train` line, a run's latest checkpoint gives the
network the run would publish, and `publish` writes a loadable Hub-layout folder."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bundled_models
import pytest
import quality
import torch
from bundled_models import CONTROL_TEXT
from PIL import Image
from safetensors import safe_open
from tiny import TINY, tiny_model

import segan
from segan import bundled
from segan.cli import main as main_cli
from segan.data import PreparedFaces
from segan.labels import EXPRESSIONS
from segan.pipeline import EditPipeline
from segan.synth.dataset import SynthFaces
from segan.train.bundle import (
    CARD_START,
    critic_wanted,
    export,
    export_critic,
    main,
    publish,
    restore,
    snapshot,
    stash,
)
from segan.train.config import load_config
from segan.train.publish import push
from segan.train.quick import bundled_or_trained
from segan.train.recipes import (
    RECIPES,
    RealData,
    Recipe,
    bundled_starts,
    command,
    earlier_stages,
)
from segan.train.trainer import checkpoints, latest_checkpoint, lr_factor, train
from segan.visualize import to_uint8


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_is_a_valid_config_at_its_resolution(name):
    recipe = RECIPES[name]
    config = load_config(recipe.config, recipe.all_overrides())
    assert config.data.resolution == recipe.resolution
    # SynthFaces recipes at 64 px; real-data recipes read the folder their data prepares
    if recipe.data is None:
        assert (config.data.dataset, config.data.resolution) == ("synthfaces", 64)
    else:
        assert config.data.dataset == recipe.data.dataset
        assert config.data.path == str(recipe.data.folder())
    assert config.optim.steps == recipe.steps
    assert 0 < config.optim.decay_start < config.optim.steps
    assert 0 < config.run.checkpoint_every <= 1000  # a crash loses at most 1000 steps
    # `train NAME --steps 90`, a short trial, scales the whole schedule, restarts included
    short = load_config(recipe.config, recipe.all_overrides(90))
    assert short.optim.steps == 90
    assert short.optim.critic_warmup == round(90 * recipe.critic_warmup / recipe.steps)
    assert config.optim.critic_warmup == recipe.critic_warmup
    assert all(end <= short.optim.decay_start for _, end in short.optim.restarts)
    assert len(short.optim.restarts) == len(config.optim.restarts)


@pytest.mark.parametrize("name", [n for n, r in RECIPES.items() if r.restarted_at])
def test_a_restarted_recipe_continues_its_first_schedule(name):
    """Its first restarted_at steps are the first run's schedule, the lr decayed to 0 by their
    end; then the lr is back at its peak and decays linearly to 0 at the last step."""
    recipe = RECIPES[name]
    config = load_config(recipe.config, recipe.all_overrides())
    first = load_config(
        recipe.config, Recipe(recipe.config, recipe.restarted_at, recipe.overrides).all_overrides()
    )
    at = recipe.restarted_at
    for step in range(0, at, max(at // 97, 1)):
        assert lr_factor(step, config) == pytest.approx(lr_factor(step, first))
    assert lr_factor(at - 1, config) < 0.01
    assert lr_factor(at, config) == 1.0
    middle = (at + recipe.steps) // 2
    assert lr_factor(middle, config) == pytest.approx(0.5, abs=0.01)
    assert lr_factor(recipe.steps - 1, config) < 0.01


@pytest.mark.parametrize("name", [n for n, r in RECIPES.items() if r.stopped_at])
def test_a_stopped_recipe_ends_inside_its_schedule(name):
    """Its run stops at stopped_at (after its restart, before the schedule's end), the lr
    schedule still that of the whole run; a short trial stops at the same fraction."""
    recipe = RECIPES[name]
    config = load_config(recipe.config, recipe.all_overrides())
    whole = load_config(recipe.config, dataclasses.replace(recipe, stopped_at=0).all_overrides())
    assert config.run.stop_after == recipe.stopped_at
    assert recipe.restarted_at < recipe.stopped_at < recipe.steps
    assert whole.run.stop_after is None
    assert config.optim == whole.optim  # stopping early does not reshape the schedule
    short = load_config(recipe.config, recipe.all_overrides(90))
    assert short.run.stop_after == round(90 * recipe.stopped_at / recipe.steps)


@pytest.mark.parametrize(
    "joint_name, parser",
    [("seghgan-bisenet", "bisenet"), ("seghgan-unet", "unet"), ("seghgan-unet-ffhq", "unet-ffhq")],
)
def test_parser_controls_train_like_the_joint_parser_without_the_gan(joint_name, parser):
    """PARSER-continued fine-tunes the bundled parser alone exactly as the seghgan fine-tunes
    its parser: same start, data, optimiser, lr, schedule shape, batch, frozen batch norm, and
    as many updates (the joint parser steps with the generator, once per n_critic steps)."""
    joint_recipe, control_recipe = RECIPES[joint_name], RECIPES[f"{parser}-continued"]
    joint = load_config(joint_recipe.config, joint_recipe.all_overrides())
    control = load_config(control_recipe.config, control_recipe.all_overrides())
    assert control.model["init_weights"] == joint.model["parser_weights"] == f"bundled:{parser}"
    for key in ("base_width", "input_scale"):
        assert control.model.get(key) == joint.model["parser"].get(key), key
    for key in ("dataset", "path", "resolution", "synthfaces_share", "partial_labels", "balance"):
        assert getattr(control.data, key) == getattr(joint.data, key), key
    assert control.optim.steps == joint.optim.steps // joint.optim.n_critic
    assert control.optim.optimizer == joint.optim.parser_optimizer
    assert control.optim.lr_g == joint.optim.lr_parser
    assert control.optim.batch_size == joint.optim.batch_size
    assert control.optim.weight_decay == joint.optim.weight_decay
    if control.optim.optimizer == "adam":
        assert control.optim.betas == joint.optim.betas
    else:
        assert control.optim.momentum == joint.optim.momentum
    assert control.optim.schedule == joint.optim.schedule == "linear"
    assert control.optim.warmup == joint.optim.warmup == 0
    ratio = control.optim.decay_start / control.optim.steps
    assert ratio == pytest.approx(joint.optim.decay_start / joint.optim.steps)
    n = joint.optim.n_critic  # warm restarts at the same points of the two runs
    assert [[s * n for s in cycle] for cycle in control.optim.restarts] == joint.optim.restarts
    assert control.optim.freeze_bn and joint.model.get("freeze_parser_bn", True)
    assert not control_recipe.ship


@pytest.mark.parametrize("name", ["seghgan-bisenet", "seghgan-unet", "boxhgan"])
def test_hierarchy_recipes_start_from_stargans_first_stage_and_its_critic(name, monkeypatch):
    """Their global branch and global critic have the StarGAN run's widths and start as its
    first stage's generator and critic (committed under checkpoints/)."""
    from segan.train.methods import make_task

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the recipe's relative path
    recipe = RECIPES[name]
    nets = make_task(load_config(recipe.config, recipe.all_overrides())).build()
    for part, folder in (
        (nets["generator"].global_g, "checkpoints/stargan-base"),
        (nets["discriminator"].global_d, "checkpoints/stargan-base-critic"),
    ):
        shipped = segan.load(folder).state_dict()
        assert all(torch.equal(part.state_dict()[k], shipped[k]) for k in shipped)


def test_real_face_stargan_and_hierarchies_start_alike_from_one_first_stage():
    """On FFHQ, seghgan, boxhgan and the StarGAN baseline all start from stargan-ffhq-base's
    generator and critic, at its widths, on the same data for as many steps: they differ only
    in what the hierarchies add."""
    base = RECIPES["stargan-ffhq-base"]
    first = load_config(base.config, base.all_overrides())
    assert not base.ship and base.data == RECIPES["seghgan-unet-ffhq"].data
    runs = {n: RECIPES[n] for n in ("stargan-ffhq", "seghgan-unet-ffhq", "boxhgan-ffhq")}
    for name, recipe in runs.items():
        config = load_config(recipe.config, recipe.all_overrides())
        assert earlier_stages(name) == {"stargan-ffhq-base": base.steps}
        same = ("dataset", "path", "resolution", "synthfaces_share", "balance", "split")
        assert all(getattr(config.data, k) == getattr(first.data, k) for k in same)
        assert recipe.steps == runs["stargan-ffhq"].steps
        assert (config.optim.lr_g, config.optim.lr_d) == (first.optim.lr_g, first.optim.lr_d)
        assert config.model["upsample"] == first.model["upsample"] == "resize"
        if name == "stargan-ffhq":
            assert config.model["init_weights"] == "checkpoints/stargan-ffhq-base"
            assert config.discriminator["init_weights"] == "checkpoints/stargan-ffhq-base-critic"
            assert config.model["conv_dim"] == first.model["conv_dim"]
            continue
        assert config.model["global_weights"] == "checkpoints/stargan-ffhq-base"
        assert config.discriminator["global_weights"] == "checkpoints/stargan-ffhq-base-critic"
        assert config.model["global_conv_dim"] == first.model["conv_dim"]
        assert config.model["global_repeat"] == first.model["repeat_num"]
        assert config.discriminator["conv_dim"] == first.discriminator["conv_dim"]


def test_first_stages_whose_critic_a_later_recipe_starts_from_export_it_too():
    assert critic_wanted("stargan-base") and critic_wanted("stargan-ffhq-base")
    assert not critic_wanted("ganimation-ffhq-64")  # its continuation trains a new critic
    assert not critic_wanted("classifier-base")


def test_export_critic_saves_the_runs_trained_critic(tmp_path):
    run = _tiny_run(tmp_path, "stargan", "stargan_synthfaces", steps=4)
    folder = export_critic("stargan", runs=run.parent, store=tmp_path / "store")
    assert folder == tmp_path / "store" / "stargan-critic"
    critic = segan.load(folder).state_dict()
    from safetensors.torch import load_file

    trained = load_file(str(run / "checkpoints/step_0000004/networks/discriminator.safetensors"))
    assert critic.keys() == trained.keys()
    assert all(torch.equal(critic[k], trained[k]) for k in trained)
    assert "step 4" in (folder / "README.md").read_text()


def test_classifier_recipe_continues_from_its_committed_first_stage(monkeypatch):
    from segan.train.methods import make_task

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert not RECIPES["classifier-base"].ship and RECIPES["classifier"].ship
    recipe = RECIPES["classifier"]
    model = make_task(load_config(recipe.config, recipe.all_overrides())).build()["model"]
    base = segan.load("checkpoints/classifier-base").state_dict()
    assert all(torch.equal(model.state_dict()[k], base[k]) for k in base)
    card = (Path("checkpoints/classifier-base") / "README.md").read_text()
    assert "step 12000" in card and "start from it: classifier" in card


def test_staged_recipes_know_what_they_continue():
    assert earlier_stages("stargan") == {}  # one stage, 32 wide
    assert earlier_stages("seghgan-unet") == {"stargan-base": 30000}
    assert earlier_stages("classifier") == {"classifier-base": 12000}
    assert earlier_stages("boxhgan") == {"stargan-base": 30000}
    assert earlier_stages("stargan-base") == {} and earlier_stages("regressor") == {}
    assert bundled_starts("unet-ffhq") == {} and bundled_starts("stargan") == {}


def test_a_recipe_continuing_a_bundled_editor_names_it_and_warms_its_critic(monkeypatch):
    """A recipe that starts from a bundled model names it with the steps its recipe ships at,
    and its critic warm-up scales with a short trial's schedule."""
    recipe = Recipe(
        "ganimation_synthfaces",
        5000,
        ("model.conv_dim=32", "model.repeat_num=3", "model.init_weights=bundled:ganimation"),
        critic_warmup=800,
    )
    monkeypatch.setitem(RECIPES, "ganimation-continued", recipe)
    assert bundled_starts("ganimation-continued") == {"ganimation": 34000}  # its stopped_at
    assert load_config(recipe.config, recipe.all_overrides()).optim.critic_warmup == 800
    assert load_config(recipe.config, recipe.all_overrides(90)).optim.critic_warmup == 14


def test_a_first_stage_recipe_is_exported_in_float32_not_shipped(tmp_path, monkeypatch):
    """`publish` of a recipe with ship=False writes store/NAME (float32, the run's published
    network) for the next stage, and nothing into the shipped weights."""
    run = _tiny_run(tmp_path, "clf-base", "classifier_synthfaces", steps=2)
    monkeypatch.setitem(RECIPES, "clf-base", Recipe("classifier_synthfaces", 2, ship=False))
    store, weights = tmp_path / "store", tmp_path / "weights"
    args = ["--runs", str(run.parent), "--store", str(store), "--weights", str(weights)]
    assert main(["publish", "clf-base", *args]) == 0
    assert not weights.exists() and (store / "clf-base" / "model.safetensors").is_file()
    with safe_open(str(store / "clf-base" / "model.safetensors"), "pt") as f:
        assert "F16" not in {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118
    model, step = snapshot(run)
    exported = segan.load(store / "clf-base").state_dict()
    assert step == 2 and all(torch.equal(v, exported[k]) for k, v in model.state_dict().items())
    made = json.loads((store / "clf-base" / "config.json").read_text())["training"]
    assert made["steps"] == 2  # what the export holds, whatever the recipe now asks
    assert (made["dataset"], made["alignment"]) == ("synthfaces", "box")
    assert export("clf-base", runs=run.parent, store=store) == store / "clf-base"  # replaces


def test_command_is_an_accelerate_launch_of_segan_train():
    argv = command("stargan", runs="somewhere", steps=10)
    assert argv[:2] == ["accelerate", "launch"]
    at = argv.index("-m")
    assert argv[at + 1 : at + 3] == ["segan.train", "stargan_synthfaces"]
    assert "optim.steps=10" in argv and "run.output_dir=somewhere/stargan" in argv
    assert "run.resume=auto" in argv
    with pytest.raises(KeyError, match="no bundled recipe 'nope'"):
        command("nope")


@pytest.mark.parametrize("name", list(RECIPES))
def test_the_launch_and_the_trainer_agree_on_precision(name):
    # the trainer takes its precision from the config, not from accelerate's flag
    argv = command(name)
    config = load_config(RECIPES[name].config, RECIPES[name].all_overrides())
    assert f"--mixed_precision={config.run.mixed_precision}" in argv
    assert config.run.mixed_precision == RECIPES[name].precision


def test_hierarchies_and_their_parser_controls_train_in_the_same_precision():
    # seghgan vs boxhgan, and each joint parser vs its control, compare like for like
    same = ["seghgan-bisenet", "seghgan-unet", "boxhgan", "bisenet-continued", "unet-continued"]
    assert {RECIPES[n].precision for n in same} == {"no"}


def _tiny_run(tmp_path: Path, name: str, config: str, steps: int, *extra: str) -> Path:
    run = tmp_path / "runs" / name
    train(
        load_config(
            config,
            [
                "data.resolution=32",
                "optim.batch_size=2",
                "optim.n_critic=2",
                *TINY[config],
                f"optim.steps={steps}",
                "run.checkpoint_every=2",
                "run.sample_every=0",
                "run.progress=false",
                f"run.output_dir={run}",
                *extra,
            ],
        )
    )
    return run


def test_snapshot_is_the_published_ema_network_and_publish_round_trips(tmp_path, monkeypatch):
    run = _tiny_run(tmp_path, "stargan", "stargan_synthfaces", steps=4)
    second = Recipe("stargan_synthfaces", 4, ("model.init_weights=checkpoints/stargan-base",))
    monkeypatch.setitem(RECIPES, "stargan", second)  # a second stage: its card says so
    torch.set_grad_enabled(False)  # pytest restores nothing: re-enabled at the end
    final = segan.load(run / "model").eval()  # the EMA generator the run published at step 4
    model, step = snapshot(run)
    assert step == 4 and latest_checkpoint(run).name == "step_0000004"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    c = torch.eye(8)[:2]
    torch.testing.assert_close(model(x, c), final(x, c))
    earlier, step2 = snapshot(run, run / "checkpoints" / "step_0000002")
    assert step2 == 2 and not torch.allclose(earlier(x, c), final(x, c))
    assert (model.trained_on, model.alignment) == ("synthfaces", "box")

    target = publish("stargan", runs=tmp_path / "runs", weights=tmp_path / "weights")
    assert sorted(p.name for p in target.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    loaded = segan.load(target).eval()
    torch.testing.assert_close(loaded(x, c), final(x, c), atol=2e-2, rtol=0)  # float16 storage
    made = json.loads((target / "config.json").read_text())["training"]
    assert made["steps"] == 4 and made["after"] == {"stargan-base": 30000}
    assert made["dataset"] == "synthfaces" and loaded.trained_on == "synthfaces"
    card = (target / "README.md").read_text()
    assert "4 of 4 steps" in card and "accelerate launch" in card
    assert "after the 30000 steps of recipe `stargan-base`" in card
    assert "Not evaluated yet" in card
    torch.set_grad_enabled(True)


def test_a_snapshot_cuts_faces_as_its_published_model_would(tmp_path):
    """A run on FFHQ-aligned faces gives a snapshot that the pipeline aligns as FFHQ (as the
    model it publishes), not the default square box."""
    run = _tiny_run(tmp_path, "stargan", "stargan_synthfaces", steps=2)
    config = (run / "config.yaml").read_text()
    assert "dataset: synthfaces" in config
    (run / "config.yaml").write_text(config.replace("dataset: synthfaces", "dataset: ffhq", 1))
    model, step = snapshot(run)
    assert step == 2 and (model.trained_on, model.alignment) == ("ffhq", "ffhq")
    assert EditPipeline(model).alignment == "ffhq"


def test_a_stashed_run_resumes_on_a_fresh_machine_exactly(tmp_path, capsys):
    """An unfinished run's stash (committed with the repository) continues, after the run
    folder is gone, to the same network as a run that was never interrupted."""
    whole = _tiny_run(tmp_path / "a", "stargan", "stargan_synthfaces", 4)
    part = _tiny_run(tmp_path / "b", "stargan", "stargan_synthfaces", 4, "run.stop_after=2")
    store = tmp_path / "store"
    kept = stash("stargan", runs=part.parent, store=store)
    assert kept == store / "stargan" / "checkpoints" / "step_0000002"
    assert (store / "stargan" / "config.yaml").is_file()
    shutil.rmtree(part)  # a fresh machine: only the repository's stash is left
    assert restore("stargan", runs=part.parent, store=store) == part / "checkpoints" / kept.name
    assert restore("stargan", runs=part.parent, store=store) is None  # already there
    capsys.readouterr()
    _tiny_run(tmp_path / "b", "stargan", "stargan_synthfaces", 4, "run.resume=latest")
    assert "starting from step 0" not in capsys.readouterr().out  # it resumed from the stash
    x, c = torch.rand(2, 3, 32, 32) * 2 - 1, torch.eye(8)[:2]
    with torch.no_grad():
        a = segan.load(whole / "model").eval()(x, c)
        b = segan.load(part / "model").eval()(x, c)
    torch.testing.assert_close(a, b)
    assert stash("stargan", runs=part.parent, store=store) is None  # finished: stash removed
    assert not (store / "stargan").exists()


def test_train_with_minutes_stashes_a_run_its_time_limit_stopped(tmp_path, monkeypatch):
    """`train NAME --minutes M` passes run.time_limit to the launch; a run that stops short of
    its schedule is stashed for the next machine, not exported or published."""
    import segan.train.bundle as bundle

    monkeypatch.setitem(RECIPES, "clf-base", Recipe("classifier_synthfaces", 4, ship=False))
    runs, store = tmp_path / "runs", tmp_path / "store"
    launched = []

    def launch(argv, **_):  # the launch, run in this process on tiny networks
        launched.append(argv)
        limit = [a for a in argv if a.startswith("run.time_limit=")]
        _tiny_run(
            tmp_path,
            "clf-base",
            "classifier_synthfaces",
            4,
            "run.log_every=2",
            "run.resume=auto",
            *limit,
        )
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(bundle.subprocess, "run", launch)
    args = ["--runs", str(runs), "--store", str(store), "--weights", str(tmp_path / "w")]
    assert main(["train", "clf-base", "--minutes", "0", *args]) == 0
    assert launched[0][-1] == "run.time_limit=0.0"
    assert not bundle.finished("clf-base", runs)
    assert [p.name for p in checkpoints(store / "clf-base")] == ["step_0000002"]
    assert not (store / "clf-base" / "model.safetensors").exists()  # not exported
    assert main(["train", "clf-base", *args]) == 0  # the next session finishes and exports
    assert bundle.finished("clf-base", runs)
    assert (store / "clf-base" / "model.safetensors").is_file()


def test_publish_without_a_checkpoint_says_where_it_looked(tmp_path):
    (tmp_path / "runs" / "stargan").mkdir(parents=True)
    (tmp_path / "runs" / "stargan" / "config.yaml").write_text(
        load_config("stargan_synthfaces").to_yaml()
    )
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in .*stargan.checkpoints"):
        publish("stargan", runs=tmp_path / "runs", weights=tmp_path / "weights")


def test_quality_single_au_targets_switch_exactly_one_au():
    aus = torch.zeros(3, 17)
    aus[0, 1], aus[1, 2], aus[2, 5] = 3.0, 1.0, 1.5
    target = quality.single_au_targets(aus, torch.tensor([1, 2, 5]))
    assert target[0, 1] == 0  # an active AU is switched off
    assert target[1, 2] == 4.0  # a weak one is switched on
    assert target[2, 5] == 0  # 1.5 counts as active
    assert (target != aus).sum(1).tolist() == [1, 1, 1]


def test_quality_replace_between_markers():
    text = "intro\n<!-- a -->\nold\n<!-- b -->\ntail\n"
    assert quality.replace_between(text, "<!-- a -->", "<!-- b -->", "new\n") == (
        "intro\n<!-- a -->\nnew\n<!-- b -->\ntail\n"
    )
    assert quality.replace_between("x\n", "<!-- a -->", "<!-- b -->", "new\n") == (
        "x\n\n<!-- a -->\nnew\n<!-- b -->\n"
    )


# --------------------------------------------------------------------- the shipped folders
SHIPPED = bundled.available()


def test_shipped_weights_fit_the_budget_and_are_stored_as_float16():
    assert SHIPPED, "no bundled models in segan/weights"
    total = sum(f.stat().st_size for f in bundled.WEIGHTS_DIR.rglob("*") if f.is_file())
    assert total <= 60e6, f"bundled weights take {total / 1e6:.1f} MB (budget 60 MB)"
    for name in SHIPPED:
        with safe_open(str(bundled.resolve(name) / "model.safetensors"), "pt") as f:
            dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118
        assert "F32" not in dtypes, f"{name} stores float32 tensors"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_cards_say_how_they_were_made(name):
    folder = bundled.resolve(name)
    card = (folder / "README.md").read_text()
    for section in ("## Data", "## Training", "## Metrics", "## Training config"):
        assert section in card, f"{name}'s card has no {section!r}"
    assert "synthfaces" in card and "steps" in card and "CPU" in card
    steps = json.loads((folder / "config.json").read_text())["training"]["steps"]
    assert f"{steps}" in card


def test_a_shipped_folder_pushes_to_a_hub_cache_unchanged_and_loads_by_repo_id(tmp_path):
    name = SHIPPED[0]
    cache = tmp_path / "hub"
    push(bundled.resolve(name), f"acme/{name}", cache_dir=cache)
    code = (
        "import segan, torch\n"
        f"a, b = segan.load('acme/{name}'), segan.load('bundled:{name}')\n"
        "print(all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items()))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_quality_claims_compare_the_right_way_round():
    def editor(acc, leak, l1):
        return {
            "n_edits": 14,
            "metrics": {"expression_accuracy": acc, "leakage": leak, "l1": l1},
            "unavailable": {},
        }

    results = {
        "evaluators": {"classifier_accuracy": 98.5},
        "editors": {
            "stargan": editor(85.0, 5.0, 0.10),
            "boxhgan": editor(79.0, 3.0, 0.05),
            "seghgan-bisenet": editor(89.0, 2.0, 0.08),
        },
        "parsers": {
            "bisenet": {"miou": 40.0},
            "seghgan-bisenet (joint parser)": {"miou": 40.0, "started_from": "bisenet"},
            "bisenet (continued alone)": {"miou": 40.5},
            "unet": {"miou": 70.0},
            "seghgan-unet (joint parser)": {"miou": 69.0, "started_from": "unet"},
        },
        "single_au": {  # finegrained edits the switched AU less but keeps the others
            "finegrained": {"au_mae_all": 0.2, "au_error_switched": 3.0, "au_mae_kept": 0.1},
            "ganimation": {"au_mae_all": 0.3, "au_error_switched": 2.5, "au_mae_kept": 0.2},
        },
    }
    verdicts = {c["claim"]: c["verdict"] for c in quality.claims(results)}
    assert verdicts["evaluator classifier >= 98% on held-out renders"] == "holds"
    assert verdicts["stargan: target-expression accuracy >= 80%"] == "holds"
    assert verdicts["boxhgan: target-expression accuracy >= 80%"] == "does not hold"
    assert verdicts["seghgan-bisenet: target-expression accuracy >= 90%"] == "does not hold"
    assert verdicts["seghgan-bisenet leakage lower than stargan's"] == "holds"
    assert verdicts["seghgan-bisenet leakage lower than boxhgan's"] == "holds"
    assert verdicts["seghgan-bisenet L1 to the true target lower than stargan's"] == "holds"
    assert verdicts["seghgan-bisenet L1 to the true target lower than boxhgan's"] == "does not hold"
    alone = "jointly trained {0} mIoU not below the {0} trained alone ({1})"
    assert verdicts[alone.format("bisenet", "it started from")] == "holds"
    assert verdicts[alone.format("bisenet", CONTROL_TEXT)] == "does not hold"
    assert verdicts[alone.format("unet", "it started from")] == "does not hold"
    assert alone.format("unet", CONTROL_TEXT) not in verdicts  # no control: no claim
    single_claim = "finegrained single-AU edits: error on the switched AU below ganimation's"
    assert verdicts[single_claim] == "does not hold"  # on the switched AU, not the 17-AU mean
    assert {c["claim"]: c for c in quality.claims(results)}[single_claim]["figures"] == (
        "3.000 vs 2.500 (the 16 kept AUs: 0.100 vs 0.200)"
    )
    # an unfinished ganimation is not compared with a finished finegrained
    results["editors"]["finegrained"] = {**editor(70.0, 4.0, 0.05), "steps": 30000}
    results["editors"]["ganimation"] = {**editor(70.0, 4.0, 0.05), "steps": 200}
    claims = {c["claim"]: c for c in quality.claims(results)}
    single = claims[single_claim]
    assert (single["verdict"], single["figures"]) == (
        "not measured",
        "not comparable: 30000 vs 200 training steps",
    )
    # a ganimation trained longer than finegrained is a fair baseline: compared, steps shown
    results["editors"]["ganimation"]["steps"] = 40000
    single = {c["claim"]: c for c in quality.claims(results)}[single_claim]
    assert (single["verdict"], single["figures"]) == (
        "does not hold",
        "3.000 vs 2.500 (the 16 kept AUs: 0.100 vs 0.200; 30000 vs 40000 training steps)",
    )
    del results["editors"]["finegrained"], results["editors"]["ganimation"]
    assert "seghgan-unet leakage lower than stargan's" not in verdicts  # not bundled: no claim
    # a seghgan trained from an earlier recipe's parser is not compared with today's parser
    earlier = {"architecture": "bisenet", "base_width": 24, "input_scale": 2}
    results["parsers"]["seghgan-bisenet (joint parser)"]["setup"] = earlier
    results["parsers"]["bisenet"]["setup"] = {**earlier, "input_scale": 4}
    results["parsers"]["bisenet (continued alone)"]["setup"] = dict(earlier)
    claims = {c["claim"]: c for c in quality.claims(results)}
    started = claims[alone.format("bisenet", "it started from")]
    assert started["verdict"] == "not measured"
    assert started["figures"] == "not comparable: input_scale 2 (joint) vs 4 (alone)"
    assert claims[alone.format("bisenet", CONTROL_TEXT)]["verdict"] == "does not hold"
    # hierarchies whose branches differ are not compared (masks vs boxes is the question)
    results["editors"]["seghgan-bisenet"]["setup"] = {"local_attention": True}
    results["editors"]["boxhgan"]["setup"] = {"local_attention": False}
    claims = {c["claim"]: c for c in quality.claims(results)}
    box = claims["seghgan-bisenet leakage lower than boxhgan's"]
    assert box["verdict"] == "not measured" and box["figures"] == (
        "not comparable: local_attention True (seghgan-bisenet) vs False (boxhgan)"
    )
    assert claims["seghgan-bisenet leakage lower than stargan's"]["verdict"] == "holds"
    table = quality.markdown(
        {**results, "faces": 2, "parser_faces": 3, "claims": quality.claims(results)}
        | {"single_au": {}, "evaluators": None, "parsers": {}}
    )
    assert "| boxhgan: target-expression accuracy >= 80% | 79.0% | does not hold |" in table


def test_quality_benchmark_scores_every_bundled_model_end_to_end(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", weights)
    torch.manual_seed(0)
    for name, config in [
        ("classifier", "classifier_synthfaces"),
        ("regressor", "regressor_synthfaces"),
        ("bisenet", "bisenet_synthfaces"),
        ("stargan", "stargan_synthfaces"),
        ("ganimation", "ganimation_synthfaces"),
        ("seghgan-bisenet", "seghgan_bisenet_synthfaces"),
    ]:
        extra = ["model.width=8"] if name in ("classifier", "regressor") else []
        if name == "seghgan-bisenet":  # its parser set up like the bundled one (comparable)
            extra = ["model.parser={architecture: bisenet, base_width: 8, resolution: 128}"]
        tiny_model(config, 64, *extra).save_pretrained(weights / name)
    # the joint parser's control, exported like a first stage
    monkeypatch.setattr(bundled_models, "STASH_DIR", tmp_path / "checkpoints")
    tiny_model("bisenet_synthfaces", 64).save_pretrained(tmp_path / "checkpoints/bisenet-continued")
    monkeypatch.chdir(tmp_path)
    Path("docs").mkdir()
    Path("docs/results.md").write_text(
        f"# x\n{quality.TABLE_START}\nold\n{quality.TABLE_END}\nrest\n"
    )
    Path("README.md").write_text(
        f"# x\n{quality.SUMMARY_START}\nold\n{quality.SUMMARY_END}\nrest\n"
    )
    args = ["--faces", "4", "--parser-faces", "4", "--evaluator-faces", "16", "--no-fid"]
    assert quality.main([*args, "--out", "results", "--readme", "--cards"]) == 0
    results = json.loads(Path("results/quality.json").read_text())
    assert set(results["editors"]) == {"stargan", "ganimation", "seghgan-bisenet"}
    for r in results["editors"].values():
        assert r["n_edits"] == 28  # 4 faces x 7 other expressions
        assert sorted(r["metrics"]["expression_accuracy_per_target"]) == sorted(EXPRESSIONS)
        assert {"psnr", "ssim", "l1", "leakage", "au_mae"} <= set(r["metrics"])
    hierarchy = {"global_attention": True, "local_attention": True}  # the config's branches
    assert results["editors"]["seghgan-bisenet"]["setup"] == hierarchy
    assert results["editors"]["stargan"]["setup"] == {}
    assert list(results["single_au"]) == ["ganimation"]  # the only AU editor here
    assert results["single_au"]["ganimation"]["n_edits"] == 28
    unedited = results["single_au_unedited"]  # the same faces and targets, nothing changed
    assert unedited["n_edits"] == 28 and unedited["psnr"] < 60  # the input is not the target
    assert "the input, unedited" in Path("results/quality.md").read_text()
    truth = results["editors"]["stargan"]["metrics"]["true_change_inside"]  # same faces for all
    assert {r["metrics"]["true_change_inside"] for r in results["editors"].values()} == {truth}
    assert f"the true edits change them by {truth:.2f}" in Path("results/quality.md").read_text()
    assert set(results["parsers"]) == {
        "bisenet",
        "bisenet (continued alone)",
        "seghgan-bisenet (joint parser)",
    }
    # an export that does not record its steps is reported with its recipe's
    steps = str(RECIPES["bisenet-continued"].steps)
    assert results["parsers"]["bisenet (continued alone)"]["steps"] == steps
    assert results["evaluators"]["n"] == 16
    verdicts = {c["claim"]: c["verdict"] for c in results["claims"]}
    assert verdicts["seghgan-bisenet leakage lower than stargan's"] in ("holds", "does not hold")
    assert verdicts["seghgan-bisenet leakage lower than boxhgan's"] == "not measured"
    control = f"jointly trained bisenet mIoU not below the bisenet trained alone ({CONTROL_TEXT})"
    assert verdicts[control] in ("holds", "does not hold")
    started = control.replace(CONTROL_TEXT, "it started from")
    assert verdicts[started] in ("holds", "does not hold")
    full = Path("docs/results.md").read_text()
    assert "\nold\n" not in full and "| seghgan-bisenet |" in full and full.endswith("rest\n")
    assert "Single-AU edits" in full and "evaluator classifier" in full
    readme = Path("README.md").read_text()  # the summary: the papers' claims, not the bars
    assert "\nold\n" not in readme and "| seghgan-bisenet |" in readme and readme.endswith("rest\n")
    assert "seghgan-bisenet leakage lower than stargan's" in readme
    assert "Single-AU edits" not in readme and "target-expression accuracy >=" not in readme
    card = (weights / "stargan" / "README.md").read_text()
    assert card.count(CARD_START) == 1 and '"n_edits": 28' in card
    assert '"miou"' in (weights / "bisenet" / "README.md").read_text()
    assert '"classifier_accuracy"' in (weights / "classifier" / "README.md").read_text()


def test_notebooks_take_the_bundled_model_only_at_its_training_resolution(tmp_path, monkeypatch):
    _tiny_run(tmp_path, "stargan", "stargan_synthfaces", steps=2)
    weights = tmp_path / "weights"
    shipped = publish("stargan", runs=tmp_path / "runs", weights=weights)
    assert json.loads((shipped / "config.json").read_text())["training"]["resolution"] == 32
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", weights)
    made = tmp_path / "made"
    tiny_args = [*TINY["stargan_synthfaces"], "optim.batch_size=2", "optim.steps=1"]
    assert bundled_or_trained("stargan", 32, "stargan_synthfaces", made, tiny_args) == shipped
    assert not made.exists()
    other = bundled_or_trained(
        "stargan", 48, "stargan_synthfaces", made, ["data.resolution=48", *tiny_args]
    )
    assert other == made / "model" and segan.load(other).image_size == 48
    assert bundled_or_trained("nope", 48, "stargan_synthfaces", made, tiny_args) == other


def test_real_data_is_prepared_once_as_segan_prepare_prepares_it(tmp_path, monkeypatch):
    faces = SynthFaces("test", 3, 32).batch([0, 1, 2])["image"]
    for k, picture in enumerate(to_uint8(faces)):
        (tmp_path / "photos" / "happy").mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(tmp_path / "photos" / "happy" / f"{k}.png")
    monkeypatch.setenv("SEGAN_TEST_FOLDER", str(tmp_path / "photos"))
    data = RealData("folder", "nowhere", "SEGAN_TEST_FOLDER", "all", 32, ("crop=none",))
    folder = data.prepare(tmp_path / "runs" / "bundled")
    assert folder == tmp_path / "runs" / "prepared" / "folder-all-32"
    cli = ["prepare", "folder", str(tmp_path / "photos"), str(tmp_path / "cli"), "--split", "all"]
    assert main_cli([*cli, "--resolution", "32", "--option", "crop=none"]) == 0
    ours, theirs = PreparedFaces(folder), PreparedFaces(tmp_path / "cli")
    assert len(ours) == len(theirs) == 3
    for k in range(3):
        assert torch.equal(ours[k]["image"], theirs[k]["image"])
    stamp = (folder / "meta.json").stat().st_mtime_ns
    assert data.prepare(tmp_path / "runs" / "bundled") == folder  # made once
    assert (folder / "meta.json").stat().st_mtime_ns == stamp
