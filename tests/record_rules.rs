//! The administration record's rules made safe (issue 20): each test is a case that asked
//! the cell lab to prepare a dose that must not be given, or gave a wrong figure, before
//! the fix, run through the binary with its dates and doses worked out in the comments.
//!
//! NCT04822922: hUC-MSC on days 1, 4, 7, 10 (window 1 day each way, at least 2 days
//! apart, anchor plan); a 70 kg patient of the high arm (12e5 cells/kg) gets 84,000,000
//! cells a dose. NCT02812121 msc-8w: weekly x8 (window 2 days, at least 5 days apart,
//! anchor plan), 1e5 cells/kg. NCT01724398 msc: weekly x4 (window 2 days, at least 5 days
//! apart, anchor previous).

use std::path::{Path, PathBuf};

use crate::common::*;

const LOG_HEADER: &str = "patient_id,date,record,component,occurrence,amount,note";

/// A folder with a roster (`rows` after the header) and a log (`log` after its header).
fn inputs(roster: &[&str], log: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    // A fifth field is the patient's site.
    let header = if roster.iter().any(|r| r.split(',').count() == 5) {
        format!("{ROSTER_HEADER},site")
    } else {
        ROSTER_HEADER.to_string()
    };
    let r = write_file(
        dir.path(),
        "roster.csv",
        &format!("{header}\n{}\n", roster.join("\n")),
    );
    let mut text = format!("{LOG_HEADER}\n");
    for l in log {
        text.push_str(l);
        text.push('\n');
    }
    let l = write_file(dir.path(), "log.csv", &text);
    (dir, r, l)
}

/// One patient's calendar CSV rows from the roster and log (doses and visits).
fn patient_rows(scenario: &str, roster: &Path, log: &Path, extra: &[&str]) -> Vec<CsvRow> {
    let mut args = vec!["--patient", "P1", "--format", "csv"];
    args.extend_from_slice(extra);
    let run = with_record("calendar", scenario, roster, log, &args);
    run.expect_code(0);
    parse_csv(&run.stdout)
        .1
        .into_iter()
        .filter(|r| r.kind != "background")
        .collect()
}

/// (date, occurrence, status, flags, deviation) of each infusion.
fn infusions(rows: &[CsvRow], event: &str) -> Vec<(String, String, String, String, String)> {
    rows.iter()
        .filter(|r| r.event == event)
        .map(|r| {
            (
                r.date.clone(),
                r.occurrence.clone(),
                r.status.clone(),
                r.flags.clone(),
                r.deviation.clone(),
            )
        })
        .collect()
}

fn inf(
    date: &str,
    occ: u32,
    status: &str,
    flags: &str,
    dev: &str,
) -> (String, String, String, String, String) {
    (
        date.into(),
        occ.to_string(),
        status.into(),
        flags.into(),
        dev.into(),
    )
}

fn prep(roster: &Path, log: &Path, extra: &[&str]) -> Run {
    with_record("prep", "NCT04822922", roster, log, extra)
}

