"""The node's configuration: one validated object per process, from a TOML file and the
environment (``SAFECITY_`` prefix, ``__`` between nested names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from contract.camera_placement import Placement
from contract.evidence import MAX_JPEG_BYTES
from contract.evidence_clips import MAX_FRAME_BYTES, MAX_FRAMES, MAX_SECONDS_FROM_EVENT, MAX_SIDE
from kernel.errors import ConfigError
from kernel.settings_file import HOST_PORT, TomlSettings, load_settings_file
from nodes.analytics.config import CameraAnalytics
from nodes.analytics.stitching import CameraLink
from nodes.stores import StorePaths
from privacy import model_registry
from privacy.redaction.policy import RedactionPolicy


class CameraConfig(BaseModel):
    """One camera: where its frames come from and how they are redacted."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                    description="the camera's name at this site")
    source: str = Field(min_length=1, description="file path, rtsp:// URL, "
                        "onvif://host[:port][/profile], image, or synthetic:")
    credentials_file: Path | None = Field(
        default=None, description="the camera's user name and password (RTSP and ONVIF): a "
        "TOML file only the node's user can read (`safecity node cameras credentials`)")
    redaction: RedactionPolicy | None = Field(
        default=None, description="this camera's own redaction (default: the node's)")
    max_seconds: float | None = Field(default=None, gt=0,
                                      description="stop after this much video (tests, files)")
    retention_days: int | None = Field(default=None, ge=0, le=3650,
                                       description="raw video, plate sightings, events and visits "
                                       "kept this long (node default)")
    analytics: CameraAnalytics = Field(default=CameraAnalytics(),
                                       description="zones, lines, rules and detector")
    # the camera's public notice (published on the city's transparency portal)
    location: str = Field(default="", max_length=200,
                          description="where it looks, in general terms (public)")
    purpose: str = Field(default="", max_length=200, description="why it is there (public)")
    placement: Placement | None = Field(
        default=None, description="where it stands and looks (latitude, longitude, heading, "
        "field_of_view, range_m): `safecity node keys` hands it to enrolment for the control "
        "room's map (none: the map lists the camera as not placed)")

    @model_validator(mode="after")
    def _credentials_in_their_file(self) -> CameraConfig:
        from urllib.parse import urlsplit

        if "://" in self.source:
            try:
                userinfo = urlsplit(self.source).username is not None
            except ValueError:
                raise ValueError("source: not a valid URL") from None
            if userinfo and self.credentials_file is not None:
                raise ValueError("source: carries credentials and credentials_file is set; "
                                 "keep them in the credentials file only")
        elif self.credentials_file is not None:
            raise ValueError("credentials_file: only a network camera (rtsp://, onvif://...) "
                             "takes credentials")
        if self.source.startswith("onvif://"):
            from nodes.onvif.streams import parse_onvif_uri

            try:
                parse_onvif_uri(self.source)
            except ConfigError as exc:
                raise ValueError(f"source: {exc}") from None
        return self


class CustodianConfig(BaseModel):
    """Someone who holds one share of the node's master key (court, DPO, operator...)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
                      description="who holds the share (court, dpo, operator...)")
    public_key: str = Field(description="x25519:<base64>, from `safecity vault keygen`")


class BodyCameraConfig(BaseModel):
    """A body-worn camera enrolled at the site: its clips are taken only when signed by its
    key (``nodes.bodycam_claim``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                    description="the device's id (its clips' camera name in the vault)")
    public_key: str = Field(description="ed25519:<base64>, the device's signing key")

    @field_validator("public_key")
    @classmethod
    def _parsed(cls, value: str) -> str:
        from privacy.signing import KeyFileError, VerifyKey

        try:
            VerifyKey.parse(value)
        except KeyFileError as exc:
            raise ValueError(str(exc)) from None
        return value


