//! Where dosesim looks for things and what it names them: the bundled folder conventions
//! (scenarios/, its site calendars, and the rosters/, logs/ and plans/ folders beside a
//! scenario), the names of the files that mark a dosesim folder, and the ids that may
//! become file names. Plain paths and names: nothing here reads or writes a file but
//! [`is_subfolder`]'s look for a manifest.

use std::path::{Component, Path, PathBuf};

/// Where the bundled scenarios live, relative to the working directory.
pub const SCENARIO_DIR: &str = "scenarios";

/// Where the bundled site calendars live, relative to the working directory.
pub const CALENDAR_DIR: &str = "scenarios/calendars";

/// The file that lists what dosesim made in a trial or forecast folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A trial folder's calendar of every patient's events.
pub const CALENDAR_FILE: &str = "calendar.ics";

/// The forecast's folder inside a trial folder.
pub const FORECAST_FOLDER: &str = "forecast";

/// The folders of a trial folder that other commands than `cohort` write, each swapped in
/// whole with a manifest of its own: the forecast, and the exports (`dosesim export`).
pub const SUBFOLDERS: [&str; 4] = [FORECAST_FOLDER, "nonmem", "sdtm", "fhir"];

/// The demo roster of a scenario: `rosters/<trial id>.csv` beside the scenario file.
pub fn roster_for(scenario: &Path, trial_id: &str) -> PathBuf {
    scenario
        .parent()
        .unwrap_or(Path::new("."))
        .join("rosters")
        .join(format!("{trial_id}.csv"))
}

/// The administration record of a demo roster, if there is one:
/// `logs/<trial id>.csv` beside the roster's folder (`scenarios/logs/`).
pub fn log_for(roster: &Path, trial_id: &str) -> PathBuf {
    roster
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("logs")
        .join(format!("{trial_id}.csv"))
}

/// The bundled plan of a scenario: `plans/<trial id>.toml` beside the scenario file, in
/// lower case as the scenarios are named.
pub fn plan_for(scenario: &Path, trial_id: &str) -> PathBuf {
    scenario
        .parent()
        .unwrap_or(Path::new("."))
        .join("plans")
        .join(format!("{}.toml", trial_id.to_ascii_lowercase()))
}

/// Whether `path` is one of a trial folder's [`SUBFOLDERS`] with a manifest: `dosesim
/// forecast` and `dosesim export` write it before any `cohort` may have made the trial
/// folder around it.
pub fn is_subfolder(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| SUBFOLDERS.iter().any(|s| n == *s))
        && path.join(MANIFEST_FILE).is_file()
}

/// `path` made absolute with every link resolved, as far as it exists; the rest (a folder
/// a run would create) appended as written.
pub fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => {
                out.push(other);
                if let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                }
            }
        }
    }
    out
}

/// Ids become file names, iCalendar UIDs and CSV cells: keep them to a safe alphabet.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !is_windows_device(id)
}

/// Names Windows reserves for devices (`CON`, `NUL`, `COM1`, ...), with or without an
/// extension and in any case: a file called `NUL.csv` cannot be made or opened there.
fn is_windows_device(id: &str) -> bool {
    let stem = id.split('.').next().unwrap_or(id);
    let is = |name: &str| stem.eq_ignore_ascii_case(name);
    match stem.len() {
        3 => is("CON") || is("PRN") || is("AUX") || is("NUL"),
        4 => {
            let (word, digit) = stem.split_at(3);
            (word.eq_ignore_ascii_case("COM") || word.eq_ignore_ascii_case("LPT"))
                && digit.as_bytes()[0].is_ascii_digit()
        }
        _ => false,
    }
}

/// The id rule in words, for messages.
pub const SAFE_ID_RULE: &str = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, and not a name Windows keeps for a device (CON, PRN, AUX, NUL, COM1-9, LPT1-9)";
