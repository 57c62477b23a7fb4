//! Helpers shared by the integration tests: running the real binary from the crate root,
//! parsing its CSV, and writing broken copies of the bundled scenarios.
//!
//! Each `tests/*.rs` file is its own test binary and uses only part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde::Deserialize;

/// The crate root: the binary runs from here, so `scenarios/...` paths resolve.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled scenario files, as the binary sees them (relative to the crate root).
pub const SCENARIOS: [&str; 5] = [
    "scenarios/nct01573923.toml",
    "scenarios/nct01724398.toml",
    "scenarios/nct02812121.toml",
    "scenarios/nct04822922.toml",
    "scenarios/nct05106972.toml",
];

/// The first twenty calendar CSV columns: a fixed contract.
pub const HEADER20: [&str; 20] = [
    "patient_id",
    "trial_id",
    "arm_id",
    "date",
    "study_day",
    "weekday",
    "order_in_day",
    "kind",
    "event",
    "occurrence",
    "occurrences",
    "weight_kg",
    "dose_per_kg",
    "dose",
    "dose_unit",
    "cumulative_dose",
    "volume_ml",
    "window_start",
    "window_end",
    "note",
];

/// `dosesim` built by cargo, run from the crate root.
pub fn dosesim() -> Command {
    let mut c = Command::cargo_bin("dosesim").expect("the dosesim binary is built");
    c.current_dir(root());
    c
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Panics with the whole run when the exit status is not `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit status; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        self
    }

    /// The `warning:` lines of stderr.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("warning: "))
            .collect()
    }
}

pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = dosesim().args(args).output().expect("dosesim runs");
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// `dosesim calendar SCENARIO --arm ARM --weight W --start START` plus `extra`.
pub fn calendar(scenario: &str, arm: &str, weight: &str, start: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "calendar", scenario, "--arm", arm, "--weight", weight, "--start", start,
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// One calendar CSV row, every column as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CsvRow {
    pub patient_id: String,
    pub trial_id: String,
    pub arm_id: String,
    pub date: String,
    pub study_day: String,
    pub weekday: String,
    pub order_in_day: String,
    pub kind: String,
    pub event: String,
    pub occurrence: String,
    pub occurrences: String,
    pub weight_kg: String,
    pub dose_per_kg: String,
    pub dose: String,
    pub dose_unit: String,
    pub cumulative_dose: String,
    pub volume_ml: String,
    pub window_start: String,
    pub window_end: String,
    pub note: String,
    pub product: String,
    pub assumed: String,
}

/// The header and rows of a calendar CSV.
pub fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<CsvRow>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r
        .headers()
        .expect("a CSV header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .deserialize()
        .collect::<Result<Vec<CsvRow>, _>>()
        .expect("every CSV row parses");
    (header, rows)
}

/// The 1-based number of the only line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "'{needle}' should be on exactly one line");
    hits[0]
}

/// A bundled scenario's text with each `(from, to)` applied to its first occurrence.
/// Panics if a `from` is not found, so a test never silently tests the unbroken file.
pub fn broken_text(scenario: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(root().join(scenario)).expect("scenario readable");
    for (from, to) in edits {
        assert!(text.contains(from), "{scenario} should contain {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// Writes `text` as `name` in a fresh temporary folder; keep the folder alive while used.
pub fn temp_scenario(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temporary scenario");
    (dir, path)
}

/// Names of the entries of a folder, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("folder readable")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs the binary with its stdout a pipe nobody reads (as in `dosesim ... | head -0`).
pub fn run_with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dosesim"))
        .current_dir(root())
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("dosesim runs")
}
