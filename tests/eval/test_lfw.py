from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from consentcam.errors import InputError
from consentcam.eval.lfw import image_path, pairs_images, parse_pairs, verification_report
from consentcam.vision.decode import load_image
from consentcam.vision.detect import face_detections

TINY_PAIRS = """2\t2
Alice\t1\t2
Bob\t1\t2
Alice\t1\tBob\t1
Bob\t2\tCarol\t1
Carol\t1\t2
Alice\t2\t3
Alice\t3\tCarol\t2
Bob\t1\tCarol\t1
"""


def test_parse_pairs_folds_and_kinds() -> None:
    pairs = parse_pairs(TINY_PAIRS)
    assert len(pairs) == 8
    assert [p.fold for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert pairs[2].a == ("Alice", 1) and pairs[2].b == ("Bob", 1)
    assert len(pairs_images(pairs)) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("ten\t300\n", "header"),
        ("1\t1\nAlice\t1\t2\n", "header promises"),
        ("1\t1\nAlice\t1\nBob\t1\tCarol\t1\n", "same-person"),
        ("1\t1\nAlice\t1\t2\nBob\tx\tCarol\t1\n", "different-person"),
    ],
)
def test_malformed_pairs_raise_input_error(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_pairs(text)


def test_image_path_layout() -> None:
    assert image_path(Path("lfw"), ("Alice_B", 7)) == Path(
        "lfw/lfw-deepfunneled/Alice_B/Alice_B_0007.jpg"
    )


def test_report_on_separable_embeddings() -> None:
    pairs = parse_pairs(TINY_PAIRS)
    people = {"Alice": 0.0, "Bob": 10.0, "Carol": 20.0}
    emb = {k: np.array([people[k[0]] + 0.1 * k[1], 0.0]) for k in pairs_images(pairs)}
    report = verification_report(pairs, emb)
    assert report["pairs"] == 8 and report["folds"] == 2
    assert report["accuracy_mean"] == 1.0
    assert report["eer"] == 0.0


def make_tiny_lfw(root: Path, photos: Path) -> Path:
    """An LFW-shaped folder from the public-domain photos: Obama (4 images) and Biden (1 image),
    each cropped to a 250x250 portrait centred on the face, as LFW's images are."""
    people = {
        "Barack_Obama": ["obama.jpg", "obama2.jpg", "obama3.jpg", "obama-720p.jpg"],
        "Joe_Biden": ["biden.jpg"],
    }
    for name, files in people.items():
        folder = root / "lfw-deepfunneled" / name
        folder.mkdir(parents=True)
        for i, f in enumerate(files, 1):
            lfw_style_portrait(photos / f).save(folder / f"{name}_{i:04d}.jpg", quality=95)
    (root / "pairs.txt").write_text(
        "2\t1\nBarack_Obama\t1\t2\nBarack_Obama\t1\tJoe_Biden\t1\n"
        "Barack_Obama\t3\t4\nBarack_Obama\t2\tJoe_Biden\t1\n"
    )
    return root


def lfw_style_portrait(path: Path) -> Image.Image:
    image = load_image(path)
    face = face_detections(image)[0].box
    cx, cy = face.center
    half = 1.15 * max(face.width, face.height)  # LFW faces fill about 45% of the frame
    crop = Image.fromarray(image).crop((cx - half, cy - half, cx + half, cy + half))
    return crop.resize((250, 250), Image.Resampling.BILINEAR)


@pytest.mark.slow
def test_eval_lfw_cli_end_to_end(run_cli, photos: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = make_tiny_lfw(tmp_path / "lfw", photos)
    code, out, err = run_cli(
        "eval",
        "lfw",
        "--root",
        str(root),
        "--plots",
        str(tmp_path / "plots"),
        "--workers",
        "1",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["pairs"] == 4 and report["images"] == 5
    assert report["accuracy_mean"] == 1.0
    assert report["no_face"]["count"] == 0
    for key in (
        "accuracy_std",
        "eer",
        "tar_at_far_1e-3",
        "tar_at_far_1e-2",
        "seconds",
        "operating_points",
    ):
        assert key in report
    assert (tmp_path / "plots" / "roc.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "det.png").stat().st_size > 1000


def test_eval_lfw_cli_bad_root(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("eval", "lfw", "--root", str(tmp_path), "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "lfw-deepfunneled" in err
