//! The key of the calendar feeds' URLs: a secret kept in the ledger (book `database`,
//! patient_id [`KEY_ID`], the key as 64 hex characters in its first value), so that every
//! server on a shared database gives the same URLs and a restart keeps them. Made on first
//! use; a new key (a correction superseding it, with its reason) revokes every URL made
//! with the old one. A feed's token is HMAC-SHA256 of "trial\0kind\0id" under the key.

use anyhow::{Context, Result};
use hmac::{KeyInit, Mac};

use super::entry::{Action, Book, Entry, Fields};
use super::{Db, Filter, Store};

/// The `patient_id` of the key's entries.
pub const KEY_ID: &str = "feed-key";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key in effect, and its entry.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedKey {
    key: [u8; 32],
    /// The entry that holds it.
    pub entry: i64,
}

impl std::fmt::Debug for FeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FeedKey {{ entry: {} }}", self.entry)
    }
}

/// What a feed shows: a site's calendar or a patient's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    Site,
    Patient,
}

impl FeedKey {
    /// The token of the feed of `kind` `id` of `trial`: 64 hex characters.
    pub fn token(&self, trial: &str, kind: Kind, id: &str) -> String {
        super::entry::hex(&self.mac(trial, kind, id).finalize().into_bytes().into())
    }

    /// Whether `token` is the feed's (compared in constant time).
    pub fn matches(&self, token: &str, trial: &str, kind: Kind, id: &str) -> bool {
        match unhex(token) {
            Some(tag) => self.mac(trial, kind, id).verify_slice(&tag).is_ok(),
            None => false,
        }
    }

    fn mac(&self, trial: &str, kind: Kind, id: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any size");
        let kind: &str = kind.into();
        mac.update(format!("{trial}\0{kind}\0{id}").as_bytes());
        mac
    }
}

/// Why a new key is refused without a reason.
pub const NEEDS_REASON: &str =
    "give the reason for a new key (it stops every feed address given before)";

/// The key in effect, if one was made.
pub fn existing(db: &mut Db) -> Result<Option<FeedKey>> {
    db.read(in_effect)
}

/// The key in effect, made (and kept in the ledger, entered `by`) when there is none.
pub fn key(db: &mut Db, by: &str) -> Result<FeedKey> {
    if let Some(k) = db.read(in_effect)? {
        return Ok(k);
    }
    // Made under the write lock, looked for again there: two servers starting at once
    // make one key.
    let (k, _) = db.write(by, |w| match in_effect(w.store()?)? {
        Some(k) => Ok(k),
        None => {
            let fields = key_fields(Action::Add, None, "");
            let entry = w.append(fields.0)?;
            Ok(FeedKey {
                key: fields.1,
                entry,
            })
        }
    })?;
    Ok(k)
}

/// A new key in place of the one in effect (or a first one), entered `by` with `reason`:
/// every feed URL made before stops working.
pub fn renew(db: &mut Db, by: &str, reason: &str) -> Result<FeedKey> {
    let reason = reason.trim();
    anyhow::ensure!(!reason.is_empty(), NEEDS_REASON);
    let (k, _) = db.write(by, |w| {
        let old = in_effect(w.store()?)?;
        let (action, supersedes) = match &old {
            Some(o) => (Action::Correct, Some(o.entry)),
            None => (Action::Add, None),
        };
        let (fields, key) = key_fields(action, supersedes, reason);
        let entry = w.append(fields)?;
        Ok(FeedKey { key, entry })
    })?;
    Ok(k)
}

/// A new random key's entry.
fn key_fields(action: Action, supersedes: Option<i64>, reason: &str) -> (Fields, [u8; 32]) {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the system gives random numbers");
    let fields = Fields {
        book: Some(Book::Database),
        action: Some(action),
        supersedes,
        patient_id: KEY_ID.to_string(),
        values: [
            super::entry::hex(&key),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
        reason: reason.to_string(),
        source: "feed key".to_string(),
        ..Fields::default()
    };
    (fields, key)
}

/// The key entry no other supersedes, if any.
fn in_effect(s: &mut dyn Store) -> Result<Option<FeedKey>> {
    let mut keys: Vec<Entry> = Vec::new();
    let filter = Filter {
        patient: Some(KEY_ID.to_string()),
        ..Filter::default().book(Book::Database)
    };
    s.scan(&filter, &mut |e| {
        keys.push(e.clone());
        Ok(())
    })?;
    let superseded: std::collections::HashSet<i64> =
        keys.iter().filter_map(|e| e.fields.supersedes).collect();
    let Some(e) = keys.iter().rev().find(|e| !superseded.contains(&e.id)) else {
        return Ok(None);
    };
    let key = unhex(&e.fields.values[0])
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .with_context(|| format!("entry {}: the feed key is not 64 hex characters", e.id))?;
    Ok(Some(FeedKey { key, entry: e.id }))
}

/// The bytes of a hex string (`None` when it is not one).
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|k| u8::from_str_radix(&s[k..k + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> FeedKey {
        FeedKey {
            key: [b; 32],
            entry: 2,
        }
    }

    #[test]
    fn a_token_opens_its_own_feed_only() {
        let k = key(7);
        let t = k.token("NCT01724398", Kind::Site, "GZ-SYSU3");
        assert_eq!(t.len(), 64);
        assert!(k.matches(&t, "NCT01724398", Kind::Site, "GZ-SYSU3"));
        assert!(!k.matches(&t, "NCT01724398", Kind::Patient, "GZ-SYSU3"));
        assert!(!k.matches(&t, "NCT01724398", Kind::Site, "GZ-SYSU"));
        assert!(!k.matches(&t, "NCT0172439", Kind::Site, "8GZ-SYSU3"));
        assert!(!key(8).matches(&t, "NCT01724398", Kind::Site, "GZ-SYSU3"));
        assert!(!k.matches(&t[..62], "NCT01724398", Kind::Site, "GZ-SYSU3"));
        assert!(!k.matches("zz", "NCT01724398", Kind::Site, "GZ-SYSU3"));
    }

    #[test]
    fn a_new_key_is_kept_and_a_renewed_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let at = super::super::Location::Sqlite(dir.path().join("k.db"));
        let mut db = Db::open(&at, super::super::Open::OrCreate).unwrap();
        let first = super::key(&mut db, "test").unwrap();
        assert_eq!(super::key(&mut db, "test").unwrap(), first);
        let t = first.token("T", Kind::Patient, "P1");
        let second = renew(&mut db, "admin", "a URL was shared by mistake").unwrap();
        assert_ne!(second, first);
        assert_eq!(super::key(&mut db, "test").unwrap(), second);
        assert!(!second.matches(&t, "T", Kind::Patient, "P1"));
        assert!(renew(&mut db, "admin", " ").is_err());
    }
}
