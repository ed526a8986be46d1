"""The coordinator's configuration: one validated object per process, from a TOML file and the
environment (``SAFECITY_COORDINATOR_`` prefix, ``__`` between nested names)."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.networks import IPvAnyNetwork
from pydantic_settings import SettingsConfigDict

from contract.key_fields import CosignerPublic
from coordinator.action_rules import ActionRule, SignageAction
from coordinator.basemap import read_outline
from coordinator.iot_devices import IotSettings
from kernel.errors import ConfigError
from kernel.settings_file import HOST_PORT, TomlSettings, load_settings_file

IPNetwork = IPvAnyNetwork


class WitnessSettings(BaseModel):
    """One of the city's witnesses: where it takes checkpoints and the key it cosigns with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://[^\s/@]+(/[^\s@]*)?$",
                     description="its base URL (c2sp.org/tlog-witness add-checkpoint below "
                     "it): https, its certificate checked against ca or city_ca; http only to "
                     "a loopback host")
    key: CosignerPublic = Field(description="its cosigner key (C2SP vkey, from `safecity "
                                "audit keygen NAME --witness`)")
    ca: Path | None = Field(default=None, description="the CA certificate (PEM) its HTTPS "
                            "certificate chains to, for a witness outside the city's PKI "
                            "(default: city_ca; the system's CAs only when city_ca is not set); "
                            "its host name is checked either way")

    @field_validator("url")
    @classmethod
    def _tls_unless_loopback(cls, value: str) -> str:
        if value.startswith("http://") and not is_loopback(urlsplit(value).hostname or ""):
            raise ValueError("a witness is reached over https (its certificate checked against "
                             "city_ca or its own ca); plain http only on loopback (127.0.0.1, "
                             "::1, localhost)")
        return value

    def trusted_ca(self, city_ca: Path | None) -> Path | None:
        """The CA file its certificate is checked against (None: the system's CAs)."""
        return self.ca if self.ca is not None else city_ca


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MqttSettings(BaseModel):
    """The MQTT broker alerts are published to (home and city automation, as Frigate and Home
    Assistant use it; topics in docs/mqtt.md). The password comes from a file or the
    environment (keep it out of the TOML file that holds the other options); it is never
    logged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]_-]+$",
                      description="the broker's host name or address")
    port: int = Field(default=8883, ge=1, le=65535,
                      description="the broker's port (8883: MQTT over TLS; 1883 without)")
    tls: bool = Field(default=True, description="speak TLS to the broker, checking its "
                      "certificate and host name; off only on a network of its own")
    ca_file: Path | None = Field(default=None, description="the CA certificate (PEM) the "
                                 "broker's certificate chains to (default: the system's CAs)")
    username: str | None = Field(default=None, min_length=1, max_length=128,
                                 description="the coordinator's user name at the broker")
    password_file: Path | None = Field(default=None, description="a file only the "
                                       "coordinator's user can read, holding the password "
                                       "(one line)")
    password: SecretStr | None = Field(default=None, description="the password, from the "
                                       "environment only (SAFECITY_COORDINATOR_MQTT__PASSWORD); "
                                       "password_file is preferred")
    client_id: str = Field(default="safecity-coordinator", min_length=1, max_length=64,
                           pattern=r"^[A-Za-z0-9._-]+$",
                           description="the MQTT client id (one per worker host: the broker "
                           "drops an older connection with the same id)")
    topic_prefix: str = Field(default="safecity", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
                              description="the first topic levels of everything published")
    qos: Literal[1] = Field(default=1, description="MQTT quality of service: 1, at least "
                            "once (each message is resent until the broker acknowledges it)")
    publish_timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                           description="how long one publish may wait for "
                                           "the broker's PUBACK before it is retried later")
    report_seconds: float = Field(default=10.0, ge=0.5, le=300,
                                  description="how often `coordinator worker` writes the state "
                                  "of its connection to the broker to the database, for the "
                                  "control room's status line; a report older than three times "
                                  "this is not believed (that worker is taken for stopped)")

    @model_validator(mode="after")
    def _one_password(self) -> MqttSettings:
        if self.password_file is not None and self.password is not None:
            raise ValueError("mqtt: set password_file or the password variable, not both")
        if (self.password_file is not None or self.password is not None) \
                and self.username is None:
            raise ValueError("mqtt: a password needs a username")
        return self

    def secret(self) -> str | None:
        """The password, read from its file when it is needed (the publisher reads it again
        after each failed or lost connection, so a corrected or rotated file is used at the
        next one); ConfigError when the file cannot be read."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"mqtt.password_file {self.password_file}: "
                                  f"{exc.strerror or exc}") from None
        return None if self.password is None else self.password.get_secret_value()


