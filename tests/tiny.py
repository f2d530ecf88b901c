"""Tiny widths for every shipped SynthFaces config, shared by the tests that train models
(the recipes stay the papers'; only the networks shrink)."""

D4 = ["discriminator.conv_dim=8", "discriminator.repeat_num=4"]
HD = [
    "discriminator.conv_dim=4",
    "discriminator.repeat_num=4",
    "discriminator.local_conv_dim=4",
    "discriminator.local_repeat_num=3",
]
HG = ["model.global_conv_dim=8", "model.global_repeat=1", "model.local_conv_dim=4"]
TINY = {
    "stargan_synthfaces": ["model.conv_dim=8", "model.repeat_num=1", *D4],
    "sargan_synthfaces": ["model.conv_dim=8", *D4],
    "ganimation_synthfaces": ["model.conv_dim=8", "model.repeat_num=1", *D4],
    "finegrained_synthfaces": ["model.ngf=4", *D4],
    "seghgan_bisenet_synthfaces": [
        "model.parser={architecture: bisenet, base_width: 8}",
        *HG,
        "model.local_repeat=1",
        *HD,
    ],
    "seghgan_unet_synthfaces": [
        "model.parser={architecture: unet, base_width: 4}",
        *HG,
        "model.local_repeat=1",
        *HD,
    ],
    "boxhgan_synthfaces": [*HG, "model.local_repeat=1", "model.crop_size=8", *HD],
    "bisenet_synthfaces": ["model.base_width=8"],
    "unet_synthfaces": ["model.base_width=4"],
    "classifier_synthfaces": [],
    "regressor_synthfaces": [],
}


def tiny_model(config: str, resolution: int = 64, *extra: str):
    """An untrained model of a shipped config at tiny widths (the network a run would publish)."""
    from segan.train.config import load_config
    from segan.train.methods import make_task

    task = make_task(load_config(config, [f"data.resolution={resolution}", *TINY[config], *extra]))
    nets = task.build()
    return nets[task.published(nets)].eval()


def tiny_widths(config: str) -> list[str]:
    """The tiny widths of a shipped config: a paper's config (seghgan_unet_rafd) trains the
    networks of the SynthFaces recipe it extends."""
    if config in TINY:
        return TINY[config]
    method, _, _ = config.rpartition("_")
    return TINY[f"{method}_synthfaces"]
