//! `dosesim cohort` and `dosesim pharmacy` end to end, through the real binary:
//!
//! - a bad roster exits 2 with every problem at once, each as `file:LINE: COLUMN: ...`
//!   (the header is line 1), and creates or changes nothing;
//! - pharmacy.csv is sorted by date, patient id and order within the day, and each
//!   patient's rows in it are, byte for byte, their patients/<id>.csv and what
//!   `dosesim calendar` prints for them;
//! - prep.csv adds up the pharmacy doses; the .ics files parse and match the CSV;
//! - formula-like text is made inert in every CSV; ids cannot name paths; reruns give the
//!   same bytes; a shorter roster removes the calendars of patients no longer on it.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::common::*;
use chrono::NaiveDate;

const NCT01724398: &str = "scenarios/nct01724398.toml";
const NCT01573923: &str = "scenarios/nct01573923.toml";
const NCT04822922: &str = "scenarios/nct04822922.toml";

/// Column indices in the calendar CSV.
const PATIENT_ID: usize = 0;
const ARM_ID: usize = 2;
const DATE: usize = 3;
const ORDER_IN_DAY: usize = 6;
const KIND: usize = 7;
const OCCURRENCE: usize = 9;
const OCCURRENCES: usize = 10;
const WEIGHT_KG: usize = 11;
const DOSE: usize = 13;
const DOSE_UNIT: usize = 14;
const VOLUME_ML: usize = 16;
const NOTE: usize = 19;
const PRODUCT: usize = 20;
const ASSUMED: usize = 21;
const SITE: usize = 22;

/// Every arm of NCT01724398 (the msc-pe arm has an exchange and an infusion on the same
/// day), ids out of order and mixing case and digits, several patients sharing dates.
const MIXED_NCT01724398: [&str; 8] = [
    "Z9,msc-pe,70,2027-01-01",
    "A1,pe,60,2027-01-01",
    "m5,msc,55.5,2027-01-04",
    "B2,conventional,80,2027-01-07",
    "C3,msc-pe,62.5,2027-01-04",
    "P10,msc,48.2,2027-01-01",
    "P9,pe,101.5,2027-01-08",
    "a-1,msc-pe,44.125,2027-01-07",
];

/// NCT01573923: a fixed dose every three calendar months, clamped to shorter months (Q2's
/// second dose, 2027-11-30, falls on Q3's and Q7's first), and a leap-day start.
const MONTHS_NCT01573923: [&str; 5] = [
    "Q7,msc,61,2027-11-30",
    "Q2,msc,70.3,2027-08-31",
    "Q5,conventional,58,2027-11-30",
    "Q1,msc,55,2028-02-29",
    "Q3,msc,80,2027-11-30",
];

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// Asserts a bad-input outcome: status 2, nothing on stdout, `error:` on stderr.
fn assert_bad_input(run: &Run) {
    run.expect_code(2);
    assert!(
        run.stdout.is_empty(),
        "nothing on stdout, got: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(
        run.stderr.starts_with("error: "),
        "stderr starts with 'error: ': {}",
        run.stderr
    );
}

/// The problem lines of stderr (after `error: ` or `error: N problems:`), trimmed.
fn problem_lines(run: &Run) -> Vec<String> {
    let text = run.stderr.strip_prefix("error: ").unwrap_or(&run.stderr);
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("warning:"))
        .collect();
    if lines.first().is_some_and(|l| l.ends_with(" problems:")) {
        lines.remove(0);
    }
    lines.iter().map(|l| l.trim().to_string()).collect()
}

/// Asserts stderr lists exactly `expected` problems, in order, each as
/// `ROSTER:LINE: COLUMN: ...` containing its message part.
fn assert_problems(run: &Run, roster: &Path, expected: &[(usize, &str, &str)]) {
    assert_bad_input(run);
    let got = problem_lines(run);
    assert_eq!(
        got.len(),
        expected.len(),
        "number of problems:\n{}",
        run.stderr
    );
    if expected.len() > 1 {
        assert!(
            run.stderr
                .starts_with(&format!("error: {} problems:\n", expected.len())),
            "{}",
            run.stderr
        );
    }
    for (g, (line, column, needle)) in got.iter().zip(expected) {
        let prefix = format!("{}:{line}: {column}: ", roster.display());
        assert!(
            g.starts_with(&prefix),
            "problem should start {prefix:?}: {g}\n{}",
            run.stderr
        );
        assert!(g.contains(needle), "problem should say {needle:?}: {g}");
    }
}

/// One bad roster: its text and the problems it must give.
struct Bad {
    name: &'static str,
    text: String,
    problems: Vec<(usize, &'static str, &'static str)>,
}

/// A roster with one good row (line 2) and then `rows`.
fn with_good(rows: &[&str]) -> String {
    let mut t = format!("{ROSTER_HEADER}\nOK1,msc,60,2027-01-01\n");
    for r in rows {
        t.push_str(r);
        t.push('\n');
    }
    t
}

const SAFE_ID: &str = "is not a safe id";
const ARMS: &str = "(arms: conventional, msc, pe, msc-pe)";
const UNUSABLE: &str = "is not a usable body weight (hard limits 3-350 kg)";

/// Every kind of roster problem, against NCT01724398.
fn bad_rosters() -> Vec<Bad> {
    let bad = |name, rows: &[&str], problems| Bad {
        name,
        text: with_good(rows),
        problems,
    };
    vec![
        bad(
            "missing id",
            &[",msc,60,2027-01-01"],
            vec![(3, "patient_id", "missing patient_id")],
        ),
        bad(
            "blank id",
            &["   ,msc,60,2027-01-01"],
            vec![(3, "patient_id", "missing patient_id")],
        ),
        bad(
            "duplicated id",
            &["B1,pe,60,2027-01-01", "OK1,pe,70,2027-02-01"],
            vec![(
                4,
                "patient_id",
                "patient_id 'OK1' is used again (first on line 2)",
            )],
        ),
        bad(
            "parent path id",
            &["../x,msc,60,2027-01-01"],
            vec![(3, "patient_id", "'../x' is not a safe id")],
        ),
        bad(
            "id with a space",
            &["a b,msc,60,2027-01-01"],
            vec![(3, "patient_id", "'a b' is not a safe id")],
        ),
        bad(
            "formula id",
            &["=cmd,msc,60,2027-01-01"],
            vec![(3, "patient_id", "'=cmd' is not a safe id")],
        ),
        bad(
            "unknown arm",
            &["P2,msc-8w,60,2027-01-01"],
            vec![(
                3,
                "arm",
                "unknown arm 'msc-8w' (arms: conventional, msc, pe, msc-pe)",
            )],
        ),
        bad(
            "missing arm",
            &["P2,,60,2027-01-01"],
            vec![(
                3,
                "arm",
                "missing arm (arms: conventional, msc, pe, msc-pe)",
            )],
        ),
        bad(
            "text weight",
            &["P2,msc,sixty,2027-01-01"],
            vec![(3, "weight_kg", "'sixty' is not a weight in kg")],
        ),
        bad(
            "missing weight",
            &["P2,msc,,2027-01-01"],
            vec![(3, "weight_kg", "missing weight_kg")],
        ),
        bad(
            "zero weight",
            &["P2,msc,0,2027-01-01"],
            vec![(3, "weight_kg", "weight 0 kg is not a usable body weight")],
        ),
        bad(
            "negative weight",
            &["P2,msc,-60,2027-01-01"],
            vec![(3, "weight_kg", "weight -60 kg is not a usable body weight")],
        ),
        bad(
            "absurd weight",
            &["P2,msc,1000,2027-01-01"],
            vec![(3, "weight_kg", "weight 1000 kg is not a usable body weight")],
        ),
        bad(
            "impossible date",
            &["P2,msc,60,2026-02-30"],
            vec![(3, "start_date", "'2026-02-30' is not a real calendar date")],
        ),
        bad(
            "malformed date",
            &["P2,msc,60,01/02/2027"],
            vec![(
                3,
                "start_date",
                "'01/02/2027' is not a date in the form YYYY-MM-DD",
            )],
        ),
        Bad {
            name: "missing column",
            text: "patient_id,arm,weight,start_date\nP1,msc,60,2027-01-01\n".into(),
            problems: vec![(
                1,
                "weight_kg",
                "missing column 'weight_kg' (the header needs patient_id,arm,weight_kg,start_date)",
            )],
        },
        Bad {
            name: "two missing columns",
            text: "id,arm,weight_kg,date\nP1,msc,60,2027-01-01\n".into(),
            problems: vec![
                (1, "patient_id", "missing column 'patient_id'"),
                (1, "start_date", "missing column 'start_date'"),
            ],
        },
    ]
}

// ---------------------------------------------------------------------------------------
// Roster problems
// ---------------------------------------------------------------------------------------

#[test]
fn each_kind_of_roster_problem_names_its_line_and_column_and_creates_nothing() {
    for b in bad_rosters() {
        let dir = tempfile::tempdir().unwrap();
        let roster = write_file(dir.path(), "roster.csv", &b.text);
        let out = dir.path().join("out");
        let run = cohort(Path::new(NCT01724398), &roster, &out);
        assert_problems(&run, &roster, &b.problems);
        assert!(!out.exists(), "{}: the output folder was created", b.name);
        assert_eq!(entries(dir.path()), ["roster.csv"], "{}", b.name);

        // pharmacy checks the roster the same way, to stdout or to a file.
        let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
        assert_problems(&run, &roster, &b.problems);
        let file = dir.path().join("pharmacy.csv");
        let run = pharmacy(
            Path::new(NCT01724398),
            &roster,
            &["--out".as_ref(), os(&file)],
        );
        assert_problems(&run, &roster, &b.problems);
        assert_eq!(entries(dir.path()), ["roster.csv"], "{}", b.name);
    }
}

