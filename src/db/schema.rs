//! The schema, as migrations that run in order when a database is opened: each is applied
//! once, in the transaction that records it in `schema_version`, so that a database made by
//! any earlier version of dosesim opens under this one.

/// One migration: its version and its statements for each engine.
pub struct Migration {
    pub version: i64,
    pub what: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// The table of applied migrations (append-only, as the entries).
pub const VERSION_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    what TEXT NOT NULL
)";

pub const VERSION_TABLE_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT PRIMARY KEY,
    what TEXT NOT NULL
)";

/// The entries' columns, in the order every statement names them.
pub const COLUMNS: &str = "id, trial_id, book, action, supersedes, patient_id, \
     arm, weight_kg, start_date, site, date, record, component, occurrence, amount, note, \
     reason, source, entered_by, entered_at, prev_hash, hash";

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "the ledger of entries, append-only",
        sqlite: "
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    trial_id TEXT NOT NULL,
    book TEXT NOT NULL CHECK (book IN ('database', 'roster', 'record')),
    action TEXT NOT NULL CHECK (action IN ('create', 'add', 'correct', 'void')),
    supersedes INTEGER REFERENCES entries (id),
    patient_id TEXT NOT NULL,
    arm TEXT NOT NULL, weight_kg TEXT NOT NULL, start_date TEXT NOT NULL, site TEXT NOT NULL,
    date TEXT NOT NULL, record TEXT NOT NULL, component TEXT NOT NULL,
    occurrence TEXT NOT NULL, amount TEXT NOT NULL, note TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TRIGGER entries_never_updated BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'an entry of the record is never changed: record a correction (dosesim record correct ENTRY --reason ...) instead');
END;
CREATE TRIGGER entries_never_deleted BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'an entry of the record is never deleted: record a void (dosesim record void ENTRY --reason ...) instead');
END;
CREATE TRIGGER schema_version_never_changed BEFORE UPDATE ON schema_version
BEGIN
    SELECT RAISE(ABORT, 'the schema history is never changed');
END;
CREATE TRIGGER schema_version_never_deleted BEFORE DELETE ON schema_version
BEGIN
    SELECT RAISE(ABORT, 'the schema history is never changed');
END;
",
        postgres: "
CREATE TABLE entries (
    id BIGINT PRIMARY KEY,
    trial_id TEXT NOT NULL,
    book TEXT NOT NULL CHECK (book IN ('database', 'roster', 'record')),
    action TEXT NOT NULL CHECK (action IN ('create', 'add', 'correct', 'void')),
    supersedes BIGINT REFERENCES entries (id),
    patient_id TEXT NOT NULL,
    arm TEXT NOT NULL, weight_kg TEXT NOT NULL, start_date TEXT NOT NULL, site TEXT NOT NULL,
    date TEXT NOT NULL, record TEXT NOT NULL, component TEXT NOT NULL,
    occurrence TEXT NOT NULL, amount TEXT NOT NULL, note TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE FUNCTION dosesim_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an entry of the record is never changed or deleted: record a correction (dosesim record correct ENTRY --reason ...) or a void (dosesim record void ENTRY --reason ...) instead';
END
$$;
CREATE TRIGGER entries_never_updated BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION dosesim_entries_append_only();
CREATE TRIGGER entries_never_truncated BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION dosesim_entries_append_only();
CREATE TRIGGER schema_version_never_changed BEFORE UPDATE OR DELETE ON schema_version
    FOR EACH ROW EXECUTE FUNCTION dosesim_entries_append_only();
",
    },
    Migration {
        version: 2,
        what: "an entry is superseded at most once; a trial's entries found by index",
        sqlite: "
CREATE UNIQUE INDEX entries_superseded_once ON entries (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX entries_by_trial ON entries (trial_id, id);
",
        postgres: "
CREATE UNIQUE INDEX entries_superseded_once ON entries (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX entries_by_trial ON entries (trial_id, id);
",
    },
];

/// The newest schema version this dosesim knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
