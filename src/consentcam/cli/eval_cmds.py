"""``consentcam eval lfw`` and ``consentcam eval lfw-openset``.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from consentcam.cli.common import State, json_option, print_json, progress_bar, vision_overrides
from consentcam.errors import InputError
from consentcam.model_card import model_card


@click.group("eval")
def eval_group() -> None:
    """Measure accuracy on public benchmarks through the full pipeline."""


def _pipeline_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--workers", type=click.IntRange(1, 64), help="Processes (default: every core)."
            ),
            click.option(
                "--flip/--no-flip", default=None, help="Mirror-image test-time augmentation."
            ),
            click.option(
                "--accurate",
                is_flag=True,
                help="Most accurate setting: chip views at paddings 0.25 and 0.30 (2x the cost).",
            ),
            click.option(
                "--embedder", type=click.Choice(["numpy", "dlib"]), help="ResNet backend."
            ),
            click.option("--upsample", type=click.IntRange(0, 3), help="HOG upsampling passes."),
            click.option(
                "--cache",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Reuse/save embeddings in this .npz file (same settings and files only).",
            ),
        ]
    ):
        func = option(func)
    return func


ACCURATE_PADDINGS = (0.25, 0.30)


def _settings(
    state: State, flip: bool | None, accurate: bool, embedder: str | None, upsample: int | None
) -> Any:
    return vision_overrides(
        state.settings(),
        embed__flip=flip,
        embed__paddings=ACCURATE_PADDINGS if accurate else None,
        embed__type=embedder,
        detect__upsample=upsample,
    ).vision


def _embed(
    keys: list[Any], root: Path, settings: Any, workers: int | None, cache: Path | None, label: str
) -> tuple[dict[Any, Any], dict[str, int]]:
    from consentcam.eval.embeddings import benchmark_embeddings
    from consentcam.eval.lfw import image_path

    paths = [str(image_path(root, k)) for k in keys]
    with progress_bar(label, len(paths)) as advance:
        results = benchmark_embeddings(
            paths, settings, workers=workers, on_done=advance, cache=cache
        )
    routes: dict[str, int] = {}
    for r in results:
        routes[r.route] = routes.get(r.route, 0) + 1
    return {k: r.vector for k, r in zip(keys, results, strict=True)}, routes


@eval_group.command(
    "lfw",
    epilog="""\b
Examples:
  consentcam eval lfw --root ../shared/data/lfw --json
  consentcam eval lfw --root ../shared/data/lfw --plots plots/ --no-flip""",
)
@click.option(
    "--root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="LFW folder holding lfw-deepfunneled/ and pairs.txt.",
)
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pairs list (default: ROOT/pairs.txt).",
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write roc.png and det.png here.",
)
@_pipeline_options
@json_option
@click.pass_obj
def lfw(
    state: State,
    root: Path,
    pairs_file: Path | None,
    plots: Path | None,
    workers: int | None,
    flip: bool | None,
    accurate: bool,
    embedder: str | None,
    upsample: int | None,
    cache: Path | None,
    as_json: bool,
) -> None:
    """LFW View 2: 10-fold accuracy, EER, TAR at FAR 1e-3 and 1e-2, and FMR operating points."""
    from consentcam.eval.lfw import (
        all_pairs_thresholds,
        check_root,
        pairs_images,
        parse_pairs,
        verification_report,
    )

    started = time.perf_counter()
    check_root(root)
    pairs_path = pairs_file or root / "pairs.txt"
    if not pairs_path.is_file():
        raise InputError(f"{pairs_path}: pairs file not found")
    pairs = parse_pairs(pairs_path.read_text(encoding="utf-8", errors="replace"))
    settings = _settings(state, flip, accurate, embedder, upsample)
    keys = pairs_images(pairs)
    embeddings, routes = _embed(keys, root, settings, workers, cache, "LFW images")
    report = verification_report(pairs, embeddings)
    roc = report.pop("_roc")
    report["operating_points"] = all_pairs_thresholds(keys, embeddings, [1e-2, 1e-3, 1e-4, 1e-5])
    report["images"] = len(keys)
    primary = f"{settings.detect.type}/up{settings.detect.upsample}"
    report["no_face"] = {
        "count": sum(n for route, n in routes.items() if route != primary),
        "routes": routes,
        "fallback": "HOG retry with upsample "
        f"{settings.detect.retry_upsample}, then the MMOD CNN detector, then a centred box",
    }
    report["settings"] = settings.model_dump(mode="json", include={"detect", "embed"})
    if plots is not None:
        from consentcam.eval.plots import write_plots

        report["plots"] = [str(p) for p in write_plots(roc, plots, "LFW View 2")]
    report["seconds"] = round(time.perf_counter() - started, 1)
    if as_json:
        print_json(report)
    else:
        click.echo(
            f"LFW View 2 ({report['pairs']} pairs, {report['images']} images): accuracy "
            f"{report['accuracy_mean']:.2%} +- {report['accuracy_std']:.2%}, "
            f"EER {report['eer']:.2%}, "
            f"TAR@FAR=1e-3 {report['tar_at_far_1e-3']:.2%}; no face on "
            f"{report['no_face']['count']} images; {report['seconds']} s"
        )


@eval_group.command(
    "lfw-openset",
    epilog="""\b
