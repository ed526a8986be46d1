"""The bound on a log receipt carried in a request (``ClipRequest.receipt``,
``QueryRequest.warrant_receipt``): an entry, its inclusion proof and a witnessed checkpoint,
a few kilobytes and a few levels deep (``audit.prove``).

The receipt is checked only after the request's signature, and the signature's canonical JSON
walks the whole value: an unsigned message with a receipt of megabytes, or nested thousands
deep (a ``RecursionError`` in that walk), would cost the node that work before it is refused.
So its size and depth are bounded at validation, iteratively, before anything else reads it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

MAX_RECEIPT_CHARS = 256 * 1024  # strings, keys and numbers together; a real one is ~10 KiB
MAX_RECEIPT_DEPTH = 8  # a real one is 5 deep (receipt, entry, scope, window, time)
MAX_RECEIPT_ITEMS = 10_000  # values of any kind (an inclusion proof is ~64 hashes)


def bounded(value: Any) -> Any:
    """``value`` unchanged, or a ``ValueError`` if it is too big or too deep (no recursion)."""
    if not isinstance(value, dict):
        return value  # the type check that follows refuses it
    chars, items, pending = 0, 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        items += 1
        if depth > MAX_RECEIPT_DEPTH or items > MAX_RECEIPT_ITEMS:
            raise ValueError(f"a receipt is at most {MAX_RECEIPT_DEPTH} deep and "
                             f"{MAX_RECEIPT_ITEMS} values")
        if isinstance(node, dict):
            chars += sum(len(k) if isinstance(k, str) else 32 for k in node)
            pending.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            pending.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            chars += len(node)
        else:
            chars += 32  # a number, bool or null: small (a huge int is refused when signed)
        if chars > MAX_RECEIPT_CHARS:
            raise ValueError(f"a receipt is at most {MAX_RECEIPT_CHARS} characters")
    return value


Receipt = Annotated[dict[str, Any], BeforeValidator(bounded)]
