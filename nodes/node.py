"""A camera-site node: every configured camera in its own thread, isolated from the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from functools import partial

from contract.live_views import EXPIRES_SECONDS
from contract.tasks import (
    CLIP_TASK,
    EVENTS_QUEUE,
    EVENTS_TASK,
    EVIDENCE_TASK,
    LIVE_QUEUE,
    SNAPSHOT_TASK,
)
from kernel.errors import ConfigError
from nodes import city_ca, health
from nodes.analytics.aggression_watch import WEAPON_INPUT_SIZE, load_threat_models
from nodes.analytics.behaviour import Scorer
from nodes.analytics.config import Weapon
from nodes.analytics.runner import SiteAnalytics
from nodes.analytics.stitching import Stitcher
from nodes.analytics.trajectories import TrajectoryStore
from nodes.camera import CameraReport, run_camera
from nodes.camera_watch import CameraStates, watch
from nodes.config import NodeSettings
from nodes.enrolment import enrolment_file, load_enrolment
from nodes.event_sender import (
    BackgroundSender,
    ClipSender,
    EventSender,
    EvidenceSender,
    Publish,
    celery_publisher,
)
from nodes.events import EventStore
from nodes.identity import load_identity
from nodes.live_view import LiveViewSender
from nodes.sightings import SightingStore
from nodes.vault.site import open_vault
from privacy import model_registry
from privacy.redaction.engine import Detectors
from privacy.redaction.objects import ObjectDetector, SharedObjects
from privacy.redaction.plate_reader import PlateReader
from privacy.signing import SigningKey

log = logging.getLogger(__name__)


def run_node(settings: NodeSettings) -> list[CameraReport]:
    """Run every camera to the end of its source; return one report per camera, in config order.
    A camera that cannot be reached is retried with back-off, its health ``down``, while the
    others run (:mod:`nodes.camera_watch`).

    Detectors are loaded once per distinct policy and shared (they serialise their own calls).
    When the vault is initialised (`safecity vault init`), raw video is recorded into it too.
    """
    if not settings.cameras:
        raise ConfigError("the node has no cameras configured ([[cameras]] in the config file)")
    objects = _objects(settings)
    detectors: dict[str, Detectors] = {}
    for camera in settings.cameras:
        policy = settings.policy_for(camera)
        key = policy.model_dump_json()
        if key not in detectors:
            detectors[key] = Detectors(policy, settings.model_dir,
                                       objects.get(policy.object_input_size))
    sightings, reader = None, None
    if settings.plate_sightings and any(settings.policy_for(c).plates for c in settings.cameras):
        reader = PlateReader(model_registry.verified_model("ppocr-rec", settings.model_dir))
        sightings = SightingStore(settings.stores.sightings,
                                  load_identity(settings.keys_dir).plate_key)
    site = None
    if any(c.analytics.rules for c in settings.cameras):
        # weapon and aggression models first: one missing stops the node here, naming the fix
        threats = load_threat_models([c.analytics for c in settings.cameras], settings.model_dir,
                                     objects.get(WEAPON_INPUT_SIZE))
        site = SiteAnalytics(EventStore(settings.stores.events),
                             Stitcher(settings.camera_links),
                             load_identity(settings.keys_dir).token_key,
                             _trajectories(settings), _behaviour(settings), threats,
                             objects)
    opened = open_vault(settings) if settings.master_key_file.exists() else None
    try:
        with outboxes(settings, site.events if site else None), \
                live_views(settings) as live, \
                ThreadPoolExecutor(max_workers=len(settings.cameras),
                                   thread_name_prefix="camera") as pool:
            states = CameraStates([camera.id for camera in settings.cameras])
            futures = [
                pool.submit(watch, camera.id, partial(
                    run_camera, camera, settings,
                    detectors[settings.policy_for(camera).model_dump_json()],
                    opened.vault if opened else None, sightings, reader, site, live),
                    states, settings.reconnect_backoff_seconds)
                for camera in settings.cameras
            ]
            with health.serving(settings, settings.health_port, states.snapshot):
                return [future.result() for future in futures]
    finally:
        if opened is not None:
            opened.close()
        if sightings is not None:
            sightings.close()
        if site is not None:
            site.events.close()
            if site.trajectories is not None:
                site.trajectories.close()


def _objects(settings: NodeSettings) -> dict[int, SharedObjects]:
    """The COCO detector, loaded once per input size that anything on the node asks for: the
    cameras' analytics (``detector = "nanodet"``), their redaction (people for heads, vehicles
    for plates) and weapon rules. Each keeps every class above the lowest threshold asked for;
    each user filters its own classes and scores, and a frame asked about twice at one size is
    detected once (:class:`~privacy.redaction.objects.SharedObjects`). A missing or altered
    model stops the node here with the command that fixes it."""
    wanted: dict[int, float] = {}

    def want(size: int, threshold: float) -> None:
        wanted[size] = min(threshold, wanted.get(size, 1.0))

    for camera in settings.cameras:
        policy, analytics = settings.policy_for(camera), camera.analytics
        if policy.plates or (policy.faces and policy.heads):
            want(policy.object_input_size, policy.object_threshold)
        if analytics.rules and analytics.detector == "nanodet":
            want(analytics.nanodet.input_size, analytics.nanodet.floor)
        for rule in analytics.rules:
            if isinstance(rule, Weapon):
                want(WEAPON_INPUT_SIZE, rule.min_score)
    if not wanted:
        return {}
    model = model_registry.verified_model("nanodet", settings.model_dir)
    return {size: SharedObjects(ObjectDetector(model, input_size=size, score_threshold=floor,
                                               threads=2))
            for size, floor in sorted(wanted.items())}


def _trajectories(settings: NodeSettings) -> TrajectoryStore | None:
    """The site's anonymous trajectories, for federated training (none kept at retention 0)."""
    if settings.trajectory_retention_days == 0:
        return None
    store = TrajectoryStore(settings.stores.trajectories,
                            settings.trajectory_retention_days)
    store.purge()
    return store


