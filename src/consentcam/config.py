"""Runtime configuration: pydantic-settings with the ``CONSENTCAM_`` environment prefix.

Nested sections use ``__`` in environment names, e.g. ``CONSENTCAM_VISION__UPSAMPLE=2``. Every field
states its unit and bounds; unknown keys are refused so a typo never silently keeps a default.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from consentcam.errors import ConfigError
from consentcam.net import PRIVATE_LANS

# A position as a fraction of the frame's width or height.
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecodeSettings(_Section):
    max_pixels: int = Field(
        40_000_000,
        ge=1,
        le=500_000_000,
        description="Largest image accepted, in pixels (width x height); larger files are refused "
        "before decoding, which stops decompression bombs. One decode holds at most about 8 bytes "
        "per pixel (40 Mpx: 320 MB, docs/reliability.md has the 24 GB shop box's arithmetic).",
    )
    max_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1,
        description="Largest image file accepted, in bytes.",
    )
    max_side: int = Field(
        2560,
        ge=0,
        le=20_000,
        description="Longest side, in pixels, that larger images are reduced towards while "
        "decoding, by a whole factor and never below it (JPEG: in the decoder, at 1/2, 1/4 or "
        "1/8). 2560 is twice the detector's 1280, so a face it finds (40 px there) keeps the "
        "quality gate's 80 px. 0 decodes at full size.",
    )
    max_concurrent: int = Field(
        4,
        ge=1,
        le=64,
        description="Images decoded at the same time in one process; more wait their turn, so "
        "decoder memory stays under max_concurrent x 8 bytes x max_pixels however many "
        "enrolments arrive together.",
    )


class DetectSettings(_Section):
    type: Literal["hog", "cnn"] = Field(
        "hog",
        description="Face detector: dlib's HOG (fast, CPU) or dlib's MMOD CNN (slower, finds more "
        "non-frontal faces).",
    )
    upsample: int = Field(
        1,
        ge=0,
        le=3,
        description="Times the image is doubled before detection (finds smaller faces).",
    )
    retry_upsample: int = Field(
        2,
        ge=0,
        le=3,
        description="For still photos: when no face is found, search again with this upsampling "
        "(0 disables the retry). Never used on video frames.",
    )
    max_side: int = Field(
        1280,
        ge=0,
        le=10_000,
        description="Longest image side, in pixels, the detector sees before upsampling; larger "
        "images are downscaled for detection only (landmarks and embeddings use full resolution). "
        "0 never downscales.",
    )


class EmbedSettings(_Section):
    type: Literal["numpy", "dlib"] = Field(
        "numpy",
        description="Backend for the dlib ResNet: 'numpy' (same weights, BLAS-accelerated) or "
        "'dlib' (dlib's own forward pass).",
    )
    flip: bool = Field(
        True,
        description="Also embed each chip's mirror image and fuse the two (test-time "
        "augmentation: doubles embedding cost; +0.17 points on LFW, see the model card).",
    )
    paddings: tuple[float, ...] = Field(
        (0.25,),
        min_length=1,
        max_length=4,
        description="Border around the landmarks for each chip view, as a fraction of the face "
        "size (dlib's ResNet was trained at 0.25). Several views are fused; (0.25, 0.30) is the "
        "most accurate setting measured, at twice the cost.",
    )
    normalize: bool = Field(
        True,
        description="Scale each view's embedding to unit length before fusing, and the result "
        "too; distances are then between unit vectors, as the model card's thresholds are. "
        "False with flip off and one 0.25 view gives dlib's raw descriptor.",
    )
    batch_size: int = Field(
        8,
        ge=1,
        le=1024,
        description="Face chips per forward pass (8 was fastest per chip on the numpy backend).",
    )
    blas_threads: int = Field(
        1,
        ge=0,
        le=256,
        description="BLAS threads for the numpy backend; 0 keeps the library's default. One is "
        "right when processes provide the parallelism (one per camera or evaluation worker): on "
        "busy cores, extra BLAS threads were measured 2-3x slower.",
    )


class QualitySettings(_Section):
    min_face_px: int = Field(
        80,
        ge=20,
        le=2000,
        description="Smallest acceptable face box side for enrolment, in pixels.",
    )
    min_sharpness: float = Field(
        40.0,
        ge=0,
        description="Smallest acceptable variance of the Laplacian of the 150x150 grey face chip "
        "(lower is blurrier).",
    )
    max_roll_deg: float = Field(
        20.0, ge=0, le=90, description="Largest acceptable in-plane head tilt, in degrees."
    )
    max_yaw: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Largest acceptable left/right head turn, as the nose's offset from the eye "
        "midpoint divided by the distance between the eyes.",
    )
    min_brightness: float = Field(
        50.0,
        ge=0,
        le=255,
        description="Darkest acceptable mean grey level of the face chip (0-255).",
    )
    max_brightness: float = Field(
        215.0, ge=0, le=255, description="Brightest acceptable mean grey level of the face chip."
    )
    max_clipped: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Largest acceptable fraction of face-chip pixels at pure black or white.",
    )


class VisionSettings(_Section):
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)


class SourceSettings(_Section):
    reconnect_initial_s: float = Field(
        0.5, gt=0, le=60, description="First wait before reconnecting a dropped live stream, in s."
    )
    reconnect_max_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest wait between reconnection attempts, in s (the wait doubles each try).",
    )
    read_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A live stream that delivers no frame for this long, in s, is reconnected.",
    )
    open_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Longest wait for a live stream to connect and send its header, in s; past "
        "it the first open fails with an error, a later one counts as a failed reconnect.",
    )
    folder_fps: float = Field(
        1.0, gt=0, le=240, description="Frame rate assigned to an image folder source, in frames/s."
    )
    camera_networks: tuple[IPv4Network | IPv6Network, ...] = Field(
        PRIVATE_LANS,
        max_length=100,
        description='Networks (CIDR, e.g. ["10.20.0.0/16"]) camera streams (rtsp, rtsps, http, '
        "https) may be at; a stream's host is checked when the camera is added and every address "
        "its name resolves to whenever a worker connects. Default: the private LAN ranges "
        "(RFC 1918, IPv6 unique local). Setting it replaces the default; list 127.0.0.1/32 for a "
        "re-streaming relay on this host (in --dev, loopback is allowed anyway). Loopback, "
        "link-local (cloud metadata), public and other addresses outside the list are refused.",
    )
    api_local_files: bool = Field(
        False,
        description="Whether API callers (admins) may give local video files and image folders "
        "as camera sources. Off: only the CLI (the local operator) may (in --dev the API may "
        "too). /proc, /sys and devices other than /dev/videoN are refused either way.",
    )


class TrackSettings(_Section):
    min_iou: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Least overlap between a track's predicted box and a "
        "detection for the detection to continue the track.",
    )
    max_missed: int = Field(
        10,
        ge=0,
        le=300,
        description="Frames a track may go undetected (coasting on its predicted box) before it "
        "ends.",
    )
    min_hits: int = Field(
        2,
        ge=1,
        le=100,
        description="Detections before a track is confirmed and reported (filters one-frame "
        "false detections).",
    )


class PipelineSettings(_Section):
    detect_scale: float = Field(
        0.75,
        gt=0,
        le=4,
        description="Scale applied to each video frame before face detection (0.5 halves each "
        "side: four times faster). HOG finds faces from about 80 px, so faces narrower than "
        "80/scale frame pixels (107 px at 0.75) are missed unless detect_upsample is raised; "
        "0.75 finds every member face of the 720p door benchmark at 1.4x real time on one core.",
    )
    detect_upsample: int = Field(
        0, ge=0, le=2, description="HOG upsampling on video frames (after detect_scale)."
    )
    detect_every: int = Field(
        3,
        ge=1,
        le=60,
        description="Scan the whole frame every N frames; in between, faces are found only near "
        "where live tracks are predicted to be (cheap), so new faces appear within N frames.",
    )
    min_consistent: int = Field(
        3,
        ge=1,
        le=60,
        description="K: a track is decided only after it has been detected in K frames and every "
        "embedded frame agrees on the identity.",
    )
    min_views: int = Field(
        2,
        ge=1,
        le=30,
        description="Embedded views a track needs before it is decided: one frame is weaker "
        "evidence than the thresholds (measured on fused views) assume.",
    )
    max_embeds: int = Field(
        12,
        ge=1,
        le=60,
        description="Per-track budget: most faces embedded over a track's whole life. A "
        "bystander's face is embedded at most this many times, in memory only; a track that "
        "spends it undecided is unknown for good. 12 covers a walk-in (about 6 used in a 3 s "
        "walk of the eval tracks protocol) and the first minute of a lingering person.",
    )
    embed_gap: int = Field(
        2,
        ge=1,
        le=300,
        description="Rate budget: least frames between two embeddings of one track (nearby "
        "frames add little).",
    )
    embed_gain: float = Field(
        1.2,
        ge=1.0,
        le=10.0,
        description="A track's best candidate frame is embedded when its quality score (size, "
        "sharpness, frontal pose) is at least this multiple of the best view embedded so far: "
        "a member who turns to the camera is looked at then.",
    )
    look_every: int = Field(
        8,
        ge=1,
        le=3000,
        description="Frames after which a track's best candidate is embedded even if no better "
        "than before (the quality score is not the model's view); the interval grows by "
        "look_backoff after each such look, so a lingering track costs little.",
    )
    look_backoff: float = Field(
        1.5,
        ge=1.0,
        le=10.0,
        description="Growth factor of look_every after each periodic look.",
    )
    min_face_px: int = Field(
        60,
        ge=20,
        le=2000,
        description="Smallest face box side, in frame pixels, that is embedded; smaller faces are "
        "tracked and counted but never identified.",
    )
    cooldown_s: float = Field(
        900.0,
        ge=0,
        le=86_400,
        description="After a member's alert at a site, no new alert for the same member there for "
        "this long, in s: one visit gives one alert.",
    )
    claim_ttl_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Verify mode: a member's claim (QR scan, member number) expires after this "
        "long, in s, if the camera has not confirmed it.",
    )
    footfall_line: tuple[Fraction, Fraction, Fraction, Fraction] = Field(
        (0.0, 0.5, 1.0, 0.5),
        description="Default counting line as x1,y1,x2,y2 in fractions of the frame (0-1); a track "
        "crossing it top-to-bottom (left side of the line's direction) is an entry, the other way "
        "an exit. A camera's own line overrides it.",
    )
    footfall_flush_s: float = Field(
        60.0, gt=0, le=3600, description="How often counted footfall is written to the store, in s."
    )
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="Port of `consentcam run`'s Prometheus endpoint; 0 off."
    )
    heartbeat_s: float = Field(
        5.0,
        ge=0.1,
        le=300,
        description="How often each camera worker writes its health (frames per second, drops, "
        "reconnects, last frame, last error: numbers and words, never face data) to the store, "
        "in s.",
    )
    heartbeat_stale_s: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="A camera whose last heartbeat or last frame is older than this, in s, is "
        "shown offline; unset: three heartbeat intervals.",
    )

    @property
    def stale_after_s(self) -> float:
        """Seconds after which a camera's heartbeat or last frame no longer counts as online."""
        return self.heartbeat_stale_s or 3 * self.heartbeat_s


