"""The `segan` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from segan.labels import PRESET_AU_INTENSITY

# name -> (help, add_arguments, run)
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _render_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=64, help="faces, a multiple of 8 (default 64)")
    p.add_argument("--out", default="sheet.png", help="output image (default sheet.png)")
    p.add_argument("--resolution", type=int, default=128, help="face size in pixels")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--seed", type=int, default=0, help="picks the identities")
    p.add_argument(
        "--intensity",
        type=float,
        default=PRESET_AU_INTENSITY,
        help=f"expression intensity 0..5 (default {PRESET_AU_INTENSITY:g})",
    )
    p.add_argument("--no-masks", action="store_true", help="leave out the class-mask rows")


def _render(args: argparse.Namespace) -> int:
    from segan.synth.dataset import contact_sheet

    image = contact_sheet(
        args.n, args.resolution, args.split, args.seed, args.intensity, not args.no_masks
    )
    image.save(args.out)
    print(f"wrote {args.out}: {args.n} SynthFaces faces at {args.resolution} px")
    return 0


def _convert_args(p: argparse.ArgumentParser) -> None:
    from segan.models.convert import known_kinds

    p.add_argument(
        "--from",
        dest="kind",
        required=True,
        choices=known_kinds(),
        help="checkpoint kind: %(choices)s",
    )
    p.add_argument("checkpoint", help="the published checkpoint (.pth / .ckpt)")
    p.add_argument("out_dir", help="the segan model folder to write")
    p.add_argument("--resolution", type=int, help="image size the model was trained at")
    p.add_argument("--labels", help="comma-separated condition names, in the checkpoint's order")


def _convert(args: argparse.Namespace) -> int:
    from segan.models.convert import ConvertOptions, convert, label_order

    labels = tuple(x.strip() for x in args.labels.split(",")) if args.labels else None
    options = ConvertOptions(resolution=args.resolution, labels=labels)
    model = convert(args.kind, args.checkpoint, args.out_dir, options)
    print(
        f"wrote {args.out_dir}: {model.architecture} ({model.num_parameters():,} parameters) "
        f"from {args.kind} checkpoint {args.checkpoint}"
    )
    order = label_order(args.kind, model, options)
    names = model.config.get("labels") or model.config.get("aus")
    if names:
        print(f"conditions: {', '.join(map(str, names))} ({order or 'the checkpoint order'})")
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    from segan.train.__main__ import add_arguments

    add_arguments(p)


def _train(args: argparse.Namespace) -> int:
    from segan.train.__main__ import run

    return run(args)


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a training run folder (its model/ is pushed) or a model folder")
    p.add_argument("target", help="a Hub repo id (user/name) or a local folder")
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="write into this local Hugging Face cache under the repo id instead of uploading "
        "(segan.load(REPO_ID) then works offline with HF_HUB_CACHE=DIR)",
    )


def _push(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segan.train.publish import push

    folder = Path(args.run_dir)
    folder = folder / "model" if (folder / "model").is_dir() else folder
    where = push(folder, args.target, cache_dir=args.cache)
    print(f"pushed {folder} to {where}")
    return 0


def _prepare_args(p: argparse.ArgumentParser) -> None:
    from segan.data.catalog import DATASETS

    p.add_argument("dataset", choices=list(DATASETS), help="which publisher's layout ROOT has")
    p.add_argument("root", help="the dataset as downloaded (or your expression folders)")
    p.add_argument("out", help="the prepared folder to write (must not exist)")
    p.add_argument("--split", default="train", help="train, val, test or all (default train)")
    p.add_argument("--resolution", type=int, default=128, help="crop size in pixels (128)")
    p.add_argument("--aus", metavar="OPENFACE", help="OpenFace AU CSV or folder to join by name")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (default 0)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a loader option, e.g. crop=detect, csv_file=my.csv, or for --aus "
        "frame_pattern={video}/frame_{frame:05d}.jpg (repeatable)",
    )


def _option_value(text: str) -> object:
    """An option's value: YAML scalars and lists (1.4, true, [0.1, 1.0]); text YAML cannot read
    or reads as a mapping ("{video}/frame_{frame:05d}.jpg") stays the text as typed."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict) else value