def _behaviour(settings: NodeSettings) -> Scorer | None:
    """The installed unusual-behaviour model, when the node is enrolled and has one."""
    if not enrolment_file(settings.data_dir).exists():
        return None
    from nodes.learning.deployed import load_behaviour_model

    model = load_behaviour_model(settings, load_enrolment(settings.data_dir))
    if model is None:
        return None
    log.info("unusual-behaviour model of run %s, threshold %.4f", model.run_id, model.threshold)
    return Scorer(model.score, model.threshold)


def live_views(settings: NodeSettings) -> AbstractContextManager[LiveViewSender | None]:
    """Redacted snapshots for the control room, when the node is enrolled, has a broker and
    ``live_view_seconds`` is above 0."""
    if (not settings.live_view_seconds or not settings.broker_url
            or not enrolment_file(settings.data_dir).exists()):
        return nullcontext()
    enrolment = load_enrolment(settings.data_dir)
    broker = city_ca.broker_url(settings)
    assert broker is not None  # settings.broker_url is set: checked above
    publish, close = celery_publisher(broker, SNAPSHOT_TASK, LIVE_QUEUE, EXPIRES_SECONDS)
    return BackgroundSender(LiveViewSender(publish, enrolment.node_id, enrolment.site_id,
                                           load_identity(settings.keys_dir).signing,
                                           settings.live_view_seconds,
                                           settings.live_view_width), close)


@contextmanager
def outboxes(settings: NodeSettings, events: EventStore | None) -> Iterator[None]:
    """The outbox's events and their evidence go to the coordinator while the node works
    (its cameras, or a body-worn clip's intake). Evidence goes on the pictures' queue, never
    expiring: it is the record of an alert. Its sender is started first so that it stops
    last: its final flush finds the events the events' sender has just flushed (evidence
    goes only after its event). The clips the node's worker queued for logged requests go on
    the pictures' queue too."""
    clips = partial(ClipSender, keep=timedelta(hours=settings.evidence_clip_hours))
    with _outbox(settings, events if settings.evidence_clip_hours else None, clips,
                 CLIP_TASK, LIVE_QUEUE), \
            _outbox(settings, events if settings.evidence_seconds else None, EvidenceSender,
                    EVIDENCE_TASK, LIVE_QUEUE), _outbox(settings, events, EventSender):
        yield


def _outbox(settings: NodeSettings, events: EventStore | None,
            kind: Callable[[EventStore, Publish, str, str, SigningKey],
                           EventSender | EvidenceSender | ClipSender], task: str = EVENTS_TASK,
            queue: str = EVENTS_QUEUE) -> AbstractContextManager[object]:
    """The store's events (or their evidence, with its ``task`` and ``queue``) go to the
    coordinator when the node is enrolled and has a broker; otherwise they stay in the
    node's event store."""
    if events is None or not settings.broker_url \
            or not enrolment_file(settings.data_dir).exists():
        return nullcontext()
    enrolment = load_enrolment(settings.data_dir)
    broker = city_ca.broker_url(settings)
    assert broker is not None  # settings.broker_url is set: checked above
    publish, close = celery_publisher(broker, task, queue)
    return BackgroundSender(kind(events, publish, enrolment.node_id, enrolment.site_id,
                                 load_identity(settings.keys_dir).signing), close)
