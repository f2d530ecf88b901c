"""The real-face table of `benchmarks/quality.py --real PREPARED`: every bundled editor edits
held-out FFHQ faces through `EditPipeline`, as the app edits a photo, and then the registry
photos `benchmarks/real_photos.py` gathers, scored by `segan.evaluate_real` with the judges
nobody here trained; it writes quality_real.json + quality_real.md and, with `--readme`, puts
the tables into docs/results.md right after the SynthFaces tables and their summary into
README.md."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bundled_models import (
    CONTROL,
    JOINT,
    ParsedAt,
    fmt,
    open_control,
    open_model,
    parser_claims,
    parser_setup,
    replace_between,
    rewrite_between,
    started_from,
    trained_size,
)
from report import write_results

from segan import bundled
from segan.data.ffhq import HELD_OUT
from segan.evaluate import (
    EvalData,
    evaluate_parser,
)
from segan.evaluate_real import CLOSE_IDENTITY, Judges, evaluate_photos, evaluate_real
from segan.labels import EXPRESSIONS
from segan.models.base import Parser
from segan.photos.parts import MESH_PARTS
from segan.studio import editor_order, faces_of

TABLE_START, TABLE_END = "<!-- quality-table:start -->", "<!-- quality-table:end -->"
REAL_START, REAL_END = "<!-- real-face-table:start -->", "<!-- real-face-table:end -->"
SUMMARY_START, SUMMARY_END = "<!-- synthfaces-summary:start -->", "<!-- synthfaces-summary:end -->"
REAL_SUMMARY_START = "<!-- real-face-summary:start -->"
REAL_SUMMARY_END = "<!-- real-face-summary:end -->"
RESULTS_DOC = Path("docs/results.md")  # every table in full
FRONT_PAGE = Path("README.md")  # one summary table per domain
REAL_PHOTOS = Path("runs/real_photos")
SHOWN_PHOTOS = {"scikit-image/astronaut.png": "astronaut", "matplotlib/grace_hopper.jpg": "Hopper"}


def real_scores(
    names: list[str],
    folders: dict[str, str],
    prepared: str,
    faces: int,
    photos: Path | None,
    fid: dict[str, Any],
    skip_fid: bool,
) -> dict[str, Any]:
    """Every editor in `names` on `faces` held-out real faces of `prepared` and on the registry
    photos in `photos`, edited through `EditPipeline` and scored by the judges."""
    from segan.pipeline import EditPipeline

    judges = Judges.load()
    have = set(bundled.available()) | set(folders)
    estimator = open_model("regressor", folders)[0] if "regressor" in have else None
    results: dict[str, Any] = {
        "faces": faces,
        "prepared": prepared,
        "photos": str(photos) if photos else None,
        "date": time.strftime("%Y-%m-%d"),
        "judges": judges.used,
        "judges_missing": judges.missing,
        "editors": {},
    }
    if photos is None:
        results["photos_unavailable"] = {
            "reason": f"no registry photos at {REAL_PHOTOS}",
            "fix": "python benchmarks/real_photos.py",
        }
    results["parsers"] = {}
    data = EvalData("ffhq", prepared, 10**6, 128, 50)

    def score_parser(label: str, parser, size: int, **facts) -> None:
        """A parser's mIoU on the held-out faces' mesh masks, the faces cut to `size`."""
        r = evaluate_parser(ParsedAt(parser.eval(), size), data)["metrics"]
        setup = parser_setup(parser)
        results["parsers"][label] = {"size": size, "setup": setup, **facts, **r}
        print(f"{label}: mIoU on real faces {r['miou']:.1f}", flush=True)

    for name in names:
        model, steps = open_model(name, folders)
        if model.role == "parser":
            score_parser(name, model, trained_size(name, folders), steps=steps)
        if model.role == "editor" and isinstance(getattr(model, "parser", None), Parser):
            # a seghgan: its joint parser, and the parser trained alone beside it (the control)
            size, origin = trained_size(name, folders), started_from(name)
            score_parser(f"{name}{JOINT}", model.parser, size, steps=steps, started_from=origin)
            control = open_control(origin, steps, folders) if origin else None
            if control is not None:
                score_parser(f"{origin}{CONTROL}", control[0], size, steps=control[1])
        if model.role != "editor":
            continue
        # the app's pipeline: no parser (it only draws part maps), the AU estimator for the
        # fine-grained model's source AUs
        pipeline = EditPipeline(model, None, estimator, name=name)
        r = evaluate_real(pipeline, prepared, faces, judges, fid=fid, skip_fid=skip_fid)
        if photos is not None:
            r["photos"] = evaluate_photos(pipeline, photos, judges, shown=list(SHOWN_PHOTOS))
        results["editors"][name] = {"steps": steps, **r}
        m = r["metrics"]
        print(
            f"{name}: judged {fmt(m.get('judged_accuracy'))}% (unedited "
            f"{fmt(m.get('unedited_accuracy'))}%), identity {fmt(m.get('identity_distance'), 3)}, "
            f"{_seconds(r):.0f} s",
            flush=True,
        )
    return results


# The bars the editor recommended for photos must clear on held-out faces: (metric, what it
# says, threshold, whether higher is better)
REAL_BARS = (
    ("neutral_to_happy", "neutral -> happy edits read as happy", 80.0, True),
    ("happy_to_not_happy", "happy -> neutral edits read as not happy", 70.0, True),
    ("surprise", "surprise edits read as surprise", 60.0, True),
    ("identity_close", f"edits within {CLOSE_IDENTITY} of the input's identity", 95.0, True),
    ("leakage", "leakage outside the regions the expression moves (grey levels)", 2.0, False),
)


def _metric(r: dict[str, Any], key: str) -> float | None:
    m = r["metrics"]
    return m.get("judged_accuracy_per_target", {}).get(key) if key == "surprise" else m.get(key)


def _bar_cells(r: dict[str, Any]) -> str:
    """An editor's figures for REAL_BARS, in their order, as table cells."""
    return " | ".join(fmt(_metric(r, key), 2 if key == "leakage" else 1) for key, *_ in REAL_BARS)


