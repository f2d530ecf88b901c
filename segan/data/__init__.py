"""The readers of real datasets (CelebAMaskHQ, AffectNet, RaFD, KDEF, FFHQ,
ImageFolderExpressions, the OpenFaceAUs reader; also by name through `open_dataset`), the records
they share (`FaceRecord`, `FaceDataset`) and prepared folders (`PreparedFaces`, `prepare`).

SynthFaces, the procedural data, lives in `segan.synth`; reading photos and cutting faces from
them in `segan.photos`.

The names below are imported on first use (module `__getattr__`): each loader pulls in torch,
OpenCV or MediaPipe, and `import segan.data` stays cheap for code that needs none of them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "AffectNet": "segan.data.affectnet",
    "CelebAMaskHQ": "segan.data.celebamask_hq",
    "DataError": "segan.data.records",
    "FFHQ": "segan.data.ffhq",
    "FaceDataset": "segan.data.records",
    "FaceRecord": "segan.data.records",
    "ImageFolderExpressions": "segan.data.folder",
    "KDEF": "segan.data.kdef",
    "OpenFaceAUs": "segan.data.openface",
    "PreparedFaces": "segan.data.cache",
    "RaFD": "segan.data.rafd",
    "open_dataset": "segan.data.catalog",
    "prepare": "segan.data.cache",
}

__all__ = [
    "FFHQ",
    "KDEF",
    "AffectNet",
    "CelebAMaskHQ",
    "DataError",
    "FaceDataset",
    "FaceRecord",
    "ImageFolderExpressions",
    "OpenFaceAUs",
    "PreparedFaces",
    "RaFD",
    "open_dataset",
    "prepare",
]

if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ imports on demand
    from segan.data.affectnet import AffectNet
    from segan.data.cache import PreparedFaces, prepare
    from segan.data.catalog import open_dataset
    from segan.data.celebamask_hq import CelebAMaskHQ
    from segan.data.ffhq import FFHQ
    from segan.data.folder import ImageFolderExpressions
    from segan.data.kdef import KDEF
    from segan.data.openface import OpenFaceAUs
    from segan.data.rafd import RaFD
    from segan.data.records import DataError, FaceDataset, FaceRecord


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use and cache the name in this module."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'segan.data' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
