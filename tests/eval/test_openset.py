from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from consentcam.errors import InputError
from consentcam.eval.openset import lfw_people, openset_report, openset_split

from .test_lfw import make_tiny_lfw


def test_split_follows_the_protocol() -> None:
    split = openset_split({"A": [1, 2, 3], "B": [1], "C": [4, 7], "D": [2]})
    assert split.gallery == [("A", 1), ("C", 4)]
    assert split.mated == [("A", 2), ("A", 3), ("C", 7)]
    assert split.non_mated == [("B", 1), ("D", 2)]
    with pytest.raises(InputError):
        openset_split({"A": [1]})


def test_report_on_synthetic_embeddings() -> None:
    rng = np.random.default_rng(0)
    people = {f"P{i}": [1, 2] for i in range(200)} | {f"S{i}": [1] for i in range(300)}
    split = openset_split(people)
    centres = {name: rng.normal(size=16) * 3 for name in people}
    emb = {(n, k): centres[n] + rng.normal(size=16) * 0.05 for n, ks in people.items() for k in ks}
    rows = openset_report(split, emb, [50, None], draws=3)
    assert [r["gallery_size"] for r in rows] == [50, 200]
    assert rows[0]["draws"] == 3 and rows[1]["draws"] == 1
    assert rows[0]["mated_probes"] == 50 and rows[1]["mated_probes"] == 200
    for r in rows:
        assert r["rank1_rate"] == 1.0
        assert r["fnir_at_fpir_1e-2"] == 0.0


def test_people_from_folder(photos: Path, tmp_path: Path) -> None:
    root = make_tiny_lfw(tmp_path / "lfw", photos)
    assert lfw_people(root) == {"Barack_Obama": [1, 2, 3, 4], "Joe_Biden": [1]}


@pytest.mark.slow
def test_openset_cli_end_to_end(run_cli, photos: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = make_tiny_lfw(tmp_path / "lfw", photos)
    code, out, err = run_cli(
        "eval", "lfw-openset", "--root", str(root), "--sizes", "1,all", "--workers", "1", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["people_in_gallery"] == 1 and report["mated_probes"] == 3
    assert report["non_mated_probes"] == 1
    assert report["rows"][0]["rank1_rate"] == 1.0


def test_openset_cli_bad_sizes(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("eval", "lfw-openset", "--root", str(tmp_path), "--sizes", "10,zero")
    assert code == 2 and "--sizes" in err
