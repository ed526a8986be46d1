"""A separate process that appends to an audit log and records each acknowledgement.

Used by the concurrency and crash tests:
``python tests/support/audit_writer.py URL SKEY ACKS N THREADS``.
Every acknowledged event id is appended to ACKS right after ``append`` returns, so after a
SIGKILL the file lists (a superset of nothing less than) what the log promised was durable.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audit.log import AuditLog
from audit.note import NoteSigner
from audit.records import Actor, Event


def main() -> None:
    url, skey, acks, count, threads = sys.argv[1:6]
    log = AuditLog(url, NoteSigner.from_skey(skey), batch_wait=0.005)
    fd = os.open(acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    actor = Actor(pseudonym=f"writer-{os.getpid()}", role="system", agency="test")
    per_thread = int(count) // int(threads)

    def work() -> None:
        for _ in range(per_thread):
            event = Event(actor=actor, action="collection", legal_basis="statute",
                          outcome="recorded", details={"pid": os.getpid()})
            log.append(event)
            os.write(fd, f"{event.event_id}\n".encode())

    workers = [threading.Thread(target=work) for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print("done", flush=True)


if __name__ == "__main__":
    main()