/// `dosesim COMMAND TRIAL --roster R --log L` plus `extra`.
fn with_record(command: &str, trial: &str, roster: &Path, log: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        command,
        trial,
        "--roster",
        roster.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// Patient P1's calendar in `format` from the roster and record.
fn calendar_of(trial: &str, roster: &Path, log: &Path, format: &str) -> Run {
    with_record(
        "calendar",
        trial,
        roster,
        log,
        &["--patient", "P1", "--format", format],
    )
}

const HIGH_70KG: &str = "P1,high,70,2027-03-01";

#[test]
fn a_dose_given_3_days_late_holds_the_next_instead_of_a_second_dose_that_day() {
    // Issue 20 item 1: dose 2 (planned Thu 03-04) given Sun 03-07, the day dose 3 is
    // planned. Dose 3 needs 2 days after it (03-09), its window is 03-06..03-08: no day
    // keeps the gap, so it is held (not due, not to prepare), shown on 03-09 after dose 2.
    // Dose 4 on 03-10 is 3 days after dose 2 and stays. Before: dose 3 `due overdue:0d` on
    // 03-07 and 84,000,000 cells to prepare that day.
    let (_d, roster, log) = inputs(
        &[HIGH_70KG],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-07,given,uc_msc,2,,3 days late",
        ],
    );
    let rows = patient_rows("NCT04822922", &roster, &log, &[]);
    assert_eq!(
        infusions(&rows, "uc_msc"),
        [
            inf("2027-03-01", 1, "given", "", ""),
            inf("2027-03-07", 2, "given", "", "late:+3d;outside_window:+3d"),
            inf(
                "2027-03-09",
                3,
                "held",
                "shifted;min_gap;reprojected;outside_window",
                "held"
            ),
            inf("2027-03-10", 4, "planned", "", ""),
        ]
    );
    // A held dose is in no running total: dose 4's is three doses, 252,000,000 cells.
    let d4 = rows
        .iter()
        .find(|r| r.event == "uc_msc" && r.occurrence == "4")
        .unwrap();
    assert_eq!(d4.cumulative_dose, "252000000");
    // The readable calendar says it is held, not a dose like any other.
    let table = calendar_of("NCT04822922", &roster, &log, "table");
    table.expect_code(0);
    let line = table
        .out()
        .lines()
        .find(|l| l.contains("| 2027-03-09 |"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("HELD: not to prepare until a decision is recorded"),
        "{line}"
    );
    assert!(
        line.contains("moved from Sun 2027-03-07 by the administration record"),
        "{line}"
    );
    // A sheet of later days says it still waits for a decision.
    let later = prep(&roster, &log, &["--from", "2027-03-10"]);
    later.expect_code(0);
    assert!(
        later
            .out()
            .contains("Held: 1 dose before this range (the first on Tue 2027-03-09) still waits for a decision"),
        "{}",
        later.out()
    );
    assert!(
        later.err().contains("1 dose held before this range"),
        "{}",
        later.err()
    );
    // Nothing to prepare on 03-07; dose 3 is listed on 03-09 as held, in no total.
    let day = prep(&roster, &log, &["--date", "2027-03-07"]);
    day.expect_code(0);
    assert!(day.out().contains("No dose to prepare."), "{}", day.out());
    assert!(!day.out().contains("84000000"), "{}", day.out());
    let csv = prep(
        &roster,
        &log,
        &[
            "--from",
            "2027-03-07",
            "--to",
            "2027-03-10",
            "--format",
            "csv",
        ],
    );
    csv.expect_code(0);
    let text = csv.out();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("held,2027-03-09,Tue,,uc_msc,P1,high,uc_msc,3,4,0,84000000,")),
        "{text}"
    );
    let doses: Vec<&&str> = lines.iter().filter(|l| l.starts_with("dose,")).collect();
    assert_eq!(doses.len(), 1, "{text}");
    assert!(doses[0].starts_with("dose,2027-03-10,"), "{text}");
    assert!(
        csv.err()
            .contains("1 dose held, not to prepare until a decision is recorded"),
        "{}",
        csv.err()
    );
    // A calendar app sees the held dose as tentative.
    let ics = calendar_of("NCT04822922", &roster, &log, "ics");
    ics.expect_code(0);
    let text = ics.out();
    let held = text
        .split("BEGIN:VEVENT")
        .find(|e| e.contains("uc_msc-3@dosesim"))
        .unwrap();
    assert!(held.contains("STATUS:TENTATIVE"), "{held}");
    assert!(held.contains("HELD"), "{held}");
}

#[test]
fn a_dose_given_2_days_late_moves_the_next_to_keep_its_gap_labelled_as_the_records_doing() {
    // Dose 2 given Sat 03-06 (2 days late): dose 3 (planned Sun 03-07) needs 03-08, the
    // last day of its window: re-placed there, labelled `reprojected` (the record moved
    // it, not a closed-day rule). Before: left on 03-07, one day after dose 2.
    let (_d, roster, log) = inputs(
        &[HIGH_70KG],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-06,given,uc_msc,2,,",
        ],
    );
    let rows = patient_rows("NCT04822922", &roster, &log, &[]);
    assert_eq!(
        infusions(&rows, "uc_msc")[2..],
        [
            inf("2027-03-08", 3, "planned", "shifted;reprojected", ""),
            inf("2027-03-10", 4, "planned", "", ""),
        ]
    );
    let sheet = prep(&roster, &log, &["--date", "2027-03-08"]);
    sheet.expect_code(0);
    let out = sheet.out();
    assert!(out.contains("shifted; reprojected"), "{out}");
    assert!(out.contains("assumed: re-projection rule"), "{out}");
    assert!(!out.contains("closed-day rule"), "{out}");
}

