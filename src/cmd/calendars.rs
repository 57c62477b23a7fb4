//! `dosesim calendars check [DIR]`: loads every site calendar (`*.toml`) in the folder with
//! its holiday files, and says for each what it covers, or every problem found.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{InputError, Problem};
use crate::site;

/// Where the bundled site calendars live, relative to the working directory.
pub const CALENDAR_DIR: &str = "scenarios/calendars";

pub fn check(dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(CALENDAR_DIR));
    let files = calendar_files(&dir)?;
    let mut problems = Vec::new();
    let mut out = String::new();
    for f in &files {
        match site::load(f) {
            Ok(c) => {
                let covers: Vec<String> = c
                    .coverage()
                    .iter()
                    .map(|(a, b)| format!("{a} to {b}"))
                    .collect();
                let closed = c.closed_weekdays();
                let _ = writeln!(
                    out,
                    "OK  {}  site {}: {}; closed {}; covers {}",
                    f.display(),
                    c.id,
                    c.name,
                    if closed.is_empty() {
                        "no weekday".to_string()
                    } else {
                        closed.join(", ")
                    },
                    if covers.is_empty() {
                        "nothing (every date is provisional)".to_string()
                    } else {
                        covers.join(", ")
                    }
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "BAD {}  ({} problem{})",
                    f.display(),
                    e.problems.len(),
                    if e.problems.len() == 1 { "" } else { "s" }
                );
                problems.extend(e.problems);
            }
        }
    }
    crate::write::stdout(out.as_bytes())?;
    InputError::check(problems)?;
    Ok(())
}

/// Every `*.toml` directly in `dir`, sorted by name.
fn calendar_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        InputError::one(Problem::new(
            dir,
            format!("cannot list site calendars: {e}"),
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(InputError::one(Problem::new(
            dir,
            "no site calendars (*.toml) in this folder",
        )));
    }
    Ok(files)
}
