"""The coordinator process's shared state: settings, database, keys, audit log, dispatcher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from audit.log import AuditLog
from audit.records import Actor, Event
from coordinator.config import CoordinatorSettings
from coordinator.db import make_engine, migrate, session_factory
from coordinator.dispatch import Dispatcher
from coordinator.keys import CoordinatorKeys, load_keys
from coordinator.metrics import CoordinatorMetrics
from coordinator.outbound import Resolver, system_resolver
from coordinator.witnessing import Witnessing, witnessing_from

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes: everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Coordinator:
    settings: CoordinatorSettings
    sessions: sessionmaker
    keys: CoordinatorKeys
    audit: AuditLog
    dispatcher: Dispatcher
    clock: Clock = field(default=utc_now)
    metrics: CoordinatorMetrics = field(default_factory=CoordinatorMetrics)
    resolve: Resolver = field(default=system_resolver)  # host names, for outbound requests

    def __post_init__(self) -> None:
        self.metrics.watch(self)

    @classmethod
    def open(cls, settings: CoordinatorSettings, clock: Clock = utc_now) -> Coordinator:
        created = not settings.data_dir.exists()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db_url)
        try:
            migrate(engine)
        except BaseException:  # a database that cannot be used: leave no empty data folder
            engine.dispose()
            if created and not any(settings.data_dir.iterdir()):
                settings.data_dir.rmdir()
            raise
        keys = load_keys(settings.keys_dir, settings.origin)
        audit = AuditLog(settings.db_url, keys.log)
        dispatcher = Dispatcher(settings.broker, settings.backend)
        return cls(settings, session_factory(engine), keys, audit, dispatcher, clock)

    @cached_property
    def witnessing(self) -> Witnessing:
        """The city's witnesses, asked to cosign the log's newest checkpoint."""
        city_ca = self.settings.city_ca
        return witnessing_from(self.audit, [(w.url, w.key, _path(w.trusted_ca(city_ca)))
                                            for w in self.settings.witnesses],
                               self.settings.witness_quorum,
                               self.settings.witness_timeout_seconds)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def actor(self, username: str, role: str, agency: str) -> Actor:
        return Actor(pseudonym=self.keys.pseudonym(username), role=role, agency=agency)

    def log(self, event: Event) -> int:
        """Append and wait until the entry is durable under a signed checkpoint."""
        index = self.audit.append(event).index
        self.metrics.audit_appends.inc()
        return index

    def close(self) -> None:
        self.audit.close()
        self.dispatcher.close()


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
