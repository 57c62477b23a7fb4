//! The SHA-256 of every input file as this run read it, kept for the manifest and the
//! pages' footers: each input is hashed once, from the bytes the readers parsed, so a file
//! changed while the run waited for a lock is not mistaken for what the outputs came from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{InputError, Problem};

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// What the file is to the run: "scenario", "roster".
    pub role: String,
    /// The path as given on the command line (or found by `run`).
    pub path: String,
    pub sha256: String,
    /// For an administration record: the day it is complete to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

impl Input {
    /// The input `path` with the SHA-256 of the bytes this run read from it
    /// ([`read_input`]): a file changed since (corrected while the run waited for its
    /// folder's lock) is not what the outputs were made from. A file not read yet is read
    /// and hashed now.
    pub fn of(role: &str, path: &Path) -> Result<Input, InputError> {
        let sha256 = match read_hash(path) {
            Some(h) => h,
            None => {
                read_input(path).map_err(|e| {
                    InputError::one(Problem::new(path, format!("cannot read the {role}: {e}")))
                })?;
                read_hash(path).expect("a file read is hashed")
            }
        };
        Ok(Input {
            role: role.to_string(),
            path: path.display().to_string(),
            sha256,
            as_of: None,
        })
    }
}

/// The SHA-256 of each input file as this run read it, by its path as given.
static READ: std::sync::Mutex<std::collections::BTreeMap<PathBuf, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Reads an input file (scenario, roster, record, site calendar, holiday file, plan) and
/// keeps the SHA-256 of the bytes read, for the manifest and the pages' footers
/// ([`Input::of`]): the bytes are hashed once, as they were read.
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    let bytes = std::fs::read(path)?;
    remember_input(path, &bytes);
    Ok(bytes)
}

/// Keeps the SHA-256 of `bytes`, just read from `path` by a reader of its own (one with a
/// size limit, say), for the manifest.
pub fn remember_input(path: &Path, bytes: &[u8]) {
    let sha = hex(&Sha256::digest(bytes));
    READ.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf(), sha);
}

/// Keeps the SHA-256 of text that [`remember_input`] was not given whole (a record from the
/// database, hashed as its folder's copy would be without making the copy).
pub fn remember_sha256(path: &Path, sha256: &[u8]) {
    READ.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_path_buf(), hex(sha256));
}

/// As [`read_input`], for a text file: invalid UTF-8 is an error, as `read_to_string`'s.
pub fn read_input_to_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_input(path)?).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// The inputs that are no file: a trial's books read from the database, by the label
/// that names them ("dosesim.db (record of NCT01724398)"), with their bytes as CSV.
static BOOKS: std::sync::Mutex<std::collections::BTreeMap<PathBuf, std::sync::Arc<Vec<u8>>>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Keeps a book read from the database (its CSV bytes) under its label, with their
/// SHA-256 as of an input file's: the manifest names it, and a trial folder keeps a copy.
pub fn remember_book(label: &Path, bytes: Vec<u8>) {
    remember_input(label, &bytes);
    BOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(label.to_path_buf(), std::sync::Arc::new(bytes));
}

/// The bytes of a book read from the database under `label` ([`remember_book`]).
pub fn book_bytes(label: &Path) -> Option<std::sync::Arc<Vec<u8>>> {
    BOOKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(label)
        .cloned()
}

/// The SHA-256 of the bytes [`read_input`] last read from `path`.
pub(crate) fn read_hash(path: &Path) -> Option<String> {
    READ.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(path)
        .cloned()
}

/// The SHA-256 of the file at `path` as it is now.
pub(crate) fn sha256_now(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| hex(&Sha256::digest(&b)))
}

/// Bytes as lower-case hex digits.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