#[test]
fn unknown_arm_lists_the_valid_arms_of_the_trial() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(dir.path(), "r.csv", &["P1,high,60,2027-01-01"]);
    let run = cohort(Path::new(NCT01573923), &roster, &dir.path().join("out"));
    assert_problems(
        &run,
        &roster,
        &[(2, "arm", "unknown arm 'high' (arms: conventional, msc)")],
    );
}

#[test]
fn every_problem_of_a_roster_is_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "roster.csv",
        &[
            "P01,msc,60,2027-01-01",
            "P02,msc,abc,2027-01-01",
            "../evil,pe,60,2027-01-01",
            "P04,pe,62.5,2027-01-02",
            "P05,plasma,60,2027-01-01",
            "P01,pe,70,2027-01-03",
            "P07,msc,60,2026-02-30",
            "P08,conventional,75,2027-01-04",
        ],
    );
    let out = dir.path().join("out");
    let run = cohort(Path::new(NCT01724398), &roster, &out);
    assert_problems(
        &run,
        &roster,
        &[
            (3, "weight_kg", "'abc' is not a weight in kg"),
            (4, "patient_id", SAFE_ID),
            (6, "arm", "unknown arm 'plasma'"),
            (7, "patient_id", "'P01' is used again (first on line 2)"),
            (8, "start_date", "'2026-02-30' is not a real calendar date"),
        ],
    );
    assert!(!out.exists());
}

/// A roster of a million bad rows once wrote 80 MB of messages: the first 200 problems are
/// listed in line order, then how many more there are, last.
#[test]
fn a_roster_of_many_bad_rows_lists_the_first_problems_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..1500)
        .map(|i| format!("P{i:05},nope,60,2027-01-01"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let roster = write_roster(dir.path(), "r.csv", &rows);
    let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
    assert_bad_input(&run);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines[0], "error: 1500 problems:", "{}", run.stderr);
    assert_eq!(lines.len(), 202, "{}", run.stderr);
    let r = roster.display().to_string();
    assert!(lines[1].starts_with(&format!("  {r}:2: arm: unknown arm 'nope'")));
    assert!(lines[200].starts_with(&format!("  {r}:201: arm: ")));
    assert_eq!(lines[201], format!("  {r}: ... and 1300 more problems"));
}

/// A header naming a column twice would have one read and the other ignored: refused,
/// naming both places.
#[test]
fn a_roster_header_with_a_column_twice_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,Patient_ID\nP1,msc,60,2027-01-01,P2\n",
    );
    let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
    assert_problems(
        &run,
        &roster,
        &[(
            1,
            "patient_id",
            "column 'patient_id' is in the header 2 times: column 1 ('patient_id') and column 5 ('Patient_ID')",
        )],
    );
}

/// A roster saved with tabs (or semicolons) between its columns is told so, rather than
/// missing every column without a word why.
#[test]
fn a_tab_or_semicolon_separated_roster_is_told_to_be_saved_with_commas() {
    let dir = tempfile::tempdir().unwrap();
    for (sep, words) in [('\t', "tab-separated"), (';', "semicolon-separated")] {
        let text = format!(
            "patient_id{sep}arm{sep}weight_kg{sep}start_date{sep}site\nP1{sep}msc{sep}60{sep}2027-01-01{sep}\n"
        );
        let roster = write_file(dir.path(), "r.csv", &text);
        let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
        assert_bad_input(&run);
        let err = run.err();
        assert!(
            err.contains(&format!("{}:1: the file looks {words}", roster.display()))
                && err.contains("dosesim reads CSV, with commas between the columns"),
            "{err}"
        );
    }
}

#[test]
fn a_row_with_several_problems_reports_each_column() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "roster.csv",
        &["P1,msc,60,2027-01-01", "a b,nope,-1,2027-02-29"],
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("o"));
    assert_problems(
        &run,
        &roster,
        &[
            (3, "patient_id", SAFE_ID),
            (3, "arm", ARMS),
            (3, "weight_kg", UNUSABLE),
            (3, "start_date", "'2027-02-29' is not a real calendar date"),
        ],
    );
}

#[test]
fn extra_columns_any_column_order_and_blank_lines_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "ward,start_date,weight_kg,arm,patient_id,notes\n\
         BJ,2027-01-01,60,low,P1,\"first, with a comma\"\n\
         \n\
         SH,2027-01-02, 70 ,high, P2 ,\n",
    );
    let run = pharmacy(Path::new(NCT04822922), &roster, &[]);
    run.expect_code(0);
    let (header, rows) = raw_records(&run.stdout);
    assert_eq!(&header.fields[..20], &HEADER20[..]);
    let got: BTreeSet<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.get(PATIENT_ID), r.get(ARM_ID), r.get(WEIGHT_KG)))
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([("P1", "low", "60"), ("P2", "high", "70")])
    );
}

#[test]
fn a_roster_saved_with_a_byte_order_mark_reads_its_header() {
    // "CSV UTF-8" from a spreadsheet starts with a byte order mark.
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "\u{feff}patient_id,arm,weight_kg,start_date\nP1,low,60,2027-01-01\nP 2,low,60,2027-01-01\n",
    );
    let run = pharmacy(Path::new(NCT04822922), &roster, &[]);
    assert_problems(&run, &roster, &[(3, "patient_id", SAFE_ID)]);
}

#[test]
fn pharmacy_to_a_closed_pipe_is_not_an_error() {
    let roster = root().join("scenarios/rosters/NCT04822922.csv");
    let out = run_with_closed_stdout(&[
        "pharmacy",
        NCT04822922,
        "--roster",
        roster.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn an_empty_roster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(dir.path(), "r.csv", &[]);
    let out = dir.path().join("out");
    let run = cohort(Path::new(NCT01724398), &roster, &out);
    assert_bad_input(&run);
    assert!(
        run.stderr.contains(&format!(
            "{}:2: the roster has no patients",
            roster.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
}

#[test]
fn a_schedule_that_cannot_be_made_is_a_roster_problem() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &["P1,msc,60,2027-01-01", "P2,pe,60,9999-12-20"],
    );
    let out = dir.path().join("out");
    let run = cohort(Path::new(NCT01724398), &roster, &out);
    assert_problems(
        &run,
        &roster,
        &[(3, "start_date", "patient P2: study day 337 falls outside")],
    );
    assert!(!out.exists());
}

#[test]
fn a_bad_roster_leaves_a_previous_run_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let good = write_roster(dir.path(), "good.csv", &MIXED_NCT01724398);
    cohort(Path::new(NCT01724398), &good, &out).expect_code(0);
    let pharmacy_file = dir.path().join("pharmacy-only.csv");
    pharmacy(
        Path::new(NCT01724398),
        &good,
        &["--out".as_ref(), os(&pharmacy_file)],
    )
    .expect_code(0);
    let before = tree(dir.path());
    assert!(before.len() > 30, "the good run wrote its files");

    for b in bad_rosters() {
        let roster = write_file(dir.path(), "good.csv", &b.text);
        let run = cohort(Path::new(NCT01724398), &roster, &out);
        assert_problems(&run, &roster, &b.problems);
        let run = pharmacy(
            Path::new(NCT01724398),
            &roster,
            &["--out".as_ref(), os(&pharmacy_file)],
        );
        assert_problems(&run, &roster, &b.problems);
        let mut after = tree(dir.path());
        // The roster itself is the only file the test changed.
        after.insert(
            "good.csv".into(),
            before.get("good.csv").cloned().unwrap_or_default(),
        );
        assert_same_tree(&before, &after, b.name);
    }
}

#[test]
fn every_later_use_of_an_id_is_reported_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "A1,pe,60,2027-01-01",
            "B1,pe,60,2027-01-01",
            "A1,pe,60,2027-01-01",
            "C1,pe,60,2027-01-01",
            "A1,pe,60,2027-01-01",
        ],
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("o"));
    assert_problems(
        &run,
        &roster,
        &[
            (4, "patient_id", "'A1' is used again (first on line 2)"),
            (6, "patient_id", "'A1' is used again"),
        ],
    );
}

/// Regression: ids differing only in case were both accepted, and their patients/ files
/// would overwrite each other on case-insensitive file systems (macOS, Windows).
#[test]
fn ids_that_differ_only_in_case_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "p-1a,pe,60,2027-01-01",
            "B1,pe,60,2027-01-01",
            "P-1A,pe,60,2027-01-01",
        ],
    );
    let run = cohort(Path::new(NCT01724398), &roster, &out);
    assert_problems(
        &run,
        &roster,
        &[(
            4,
            "patient_id",
            "'P-1A' differs from 'p-1a' (line 2) only in letter case",
        )],
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_third_use_of_an_id_names_the_first_line_not_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "A1,pe,60,2027-01-01",
            "B1,pe,60,2027-01-01",
            "A1,pe,60,2027-01-01",
            "C1,pe,60,2027-01-01",
            "A1,pe,60,2027-01-01",
        ],
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("o"));
    assert_problems(
        &run,
        &roster,
        &[
            (4, "patient_id", "'A1' is used again (first on line 2)"),
            (6, "patient_id", "'A1' is used again (first on line 2)"),
        ],
    );
}

#[test]
fn a_roster_with_crlf_line_ends_names_the_right_lines() {
    // Spreadsheets on Windows save CSV with CRLF line ends.
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date\r\n\
         P1,msc,60,2027-01-01\r\n\
         P2,msc,60,2027-01-01\r\n\
         a b,msc,60,2027-01-01\r\n\
         P1,msc,0,2027-01-01\r\n",
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("o"));
    assert_problems(
        &run,
        &roster,
        &[
            (4, "patient_id", SAFE_ID),
            (5, "weight_kg", UNUSABLE),
            (5, "patient_id", "'P1' is used again (first on line 2)"),
        ],
    );
}

