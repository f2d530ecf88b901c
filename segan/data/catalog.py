"""The real datasets by name, for the CLI (`segan prepare NAME ROOT OUT`) and training configs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from segan.data.records import DataError, FaceDataset

__all__ = ["DATASETS", "DATA_ALIGNMENT", "DATA_AU_LABELS", "DATA_TERMS", "open_dataset"]


def _celebamaskhq(root, split, resolution, aus, **options):
    from segan.data.celebamask_hq import CelebAMaskHQ

    if aus is not None:
        raise DataError("CelebAMask-HQ is a segmentation set; it takes no AUs")
    return CelebAMaskHQ(root, split, resolution, **options)


def _affectnet(root, split, resolution, aus, **options):
    """AffectNet's training (train) or validation (val) list; `csv_file=` names another list
    (the split is then only the name the prepared folder records)."""
    from segan.data.affectnet import AffectNet

    lists = {"train": "training", "val": "validation"}
    csv_file = options.pop("csv_file", None)
    if csv_file is None and split not in lists:
        raise DataError(
            f"AffectNet publishes a training and a validation list: split must be train or val "
            f"(or give csv_file=), got {split!r}"
        )
    csv_file = lists[split] if csv_file is None else csv_file
    return AffectNet(root, csv_file, resolution, aus=aus, **options)


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


# How each dataset's faces are cut from their photos, when not a square around the face box:
# a model trained on it is given photos cut the same way (segan.pipeline).
DATA_ALIGNMENT: dict[str, str] = {"ffhq": "ffhq"}

# How each dataset's action-unit labels are made, where they tie AUs together: "blendshapes"
# (segan.photos.aus, one blendshape for some pairs of AUs). A model trained on such labels is
# asked for AU targets in the same form (segan.pipeline).
DATA_AU_LABELS: dict[str, str] = {"ffhq": "blendshapes"}

# Datasets whose terms bind the weights trained on them: (Hub licence id, the card's text).
DATA_TERMS: dict[str, tuple[str, str]] = {
    "ffhq": (
        "cc-by-nc-sa-4.0",
        'Trained on FFHQ (Flickr-Faces-HQ; Karras, Laine and Aila, "A Style-Based Generator '
        'Architecture for Generative Adversarial Networks", CVPR 2019; NVlabs/ffhq-dataset), '
        "its images resized and JPEG-compressed. NVIDIA releases the collection under CC BY-NC-SA "
        "4.0 (each image under its own Flickr licence: CC BY 2.0, CC BY-NC 2.0, Public Domain "
        "Mark 1.0, CC0 1.0 or U.S. Government Works), so these weights are published under "
        "**CC BY-NC-SA 4.0**: non-commercial use only, with credit, derivatives under the same "
        "licence. The labels (landmarks, action units, expressions, part masks) were computed by "
        "segan with MediaPipe's Face Landmarker (Google, Apache-2.0); identities 4000-4999 were "
        "held out of training.",
    ),
}


def open_dataset(
    name: str,
    root: str | Path,
    split: str = "train",
    resolution: int = 128,
    aus: str | Path | Mapping[str, np.ndarray] | None = None,
    **options: Any,
) -> FaceDataset:
    """A real dataset's loader by name; `aus` is OpenFace output (path) or a stem -> AUs map.

    The OpenFace reader's options (`frame_pattern`, `frames`, `min_confidence`) go to the
    reader of `aus`; `landmarks="mesh"` estimates 68 landmarks where the data has none
    (`FaceDataset.estimate_landmarks`); every other option goes to the dataset's loader.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    from segan.data.openface import OPENFACE_OPTIONS

    openface = {k: options.pop(k) for k in OPENFACE_OPTIONS if k in options}
    if isinstance(aus, str | Path):
        from segan.data.openface import OpenFaceAUs

        aus = OpenFaceAUs(aus, **openface)
    elif openface:
        raise DataError(
            f"{', '.join(openface)} {'is an option' if len(openface) == 1 else 'are options'} "
            f"of the OpenFace reader: give the OpenFace output too (aus=PATH, --aus in segan "
            f"prepare)"
        )
    landmarks = options.pop("landmarks", None)
    if landmarks not in (None, "mesh"):
        raise DataError(
            f"landmarks={landmarks!r}: the one way to estimate landmarks is 'mesh' (the Face "
            "Landmarker's mesh fitted to 68 iBUG points)"
        )
    dataset = DATASETS[name](root, split, resolution, aus, **options)
    if landmarks == "mesh":
        dataset.estimate_landmarks()
    return dataset