#[test]
fn a_weekly_dose_8_days_late_never_leaves_the_next_before_it() {
    // NCT02812121 msc-8w from Mon 2027-03-01: dose 2 (03-08) given 03-16, 8 days late.
    // Dose 3 (03-15, window 03-13..03-17) needs 5 days after it: held, shown on Sun 03-21
    // after dose 2. Before: due on 03-15, the day before dose 2 (order reversed).
    let (_d, roster, log) = inputs(
        &["P1,msc-8w,60,2027-03-01"],
        &[
            "P1,2027-03-01,given,ucb_msc,1,,",
            "P1,2027-03-16,given,ucb_msc,2,,",
        ],
    );
    let rows = patient_rows("NCT02812121", &roster, &log, &[]);
    let got = infusions(&rows, "ucb_msc");
    assert_eq!(got[2].0, "2027-03-21");
    assert_eq!(got[2].2, "held");
    assert_eq!(got[3], inf("2027-03-22", 4, "planned", "", ""));
    let dates: Vec<&str> = got
        .iter()
        .filter(|r| r.2 != "missed")
        .map(|r| r.0.as_str())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{got:?}");
}

#[test]
fn a_later_dose_given_closes_an_earlier_one_left_unrecorded() {
    // Dose 3 recorded given on 03-07 while dose 2 (03-04) has no row: dose 2 was not
    // given before it and will not be after: missed, code `order`, never overdue behind
    // dose 3.
    let (_d, roster, log) = inputs(
        &[HIGH_70KG],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-07,given,uc_msc,3,,",
        ],
    );
    let rows = patient_rows("NCT04822922", &roster, &log, &[]);
    assert_eq!(
        infusions(&rows, "uc_msc")[1],
        inf("2027-03-04", 2, "missed", "", "order")
    );
    // It is in no total: the running total after dose 3 is two doses.
    let d3 = rows
        .iter()
        .find(|r| r.event == "uc_msc" && r.occurrence == "3")
        .unwrap();
    assert_eq!(d3.cumulative_dose, "168000000");
}

#[test]
fn after_a_death_nothing_is_due_to_prepare_or_counted_overdue() {
    // Issue 20 item 2: dose 1 given 03-01, nothing recorded for dose 2 (03-04), death
    // on 03-09. Dose 2 was due before the death: closed, `not_given:died`; doses 3 and 4
    // and the visits cancelled; background treatment ends. Before: dose 2 stayed due,
    // overdue, counted and listed by `prep --from`.
    let (_d, roster, log) = inputs(
        &[HIGH_70KG],
        &["P1,2027-03-01,given,uc_msc,1,,", "P1,2027-03-09,died,,,,"],
    );
    let rows = patient_rows("NCT04822922", &roster, &log, &[]);
    assert_eq!(
        infusions(&rows, "uc_msc"),
        [
            inf("2027-03-01", 1, "given", "", ""),
            inf("2027-03-04", 2, "cancelled", "", "not_given:died"),
            inf("2027-03-07", 3, "cancelled", "", "not_given:died"),
            inf("2027-03-10", 4, "cancelled", "", ""),
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.status != "due" && r.status != "planned")
    );
    let whole = calendar_of("NCT04822922", &roster, &log, "csv");
    let all = parse_csv(&whole.stdout).1;
    let smt = all.iter().find(|r| r.kind == "background").unwrap();
    assert_eq!(
        smt.status, "cancelled",
        "background treatment ends at death"
    );
    let sheet = prep(&roster, &log, &["--from", "2027-03-05"]);
    sheet.expect_code(0);
    assert!(
        sheet.out().contains("No dose to prepare."),
        "{}",
        sheet.out()
    );
    assert!(!sheet.out().contains("Overdue"), "{}", sheet.out());
    assert!(
        !sheet.err().contains("due before this range"),
        "{}",
        sheet.err()
    );
    // Dose intensity counts the dose due before the death as not given: 1 of 2 (50%),
    // the cancelled ones after it not at all.
    let out = tempfile::tempdir().unwrap();
    let made = with_record(
        "cohort",
        "NCT04822922",
        &roster,
        &log,
        &["--out", out.path().to_str().unwrap()],
    );
    made.expect_code(0);
    assert!(
        made.out().contains("dose intensity uc_msc 33.3%"),
        "dose 1 given of doses 1-3 due before 03-09: {}",
        made.out()
    );
}