class PrivacyBudgetConfig(BaseModel):
    """The node's privacy budget: each calendar month (in ``time_zone``, on the node's own clock)
    may spend ``period_epsilon`` and ``period_delta``; all months together may spend
    ``lifetime_epsilon`` and ``lifetime_delta``, a cap that never renews. The guarantee is
    per record (a visit, a track): a person with k records loses up to k times as much (group
    privacy; SECURITY.md, "Privacy budget periods")."""

    model_config = ConfigDict(extra="forbid")

    period: Literal["month"] = Field(default="month", description="the accounting period: a "
                                     "calendar month, renewed at its first midnight")
    time_zone: str = Field(default="UTC", description="the IANA time zone whose calendar "
                           "months are the periods (e.g. UTC, Europe/Berlin)")
    period_epsilon: float = Field(default=10.0, gt=0, le=100,
                                  description="epsilon one period may spend")
    period_delta: float = Field(default=1e-5, ge=0, lt=1e-2,
                                description="delta one period may spend")
    lifetime_epsilon: float = Field(default=60.0, gt=0, le=1000,
                                    description="epsilon the node may spend over its lifetime, "
                                    "all periods together (never renewed)")
    lifetime_delta: float = Field(default=6e-5, ge=0, lt=1e-1,
                                  description="delta the node may spend over its lifetime")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        from privacy.dp.periods import zone

        zone(name)
        return name

    @model_validator(mode="after")
    def _period_within_lifetime(self) -> PrivacyBudgetConfig:
        for part in ("epsilon", "delta"):
            if getattr(self, f"period_{part}") > getattr(self, f"lifetime_{part}"):
                raise ValueError(f"period_{part} ({getattr(self, f'period_{part}'):g}) cannot "
                                 f"exceed lifetime_{part} ({getattr(self, f'lifetime_{part}'):g})")
        return self