def real_claims(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The bars of the editor the app recommends for photos (the first real-face editor in
    the app's order) and the first paper's claims among editors trained on real faces:
    seghgan's leakage and identity distance below stargan's and boxhgan's, and its jointly
    trained parser's mIoU not below the parser trained alone."""
    out: list[dict[str, Any]] = []

    def claim(text: str, figures: str, ok: bool | None) -> None:
        verdict = "not measured" if ok is None else ("holds" if ok else "does not hold")
        out.append({"claim": text, "figures": figures, "verdict": verdict})

    real = {
        name: r for name, r in results["editors"].items() if faces_of(r.get("trained_on")) == "real"
    }
    if not real:
        claim(
            "the recommended real-face editor clears its bars",
            "no editor trained on real faces",
            None,
        )
        return out
    best = min(
        real, key=lambda n: editor_order(real[n]["trained_on"], real[n]["editor_resolution"], n)
    )
    for key, text, bar, higher in REAL_BARS:
        value = _metric(real[best], key)
        sign = ">=" if higher else "<="
        ok = None if value is None else (value >= bar if higher else value <= bar)
        claim(f"{best}: {text} {sign} {bar:g}", fmt(value, 2), ok)
    by_arch: dict[str, list[str]] = {}
    for name, r in real.items():
        by_arch.setdefault(r.get("architecture", ""), []).append(name)
    for seg in by_arch.get("seghgan", []):
        for base in by_arch.get("stargan", []) + by_arch.get("boxhgan", []):
            for key, what in (("leakage", "leakage"), ("identity_distance", "identity distance")):
                a, b = real[seg]["metrics"].get(key), real[base]["metrics"].get(key)
                text = f"{seg} {what} lower than {base}'s (real faces)"
                if a is None or b is None:
                    claim(text, "-", None)
                else:
                    claim(text, f"{a:.3g} vs {b:.3g}", a < b)
    parser_claims(results.get("parsers", {}), claim)
    return out


def _seconds(r: dict[str, Any]) -> float:
    """An editor's time on the real faces and the registry photos."""
    return r.get("seconds", 0.0) + r.get("photos", {}).get("seconds", 0.0)


def real_markdown(results: dict[str, Any]) -> str:
    """The real-face results as markdown tables."""
    editors = results["editors"]
    first = next(iter(editors.values()), {})
    n = results["faces"]
    where = f"{first.get('dataset', '?')} ({first.get('split')} split)"
    if first.get("dataset") == "ffhq" and first.get("split") == "test":
        where = f"held-out FFHQ faces (ids {HELD_OUT.start}-{HELD_OUT.stop - 1}"
    lines = [
        f"The editors on real faces: {n} {where}, "
        f"{first.get('resolution', 128)} px), each edited as the app edits a photo (the face "
        "found, cropped at the model's resolution, the change pasted back) to the 7 other "
        "expressions and scored by models nobody here trained. Judged: fer's expression "
        "classifier reads the edited photo as the target; unedited: it reads the input so (what "
        "an editor that does nothing scores); changed: its reading of the edit differs from "
        "the input's; identity distance: dlib's descriptor distance between input and edit "
        "(the same person below 0.6); leakage and change inside: mean grey-level change "
        "outside and inside the mesh regions the two expressions move; checkerboard: the "
        "period-2 dot pattern in the change the model painted, in grey levels (colour "
        "speckles; `segan.metrics.checkerboard`).",
        "",
        "| model | steps | faces edited | edits | judged % | unedited % | changed % | identity "
        "distance | same person % | leakage | change inside | outside share % | checkerboard | "
        "FID | KID x1000 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in editors.items():
        m = r["metrics"]
        lines.append(
            f"| {name} | {r.get('steps') or '-'} | {r['faces_edited']} of {r['n_faces']} | "
            f"{r['n_edits']} | {fmt(m.get('judged_accuracy'))} | "
            f"{fmt(m.get('unedited_accuracy'))} | {fmt(m.get('reading_changed'))} | "
            f"{fmt(m.get('identity_distance'), 3)} | {fmt(m.get('same_person'))} | "
            f"{fmt(m.get('leakage'), 2)} | {fmt(m.get('change_inside'), 2)} | "
            f"{fmt(m.get('outside_share'))} | {fmt(m.get('checkerboard'), 2)} | "
            f"{fmt(m.get('fid'), 2)} | "
            f"{fmt(m.get('kid_x1000'), 2)} |"
        )
    lines += [
        "",
        "The edits a photo editor is asked for most (%; each face's own expression is its "
        "label): neutral faces made happy and read as happy; happy faces made neutral and read "
        "as anything but happy; surprise edits read as surprise; edits whose identity distance "
        f"is below {CLOSE_IDENTITY} (the person plainly kept); and null edits, each face "
        "edited towards what it already shows (its own AUs or expression), whose identity "
        "distance is below the same bar (what the generator's repainting alone keeps):",
        "",
        "| model | neutral -> happy | happy -> not happy | surprise | identity < "
        f"{CLOSE_IDENTITY} | leakage | null edits < {CLOSE_IDENTITY} |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {_bar_cells(r)} | {fmt(_metric(r, 'null_identity_close'))} |"
        for name, r in editors.items()
    ]
    judged = [e for e in EXPRESSIONS if e != "contempt"]
    lines += [
        "",
        "Judged accuracy per target, edited / unedited (%; the judge has no contempt class: "
        f"contempt edits, {first.get('unjudged_contempt', 0)} per editor, are not judged):",
        "",
        "| model | " + " | ".join(judged) + " |",
        "|---|" + "---|" * len(judged),
    ]
    for name, r in editors.items():
        edited = r["metrics"].get("judged_accuracy_per_target", {})
        unedited = r["metrics"].get("unedited_accuracy_per_target", {})
        cells = [f"{fmt(edited.get(e))} / {fmt(unedited.get(e))}" for e in judged]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    photo_rows = {k: r["photos"] for k, r in editors.items() if "photos" in r}
    if photo_rows:
        p = next(iter(photo_rows.values()))
        shown = " | ".join(f"{label}: judged % / distance" for label in SHOWN_PHOTOS.values())
        lines += [
            "",
            f"Registry photos (`benchmarks/real_photos.py`; {p['photos']} photos, "
            f"{p['duplicates_left_out']} copies of another left out; the largest face of each "
            "edited to the 7 expressions other than its posed one, or the one the judge reads; "
            "both judges read the photo's part the crop covers; only the astronaut and Grace "
            "Hopper may be shown, the others count in the totals):",
            "",
            "| model | photos edited | edits | judge found no face | judged % | unedited % | "
            f"identity distance | same person % | {shown} |",
            "|---|---|---|---|---|---|---|---|" + "---|" * len(SHOWN_PHOTOS),
        ]
        for name, r in photo_rows.items():
            m = r["metrics"]
            cells = []
            for file in SHOWN_PHOTOS:
                own = r["per_photo"].get(file, {}).get("metrics", {})
                cells.append(
                    f"{fmt(own.get('judged_accuracy'))} / {fmt(own.get('identity_distance'), 3)}"
                )
            lines.append(
                f"| {name} | {r['photos_edited']} of {r['photos']} | {r['n_edits']} | "
                f"{r['unread']['expression']} | {fmt(m.get('judged_accuracy'))} | "
                f"{fmt(m.get('unedited_accuracy'))} | {fmt(m.get('identity_distance'), 3)} | "
                f"{fmt(m.get('same_person'))} | " + " | ".join(cells) + " |"
            )
    elif results.get("photos_unavailable"):
        why = results["photos_unavailable"]
        lines += ["", f"Registry photos: unavailable: {why['reason']} (fix: {why['fix']})."]
    if results.get("parsers"):
        parts = list(MESH_PARTS)
        lines += [
            "",
            "Parsers on the held-out FFHQ faces' mesh masks (IoU %, over the pixels and classes "
            "the mesh labels; `-ffhq`: trained on real faces, the others on SynthFaces only); "
            "outside the face oval, the % of pixels read as a part of the face (brows, eyes, "
            "nose, lips, mouth), and beside or below it, the % read as skin "
            "(`segan.partial_labels`):",
            "",
            "| parser | steps | faces cut to (px) | mIoU | part outside % | skin beside % | "
            + " | ".join(parts)
            + " |",
            "|---|---|---|---|---|---|" + "---|" * len(parts),
        ]
        for name, r in results["parsers"].items():
            cells = " | ".join(fmt(r["iou"].get(part)) for part in parts)
            lines.append(
                f"| {name} | {r.get('steps') or '-'} | {r.get('size') or '-'} | {fmt(r['miou'])} | "
                f"{fmt(r.get('part_outside'))} | {fmt(r.get('skin_outside'))} | {cells} |"
            )
    fid = next((r["unavailable"].get("fid_kid") for r in editors.values()), None)
    if fid:
        lines += ["", f"FID/KID: unavailable: {fid['reason']} (fix: {fid['fix']})."]
    for judge, why in results.get("judges_missing", {}).items():
        lines += ["", f"The {judge} judge: unavailable: {why['reason']} (fix: {why['fix']})."]
    lines += ["", "| claim | figures | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['figures']} | {c['verdict']} |" for c in real_claims(results)]
    seconds = sum(_seconds(r) for r in editors.values())
    lines += ["", f"Judges: {'; '.join(results['judges'].values()) or 'none'}."]
    lines += [f"{results['date']}, {seconds / 60:.0f} min on {os.cpu_count()} CPU cores."]
    return "\n".join(lines) + "\n"


def real_summary(results: dict[str, Any]) -> str:
    """The front page's real-face table: each editor's bars and the claims' verdicts."""
    editors = results["editors"]
    lines = [
        f"{results['faces']} held-out FFHQ faces, each edited to the 7 other expressions as the "
        "app edits a photo, judged by models nobody here trained (fer's expression classifier, "
        "dlib's face descriptor); full tables: [docs/results.md](docs/results.md).",
        "",
        "| model | trained on | px | judged % | neutral -> happy % | happy -> not happy % | "
        f"surprise % | identity < {CLOSE_IDENTITY} % | leakage |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in editors.items():
        lines.append(
            f"| {name} | {r.get('trained_on') or 'synthfaces'} | {r.get('editor_resolution', '-')} "
            f"| {fmt(r['metrics'].get('judged_accuracy'))} | {_bar_cells(r)} |"
        )
    parsers = results.get("parsers", {})
    if parsers:
        read = ", ".join(
            f"{name} {r['miou']:.2f}"
            + (f" ({r['part_outside']:.1f}% outside)" if "part_outside" in r else "")
            for name, r in parsers.items()
        )
        lines += [
            "",
            "Parsers, mIoU on the held-out faces' mesh masks (and the share of pixels outside "
            f"the face they read as a part of it): {read}.",
        ]
    lines += ["", "| claim | figures | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['figures']} | {c['verdict']} |" for c in real_claims(results)]
    return "\n".join(lines) + "\n"


def real_main(args: argparse.Namespace, names: list[str], folders: dict[str, str]) -> int:
    """The real-face table (`--real`): quality_real.json and .md, and with `--readme` its copy
    in docs/results.md and its summary in README.md."""
    photos = Path(args.photos) if args.photos else None
    if photos is not None and not (photos / "manifest.json").is_file():
        print(f"no registry photos at {photos}: python benchmarks/real_photos.py", flush=True)
        photos = None
    fid = {"weights_path": args.inception_weights} if args.inception_weights else {}
    results = real_scores(names, folders, args.real, args.faces, photos, fid, args.no_fid)
    out = Path(args.out)
    results = merged(out / "quality_real.json", results)
    table = real_markdown(results)
    write_results(out, "quality_real", results, table)
    print(table)
    if args.readme:
        publish_real(results)
    return 0


def publish_real(results: dict[str, Any]) -> None:
    """The real-face tables into docs/results.md and their summary into README.md."""
    doc = RESULTS_DOC.read_text() if RESULTS_DOC.is_file() else ""
    RESULTS_DOC.write_text(put_real_table(doc, real_markdown(results)))
    rewrite_between(FRONT_PAGE, REAL_SUMMARY_START, REAL_SUMMARY_END, real_summary(results))


def merged(previous: Path, results: dict[str, Any]) -> dict[str, Any]:
    """`results` with the models an earlier run of the same faces scored and this one did not
    (so one model can be scored again without the others)."""
    if not previous.is_file():
        return results
    old = json.loads(previous.read_text())
    if (old.get("prepared"), old.get("faces")) != (results["prepared"], results["faces"]):
        return results
    for key in ("editors", "parsers"):
        kept = {k: v for k, v in old.get(key, {}).items() if k not in results.get(key, {})}
        results[key] = {**kept, **results.get(key, {})}
    return results


def put_real_table(text: str, table: str) -> str:
    """docs/results.md text with the real-face tables between their markers, which go right
    after the SynthFaces tables' end marker when they are not there yet."""
    if REAL_START in text and REAL_END in text:
        return replace_between(text, REAL_START, REAL_END, table)
    if TABLE_END not in text:
        return replace_between(text, REAL_START, REAL_END, table)
    head, rest = text.split(TABLE_END, 1)
    return head + TABLE_END + f"\n\n{REAL_START}\n{table}{REAL_END}" + rest