#[test]
fn a_dose_given_on_the_day_the_tool_scheduled_is_no_deviation() {
    // Issue 20 item 3: NCT01724398 msc at guangzhou from Sun 2026-02-01, over Spring
    // Festival 2026: doses scheduled 02-02, 02-09, 02-14 (a make-up working day) and
    // Tue 02-24 (planned Sun 02-22: +2, inside its 2-day window). Each given on its
    // scheduled day: no deviation. Before: dose 4 read `outside_window:+3d`, its window
    // measured from 02-21 (the anchored date).
    let (_d, roster, log) = inputs(
        &["P1,msc,60,2026-02-01,guangzhou"],
        &[
            "P1,2026-02-02,given,uc_msc,1,,",
            "P1,2026-02-09,given,uc_msc,2,,",
            "P1,2026-02-14,given,uc_msc,3,,",
            "P1,2026-02-24,given,uc_msc,4,,",
        ],
    );
    let rows = patient_rows(
        "NCT01724398",
        &roster,
        &log,
        &["--calendars", "scenarios/calendars"],
    );
    let got = infusions(&rows, "uc_msc");
    assert_eq!(got.len(), 4);
    for r in &got {
        assert_eq!((r.2.as_str(), r.4.as_str()), ("given", ""), "{got:?}");
    }
    assert_eq!(got[3].0, "2026-02-24");
}

#[test]
fn a_drift_beyond_the_protocol_window_is_flagged_before_and_a_deviation_after() {
    // NCT01724398 msc (anchor previous) from Mon 2027-03-01: dose 2 given 03-11, 3 days
    // late. Doses 3 and 4 keep the weekly interval (03-18, 03-25): 3 days from the day-1
    // grid, beyond the 2-day window, so flagged `outside_window` before they are given;
    // given on those days, each is `outside_window:+3d` but not late. deviations.csv
    // gives both figures: days from the planned date and from the scheduled date.
    let (_d, roster, log) = inputs(
        &["P1,msc,60,2027-03-01"],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-11,given,uc_msc,2,,",
        ],
    );
    let rows = patient_rows("NCT01724398", &roster, &log, &[]);
    assert_eq!(
        infusions(&rows, "uc_msc")[2..],
        [
            inf(
                "2027-03-18",
                3,
                "planned",
                "shifted;reprojected;outside_window",
                ""
            ),
            inf(
                "2027-03-25",
                4,
                "planned",
                "shifted;reprojected;outside_window",
                ""
            ),
        ]
    );
    let (_d2, roster, log) = inputs(
        &["P1,msc,60,2027-03-01"],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-11,given,uc_msc,2,,",
            "P1,2027-03-18,given,uc_msc,3,,",
        ],
    );
    let rows = patient_rows("NCT01724398", &roster, &log, &[]);
    assert_eq!(
        infusions(&rows, "uc_msc")[2],
        inf("2027-03-18", 3, "given", "", "outside_window:+3d")
    );
    let out = tempfile::tempdir().unwrap();
    with_record(
        "cohort",
        "NCT01724398",
        &roster,
        &log,
        &["--out", out.path().to_str().unwrap()],
    )
    .expect_code(0);
    let devs = std::fs::read_to_string(out.path().join("NCT01724398/deviations.csv")).unwrap();
    assert!(
        devs.contains("P1,msc,uc_msc,2,2027-03-08,2027-03-11,2027-03-08,3,3,"),
        "{devs}"
    );
    assert!(
        devs.contains("P1,msc,uc_msc,3,2027-03-15,2027-03-18,2027-03-18,3,0,"),
        "{devs}"
    );
}

/// The cohort summary line of NCT04822922 for `roster` and `log` (its own scenario file
/// when `scenario` is given).
fn summary(scenario: &str, roster: &Path, log: &Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let made = with_record(
        "cohort",
        scenario,
        roster,
        log,
        &["--out", out.path().to_str().unwrap()],
    );
    made.expect_code(0);
    made.out()
}

