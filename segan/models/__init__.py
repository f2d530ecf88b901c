"""segan's networks: face parsers, expression editors, discriminators and evaluators.

Importing this package registers every architecture (for `segan.load`) and every checkpoint
converter (for `segan convert`).
"""

# Every architecture and converter registers itself on import.
from segan.models import (  # noqa: F401
    bisenet,
    boxhgan,
    discriminators,
    evaluators,
    finegrained,
    ganimation,
    hierarchical,
    sargan,
    seghgan,
    stargan,
    unet,
)
from segan.models.base import REGISTRY, Editor, EditOutput, Parser, SeganModel
from segan.models.convert import CONVERTERS, ConvertOptions, convert
from segan.models.hub import load

__all__ = [
    "CONVERTERS",
    "REGISTRY",
    "ConvertOptions",
    "EditOutput",
    "Editor",
    "Parser",
    "SeganModel",
    "convert",
    "load",
]
