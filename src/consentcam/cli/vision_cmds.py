"""``consentcam detect`` and ``consentcam compare``.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from consentcam.cli.common import State, json_option, print_json, vision_overrides
from consentcam.errors import ConsentcamError, InputError
from consentcam.model_card import model_card
from consentcam.vision.records import Face


@click.command(
    epilog="""\b
Examples:
  consentcam detect photo.jpg
  consentcam detect a.jpg b.png --json
  consentcam detect group.jpg --cnn      # slower detector, finds more turned faces"""
)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--cnn", is_flag=True, help="Use dlib's MMOD CNN detector instead of HOG.")
@click.option("--upsample", type=click.IntRange(0, 3), help="Upsampling passes (smaller faces).")
@json_option
@click.pass_obj
def detect(
    state: State, images: tuple[Path, ...], cnn: bool, upsample: int | None, as_json: bool
) -> None:
    """Find faces: boxes, 5-point landmarks and quality with reasons.

    No embedding is computed. Exits 2 if any image cannot be read (the others are still reported).
    """
    from consentcam.vision.decode import load_image
    from consentcam.vision.faces import image_faces

    settings = vision_overrides(
        state.settings(), detect__type="cnn" if cnn else None, detect__upsample=upsample
    ).vision
    reports: list[dict[str, Any]] = []
    errors: list[str] = []
    for path in images:
        try:
            image = load_image(path, settings.decode)
            faces = image_faces(image, settings, embed=False)
        except ConsentcamError as exc:
            errors.append(str(exc))
            reports.append({"path": str(path), "error": str(exc)})
            continue
        reports.append(
            {
                "path": str(path),
                "width": int(image.shape[1]),
                "height": int(image.shape[0]),
                "faces": [face_report(f) for f in faces],
            }
        )
    if as_json:
        print_json({"images": reports})
    else:
        for r in reports:
            if "error" not in r:
                _print_detections(r)
    if errors:
        raise InputError(
            errors[0] if len(errors) == 1 else f"{len(errors)} images failed; first: {errors[0]}"
        )


def face_report(face: Face) -> dict[str, Any]:
    return {
        "box": face.detection.box.as_dict(),
        "score": round(face.detection.score, 4),
        "detector": face.detection.detector,
        "landmarks": [[round(x, 1), round(y, 1)] for x, y in face.landmarks.points],
        "quality": face.quality.as_dict(),
    }


def _print_detections(report: dict[str, Any]) -> None:
    faces = report["faces"]
    click.echo(f"{report['path']}: {report['width']}x{report['height']}, {len(faces)} face(s)")
    for i, f in enumerate(faces, 1):
        b = f["box"]
        q = f["quality"]
        verdict = "ok" if q["ok"] else "poor: " + "; ".join(q["reasons"])
        click.echo(
            f"  #{i} box left={b['left']} top={b['top']} right={b['right']} bottom={b['bottom']}"
            f"  score={f['score']:.2f} ({f['detector']})  quality {verdict}"
        )


@click.command(
    epilog="""\b
Examples:
  consentcam compare member.jpg kiosk.jpg
  consentcam compare a.jpg b.jpg --fmr 1e-4 --json"""
)
@click.argument("image_a", type=click.Path(path_type=Path))
@click.argument("image_b", type=click.Path(path_type=Path))
@click.option(
    "--fmr", type=float, help="Decide at the model card's threshold for this false-match rate."
)
@click.option("--threshold", type=click.FloatRange(0, 4), help="Decide at this distance instead.")
@json_option
@click.pass_obj
def compare(
    state: State,
    image_a: Path,
    image_b: Path,
    fmr: float | None,
    threshold: float | None,
    as_json: bool,
) -> None:
    """Distance between the main faces of two images; same/different at the model card threshold.

    The main face is the largest one. Exits 2 if either image has no face.
    """
    from consentcam.match.scores import decide, distances
    from consentcam.vision.faces import file_faces

    if fmr is not None and threshold is not None:
        raise InputError("give --fmr or --threshold, not both")
    card = model_card()
    if threshold is None:
        threshold = card.threshold_at_fmr(fmr) if fmr is not None else card.verification_threshold
    settings = state.settings().vision
    faces = []
    for path in (image_a, image_b):
        found = file_faces(path, settings)
        if not found:
            raise InputError(f"{path}: no face found")
        faces.append(found[0])
    distance = float(distances([faces[0].vector], faces[1].vector)[0])
    same = bool(decide(distance, threshold))
    result = {
        "distance": round(distance, 4),
        "threshold": round(threshold, 4),
        "same_person": same,
        "model": card.model_id,
        "model_card": card.version,
        "faces": [
            {"path": str(p), "box": f.detection.box.as_dict(), "quality": f.quality.as_dict()}
            for p, f in zip((image_a, image_b), faces, strict=True)
        ],
    }
    if as_json:
        print_json(result)
    else:
        verdict = "same person" if same else "different people"
        click.echo(f"distance {distance:.4f} (threshold {threshold:.4f}): {verdict}")
