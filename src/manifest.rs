//! What made a trial folder: `manifest.json` names the inputs (paths as given, SHA-256 of
//! their bytes), the dosesim version, the command line and every file dosesim wrote there,
//! with the summary the index shows. No clock time, so reruns stay byte-identical.
//!
//! The manifest is how dosesim knows a folder is its own: a rerun replaces a folder made
//! from the same inputs, refuses one made from others unless told to (`--force`), never
//! writes into a non-empty folder without one, and keeps every file the manifest does not
//! list (a user's own notes).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{InputError, Problem};

/// The manifest's file name inside a trial folder.
pub const FILE: &str = "manifest.json";

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
    /// Reads `path` and hashes its bytes.
    pub fn of(role: &str, path: &Path) -> Result<Input, InputError> {
        let bytes = std::fs::read(path).map_err(|e| {
            InputError::one(Problem::new(path, format!("cannot read the {role}: {e}")))
        })?;
        Ok(Input {
            role: role.to_string(),
            path: path.display().to_string(),
            sha256: hex(&Sha256::digest(&bytes)),
            as_of: None,
        })
    }
}

/// Each site calendar among `calendars`, then the holiday files they read, each once, as
/// inputs.
pub fn calendar_inputs(calendars: &[&crate::site::SiteCalendar]) -> Result<Vec<Input>, InputError> {
    let mut inputs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for cal in calendars {
        if seen.insert(cal.file.clone()) {
            inputs.push(Input::of("site calendar", &cal.file)?);
        }
    }
    for cal in calendars {
        for s in &cal.sources {
            if seen.insert(s.clone()) {
                inputs.push(Input::of("holiday file", s)?);
            }
        }
    }
    Ok(inputs)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The trial a folder is about, and what it holds, for the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contents {
    pub trial_id: String,
    pub trial_title: String,
    pub condition: String,
    pub arms: Vec<String>,
    pub patients: usize,
    /// Infusions and exchanges.
    pub doses: u64,
    /// The summary line `cohort` and `run` print, without the trial id and folder.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// "dosesim 0.1.0".
    pub made_by: String,
    /// The command line that made the folder.
    pub command: Vec<String>,
    pub inputs: Vec<Input>,
    pub contents: Contents,
    /// Every file dosesim wrote, relative to the folder, sorted.
    pub files: Vec<String>,
}

impl Contents {
    /// A trial's contents: its id, title, condition and arms, with what a run made of it.
    pub fn of_trial(
        trial: &crate::model::Trial,
        patients: usize,
        doses: u64,
        summary: String,
    ) -> Self {
        Contents {
            trial_id: trial.id.clone(),
            trial_title: trial.title.clone(),
            condition: trial.condition.clone(),
            arms: trial.arms.iter().map(|a| a.id.clone()).collect(),
            patients,
            doses,
            summary,
        }
    }
}

impl Manifest {
    /// The manifest of the folder `dir` as this command has filled it: every file in it
    /// (and the manifest itself), made by this dosesim from `inputs`.
    pub fn of_folder(dir: &Path, inputs: &[Input], contents: Contents) -> std::io::Result<Self> {
        let mut files = list_files(dir)?;
        files.push(FILE.to_string());
        files.sort();
        Ok(Manifest {
            made_by: format!("dosesim {}", env!("CARGO_PKG_VERSION")),
            command: this_command(),
            inputs: inputs.to_vec(),
            contents,
            files,
        })
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest serialises");
        s.push('\n');
        s
    }

    /// The manifest of `dir`: `Ok(None)` when it has none, an error when it is unreadable.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, InputError> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                InputError::one(Problem::new(
                    &path,
                    format!("not a dosesim manifest ({e}); move the folder aside or choose another --out"),
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InputError::one(Problem::new(&path, format!("cannot read: {e}")))),
        }
    }

    /// The command that made it, as one line.
    pub fn command_line(&self) -> String {
        self.command.join(" ")
    }

    /// The inputs' paths by role, which say whether a rerun is the same job (the files'
    /// contents may have changed: a corrected roster is a rerun, another roster is not).
    fn input_paths(&self) -> Vec<(String, PathBuf)> {
        same_files(&self.inputs)
    }
}

/// The command line of this process, program name first as `dosesim`.
pub fn this_command() -> Vec<String> {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "dosesim".to_string();
    }
    args
}