/// A roster as a Windows spreadsheet saves it: a byte-order mark, the header's names in
/// its own letter case and spacing, CRLF line ends, a blank line and a quoted cell holding
/// a line break. Each bad cell is named on the line it is on (read by the one CSV reader,
/// `csv_in`, that the log and holiday CSV readers share).
#[test]
fn a_roster_saved_by_a_windows_spreadsheet_names_the_right_lines() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "\u{feff}Patient_ID, Arm ,WEIGHT_KG,start_date,ward\r\n\
         P1,msc,60,2027-01-01,\"east\r\nwing\"\r\n\
         \r\n\
         P2,msc,6x0,2027-01-01,west\r\n\
         P3,nope,60,2027-01-01,west\r\n",
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("o"));
    assert_problems(
        &run,
        &roster,
        &[
            (5, "weight_kg", "'6x0' is not a weight in kg"),
            (6, "arm", "unknown arm 'nope'"),
        ],
    );
}

#[test]
fn a_problem_right_after_a_blank_line_names_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date\n\
         P1,msc,60,2027-01-01\n\
         \n\
         a b,msc,60,2027-01-01\n",
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("o"));
    assert_problems(&run, &roster, &[(4, "patient_id", SAFE_ID)]);
}

#[test]
fn problems_in_a_large_roster_keep_their_line_numbers() {
    // Over 1 MiB without quotes: the roster is split at line ends and checked in parallel.
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{ROSTER_HEADER},site\n");
    let mut expected = Vec::new();
    let n = 40_000;
    for i in 0..n {
        let line = i + 2;
        // One bad row in 250: fewer than the 200 problems listed, spread over every slice.
        if i % 250 == 0 {
            text.push_str(&format!("P{i:06},msc,0,2027-01-01,SITE-{}\n", i % 7));
            expected.push((line, "weight_kg", "weight 0 kg"));
        } else {
            text.push_str(&format!("P{i:06},msc,60.5,2027-01-01,SITE-{}\n", i % 7));
        }
    }
    // A duplicate of the first row, at the very end.
    text.push_str("P000001,pe,70,2027-01-01,SITE-9\n");
    expected.push((
        n + 2,
        "patient_id",
        "'P000001' is used again (first on line 3)",
    ));
    assert!(text.len() > 1 << 20 && !text.contains('"'));
    let roster = write_file(dir.path(), "big.csv", &text);
    let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
    assert_problems(&run, &roster, &expected);
}

// ---------------------------------------------------------------------------------------
// pharmacy.csv
//
// The bundled NCT01724398 and NCT01573923 have notes that need CSV quotes (the background
// note always has a comma). pharmacy.csv once left such a quoted cell unclosed; the checks
// run on the bundled scenarios, and some also on copies whose cells need no quotes.
// ---------------------------------------------------------------------------------------

/// A scenario and a roster to run `cohort` on.
struct Case {
    /// As passed to the binary (relative to the crate root, or absolute).
    scenario: PathBuf,
    trial: &'static str,
    rows: &'static [&'static str],
    /// Keeps a temporary scenario copy alive.
    _dir: Option<tempfile::TempDir>,
}

impl Case {
    fn scenario_str(&self) -> &str {
        self.scenario.to_str().unwrap()
    }
}

/// NCT01724398 (msc-pe: an exchange and an infusion the same day) and NCT01573923
/// (calendar-month steps), as bundled.
fn bundled_cases() -> Vec<Case> {
    vec![
        Case {
            scenario: NCT01724398.into(),
            trial: "NCT01724398",
            rows: &MIXED_NCT01724398,
            _dir: None,
        },
        Case {
            scenario: NCT01573923.into(),
            trial: "NCT01573923",
            rows: &MONTHS_NCT01573923,
            _dir: None,
        },
    ]
}

/// A copy of a bundled scenario without background treatment and without commas in
/// notes, so that no CSV cell of its calendars needs quotes.
fn quote_free(scenario: &str) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(root().join(scenario)).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("[[") {
            skipping = line == "[[background]]";
        }
        if skipping {
            continue;
        }
        if line.starts_with("note = ") {
            out.push_str(&line.replace(',', ""));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(text.contains("[[background]]") && !out.contains("[[background]]"));
    temp_scenario(
        Path::new(scenario).file_name().unwrap().to_str().unwrap(),
        &out,
    )
}

/// [`bundled_cases`] on [`quote_free`] copies.
fn quote_free_cases() -> Vec<Case> {
    bundled_cases()
        .into_iter()
        .map(|c| {
            let (dir, scenario) = quote_free(c.scenario_str());
            Case {
                scenario,
                _dir: Some(dir),
                ..c
            }
        })
        .collect()
}

/// The sort key of a pharmacy row: date, patient id (byte order), order within the day.
fn key(r: &RawRecord) -> (String, String, u32) {
    (
        r.get(DATE).to_string(),
        r.get(PATIENT_ID).to_string(),
        r.get(ORDER_IN_DAY)
            .parse()
            .expect("order_in_day is a number"),
    )
}

/// Asserts rows are in pharmacy order with no two rows the same slot, and each patient's
/// day numbered 1, 2, ...
fn assert_pharmacy_order(rows: &[RawRecord], what: &str) {
    for w in rows.windows(2) {
        assert!(
            key(&w[0]) < key(&w[1]),
            "{what}: out of order:\n{}\n{}",
            String::from_utf8_lossy(&w[0].bytes),
            String::from_utf8_lossy(&w[1].bytes)
        );
    }
    let mut per_day: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    for r in rows {
        let (d, p, o) = key(r);
        per_day.entry((d, p)).or_default().push(o);
    }
    for ((d, p), orders) in per_day {
        let want: Vec<u32> = (1..=orders.len() as u32).collect();
        assert_eq!(orders, want, "{what}: order_in_day of {p} on {d}");
    }
}

/// The rows of one patient, in file order.
fn rows_of<'a>(rows: &'a [RawRecord], id: &str) -> Vec<&'a RawRecord> {
    rows.iter().filter(|r| r.get(PATIENT_ID) == id).collect()
}

/// The exact text of each record (the outputs are UTF-8), for comparing byte for byte
/// with readable failure messages.
fn bytes_of(rows: &[&RawRecord]) -> Vec<String> {
    rows.iter()
        .map(|r| String::from_utf8(r.bytes.clone()).expect("UTF-8"))
        .collect()
}

/// Runs `cohort` for a case into a fresh folder: the folder, the roster and the trial's
/// output folder.
fn cohort_of(c: &Case) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(dir.path(), "roster.csv", c.rows);
    let out = dir.path().join("out");
    let run = cohort(&c.scenario, &roster, &out);
    run.expect_code(0);
    assert!(
        run.out()
            .starts_with(&format!("{}: {} patients; ", c.trial, c.rows.len())),
        "summary line: {}",
        run.out()
    );
    let trial_dir = out.join(c.trial);
    (dir, roster, trial_dir)
}

/// The pharmacy.csv of a case's cohort.
fn pharmacy_csv(c: &Case) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let (dir, _, trial_dir) = cohort_of(c);
    let bytes = std::fs::read(trial_dir.join("pharmacy.csv")).unwrap();
    (dir, trial_dir, bytes)
}

fn check_sorted(c: &Case) {
    let (_dir, trial_dir, bytes) = pharmacy_csv(c);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "patient_id,trial_id,arm_id,date,study_day,weekday,order_in_day,kind,event,occurrence,occurrences,weight_kg,dose_per_kg,dose,dose_unit,cumulative_dose,volume_ml,window_start,window_end,note,product,assumed,site,planned_date,shift_days,flags,status,planned_amount,deviation,note_codes"
    );
    let (header, rows) = raw_records(&bytes);
    assert_eq!(
        header.fields[..20].join(","),
        "patient_id,trial_id,arm_id,date,study_day,weekday,order_in_day,kind,event,occurrence,occurrences,weight_kg,dose_per_kg,dose,dose_unit,cumulative_dose,volume_ml,window_start,window_end,note",
        "{}: the fixed first twenty columns",
        c.trial
    );
    for r in &rows {
        assert_eq!(r.fields.len(), 30, "{}: {:?}", c.trial, r.bytes);
    }
    assert_pharmacy_order(&rows, c.trial);
    // Every patient with a calendar is there, and patients share dates.
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.get(PATIENT_ID)).collect();
    let want: BTreeSet<&str> = c
        .rows
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .filter(|id| {
            let file = std::fs::read(trial_dir.join(format!("patients/{id}.csv"))).unwrap();
            !raw_records(&file).1.is_empty()
        })
        .collect();
    assert!(want.len() + 1 >= c.rows.len(), "{}: {want:?}", c.trial);
    assert_eq!(ids, want, "{}", c.trial);
    let mut patients_per_date: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &rows {
        patients_per_date
            .entry(r.get(DATE))
            .or_default()
            .insert(r.get(PATIENT_ID));
    }
    assert!(
        patients_per_date.values().any(|s| s.len() >= 3),
        "{}: the roster makes patients share dates",
        c.trial
    );
}

#[test]
fn pharmacy_csv_is_sorted_by_date_then_patient_then_order() {
    bundled_cases().iter().for_each(check_sorted);
}

#[test]
fn pharmacy_orders_ids_byte_by_byte_and_keeps_two_events_of_a_day_in_order() {
    let c = &quote_free_cases()[0];
    let (_dir, _, bytes) = pharmacy_csv(c);
    let (_, rows) = raw_records(&bytes);
    let on = |date: &str| -> Vec<(&str, &str)> {
        rows.iter()
            .filter(|r| r.get(DATE) == date)
            .map(|r| (r.get(PATIENT_ID), r.get(KIND)))
            .collect()
    };
    assert_eq!(
        on("2027-01-01"),
        [
            ("A1", "plasma_exchange"),
            ("P10", "cell_infusion"),
            ("Z9", "plasma_exchange"),
            ("Z9", "cell_infusion"),
        ]
    );
    // Byte order: "P10" before "P9".
    assert_eq!(
        on("2027-01-08"),
        [("P10", "cell_infusion"), ("P9", "plasma_exchange")]
    );
    // Byte order: capitals before lower case.
    let day_7: Vec<&str> = on("2027-01-07").iter().map(|r| r.0).collect();
    let mut sorted = day_7.clone();
    sorted.sort();
    assert_eq!(day_7, sorted);
    assert_eq!(day_7.first(), Some(&"A1"));
    assert_eq!(day_7.last(), Some(&"a-1"));
}

