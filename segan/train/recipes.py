"""The recipes of segan's bundled models, as data: which shipped config each trains, what it
changes, its step budget and schedule, and the real data it needs.

Each recipe is a shipped config with narrower networks and a step budget a 2-core CPU finishes
(a GPU run uses the same recipes with more steps); `command` gives the `accelerate launch`
line that trains one. docs/bundled-models.md says how each choice was measured.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from segan.data.cache import prepare
from segan.data.catalog import open_dataset

__all__ = [
    "FFHQ_64",
    "FFHQ_128",
    "RECIPES",
    "REPO_DIR",
    "RealData",
    "Recipe",
    "bundled_starts",
    "command",
    "earlier_stages",
    "find_recipe",
    "runnable",
]

REPO_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RealData:
    """A real dataset a recipe trains on: `segan prepare`d once from its root (the environment
    variable `env` when set, else `root` relative to the repository) into `runs/prepared/`."""

    dataset: str
    root: str
    env: str
    split: str = "train"
    resolution: int = 128
    options: tuple[str, ...] = ()  # loader options, KEY=VALUE (paths relative to the repo)

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.split}-{self.resolution}"

    def folder(self, runs: str | Path = "runs/bundled") -> Path:
        """Where the prepared copy lives (beside the runs folder)."""
        return Path(runs).parent / "prepared" / self.name

    def source(self) -> Path:
        return Path(os.environ.get(self.env) or REPO_DIR / self.root)

    def prepare(self, runs: str | Path = "runs/bundled") -> Path:
        """The prepared folder, made first when it is missing (as `segan prepare` makes it)."""
        folder = self.folder(runs)
        if not (folder / "meta.json").is_file():
            options = {}
            for option in self.options:
                key, _, value = option.partition("=")
                options[key] = str(REPO_DIR / value) if key == "annotations" else value
            dataset = open_dataset(
                self.dataset, self.source(), self.split, self.resolution, None, **options
            )
            prepare(dataset, folder, 0, {"split": self.split, "aus": None, **options})
        return folder


# FFHQ's 128 px faces (ids 4000-4999 held out) with the labels `segan annotate` computed.
FFHQ_128 = RealData(
    "ffhq",
    "../shared/data/ffhq/128",
    "SEGAN_FFHQ_128",
    options=("annotations=labels/ffhq-128.npz",),
)

# The same faces at 64 px, for the editors' first stage on real faces.
FFHQ_64 = RealData(
    "ffhq",
    "../shared/data/ffhq/128",
    "SEGAN_FFHQ_128",
    resolution=64,
    options=("annotations=labels/ffhq-128.npz",),
)


@dataclass(frozen=True)
class Recipe:
    """A bundled model: which shipped config, what it changes, and how many steps."""

    config: str
    steps: int
    overrides: tuple[str, ...] = field(default_factory=tuple)
    decay_fraction: float = 1 / 3  # the linear lr decay spans this last part of the run
    # False: a first stage, whose model another recipe starts from (model.init_weights=
    # checkpoints/NAME); `train` exports it there in float32 instead of shipping it
    ship: bool = True
    # autocast dtype, "no" (fp32) or "bf16" (see _BF16)
    precision: str = "no"
    # a run continued past a first schedule of this many steps (scaled with `steps`): the lr
    # decayed over that schedule's last decay_fraction, then restarted at its peak (optim.
    # restarts) and decays linearly to 0 again over the steps after it
    restarted_at: int = 0
    # the shipped model is this step of the schedule (scaled with `steps`; 0: its end), chosen
    # on validation identities: the run stops there (run.stop_after)
    stopped_at: int = 0
    resolution: int = 64
    data: RealData | None = None  # a real dataset (else the config's, SynthFaces)
    # GANs continuing a trained generator: the new critic trains alone for this many steps
    # of the schedule first (optim.critic_warmup, scaled with `steps`)
    critic_warmup: int = 0

    def option(self, key: str) -> str | None:
        """The value this recipe's overrides give `key` (the last one wins), or None."""
        values = [o.partition("=")[2] for o in self.overrides if o.partition("=")[0] == key]
        return values[-1] if values else None

    def all_overrides(
        self, steps: int | None = None, runs: str | Path = "runs/bundled"
    ) -> list[str]:
        n = self.steps if steps is None else steps
        every = min(max(n // 10, 1), 1000)

        def scaled(step: int) -> int:  # a step of the recipe's schedule in a run of n steps
            return round(n * step / self.steps)

        if self.restarted_at:  # the last cycle decays from the restart
            decay_start = scaled(self.restarted_at)
            first_decay = round(decay_start * (1 - self.decay_fraction))
            restart = [f"optim.restarts=[[{first_decay}, {decay_start}]]"]
        else:
            decay_start, restart = round(n * (1 - self.decay_fraction)), []
        stop = [f"run.stop_after={scaled(self.stopped_at)}"] if self.stopped_at else []
        warmup = [f"optim.critic_warmup={scaled(self.critic_warmup)}"] if self.critic_warmup else []
        data = [] if self.data is None else [f"data.path={self.data.folder(runs)}"]
        return [
            f"data.resolution={self.resolution}",
            *data,
            f"optim.steps={n}",
            f"optim.decay_start={decay_start}",
            f"run.checkpoint_every={every}",
            f"run.sample_every={2 * every}",
            "run.progress=false",
            f"run.mixed_precision={self.precision}",
            *self.overrides,
            *restart,
            *stop,
            *warmup,
        ]


# CPU recipes (64 px, 2 cores): widths of 16-32 and Adam at 4e-4 for the GANs (the papers'
# losses and weights); docs/bundled-models.md says how each choice was measured.
_LR = ("optim.lr_g=4e-4", "optim.lr_d=4e-4")
_D = ("discriminator.conv_dim=16", "discriminator.repeat_num=5", *_LR)
_HD = (*_D, "discriminator.local_conv_dim=16", "discriminator.local_repeat_num=4")
_HG = ("model.global_conv_dim=16", "model.global_repeat=3", "model.local_conv_dim=16")
# BiSeNet predicts at 1/8 of its input and a 64 px face's brows and lips are a pixel thick:
# it parses the face upsampled to 256 px (a logit per 2x2 pixels).
_BISENET_64 = ("model.resolution=64", "model.input_scale=4")
# Evaluators: ResNet-18 at half width without the stem's max-pool (64 px faces are small).
_EVAL = ("model.width=32", "model.maxpool=false", "optim.batch_size=32")
# The classifier keeps its first stage at full scale (stem stride 1) at a quarter width: the
# same FLOPs per stage at twice the resolution, for brows that move by a pixel.
_CLASSIFIER = (
    "model.width=16",
    "model.stem_stride=1",
    "model.maxpool=false",
    "optim.batch_size=32",
)
# ... in two stages: the second continues from the first at 3e-4.
_CLASSIFIER_STAGE_2 = (
    *_CLASSIFIER,
    "model.init_weights=checkpoints/classifier-base",
    "optim.lr_g=3e-4",
)

# StarGAN's first stage, 16 wide: the hierarchies' global branch and critic start from it.
_STARGAN = ("model.conv_dim=16", "model.repeat_num=3", *_D)

# The single-generator editors learn their target only through their critic's classifier,
# which needs width 32 at 64 px: their critics (and the StarGAN/GANimation/SARGAN generators)
# are 32 wide.
_D32 = ("discriminator.conv_dim=32", "discriminator.repeat_num=5", *_LR)

# bf16 autocast (weights and optimiser state stay fp32) for the single-generator editors; the
# hierarchies and SARGAN train in fp32, so that seghgan vs boxhgan and each joint parser vs
# its control compare like for like.
_BF16 = "bf16"

# The hierarchies start their global branch and global critic from StarGAN's first stage (same
# width and depth), both alike, so that seghgan vs boxhgan compares like for like.
_FROM_STARGAN = (
    "model.global_weights=checkpoints/stargan-base",
    "discriminator.global_weights=checkpoints/stargan-base-critic",
)
# The joint parser keeps training as it was trained alone, at a tenth of its peak lr, stepped
# with the generator, batch norm frozen: BiSeNet with SGD (momentum 0.9) at 1e-3, the UNet
# with Adam (0.5, 0.999) at 2e-5; the GAN gradient reaching it is scaled by 0.01, so that its
# segmentation gradient leads.
_PARSER_FINE_TUNE = {"bisenet": ("sgd", "1e-3"), "unet": ("adam", "2e-5")}  # optimiser, lr


def _joint(arch: str) -> tuple[str, ...]:
    optimizer, lr = _PARSER_FINE_TUNE[arch]
    return ("loss.parser_gan=0.01", f"optim.parser_optimizer={optimizer}", f"optim.lr_parser={lr}")


# The claim "the jointly trained parser is not worse than the parser trained alone" is tested
# against a control that trains the same parser alone for as many updates as the joint one
# gets (the hierarchy's generator steps: its steps / n_critic 5), with the same optimiser, lr,
# schedule, batch and frozen batch norm: only the GAN gradient differs.
_HIERARCHY_STEPS = 12000
# The seghgans continue past their first 12000-step schedule: the lr restarts and decays to 0
# again over 6000 more steps; their controls continue alike.
_JOINT_STEPS = 18000


def _continued(arch: str, start: str | None = None) -> tuple[str, ...]:
    """The control's fine-tuning of bundled parser `start` (default `arch`)."""
    optimizer, lr = _PARSER_FINE_TUNE[arch]
    return (
        f"model.init_weights=bundled:{start or arch}",
        f"optim.optimizer={optimizer}",
        f"optim.lr_g={lr}",
        "optim.freeze_bn=true",
        "optim.weight_decay=0",
        "optim.warmup=0",
        "optim.schedule=linear",
        "optim.batch_size=16",
    )


# The editors on real faces: FFHQ at 64 px, a quarter of every batch SynthFaces, FFHQ's faces
# drawn with weights count(expression)^-0.5, resize-convolution upsampling (no checkerboard).
_FFHQ_EDITOR = ("model.upsample=resize", "data.balance=0.5")
# The real-face GANimation at the SynthFaces recipe's widths, with the null-edit term (an
# edit towards the face's own AUs gives the face back) weighted as the cycle term
_FFHQ_GANIMATION = ("model.conv_dim=32", "model.repeat_num=3", *_FFHQ_EDITOR, "loss.rec=10")
# The real-face hierarchies start alike from StarGAN's first stage on FFHQ (16 wide, as on
# SynthFaces); the StarGAN baseline continues that stage alone for as many steps as they
# train, so that the three differ only in what the hierarchies add.
_FROM_STARGAN_FFHQ = (
    "model.global_weights=checkpoints/stargan-ffhq-base",
    "discriminator.global_weights=checkpoints/stargan-ffhq-base-critic",
)


# The single-generator editors train 30000 steps, the lr decayed over the last third, except
# SARGAN's, constant as in its public code. GANimation and the fine-grained model continue
# past 30000 (the lr restarted, decaying to 0 over 10000 more steps) and ship at the step
# chosen on validation identities (stopped_at).
_EDITOR_STEPS = 30000


RECIPES: dict[str, Recipe] = {  # in training order: the parsers before the seghgans they seed
    "bisenet": Recipe("bisenet_synthfaces", 3000, ("model.base_width=24", *_BISENET_64)),
    # the UNet's plain cross-entropy learns the small parts more slowly than BiSeNet's OHEM
    "unet": Recipe("unet_synthfaces", 12000, ("model.base_width=16",)),
    # the controls for the joint parsers (see _continued), exported to checkpoints/NAME
    "bisenet-continued": Recipe(
        "bisenet_synthfaces",
        _JOINT_STEPS // 5,
        ("model.base_width=24", *_BISENET_64, *_continued("bisenet")),
        ship=False,
        restarted_at=_HIERARCHY_STEPS // 5,
    ),
    "unet-continued": Recipe(
        "unet_synthfaces",
        _JOINT_STEPS // 5,
        ("model.base_width=16", *_continued("unet")),
        ship=False,
        restarted_at=_HIERARCHY_STEPS // 5,
    ),
    # the real-face parsers: the SynthFaces parsers fine-tuned at 128 px on FFHQ's mesh masks,
    # a quarter of every batch SynthFaces faces for the classes the mesh does not give.
    # BiSeNet parses a 128 px face at 256 px (input_scale 2), the input size the SynthFaces
    # parser it starts from learnt at
    "bisenet-ffhq": Recipe(
        "bisenet_ffhq",
        4000,
        ("model.base_width=24", "model.input_scale=2", "model.init_weights=bundled:bisenet"),
        resolution=128,
        data=FFHQ_128,
    ),
    # twice the SynthFaces parser's width, from scratch (docs/real-faces.md: width 16 stops at
    # 78 mIoU on held-out FFHQ); then continued at half the rate, decaying over its last three
    # quarters, with fewer SynthFaces faces and a soft-Dice term beside the cross-entropy; then
    # with the pixels outside the mesh's face oval labelled by what they cannot be
    # (segan.partial_labels: no face part outside the face, no skin at the frame)
    "unet-ffhq-base": Recipe(
        "unet_ffhq",
        5000,
        ("model.base_width=32",),
        ship=False,
        resolution=128,
        data=FFHQ_128,
    ),
    "unet-ffhq-mesh": Recipe(
        "unet_ffhq",
        4000,
        (
            "model.base_width=32",
            "model.init_weights=checkpoints/unet-ffhq-base",
            "optim.lr_g=1e-4",
            "data.synthfaces_share=0.15",
            "loss.dice=1",
        ),
        ship=False,
        decay_fraction=0.75,
        resolution=128,
        data=FFHQ_128,
    ),
    "unet-ffhq": Recipe(
        "unet_ffhq",
        2000,
        (
            "model.base_width=32",
            "model.init_weights=checkpoints/unet-ffhq-mesh",
            "optim.lr_g=1e-4",
            "data.synthfaces_share=0.15",
            "data.partial_labels=true",
            "loss.dice=1",
        ),
        decay_fraction=0.75,
        resolution=128,
        data=FFHQ_128,
    ),
    # the real-face GANimation's first stage at 64 px, from scratch on FFHQ (a quarter of
    # every batch SynthFaces, FFHQ's faces drawn with weights count(expression)^-0.5) at the
    # SynthFaces recipe's widths, with resize-convolution upsampling (no checkerboard); fp32;
    # 12000 steps, the lr decaying over the last third. docs/real-faces.md compares it with
    # continuing the SynthFaces GANimation, and the step budget with a longer run's
    "ganimation-ffhq-64": Recipe(
        "ganimation_ffhq",
        12000,
        (*_FFHQ_GANIMATION, *_D32),
        ship=False,
        data=FFHQ_64,
    ),
    # the app's real-face GANimation: the 64 px stage continued at 128 px (the generator is
    # fully convolutional and keeps its weights; the critic is new, one layer deeper, trains
    # alone first, and reads every picture through colour and translation transforms, so that
    # it cannot learn the 4,000 training photos by heart); fp32, batch 16 (a step at 128 px
    # costs 6.5 times one at 64 px on the CPU)
    "ganimation-ffhq": Recipe(
        "ganimation_ffhq",
        3000,
        (
            *_FFHQ_GANIMATION,
            "model.init_weights=checkpoints/ganimation-ffhq-64",
            "discriminator.conv_dim=32",
            "discriminator.repeat_num=6",
            "discriminator.augment=color,translation",
            *_LR,
            "optim.lr_g=1e-4",
            "optim.batch_size=16",
        ),
        critic_warmup=300,
        resolution=128,
        data=FFHQ_128,
    ),
    # the first paper's method on real faces, its baselines and its parser's control
    "stargan-ffhq-base": Recipe(
        "stargan_ffhq", _EDITOR_STEPS, (*_STARGAN, *_FFHQ_EDITOR), ship=False, data=FFHQ_64
    ),
    "stargan-ffhq": Recipe(
        "stargan_ffhq",
        _HIERARCHY_STEPS,
        (
            *_STARGAN,
            *_FFHQ_EDITOR,
            "model.init_weights=checkpoints/stargan-ffhq-base",
            "discriminator.init_weights=checkpoints/stargan-ffhq-base-critic",
        ),
        data=FFHQ_64,
    ),
    "seghgan-unet-ffhq": Recipe(
        "seghgan_unet_ffhq",
        _HIERARCHY_STEPS,
        (
            # the real-face parser learnt 128 px faces: it parses the 64 px ones at that size
            "model.parser={architecture: unet, base_width: 32, resolution: 128, input_scale: 2}",
            "model.parser_weights=bundled:unet-ffhq",
            *_FROM_STARGAN_FFHQ,
            *_joint("unet"),
            *_HG,
            *_HD,
            *_FFHQ_EDITOR,
        ),
        data=FFHQ_64,
    ),
    "unet-ffhq-continued": Recipe(
        "unet_ffhq",
        _HIERARCHY_STEPS // 5,
        (
            "model.base_width=32",
            "model.input_scale=2",
            "data.partial_labels=true",
            "data.balance=0.5",
            *_continued("unet", "unet-ffhq"),
        ),
        ship=False,
        data=FFHQ_64,
    ),
    "boxhgan-ffhq": Recipe(
        "boxhgan_ffhq",
        _HIERARCHY_STEPS,
        (*_FROM_STARGAN_FFHQ, *_HG, "model.crop_size=16", *_HD, *_FFHQ_EDITOR),
        data=FFHQ_64,
    ),
    "regressor": Recipe("regressor_synthfaces", 4000, _EVAL, decay_fraction=0.5),
    "classifier-base": Recipe("classifier_synthfaces", 12000, _CLASSIFIER, ship=False),
    "classifier": Recipe("classifier_synthfaces", 8000, _CLASSIFIER_STAGE_2, decay_fraction=0.5),
    "stargan-base": Recipe("stargan_synthfaces", 30000, _STARGAN, ship=False),
    "stargan": Recipe(
        "stargan_synthfaces",
        _EDITOR_STEPS,
        ("model.conv_dim=32", "model.repeat_num=3", *_D32),
        precision=_BF16,
    ),
    "seghgan-bisenet": Recipe(
        "seghgan_bisenet_synthfaces",
        _JOINT_STEPS,
        (
            "model.parser={architecture: bisenet, base_width: 24, resolution: 64, input_scale: 4}",
            "model.parser_weights=bundled:bisenet",
            *_FROM_STARGAN,
            *_joint("bisenet"),
            *_HG,
            *_HD,
        ),
        restarted_at=_HIERARCHY_STEPS,
    ),
    "boxhgan": Recipe(
        "boxhgan_synthfaces", _HIERARCHY_STEPS, (*_FROM_STARGAN, *_HG, "model.crop_size=16", *_HD)
    ),
    "ganimation": Recipe(
        "ganimation_synthfaces",
        40000,
        ("model.conv_dim=32", "model.repeat_num=3", *_D32),
        precision=_BF16,
        restarted_at=_EDITOR_STEPS,
        stopped_at=34000,
    ),
    "finegrained": Recipe(
        "finegrained_synthfaces",
        40000,
        ("model.ngf=12", *_D32),
        precision=_BF16,
        restarted_at=_EDITOR_STEPS,
        stopped_at=32000,
    ),
    "sargan": Recipe("sargan_synthfaces", _EDITOR_STEPS, ("model.conv_dim=32", *_D32)),
    "seghgan-unet": Recipe(
        "seghgan_unet_synthfaces",
        _JOINT_STEPS,
        (
            # the parser settings of bundled:unet, so that the joint parser and the one
            # trained alone record the same setup (quality.py compares only those)
            "model.parser={architecture: unet, base_width: 16, resolution: 128}",
            "model.parser_weights=bundled:unet",
            *_FROM_STARGAN,
            *_joint("unet"),
            *_HG,
            *_HD,
        ),
        restarted_at=_HIERARCHY_STEPS,
    ),
}


def earlier_stages(name: str) -> dict[str, int]:
    """The recipes whose finished runs `name` starts from (checkpoints/STAGE, STAGE-critic),
    and theirs, with their step budgets: {"stargan-base": 30000} for stargan."""
    found: dict[str, int] = {}
    for override in find_recipe(name).overrides:
        value = override.partition("=")[2]
        if value.startswith("checkpoints/"):
            stage = value.removeprefix("checkpoints/").removesuffix("-critic")
            if stage in RECIPES and stage not in found:
                found.update(earlier_stages(stage))
                found[stage] = RECIPES[stage].steps
    return found


def bundled_starts(name: str) -> dict[str, int]:
    """The bundled models `name` starts from (`bundled:NAME` in its overrides), with the steps
    their recipes ship at: {"ganimation": 34000} for a recipe continuing the SynthFaces
    GANimation."""
    found: dict[str, int] = {}
    for override in find_recipe(name).overrides:
        value = override.partition("=")[2]
        stage = value.removeprefix("bundled:")
        if value.startswith("bundled:") and stage in RECIPES:
            found[stage] = RECIPES[stage].stopped_at or RECIPES[stage].steps
    return found


def command(name: str, runs: str | Path = "runs/bundled", steps: int | None = None) -> list[str]:
    """The `accelerate launch -m segan.train ...` command line that trains bundled model `name`."""
    recipe = find_recipe(name)
    return [
        "accelerate",
        "launch",
        "--num_processes=1",
        "--num_machines=1",
        f"--mixed_precision={recipe.precision}",
        "--dynamo_backend=no",
        "-m",
        "segan.train",
        recipe.config,
        *recipe.all_overrides(steps, runs),
        f"run.output_dir={Path(runs) / name}",
        "run.resume=auto",
    ]


def find_recipe(name: str) -> Recipe:
    """The recipe of bundled model `name`; an unknown name is an error naming the known ones."""
    if name not in RECIPES:
        raise KeyError(f"no bundled recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def runnable(argv: list[str]) -> list[str]:
    """`accelerate launch ...` run by this interpreter's Accelerate, so that training works
    from an environment that is not on PATH (`.venv/bin/python -m segan.train.bundle`)."""
    if argv[:2] != ["accelerate", "launch"] or shutil.which("accelerate"):
        return argv
    return [sys.executable, "-m", "accelerate.commands.launch", *argv[2:]]
