"""The node's vault: raw video encrypted at rest, retention by key destruction, legal hold,
warrant-scoped export (ARCHITECTURE.md section 2, point 6)."""