def _parse_options(items: Sequence[str]) -> dict:
    """--option KEY=VALUE items as a dict; a repeated key is an error."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--option {item!r} must look like KEY=VALUE")
        if key in options:
            raise ValueError(f"--option {key} is given twice")
        options[key] = _option_value(value)
    return options


def _prepare(args: argparse.Namespace) -> int:
    from segan.data.cache import prepare
    from segan.data.catalog import open_dataset

    options = _parse_options(args.option)
    dataset = open_dataset(
        args.dataset, args.root, args.split, args.resolution, args.aus, **options
    )
    print(f"{dataset.name} {args.split}: {len(dataset)} pictures; {dataset.report()}")
    meta = prepare(
        dataset,
        args.out,
        args.workers,
        {"split": args.split, "aus": args.aus, **options},
        progress=sys.stderr.isatty(),
    )
    print(
        f"wrote {args.out}: {meta['count']} faces at {meta['resolution']} px with "
        f"{', '.join(meta['keys'])} in {meta['seconds']:.1f} s; {meta['skipped_summary']}"
    )
    return 0


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model folder or Hub repo id (an editor or a parser)")
    p.add_argument(
        "dataset",
        nargs="?",
        default="synthfaces",
        help="synthfaces (default: held-out identities) or ffhq/affectnet/rafd/kdef/celebamaskhq/"
        "folder; an editor on real faces is edited through the app's pipeline and scored by the "
        "judges (expression, identity) unless --classifier/--regressor/--parser are given",
    )
    p.add_argument("--path", help="the folder `segan prepare` wrote (real datasets)")
    p.add_argument("--n", type=int, default=128, help="faces to edit or parse (default 128)")
    p.add_argument("--resolution", type=int, help="image size (default: the model's)")
    p.add_argument(
        "--classifier",
        help="expression-classifier model for expression accuracy (default: bundled:classifier)",
    )
    p.add_argument(
        "--regressor", help="au-regressor model for AU error (default: bundled:regressor)"
    )
    p.add_argument("--parser", help="parser model for leakage on real data")
    p.add_argument(
        "--photos",
        help="also edit the registry photos in this folder (benchmarks/real_photos.py writes it)",
    )
    p.add_argument("--inception-weights", help="torch-fidelity Inception weights file (offline)")
    p.add_argument("--fid-extractor", default="inception-v3-compat", help=argparse.SUPPRESS)
    p.add_argument("--no-fid", action="store_true", help="skip FID/KID")
    p.add_argument("--out", default="eval", help="folder for the JSON and markdown (eval/)")
    p.add_argument("--batch-size", type=int, default=32)


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segan.evaluate import DEFAULT_EVALUATORS, EvalData, evaluate, markdown, write_results
    from segan.models.hub import load

    model = load(args.model)
    fid = {"feature_extractor": args.fid_extractor, "weights_path": args.inception_weights}
    judged = args.dataset != "synthfaces" and not (args.classifier or args.regressor or args.parser)
    if args.photos and not (model.role == "editor" and judged):
        raise ValueError("--photos goes with an editor on a real dataset scored by the judges")
    if model.role == "editor" and judged:
        # real faces: edited through the app's pipeline and scored by the judges
        from segan.evaluate_real import Judges, evaluate_photos, evaluate_real
        from segan.pipeline import EditPipeline

        if args.path is None:
            raise ValueError(f"{args.dataset}: give the folder `segan prepare` wrote (--path)")
        pipeline = EditPipeline.load(args.model, parser=None, name=str(args.model))
        judges = Judges.load()
        result = evaluate_real(pipeline, args.path, args.n, judges, fid=fid, skip_fid=args.no_fid)
        if args.photos:
            result["photos"] = evaluate_photos(pipeline, args.photos, judges)
        name = Path(args.model).name or str(args.model).replace("/", "--")
        json_path, md_path = write_results(result, args.out, name)
        print(markdown(result))
        print(f"wrote {json_path} and {md_path}")
        return 0
    resolution = args.resolution or getattr(model, "resolution", None)
    resolution = resolution or getattr(model, "image_size", None) or 128
    data = EvalData(args.dataset, args.path, args.n, int(resolution), args.batch_size)
    extra = {}
    if model.role == "editor":
        classifier = args.classifier or DEFAULT_EVALUATORS["classifier"]
        regressor = args.regressor or DEFAULT_EVALUATORS["regressor"]
        defaults = [s for s in (classifier, regressor) if s in DEFAULT_EVALUATORS.values()]
        if defaults:
            print(
                f"evaluators: {classifier} (expression accuracy), {regressor} (AU error); "
                "the bundled ones are trained on SynthFaces (--classifier/--regressor to choose)"
            )
        extra = {
            "classifier": load(classifier),
            "regressor": load(regressor),
            "parser": load(args.parser) if args.parser else None,
            "fid": fid,
            "skip_fid": args.no_fid,
        }
    name = Path(args.model).name or str(args.model).replace("/", "--")
    result = evaluate(model, data, name=str(args.model), **extra)
    json_path, md_path = write_results(result, args.out, name)
    print(markdown(result))
    print(f"wrote {json_path} and {md_path}")
    return 0


def _edit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos", nargs="+", help="picture files with a face each")
    p.add_argument(
        "--model",
        help="bundled:NAME, a Hub repo id or a folder (default: the first of the app's list, "
        "a model trained on real faces when one is bundled)",
    )
    p.add_argument("--expression", help="target expression (neutral, happy, sad, ...)")
    p.add_argument(
        "--intensity", type=float, default=1.0, help="0 (unchanged) .. 1 (the edit) .. 1.25"
    )
    p.add_argument("--aus", help="target AUs for AU models, e.g. 6=2.5,12=4 (0..5 each)")
    p.add_argument("--box", help="face box by hand: x,y,w,h in pixels (skips detection)")
    p.add_argument(
        "--whole", action="store_true", help="the pictures are face crops already (no detection)"
    )
    p.add_argument("--parser", default="auto", help="parser for part maps ('none' to skip)")
    p.add_argument("--au-estimator", default="auto", help="AU estimator ('none' to skip)")
    p.add_argument("--explain", action="store_true", help="also save part maps, masks, attention")
    p.add_argument("--out", default="edited", help="output folder (default edited/)")


def _edit(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from PIL import Image

    from segan.photos.faces import NoFaceError, parse_box
    from segan.photos.images import ImageReadError
    from segan.pipeline import EditPipeline

    try:
        box = parse_box(args.box)
    except ValueError:
        raise ValueError(f"--box must be x,y,w,h in pixels, got {args.box!r}") from None
    aus = None
    if args.aus:
        aus = {}
        for item in args.aus.split(","):
            key, sep, value = item.partition("=")
            try:
                aus[key.strip()] = float(value) if sep else None
            except ValueError:
                aus[key.strip()] = None
            if aus[key.strip()] is None:
                raise ValueError(f"--aus items are AU=number such as 12=3.5, got {item!r}")
    if args.model is None:
        from segan.studio import bundled_editors

        editors = bundled_editors()
        if not editors:
            raise ValueError("no bundled editor is installed; give --model")
        args.model = editors[0]
        print(f"model: {args.model} (give --model to choose)", file=sys.stderr)
    none = {"none": None}
    pipe = EditPipeline.load(
        args.model,
        none.get(args.parser, args.parser),
        none.get(args.au_estimator, args.au_estimator),
    )
    if aus is None and args.expression is None:
        raise ValueError("give --expression (or --aus for AU models)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    written: set[Path] = set()
    for photo in args.photos:
        try:
            result = pipe.edit(photo, args.expression, args.intensity, aus, box, whole=args.whole)
        except (ImageReadError, NoFaceError) as err:
            print(f"skipped {photo}: {err}", file=sys.stderr)
            failed += 1
            continue
        target = out / f"{Path(photo).stem}_{args.expression or 'aus'}.png"
        while target in written:  # two inputs with the same name (from different folders)
            target = target.with_stem(target.stem + "+")
        written.add(target)
        result.save(target)
        line = f"{photo} -> {target} (face {result.face}, {result.seconds['total']:.2f} s)"
        if args.explain:
            for name, picture in result.explain.items():
                slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
                Image.fromarray(picture).save(out / f"{Path(photo).stem}_{slug}.png")
        print(line)
    return 1 if failed == len(args.photos) else 0


def _annotate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", help="a folder of face pictures (e.g. FFHQ's aligned faces)")
    p.add_argument("out", help="the annotations file to write (.npz)")
    p.add_argument("--landmarker", help="face_landmarker.task (default: found by segan fetch)")


def _annotate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from segan.photos.annotate import annotate_pictures
    from segan.photos.images import IMAGE_SUFFIXES
    from segan.photos.landmarks import MeshLandmarker

    folder = Path(args.folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"picture folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no pictures ({', '.join(sorted(IMAGE_SUFFIXES))})")
    landmarker = MeshLandmarker.from_file(args.landmarker, max_faces=1)
    bar = None
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), desc="annotate", unit="img")
    labels = annotate_pictures(paths, landmarker.detect, bar.update if bar else None)
    if bar is not None:
        bar.close()
    labels.meta.update(
        {"folder": str(folder), "landmarker": landmarker.model_path.name, **labels.summary()}
    )
    out = labels.save(args.out)
    print(json.dumps(labels.summary()))
    print(
        f"wrote {out}: {len(labels)} pictures, {int(labels.found.sum())} faces found, "
        f"{labels.meta['seconds']:.1f} s"
    )
    return 0


def _fetch_args(p: argparse.ArgumentParser) -> None:
    from segan.assets import ASSETS

    p.add_argument("names", nargs="*", metavar="NAME", help=f"model files: {', '.join(ASSETS)}")
    p.add_argument("--all", action="store_true", help="every model file")


def _fetch(args: argparse.Namespace) -> int:
    from segan.assets import ASSETS, AssetUnavailableError, fetch

    names = list(ASSETS) if args.all else args.names
    if not names:
        for asset in ASSETS.values():
            print(f"{asset.name}: {asset.description}; {asset.publisher}; {asset.licence}")
        return 0
    failed = 0
    for name in names:
        try:
            path, how = fetch(name)
        except AssetUnavailableError as err:
            print(f"segan fetch: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {path} ({how})")
    return 1 if failed else 0


COMMANDS: dict[str, Command] = {
    "render": (
        "render a SynthFaces contact sheet (identities x expressions)",
        _render_args,
        _render,
    ),
    "convert": ("import a published checkpoint as a segan model folder", _convert_args, _convert),
    "prepare": (
        "cache a real dataset's aligned face crops and labels for training",
        _prepare_args,
        _prepare,
    ),
    "eval": ("score a model on held-out faces (JSON + markdown)", _eval_args, _eval),
    "train": ("train a method from a config (Accelerate; see segan.train)", _train_args, _train),
    "push": ("publish a run's model folder to the Hub or a local folder", _push_args, _push),
    "edit": ("edit the expression of the face in photos", _edit_args, _edit),
    "annotate": (
        "label face pictures with landmarks, action units, expressions and part masks",
        _annotate_args,
        _annotate,
    ),
    "fetch": (
        "find or download the third-party model files (landmarks, detector, judges)",
        _fetch_args,
        _fetch,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segan", description="Facial expression editing with GANs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as err:
        print(f"segan {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