/// `dosesim calendar` of one roster row as CSV, with the row's id.
fn calendar_csv(scenario: &str, row: &str) -> Vec<u8> {
    let f: Vec<&str> = row.split(',').collect();
    // A roster row's site, when it has one, puts the calendar on that site's calendar.
    let mut extra = vec!["--format", "csv", "--patient", f[0]];
    if let Some(site) = f.get(4).filter(|s| !s.is_empty()) {
        extra.extend(["--site", site]);
    }
    let run = calendar(scenario, f[1], f[2], f[3], &extra);
    run.expect_code(0);
    run.stdout
}

fn check_matches_calendar(c: &Case) {
    let trial = c.trial;
    let (_dir, trial_dir, bytes) = pharmacy_csv(c);
    let (ph_header, ph_rows) = raw_records(&bytes);
    let mut total = 0;
    for row in c.rows {
        let id = row.split(',').next().unwrap();
        let file = std::fs::read(trial_dir.join("patients").join(format!("{id}.csv")))
            .unwrap_or_else(|e| panic!("{trial} {id}: patients/{id}.csv: {e}"));
        let (file_header, file_rows) = raw_records(&file);
        let (cal_header, cal_rows) = raw_records(&calendar_csv(c.scenario_str(), row));
        assert_eq!(file_header, ph_header, "{trial} {id}: header");
        assert_eq!(cal_header, ph_header, "{trial} {id}: header");
        let file_rows: Vec<&RawRecord> = file_rows.iter().collect();
        let cal_rows: Vec<&RawRecord> = cal_rows.iter().collect();
        let in_pharmacy = rows_of(&ph_rows, id);
        assert_eq!(
            bytes_of(&file_rows),
            bytes_of(&cal_rows),
            "{trial} {id}: patients/{id}.csv vs dosesim calendar"
        );
        assert_eq!(
            bytes_of(&in_pharmacy),
            bytes_of(&file_rows),
            "{trial} {id}: pharmacy.csv rows vs patients/{id}.csv"
        );
        assert_eq!(in_pharmacy, file_rows, "{trial} {id}: as records");
        total += file_rows.len();
    }
    assert_eq!(
        total,
        ph_rows.len(),
        "{trial}: no other rows in pharmacy.csv"
    );
}

#[test]
fn each_patients_pharmacy_rows_are_their_calendar_byte_for_byte() {
    bundled_cases().iter().for_each(check_matches_calendar);
}

#[test]
fn patient_files_are_their_calendar_byte_for_byte() {
    // patients/<id>.csv does not go through the pharmacy writer: checked on the bundled
    // scenarios, quotes and all.
    for c in bundled_cases() {
        let (_dir, _, trial_dir) = cohort_of(&c);
        for row in c.rows {
            let id = row.split(',').next().unwrap();
            let file = std::fs::read(trial_dir.join(format!("patients/{id}.csv"))).unwrap();
            let cal = calendar_csv(c.scenario_str(), row);
            assert!(
                file == cal,
                "{} {id}: patients/{id}.csv vs calendar",
                c.trial
            );
            let (header, rows) = raw_records(&file);
            assert_eq!(&header.fields[..20], &HEADER20[..]);
            assert!(rows.iter().all(|r| r.fields.len() == 30));
        }
    }
}

#[test]
fn pharmacy_csv_quotes_a_note_with_a_comma_like_the_calendar() {
    // The smallest case: one patient of the bundled NCT01724398, whose background note
    // reads "...; background, not a dose".
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(dir.path(), "r.csv", &["P1,conventional,60,2027-01-01"]);
    let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
    run.expect_code(0);
    let first_row = run.out().lines().nth(1).unwrap().to_string();
    assert!(
        first_row.ends_with("background, not a dose\",,,,2027-01-01,0,,planned,,,"),
        "{first_row}"
    );
    let cal = calendar_csv(NCT01724398, "P1,conventional,60,2027-01-01");
    assert!(
        run.stdout == cal,
        "pharmacy of one patient is their calendar"
    );
    let (_, rows) = raw_records(&run.stdout);
    assert_eq!(rows.len(), 2);
}

fn check_msc_pe(c: &Case) {
    let (_dir, _, bytes) = pharmacy_csv(c);
    let (_, rows) = raw_records(&bytes);
    for id in ["Z9", "C3", "a-1"] {
        let mine = rows_of(&rows, id);
        assert!(mine.iter().all(|r| r.get(ARM_ID) == "msc-pe"));
        let mut days = 0;
        for date in mine.iter().map(|r| r.get(DATE)).collect::<BTreeSet<_>>() {
            let kinds: Vec<&str> = mine
                .iter()
                .filter(|r| r.get(DATE) == date)
                .filter(|r| r.get(KIND) != "background")
                .map(|r| r.get(KIND))
                .collect();
            if kinds.len() == 2 {
                assert_eq!(kinds, ["plasma_exchange", "cell_infusion"], "{id} {date}");
                days += 1;
            }
        }
        assert_eq!(days, 2, "{id}: doses 1 and 2 follow that day's exchange");
    }
}

#[test]
fn msc_pe_gives_the_exchange_then_the_infusion_on_a_shared_day() {
    check_msc_pe(&bundled_cases()[0]);
}

#[test]
fn pharmacy_to_stdout_is_the_cohorts_pharmacy_csv() {
    for c in bundled_cases().iter().chain(&quote_free_cases()) {
        let (dir, roster, trial_dir) = cohort_of(c);
        let written = std::fs::read(trial_dir.join("pharmacy.csv")).unwrap();
        let run = pharmacy(&c.scenario, &roster, &[]);
        run.expect_code(0);
        assert!(
            run.stdout == written,
            "{}: stdout differs from pharmacy.csv",
            c.trial
        );

        let file = dir.path().join("ph.csv");
        let run = pharmacy(&c.scenario, &roster, &["--out".as_ref(), os(&file)]);
        run.expect_code(0);
        assert!(
            run.stdout.is_empty(),
            "{}: --out prints nothing on stdout",
            c.trial
        );
        assert!(
            std::fs::read(&file).unwrap() == written,
            "{}: --out file",
            c.trial
        );
    }
}

/// The demo roster of each trial piped through `pharmacy`: rows in order, every patient
/// there, and a sample of patients' rows equal to `dosesim calendar` for them.
fn check_demo(trials: &[&str]) {
    for &trial in trials {
        let scenario = TRIALS.iter().find(|t| t.0 == trial).unwrap().1;
        let roster = root().join(format!("scenarios/rosters/{trial}.csv"));
        let run = pharmacy(Path::new(scenario), &roster, &[]);
        run.expect_code(0);
        let (header, rows) = raw_records(&run.stdout);
        assert_eq!(&header.fields[..20], &HEADER20[..]);
        assert_pharmacy_order(&rows, trial);
        let lines = roster_lines(&roster);
        let ids: BTreeSet<&str> = rows.iter().map(|r| r.get(PATIENT_ID)).collect();
        assert_eq!(ids.len(), lines.len(), "{trial}: every patient has rows");
        for line in lines.iter().step_by(lines.len().div_ceil(4)) {
            let (cal_header, cal_rows) = raw_records(&calendar_csv(scenario, line));
            assert_eq!(cal_header, header);
            let id = line.split(',').next().unwrap();
            assert_eq!(
                bytes_of(&rows_of(&rows, id)),
                bytes_of(&cal_rows.iter().collect::<Vec<_>>()),
                "{trial} {id}"
            );
        }
    }
}

#[test]
fn pharmacy_of_the_demo_rosters_matches_their_calendars() {
    // The two bundled trials without background treatment, whose cells need no quotes.
    check_demo(&["NCT04822922", "NCT05106972"]);
}

#[test]
fn pharmacy_of_the_demo_rosters_with_background_matches_their_calendars() {
    check_demo(&["NCT01724398", "NCT02812121", "NCT01573923"]);
}

/// A roster of `n` patients over `arms`, ids in a scrambled order, starts over two
/// years, weights with up to three decimals.
fn big_roster(arms: &[&str], n: usize) -> String {
    let mut text = format!("{ROSTER_HEADER}\n");
    let start = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
    for i in 0..n {
        // A permutation of 0..n: 7919 is a prime not dividing n.
        let k = (i * 7919) % n;
        let arm = arms[k % arms.len()];
        let weight = 40.0 + (k % 70_000) as f64 / 1000.0;
        let date = start + chrono::Days::new((k % 730) as u64);
        text.push_str(&format!("R{k:06},{arm},{weight},{date}\n"));
    }
    text
}

/// The pharmacy schedule worked out through the library's calendar path (one patient's
/// whole calendar at a time, as `dosesim calendar` makes it), then sorted: the oracle for
/// the streamed, per-date pharmacy writer.
fn pharmacy_by_calendars(scenario: &Path, roster: &str) -> Vec<Vec<u8>> {
    use dosesim::schedule::{Patient, Plan};
    let trial = dosesim::scenario::load(&root().join(scenario)).unwrap();
    let mut all: Vec<((String, String, u32), Vec<u8>)> = Vec::new();
    for line in roster.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let arm = trial.arm(f[1]).unwrap();
        let patient = Patient {
            id: f[0].to_string(),
            weight_kg: f[2].parse().unwrap(),
            start: NaiveDate::parse_from_str(f[3], "%Y-%m-%d").unwrap(),
            site: None,
        };
        let events = Plan::new(&trial, arm).schedule_at(&patient, None).unwrap();
        let rows = dosesim::export::rows(&trial, arm, &patient, &events);
        let mut csv = Vec::new();
        dosesim::export::csv::write(&mut csv, &rows).unwrap();
        let (_, recs) = raw_records(&csv);
        for r in recs {
            all.push((key(&r), r.bytes));
        }
    }
    all.sort();
    all.into_iter().map(|(_, b)| b).collect()
}

