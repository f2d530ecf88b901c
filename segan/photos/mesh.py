"""The MediaPipe face mesh (478 points) as segan's labels: part polygons and the blendshape names.

The mesh's vertex numbers are fixed by MediaPipe's canonical face model, so everything here is
a table over them. "Left" and "right" are the subject's own, as in segan's part names: the
subject's left eye (vertices 263..362) lies on the image's right in a frontal photo.

Part polygons are closed vertex loops taken from MediaPipe's contour connections (eyes, brows,
lips, face oval); the nose is the convex hull of its contour vertices. The 68 iBUG points are
given by `IBUG68_VERTICES` (see `segan.photos.ibug`).
"""

from __future__ import annotations

__all__ = [
    "BLENDSHAPES",
    "FACE_OVAL",
    "INNER_MOUTH",
    "IRIS_CENTRES",
    "LOWER_LIP",
    "L_BROW",
    "L_EYE",
    "NOSE",
    "NUM_VERTICES",
    "R_BROW",
    "R_EYE",
    "UPPER_LIP",
]

NUM_VERTICES = 478  # 468 face vertices and 10 iris vertices

# The face oval, clockwise in the image from the top of the forehead.
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# The eye openings (lid margins): the subject's left eye lies on the image's right.
L_EYE: tuple[int, ...] = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
)  # fmt: skip
R_EYE: tuple[int, ...] = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
)  # fmt: skip
# The brows: the lower edge outwards-in, then the upper edge back.
L_BROW: tuple[int, ...] = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
R_BROW: tuple[int, ...] = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
# The lips: the outer contour's upper (lower) arc from corner to corner, then the inner
# contour's upper (lower) arc back; the mouth opening is the inner contour.
UPPER_LIP: tuple[int, ...] = (
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 308, 415, 310, 311, 312, 13, 82, 81, 80,
    191, 78,
)  # fmt: skip
LOWER_LIP: tuple[int, ...] = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 308, 324, 318, 402, 317, 14, 87, 178, 88,
    95, 78,
)  # fmt: skip
INNER_MOUTH: tuple[int, ...] = (
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
)  # fmt: skip
# The nose's contour vertices (bridge from between the brows, the tip, the wings and the
# nostrils); its region is their convex hull.
NOSE: tuple[int, ...] = (
    168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 294, 278, 344, 440, 275, 45, 220,
    115, 48, 64,
)  # fmt: skip
# The iris centres (subject's left, subject's right).
IRIS_CENTRES: tuple[int, int] = (473, 468)

# The Face Landmarker's 52 blendshape scores, in the order the model outputs them.
BLENDSHAPES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
