//! One entry of the database's ledger, and its place in the hash chain.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash before the first entry: 32 zero bytes.
pub const GENESIS: Hash = [0; 32];

/// Which book of a trial an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Book {
    /// The database's own entries (its creation).
    Database,
    /// A patient of the roster: arm, weight, start date, site.
    Roster,
    /// A row of the administration record.
    Record,
    /// A step of a dose's preparation before it is given: prepared (with its lot or bag),
    /// checked by a second person who signs with their password ([`PREP_FIELDS`]).
    Prep,
    /// A user of `dosesim serve`: name, role and password hash ([`USER_FIELDS`]); a
    /// correction changes the role or password, a void disables the user.
    User,
}

impl Book {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// The database was made.
    Create,
    /// A new roster patient or record row.
    Add,
    /// Takes the place of the entry it supersedes, with its own fields and a reason.
    Correct,
    /// Takes the entry it supersedes out of the book, with a reason.
    Void,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The fields of a roster patient, as typed (trimmed).
pub const ROSTER_FIELDS: [&str; 4] = ["arm", "weight_kg", "start_date", "site"];

/// The fields of a record row after `patient_id`, as typed (trimmed).
pub const RECORD_FIELDS: [&str; 6] = [
    "date",
    "record",
    "component",
    "occurrence",
    "amount",
    "note",
];

/// The fields of a preparation step after `patient_id`: the date it is for, the step
/// (`prepared`, `checked`), the dose's component and occurrence, the amount prepared (in
/// the product's unit), and the lot or bag id.
pub const PREP_FIELDS: [&str; 6] = ["date", "step", "component", "occurrence", "amount", "lot"];

/// The fields of a user (whose name is in `patient_id`): role, the argon2id hash of the
/// password (PHC string), and the full name shown beside the user name.
pub const USER_FIELDS: [&str; 6] = ["role", "password_hash", "full_name", "", "", ""];

/// The field names of a book's values, in order.
pub fn field_names(book: Book) -> &'static [&'static str; 6] {
    match book {
        Book::Roster => &ROSTER_PADDED,
        Book::Prep => &PREP_FIELDS,
        Book::User => &USER_FIELDS,
        Book::Record | Book::Database => &RECORD_FIELDS,
    }
}

/// [`ROSTER_FIELDS`] with the two unused places.
const ROSTER_PADDED: [&str; 6] = ["arm", "weight_kg", "start_date", "site", "", ""];

/// An entry's own fields: what it says, who said it and why. The id and the hashes are
/// given by the chain when it is appended ([`Entry`]). The database keeps who, when,
/// where from, why, and the trial, book and action once for each write (an import, an
/// entry added, a correction) in `writes`, and the rest in `entries`: both are hashed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    /// The trial the entry belongs to (empty for the database's own entries).
    pub trial_id: String,
    pub book: Option<Book>,
    pub action: Option<Action>,
    /// The entry a correction or void takes the place of.
    pub supersedes: Option<i64>,
    pub patient_id: String,
    /// Roster: arm, weight_kg, start_date, site ([`ROSTER_FIELDS`]); record: date, record,
    /// component, occurrence, amount, note ([`RECORD_FIELDS`]); empty strings where the
    /// book has fewer.
    pub values: [String; 6],
    /// Why a correction or void was made (required for them); empty otherwise.
    pub reason: String,
    /// Where the entry came from: "import of log.csv", "record add".
    pub source: String,
    /// The line of the imported file the entry came from, if it did.
    pub line: Option<i64>,
    /// Who entered it (`--by`, or the login name).
    pub entered_by: String,
    /// When, in UTC (RFC 3339, microseconds): the clock at the write.
    pub entered_at: String,
}

/// An entry in the ledger: its fields, its number and its link in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    /// The write it was made in (`writes.id`): the same for every entry of an import.
    pub write_id: i64,
    pub fields: Fields,
    /// The hash of the entry before it ([`GENESIS`] for the first).
    pub prev_hash: Hash,
    /// SHA-256 over the entry and `prev_hash` ([`hash`]).
    pub hash: Hash,
}

