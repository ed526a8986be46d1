"""The ServerApp's view of the Flower grid: prompt polling, and a ledger of which node was sent
what in each round and what it answered, so a run's record can say who dropped out and why."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flwr.common import Message
from flwr.server import Grid

POLL_SECONDS = 0.1
SILENT = "no answer before the round's timeout"


@dataclass
class GroupLog:
    """One group of messages (a round, or the pre-flight): per node, sent and answered."""

    sent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    answered: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[int, str | None] = field(default_factory=dict)  # flwr's reason is optional

    def completed(self, node: int) -> bool:
        return node not in self.errors and self.answered[node] == self.sent[node] > 0

    def reason(self, node: int) -> str | None:
        return self.errors.get(node, SILENT)


class PromptGrid:
    """Flower's HTTP grid waits 3 s between polls for replies; a round of SecAgg+ has four
    exchanges. This asks every ``POLL_SECONDS`` instead (same messages, same public API), and
    keeps a ``GroupLog`` per message group."""

    def __init__(self, grid: Grid):
        self._grid = grid
        self.groups: dict[str, GroupLog] = defaultdict(GroupLog)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        for message in messages:
            self.groups[message.metadata.group_id].sent[message.metadata.dst_node_id] += 1
        waiting = set(self._grid.push_messages(messages))
        end = time.monotonic() + (timeout if timeout is not None else float("inf"))
        replies: list[Message] = []
        while waiting and time.monotonic() < end:
            got = list(self._grid.pull_messages(waiting))
            for reply in got:
                group = self.groups[reply.metadata.group_id]
                if reply.has_error():
                    group.errors[reply.metadata.src_node_id] = reply.error.reason
                else:
                    group.answered[reply.metadata.src_node_id] += 1
            replies += got
            waiting -= {m.metadata.reply_to_message_id for m in got}
            if waiting:
                time.sleep(POLL_SECONDS)
        return replies