/// Large enough for the parallel roster check (over 1 MiB), many formatting chunks and
/// several write batches: NCT01724398 has same-day "after" ordering and mL doses,
/// NCT01573923 calendar-month steps.
fn check_large(c: &Case) {
    let arms: &[&str] = match c.trial {
        "NCT01724398" => &["conventional", "msc", "pe", "msc-pe"],
        _ => &["conventional", "msc"],
    };
    let dir = tempfile::tempdir().unwrap();
    let text = big_roster(arms, 36_000);
    assert!(text.len() > 1 << 20, "{}: over 1 MiB", c.trial);
    let roster = write_file(dir.path(), "big.csv", &text);
    let file = dir.path().join("pharmacy.csv");
    let run = pharmacy(&c.scenario, &roster, &["--out".as_ref(), os(&file)]);
    run.expect_code(0);
    let (_, rows) = raw_records(&std::fs::read(&file).unwrap());
    assert_pharmacy_order(&rows, c.trial);
    let want = pharmacy_by_calendars(&c.scenario, &text);
    assert_eq!(rows.len(), want.len(), "{}: number of rows", c.trial);
    for (i, (g, w)) in rows.iter().zip(&want).enumerate() {
        assert!(
            &g.bytes == w,
            "{}: row {}:\n got {}\nwant {}",
            c.trial,
            i + 2,
            String::from_utf8_lossy(&g.bytes),
            String::from_utf8_lossy(w)
        );
    }
}

#[test]
fn pharmacy_of_a_large_roster_equals_the_sorted_calendars() {
    bundled_cases().iter().for_each(check_large);
}

// ---------------------------------------------------------------------------------------
// prep.csv
// ---------------------------------------------------------------------------------------

fn check_prep(c: &Case) {
    let trial = c.trial;
    let (_dir, trial_dir, bytes) = pharmacy_csv(c);
    let (_, ph) = raw_records(&bytes);
    let prep_bytes = std::fs::read(trial_dir.join("prep.csv")).unwrap();
    let (header, prep) = raw_records(&prep_bytes);
    assert_eq!(
        header.fields.join(","),
        "date,weekday,site,product,doses,total_dose,dose_unit,total_volume_ml,patient_ids,assumed,flags"
    );

    // (date, site, product) -> doses, total, unit, volume, patients: from pharmacy.csv.
    #[derive(Default)]
    struct Sum {
        doses: u32,
        total: f64,
        unit: String,
        volume: f64,
        patients: BTreeSet<String>,
    }
    let mut want: BTreeMap<(String, String, String), Sum> = BTreeMap::new();
    for r in ph.iter().filter(|r| !r.get(DOSE).is_empty()) {
        let s = want
            .entry((
                r.get(DATE).into(),
                r.get(SITE).into(),
                r.get(PRODUCT).into(),
            ))
            .or_default();
        s.doses += 1;
        s.total += r.get(DOSE).parse::<f64>().unwrap();
        s.unit = r.get(DOSE_UNIT).into();
        if let Ok(v) = r.get(VOLUME_ML).parse::<f64>() {
            s.volume += v;
        }
        s.patients.insert(r.get(PATIENT_ID).into());
    }
    assert!(!want.is_empty(), "{trial}: the roster has doses");
    for w in prep.windows(2) {
        assert!(
            w[0].get(0) <= w[1].get(0),
            "{trial}: prep.csv in date order"
        );
    }
    let mut seen = BTreeSet::new();
    for p in &prep {
        let k = (
            p.get(0).to_string(),
            p.get(2).to_string(),
            p.get(3).to_string(),
        );
        assert!(
            seen.insert(k.clone()),
            "{trial}: one line per (date, site, product)"
        );
        let date = chrono::NaiveDate::parse_from_str(p.get(0), "%Y-%m-%d").unwrap();
        assert_eq!(
            p.get(1),
            date.format("%a").to_string(),
            "{trial} {k:?}: weekday"
        );
        let s = want
            .get(&k)
            .unwrap_or_else(|| panic!("{trial}: {k:?} has no pharmacy doses"));
        assert_eq!(p.get(4), s.doses.to_string(), "{trial} {k:?}: doses");
        assert_eq!(
            p.get(5).parse::<f64>().unwrap(),
            s.total,
            "{trial} {k:?}: total"
        );
        if s.unit == "cells" {
            assert!(
                p.get(5).bytes().all(|b| b.is_ascii_digit()),
                "{trial} {k:?}: whole cells in plain digits: {}",
                p.get(5)
            );
        }
        assert_eq!(p.get(6), s.unit, "{trial} {k:?}: unit");
        let ids: Vec<&str> = p.get(8).split(' ').collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{trial} {k:?}: ids sorted");
        assert_eq!(
            ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            s.patients,
            "{trial} {k:?}: patient_ids, space-separated, each once"
        );
        // 4 x 10^7 cells at 1 x 10^6 cells/mL is 40 mL; an exchange is 2000 mL;
        // NCT01724398 states no cell concentration, so its cells have no volume.
        let per_dose = match (trial, k.2.as_str()) {
            ("NCT01573923", "uc_msc") => Some(40.0),
            ("NCT01724398", "plasma") => Some(2000.0),
            ("NCT01724398", "uc_msc") => None,
            other => panic!("unexpected product {other:?}"),
        };
        match per_dose {
            Some(v) => {
                let total: f64 = p.get(7).parse().unwrap();
                assert_eq!(total, v * f64::from(s.doses), "{trial} {k:?}: volume");
                assert_eq!(total, s.volume, "{trial} {k:?}: pharmacy volumes");
            }
            None => assert_eq!(p.get(7), "", "{trial} {k:?}: no known volume"),
        }
    }
    assert_eq!(
        seen,
        want.keys().cloned().collect::<BTreeSet<_>>(),
        "{trial}: every (date, site, product) with doses"
    );
}

#[test]
fn prep_csv_adds_up_the_pharmacy_doses_per_date_and_product() {
    bundled_cases().iter().for_each(check_prep);
}

#[test]
fn prep_csv_of_the_bundled_scenarios_by_hand() {
    // prep.csv itself needs no quotes: checked on the bundled scenarios, from the
    // regimens (no pharmacy.csv involved).
    let cases = bundled_cases();
    let (_dir, _, trial_dir) = cohort_of(&cases[1]);
    let prep = std::fs::read_to_string(trial_dir.join("prep.csv")).unwrap();
    // Q3 and Q7 start on 2027-11-30; Q2's second dose (from 2027-08-31) clamps to it.
    assert!(
        prep.lines()
            .any(|l| l == "2027-11-30,Tue,,uc_msc,3,120000000,cells,120,Q2 Q3 Q7,,"),
        "{prep}"
    );
    // Every line: 4 x 10^7 cells and 40 mL a dose.
    let (_, lines) = raw_records(prep.as_bytes());
    let doses: u32 = lines.iter().map(|l| l.get(4).parse::<u32>().unwrap()).sum();
    assert_eq!(doses, 4 * 4, "four dosed patients, four doses each");
    for l in &lines {
        let n: u64 = l.get(4).parse().unwrap();
        assert_eq!(l.get(5), (40_000_000 * n).to_string());
        assert_eq!(l.get(7), (40 * n).to_string());
    }

    let (_dir, _, trial_dir) = cohort_of(&cases[0]);
    let prep = std::fs::read_to_string(trial_dir.join("prep.csv")).unwrap();
    // 2027-01-04: exchanges of A1 (day 4), C3 (day 1), Z9 (day 4); infusions of C3
    // (62.5 kg) and m5 (55.5 kg) at 1 x 10^5 cells/kg.
    for want in [
        "2027-01-04,Mon,,plasma,3,6000,mL,6000,A1 C3 Z9,,",
        // C3 is on msc-pe, whose infusion days are assumed.
        "2027-01-04,Mon,,uc_msc,2,11800000,cells,,C3 m5,timing,",
    ] {
        assert!(prep.lines().any(|l| l == want), "{want}\n{prep}");
    }
}

// ---------------------------------------------------------------------------------------
// .ics
// ---------------------------------------------------------------------------------------

/// `7.50 x 10^7 cells` for 75000000 (the mantissa to two decimals), or `2000 mL`. The
/// rosters avoid doses whose mantissa ends in a half, where rounding could go either way.
fn readable(dose: &str, unit: &str) -> String {
    if unit == "mL" {
        return format!("{dose} mL");
    }
    let v: f64 = dose.parse().unwrap();
    let mut exp = v.log10().floor() as i32;
    let mut hundredths = (v / 10f64.powi(exp) * 100.0).round();
    if hundredths >= 1000.0 {
        exp += 1;
        hundredths = (v / 10f64.powi(exp) * 100.0).round();
    }
    let sup: String = exp
        .to_string()
        .chars()
        .map(|c| {
            "⁰¹²³⁴⁵⁶⁷⁸⁹"
                .chars()
                .nth(c.to_digit(10).unwrap() as usize)
                .unwrap()
        })
        .collect();
    let shown = format!("{:.2} x 10{sup} cells", hundredths / 100.0);
    // Where the two decimals hide cells, the exact count follows.
    if (hundredths as u64) * 10u64.pow(exp as u32 - 2) == v as u64 {
        shown
    } else {
        format!("{shown} (exactly {dose})")
    }
}

/// iCalendar TEXT unescaped (RFC 5545 3.3.11).
fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
}

/// Properties by name: (value, parameters).
type Props = BTreeMap<String, (String, Vec<(String, String)>)>;