class Party(BaseModel):
    """A body or person the record of processing names with its contact details (GDPR Art.
    30(1)(a); LED Art. 24(1)(a)): the controller, its representative, the DPO."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="the name, as in law")
    address: str = Field(default="", max_length=400, description="postal address")
    email: str = Field(default="", max_length=254, pattern=r"^([^@\s]+@[^@\s]+)?$",
                       description="e-mail address")
    phone: str = Field(default="", max_length=40, pattern=r"^[0-9+()./ -]*$",
                       description="telephone number")

    @model_validator(mode="after")
    def _reachable(self) -> Party:
        if not (self.address or self.email or self.phone):
            raise ValueError(f"{self.name}: give contact details (address, email or phone)")
        return self

    def contact(self) -> str:
        """The contact details in one line."""
        return "; ".join(p for p in (self.address, self.email, self.phone) if p)


class CoordinatorSettings(TomlSettings):
    model_config = SettingsConfigDict(env_prefix="SAFECITY_COORDINATOR_",
                                      env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default=Path("safecity-coordinator"),
                           description="keys, the embedded databases, live views")
    origin: str = Field(default="city.safecity/audit", pattern=r"^[a-z0-9][a-z0-9./_-]{0,127}$",
                        description="the audit log's name in its signed checkpoints")
    # Embedded defaults (SQLite files, a broker in SQLite); production: PostgreSQL and Redis.
    database_url: str | None = Field(default=None, description="postgresql+psycopg://... "
                                     "(default: SQLite in data_dir)")
    broker_url: str | None = Field(default=None, description="redis://... or amqp://... "
                                   "(default: a broker in SQLite in data_dir)")
    result_backend: str | None = Field(default=None, description="redis://... "
                                       "(default: SQLite in data_dir)")
    log_format: Literal["json", "text"] = Field(
        default="json", description="long-running processes log one JSON object per line "
        "(process, request and query ids), or plain text")
    host: str = Field(default="127.0.0.1", description="the address the API listens on")
    port: int = Field(default=8080, ge=1, le=65535, description="the API's port")
    workers: int = Field(default=1, ge=1, le=64,
                         description="API worker processes (`coordinator serve`); they share "
                         "the database, the audit log and the broker")
    health_host: str = Field(default="127.0.0.1", description="the address the worker's and "
                             "the beat's health endpoints listen on")
    worker_health_port: int | None = Field(default=None, ge=1, le=65535,
                                           description="`coordinator worker` serves /healthz, "
                                           "/readyz and /metrics on this port (none: off)")
    beat_health_port: int | None = Field(default=None, ge=1, le=65535,
                                         description="`coordinator beat` serves /healthz, "
                                         "/readyz and /metrics on this port, on health_host "
                                         "(none: off)")
    metrics_address: str = Field(
        default="127.0.0.1:9104", pattern=HOST_PORT,
        description="host:port where `coordinator serve` answers /metrics (and /healthz, "
        "/readyz) for Prometheus, apart from the API's port: keep it on loopback or the "
        "monitoring network")
    tls_certificate: Path | None = Field(default=None, description="the API's TLS certificate "
                                         "(PEM; from `safecity pki issue` or the city's PKI); "
                                         "with tls_private_key the API is served over HTTPS")
    tls_private_key: Path | None = Field(default=None, description="the API's TLS private key")
    token_minutes: int = Field(default=30, ge=1, le=24 * 60,
                               description="lifetime of a person's bearer token or session")
    node_token_minutes: int = Field(default=5, ge=1, le=60,
                                    description="lifetime of a node's bearer token")
    login_failures: int = Field(default=5, ge=1, le=100,
                                description="failed logins per account and address...")
    login_window_seconds: int = Field(default=300, ge=1, le=86400,
                                      description="...within this window lock further tries out")
    query_timeout_seconds: float = Field(default=30.0, gt=0, le=3600,
                                         description="a node silent this long is unreachable")
    alert_retention_days: int = Field(default=90, ge=1, le=3650,
                                      description="alerts older than this are deleted by the "
                                      "housekeeping job (the deletion is logged first)")
    evidence_clip_days: int = Field(
        default=3, ge=1, le=30,
        description="the frames of clips of alerts older than this are deleted by the "
        "housekeeping job (logged first), their requests marked purged: a clip is kept at the "
        "coordinator about as long as a node keeps it (evidence_clip_hours, 72 h by default), "
        "not for the alert's whole retention")
    evidence_clip_wait_seconds: int = Field(
        default=300, ge=30, le=86400,
        description="a clip request not sent this long after it was asked (the worker or broker "
        "away) is unsent, one sent this long without an answer unanswered, and a clip with "
        "frames missing this long after its last frame incomplete; each is then over for good "
        "(a late frame or refusal is refused) and may be asked for again (logged again)")
    incident_window_seconds: int = Field(default=120, ge=1, le=86400,
                                         description="an alert joins the open incident of its "
                                         "site, camera, rule and zone or line when it comes at "
                                         "most this long after the incident's last alert")
    live_view_look_seconds: int = Field(default=300, ge=1, le=86400,
                                        description="an operator's fetch of a camera's live "
                                        "view within this long of their last one continues the "
                                        "same look; a longer pause opens a new look, logged as "
                                        "a consultation")
    live_view_look_max_seconds: int = Field(default=3600, ge=60, le=86400,
                                            description="a look that goes on this long (the "
                                            "wall left open) is logged again, as a new look")
    node_events_per_minute: int = Field(default=600, ge=1, le=1_000_000,
                                        description="the events one node may send per minute, "
                                        "sustained (a token bucket per node); events past it "
                                        "are refused, each refusal logged and audited")
    node_event_burst: int = Field(default=1000, ge=1, le=1_000_000,
                                  description="the events one node may send at once above its "
                                  "rate (the bucket's size; a batch holds up to 500)")
    time_zone: str = Field(default="UTC", max_length=64,
                           description="the city's IANA time zone (e.g. Europe/Berlin): the "
                           "control room shows times in it")
    basemap_file: Path | None = Field(
        default=None, description="the city's outline (GeoJSON, WGS 84 longitude/latitude: "
        "streets, districts) the control room's offline map draws under the cameras; checked "
        "at startup (none: the map shows the cameras on a blank background)")
    basemap_tiles: str | None = Field(
        default=None, max_length=200, pattern=r"^/[A-Za-z0-9_{}-][A-Za-z0-9_./{}-]*$",
        description="raster tiles the city hosts on the coordinator's own origin, as a path "
        "template with {z}, {x} and {y} (e.g. /tiles/{z}/{x}/{y}.png, served by the reverse "
        "proxy in front of the coordinator); no other origin can be named, the pages' policy "
        "loads pictures from this origin only (none: the outline only)")
    housekeeping_seconds: int = Field(default=900, ge=5, le=86400,
                                      description="how often `coordinator beat` (or `worker "
                                      "--beat`) has the worker expire warrants, purge alerts "
                                      "and recompute the public transparency report")
    delivery_requeue_seconds: int = Field(default=900, ge=60, le=86400,
                                          description="a webhook or MQTT delivery still pending "
                                          "and untouched (not planned, tried or queued) this "
                                          "long is queued again by the housekeeping job (its "
                                          "task was lost); longer than the broker's backlog "
                                          "and the retries' back-off (a minute)")
    max_aggregate_epsilon: float = Field(default=1.0, gt=0, le=10,
                                         description="the most epsilon one aggregate question "
                                         "may spend at each node")
    # Federated learning: the city's Flower SuperLink (one port: SuperNodes and `flwr run`).
    flower_superlink: str = Field(default="127.0.0.1:9092",
                                  pattern=HOST_PORT,
                                  description="host:port of the SuperLink `fl start` talks to "
                                  "(and `fl superlink` listens on)")
    flower_fleet_address: str | None = Field(
        default=None, pattern=HOST_PORT,
        description="host:port where `fl superlink` takes SuperNodes from other hosts: a TLS "
        "gateway passing only Flower's Fleet API to the SuperLink, which keeps to "
        "flower_superlink (none: SuperNodes must reach flower_superlink itself)")
    flower_health_address: str | None = Field(
        default=None, pattern=HOST_PORT,
        description="host:port of the SuperLink's gRPC health service (grpc.health.v1, no "
        "TLS: keep it on loopback or the monitoring network)")
    flower_ca: Path | None = Field(default=None, description="the city CA certificate")
    city_ca: Path | None = Field(default=None, description="the city CA certificate (PEM) the "
                                 "city's TLS hosts chain to; sent in every enrolment document, "
                                 "and nodes pin it for the broker and the SuperLink; the "
                                 "coordinator checks its witnesses' HTTPS certificates against "
                                 "it (unless a witness names its own ca)")
    flower_certificate: Path | None = Field(default=None,
                                            description="the SuperLink's TLS certificate")
    flower_private_key: Path | None = Field(default=None,
                                            description="the SuperLink's TLS private key")
    max_training_epsilon: float = Field(default=8.0, gt=0, le=20,
                                        description="the most epsilon one training run may "
                                        "spend at each node")
    witnesses: list[WitnessSettings] = Field(
        default=[], max_length=32, description="the witnesses (other institutions) that "
        "cosign the audit log's checkpoints; nodes pin their keys at enrolment and believe a "
        "checkpoint only with witness_quorum of their cosignatures")
    witness_quorum: int = Field(default=1, ge=1, le=32, description="how many witnesses must "
                                "cosign a checkpoint before a query is dispatched under it")
    witness_timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                           description="how long one witness may take to "
                                           "answer before it counts as down")
    max_targets: int = Field(default=1000, ge=1, le=10_000,
                             description="the most targets one warrant or query may list")
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024,
                                  description="request bodies larger than this are refused")
    webhook_allowed_networks: list[IPNetwork] = Field(
        default=[], max_length=64,
        description="CIDR networks webhooks may reach although they are not public (loopback, "
        "private, link-local...), e.g. a signage controller on 10.20.0.0/24; empty: public "
        "addresses only")
    mqtt: MqttSettings | None = Field(
        default=None, description="the MQTT broker alerts are published to (none: no MQTT)")
    iot: IotSettings | None = Field(
        default=None, description="the city's own devices (SOS buttons, lamp controllers, "
        "sensors) on the [mqtt] broker; lamp controllers linked to cameras are commanded on "
        "when a crowd forms with their lamps off (docs/mqtt.md)")
    actions: list[ActionRule] = Field(
        default=[], max_length=256,
        description="which actions each alert runs, chosen per rule type, rule id, site and "
        "camera (docs/mqtt.md); empty: every alert runs the MQTT event and every webhook")
    signage: list[SignageAction] = Field(
        default=[], max_length=256,
        description="digital signs: a message template published to a sign's MQTT topic "
        "when an `actions` entry names the sign")
    denial_interval_seconds: int = Field(default=300, ge=10, le=86400,
                                         description="anonymous denials are counted per source "
                                         "network over this interval and logged as one entry")
    anonymous_denials_per_address: int = Field(default=300, ge=1, le=100_000,
                                               description="anonymous denials one address may "
                                               "cause per interval; past it: 429 responses")

    controller: Party | None = Field(
        default=None, description="the controller (the city body responsible for the "
        "processing), named with its contact details in the record of processing (GDPR Art. "
        "30(1)(a)); e.g. {name = \"City of X\", address = \"...\", email = \"...\"}")
    representative: Party | None = Field(
        default=None, description="the controller's representative, where it has one (GDPR "
        "Art. 27), for the record of processing")
    data_protection_officer: Party | None = Field(
        default=None, description="the data protection officer, named with contact details in "
        "the record of processing (GDPR Art. 30(1)(a), Art. 37(7))")

    @field_validator("time_zone")
    @classmethod
    def _iana(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin)"
                             ) from None
        return value

    @field_validator("basemap_file")
    @classmethod
    def _outline(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_outline(value)  # a ValueError names the problem; pydantic names the setting
        return value

    @field_validator("basemap_tiles")
    @classmethod
    def _tiles(cls, value: str | None) -> str | None:
        if value is not None and not all(f"{{{k}}}" in value for k in "zxy"):
            raise ValueError("a tile template names {z}, {x} and {y}")
        return value

    @model_validator(mode="after")
    def _quorum(self) -> CoordinatorSettings:
        if self.witnesses and self.witness_quorum > len(self.witnesses):
            raise ValueError(f"witness_quorum {self.witness_quorum} is more than the "
                             f"{len(self.witnesses)} witnesses configured")
        for position, witness in enumerate(self.witnesses):
            ca = witness.trusted_ca(self.city_ca)
            if ca is None or not witness.url.startswith("https://"):
                continue
            setting = f"witnesses.{position}.ca" if witness.ca is not None else "city_ca"
            try:
                ssl.create_default_context(cafile=str(ca))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"{setting} {ca}: cannot be used to check the HTTPS "
                                 f"certificate of the witness at {witness.url} "
                                 f"({getattr(exc, 'strerror', None) or exc})") from None
        return self

    @model_validator(mode="after")
    def _actions(self) -> CoordinatorSettings:
        signs = [s.name for s in self.signage]
        twice = sorted({n for n in signs if signs.count(n) > 1})
        if twice:
            raise ValueError(f"signage: the name {twice[0]!r} is used twice")
        if self.iot is not None and self.mqtt is None:
            raise ValueError("iot: devices speak over MQTT; configure [mqtt]")
        if self.signage and self.mqtt is None:
            raise ValueError("signage: signs are published over MQTT; configure [mqtt]")
        for position, rule in enumerate(self.actions):
            unknown = [n for n in rule.signage if n not in signs]
            if unknown:
                raise ValueError(f"actions.{position}.signage: {unknown[0]!r} is not the name "
                                 "of a [[signage]] entry")
            if rule.mqtt and self.mqtt is None:
                raise ValueError(f"actions.{position}.mqtt: no [mqtt] broker is configured")
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'coordinator.sqlite'}"

    @property
    def broker(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.sqlite'}"

    @property
    def backend(self) -> str:
        return self.result_backend or f"db+sqlite:///{self.data_dir / 'results.sqlite'}"

    @property
    def trainings_dir(self) -> Path:
        return self.data_dir / "trainings"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


def load_coordinator_settings(path: Path | None = None, **overrides: Any) -> CoordinatorSettings:
    """Load and validate the coordinator's settings; errors name the field that is wrong."""
    return load_settings_file(CoordinatorSettings, path, **overrides)