class EventSettings(_Section):
    webhook_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Time allowed for one webhook request, in s."
    )
    webhook_max_attempts: int = Field(
        8, ge=1, le=50, description="Attempts before a webhook delivery is marked failed."
    )
    webhook_backoff_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Wait before the first retry, in s; it doubles after each failure (with "
        "jitter) up to webhook_backoff_max_s.",
    )
    webhook_backoff_max_s: float = Field(
        600.0, gt=0, le=86_400, description="Longest wait between webhook retries, in s."
    )
    webhook_allowed_networks: tuple[IPv4Network | IPv6Network, ...] = Field(
        (),
        max_length=100,
        description='Networks (CIDR, e.g. ["10.20.0.0/16"]) where webhook receivers may be '
        "although not public, over http or https: the shop's own alert relays. Anywhere else a "
        "receiver must be a public address over https (in --dev, loopback is allowed too).",
    )


class ApiSettings(_Section):
    max_json_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest request body, in bytes, of an API route that takes JSON (or "
        "nothing); a larger one gets 413 before it is read. Routes that take files have limits "
        "of their own: enrolment vision.decode.max_bytes x 5 photos, purchases 20 MiB, consent "
        "evidence 14 MB of base64, audit verification 10,000 anchors.",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Longest time, in s, a request's whole body may take to arrive; a slower or "
        "half-sent one gets 408 and its connection is closed.",
    )
    allowed_origins: tuple[
        Annotated[str, Field(max_length=300, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+$")], ...
    ] = Field(
        (),
        max_length=20,
        description='Origins (e.g. ["https://shop.example"]) besides the server\'s own from which '
        "a logged-in browser may change anything: cookie-authenticated unsafe requests must "
        "come from one of them (their Origin header, or Referer without one). Needed behind a "
        "reverse proxy that rewrites the Host header.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONSENTCAM_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = Field(
        Path("consentcam-data"),
        description="Folder holding the embedded SQLite store and local state.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of a PostgreSQL system of record (overrides data_dir)."
    )
    dev: bool = Field(
        False,
        description="Development mode: allows generated keys and other "
        "unsafe defaults. Never in production.",
    )
    vision: VisionSettings = Field(default_factory=VisionSettings)
    source: SourceSettings = Field(default_factory=SourceSettings)
    track: TrackSettings = Field(default_factory=TrackSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides; invalid values raise ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from None