/// A parsed .ics: the calendar's properties and each VEVENT's.
fn parse_ics(text: &str, what: &str) -> (Props, Vec<Props>) {
    let unfolded = icalendar::parser::unfold(text);
    let cal = icalendar::parser::read_calendar(&unfolded)
        .unwrap_or_else(|e| panic!("{what}: iCalendar parses: {e}"));
    let props = |ps: &[icalendar::parser::Property]| -> Props {
        ps.iter()
            .map(|p| {
                let params = p
                    .params
                    .iter()
                    .map(|q| {
                        let v = q.val.as_ref().map(|v| v.as_str().to_string());
                        (q.key.as_str().to_string(), v.unwrap_or_default())
                    })
                    .collect();
                (
                    p.name.as_str().to_string(),
                    (p.val.as_str().to_string(), params),
                )
            })
            .collect()
    };
    let events = cal
        .components
        .iter()
        .map(|c| {
            assert_eq!(c.name.as_str(), "VEVENT", "{what}: only events");
            props(&c.properties)
        })
        .collect();
    (props(&cal.properties), events)
}

fn ics_date(d: &str) -> String {
    d.replace('-', "")
}

/// NCT04822922: 62.5 kg on the high dose is 7.50 x 10^7 cells a dose.
const DOSE_GROUPS: [&str; 3] = [
    "H1,high,62.5,2026-12-30",
    "L1,low,70,2027-02-25",
    "M1,middle,55.5,2027-01-02",
];

/// Checks every patient's .ics of a cohort against their CSV; returns the UIDs.
fn check_ics(c: &Case, trial_dir: &Path) -> Vec<String> {
    let mut uids = Vec::new();
    for row in c.rows {
        let id = row.split(',').next().unwrap();
        let start = row.split(',').nth(3).unwrap();
        let what = format!("{} {id}.ics", c.trial);
        let patients = trial_dir.join("patients");
        // No calendar file without an event (RFC 5545): a patient of background treatment
        // only (NCT01573923's conventional arm) has none.
        let ics = patients.join(format!("{id}.ics"));
        if !has_appointment(&std::fs::read(patients.join(format!("{id}.csv"))).unwrap()) {
            assert!(!ics.exists(), "{what}: a calendar file without an event");
            continue;
        }
        let bytes = std::fs::read(&ics).unwrap();
        assert_ics_crlf(&bytes, &what);
        let text = String::from_utf8(bytes).unwrap();
        let (cal, events) = parse_ics(&text, &what);
        assert_eq!(cal["VERSION"].0, "2.0", "{what}");
        assert!(!cal["PRODID"].0.is_empty(), "{what}: PRODID");

        let (_, rows) = raw_records(&std::fs::read(patients.join(format!("{id}.csv"))).unwrap());
        let appointments: Vec<&RawRecord> = rows
            .iter()
            .filter(|r| r.get(KIND) != "background")
            .collect();
        assert!(appointments.len() < rows.len() || c.trial == "NCT04822922");
        assert_eq!(
            events.len(),
            appointments.len(),
            "{what}: one VEVENT per row"
        );
        for (e, r) in events.iter().zip(&appointments) {
            let date = r.get(DATE);
            let (dtstart, params) = &e["DTSTART"];
            assert_eq!(dtstart, &ics_date(date), "{what}: DTSTART");
            assert_eq!(
                params,
                &[("VALUE".to_string(), "DATE".to_string())],
                "{what}: DTSTART;VALUE=DATE"
            );
            let next = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .unwrap()
                .succ_opt()
                .unwrap();
            assert_eq!(e["DTEND"].0, ics_date(&next.to_string()), "{what}: DTEND");
            assert_eq!(&e["DTEND"].1, params, "{what}: DTEND is a date");
            let summary = unescape(&e["SUMMARY"].0);
            // The patient first: a trial's calendar holds every patient's events.
            let summary = summary
                .strip_prefix(&format!("{id}: "))
                .unwrap_or_else(|| panic!("{what}: {summary} starts with the patient id"));
            if r.get(KIND) == "visit" {
                assert!(summary.starts_with("Visit: "), "{what}: {summary}");
            } else {
                let n_of = format!("{}/{}", r.get(OCCURRENCE), r.get(OCCURRENCES));
                assert!(summary.contains(&n_of), "{what}: {summary} has {n_of}");
                let mut dose = readable(r.get(DOSE), r.get(DOSE_UNIT));
                // An assumed value shows in the title: "... [assumed: dose]".
                if !r.get(ASSUMED).is_empty() {
                    dose = format!("{dose} [assumed: {}]", r.get(ASSUMED));
                }
                assert!(summary.ends_with(&dose), "{what}: {summary} has {dose}");
            }
            // The documented stamp: study day 1 at midnight UTC, the same every run.
            assert_eq!(
                e["DTSTAMP"].0,
                format!("{}T000000Z", ics_date(start)),
                "{what}: DTSTAMP"
            );
            uids.push(e["UID"].0.clone());
        }
    }
    uids
}

#[test]
fn ics_files_parse_and_have_one_event_per_appointment() {
    let mut cases = bundled_cases();
    cases.push(Case {
        scenario: NCT04822922.into(),
        trial: "NCT04822922",
        rows: &DOSE_GROUPS,
        _dir: None,
    });
    let mut all_uids = BTreeSet::new();
    for c in &cases {
        let (dir, roster, trial_dir) = cohort_of(c);
        let uids = check_ics(c, &trial_dir);
        assert!(!uids.is_empty());
        for u in &uids {
            assert!(all_uids.insert(u.clone()), "UID {u} is unique");
        }
        // A second run into another folder: the same UIDs and stamps, the same bytes.
        let again = dir.path().join("again");
        cohort(&c.scenario, &roster, &again).expect_code(0);
        assert_eq!(check_ics(c, &again.join(c.trial)), uids, "{}", c.trial);
        for row in c.rows {
            let name = format!("patients/{}.ics", row.split(',').next().unwrap());
            if !trial_dir.join(&name).exists() {
                assert!(!again.join(c.trial).join(&name).exists(), "{name}");
                continue;
            }
            let a = std::fs::read(trial_dir.join(&name)).unwrap();
            let b = std::fs::read(again.join(c.trial).join(&name)).unwrap();
            assert!(a == b, "{} {name}: the same bytes", c.trial);
        }
    }
    // The high-dose patient, by hand: 12 x 10^5 cells/kg x 62.5 kg.
    let c = cases.last().unwrap();
    let (_dir, _, trial_dir) = cohort_of(c);
    let text = std::fs::read_to_string(trial_dir.join("patients/H1.ics")).unwrap();
    let (_, h1) = parse_ics(&text, "H1.ics");
    assert_eq!(
        unescape(&h1[0]["SUMMARY"].0),
        "H1: hUC-MSC infusion 1/4, 7.50 x 10⁷ cells"
    );
    assert_eq!(h1[0]["DTSTART"].0, "20261230");
    assert_eq!(h1[0]["DTEND"].0, "20261231");
    assert_eq!(h1[3]["DTSTART"].0, "20270108");
    assert_eq!(
        unescape(&h1[3]["SUMMARY"].0),
        "H1: hUC-MSC infusion 4/4, 7.50 x 10⁷ cells"
    );
}

/// A copy of NCT04822922 whose low-dose infusion and 90-day visit have long names in
/// several scripts.
const MULTIBYTE_NAME: &str =
    "Infusion – hUC-MSC × 10⁵ Zellen/kg über 30 Minuten, µ-Filter, 静脉输注脐带间充质干细胞";
const MULTIBYTE_VISIT: &str = "Visite à 90 jours — 第90天访视 — éèêë";

fn multibyte_cohort() -> (tempfile::TempDir, PathBuf) {
    let text = broken_text(
        NCT04822922,
        &[
            (
                "name = \"hUC-MSC infusion\"",
                &format!(
                    "name = \"{MULTIBYTE_NAME}\"\nnote = \"{}\"",
                    MULTIBYTE_NAME.repeat(3)
                ),
            ),
            (
                "name = \"90-day efficacy visit\"",
                &format!("name = \"{MULTIBYTE_VISIT}\""),
            ),
        ],
    );
    let (sdir, scenario) = temp_scenario("multibyte.toml", &text);
    let roster = write_roster(sdir.path(), "r.csv", &["P1,low,60,2027-01-01"]);
    let out = sdir.path().join("out");
    cohort(&scenario, &roster, &out).expect_code(0);
    let ics = out.join("NCT04822922/patients/P1.ics");
    (sdir, ics)
}

#[test]
fn ics_folding_keeps_multibyte_text_whole() {
    let (_dir, ics) = multibyte_cohort();
    let bytes = std::fs::read(ics).unwrap();
    assert_ics_crlf(&bytes, "P1.ics");
    let text = String::from_utf8(bytes).expect("folding never splits a character");
    let (_, events) = parse_ics(&text, "P1.ics");
    assert_eq!(events.len(), 6);
    assert_eq!(
        unescape(&events[0]["SUMMARY"].0),
        format!("P1: {MULTIBYTE_NAME} 1/4, 2.40 x 10⁷ cells")
    );
    assert!(unescape(&events[0]["DESCRIPTION"].0).contains(&MULTIBYTE_NAME.repeat(3)));
    assert!(
        events
            .iter()
            .any(|e| e["SUMMARY"].0 == format!("P1: Visit: {MULTIBYTE_VISIT} [assumed: day]"))
    );
}

#[test]
fn ics_lines_fit_75_octets() {
    let (_dir, ics) = multibyte_cohort();
    assert_ics_lines(&std::fs::read(ics).unwrap(), "multibyte P1.ics");
    // The bundled NCT04822922, low dose, 70 kg: "...(28000000 cells)\nCumulative: ..."
    // puts a DESCRIPTION's last continuation line at 76 octets.
    let c = Case {
        scenario: NCT04822922.into(),
        trial: "NCT04822922",
        rows: &DOSE_GROUPS,
        _dir: None,
    };
    let (_dir, _, trial_dir) = cohort_of(&c);
    for row in c.rows {
        let id = row.split(',').next().unwrap();
        let bytes = std::fs::read(trial_dir.join(format!("patients/{id}.ics"))).unwrap();
        assert_ics_lines(&bytes, &format!("{id}.ics"));
    }
}

