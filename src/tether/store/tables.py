"""SQLAlchemy Core tables. Schema changes are Alembic migrations in ``migrations/``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "actors",
    "alias_moves",
    "aliases",
    "approval_votes",
    "approvals",
    "baselines",
    "breakers",
    "console_sessions",
    "decisions",
    "explanations",
    "feedback",
    "gate_results",
    "gate_sets",
    "ledger_checkpoints",
    "ledger_entries",
    "ledger_head",
    "ledger_meta",
    "ledger_nodes",
    "metadata",
    "model_versions",
    "monitor_checks",
    "policies",
    "rate_buckets",
    "response_firings",
    "review_modes",
    "signals",
    "systems",
    "tokens",
    "users",
    "verifications",
]

metadata = MetaData()

# On SQLite only "INTEGER PRIMARY KEY" aliases the rowid (the fast clustered key).
Int64 = BigInteger().with_variant(Integer(), "sqlite")

ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row: the tree head, locked by every appending transaction (this serialises
# appenders across processes and makes index order equal commit order).
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", Int64, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("checkpoint_size", Int64, nullable=False),
    Column("checkpoint_at", Float, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", Int64, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),  # canonical JSON (RFC 8785) of the entry
    Column("leaf", LargeBinary, nullable=False),  # SHA-256(0x00 || entry), a cache
    Column("payload", LargeBinary, nullable=True),  # canonical JSON; NULL once erased
    Column("erased_by", Int64, nullable=True),  # index of the payload.erased entry
)

# Complete Merkle subtrees of level >= 1; key = (size at completion) * 64 + level,
# so key order is creation order (see ledger._merkle.node_key).
ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("key", Int64, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", Int64, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),  # C2SP signed note
    Column("created_at", Float, nullable=False),
)

# -- governance: projections of what the ledger records (rebuildable from it) -------------

systems = Table(
    "systems",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("risk_tier", String(20), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("environments", Text, nullable=False),  # JSON list
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),  # the entry of the last change
)

actors = Table(
    "actors",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),  # human, service, agent
    Column("roles", Text, nullable=False),  # JSON list
    Column("attributes", Text, nullable=False),  # JSON object, visible to policy as actor.*
    Column("active", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

policies = Table(
    "policies",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("mode", String(20), nullable=False),  # enforced, shadow, shadow-cleared
    Column("published_at", Float, nullable=False),
    Column("published_by", String(200), nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("decision_id", String(40), nullable=False),
    Column("system", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("level", Integer, nullable=False),  # 0, then 1 after an escalation
    Column("requirements", Text, nullable=False),  # JSON: per rule, roles/count per level
    Column("deadline", Float, nullable=True),
    Column("reason", Text, nullable=False),
    Column("request", Text, nullable=False),  # JSON, redacted
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("resolved_at", Float, nullable=True),
    Column("ledger_index", Int64, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),  # bumped on every change
)

approval_votes = Table(
    "approval_votes",
    metadata,
    Column("approval_id", String(40), primary_key=True),
    Column("approver", String(200), primary_key=True),
    Column("level", Integer, nullable=False),
    Column("roles", Text, nullable=False),  # JSON list: the approver's roles at the time
    Column("vote", String(10), nullable=False),  # approve, reject
    Column("comment", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

breakers = Table(
    "breakers",
    metadata,
    Column("key", String(420), primary_key=True),  # system:NAME, action:SYSTEM/NAME, agent:ID
    Column("state", String(12), nullable=False),  # closed, open, half_open
    Column("manual", Integer, nullable=False),  # 1: tripped by a person (kill switch)
    Column("failures", Integer, nullable=False),  # consecutive failures
    Column("window_start", Float, nullable=False),
    Column("window_calls", Integer, nullable=False),
    Column("window_failures", Integer, nullable=False),
    Column("opened_at", Float, nullable=True),
    Column("reason", Text, nullable=False),
    Column("generation", Integer, nullable=False),  # bumped on every state change (CAS)
    Column("updated_at", Float, nullable=False),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(500), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Active monitoring signals per system (a projection of signal.raised / signal.cleared).
signals = Table(
    "signals",
    metadata,
    Column("key", String(600), primary_key=True),  # system|kind|feature|statistic
    Column("system", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("feature", String(200), nullable=False),
    Column("statistic", String(60), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=True),
    Column("raised_at", Float, nullable=False),
    Column("cleared_at", Float, nullable=True),
    Column("ledger_index", Int64, nullable=False),
)

# Decisions by id (a projection of "decision" entries): what labels join to.
decisions = Table(
    "decisions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("ledger_index", Int64, nullable=False),
    Column("system", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("at", Float, nullable=False),
    Column("output", Text, nullable=True),  # JSON, for model predictions
    Column("actor", String(200), nullable=True),  # NULL for decisions before migration 0012
)

# Ground truth for decisions, joined once whenever it arrives.
feedback = Table(
    "feedback",
    metadata,
    Column("decision_id", String(40), primary_key=True),
    Column("label", Text, nullable=False),  # JSON
    Column("at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# The monitoring baseline of each system (a projection of monitor.baseline entries).
baselines = Table(
    "baselines",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("action", String(200), nullable=True),  # whose decisions are watched (None: all)
    Column("baseline", Text, nullable=False),  # Baseline JSON
    Column("anomalies", Text, nullable=True),  # AnomalyDetector JSON
    Column("digest", String(64), nullable=False),  # SHA-256 of both, as in the ledger entry
    Column("set_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# Model versions per system (a projection of model.registered entries; immutable).
model_versions = Table(
    "model_versions",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the artifact
    Column("record", Text, nullable=False),  # JSON: uri, data, code, environment, metrics, ...
    Column("registered_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# Where each alias of a system points now (a projection of alias.moved entries).
aliases = Table(
    "aliases",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("moved_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# Every move of an alias, in order (what "live at T" and rollback read).
alias_moves = Table(
    "alias_moves",
    metadata,
    Column("ledger_index", Int64, primary_key=True, autoincrement=False),
    Column("system", String(200), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("previous", Integer, nullable=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # set, promote, rollback
    Column("moved_at", Float, nullable=False),
)

# Systems in human-review mode: every decision waits for one of ``roles`` (a JSON list)
# until an owner clears it (a projection of review.entered / review.cleared entries).
review_modes = Table(
    "review_modes",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("roles", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# When each policy response last fired for a system (its cool-down, shared by processes).
response_firings = Table(
    "response_firings",
    metadata,
    Column("response", String(200), primary_key=True),
    Column("system", String(200), primary_key=True),
    Column("fired_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# Each system's gate-set versions (a projection of gates.set entries; immutable rows).
gate_sets = Table(
    "gate_sets",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the canonical spec
    Column("spec", Text, nullable=False),  # canonical JSON (RFC 8785) of the spec
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# The latest gate report of a model version under a gate-set version (a projection of
# gates.evaluated entries; the ledger keeps every evaluation).
gate_results = Table(
    "gate_results",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),  # the model version
    Column("gate_version", Integer, primary_key=True, autoincrement=False),
    Column("passed", Integer, nullable=False),
    Column("report", Text, nullable=False),  # JSON: every gate's result and the evaluation
    Column("evaluated_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# Which decisions were explained (a projection of decision.explained entries): one
# explanation per decision, the first; its canonical JSON is in the entry's payload.
explanations = Table(
    "explanations",
    metadata,
    Column("decision_id", String(40), primary_key=True),
    Column("system", String(200), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the model artifact explained
    Column("explained_at", Float, nullable=False),
    Column("ledger_index", Int64, nullable=False),
)

# API tokens of the server (a projection of token.created / token.revoked entries). Only
# the SHA-256 of each secret is kept; the secret itself is shown once and never stored.
tokens = Table(
    "tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),  # hex SHA-256 of the secret
    Column("actor", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("systems", Text, nullable=True),  # JSON list of system names; NULL: every system
    Column("created_by", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("ledger_index", Int64, nullable=False),
)

# People who log in to the console (a projection of user.created / user.disabled /
# user.locked / user.unlocked entries; failed-login counts and password rehashes are
# operational updates). Only the argon2id hash of each password is kept.
users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("actor", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("systems", Text, nullable=True),  # JSON list of system names; NULL: every system
    Column("password_hash", String(255), nullable=False),  # argon2id, PHC string format
    Column("created_by", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("disabled_at", Float, nullable=True),
    Column("failed_logins", Integer, nullable=False),  # consecutive failures since last success
    Column("locked_until", Float, nullable=True),
    Column("ledger_index", Int64, nullable=False),
)

# Console sessions (operational state shared by every server process): the SHA-256 of
# the cookie's secret, never the secret; the CSRF token its forms must echo.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),  # hex SHA-256 of the cookie secret
    Column("username", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
)

# Results of full ledger verifications run from the console (a projection of
# ledger.verified entries), so pages show the last result without re-reading the log.
verifications = Table(
    "verifications",
    metadata,
    Column("ledger_index", Int64, primary_key=True, autoincrement=False),
    Column("actor", String(200), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("size", Int64, nullable=False),  # entries the verification covered
    Column("summary", Text, nullable=False),
    Column("first_bad_index", Int64, nullable=True),
    Column("verified_at", Float, nullable=False),
)

# Each recorded monitoring check of a system (a projection of monitor.check entries):
# the check's report is the entry's payload; this row finds a system's latest checks.
monitor_checks = Table(
    "monitor_checks",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("ledger_index", Int64, primary_key=True, autoincrement=False),
    Column("checked_at", Float, nullable=False),
)