/// Each input's role and file, resolved (`scenarios/x.toml` and `/work/main/scenarios/x.toml`
/// are the same file), sorted.
/// The role of an administration record among the inputs.
pub const RECORD_ROLE: &str = "administration record";

/// The inputs that decide whether a folder is the same job's: every one but the
/// administration record, which grows day by day (a folder made before the first record,
/// or from an earlier one, is the same trial's and is replaced by the newer one).
fn same_files(inputs: &[Input]) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = inputs
        .iter()
        .filter(|i| i.role != RECORD_ROLE)
        .map(|i| {
            let p = Path::new(&i.path);
            (
                i.role.clone(),
                std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()),
            )
        })
        .collect();
    v.sort();
    v
}

/// Whether dosesim may replace the trial folder `dir` with one made from `inputs`:
/// a missing or empty folder, or one whose manifest names the same inputs (or any, with
/// `force`). A non-empty folder without a manifest is never written into.
pub fn check_target(dir: &Path, inputs: &[Input], force: bool) -> Result<(), InputError> {
    let empty = match std::fs::read_dir(dir) {
        // A forecast folder (with its own manifest) is dosesim's and is kept by a rewrite.
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .all(|e| is_forecast_folder(&e.path())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(InputError::one(Problem::flag(
                "--out",
                format!("{} is a file, not a folder", dir.display()),
            )));
        }
        Err(e) => {
            return Err(InputError::one(Problem::flag(
                "--out",
                format!("cannot read {}: {e}", dir.display()),
            )));
        }
    };
    if empty {
        return Ok(());
    }
    let Some(old) = Manifest::read(dir)? else {
        return Err(InputError::one(Problem::flag(
            "--out",
            format!(
                "{} is not empty and has no {FILE}: dosesim writes only into folders it made, so nothing of yours is replaced; name another folder with --out",
                dir.display()
            ),
        )));
    };
    if force || old.input_paths() == same_files(inputs) {
        return Ok(());
    }
    let named: Vec<String> = old
        .inputs
        .iter()
        .map(|i| format!("{} {}", i.role, i.path))
        .collect();
    Err(InputError::one(Problem::flag(
        "--out",
        format!(
            "{} holds the outputs of other inputs ({}), made by `{}`; to keep both, name another folder with --out; to replace it, add --force",
            dir.display(),
            named.join(", "),
            old.command_line()
        ),
    )))
}

/// Whether `path` is a trial folder's `forecast/` with a manifest: `dosesim forecast`
/// writes it before any `cohort` may have made the trial folder around it.
pub fn is_forecast_folder(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n == crate::forecast::FOLDER)
        && path.join(FILE).is_file()
}

/// Every file under `dir`, relative to it with `/` separators, sorted.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel: PathBuf = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(role: &str, path: &str) -> Input {
        Input {
            role: role.into(),
            path: path.into(),
            sha256: "00".into(),
            as_of: None,
        }
    }

    fn manifest(inputs: Vec<Input>) -> Manifest {
        Manifest {
            made_by: "dosesim test".into(),
            command: vec!["dosesim".into(), "cohort".into()],
            inputs,
            contents: Contents {
                trial_id: "T".into(),
                trial_title: "t".into(),
                condition: "c".into(),
                arms: vec![],
                patients: 0,
                doses: 0,
                summary: String::new(),
            },
            files: vec![],
        }
    }

    #[test]
    fn a_folder_of_other_inputs_is_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let ours = vec![input("scenario", "s.toml"), input("roster", "real.csv")];
        std::fs::write(dir.path().join(FILE), manifest(ours.clone()).to_json()).unwrap();
        assert!(check_target(dir.path(), &ours, false).is_ok(), "a rerun");
        let demo = vec![input("scenario", "s.toml"), input("roster", "demo.csv")];
        let e = check_target(dir.path(), &demo, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("roster real.csv"), "{e}");
        assert!(e.contains("--force") && e.contains("--out"), "{e}");
        assert!(check_target(dir.path(), &demo, true).is_ok());
    }

    #[test]
    fn a_non_empty_folder_without_a_manifest_is_never_written_into() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_target(dir.path(), &[], false).is_ok(), "empty");
        std::fs::write(dir.path().join("mine.txt"), "x").unwrap();
        assert!(
            check_target(dir.path(), &[], true).is_err(),
            "not even forced"
        );
        assert!(check_target(&dir.path().join("missing"), &[], false).is_ok());
    }
}
