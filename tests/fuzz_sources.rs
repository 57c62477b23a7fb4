//! Fuzzing the parsers of the files that came with site calendars, the administration
//! record and the forecast: a site calendar's TOML, its holiday files (holiday-cn JSON,
//! iCalendar, CSV), a record (log) and a forecast plan. Each case mutates one bundled file
//! (bytes cut, copied and inserted, tokens of its format dropped in, lines swapped) and runs
//! the binary that reads it, with a time bound: the run exits 0 or 2, never anything else,
//! within the bound, a refusal names the file in plain words (no panic), and a refused run
//! leaves no file behind. In-process, the record (log) and site calendar parsers meet many
//! more mutations: they never panic, every problem names a file and a line it has, and a
//! log read with CRLF line ends gives the same problems on the same lines as with LF.
//! `tests/fuzz.rs` does the same for scenarios and rosters; `PROPTEST_CASES=2000 cargo test --release --test main fuzz_sources::`
//! runs a longer campaign.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use proptest::prelude::*;

use crate::common::mutate::{self, Edit, cases};

/// Tokens of the four formats: keys, separators, dates, numbers and characters a parser
/// could trip on.
const TOKENS: &[&str] = &[
    "\n",
    "\r",
    "\r\n",
    "=",
    "\"",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    "\t",
    "-1",
    "0",
    "1e300",
    "nan",
    "99999999999999999999",
    "9999-12-31",
    "0001-01-01",
    "2027-02-29",
    "2026-13-01",
    "20261301",
    "99991231",
    "true",
    "false",
    "null",
    "\"\"",
    "\\u0000",
    "\u{7}",
    "\u{202e}",
    "上班",
    "é",
    // site calendar TOML
    "closed = [\"2026-12-24..2026-12-26\"]\n",
    "open = [{ date = \"2026-10-05\", name = \"x\" }]\n",
    "covers = \"2026-01-01..2026-12-31\"\n",
    "closed_weekdays = [\"Mon\"]\n",
    "expected_holidays = \"cn\"\n",
    "open_if_summary = \"上班\"",
    "..",
    // holiday-cn JSON
    "{\"name\": \"x\", \"date\": \"2026-05-01\", \"isOffDay\": true},",
    "\"year\": -1,",
    "\"days\": [],",
    // iCalendar
    "BEGIN:VEVENT\r\n",
    "END:VEVENT\r\n",
    "RRULE:FREQ=WEEKLY;BYDAY=MO\r\n",
    "RRULE:FREQ=DAILY;COUNT=100000\r\n",
    "RDATE;VALUE=DATE:20261111\r\n",
    "EXDATE;VALUE=DATE:20261001\r\n",
    "DURATION:P3D\r\n",
    "DURATION:P9999999D\r\n",
    "STATUS:CANCELLED\r\n",
    "DTSTART:20261001T090000Z\r\n",
    "DTSTART;VALUE=DATE:20261001\r\n",
    "SUMMARY:x\\r\\nATTENDEE:y\r\n",
    " folded\r\n",
    // holiday CSV
    "date,name,open\n",
    "2026-10-01,National Day,false\n",
    "2026-10-10,make-up,true\n",
    // record
    "patient_id,date,record,component,occurrence,amount,note\n",
    "P4398-002,2026-09-01,given,uc_msc,3,,\n",
    "P4398-002,2026-09-02,died,,,,\n",
    "P4398-002,2026-09-03,weight,,,80,\n",
    "P9999-999,2026-09-01,given,uc_msc,1,,\n",
    "given",
    "missed",
    "withdrawn",
    "uc_msc",
    "pe",
    // forecast plan
    "[[sites]]\n",
    "[product.ucb_msc]\n",
    "replicates = 5\n",
    "{ value = 0 }",
    "{ value = 1e12, assumed = \"x\" }",
];

/// One edit of a seed, its tokens from [`TOKENS`].
fn edit() -> impl Strategy<Value = Edit> {
    mutate::edit(TOKENS.len())
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    mutate::apply(seed, edits, TOKENS)
}

