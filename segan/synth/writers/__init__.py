"""Save SynthFaces sets to disk in the public datasets' own layouts, with a ground-truth manifest.

The loaders for CelebAMask-HQ, AffectNet, RaFD, KDEF and OpenFace AU CSVs must be tested on
files in the publishers' exact formats, which the project cannot download. Each writer here
renders SynthFaces faces (test identity range by default) and lays them out the way the real
dataset does: file and folder names, CSV headers, value encodings. It returns a manifest, one
dict per written sample, holding what was written (paths relative to `root` with forward
slashes, identity, the 17 AU intensities, the expression name and the dataset's own fields) so
a loader's output can be checked against the truth.

Choices where the real layout could not be reproduced (documented per writer): RaFD head
turns, gaze directions and KDEF camera angles reuse the frontal render (only the naming
differs); AffectNet "Non-Face" rows show a background crop with face box and landmarks -1.
"""

from segan.synth.writers.affectnet import (
    AFFECTNET_HEADER,
    write_affectnet,
    write_affectnet_repackaged,
)
from segan.synth.writers.celebamask_hq import (
    CELEBA_ATTRIBUTES,
    CELEBA_SPLITS,
    CELEBAMASK_PARTS,
    write_celebamask_hq,
)
from segan.synth.writers.common import TEST_IDENTITIES
from segan.synth.writers.openface import (
    OPENFACE_FRAME_PATTERN,
    OPENFACE_KINDS,
    write_openface,
    write_openface_for_manifest,
    write_openface_videos,
)
from segan.synth.writers.posed import KDEF_ANGLES, RAFD_ANGLES, RAFD_GAZES, write_kdef, write_rafd

__all__ = [
    "AFFECTNET_HEADER",
    "CELEBAMASK_PARTS",
    "CELEBA_ATTRIBUTES",
    "CELEBA_SPLITS",
    "KDEF_ANGLES",
    "OPENFACE_FRAME_PATTERN",
    "OPENFACE_KINDS",
    "RAFD_ANGLES",
    "RAFD_GAZES",
    "TEST_IDENTITIES",
    "write_affectnet",
    "write_affectnet_repackaged",
    "write_celebamask_hq",
    "write_kdef",
    "write_openface",
    "write_openface_for_manifest",
    "write_openface_videos",
    "write_rafd",
]