#[test]
fn a_due_dose_is_priced_at_the_weight_in_force_on_its_date() {
    // Issue 20 item 4: low arm (4e5 cells/kg), 50 kg from Mon 2027-03-01. Dose 1 given
    // (20,000,000 cells); dose 2 due Thu 03-04, not recorded; re-weighed 75 kg on Fri
    // 03-05 (the record's as-of date). Dose 2 was due at 50 kg: 20,000,000 planned, so
    // intensity is 20/(20+20) = 50.0%. Before: priced at 75 kg (30,000,000): 40.0%.
    let (_d, roster, log) = inputs(
        &["P1,low,50,2027-03-01"],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-05,weight,,,75,",
        ],
    );
    let text = summary("NCT04822922", &roster, &log);
    assert!(text.contains("dose intensity uc_msc 50.0%"), "{text}");
    let rows = patient_rows("NCT04822922", &roster, &log, &[]);
    let d = |k: usize| rows.iter().filter(|r| r.event == "uc_msc").nth(k).unwrap();
    assert_eq!(
        (d(1).status.as_str(), d(1).planned_amount.as_str()),
        ("due", "20000000")
    );
    // Dose 3 (03-07) is after the new weight: 75 x 4e5 = 30,000,000.
    assert_eq!(d(2).dose, "30000000");
    // A protocol that doses at the screening weight: nothing changes with the record.
    let text = broken_text(
        "scenarios/nct04822922.toml",
        &[(
            "dose.weight_basis = { value = \"current\"",
            "dose.weight_basis = { value = \"screening\"",
        )],
    );
    let (_s, path) = temp_scenario("screening.toml", &text);
    let screened = calendar_of(path.to_str().unwrap(), &roster, &log, "csv");
    screened.expect_code(0);
    let rows = parse_csv(&screened.stdout).1;
    let d3 = rows
        .iter()
        .find(|r| r.event == "uc_msc" && r.occurrence == "3")
        .unwrap();
    assert_eq!(d3.dose, "20000000");
    assert_eq!(d3.deviation, "");
}

#[test]
fn a_weight_basis_is_checked_like_every_scenario_value() {
    let text = broken_text(
        "scenarios/nct04822922.toml",
        &[(
            "dose.weight_basis = { value = \"current\"",
            "dose.weight_basis = { value = \"latest\"",
        )],
    );
    let (_s, path) = temp_scenario("bad.toml", &text);
    let checked = run(["validate", path.to_str().unwrap()]);
    checked.expect_code(2);
    let line = line_of(&text, "value = \"latest\"");
    assert!(
        checked.err().contains(&format!(
            "bad.toml:{line}: arm 'low' components[0].dose.weight_basis.value: unknown weight basis 'latest'"
        )),
        "{}",
        checked.err()
    );
}

#[test]
fn a_typo_in_a_records_year_is_refused_with_its_line() {
    // Issue 20 item 5: 2062-10-15 typed for 2026-10-15 would move the as-of date to
    // 2062: every later dose overdue, intensity 41%. Refused: it is years after every
    // other row, and after the patient's schedule has ended.
    let (_d, roster, log) = inputs(
        &["P1,high,70,2026-10-01", "P2,high,70,2026-10-05"],
        &[
            "P1,2026-10-01,given,uc_msc,1,,",
            "P2,2026-10-05,given,uc_msc,1,,",
            "P1,2062-10-04,given,uc_msc,2,,",
        ],
    );
    let made = with_record("pharmacy", "NCT04822922", &roster, &log, &[]);
    made.expect_code(2);
    let err = made.err();
    assert!(
        err.contains(
            "log.csv:4: date: 2062-10-04 is 13148 days after every other row of the record"
        ),
        "{err}"
    );
    assert!(
        err.contains("log.csv:4: date: 2062-10-04 is after patient P1's schedule has ended"),
        "{err}"
    );
    assert!(made.stdout.is_empty());
    // A dose recorded months after the schedule's last event (day 91, plus 14 days):
    // refused even when other rows are near it.
    let (_d, roster, log) = inputs(
        &[HIGH_70KG],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-09-01,given,uc_msc,2,,",
        ],
    );
    let made = with_record("pharmacy", "NCT04822922", &roster, &log, &[]);
    made.expect_code(2);
    assert!(
        made.err().contains(
            "log.csv:3: date: 2027-09-01 is after patient P1's schedule has ended (2027-06-13"
        ),
        "{}",
        made.err()
    );
    // A death within the 5 years' follow-up is not refused, even more than a year after
    // every other row.
    for died in ["2027-09-01", "2028-06-30"] {
        let (_d, roster, log) = inputs(
            &[HIGH_70KG],
            &[
                "P1,2027-03-01,given,uc_msc,1,,",
                &format!("P1,{died},died,,,,"),
            ],
        );
        with_record("pharmacy", "NCT04822922", &roster, &log, &[]).expect_code(0);
    }
}

