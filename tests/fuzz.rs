//! Fuzzing the two parsers of user files, on stable Rust with proptest: arbitrary bytes,
//! and the bundled scenarios and rosters with random mutations (bytes cut, copied and
//! inserted, TOML and CSV tokens dropped in, lines swapped). Whatever comes in:
//!
//! - the parsers never panic, and a scenario they accept expands, for extreme weights and
//!   start dates, and exports without panicking (an error is fine, a crash is not);
//! - the binary, on a sample of the same inputs, exits 0 or 2, never anything else, and
//!   every refusal names the file; a run that hangs fails the test.
//!
//! The case counts are bounded so that CI stays quick (256 in-process cases a test, 24
//! runs of the binary); `PROPTEST_CASES=20000 cargo test --release --test main fuzz::` runs a
//! longer campaign (a tenth of the cases run the binary).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use chrono::NaiveDate;
use proptest::prelude::*;

use crate::common::mutate::{self, Edit, cases};

use dosesim::cohort::Cohort;
use dosesim::export::{self, Calendar};
use dosesim::model::{Kg, Trial};
use dosesim::schedule::{Patient, Plan};
use dosesim::{roster, scenario};

/// The bundled scenarios (path, text) and rosters (path, bytes), by trial.
struct Seeds {
    scenarios: Vec<(PathBuf, String)>,
    rosters: Vec<(PathBuf, Vec<u8>)>,
    trials: Vec<Trial>,
}

static SEEDS: LazyLock<Seeds> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::files_in(&root.join("scenarios")).unwrap();
    let mut seeds = Seeds {
        scenarios: Vec::new(),
        rosters: Vec::new(),
        trials: Vec::new(),
    };
    for f in files {
        let trial = scenario::load(&f).unwrap();
        let roster = root
            .join("scenarios/rosters")
            .join(format!("{}.csv", trial.id));
        seeds
            .rosters
            .push((roster.clone(), std::fs::read(&roster).unwrap()));
        seeds
            .scenarios
            .push((f.clone(), std::fs::read_to_string(&f).unwrap()));
        seeds.trials.push(trial);
    }
    seeds
});

/// Tokens that make a mutation likely to reach the validator rather than the TOML or
/// CSV syntax check.
const TOKENS: &[&str] = &[
    "\n",
    "=",
    "\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "-",
    "0",
    "1",
    "-1",
    "1e300",
    "1e-300",
    "nan",
    "inf",
    "99999999999999999999",
    "18446744073709551616",
    "4294967297",
    "65536",
    "36500",
    "36501",
    "9999-12-31",
    "0001-01-01",
    "2027-02-29",
    "true",
    "\"\"",
    "\r",
    "\\u0000",
    "\u{202e}",
    "é",
    "[[arms]]",
    "[[arms.components]]",
    "[[visits]]",
    "[[background]]",
    "[[products]]",
    "timing.every_months = 1000\n",
    "timing.count = 1000\n",
    "dose.round_to = 1e12\n",
    "dose.max_per_dose = 1\n",
    "CON",
    "P1",
    "low",
    "msc",
    "patient_id,arm,weight_kg,start_date\n",
    "P9,low,60,2027-01-04\n",
    ";",
    "\t",
];

/// One edit of a seed, its tokens from [`TOKENS`].
fn edit() -> impl Strategy<Value = Edit> {
    mutate::edit(TOKENS.len())
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    mutate::apply(seed, edits, TOKENS)
}