Examples:
  consentcam eval lfw-openset --root ../shared/data/lfw --json
  consentcam eval lfw-openset --root ../shared/data/lfw --sizes 100,all""",
)
@click.option(
    "--root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="LFW folder holding lfw-deepfunneled/.",
)
@click.option(
    "--sizes",
    default="100,1000,all",
    show_default=True,
    help="Gallery sizes, comma-separated; 'all' is every person with 2+ images.",
)
@click.option(
    "--draws",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Random galleries averaged per size below 'all'.",
)
@_pipeline_options
@json_option
@click.pass_obj
def lfw_openset(
    state: State,
    root: Path,
    sizes: str,
    draws: int,
    workers: int | None,
    flip: bool | None,
    accurate: bool,
    embedder: str | None,
    upsample: int | None,
    cache: Path | None,
    as_json: bool,
) -> None:
    """Open-set identification: FNIR at FPIR 1e-2 and 1e-3 per gallery size."""
    from consentcam.eval.lfw import check_root
    from consentcam.eval.openset import lfw_people, openset_report, openset_split

    started = time.perf_counter()
    size_list = _parse_sizes(sizes)
    check_root(root)
    split = openset_split(lfw_people(root))
    settings = _settings(state, flip, accurate, embedder, upsample)
    keys = sorted(set(split.gallery) | set(split.mated) | set(split.non_mated))
    embeddings, routes = _embed(keys, root, settings, workers, cache, "LFW images")
    rows = openset_report(split, embeddings, size_list, draws=draws)
    report = {
        "protocol": "gallery: first image of each person with 2+ images; mated probes: their other "
        "images; non-mated probes: people with one image",
        "people_in_gallery": len(split.gallery),
        "mated_probes": len(split.mated),
        "non_mated_probes": len(split.non_mated),
        "rows": rows,
        "no_face": {"routes": routes},
        "seconds": round(time.perf_counter() - started, 1),
    }
    if as_json:
        print_json(report)
    else:
        for r in rows:
            click.echo(
                f"gallery {r['gallery_size']:>5}: rank-1 {r['rank1_rate']:.2%}, "
                f"FNIR@FPIR=1e-2 {r['fnir_at_fpir_1e-2']:.2%}, "
                f"FNIR@FPIR=1e-3 {r['fnir_at_fpir_1e-3']:.2%}"
            )


def _parse_sizes(text: str) -> list[int | None]:
    sizes: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "all":
            sizes.append(None)
        elif part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        else:
            raise InputError(f"--sizes: {part!r} is not a positive number or 'all'")
    return sizes


@eval_group.command(
    "tracks",
    epilog="""\b
