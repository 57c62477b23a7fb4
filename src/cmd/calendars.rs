//! `dosesim calendars check [DIR]`: loads every site calendar (`*.toml`) in the folder with
//! its holiday files, and says for each what its holiday files cover and where only the
//! statutory holidays it expects speak for it, or every problem found.

use std::path::PathBuf;

use anyhow::Result;

use dosesim::site;

pub fn check(dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(dosesim::layout::CALENDAR_DIR));
    let files = dosesim::scenario::toml_files(&dir, "site calendars")?;
    super::check_files(&files, |f| {
        let c = site::load(f)?;
        let covers: Vec<String> = c
            .coverage()
            .iter()
            .map(|(a, b)| format!("{a} to {b}"))
            .collect();
        let closed = c.closed_weekdays();
        let expected = c
            .expected_summary()
            .map(|e| format!("; {e}"))
            .unwrap_or_default();
        let at = c
            .location
            .as_ref()
            .map(|l| format!("; at {l}"))
            .unwrap_or_default();
        Ok(format!(
            "OK  {}  site {}: {}{at}; closed {}; covers {}{expected}",
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
        ))
    })
}
