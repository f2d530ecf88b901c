"""segan: facial expression editing with GANs, trained with Accelerate, shared on the Hub."""

from __future__ import annotations

__version__ = "0.1.0"


def load(path_or_repo_id, *, revision=None, device="cpu"):
    """Open a segan model folder or Hub repo as its own model class (see segan.models.hub)."""
    from segan.models.hub import load as _load

    return _load(path_or_repo_id, revision=revision, device=device)