/// A scenario that validated is expanded and exported for extreme patients; none of it
/// may panic (errors are fine).
fn exercise(trial: &Trial) {
    let weights = ["3", "60", "350", "0.5", "62.123456789"];
    let starts = [
        NaiveDate::from_ymd_opt(1, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2027, 2, 28).unwrap(),
        NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
    ];
    for arm in &trial.arms {
        let plan = Plan::new(trial, arm);
        for w in weights {
            for start in starts {
                let patient = Patient {
                    id: "P1".into(),
                    weight_kg: w.parse::<Kg>().unwrap(),
                    start,
                    site: None,
                };
                let Ok(events) = plan.schedule_at(&patient, None) else {
                    continue;
                };
                let rows = export::rows(trial, arm, &patient, &events);
                let assumptions = trial.assumptions_of([arm]);
                let cal = Calendar {
                    trial,
                    arm,
                    patient: &patient,
                    warnings: &[],
                    assumptions: &assumptions,
                    rows: &rows,
                    site: None,
                    record: None,
                    remind: dosesim::export::ics::Remind::asked(Some(2), None),
                    audience: dosesim::export::ics::Audience::Staff,
                    sequence_base: 0,
                };
                for (_, format) in export::Format::EXTENSIONS {
                    let _ = format.exporter().render(&cal);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_crash_the_parsers(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let path = Path::new("fuzz.toml");
        let _ = scenario::parse(path, &String::from_utf8_lossy(&bytes));
        for trial in &SEEDS.trials {
            let _ = roster::parse(Path::new("fuzz.csv"), bytes.clone(), trial);
        }
    }

    #[test]
    fn mutated_scenarios_are_refused_or_work(
        seed in 0..5usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (_, text) = &SEEDS.scenarios[seed];
        let mutated = apply(text.as_bytes(), &edits);
        let text = String::from_utf8_lossy(&mutated);
        match scenario::parse(Path::new("fuzz.toml"), &text) {
            Ok(trial) => exercise(&trial),
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("fuzz.toml"), "{message}");
            }
        }
    }

    #[test]
    fn mutated_rosters_are_refused_or_work(
        seed in 0..5usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (_, bytes) = &SEEDS.rosters[seed];
        let trial = &SEEDS.trials[seed];
        let path = Path::new("fuzz.csv");
        let mutated = apply(bytes, &edits);
        match roster::parse(path, mutated, trial) {
            Ok(r) => {
                if let Ok(cohort) = Cohort::new(trial, &r, path) {
                    let mut out = Vec::new();
                    cohort.write_pharmacy(&mut out, &|_| {}).unwrap();
                    prop_assert_eq!(
                        out.iter().filter(|&&b| b == b'\n').count() as u64,
                        cohort.rows() + 1
                    );
                }
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("fuzz.csv"), "{message}");
            }
        }
    }
}

/// Runs the binary with a time limit: a hang fails the test.
fn run_bounded(args: &[&std::ffi::OsStr]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("dosesim")
        .unwrap()
        .current_dir(crate::common::root())
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(240) / 10, ..ProptestConfig::default() })]

    #[test]
    fn the_binary_exits_0_or_2_and_names_the_file(
        seed in 0..5usize,
        scenario_edits in prop::collection::vec(edit(), 0..4),
        roster_edits in prop::collection::vec(edit(), 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("mutated.toml");
        let roster = dir.path().join("mutated.csv");
        std::fs::write(&scenario, apply(SEEDS.scenarios[seed].1.as_bytes(), &scenario_edits)).unwrap();
        std::fs::write(&roster, apply(&SEEDS.rosters[seed].1, &roster_edits)).unwrap();
        let validate = run_bounded(&["validate".as_ref(), scenario.as_os_str()]);
        let code = validate.status.code();
        prop_assert!(matches!(code, Some(0) | Some(2)), "validate exited {code:?}");
        let pharmacy = run_bounded(&[
            "pharmacy".as_ref(),
            scenario.as_os_str(),
            "--roster".as_ref(),
            roster.as_os_str(),
        ]);
        let code = pharmacy.status.code();
        let err = String::from_utf8_lossy(&pharmacy.stderr);
        prop_assert!(matches!(code, Some(0) | Some(2)), "pharmacy exited {code:?}: {err}");
        if code == Some(2) {
            prop_assert!(
                err.contains("mutated.toml") || err.contains("mutated.csv"),
                "a refusal names the file: {err}"
            );
        }
    }
}
