"""Realism: FID and KID through torch-fidelity, honest when its weights are out of reach.

Images are tensors (N, 3, H, W) in [-1, 1] (turned into the uint8 CHW samples torch-fidelity
wants) or folders of pictures. torch-fidelity downloads its Inception weights on first use;
offline, a local weights file is accepted (`weights_path`, or the file in torch.hub's cache),
and without one the result is `unavailable(...)` with the one-line fix, never a number made
with other weights. KID's subset size is cut to the smaller set's size for small sets. Every
result records the feature extractor, the sample counts and the KID subset size, because FID
depends on all of them.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from segan.metrics.unavailable import unavailable

__all__ = [
    "INCEPTION",
    "TINY_EXTRACTOR",
    "fid_kid",
    "inception_weights",
    "register_tiny_extractor",
    "uint8_chw",
]

INCEPTION = "inception-v3-compat"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
DOWNLOAD_TIMEOUT_S = 60
TINY_EXTRACTOR = "segan-tiny-random"


class TinyFeatures(torch.nn.Module):
    """Six fixed random projections of 4x4 patches, averaged over the picture: a stand-in
    feature extractor that needs no download, for tests and offline smoke runs only (its
    distances are not comparable with Inception's)."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Conv2d(3, 6, 4, 4)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(self.proj.weight.shape, generator=gen))
            self.proj.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # uint8 (N, 3, H, W)
        return self.proj(x.float() / 255).mean((2, 3))


def register_tiny_extractor() -> str:
    """Register `TinyFeatures` with torch-fidelity (once per process); returns its name."""
    from torch_fidelity import FeatureExtractorBase, register_feature_extractor
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    if TINY_EXTRACTOR in FEATURE_EXTRACTORS_REGISTRY:
        return TINY_EXTRACTOR

    class Tiny(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            self.net = TinyFeatures()

        @staticmethod
        def get_provided_features_list():
            return ("6",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "6"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, 16, 16, dtype=torch.uint8)

        def forward(self, x):
            return (self.net(x),)

    register_feature_extractor(TINY_EXTRACTOR, Tiny)
    return TINY_EXTRACTOR


class _Samples(Dataset):
    """(N, 3, H, W) images (float in [-1, 1], or uint8) as torch-fidelity's uint8 CHW samples."""

    def __init__(self, images: torch.Tensor):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) images, got {tuple(images.shape)}")
        if images.shape[0] < 2:
            raise ValueError("FID/KID need at least 2 images per set")
        self.images = images.detach().cpu()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, k: int) -> torch.Tensor:
        return uint8_chw(self.images[k])


def uint8_chw(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] as uint8 in the same (..., 3, H, W) layout, on the CPU (uint8 passes
    through): torch-fidelity's sample format, and a compact way to keep edits for FID."""
    if images.dtype == torch.uint8:
        return images.cpu()
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def _as_input(images: torch.Tensor | str | Path) -> tuple[Any, int]:
    if isinstance(images, str | Path):
        folder = Path(images)
        if not folder.is_dir():
            raise ValueError(f"image folder {folder} does not exist")
        n = sum(1 for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if n < 2:
            raise ValueError(f"{folder} holds {n} png/jpg pictures; FID/KID need at least 2")
        return str(folder), n
    samples = _Samples(images)
    return samples, len(samples)


def _offline() -> bool:
    return any(os.environ.get(k, "") not in ("", "0") for k in ("HF_HUB_OFFLINE", "SEGAN_OFFLINE"))


def inception_weights(weights_path: str | Path | None = None) -> Path | None:
    """The Inception weights file torch-fidelity would use, if it is on this machine."""
    if weights_path is not None:
        path = Path(weights_path)
        return path if path.is_file() else None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_URL.rsplit("/", 1)[1]
    return cached if cached.is_file() else None


def fid_kid(
    real: torch.Tensor | str | Path,
    fake: torch.Tensor | str | Path,
    feature_extractor: str = INCEPTION,
    weights_path: str | Path | None = None,
    kid: bool = True,
    cuda: bool | None = None,
    batch_size: int = 64,
    download: bool = True,
    **fidelity_kwargs: Any,
) -> dict:
    """FID and KID (x1000, mean and std over subsets) between two image sets."""
    import torch_fidelity

    if feature_extractor == TINY_EXTRACTOR:
        register_tiny_extractor()
    input1, n1 = _as_input(real)
    input2, n2 = _as_input(fake)
    kwargs: dict[str, Any] = {
        "input1": input1,
        "input2": input2,
        "fid": True,
        "kid": kid,
        "feature_extractor": feature_extractor,
        "cuda": torch.cuda.is_available() if cuda is None else cuda,
        "batch_size": batch_size,
        "cache": False,
        "verbose": False,
        "kid_subset_size": min(1000, n1, n2),
        # tensors are already in memory: no loader worker processes for them
        "save_cpu_ram": not isinstance(real, str | Path) and not isinstance(fake, str | Path),
        **fidelity_kwargs,
    }
    if feature_extractor == INCEPTION:
        local = inception_weights(weights_path)
        if weights_path is not None and local is None:
            return unavailable(
                f"Inception weights file {weights_path} does not exist",
                f"download {INCEPTION_URL} and give its path with --inception-weights FILE "
                "(Python: weights_path=FILE)",
            )
        if local is None and (_offline() or not download):
            return unavailable(
                "torch-fidelity's Inception weights are not on this machine and downloading is "
                "off (HF_HUB_OFFLINE/SEGAN_OFFLINE or download=False)",
                f"download {INCEPTION_URL} once and give it with --inception-weights FILE "
                f"(Python: weights_path=FILE), or put it in "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}",
            )
        if local is not None:
            kwargs["feature_extractor_weights_path"] = str(local)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        out = torch_fidelity.calculate_metrics(**kwargs)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        if feature_extractor != INCEPTION or inception_weights(weights_path) is not None:
            raise
        return unavailable(
            f"torch-fidelity could not download its Inception weights ({err})",
            f"download {INCEPTION_URL} and pass its path as weights_path",
        )
    finally:
        socket.setdefaulttimeout(previous)
    result = {
        "fid": float(out["frechet_inception_distance"]),
        "feature_extractor": feature_extractor,
        "n_real": n1,
        "n_fake": n2,
    }
    if kid:
        result["kid_x1000"] = 1000 * float(out["kernel_inception_distance_mean"])
        result["kid_std_x1000"] = 1000 * float(out["kernel_inception_distance_std"])
        result["kid_subset_size"] = kwargs["kid_subset_size"]
    return result