class NodeSettings(TomlSettings):
    model_config = SettingsConfigDict(env_prefix="SAFECITY_", env_nested_delimiter="__",
                                      extra="forbid")

    site_id: str = Field(default="site-1", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                         description="the site's name, as enrolled at the coordinator")
    data_dir: Path = Field(default=Path("safecity-data"),
                           description="keys, vault, databases and outputs (keep it private)")
    model_dir: Path = Field(default_factory=model_registry.default_cache_dir,
                            description="the pinned detection models (`safecity models install`)")
    redaction: RedactionPolicy = Field(default=RedactionPolicy(),
                                       description="how faces and plates are hidden")
    cameras: list[CameraConfig] = Field(default=[], description="the site's cameras")
    retention_days: int = Field(default=30, ge=0, le=3650,
                                description="raw video is crypto-shredded, plate "
                                "sightings, events and visits deleted after this many days "
                                "(`safecity vault purge`)")
    segment_seconds: float = Field(default=10.0, gt=0, le=600,
                                   description="raw video is encrypted in segments this long")
    vault_reserve_mb: int = Field(default=64, ge=0, le=1 << 20,
                                  description="free disk space the vault never fills: room "
                                  "left for the audit log and the node's databases")
    custodians: list[CustodianConfig] = Field(default=[],
                                             description="who holds shares of the master key")
    body_cameras: list[BodyCameraConfig] = Field(
        default=[], description="body-worn cameras whose signed clips the site takes "
        "(`safecity node ingest`, the upload server)")
    bodycam_host: str = Field(default="127.0.0.1", description="the address body-worn "
                              "cameras upload to (the site's own network, behind TLS)")
    bodycam_port: int | None = Field(default=None, ge=0, le=65535,
                                     description="`node uploads` takes body-worn cameras' "
                                     "clips on this port (none: off)")
    bodycam_max_mb: int = Field(default=512, ge=1, le=16384,
                                description="a larger clip is refused before it is read")
    bodycam_skew_seconds: int = Field(default=300, ge=10, le=86400,
                                      description="a claim sent further from the node's "
                                      "clock is refused (replays past it are refused too)")
    camera_links: list[CameraLink] = Field(default=[], description="the site's camera graph: "
                                           "which camera a track can reach next, and how fast")
    custody_threshold: int = Field(default=2, ge=1, le=255,
                                   description="shares needed to recover the master key")
    reconnect_attempts: int = Field(default=5, ge=0, le=1000,
                                    description="tries to reconnect a network camera")
    reconnect_backoff_seconds: float = Field(default=1.0, gt=0, le=60,
                                             description="first wait between tries (doubling)")
    plate_sightings: bool = Field(default=True, description="read plates before blurring and "
                                  "keep keyed-hash sightings for warrant-gated watchlists")
    face_match_threshold: float = Field(default=0.5, gt=0, le=1.0,
                                        description="descriptor distance under which two faces "
                                        "match (face watchlist searches only)")
    # Watchlist queries arrive on this node's own queue (see `safecity node worker`).
    broker_url: str | None = Field(default=None,
                                   description="redis://..., amqp://... or sqla+sqlite:///...")
    result_backend: str | None = Field(default=None, description="redis://... or db+sqlite:///...")
    query_max_age_seconds: int = Field(default=1800, ge=10, le=86400,
                                       description="older queries are refused as replays")
    live_view_seconds: float = Field(default=2.0, ge=0, le=3600,
                                     description="a redacted snapshot of each camera goes to the "
                                     "control room this often (0: none)")
    live_view_width: int = Field(default=640, ge=64, le=1920,
                                 description="snapshots are downscaled to this width")
    evidence_seconds: float = Field(default=10.0, ge=0, le=3600,
                                    description="an event's evidence (its frame after "
                                    "redaction, the object's box drawn) is taken for at most one "
                                    "event of a rule and zone or line this often, in seconds of "
                                    "video (0: none); keep it under the coordinator's "
                                    "incident_window_seconds, so that every incident has some")
    evidence_width: int = Field(default=640, ge=64, le=1920,
                                description="evidence snapshots are downscaled to this width")
    evidence_max_bytes: int = Field(default=120_000, ge=8_000, le=MAX_JPEG_BYTES,
                                    description="an evidence JPEG's cap: quality, then size, "
                                    "are lowered until it fits")
    # A short clip of the frames around each event that gets evidence, kept at the node and
    # sent only for a request the city's log holds (``nodes.inbox.clips``).
    evidence_clip_hours: int = Field(default=72, ge=0, le=24 * 3650,
                                     description="clips of events (redacted frames around the "
                                     "evidence's) are kept this long, never longer than the raw "
                                     "video (`retention_days`, each camera's too); 0: none cut")
    evidence_clip_before_seconds: float = Field(default=2.0, ge=0, le=MAX_SECONDS_FROM_EVENT,
                                                description="a clip starts this long before "
                                                "the event's frame")
    evidence_clip_after_seconds: float = Field(default=2.0, ge=0, le=MAX_SECONDS_FROM_EVENT,
                                               description="and ends this long after it")
    evidence_clip_fps: float = Field(default=4.0, gt=0, le=15,
                                     description="at most this many frames a second")
    evidence_clip_width: int = Field(default=480, ge=64, le=MAX_SIDE,
                                     description="clip frames are downscaled to this width")
    evidence_clip_max_bytes: int = Field(default=40_000, ge=8_000, le=MAX_FRAME_BYTES,
                                         description="a clip frame's JPEG cap: quality, then "
                                         "size, are lowered until it fits")
    redelivery_seconds: int = Field(default=300, ge=1, le=86400,
                                    description="an unacknowledged query is redelivered after this")
    log_format: Literal["json", "text"] = Field(
        default="json", description="long-running processes log one JSON object per line "
        "(process, request and query ids), or plain text")
    health_host: str = Field(default="127.0.0.1", description="the address /healthz, /readyz "
                             "and /metrics are served on (keep it on the site's own network)")
    health_port: int | None = Field(default=None, ge=0, le=65535,
                                    description="`node run` serves health and metrics on this "
                                    "port (none: off)")
    worker_health_port: int | None = Field(default=None, ge=0, le=65535,
                                           description="`node worker` serves health and "
                                           "metrics on this port (none: off)")

    # Differential privacy: every release (planners' aggregates, federated training) is spent
    # from this budget, kept in the node's privacy ledger, and refused past it.
    privacy_budget: PrivacyBudgetConfig = Field(
        default=PrivacyBudgetConfig(),
        description="what differentially private releases may spend here: per calendar month "
        "and over the node's lifetime (a change is logged in the node's audit log, with the "
        "old and new values, when its worker starts under it)")
    dp_suppress_below: int = Field(default=5, ge=0, le=1000,
                                   description="noisy counts under this are withheld")
    # Federated learning: what the site trains on, and how little of it is enough.
    trajectory_retention_days: int = Field(default=7, ge=0, le=90,
                                           description="anonymous trajectories (for training the "
                                           "unusual-behaviour model) are kept this long; 0 keeps "
                                           "none")
    max_training_epsilon: float = Field(default=8.0, gt=0, le=100,
                                        description="the most epsilon one training run may "
                                        "spend here, whatever the coordinator asks")
    min_training_examples: int = Field(default=50, ge=1, le=1_000_000,
                                       description="fewer local examples than this and the node "
                                       "declines a training run")
    unusual_quantile: float = Field(default=0.99, gt=0.5, lt=1.0,
                                    description="an installed unusual-behaviour model alerts on "
                                    "tracks scoring above this quantile of the site's own tracks")
    flower_superlink: str | None = Field(default=None, pattern=HOST_PORT,
                                         description="the city's Flower SuperLink, host:port")
    flower_ca: Path | None = Field(default=None, description="the city CA certificate that "
                                   "signed the SuperLink's TLS certificate (default: the one "
                                   "pinned at enrolment)")
    flower_health_address: str | None = Field(
        default=None, pattern=HOST_PORT,
        description="host:port of the SuperNode's gRPC health service (grpc.health.v1, no TLS)")

    @model_validator(mode="before")
    @classmethod
    def _budget_moved(cls, data: Any) -> Any:
        import os

        old = {"privacy_epsilon", "privacy_delta"}
        # a file's key, or an environment variable, that would otherwise be ignored in silence
        if ((isinstance(data, dict) and old & set(data))
                or {f"SAFECITY_{name.upper()}" for name in old} & set(os.environ)):
            raise ValueError("privacy_epsilon and privacy_delta are replaced by the "
                             "[privacy_budget] table: period_epsilon and period_delta (each "
                             "calendar month), lifetime_epsilon and lifetime_delta (never "
                             "renewed); see docs/configuration.md")
        return data

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.id for c in cameras]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"camera ids must be unique, repeated: {', '.join(duplicates)}")
        return cameras

    @model_validator(mode="after")
    def _linked_cameras(self) -> NodeSettings:
        ids = {c.id for c in self.cameras}
        for index, link in enumerate(self.camera_links):
            for end in ("source", "target"):
                if getattr(link, end) not in ids:
                    raise ValueError(f"camera_links.{index}.{end}: no camera "
                                     f"{getattr(link, end)!r} on this node")
        return self

    @model_validator(mode="after")
    def _clips_within_raw_retention(self) -> NodeSettings:
        # a clip outliving the raw video would keep pictures of a day already shredded
        days = min([self.retention_days, *(c.retention_days for c in self.cameras
                                           if c.retention_days is not None)])
        if self.evidence_clip_hours > 24 * days:
            raise ValueError(f"evidence_clip_hours ({self.evidence_clip_hours}) exceeds the raw "
                             f"video's retention ({days} days: {24 * days} hours); lower it "
                             "(0: no clips)")
        span = self.evidence_clip_before_seconds + self.evidence_clip_after_seconds
        if span * self.evidence_clip_fps + 2 > MAX_FRAMES:
            raise ValueError(f"a clip of {span} s at {self.evidence_clip_fps} frames a second "
                             f"exceeds the {MAX_FRAMES} frames a clip may have")
        return self

    def policy_for(self, camera: CameraConfig) -> RedactionPolicy:
        return camera.redaction or self.redaction

    @property
    def stores(self) -> StorePaths:
        return StorePaths(self.data_dir)

    @property
    def vault_dir(self) -> Path:
        return self.data_dir / "vault"

    @property
    def master_key_file(self) -> Path:
        """In production, a path on a separate protected volume (or a TPM-backed file)."""
        return self.data_dir / "keys" / "master.key"

    @property
    def node_key_file(self) -> Path:
        return self.data_dir / "keys" / "node.key"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def audit_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'node-audit.sqlite'}"

    @property
    def node_name(self) -> str:
        return f"{self.site_id}.safecity/node"


def load_settings(path: Path | None = None, **overrides: Any) -> NodeSettings:
    """Load and validate the node's settings; errors name the field that is wrong."""
    return load_settings_file(NodeSettings, path, **overrides)
