"""Fit the table that turns MediaPipe's 478-point mesh into the 68 iBUG points, and score it.

FFHQ was aligned from dlib's 68 iBUG points, so segan's 68 points are fitted to dlib's: on
real faces both landmarkers read, each iBUG point is the weighted sum of the K mesh vertices
nearest it on average (non-negative weights summing to 1, least squares in inter-ocular
units), fitted on one part of the faces and scored on the rest. Prints the errors (percent of
the inter-ocular distance, by region; eye-centre and mouth-corner error in pixels) and the
table as Python, and writes ibug_from_mesh.json + .md. The table goes into `segan/photos/ibug.py`.

Usage: python benchmarks/ibug_from_mesh.py FOLDER [--fit-below 800] [--k 4]
(FOLDER: face photos named by integer id, e.g. FFHQ's 256 px folder; ids below --fit-below fit
the table, the others score it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from report import RESULTS, write_results
from scipy.optimize import nnls

from segan.photos.landmarks import MeshLandmarker

REGIONS = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}


def collect(folder: Path, cache: Path) -> dict[str, np.ndarray]:
    """dlib's 68 points and the mesh of every face both find (cached in `cache`)."""
    if cache.is_file():
        return dict(np.load(cache))
    import dlib

    from segan.assets import locate

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(locate("dlib_shape68")))
    landmarker = MeshLandmarker.from_file(max_faces=1)
    ids, marks, meshes = [], [], []
    for path in sorted(folder.glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        faces = landmarker.detect(rgb)
        rects = detector(rgb, 0)
        if not faces or not len(rects):
            continue
        shape = predictor(rgb, max(rects, key=lambda r: r.area()))
        ids.append(int(path.stem))
        marks.append([(shape.part(k).x, shape.part(k).y) for k in range(68)])
        meshes.append(faces[0].xy)
    out = {"ids": np.array(ids), "dlib": np.array(marks, float), "mesh": np.array(meshes)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def inter_ocular(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, 36:42].mean(1) - points[:, 42:48].mean(1), axis=1)


def fit(dlib68: np.ndarray, mesh: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(68, k) vertex ids and (68, k) non-negative weights summing to 1: each point stays inside
    its vertices' hull, so a face the fit never saw cannot throw it far."""
    iod = inter_ocular(dlib68)
    mean_err = (
        np.linalg.norm(mesh[:, None] - dlib68[:, :, None], axis=-1) / iod[:, None, None]
    ).mean(0)
    vertices = np.argsort(mean_err, axis=1)[:, :k]
    weights = np.zeros((68, k))
    for p in range(68):
        a = (mesh[:, vertices[p]] / iod[:, None, None]).transpose(0, 2, 1).reshape(-1, k)
        b = (dlib68[:, p] / iod[:, None]).reshape(-1)
        big = 1e3  # a heavy row holds the weights' sum at 1
        w, _ = nnls(np.vstack([a, big * np.ones((1, k))]), np.r_[b, big])
        weights[p] = w / w.sum()
    return vertices, weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--fit-below", type=int, default=800)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--cache", type=Path, default=Path("runs/ibug/pairs.npz"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    data = collect(args.folder, args.cache)
    ids, dlib68, mesh = data["ids"], data["dlib"], data["mesh"]
    train = ids < args.fit_below
    vertices, weights = fit(dlib68[train], mesh[train], args.k)
    ours = (mesh[~train][:, vertices] * weights[None, :, :, None]).sum(2)
    truth = dlib68[~train]
    err = np.linalg.norm(ours - truth, axis=-1) / inter_ocular(truth)[:, None] * 100
    eyes = np.linalg.norm(
        np.stack([ours[:, 36:42].mean(1), ours[:, 42:48].mean(1)], 1)
        - np.stack([truth[:, 36:42].mean(1), truth[:, 42:48].mean(1)], 1),
        axis=-1,
    )
    mouth = np.linalg.norm(ours[:, [48, 54]] - truth[:, [48, 54]], axis=-1)
    result = {
        "faces": {"fit": int(train.sum()), "scored": int((~train).sum())},
        "k": args.k,
        "nme_percent_iod": {n: float(err[:, list(r)].mean()) for n, r in REGIONS.items()},
        "nme_percent_iod_all": float(err.mean()),
        "eye_centre_px": {"median": float(np.median(eyes)), "p95": float(np.percentile(eyes, 95))},
        "mouth_corner_px": {
            "median": float(np.median(mouth)),
            "p95": float(np.percentile(mouth, 95)),
        },
        "image_side": int(Image.open(next(args.folder.glob("*.jpg"))).size[0]),
        "vertices": vertices.tolist(),
        "weights": np.round(weights, 4).tolist(),
    }
    lines = [
        f"# iBUG 68 from the MediaPipe mesh, scored against dlib on {result['faces']['scored']} "
        f"faces ({result['image_side']} px; fitted on {result['faces']['fit']})",
        "",
        "| region | error (% of inter-ocular distance) |",
        "|---|---|",
        *[f"| {n} | {v:.2f} |" for n, v in result["nme_percent_iod"].items()],
        f"| all 68 | {result['nme_percent_iod_all']:.2f} |",
        "",
        f"Eye centres: median {result['eye_centre_px']['median']:.2f} px, 95th percentile "
        f"{result['eye_centre_px']['p95']:.2f} px; mouth corners: median "
        f"{result['mouth_corner_px']['median']:.2f} px, 95th percentile "
        f"{result['mouth_corner_px']['p95']:.2f} px.",
    ]
    write_results(args.out, "ibug_from_mesh", result, "\n".join(lines))
    print("\n".join(lines))
    print("\nIBUG68_VERTICES = (")
    for p in range(68):
        pairs = ", ".join(f"({v}, {w:.4f})" for v, w in zip(vertices[p], weights[p], strict=True))
        print(f"    ({pairs}),  # {p}")
    print(")")


if __name__ == "__main__":
    main()
