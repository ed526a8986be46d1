"""The commands a reader copies to check a page's claims on their own machine (``safecity
audit ...``), written out with this coordinator's real address, its log's verifier key and its
witnesses' keys, quoted for a POSIX shell: a hint with ``…`` in place of the values cannot be
run, and the reader would have to find the key on their own (issue 24)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from audit.cosignature import CosignerKey
from coordinator.config import CoordinatorSettings


def witness_keys(settings: CoordinatorSettings) -> list[str]:
    """The cosigner keys (c2sp.org/tlog-cosignature) of the witnesses the coordinator names in
    its ``witnesses`` setting, for a reader to check their cosignatures; none where the city
    configures no witness."""
    return [CosignerKey.from_vkey(w.key).vkey() for w in settings.witnesses]


def _base(url: str) -> str:
    return shlex.quote(url.rstrip("/"))


def _witnesses(keys: Sequence[str]) -> str:
    return "".join(f" --witness-key {shlex.quote(k)}" for k in keys)


def verify_log(url: str, log_key: str, witness_keys: Sequence[str] = ()) -> str:
    """Verify the whole log (and remember its head, to catch rollbacks next time)."""
    return (f"safecity audit verify --url {_base(url)} --log-key {shlex.quote(log_key)}"
            f"{_witnesses(witness_keys)} --remember audit-head.json")


def recompute_report(url: str, log_key: str) -> str:
    """Verify the log, then recompute the transparency report from it."""
    return f"safecity audit report --url {_base(url)} --log-key {shlex.quote(log_key)}"


def prove_entry(url: str, index: int, log_key: str, witness_keys: Sequence[str] = ()
                ) -> tuple[str, str]:
    """Fetch one entry's receipt, then check it offline."""
    return (f"safecity audit prove {index} --url {_base(url)} --out receipt-{index}.json",
            f"safecity audit verify-receipt receipt-{index}.json --log-key "
            f"{shlex.quote(log_key)}{_witnesses(witness_keys)}")
