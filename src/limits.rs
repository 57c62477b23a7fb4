//! The limits `dosesim validate` enforces on a scenario file, those on site calendars and
//! their holiday files, and the size of every other input file. Each is far above any
//! registered regimen (the five bundled trials have at most 3 arms, 2 components and 4
//! visits), calendar, roster or record, and low enough that every output, the charts
//! included, stays usable and every step stays fast (and that `/dev/zero` named as an
//! input is refused, not read until memory runs out). README.md ("Limits") lists them for
//! users.

use std::io::Read;
use std::path::Path;

/// A scenario file's size (the bundled ones are about 10 KB).
pub const MAX_SCENARIO_BYTES: usize = 1 << 20;
/// Arms in one trial.
pub const MAX_ARMS: usize = 20;
/// Products in one trial.
pub const MAX_PRODUCTS: usize = 10;
/// Components (infusions, plasma exchanges) in one arm.
pub const MAX_COMPONENTS: usize = 10;
/// Visits in one trial (each may apply to some or all arms).
pub const MAX_VISITS: usize = 100;
/// Background treatments in one trial.
pub const MAX_BACKGROUND: usize = 10;
/// Notes on one arm.
pub const MAX_NOTES: usize = 10;
/// Occurrences of one component (`timing.count`, or the length of `timing.days`).
pub const MAX_OCCURRENCES: usize = 1_000;
/// Events one patient's calendar may hold on one arm: doses, visits and background
/// treatments together (daily for five years is 1,826).
pub const MAX_EVENTS_PER_ARM: usize = 2_000;
/// Characters in a name, title, condition or value (they label charts and table columns).
pub const MAX_NAME_CHARS: usize = 300;
/// Characters in a quote from the record, a reason, a note or a detail.
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Largest study day (100 years of days).
pub const MAX_DAY: usize = 36_500;
/// A site calendar file's size (the bundled ones are under 1 KB).
pub const MAX_CALENDAR_BYTES: usize = 1 << 20;
/// A holiday file's size: holiday-cn JSON, iCalendar or CSV (a year of holiday-cn is
/// about 5 KB).
pub const MAX_HOLIDAY_FILE_BYTES: usize = 10 << 20;
/// Holiday files one site calendar reads (a hundred years of yearly files).
pub const MAX_HOLIDAY_SOURCES: usize = 100;
/// Days one site calendar lists: its holiday files, its own dates and ranges and the
/// recurrences of its .ics events together, each day of a range or recurrence counted (a
/// year of holiday-cn lists about 35; every day of a hundred years is 36,525).
pub const MAX_CALENDAR_DAYS: usize = 100_000;
/// A roster's size (a million patients is about 35 MB).
pub const MAX_ROSTER_BYTES: usize = 256 << 20;
/// An administration record's size (3,000,000 rows is about 111 MB).
pub const MAX_RECORD_BYTES: usize = 512 << 20;
/// A forecast plan's size (the bundled ones are about 4 KB).
pub const MAX_PLAN_BYTES: usize = 1 << 20;

/// The limits as (what, number) rows, for README.md and `--help`-style listings.
pub const ALL: [(&str, usize); 19] = [
    ("scenario file size (bytes)", MAX_SCENARIO_BYTES),
    ("arms per trial", MAX_ARMS),
    ("products per trial", MAX_PRODUCTS),
    ("components per arm", MAX_COMPONENTS),
    ("visits per trial", MAX_VISITS),
    ("background treatments per trial", MAX_BACKGROUND),
    ("notes per arm", MAX_NOTES),
    ("occurrences per component", MAX_OCCURRENCES),
    ("events per patient on one arm", MAX_EVENTS_PER_ARM),
    (
        "characters in a name, title, condition or value",
        MAX_NAME_CHARS,
    ),
    (
        "characters in a quote, reason, note or detail",
        MAX_TEXT_CHARS,
    ),
    ("study day", MAX_DAY),
    ("site calendar file size (bytes)", MAX_CALENDAR_BYTES),
    ("holiday file size (bytes)", MAX_HOLIDAY_FILE_BYTES),
    ("holiday files per site calendar", MAX_HOLIDAY_SOURCES),
    ("days listed by one site calendar", MAX_CALENDAR_DAYS),
    ("roster file size (bytes)", MAX_ROSTER_BYTES),
    ("administration record file size (bytes)", MAX_RECORD_BYTES),
    ("forecast plan file size (bytes)", MAX_PLAN_BYTES),
];

/// The bytes of input file `path` when there are at most `max` of them; `Ok(None)` when
/// there are more. Only `max + 1` bytes are ever read, so a device that never ends
/// (`/dev/zero`) or a file far too large is refused at once, whatever its size claims to
/// be. The bytes read are hashed for the manifest ([`crate::digest::remember_input`]).
pub fn read_at_most(path: &Path, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let claimed = file.metadata().map(|m| m.len()).unwrap_or(0);
    if claimed > max as u64 {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(claimed as usize);
    file.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Ok(None);
    }
    crate::digest::remember_input(path, &bytes);
    Ok(Some(bytes))
}

/// Reads an input file of at most `max` bytes, as [`read_at_most`]: its bytes, or why not in
/// words. `what` names the file with its article ("a roster", "an administration record"),
/// `usual` says how large such a file usually is ("a million patients take about 35 MB").
pub fn read_input(path: &Path, max: usize, what: &str, usual: &str) -> Result<Vec<u8>, String> {
    match read_at_most(path, max) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(too_large(max, what, usual)),
        Err(e) => {
            let noun = what
                .strip_prefix("an ")
                .or_else(|| what.strip_prefix("a "))
                .unwrap_or(what);
            Err(format!("cannot read the {noun}: {e}"))
        }
    }
}

/// The words for a file over its limit, as [`read_input`] says them.
pub fn too_large(max: usize, what: &str, usual: &str) -> String {
    format!(
        "the file is over {max} bytes; {what} may be at most {max} bytes ({}; {usual}): is this the right file?",
        size_words(max)
    )
}

/// A size in words: "256 MiB", "1 MiB", "4000 bytes".
pub fn size_words(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn an_endless_file_is_refused_after_reading_one_byte_past_the_limit() {
        assert_eq!(
            super::read_at_most(Path::new("/dev/zero"), 1000).unwrap(),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(super::read_at_most(&p, 5).unwrap(), Some(b"12345".to_vec()));
        assert_eq!(super::read_at_most(&p, 4).unwrap(), None);
    }

    #[test]
    fn the_readme_lists_every_limit() {
        let readme = include_str!("../README.md");
        for (what, n) in super::ALL {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {what}")))
                .unwrap_or_else(|| panic!("README.md has no limits row for {what}"));
            assert!(row.contains(&format!("| {n}")), "{row}: should say {n}");
        }
    }
}