/// The longest one run of a fuzz case may take. The bundled inputs take well under a
/// second; a mutation that makes a reader quadratic or a recurrence unbounded is caught
/// here rather than hanging the suite.
const BOUND: Duration = Duration::from_secs(30);

/// Runs the binary with `BOUND`; a run cut off by it fails the case.
fn run(args: &[&OsStr]) -> Result<std::process::Output, TestCaseError> {
    let out = assert_cmd::Command::cargo_bin("dosesim")
        .unwrap()
        .current_dir(crate::common::root())
        .args(args)
        .timeout(BOUND)
        .output()
        .unwrap();
    if out.status.code().is_none() {
        return Err(TestCaseError::fail(format!(
            "dosesim {:?} did not finish within {BOUND:?} (or was killed): {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// The run exited 0 or 2, and a refusal names one of `names`.
fn exits_0_or_2(out: &std::process::Output, names: &[&str]) -> Result<(), TestCaseError> {
    let code = out.status.code();
    let err = String::from_utf8_lossy(&out.stderr);
    prop_assert!(matches!(code, Some(0) | Some(2)), "exited {code:?}: {err}");
    prop_assert!(!err.contains("panicked"), "a panic: {err}");
    if code == Some(2) {
        prop_assert!(
            names.iter().any(|n| err.contains(n)),
            "a refusal names the file ({names:?}): {err}"
        );
    }
    Ok(())
}

/// After a refusal (exit 2), `dir` holds only the inputs named in `inputs`: nothing
/// half-written.
fn nothing_written(
    out: &std::process::Output,
    dir: &Path,
    inputs: &[&str],
) -> Result<(), TestCaseError> {
    if out.status.code() == Some(2) {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name();
            let name = name.to_string_lossy();
            prop_assert!(
                inputs.contains(&&*name),
                "a refused run left {name} in {}",
                dir.display()
            );
        }
    }
    Ok(())
}

fn bundled(rel: &str) -> Vec<u8> {
    std::fs::read(crate::common::root().join(rel)).unwrap()
}

/// A holiday CSV of the form README gives (date,name,open).
const HOLIDAY_CSV: &str = "date,name,open\n\
2026-10-01,National Day,false\n\
2026-10-02,National Day,false\n\
2026-10-05,Golden week,false\n\
2026-10-10,Make-up working day,true\n\
2026-12-24,Lab closed,false\n";

/// A site calendar that reads one holiday file of each kind.
const CALENDAR: &str = "name = \"Fuzzed site\"\n\
closed_weekdays = [\"Sat\", \"Sun\"]\n\
sources = [\"holidays/cn-2025.json\", { file = \"holidays/cn-2026.ics\", open_if_summary_starts_with = \"上班\" }, \"holidays/extra.csv\"]\n\
closed = [\"2026-12-28..2026-12-30\", { date = \"2026-11-30\", name = \"Lab maintenance\" }]\n\
open = [{ date = \"2026-10-05\", name = \"Trial clinic\" }]\n\
expected_holidays = \"cn\"\n";

/// Which file of the calendar folder a case mutates.
#[derive(Debug, Clone, Copy)]
enum CalendarPart {
    Toml,
    Json,
    Ics,
    Csv,
}

/// A calendar folder for the bundled NCT01724398 roster (every patient at GZ-SYSU3), with
/// one of its files mutated; returns the folder and the mutated file's name.
fn calendar_folder(dir: &Path, part: CalendarPart, edits: &[Edit]) -> (PathBuf, &'static str) {
    let cals = dir.join("calendars");
    std::fs::create_dir_all(cals.join("holidays")).unwrap();
    let mut toml = CALENDAR.as_bytes().to_vec();
    let mut json = bundled("scenarios/calendars/holidays/cn-2025.json");
    let mut ics = bundled("scenarios/calendars/holidays/cn-2026.ics");
    let mut csv = HOLIDAY_CSV.as_bytes().to_vec();
    let name = match part {
        CalendarPart::Toml => {
            toml = apply(&toml, edits);
            "GZ-SYSU3.toml"
        }
        CalendarPart::Json => {
            json = apply(&json, edits);
            "cn-2025.json"
        }
        CalendarPart::Ics => {
            ics = apply(&ics, edits);
            "cn-2026.ics"
        }
        CalendarPart::Csv => {
            csv = apply(&csv, edits);
            "extra.csv"
        }
    };
    std::fs::write(cals.join("GZ-SYSU3.toml"), toml).unwrap();
    std::fs::write(cals.join("holidays/cn-2025.json"), json).unwrap();
    std::fs::write(cals.join("holidays/cn-2026.ics"), ics).unwrap();
    std::fs::write(cals.join("holidays/extra.csv"), csv).unwrap();
    (cals, name)
}

fn calendar_part() -> impl Strategy<Value = CalendarPart> {
    prop_oneof![
        Just(CalendarPart::Toml),
        Just(CalendarPart::Json),
        Just(CalendarPart::Ics),
        Just(CalendarPart::Csv),
    ]
}

#[test]
fn the_unmutated_inputs_are_accepted() {
    // The seeds themselves must pass, or every case below would only test refusals.
    let dir = tempfile::tempdir().unwrap();
    let (cals, _) = calendar_folder(dir.path(), CalendarPart::Toml, &[]);
    let out = run(&["calendars".as_ref(), "check".as_ref(), cals.as_os_str()]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "pharmacy".as_ref(),
        "scenarios/nct01724398.toml".as_ref(),
        "--roster".as_ref(),
        "scenarios/rosters/NCT01724398.csv".as_ref(),
        "--calendars".as_ref(),
        cals.as_os_str(),
        "--log".as_ref(),
        "scenarios/logs/NCT01724398.csv".as_ref(),
        "--as-of".as_ref(),
        "2026-11-20".as_ref(),
    ])
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The closures of the .ics and CSV files reach the schedule: nothing is due on them.
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.lines().count() > 100);
    for closed in ["2026-10-01", "2026-10-02", "2026-12-24"] {
        assert!(
            !csv.lines()
                .any(|l| l.starts_with(closed) && l.contains(",uc_msc,")),
            "an infusion on closed {closed}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    #[test]
    fn mutated_site_calendars_and_holiday_files_are_refused_or_work(
        part in calendar_part(),
        edits in prop::collection::vec(edit(), 1..5),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (cals, name) = calendar_folder(dir.path(), part, &edits);
        // A refusal names the mutated file, or the calendar that reads it.
        let names = [name, "GZ-SYSU3"];
        let check = run(&["calendars".as_ref(), "check".as_ref(), cals.as_os_str()])?;
        exits_0_or_2(&check, &names)?;
        let written = dir.path().join("pharmacy.csv");
        let pharmacy = run(&[
            "pharmacy".as_ref(),
            "scenarios/nct01724398.toml".as_ref(),
            "--roster".as_ref(),
            "scenarios/rosters/NCT01724398.csv".as_ref(),
            "--calendars".as_ref(),
            cals.as_os_str(),
            "--out".as_ref(),
            written.as_os_str(),
        ])?;
        exits_0_or_2(&pharmacy, &names)?;
        nothing_written(&pharmacy, dir.path(), &["calendars"])?;
        // What `calendars check` accepts, a command using the calendar accepts too.
        if check.status.code() == Some(0) {
            prop_assert_eq!(
                pharmacy.status.code(),
                Some(0),
                "checked OK, then refused: {}",
                String::from_utf8_lossy(&pharmacy.stderr)
            );
        }
    }

    #[test]
    fn mutated_records_are_refused_or_work(edits in prop::collection::vec(edit(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("mutated-log.csv");
        std::fs::write(&log, apply(&bundled("scenarios/logs/NCT01724398.csv"), &edits)).unwrap();
        let names = ["mutated-log.csv"];
        for (command, file) in [("pharmacy", "pharmacy.csv"), ("prep", "prep.csv")] {
            let written = dir.path().join(file);
            let mut args: Vec<&OsStr> = vec![
                command.as_ref(),
                "scenarios/nct01724398.toml".as_ref(),
                "--roster".as_ref(),
                "scenarios/rosters/NCT01724398.csv".as_ref(),
                "--log".as_ref(),
                log.as_os_str(),
                "--out".as_ref(),
                written.as_os_str(),
            ];
            if command == "prep" {
                args.push(OsStr::new("--date"));
                args.push(OsStr::new("2026-11-23"));
            }
            let out = run(&args)?;
            exits_0_or_2(&out, &names)?;
            nothing_written(&out, dir.path(), &["mutated-log.csv"])?;
            let _ = std::fs::remove_file(&written);
        }
        let calendar = run(&[
            "calendar".as_ref(),
            "scenarios/nct01724398.toml".as_ref(),
            "--roster".as_ref(),
            "scenarios/rosters/NCT01724398.csv".as_ref(),
            "--patient".as_ref(),
            "P4398-002".as_ref(),
            "--log".as_ref(),
            log.as_os_str(),
            "--format".as_ref(),
            "ics".as_ref(),
        ])?;
        exits_0_or_2(&calendar, &names)?;
    }

    #[test]
    fn mutated_forecast_plans_are_refused_or_work(edits in prop::collection::vec(edit(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("mutated-plan.toml");
        std::fs::write(&plan, apply(&bundled("scenarios/plans/nct02812121.toml"), &edits)).unwrap();
        let out_dir = dir.path().join("out");
        let out = run(&[
            "forecast".as_ref(),
            "scenarios/nct02812121.toml".as_ref(),
            "--plan".as_ref(),
            plan.as_os_str(),
            "--replicates".as_ref(),
            "20".as_ref(),
            "--out".as_ref(),
            out_dir.as_os_str(),
        ])?;
        exits_0_or_2(&out, &["mutated-plan.toml"])?;
        if out.status.code() == Some(2) {
            // Nothing half-written.
            prop_assert!(
                !out_dir.join("NCT02812121/forecast/weekly.csv").exists(),
                "a refused plan left outputs"
            );
        }
    }
}

/// What the in-process cases read a log against: NCT01724398, its bundled roster and log.
struct LogSeed {
    trial: dosesim::model::Trial,
    roster: dosesim::roster::Roster,
    log: Vec<u8>,
}

static LOG_SEED: LazyLock<LogSeed> = LazyLock::new(|| {
    let root = crate::common::root();
    let trial = dosesim::scenario::load(&root.join("scenarios/nct01724398.toml")).unwrap();
    let roster =
        dosesim::roster::read(&root.join("scenarios/rosters/NCT01724398.csv"), &trial).unwrap();
    LogSeed {
        trial,
        roster,
        log: bundled("scenarios/logs/NCT01724398.csv"),
    }
});

/// Every problem names a file, and those of `file` a line it has (one past the last, for
/// a problem after it).
fn on_lines_it_has(
    e: &dosesim::InputError,
    file: &Path,
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    for p in &e.problems {
        prop_assert!(p.file.is_some(), "a problem names no file: {p}");
        if p.file.as_deref() == Some(file) {
            prop_assert!(
                p.line.is_none_or(|l| (1..=lines + 1).contains(&l)),
                "{p}: the file has {lines} lines"
            );
        }
    }
    Ok(())
}

/// A log's reading: its problems, or (rows, as-of date, warnings).
fn read_log(bytes: Vec<u8>) -> Result<(usize, String, Vec<String>), dosesim::InputError> {
    let s = &*LOG_SEED;
    let path = Path::new("fuzzed-log.csv");
    dosesim::record::parse(path, bytes, &s.trial, &s.roster, None, false)
        .map(|log| (log.rows, log.as_of.to_string(), log.warnings))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    /// The record's reader never panics; its problems are on lines the log has; and the
    /// same log saved with CRLF line ends (as a Windows spreadsheet saves it) reads the
    /// same, every problem and warning on the same line.
    #[test]
    fn mutated_logs_read_alike_with_lf_and_crlf_line_ends(
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let bytes = apply(&LOG_SEED.log, &edits);
        let lf = read_log(bytes.clone());
        if let Err(e) = &lf {
            on_lines_it_has(e, Path::new("fuzzed-log.csv"), &bytes)?;
        }
        // (A carriage return or a quote of the mutation's own would read otherwise.)
        if !bytes.contains(&b'\r') && !bytes.contains(&b'"') {
            let mut crlf = Vec::with_capacity(bytes.len() * 2);
            for &b in &bytes {
                if b == b'\n' {
                    crlf.push(b'\r');
                }
                crlf.push(b);
            }
            let crlf = read_log(crlf);
            match (&lf, &crlf) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(a), Err(b)) => prop_assert_eq!(&a.problems, &b.problems),
                _ => prop_assert!(false, "LF: {:?}\nCRLF: {:?}", lf, crlf),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// The site calendar's TOML parser never panics on a mutated bundled calendar (its
    /// holiday files read as they are), and every problem names a file and a line it has.
    #[test]
    fn mutated_site_calendar_tomls_never_panic_the_parser(
        seed in prop_oneof![
            Just("GZ-SYSU3.toml"),
            Just("guangzhou.toml"),
            Just("weekends.toml"),
            Just("SH-RENJI.toml"),
        ],
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let cals = crate::common::root().join("scenarios/calendars");
        let bytes = apply(&bundled(&format!("scenarios/calendars/{seed}")), &edits);
        let text = String::from_utf8_lossy(&bytes);
        // A name of its own: the bundled file is not read, only its holiday files.
        let path = cals.join("fuzzed-site.toml");
        if let Err(e) = dosesim::site::parse(&path, &text) {
            on_lines_it_has(&e, &path, text.as_bytes())?;
        }
    }
}

/// A roster of `n` NCT01724398 patients on the msc arm, and a record giving each their
/// first infusion on their start date.
fn roster_and_record(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut roster = String::from("patient_id,arm,weight_kg,start_date\n");
    let mut log = String::from("patient_id,date,record,component,occurrence,amount,note\n");
    for k in 0..n {
        let day = start + chrono::Duration::days((k % 700) as i64);
        roster.push_str(&format!("P{k:06},msc,{}.5,{day}\n", 50 + k % 40));
        log.push_str(&format!("P{k:06},{day},given,uc_msc,1,,\n"));
    }
    let (r, l) = (dir.join(format!("r{n}.csv")), dir.join(format!("l{n}.csv")));
    std::fs::write(&r, roster).unwrap();
    std::fs::write(&l, log).unwrap();
    (r, l)
}

/// Reading and checking a roster and a record take processor time in proportion to their rows: 10
/// times the rows take at most about 20 times as long (linear is 10 or less, as the
/// process's start is the same; quadratic about 100). Nothing is listed (`--from` past
/// every schedule), so the time is the readers'.
#[test]
fn rosters_and_records_are_read_in_time_in_proportion_to_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let once = |n: usize, with_log: bool| {
        let (roster, log) = (
            dir.path().join(format!("r{n}.csv")),
            dir.path().join(format!("l{n}.csv")),
        );
        let mut args: Vec<&OsStr> = vec![
            "pharmacy".as_ref(),
            "scenarios/nct01724398.toml".as_ref(),
            "--roster".as_ref(),
            roster.as_os_str(),
            "--from".as_ref(),
            "2099-01-01".as_ref(),
        ];
        if with_log {
            args.extend([OsStr::new("--log"), log.as_os_str()]);
        }
        // Processor time, which other work on the machine does not lengthen.
        let (t, code) = crate::common::cpu_time(&args);
        assert_eq!(code, Some(0), "pharmacy on {} failed", roster.display());
        t
    };
    roster_and_record(dir.path(), 2_000);
    roster_and_record(dir.path(), 20_000);
    for with_log in [false, true] {
        // The two sizes take turns (a cache warmed for one weighs on both alike); the least
        // processor time of each counts.
        once(2_000, with_log);
        let (mut a, mut b) = (Duration::MAX, Duration::MAX);
        for _ in 0..4 {
            a = a.min(once(2_000, with_log));
            b = b.min(once(20_000, with_log));
        }
        let ratio = b.as_secs_f64() / a.as_secs_f64();
        assert!(
            ratio < 20.0,
            "10x the rows took {ratio:.1}x the time (record: {with_log})"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Forecast plans: every bundled plan (scenarios/plans/*.toml), mutated.
// ---------------------------------------------------------------------------------------

/// The bundled plans' trials, by file stem (`nct02812121`): their scenarios, read once.
static PLAN_TRIALS: std::sync::LazyLock<Vec<(String, dosesim::model::Trial)>> =
    std::sync::LazyLock::new(|| {
        let root = crate::common::root();
        let mut plans: Vec<String> = std::fs::read_dir(root.join("scenarios/plans"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some(OsStr::new("toml")))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        plans.sort();
        assert_eq!(plans.len(), 5, "the bundled plans: {plans:?}");
        plans
            .into_iter()
            .map(|stem| {
                let trial =
                    dosesim::scenario::load(&root.join(format!("scenarios/{stem}.toml"))).unwrap();
                (stem, trial)
            })
            .collect()
    });

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// In process: the plan reader and the model it compiles to never panic; a refusal
    /// names the plan file in every problem (or the roster a plan's weights name).
    #[test]
    fn mutated_plans_never_crash_the_plan_reader_or_the_model(
        which in 0..5usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (stem, trial) = &PLAN_TRIALS[which];
        let path = crate::common::root().join(format!("scenarios/plans/{stem}.toml"));
        let bytes = apply(&std::fs::read(&path).unwrap(), &edits);
        // The binary refuses text that is not UTF-8 before the reader sees it.
        let Ok(text) = String::from_utf8(bytes) else { return Ok(()) };
        match dosesim::forecast::plan::parse(&path, &text, trial) {
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(shown.contains(stem.as_str()), "names the plan: {shown}");
                prop_assert!(!shown.contains("Raw") && !shown.contains("struct "), "{shown}");
            }
            Ok(plan) => {
                let sites = dosesim::site::Sites::new();
                if let Ok(model) = dosesim::forecast::Model::new(trial, &plan, &sites, None) {
                    // A small plan is run once; a large one (a typo's 100000 patients)
                    // only compiled, to keep the test quick.
                    if plan.target_patients <= 1_000 {
                        model.replicate(7, 0);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(10), ..ProptestConfig::default() })]

    /// Through the binary: `forecast` on any bundled plan, mutated, exits 0 or 2 with the
    /// plan's file named, and a refusal writes nothing.
    #[test]
    fn every_bundled_plan_mutated_is_refused_or_works(
        which in 0..5usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (stem, trial) = &PLAN_TRIALS[which];
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join(format!("mutated-{stem}.toml"));
        std::fs::write(&plan, apply(&bundled(&format!("scenarios/plans/{stem}.toml")), &edits))
            .unwrap();
        let out_dir = dir.path().join("out");
        let scenario = format!("scenarios/{stem}.toml");
        let out = run(&[
            "forecast".as_ref(),
            scenario.as_ref(),
            "--plan".as_ref(),
            plan.as_os_str(),
            "--replicates".as_ref(),
            "5".as_ref(),
            "--out".as_ref(),
            out_dir.as_os_str(),
        ])?;
        exits_0_or_2(&out, &[&format!("mutated-{stem}.toml")])?;
        if out.status.code() == Some(2) {
            prop_assert!(
                !out_dir.join(&trial.id).exists(),
                "a refused plan left outputs"
            );
        }
    }
}
