"""The optional packages the judges need: imported on first use, or a clear error naming the
package and the fix (`pip install "segan[judges]"`)."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["JUDGES_EXTRA", "MissingPackageError", "require"]

JUDGES_EXTRA = 'pip install "segan[judges]"'


class MissingPackageError(ImportError):
    """A package a judge needs is not installed; the message names it and gives the fix."""


def require(module: str, package: str, needed_for: str) -> ModuleType:
    """Import `module` (installed by the distribution `package`), or say what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingPackageError(
            f"{needed_for} needs the package {package!r} (module {module!r}), which is not "
            f"installed here ({err}). Fix: {JUDGES_EXTRA}"
        ) from err
