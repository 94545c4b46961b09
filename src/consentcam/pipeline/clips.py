"""Labelled synthetic video clips: portraits moved across a background, with per-frame truth.

A real door clip with consented, labelled people is hard to come by, so benchmarks and the demo
build one: each actor is a head-and-shoulders crop of a still photo, pasted with soft edges onto a
textured background, moving and growing along a straight path as if walking toward the camera.
The truth (who is where, frame by frame) comes from the face box detected once in each photo and
carried through the same crop, scale and translation, so it is exact up to the detector's own box.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from consentcam.errors import InputError
from consentcam.vision.faces import image_faces, main_face
from consentcam.vision.records import Box, ImageArray

# Head-and-shoulders crop around a face box of height h: from 0.55 h above the box's top, 2.6 h
# tall, 2.2 h wide. A face therefore always fills the same share of its crop, so an actor's
# ``height`` sets its face size whatever the photo: face px = height * frame height / 2.6.
CROP_HEIGHT = 2.6
CROP_WIDTH = 2.2
CROP_ABOVE = 0.55

# A face counts as visible while this share of its box is inside the frame and not hidden behind
# an actor drawn later; below it no detector could be expected to find it.
MIN_VISIBLE = 0.8

NOISE_FRAMES = 8  # per-frame sensor noise is drawn from a small bank, rolled at random: cheap


@dataclass(frozen=True, slots=True)
class Actor:
    """One person crossing the scene."""

    name: str  # label for ground truth ("" or "unknown-N" for strangers)
    photo: ImageArray  # RGB portrait; a head-and-shoulders crop is cut around its face
    start: int  # first frame on screen
    end: int  # frames [start, end) on screen
    path: tuple[tuple[float, float], tuple[float, float]]  # crop centre (x0,y0) -> (x1,y1), 0-1
    height: tuple[float, float]  # crop height as a fraction of frame height at start and end
    # Further photos of the same person, shown after ``photo`` in equal consecutive parts of the
    # walk (the person turns, the light changes): one track with several views.
    more_photos: tuple[ImageArray, ...] = ()
    # Brightness gain of each part (``photo`` first, then ``more_photos``); 1.0 where missing.
    light: tuple[float, ...] = ()

    @property
    def photos(self) -> tuple[ImageArray, ...]:
        return (self.photo, *self.more_photos)


@dataclass(frozen=True, slots=True)
class ClipTruth:
    """Who is visible where: for each frame, the (name, face box) of every visible face."""

    size: tuple[int, int]  # width, height
    fps: float
    boxes: tuple[tuple[tuple[str, Box], ...], ...]

    @property
    def frames(self) -> int:
        return len(self.boxes)

    def visible_frames(self) -> dict[str, int]:
        """Frames in which each name's face is visible (strangers under their own labels)."""
        counts: dict[str, int] = {}
        for faces in self.boxes:
            for name in {n for n, _ in faces}:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def to_json(self) -> str:
        return json.dumps(
            {
                "size": list(self.size),
                "fps": self.fps,
                "frames": [
                    [[name, [b.left, b.top, b.right, b.bottom]] for name, b in faces]
                    for faces in self.boxes
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ClipTruth:
        try:
            doc = json.loads(text)
            width, height = doc["size"]
            boxes = tuple(
                tuple((str(name), Box(*(int(v) for v in box))) for name, box in faces)
                for faces in doc["frames"]
            )
            return cls((int(width), int(height)), float(doc["fps"]), boxes)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a clip truth document ({exc})") from None


def truth_path(clip: Path) -> Path:
    """Where a clip's truth is kept: beside it, ``clip.json`` for ``clip.mp4``."""
    return clip.with_suffix(".json")


def write_clip(
    path: Path,
    actors: Sequence[Actor],
    *,
    size: tuple[int, int] = (1280, 720),
    fps: float = 30.0,
    frames: int,
    background: ImageArray | None = None,
    seed: int = 0,
    motion_blur: bool = False,
) -> ClipTruth:
    """Render ``actors`` over ``frames`` frames into an MP4 at ``path`` (mp4v) and its truth beside
    it (``truth_path``); actors later in the list are drawn in front. Deterministic for a seed."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise InputError(f"{path}: cannot write an MP4 video here")
    truth: list[tuple[tuple[str, Box], ...]] = []
    try:
        for image, faces in rendered_frames(
            actors, size=size, frames=frames, background=background, seed=seed,
            motion_blur=motion_blur,
        ):  # fmt: skip
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            truth.append(faces)
    finally:
        writer.release()
    result = ClipTruth(size, fps, tuple(truth))
    truth_path(path).write_text(result.to_json())
    return result


def rendered_frames(
    actors: Sequence[Actor],
    *,
    size: tuple[int, int],
    frames: int,
    background: ImageArray | None = None,
    seed: int = 0,
    motion_blur: bool = False,
) -> Iterator[tuple[ImageArray, tuple[tuple[str, Box], ...]]]:
    """Each frame of the scene (RGB) with its truth, the (name, face box) of every visible face,
    rendered one at a time in memory; actors later in the list are drawn in front."""
    width, height = size
    rng = np.random.default_rng(seed)
    scene = (
        textured_background(size, rng)
        if background is None
        else cv2.resize(background, size, interpolation=cv2.INTER_AREA)
    ).astype(np.int16)
    # Mild sensor noise (sigma 2.5 levels), different on every frame.
    noise = np.rint(2.5 * rng.standard_normal((NOISE_FRAMES, height, width, 3), np.float32))
    noise = noise.astype(np.int16)
    sprites = [tuple(_sprite(photo) for photo in a.photos) for a in actors]
    for index in range(frames):
        frame = scene.copy()
        placed: list[tuple[str, Box, Box]] = []  # name, face box, sprite rectangle
        for actor, views in zip(actors, sprites, strict=True):
            if actor.start <= index < actor.end:
                placed.append(_draw(frame, actor, views, index, motion_blur))
        shift = tuple(int(v) for v in rng.integers(0, [height, width]))
        frame += np.roll(noise[index % NOISE_FRAMES], shift, axis=(0, 1))
        yield np.clip(frame, 0, 255).astype(np.uint8), _visible(placed, size)


def sample_actors(
    walkers: Sequence[tuple[str, ImageArray]],
    strangers: Sequence[ImageArray] = (),
    *,
    walk_frames: int = 75,
    stride: int = 45,
    strangers_between: int = 2,
) -> list[Actor]:
    """A door scene: each walker in turn comes toward the camera, ``strangers_between`` strangers
    (labelled ``unknown-N``) after each one while strangers last. A new person enters every
    ``stride`` frames and walks for ``walk_frames``, so consecutive people share the screen;
    they use alternate lanes (left, right) so neither hides the other."""
    queue = [(f"unknown-{i + 1}", photo) for i, photo in enumerate(strangers)]
    order: list[tuple[str, ImageArray]] = []
    for walker in walkers:
        order.append(walker)
        order += queue[:strangers_between]
        del queue[:strangers_between]
    order += queue
    actors = []
    for i, (name, photo) in enumerate(order):
        # Far away: small, near the middle and a little high; close: large, low and to the side.
        side = -1.0 if i % 2 == 0 else 1.0
        start = i * stride
        actors.append(
            Actor(
                name=name,
                photo=photo,
                start=start,
                end=start + walk_frames,
                path=((0.5 + 0.08 * side, 0.42), (0.5 + 0.36 * side, 0.55)),
                height=(0.35, 0.9),
            )
        )
    return actors


def sample_clip(
    path: Path,
    photos: Mapping[str, ImageArray],
    strangers: Sequence[ImageArray] = (),
    *,
    size: tuple[int, int] = (1280, 720),
    fps: float = 30.0,
    seed: int = 0,
    walk_frames: int = 75,
    stride: int = 45,
) -> ClipTruth:
    """The default door scene (``sample_actors``) of the named ``photos`` and ``strangers``,
    written to ``path`` with its truth beside it."""
    actors = sample_actors(list(photos.items()), strangers, walk_frames=walk_frames, stride=stride)
    if not actors:
        raise InputError("a sample clip needs at least one photo")
    frames = max(a.end for a in actors)
    return write_clip(path, actors, size=size, fps=fps, frames=frames, seed=seed)


def textured_background(size: tuple[int, int], rng: np.random.Generator) -> ImageArray:
    """A plain-ish indoor wall: a soft vertical light gradient, low-frequency blotches, fine
    grain and a few darker vertical bands (door frame, shelves), so HOG sees some edges."""
    width, height = size
    ramp = np.linspace(150.0, 105.0, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.0, 0.97, 0.9], np.float32)
    base = np.broadcast_to(ramp * tint, (height, width, 3)).copy()
    # Blotches mostly in brightness, a little in colour: paint and light, not confetti.
    shade = rng.normal(0.0, 10.0, (9, 16, 1)) + rng.normal(0.0, 3.0, (9, 16, 3))
    blotches = cv2.resize(shade.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(
        rng.normal(0.0, 6.0, (height, width, 3)).astype(np.float32), (0, 0), 1.2
    )
    image = base + blotches + grain
    for _ in range(3):
        left = int(rng.integers(0, width - width // 20))
        image[:, left : left + int(rng.integers(width // 80, width // 20))] *= 0.8
    return np.asarray(np.clip(image, 0, 255), np.uint8)


@dataclass(frozen=True, slots=True)
class _Sprite:
    pixels: ImageArray  # head-and-shoulders crop
    alpha: np.ndarray  # float32 0-1, soft edges
    face: tuple[float, float, float, float]  # face box in the crop, as fractions of it


def _sprite(photo: ImageArray) -> _Sprite:
    face = main_face(image_faces(photo, embed=False), photo.shape)
    if face is None:
        raise InputError("no face found in an actor's photo")
    box = face.detection.box
    h = box.height
    cw, ch = round(CROP_WIDTH * h), round(CROP_HEIGHT * h)
    left = round(box.center[0] - cw / 2)
    top = round(box.top - CROP_ABOVE * h)
    # Portraits cut tight (LFW's 250x250) lack room for the crop: the missing part is padded and
    # left transparent, so the sprite is only as large as the photo allows.
    pad = max(0, -left, -top, left + cw - photo.shape[1], top + ch - photo.shape[0])
    padded = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    pixels: ImageArray = np.ascontiguousarray(
        padded[top + pad : top + pad + ch, left + pad : left + pad + cw], np.uint8
    )
    valid = np.zeros((ch, cw), np.float32)
    valid[max(0, -top) : photo.shape[0] - top, max(0, -left) : photo.shape[1] - left] = 1.0
    face_box = (
        (box.left - left) / cw,
        (box.top - top) / ch,
        (box.right - left) / cw,
        (box.bottom - top) / ch,
    )
    return _Sprite(pixels, _soft_mask(valid), face_box)


def _soft_mask(valid: np.ndarray) -> np.ndarray:
    """A rounded silhouette (superellipse) within the ``valid`` pixels, feathered inward: no hard
    rectangle in the frame, and nothing of the padding shows."""
    height, width = valid.shape
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    inside = (np.abs(x) ** 3 + np.abs(y) ** 3 <= 1.0).astype(np.float32) * valid
    sigma = 0.03 * max(width, height)
    reach = 2 * round(sigma) + 1
    inside = cv2.erode(inside, np.ones((reach, reach), np.uint8))
    return np.asarray(cv2.GaussianBlur(inside, (0, 0), sigma), np.float32)


def _draw(
    frame: np.ndarray, actor: Actor, views: tuple[_Sprite, ...], index: int, motion_blur: bool
) -> tuple[str, Box, Box]:
    """Paste ``actor`` as it is at frame ``index``; its name, face box and sprite rectangle."""
    span = max(1, actor.end - actor.start - 1)
    t = (index - actor.start) / span
    part = min(len(views) - 1, (index - actor.start) * len(views) // (actor.end - actor.start))
    sprite = views[part]
    gain = actor.light[part] if part < len(actor.light) else 1.0
    fh, fw = frame.shape[:2]
    (x0, y0), (x1, y1) = actor.path
    cx, cy = (x0 + (x1 - x0) * t) * fw, (y0 + (y1 - y0) * t) * fh
    sh = max(2, round((actor.height[0] + (actor.height[1] - actor.height[0]) * t) * fh))
    sw = max(2, round(sh * sprite.pixels.shape[1] / sprite.pixels.shape[0]))
    shrink = sh < sprite.pixels.shape[0]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    pixels = cv2.resize(sprite.pixels, (sw, sh), interpolation=interp).astype(np.float32)
    if gain != 1.0:
        pixels = np.minimum(pixels * gain, 255.0)
    alpha = cv2.resize(sprite.alpha, (sw, sh), interpolation=cv2.INTER_LINEAR)
    if motion_blur:
        dx = (x1 - x0) * fw / span
        dy = (y1 - y0) * fh / span
        pixels = _motion_blurred(pixels, dx, dy)
    left, top = round(cx - sw / 2), round(cy - sh / 2)
    # The part of the sprite that lands inside the frame.
    fx0, fy0 = max(0, left), max(0, top)
    fx1, fy1 = min(fw, left + sw), min(fh, top + sh)
    if fx1 > fx0 and fy1 > fy0:
        sx0, sy0 = fx0 - left, fy0 - top
        a = alpha[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0, None]
        p = pixels[sy0 : sy0 + fy1 - fy0, sx0 : sx0 + fx1 - fx0]
        region = frame[fy0:fy1, fx0:fx1]
        region[:] = (a * p + (1.0 - a) * region).astype(np.int16)
    fl, ft, fr, fb = sprite.face
    face = Box(
        round(left + fl * sw), round(top + ft * sh), round(left + fr * sw), round(top + fb * sh)
    )
    return actor.name, face, Box(left, top, left + sw, top + sh)


def _motion_blurred(pixels: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Blur along the motion of one frame's exposure (dx, dy pixels per frame)."""
    length = round(max(abs(dx), abs(dy)))
    if length < 2:
        return pixels
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    ux, uy = dx / max(abs(dx), abs(dy)), dy / max(abs(dx), abs(dy))
    for k in np.linspace(-c, c, length):
        kernel[round(c + k * uy), round(c + k * ux)] = 1.0
    return np.asarray(cv2.filter2D(pixels, -1, kernel / kernel.sum()), np.float32)


def _visible(
    placed: list[tuple[str, Box, Box]], size: tuple[int, int]
) -> tuple[tuple[str, Box], ...]:
    """Faces mostly inside the frame and not mostly hidden behind a sprite drawn after them."""
    frame = Box(0, 0, size[0], size[1])
    visible = []
    for i, (name, face, _) in enumerate(placed):
        if face.area <= 0:
            continue
        inside = _intersection(face, frame)
        hidden = max((_intersection(face, rect).area for _, _, rect in placed[i + 1 :]), default=0)
        if inside.area >= MIN_VISIBLE * face.area and hidden <= (1 - MIN_VISIBLE) * face.area:
            visible.append((name, inside))
    return tuple(visible)


def _intersection(a: Box, b: Box) -> Box:
    box = Box(
        max(a.left, b.left), max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom)
    )
    return box if box.width > 0 and box.height > 0 else Box(0, 0, 0, 0)