// ---------------------------------------------------------------------------------------
// Formula injection, path safety
// ---------------------------------------------------------------------------------------

/// Numeric columns of the calendar CSV.
const NUMERIC: [usize; 9] = [4, 6, 9, 10, 11, 12, 13, 15, 16];

/// Runs a copy of NCT04822922 with `edits` through `cohort` and `calendar`, and checks
/// that no CSV cell starts a formula, numbers stay plain, and the apostrophe-led cells
/// are exactly `want`.
fn check_inert(edits: &[(&str, &str)], want: &[&str]) {
    let text = broken_text(NCT04822922, edits);
    let (sdir, scenario) = temp_scenario("inject.toml", &text);
    let rows = [
        "L1,low,60,2027-01-01",
        "M1,middle,70.5,2027-01-01",
        "H1,high,62.5,2027-01-04",
    ];
    let roster = write_roster(sdir.path(), "r.csv", &rows);
    let out = sdir.path().join("out");
    cohort(&scenario, &roster, &out).expect_code(0);
    let trial_dir = out.join("NCT04822922");

    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "pharmacy.csv".into(),
        std::fs::read(trial_dir.join("pharmacy.csv")).unwrap(),
    )];
    for row in rows {
        let id = row.split(',').next().unwrap();
        let name = format!("patients/{id}.csv");
        files.push((name.clone(), std::fs::read(trial_dir.join(&name)).unwrap()));
        files.push((
            format!("calendar {id}"),
            calendar_csv(scenario.to_str().unwrap(), row),
        ));
    }
    let mut inert = BTreeSet::new();
    for (name, bytes) in &files {
        let (_, records) = raw_records(bytes);
        assert!(!records.is_empty(), "{name}");
        for r in &records {
            assert_eq!(
                r.fields.len(),
                30,
                "{name}: {}",
                String::from_utf8_lossy(&r.bytes)
            );
            for (i, cell) in r.fields.iter().enumerate() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{name}: column {i} starts a formula: {cell:?}"
                );
                if cell.starts_with('\'') {
                    // A dose row's note ends with the arm's rules (NCT04822922's stopping
                    // rule); the formula-like part is what comes before.
                    let cell = cell.split("; Stop the intervention").next().unwrap();
                    inert.insert(cell.to_string());
                }
            }
            for i in NUMERIC {
                let cell = r.get(i);
                assert!(
                    cell.is_empty() || cell.parse::<f64>().is_ok(),
                    "{name}: {} is a plain number: {cell:?}",
                    HEADER20[i]
                );
            }
        }
    }
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        inert, want,
        "the formula-like cells, each behind an apostrophe"
    );

    // The doses stay numbers: 4 x 10^5 cells/kg x 60 kg.
    let (_, ph) = raw_records(&files[0].1);
    let l1 = ph
        .iter()
        .find(|r| r.get(PATIENT_ID) == "L1" && r.get(KIND) == "cell_infusion")
        .unwrap();
    assert_eq!((l1.get(DOSE), l1.get(12)), ("24000000", "400000"));
    assert!(l1.get(NOTE).starts_with('\''));
}

#[test]
fn formula_like_names_are_inert_in_every_csv() {
    check_inert(
        &[
            (
                "name = \"hUC-MSC infusion\"",
                "name = \"=1+cmd|' /C calc'!A0\"",
            ),
            ("name = \"hUC-MSC infusion\"", "name = \"+SUM(A1:A9)\""),
            ("name = \"hUC-MSC infusion\"", "name = \"-2+3\""),
            ("name = \"90-day efficacy visit\"", "name = \"@SUM(1+1)\""),
            // A tab or carriage return in scenario text is refused before any output
            // (errors.rs: control_characters_in_scenario_text_are_refused).
        ],
        &[
            "'=1+cmd|' /C calc'!A0; intravenous",
            "'+SUM(A1:A9); intravenous",
            "'-2+3; intravenous",
            "'@SUM(1+1)",
        ],
    );
}

#[test]
fn a_formula_with_quotes_and_commas_is_inert_in_every_csv() {
    check_inert(
        &[(
            "name = \"hUC-MSC infusion\"",
            "name = \"=HYPERLINK(\\\"http://evil.example/\\\",\\\"click\\\")\"",
        )],
        &["'=HYPERLINK(\"http://evil.example/\",\"click\"); intravenous"],
    );
}

#[test]
fn ids_that_could_name_a_path_are_refused_and_nothing_is_written() {
    for id in [
        "../evil", "/abs", "a/b", ".hidden", "con:x", "..", "a\\b", "~root", "-rf", "é1", "x\0y",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        let text = format!("{ROSTER_HEADER}\nP1,msc,60,2027-01-01\n\"{id}\",pe,60,2027-01-01\n");
        let roster = write_file(&inner, "roster.csv", &text);
        let out = inner.join("out");
        let run = cohort(Path::new(NCT01724398), &roster, &out);
        assert_problems(&run, &roster, &[(3, "patient_id", SAFE_ID)]);
        assert!(!out.exists(), "{id:?}: no output folder");
        assert_eq!(
            tree(dir.path()).keys().collect::<Vec<_>>(),
            ["inner/roster.csv"],
            "{id:?}: only the roster exists"
        );
    }
    let long = "a".repeat(65);
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(dir.path(), "r.csv", &[&format!("{long},msc,60,2027-01-01")]);
    assert_problems(
        &cohort(Path::new(NCT01724398), &roster, &dir.path().join("o")),
        &roster,
        &[(2, "patient_id", SAFE_ID)],
    );
}

// ---------------------------------------------------------------------------------------
// Reruns
// ---------------------------------------------------------------------------------------

#[test]
fn two_runs_into_two_folders_give_identical_trees() {
    for c in bundled_cases() {
        let dir = tempfile::tempdir().unwrap();
        let roster = write_roster(dir.path(), "roster.csv", c.rows);
        let a = dir.path().join("a");
        let b = dir.path().join("b").join("deeper");
        let run_a = cohort(&c.scenario, &roster, &a);
        let run_b = cohort(&c.scenario, &roster, &b);
        run_a.expect_code(0);
        run_b.expect_code(0);
        assert_eq!(run_a.stderr, run_b.stderr);
        let mut ta = tree(&a);
        let mut tb = tree(&b);
        // The manifests name the command, whose --out differs; the rest is the same.
        let manifest = format!("{}/manifest.json", c.trial);
        let (ma, mb) = (ta.remove(&manifest).unwrap(), tb.remove(&manifest).unwrap());
        let (ma, mb) = (
            String::from_utf8(ma).unwrap(),
            String::from_utf8(mb).unwrap(),
        );
        assert_eq!(
            ma.replace(a.to_str().unwrap(), "OUT"),
            mb.replace(b.to_str().unwrap(), "OUT")
        );
        // pharmacy, prep, report and calendar.ics; csv, ics, png, svg and html per
        // patient, but no ics for one of background treatment only; an .ics per site.
        let sites = ta
            .keys()
            .filter(|k| k.starts_with(&format!("{}/sites/", c.trial)))
            .count();
        let appointed = |id: &str| has_appointment(&ta[&format!("{}/patients/{id}.csv", c.trial)]);
        let ids: Vec<&str> = c
            .rows
            .iter()
            .map(|r| r.split(',').next().unwrap())
            .collect();
        let without = ids.iter().filter(|id| !appointed(id)).count();
        assert_eq!(
            without,
            usize::from(c.trial == "NCT01573923"),
            "{}: Q5 is on the conventional arm",
            c.trial
        );
        assert_eq!(
            ta.len(),
            4 + 5 * c.rows.len() - without + sites,
            "{}: {:?}",
            c.trial,
            ta.keys()
        );
        for f in ["pharmacy.csv", "prep.csv", "report.html"] {
            assert!(
                ta.contains_key(&format!("{}/{f}", c.trial)),
                "{}: {f}",
                c.trial
            );
        }
        for id in &ids {
            for ext in ["csv", "ics", "png", "svg", "html"] {
                let name = format!("{}/patients/{id}.{ext}", c.trial);
                assert_eq!(
                    ta.contains_key(&name),
                    ext != "ics" || appointed(id),
                    "{name}"
                );
            }
        }
        assert_same_tree(&ta, &tb, c.trial);
        // Again into the first folder: every file replaced by the same bytes.
        cohort(&c.scenario, &roster, &a).expect_code(0);
        let mut again = tree(&a);
        assert_eq!(again.remove(&manifest).unwrap(), ma.into_bytes());
        assert_same_tree(&ta, &again, c.trial);
    }
}

#[test]
fn a_shorter_roster_removes_the_files_of_patients_no_longer_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "A,msc,60,2027-01-01",
            "B,pe,70,2027-01-02",
            "C,msc-pe,65,2027-01-03",
        ],
    );
    cohort(Path::new(NCT01724398), &roster, &out).expect_code(0);
    let patients = out.join("NCT01724398/patients");
    assert_eq!(entries(&patients).len(), 15);
    // A file of the user's own, of a kind dosesim does not make, stays.
    std::fs::write(patients.join("notes.txt"), "mine").unwrap();

    let roster = write_roster(
        dir.path(),
        "r.csv",
        &["A,msc,60,2027-01-01", "B,pe,70,2027-01-02"],
    );
    cohort(Path::new(NCT01724398), &roster, &out).expect_code(0);
    assert_eq!(
        entries(&patients),
        [
            "A.csv",
            "A.html",
            "A.ics",
            "A.png",
            "A.svg",
            "B.csv",
            "B.html",
            "B.ics",
            "B.png",
            "B.svg",
            "notes.txt"
        ]
    );
    let trial_dir = out.join("NCT01724398");
    let pharmacy = std::fs::read_to_string(trial_dir.join("pharmacy.csv")).unwrap();
    assert!(pharmacy.lines().any(|l| l.starts_with("A,")));
    assert!(!pharmacy.lines().any(|l| l.starts_with("C,")), "{pharmacy}");
    let (_, prep) = raw_records(&std::fs::read(trial_dir.join("prep.csv")).unwrap());
    assert!(
        prep.iter()
            .all(|l| l.get(8).split(' ').all(|id| id == "A" || id == "B"))
    );
    let report = std::fs::read_to_string(trial_dir.join("report.html")).unwrap();
    assert!(!report.contains("id=\"patient-C\""));
    assert!(report.contains("id=\"patient-A\"") && report.contains("id=\"patient-B\""));
    // No temporary file left anywhere.
    assert!(
        tree(&out)
            .keys()
            .all(|k| !k.contains(".dosesim-") && !k.ends_with(".tmp"))
    );
}