Examples:
  consentcam eval tracks --root ../shared/data/lfw --json
  consentcam eval tracks --root ../shared/data/lfw --sizes 100 --members 50 --visitors 200
  consentcam eval tracks --root ../shared/data/lfw --anchor --anchor-walkers 150 --json""",
)
@click.option(
    "--root",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="LFW folder holding lfw-deepfunneled/.",
)
@click.option(
    "--sizes", default="100,1000", show_default=True, help="Gallery sizes, comma-separated."
)
@click.option(
    "--enrol-photos",
    default="1,3",
    show_default=True,
    help="Enrolment photos per member (k), comma-separated.",
)
@click.option("--members", type=click.IntRange(1), help="Most member walk-ins [default: all].")
@click.option("--visitors", type=click.IntRange(1), help="Most visitor walk-ins [default: all].")
@click.option(
    "--anchor/--no-anchor",
    default=False,
    help="Also run face_recognition 1.3.0's per-frame loop (needs the test extras).",
)
@click.option(
    "--anchor-walkers",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="The anchor runs on this many members' and this many visitors' walk-ins (it is slow).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Draw of people and scenes.")
@click.option("--workers", type=click.IntRange(1, 64), help="Processes (default: every core).")
@json_option
@click.pass_obj
def tracks(
    state: State,
    root: Path,
    sizes: str,
    enrol_photos: str,
    members: int | None,
    visitors: int | None,
    anchor: bool,
    anchor_walkers: int,
    seed: int,
    workers: int | None,
    as_json: bool,
) -> None:
    """Door-like protocol: LFW members walk in with photos other than their enrolment ones,
    through the real camera worker; recall, false alerts and decision latency per gallery."""
    import shutil

    from consentcam.eval import tracks as protocol_mod
    from consentcam.eval.lfw import check_root

    started = time.perf_counter()
    check_root(root)
    size_list = [s for s in _parse_sizes(sizes) if s is not None]
    if len(size_list) != len(sizes.split(",")):
        raise InputError("--sizes: give gallery sizes as numbers ('all' has no meaning here)")
    ks = [s for s in _parse_sizes(enrol_photos) if s is not None]
    if not ks or max(ks) > 5 or len(ks) != len(enrol_photos.split(",")):
        raise InputError("--enrol-photos: give numbers from 1 to 5, comma-separated")
    if anchor:
        try:
            import face_recognition  # noqa: F401
        except ImportError:
            raise InputError(
                "--anchor needs face_recognition 1.3.0 (pip install --no-deps "
                "face_recognition==1.3.0, as 'make test' does)"
            ) from None
    workers = workers or protocol_mod.default_workers()
    base = state.settings()
    protocol = protocol_mod.track_protocol(
        root, base, sizes=size_list, enrol_photos=max(ks), members=members,
        visitors=visitors, seed=seed, workers=workers, progress=progress_bar,
    )  # fmt: skip
    configs = [protocol_mod.Config(n, k) for n in size_list for k in ks]
    folder = protocol_mod.throwaway_dir()
    try:
        settings = protocol_mod.protocol_store(protocol, configs, folder, progress_bar, base)
        galleries = (
            protocol_mod.anchor_galleries(protocol, configs, progress_bar) if anchor else None
        )
        results, anchors = protocol_mod.run_walks(
            protocol, settings, configs, workers=workers, seed=seed, anchor=galleries,
            anchor_walkers=anchor_walkers, progress=progress_bar,
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = protocol_mod.track_rows(results, configs, protocol)
    report: dict[str, Any] = {
        "protocol": protocol_mod.protocol_summary(protocol),
        "results": rows,
        "anchor": protocol_mod.anchor_rows(anchors, configs, protocol, rows) if anchor else [],
        "pipeline": settings.pipeline.model_dump(mode="json"),
        "model_card_version": _card_version(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if as_json:
        print_json(report)
        return
    for r in rows:
        click.echo(
            f"gallery {r['gallery_size']:>5}, k={r['enrol_photos']}: member recall "
            f"{r['member_recall']:.1%} of {r['member_tracks']}, wrong {r['wrong_member_tracks']}, "
            f"false alerts {r['false_alerts_per_1000']:.2f} per 1,000 of "
            f"{r['nonmember_tracks']} visitors, decision after {r['decision_frames_p50']} frames "
            f"(median)"
        )
    for r in report["anchor"]:
        click.echo(
            f"anchor tol {r['tolerance']}: gallery {r['gallery_size']}, k={r['enrol_photos']}: "
            f"recall {r['member_recall']:.1%}, wrong {r['wrong_member_tracks']}, "
            f"false alerts {r['false_alerts_per_1000']:.1f} per 1,000"
        )


def _card_version() -> str:
    return model_card().version
