"""Where a node keeps its local stores, every path derived once from its data folder
(``NodeSettings.stores``); how they are opened and migrated is ``nodes.local_db``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StorePaths:
    data_dir: Path

    @property
    def sightings(self) -> Path:
        """Plate sightings, plates keyed (``nodes.sightings``)."""
        return self.data_dir / "sightings.sqlite"

    @property
    def events(self) -> Path:
        """Anonymous analytics events and visits, and their outbox (``nodes.events``)."""
        return self.data_dir / "events.sqlite"

    @property
    def query_ledger(self) -> Path:
        """Warrant uses, stored answers, revocations (``nodes.query_ledger``)."""
        return self.data_dir / "query-ledger.sqlite"

    @property
    def privacy_ledger(self) -> Path:
        """The differential-privacy budget spent (``nodes.privacy_ledger``)."""
        return self.data_dir / "privacy-ledger.sqlite"

    @property
    def export_reports(self) -> Path:
        """Evidence exports not yet reported to the city's log (``nodes.export_reports``)."""
        return self.data_dir / "export-reports.sqlite"

    @property
    def trajectories(self) -> Path:
        """Person and vehicle trajectories for federated learning
        (``nodes.analytics.trajectories``)."""
        return self.data_dir / "trajectories.sqlite"

    @property
    def bodycam_nonces(self) -> Path:
        """Body-worn cameras' upload nonces already taken and the register of clips taken
        (``nodes.bodycam_register``)."""
        return self.data_dir / "bodycam-nonces.sqlite"
