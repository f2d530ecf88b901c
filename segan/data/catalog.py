"""The real datasets by name, for the CLI (`segan prepare NAME ROOT OUT`) and training configs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segan.data.records import DataError, FaceDataset

__all__ = ["DATASETS", "open_dataset"]


def _celebamaskhq(root, split, resolution, aus, **options):
    from segan.data.celebamask_hq import CelebAMaskHQ

    if aus is not None:
        raise DataError("CelebAMask-HQ is a segmentation set; it takes no AUs")
    return CelebAMaskHQ(root, split, resolution, **options)


def _affectnet(root, split, resolution, aus, **options):
    from segan.data.affectnet import AffectNet

    lists = {"train": "training", "val": "validation"}
    if split not in lists:
        raise DataError(
            f"AffectNet publishes a training and a validation list: split must be train or val, "
            f"got {split!r}"
        )
    return AffectNet(root, lists[split], resolution, aus=aus, **options)


def _rafd(root, split, resolution, aus, **options):
    from segan.data.rafd import RaFD

    return RaFD(root, split, resolution, aus=aus, **options)


def _kdef(root, split, resolution, aus, **options):
    from segan.data.kdef import KDEF

    return KDEF(root, split, resolution, aus=aus, **options)


def _folder(root, split, resolution, aus, **options):
    from segan.data.folder import ImageFolderExpressions

    if split not in ("all", "train"):
        raise DataError(f"an expression folder has one split (all), got {split!r}")
    return ImageFolderExpressions(root, resolution, aus=aus, **options)


def _ffhq(root, split, resolution, aus, **options):
    from segan.data.ffhq import FFHQ

    return FFHQ(root, split, resolution, aus=aus, **options)


DATASETS: dict[str, Callable[..., FaceDataset]] = {
    "celebamaskhq": _celebamaskhq,
    "affectnet": _affectnet,
    "rafd": _rafd,
    "kdef": _kdef,
    "folder": _folder,
    "ffhq": _ffhq,
}


def open_dataset(
    name: str,
    root: str | Path,
    split: str = "train",
    resolution: int = 128,
    aus: str | Path | Mapping[str, np.ndarray] | None = None,
    **options: Any,
) -> FaceDataset:
    """A real dataset's loader by name; `aus` is OpenFace output (path) or a stem -> AUs map."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if isinstance(aus, str | Path):
        from segan.data.openface import OpenFaceAUs

        aus = OpenFaceAUs(aus)
    return DATASETS[name](root, split, resolution, aus, **options)