#[test]
fn weights_outside_the_usual_range_warn_with_their_line_but_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "P1,msc,60,2027-01-01",
            "P2,msc,120,2027-01-01",
            "P3,pe,35,2027-01-02",
        ],
    );
    let run = cohort(Path::new(NCT01724398), &roster, &dir.path().join("out"));
    run.expect_code(0);
    let warnings = run.warnings();
    for (line, id, w) in [(3, "P2", "120"), (4, "P3", "35")] {
        let prefix = format!(
            "warning: {}:{line}: patient {id}: weight {w} kg",
            roster.display()
        );
        assert!(
            warnings.iter().any(|l| l.starts_with(&prefix)),
            "{prefix}\n{}",
            run.stderr
        );
    }
    assert!(run.out().starts_with("NCT01724398: 3 patients; "));
}

/// Review findings 5: ids the id rule accepts but a spreadsheet silently changes (a number
/// with leading zeros, scientific notation, a decimal, 20 digits, a date, a boolean) are
/// each warned about once, with their line; ids that stay text are not. The run still
/// succeeds: the ids are valid, only risky in a spreadsheet.
#[test]
fn ids_a_spreadsheet_would_change_are_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let risky = [
        "00123",
        "1E5",
        "1.50",
        "12345678901234567890",
        "2027-01-04",
        "TRUE",
    ];
    let mut rows: Vec<String> = risky
        .iter()
        .map(|id| format!("{id},high,62.5,2027-01-04"))
        .collect();
    rows.push("P0001,high,62.5,2027-01-04".into());
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let roster = write_roster(dir.path(), "r.csv", &rows);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = cohort(Path::new(NCT04822922), &roster, &out);
    run.expect_code(0);
    // The first three, and how many in all; --verbose lists every one.
    assert!(
        run.stderr.contains("warning: ... and 3 more (6 patient ids that a spreadsheet would read as numbers, dates or booleans in all; --verbose lists every one)"),
        "{}",
        run.stderr
    );
    let run = crate::common::run([
        "cohort",
        NCT04822922,
        "--roster",
        roster.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--verbose",
    ]);
    run.expect_code(0);
    let warnings = run.warnings();
    for (i, id) in risky.iter().enumerate() {
        let line = i + 2;
        let hits: Vec<&&str> = warnings
            .iter()
            .filter(|w| w.contains(&format!("patient_id '{id}'")))
            .collect();
        assert_eq!(hits.len(), 1, "{id}: {}", run.stderr);
        assert!(hits[0].contains(&format!("r.csv:{line}:")), "{}", hits[0]);
        assert!(
            hits[0].contains("a spreadsheet will read it as"),
            "{}",
            hits[0]
        );
    }
    assert!(!run.stderr.contains("'P0001'"), "{}", run.stderr);
}

/// Hardening 8: beyond 500 patients the report lists them, each linked to their own page
/// and files, instead of holding every calendar and chart (30,000 patients made a 448 MB
/// report); every patient still gets their page.
#[test]
fn a_cohort_over_500_patients_links_each_patient_page() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..501)
        .map(|i| {
            format!(
                "P{i:04},{},{},2027-01-{:02}",
                ["low", "middle", "high"][i % 3],
                50 + i % 40,
                1 + i % 28
            )
        })
        .collect();
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    let roster = write_roster(dir.path(), "r.csv", &refs);
    let out = dir.path().join("out");
    cohort(Path::new(NCT04822922), &roster, &out).expect_code(0);
    let trial = out.join("NCT04822922");
    let report = std::fs::read_to_string(trial.join("report.html")).unwrap();
    assert!(report.contains("Patients (501)"));
    // A link to each patient's page, then to their CSV, .ics and PNG.
    assert_eq!(report.matches(".html\">P").count(), 501);
    assert_eq!(report.matches(".ics\">ics</a>").count(), 501);
    assert!(
        !report.contains("<details class=\"patient\""),
        "no inline sections"
    );
    assert!(report.contains("each patient's own chart is on their own page"));
    // Far smaller than 501 inline sections (about 16 KB each).
    assert!(report.len() < 1_000_000, "{} bytes", report.len());
    let page = std::fs::read_to_string(trial.join("patients/P0500.html")).unwrap();
    assert!(page.contains("<h1>Patient P0500</h1>"));
    assert!(page.contains("href=\"../report.html\""));
    assert!(page.contains("<svg"), "the patient's chart is on the page");
    assert_self_contained(&page, "P0500.html", &|h| {
        h == "../report.html" || h.starts_with("https://clinicaltrials.gov/")
    });
}

#[test]
fn a_patient_of_background_treatment_only_gets_no_calendar_file() {
    // NCT01573923's conventional arm has background treatment only: no infusion, exchange
    // or visit for a calendar file, which RFC 5545 allows no file without.
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "Q5,conventional,58,2027-11-30",
            "Q6,conventional,70,2027-12-01",
        ],
    );
    let out = dir.path().join("out");
    cohort(Path::new(NCT01573923), &roster, &out).expect_code(0);
    let trial = out.join("NCT01573923");
    let files = entries(&trial.join("patients"));
    assert_eq!(
        files,
        [
            "Q5.csv", "Q5.html", "Q5.png", "Q5.svg", "Q6.csv", "Q6.html", "Q6.png", "Q6.svg"
        ]
    );
    // Nor the trial's calendar: no patient of it has an event.
    assert!(!trial.join("calendar.ics").exists());
    let manifest = std::fs::read_to_string(trial.join("manifest.json")).unwrap();
    assert!(!manifest.contains(".ics"), "{manifest}");
    // The report and the patient's page say why.
    let why = "an arm of background treatment only has no infusion, exchange or visit, and a calendar file (RFC 5545) must hold at least one event";
    let report = std::fs::read_to_string(trial.join("report.html")).unwrap();
    assert!(
        report.contains(&format!(
            "No <code>patients/&lt;id&gt;.ics</code> for a patient of arm <code>conventional</code>: {why}."
        )),
        "report"
    );
    let page = std::fs::read_to_string(trial.join("patients/Q5.html")).unwrap();
    assert!(
        page.contains(&format!(
            "No calendar file (.ics) for this patient of arm <code>conventional</code>: {why}."
        )),
        "page"
    );

    // `calendar --format ics` makes none either: refused, nothing written.
    let refused = format!(
        "error: --format: arm 'conventional' of NCT01573923 makes no calendar file: {why}; its calendar as csv, json or table lists the background treatment"
    );
    let file = dir.path().join("Q5.ics");
    let one = calendar(
        NCT01573923,
        "conventional",
        "58",
        "2027-11-30",
        &[
            "--format",
            "ics",
            "--patient",
            "Q5",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    one.expect_code(2);
    assert!(one.stderr.contains(&refused), "{}", one.stderr);
    assert!(!file.exists());
    let by_roster = run([
        "calendar".as_ref(),
        NCT01573923.as_ref(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--patient".as_ref(),
        "Q6".as_ref(),
        "--format".as_ref(),
        "ics".as_ref(),
    ]);
    by_roster.expect_code(2);
    assert!(by_roster.stderr.contains(&refused), "{}", by_roster.stderr);
    assert!(by_roster.stdout.is_empty());
    // Its calendar as CSV is there, background treatment and all.
    let csv = calendar(
        NCT01573923,
        "conventional",
        "58",
        "2027-11-30",
        &["--format", "csv"],
    );
    csv.expect_code(0);
    assert!(!has_appointment(&csv.stdout));
    assert!(
        parse_csv(&csv.stdout)
            .1
            .iter()
            .any(|r| r.kind == "background")
    );
}

/// A roster saved as UTF-16 ("Unicode Text") is told so, once.
#[test]
fn a_utf16_roster_is_told_to_be_saved_as_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let text = "patient_id,arm,weight_kg,start_date\nP1,msc,60,2027-01-01\n";
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let roster = dir.path().join("r.csv");
    std::fs::write(&roster, bytes).unwrap();
    let run = pharmacy(Path::new(NCT01724398), &roster, &[]);
    assert_bad_input(&run);
    let err = run.err();
    assert!(
        err.contains(&format!(
            "{}:1: the file looks like UTF-16 text",
            roster.display()
        )) && err.contains("save it as \"CSV UTF-8\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A roster site with no calendar and a bad record are reported in one go: the record is
/// read against the roster whatever its site calendars (it was read only once all of
/// them were there).
#[test]
fn a_missing_site_calendar_and_a_bad_record_are_both_reported() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2027-01-04,NOWHERE\n",
    );
    let log = write_file(dir.path(), "log.csv", "not,a,record\n1,2,3\n");
    let run = pharmacy(
        Path::new(NCT04822922),
        &roster,
        &[
            "--calendars".as_ref(),
            dir.path().as_os_str(),
            "--log".as_ref(),
            log.as_os_str(),
        ],
    );
    assert_bad_input(&run);
    assert!(run.stderr.contains("NOWHERE"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&log.display().to_string()),
        "{}",
        run.stderr
    );
}