impl Fields {
    /// Whether `other` belongs to the same write: the same trial, book, action, reason,
    /// source, who and when.
    pub fn same_write(&self, other: &Fields) -> bool {
        self.trial_id == other.trial_id
            && self.book == other.book
            && self.action == other.action
            && self.reason == other.reason
            && self.source == other.source
            && self.entered_by == other.entered_by
            && self.entered_at == other.entered_at
    }

    /// "import of log.csv line 17", "record add".
    pub fn origin(&self) -> String {
        match self.line {
            Some(l) => format!("{} line {l}", self.source),
            None => self.source.clone(),
        }
    }

    pub fn book(&self) -> Book {
        self.book.unwrap_or(Book::Database)
    }

    pub fn action(&self) -> Action {
        self.action.unwrap_or(Action::Create)
    }

    /// The value of a named roster or record field.
    pub fn value(&self, name: &str) -> &str {
        field_names(self.book())
            .iter()
            .position(|n| !n.is_empty() && *n == name)
            .map_or("", |k| &self.values[k])
    }
}

/// The hash of entry `id` with `fields`, after `prev`: SHA-256 over `prev`, then the id,
/// then every field in a fixed order, each as a 4-byte big-endian length and its UTF-8
/// bytes, so that no two different entries share their bytes.
pub fn hash(id: i64, fields: &Fields, prev: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    let mut put = |s: &[u8]| {
        h.update((s.len() as u32).to_be_bytes());
        h.update(s);
    };
    put(itoa::Buffer::new().format(id).as_bytes());
    put(fields.trial_id.as_bytes());
    put(fields.book().as_str().as_bytes());
    put(fields.action().as_str().as_bytes());
    match fields.supersedes {
        Some(s) => put(itoa::Buffer::new().format(s).as_bytes()),
        None => put(b""),
    }
    put(fields.patient_id.as_bytes());
    for v in &fields.values {
        put(v.as_bytes());
    }
    put(fields.reason.as_bytes());
    put(fields.source.as_bytes());
    match fields.line {
        Some(l) => put(itoa::Buffer::new().format(l).as_bytes()),
        None => put(b""),
    }
    put(fields.entered_by.as_bytes());
    put(fields.entered_at.as_bytes());
    h.finalize().into()
}

/// A hash in lower-case hex.
pub fn hex(h: &Hash) -> String {
    use std::fmt::Write;
    h.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A hash as stored (32 bytes), or `None` for another length.
pub fn from_bytes(b: &[u8]) -> Option<Hash> {
    b.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            trial_id: "NCT01".into(),
            book: Some(Book::Record),
            action: Some(Action::Add),
            patient_id: "P1".into(),
            values: [
                "2026-08-03".into(),
                "given".into(),
                "pe".into(),
                "1".into(),
                String::new(),
                String::new(),
            ],
            entered_by: "pharm".into(),
            entered_at: "2026-12-05T16:00:00.000000Z".into(),
            ..Fields::default()
        }
    }

    /// Every field, the id and the previous hash change the hash; moving a character from
    /// one field to the next does too (the lengths are hashed).
    #[test]
    fn every_part_of_an_entry_is_in_its_hash() {
        let f = fields();
        let h = hash(2, &f, &GENESIS);
        assert_ne!(h, hash(3, &f, &GENESIS));
        assert_ne!(h, hash(2, &f, &[1; 32]));
        let mut g = f.clone();
        g.values[3] = "2".into();
        assert_ne!(h, hash(2, &g, &GENESIS));
        let mut g = f.clone();
        g.values[4] = "1".into();
        g.values[3] = String::new();
        assert_ne!(h, hash(2, &g, &GENESIS));
        let mut g = f.clone();
        g.entered_by = "pharm2".into();
        assert_ne!(h, hash(2, &g, &GENESIS));
        assert_eq!(h, hash(2, &f.clone(), &GENESIS));
        assert_eq!(hex(&GENESIS).len(), 64);
    }
}
