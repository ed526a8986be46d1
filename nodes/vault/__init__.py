"""The node's vault: raw video encrypted at rest, retention by key destruction, legal hold,
warrant-scoped export (docs/architecture.md, "Trust model", point 7)."""
