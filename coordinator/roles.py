"""Roles and the permission each route needs (least privilege: nobody holds two duties that
must stay apart, such as drafting and signing a warrant)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    POLICE = "police_analyst"
    JUDGE = "judge"
    DPO = "dpo"
    PLANNER = "planner"
    OPERATOR = "site_operator"
    ADMIN = "admin"
    NODE = "node"


class Permission(StrEnum):
    WARRANT_DRAFT = "warrant:draft"
    WARRANT_READ = "warrant:read"
    WARRANT_SIGN = "warrant:sign"
    WARRANT_COUNTERSIGN = "warrant:countersign"
    WARRANT_REVOKE = "warrant:revoke"
    CONSENT_DRAFT = "consent:draft"
    QUERY_SUBMIT = "query:submit"
    QUERY_READ = "query:read"
    MATCH_CONFIRM = "match:confirm"
    NODE_ENROL = "node:enrol"
    NODE_LIST = "node:list"
    NODE_SELF = "node:self"
    USER_MANAGE = "user:manage"
    ALERT_READ = "alert:read"
    ALERT_HANDLE = "alert:handle"
    WEBHOOK_MANAGE = "webhook:manage"
    AGGREGATE_QUERY = "aggregate:query"
    AGGREGATE_READ = "aggregate:read"
    AUDIT_REVIEW = "audit:review"  # the DPO console: trail with details, Art. 30 record
    PINS_READ = "pins:read"  # the keys nodes pin, changes of them, nodes' acknowledgements
    PINS_PROPOSE = "pins:propose"  # propose and send a change (signed by judges and DPOs)
    PINS_SIGN = "pins:sign"
    TRAINING_START = "training:start"  # `safecity fl start`, at the coordinator's console


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.POLICE: frozenset({Permission.WARRANT_DRAFT, Permission.WARRANT_READ,
                            Permission.QUERY_SUBMIT, Permission.QUERY_READ,
                            Permission.MATCH_CONFIRM}),
    Role.JUDGE: frozenset({Permission.WARRANT_READ, Permission.WARRANT_SIGN,
                           Permission.WARRANT_REVOKE, Permission.PINS_READ,
                           Permission.PINS_SIGN}),
    Role.DPO: frozenset({Permission.WARRANT_READ, Permission.WARRANT_COUNTERSIGN,
                         Permission.WARRANT_REVOKE, Permission.CONSENT_DRAFT,
                         Permission.QUERY_READ, Permission.MATCH_CONFIRM,
                         Permission.NODE_LIST, Permission.AGGREGATE_READ,
                         Permission.AUDIT_REVIEW, Permission.PINS_READ,
                         Permission.PINS_SIGN}),
    Role.PLANNER: frozenset({Permission.AGGREGATE_QUERY, Permission.AGGREGATE_READ}),
    Role.OPERATOR: frozenset({Permission.NODE_LIST, Permission.ALERT_READ,
                              Permission.ALERT_HANDLE}),
    Role.ADMIN: frozenset({Permission.NODE_ENROL, Permission.NODE_LIST,
                           Permission.USER_MANAGE, Permission.WEBHOOK_MANAGE,
                           Permission.PINS_READ, Permission.PINS_PROPOSE,
                           Permission.TRAINING_START}),
    Role.NODE: frozenset({Permission.NODE_SELF}),
}

# People whose signature is part of a legal basis register an Ed25519 public key.
SIGNERS = frozenset({Role.JUDGE, Role.DPO})


def allows(role: str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False
