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

/// The entries' columns, in the order every insert names them.
pub const ENTRY_COLUMNS: &str =
    "id, write_id, supersedes, patient_id, f1, f2, f3, f4, f5, f6, line, prev_hash, hash";

/// The writes' columns, in the order every insert names them.
pub const WRITE_COLUMNS: &str =
    "id, first_entry, trial_id, book, action, reason, source, entered_by, entered_at";

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "the ledger: writes and their entries, append-only",
        sqlite: "
CREATE TABLE writes (
    id INTEGER PRIMARY KEY,
    first_entry INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    book TEXT NOT NULL CHECK (book IN ('database', 'roster', 'record')),
    action TEXT NOT NULL CHECK (action IN ('create', 'add', 'correct', 'void')),
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    write_id INTEGER NOT NULL,
    supersedes INTEGER,
    patient_id TEXT NOT NULL,
    f1 TEXT NOT NULL, f2 TEXT NOT NULL, f3 TEXT NOT NULL,
    f4 TEXT NOT NULL, f5 TEXT NOT NULL, f6 TEXT NOT NULL,
    line INTEGER,
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
CREATE TRIGGER writes_never_updated BEFORE UPDATE ON writes
BEGIN
    SELECT RAISE(ABORT, 'who entered the record, when and why is never changed');
END;
CREATE TRIGGER writes_never_deleted BEFORE DELETE ON writes
BEGIN
    SELECT RAISE(ABORT, 'who entered the record, when and why is never deleted');
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
CREATE TABLE writes (
    id BIGINT PRIMARY KEY,
    first_entry BIGINT NOT NULL,
    trial_id TEXT NOT NULL,
    book TEXT NOT NULL CHECK (book IN ('database', 'roster', 'record')),
    action TEXT NOT NULL CHECK (action IN ('create', 'add', 'correct', 'void')),
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE TABLE entries (
    id BIGINT PRIMARY KEY,
    write_id BIGINT NOT NULL,
    supersedes BIGINT,
    patient_id TEXT NOT NULL,
    f1 TEXT NOT NULL, f2 TEXT NOT NULL, f3 TEXT NOT NULL,
    f4 TEXT NOT NULL, f5 TEXT NOT NULL, f6 TEXT NOT NULL,
    line BIGINT,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE FUNCTION dosesim_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an entry of the record is never changed or deleted: record a correction (dosesim record correct ENTRY --reason ...) or a void (dosesim record void ENTRY --reason ...) instead';
END
$$;
CREATE TRIGGER entries_never_updated BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION dosesim_append_only();
CREATE TRIGGER entries_never_truncated BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION dosesim_append_only();
CREATE TRIGGER writes_never_updated BEFORE UPDATE OR DELETE ON writes
    FOR EACH ROW EXECUTE FUNCTION dosesim_append_only();
CREATE TRIGGER writes_never_truncated BEFORE TRUNCATE ON writes
    FOR EACH STATEMENT EXECUTE FUNCTION dosesim_append_only();
CREATE TRIGGER schema_version_never_changed BEFORE UPDATE OR DELETE ON schema_version
    FOR EACH ROW EXECUTE FUNCTION dosesim_append_only();
",
    },
    Migration {
        version: 2,
        what: "an entry is superseded at most once; a trial's writes found by index; the books as views with named columns",
        sqlite: VERSION_2,
        postgres: VERSION_2,
    },
    Migration {
        version: 3,
        what: "two more books: the preparation steps of a dose (prep) and the users of dosesim serve (user)",
        sqlite: VERSION_3_SQLITE,
        postgres: VERSION_3_POSTGRES,
    },
];

/// The views of version 3's books, the same on both engines (a user's password hash left
/// out).
macro_rules! new_views {
    () => {
        "
CREATE VIEW prep_entries AS
    SELECT e.id AS entry, w.trial_id, w.action, e.supersedes, e.patient_id,
           e.f1 AS date, e.f2 AS step, e.f3 AS component, e.f4 AS occurrence,
           e.f5 AS amount, e.f6 AS lot,
           w.reason, w.source, w.entered_by, w.entered_at
    FROM entries e JOIN writes w ON w.id = e.write_id
    WHERE w.book = 'prep';
CREATE VIEW user_entries AS
    SELECT e.id AS entry, w.action, e.supersedes, e.patient_id AS user_name,
           e.f1 AS role, e.f3 AS full_name,
           w.reason, w.source, w.entered_by, w.entered_at
    FROM entries e JOIN writes w ON w.id = e.write_id
    WHERE w.book = 'user';
"
    };
}

/// Version 3 on SQLite, which cannot change a table's CHECK: `writes` is made again with
/// the wider CHECK and its rows copied as they are (each byte the same, so every entry's
/// hash still verifies), with its triggers, index and views.
const VERSION_3_SQLITE: &str = concat!(
    "
DROP VIEW roster_entries;
DROP VIEW record_entries;
CREATE TABLE writes_3 (
    id INTEGER PRIMARY KEY,
    first_entry INTEGER NOT NULL,
    trial_id TEXT NOT NULL,
    book TEXT NOT NULL CHECK (book IN ('database', 'roster', 'record', 'prep', 'user')),
    action TEXT NOT NULL CHECK (action IN ('create', 'add', 'correct', 'void')),
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
INSERT INTO writes_3 SELECT id, first_entry, trial_id, book, action, reason, source, entered_by, entered_at FROM writes;
DROP TABLE writes;
ALTER TABLE writes_3 RENAME TO writes;
CREATE TRIGGER writes_never_updated BEFORE UPDATE ON writes
BEGIN
    SELECT RAISE(ABORT, 'who entered the record, when and why is never changed');
END;
CREATE TRIGGER writes_never_deleted BEFORE DELETE ON writes
BEGIN
    SELECT RAISE(ABORT, 'who entered the record, when and why is never deleted');
END;
CREATE INDEX writes_by_trial ON writes (trial_id, id);
CREATE INDEX writes_by_book ON writes (book, id);
CREATE VIEW roster_entries AS
    SELECT e.id AS entry, w.trial_id, w.action, e.supersedes, e.patient_id,
           e.f1 AS arm, e.f2 AS weight_kg, e.f3 AS start_date, e.f4 AS site,
           w.reason, w.source, e.line, w.entered_by, w.entered_at
    FROM entries e JOIN writes w ON w.id = e.write_id
    WHERE w.book = 'roster';
CREATE VIEW record_entries AS
    SELECT e.id AS entry, w.trial_id, w.action, e.supersedes, e.patient_id,
           e.f1 AS date, e.f2 AS record, e.f3 AS component, e.f4 AS occurrence,
           e.f5 AS amount, e.f6 AS note,
           w.reason, w.source, e.line, w.entered_by, w.entered_at
    FROM entries e JOIN writes w ON w.id = e.write_id
    WHERE w.book = 'record';
",
    new_views!()
);

/// Version 3 on PostgreSQL: the CHECK widened in place.
const VERSION_3_POSTGRES: &str = concat!(
    "
ALTER TABLE writes DROP CONSTRAINT writes_book_check;
ALTER TABLE writes ADD CONSTRAINT writes_book_check
    CHECK (book IN ('database', 'roster', 'record', 'prep', 'user'));
CREATE INDEX writes_by_book ON writes (book, id);
",
    new_views!()
);

/// Version 2, the same on both engines.
const VERSION_2: &str = "
CREATE UNIQUE INDEX entries_superseded_once ON entries (supersedes) WHERE supersedes IS NOT NULL;
CREATE INDEX writes_by_trial ON writes (trial_id, id);
CREATE VIEW roster_entries AS
    SELECT e.id AS entry, w.trial_id, w.action, e.supersedes, e.patient_id,
           e.f1 AS arm, e.f2 AS weight_kg, e.f3 AS start_date, e.f4 AS site,
           w.reason, w.source, e.line, w.entered_by, w.entered_at
    FROM entries e JOIN writes w ON w.id = e.write_id
    WHERE w.book = 'roster';
CREATE VIEW record_entries AS
    SELECT e.id AS entry, w.trial_id, w.action, e.supersedes, e.patient_id,
           e.f1 AS date, e.f2 AS record, e.f3 AS component, e.f4 AS occurrence,
           e.f5 AS amount, e.f6 AS note,
           w.reason, w.source, e.line, w.entered_by, w.entered_at
    FROM entries e JOIN writes w ON w.id = e.write_id
    WHERE w.book = 'record';
";

/// The newest schema version this dosesim knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
