"""segan's face-editing app (Gradio 6; also the Hugging Face Space's entry point).

`python app.py` opens it on http://127.0.0.1:7860 with the bundled models, offline. This file
only lays out components and wires events; what an edit is, which models exist and what an
error says live in segan.studio and segan.pipeline (shared with `segan edit`).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported

import gradio as gr

from segan.labels import EXPRESSIONS
from segan.photos.faces import NoFaceError, parse_box
from segan.photos.images import ImageReadError, read_photo
from segan.pipeline import MAX_INTENSITY, MAX_PIXELS
from segan.studio import AU_SLIDERS, Studio, example_photos, limit_malloc_arenas

MAX_UPLOAD = "25mb"
# Gradio sizes a gallery's columns by its number of pictures (one picture spans the row and
# its box cuts it off): the pictures keep a size of their own, as many to a row as fit.
CSS = """
#explain .grid-container { grid-template-columns: repeat(auto-fill, 200px) !important; }
#comparison .grid-container { grid-template-columns: repeat(auto-fill, 320px) !important; }
"""
# What every launch of the app passes (app.main, the tests, the benchmarks).
LAUNCH = {"max_file_size": MAX_UPLOAD, "css": CSS}
FACE_MODES = ("find the face", "whole picture is the face")
READABLE = (ImageReadError, NoFaceError, ValueError, FileNotFoundError, KeyError, TypeError)


def photo_input(**kwargs) -> gr.Image:
    """A gr.Image that hands the event a decoded `Photo` (read once, EXIF applied, grayscale and
    alpha kept) and turns an unreadable upload (a text file, a broken or huge picture) into a
    readable message. Its preprocess is wrapped on the instance: a gr.Image subclass would make
    Gradio write a .pyi stub next to this file at import."""
    image = gr.Image(type="filepath", image_mode=None, **kwargs)  # the upload as sent
    plain = image.preprocess

    def preprocess(payload):
        if payload is None:
            return None
        name = getattr(payload, "orig_name", None) or "the upload"
        try:
            return read_photo(plain(payload), MAX_PIXELS)
        except ImageReadError as err:
            raise gr.Error(f"{name} cannot be used: {err.reason}") from None
        except gr.Error:
            raise
        except Exception:
            raise gr.Error(f"{name} is not a picture segan can read") from None

    image.preprocess = preprocess
    return image


def intensity_slider() -> gr.Slider:
    """The intensity control: a value typed outside 0..MAX_INTENSITY gets one message that
    names the control and its range."""
    slider = gr.Slider(0.0, MAX_INTENSITY, value=1.0, step=0.05, label="Intensity")
    plain = slider.preprocess

    def preprocess(payload):
        if isinstance(payload, int | float) and not 0.0 <= payload <= MAX_INTENSITY:
            raise gr.Error(f"intensity {payload:g} lies outside 0..{MAX_INTENSITY:g}")
        return plain(payload)

    slider.preprocess = preprocess
    return slider


def readable(fn: Callable) -> Callable:
    """Run `fn`; turn known failures into a gr.Error with their message (no stack trace)."""

    def run(*args):
        try:
            return fn(*args)
        except gr.Error:
            raise
        except READABLE as err:
            # a KeyError's str() quotes its message
            message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
            raise gr.Error(message) from None
        except Exception as err:
            traceback.print_exc()
            raise gr.Error(f"the edit failed unexpectedly ({type(err).__name__}: {err})") from None

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def build_demo(studio: Studio, examples: Sequence[str] = ()) -> gr.Blocks:
    """The app over `studio` (tests pass a Studio of tiny models)."""
    first = studio.load(studio.default())

    def controls_for(info):
        label = info.kind == "label"
        return (
            gr.update(visible=not label),  # AU sliders
            gr.update(visible=not label and info.has_au_estimator),  # transfer
            gr.update(choices=list(info.labels) if label else list(EXPRESSIONS)),
            info.live,
            info.describe(),
        )

    with gr.Blocks(title="segan: edit facial expressions") as demo:
        model_state = gr.State(first.spec)
        live_state = gr.State(first.live)
        gr.Markdown(
            "# segan: edit facial expressions\n"
            "Upload a photo (or use the webcam), pick a model and an expression. The face is "
            "found, cropped, edited and pasted back into the full photo."
        )
        with gr.Row():
            model_choice = gr.Dropdown(
                studio.choices(),
                value=first.spec,
                label="Model",
                scale=2,
                interactive=True,
                allow_custom_value=True,  # a Hub id or folder loaded by a session joins the list
            )
            model_path = gr.Textbox(
                label="…or a Hub repo id / local model folder",
                placeholder="user/segan-stargan or ./runs/x/model",
                scale=3,
            )
            load_button = gr.Button("Load", scale=1)
        model_status = gr.Markdown(first.describe())
        with gr.Tab("Edit"):
            with gr.Row():
                with gr.Column():
                    photo = photo_input(
                        label="Photo",
                        sources=["upload", "webcam", "clipboard"],
                        height=360,
                    )
                    face_mode = gr.Radio(list(FACE_MODES), value=FACE_MODES[0], label="Face")
                    face_box = gr.Textbox(
                        label="Face box x, y, w, h in pixels (blank: found automatically)",
                        placeholder="e.g. 120, 80, 300, 300",
                    )
                    expression = gr.Radio(list(first.labels), value="happy", label="Expression")
                    intensity = intensity_slider()
                    with gr.Accordion(
                        "Action units (0-5)", open=True, visible=first.kind != "label"
                    ) as au_box:
                        start = studio.preset("happy", 1.0, first.spec)
                        sliders = [
                            gr.Slider(0.0, 5.0, value=v, step=0.1, label=s.label)
                            for s, v in zip(AU_SLIDERS, start, strict=True)
                        ]
                    with gr.Accordion(
                        "Transfer from a reference face",
                        open=False,
                        visible=first.kind != "label" and first.has_au_estimator,
                    ) as transfer_box:
                        reference = photo_input(label="Reference face")
                        transfer_button = gr.Button("Read its action units")
                    edit_button = gr.Button("Edit", variant="primary")
                with gr.Column():
                    # previews are JPEG (a 1024 px PNG takes ~0.3 s to encode here); the
                    # download below is the lossless PNG
                    before = gr.Image(label="Before (detected face box)", format="jpeg")
                    after = gr.Image(label="After", format="jpeg")
                    status = gr.Markdown()
                    download = gr.File(label="Download the edited photo (PNG)")
            explain = gr.Gallery(
                label="What the model saw",
                height=270,  # a row of 200 px pictures with captions; more rows scroll
                object_fit="contain",
                elem_id="explain",
            )
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[photo], label="Examples")
        with gr.Tab("Compare all methods"), gr.Row():
            with gr.Column(scale=1):
                compare_photo = photo_input(label="Photo to compare on", height=300)
                compare_mode = gr.Radio(list(FACE_MODES), value=FACE_MODES[0], label="Face")
                compare_expression = gr.Radio(list(EXPRESSIONS), value="happy", label="Expression")
                compare_intensity = intensity_slider()
                compare_button = gr.Button("Edit with every model", variant="primary")
                if examples:
                    gr.Examples(
                        [[str(p)] for p in examples], inputs=[compare_photo], label="Examples"
                    )
            with gr.Column(scale=3):
                comparison = gr.Gallery(
                    label="The same face, cut the same way from every model's edit",
                    height="auto",
                    object_fit="contain",
                    elem_id="comparison",
                )

        # --- actions ------------------------------------------------------------------
        def load_model(choice, path, current, expr, amount, *aus):
            spec = (path or "").strip() or choice
            try:
                info = studio.load(spec)
            except ValueError as err:
                gr.Warning(str(err))
                previous = studio.load(current)
                return (
                    current,
                    gr.update(value=current if current in studio.editors else None),
                    *controls_for(previous)[:3],
                    previous.live,
                    f"⚠️ {err}. Still using **{previous.name}**.",
                    *aus,  # the sliders as they were
                )
            if expr not in EXPRESSIONS:
                expr = "happy"
            return (
                info.spec,
                gr.update(choices=studio.choices(), value=info.spec),
                *controls_for(info),
                *studio.preset(expr, amount, info.spec),
            )

        def do_edit(spec, image, mode, box, expr, amount, *aus):
            whole = mode == FACE_MODES[1]
            result = studio.edit(spec, image, expr, amount, aus, whole, parse_box(box))
            info = studio.load(spec)
            seconds = result.seconds
            x, y, w, h = result.face
            note = (
                f"{info.name}: face at x={x}, y={y}, {w}x{h} px in a "
                f"{result.photo.size[0]}x{result.photo.size[1]} photo; intensity {amount:g}; "
                f"{seconds['total'] * 1000:.0f} ms (detect {seconds['detect'] * 1000:.0f}, "
                f"edit {seconds['edit'] * 1000:.0f})"
            )
            shown = studio.pictures({"before": result.annotated(), "after": result.output}, "jpeg")
            gallery = [(str(path), name) for name, path in studio.pictures(result.explain).items()]
            download = str(studio.save(result))
            return str(shown["before"]), str(shown["after"]), note, download, gallery

        def live_edit(live, spec, image, mode, box, expr, amount, *aus):
            if not live or image is None:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return do_edit(spec, image, mode, box, expr, amount, *aus)

        def live_slider_edit(live, spec, *args):
            # a label model's sliders are hidden and unused: moving them edits nothing anew
            if studio.load(spec).kind == "label":
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return live_edit(live, spec, *args)

        def preset(spec, expr, amount):
            # raw values (preprocess=False): the edit that the same change triggers reports
            # an intensity out of range, once; the preset takes the nearest bound
            try:
                amount = min(max(float(amount), 0.0), MAX_INTENSITY)
            except (TypeError, ValueError):
                raise ValueError(f"intensity must be a number, got {amount!r}") from None
            return studio.preset(expr, amount, spec)

        def transfer(spec, image, mode):
            return studio.transfer(spec, image, mode == FACE_MODES[1])

        def compare_all(image, mode, expr, amount):
            faces = studio.compare_faces(image, expr, amount, mode == FACE_MODES[1])
            return [(str(path), name) for name, path in studio.pictures(faces, "jpeg").items()]

        edit_inputs = [model_choice, photo, face_mode, face_box, expression, intensity, *sliders]
        edit_outputs = [before, after, status, download, explain]
        model_outputs = [
            model_state,
            model_choice,
            au_box,
            transfer_box,
            expression,
            live_state,
            model_status,
        ]
        gr.on(
            [load_button.click, model_path.submit, model_choice.input],
            readable(load_model),
            [model_choice, model_path, model_state, expression, intensity, *sliders],
            [*model_outputs, *sliders],
            api_name="load_model",
        )
        edit_button.click(
            readable(do_edit), edit_inputs, edit_outputs, api_name="edit", concurrency_id="edit"
        )
        gr.on(
            [expression.change, intensity.change],
            readable(preset),
            [model_state, expression, intensity],
            sliders,
            api_name="preset",
            preprocess=False,
        )
        # live edits; those the sliders trigger show no progress (a preset moves all 17)
        for triggers, live, progress in (
            (
                [photo.change, face_mode.change, expression.change, intensity.change],
                live_edit,
                "full",
            ),
            ([s.change for s in sliders], live_slider_edit, "hidden"),
        ):
            gr.on(
                triggers,
                readable(live),
                [live_state, *edit_inputs],
                edit_outputs,
                api_visibility="undocumented",
                trigger_mode="always_last",
                concurrency_id="edit",
                show_progress=progress,
            )
        transfer_button.click(
            readable(transfer), [model_choice, reference, face_mode], sliders, api_name="transfer"
        )
        compare_button.click(
            readable(compare_all),
            [compare_photo, compare_mode, compare_expression, compare_intensity],
            comparison,
            api_name="compare",
            concurrency_id="edit",
        )
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def build_parser() -> argparse.ArgumentParser:
    """`python app.py`'s options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--model", action="append", help="serve these models (default: bundled)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limit_malloc_arenas()  # before the server's threads start
    studio = Studio(args.model, default=args.model[0] if args.model else None)
    demo = build_demo(studio, example_photos())
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        show_error=True,
        **LAUNCH,
        footer_links=["api"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