#[test]
fn an_occurrence_recorded_before_an_earlier_one_is_warned_about_with_both_lines() {
    let (_d, roster, log) = inputs(
        &[HIGH_70KG],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-08,given,uc_msc,2,,",
            "P1,2027-03-06,given,uc_msc,3,,",
        ],
    );
    let made = with_record("pharmacy", "NCT04822922", &roster, &log, &[]);
    made.expect_code(0);
    assert!(
        made.err().contains(
            "log.csv:4: patient P1: uc_msc 3 is recorded given on 2027-03-06, before uc_msc 2 given on 2027-03-08 (line 3): check the dates"
        ),
        "{}",
        made.err()
    );
}

/// The SEQUENCE of every event of a calendar file, by UID.
fn sequences(ics: &str) -> std::collections::BTreeMap<String, (u64, String)> {
    let text = ics.replace("\r\n ", "");
    text.split("BEGIN:VEVENT")
        .skip(1)
        .map(|e| {
            let field = |name: &str| {
                e.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_default()
                    .to_string()
            };
            (
                field("UID:"),
                (
                    field("SEQUENCE:").parse().unwrap_or(0),
                    field("DTSTART;VALUE=DATE:"),
                ),
            )
        })
        .collect()
}

#[test]
fn a_rerun_from_corrected_inputs_raises_every_sequence_so_calendar_apps_take_it() {
    // The roster is corrected in place (70 kg to 72 kg): every dose's title changes with
    // no new row of the record (as every date would with a site calendar given its year's
    // holiday file). A calendar app applies an update only when its SEQUENCE rises: every
    // event's must.
    let (dir, roster, log) = inputs(&[HIGH_70KG], &["P1,2027-03-01,given,uc_msc,1,,"]);
    let out = dir.path().join("out");
    let make = || {
        with_record(
            "cohort",
            "NCT04822922",
            &roster,
            &log,
            &["--out", out.to_str().unwrap()],
        )
        .expect_code(0);
        std::fs::read_to_string(out.join("NCT04822922/calendar.ics")).unwrap()
    };
    let before = sequences(&make());
    // The same inputs again: the same bytes, the same numbers.
    assert_eq!(sequences(&make()), before);
    write_file(
        dir.path(),
        "roster.csv",
        &format!("{ROSTER_HEADER}\nP1,high,72,2027-03-01\n"),
    );
    let after = sequences(&make());
    let highest = before.values().map(|v| v.0).max().unwrap();
    assert_eq!(after.len(), before.len());
    for (uid, (seq, _)) in &after {
        assert!(*seq > highest, "{uid}: {seq} not above {highest}");
    }
}

#[test]
fn only_what_is_still_to_come_is_warned_about_on_a_closed_day() {
    // The demo record of NCT01724398: P4398-004's exchange 3/3 and infusion 2/4 were left
    // on Saturday 2026-08-22 (no open day kept their gaps) and are recorded given: nothing
    // for the site to arrange. P4398-027's first exchange (Sat 2026-11-28, after the
    // record's as-of date) still is.
    let out = tempfile::tempdir().unwrap();
    let made = run([
        "cohort",
        "NCT01724398",
        "--roster",
        "scenarios/rosters/NCT01724398.csv",
        "--log",
        "scenarios/logs/NCT01724398.csv",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    made.expect_code(0);
    let err = made.err();
    assert!(
        !err.contains("patient P4398-004: Plasma exchange 3/3 stays on Sat 2026-08-22"),
        "{err}"
    );
    assert!(
        err.contains("patient P4398-027: Plasma exchange 1/3 stays on Sat 2026-11-28"),
        "{err}"
    );
}

/// A row far past the rest of the record is said the same way whether the whole record
/// is read (`pharmacy`) or one patient's (`calendar --patient`): "the latest before it"
/// is the record's, not only that patient's.
#[test]
fn a_far_row_is_measured_against_the_whole_record_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut log =
        std::fs::read_to_string(crate::common::root().join("scenarios/logs/NCT01724398.csv"))
            .unwrap();
    log.push_str("P4398-002,2028-09-14,weight,,,60,typo\n");
    let path = dir.path().join("far.csv");
    std::fs::write(&path, log).unwrap();
    for command in [
        &["calendar", "--patient", "P4398-002"][..],
        &["pharmacy"][..],
    ] {
        let out = assert_cmd::Command::cargo_bin("dosesim")
            .unwrap()
            .current_dir(crate::common::root())
            .args(command)
            .args([
                "NCT01724398",
                "--roster",
                "scenarios/rosters/NCT01724398.csv",
                "--log",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
        assert!(
            err.contains(":80: date: 2028-09-14 is 664 days after every other row of the record (the latest before it is 2026-11-20)"),
            "{command:?}: {err}"
        );
    }
}
