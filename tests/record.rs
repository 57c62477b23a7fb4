//! The administration record (`--log`, `--as-of`): statuses, deviations, re-projection,
//! dose intensity, deviations.csv, .ics updates and every log error, each case with its
//! dates and doses computed by hand in the comments.
//!
//! NCT01724398's arms: `msc` gives UC-MSC 1e5 cells/kg weekly x4 from day 1 (anchor
//! previous, window 2 days each way, at least 5 days apart); `pe` gives a 2000 mL plasma
//! exchange every 3 days x3 (anchor plan, window 1 day, at least 2 days apart); `msc-pe`
//! both, the first two infusions after that day's exchange. A 60 kg patient's dose is
//! 60 x 1e5 = 6,000,000 cells.

use std::path::{Path, PathBuf};

use crate::common::*;

const SCENARIO: &str = "scenarios/nct01724398.toml";
const LOG_HEADER: &str = "patient_id,date,record,component,occurrence,amount,note";

fn write_log(dir: &Path, rows: &[&str]) -> PathBuf {
    let mut text = format!("{LOG_HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    write_file(dir, "log.csv", &text)
}

/// Patient P1's calendar CSV rows (doses and visits) with the record applied.
fn recorded(arm: &str, start: &str, rows: &[&str], extra: &[&str]) -> Vec<CsvRow> {
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), rows);
    let mut args = vec!["--format", "csv", "--patient", "P1", "--log"];
    let log = log.to_str().unwrap().to_string();
    args.push(&log);
    args.extend_from_slice(extra);
    let run = calendar(SCENARIO, arm, "60", start, &args);
    run.expect_code(0);
    let (_, rows) = parse_csv(&run.stdout);
    rows.into_iter()
        .filter(|r| r.kind != "background")
        .collect()
}

/// (date, event, occurrence, status, dose, planned_amount, deviation) of each row.
fn brief(rows: &[CsvRow]) -> Vec<(String, String, String, String, String, String, String)> {
    rows.iter()
        .map(|r| {
            (
                r.date.clone(),
                r.event.clone(),
                r.occurrence.clone(),
                r.status.clone(),
                r.dose.clone(),
                r.planned_amount.clone(),
                r.deviation.clone(),
            )
        })
        .collect()
}

fn row(
    date: &str,
    event: &str,
    occ: u32,
    status: &str,
    dose: &str,
    planned: &str,
    deviation: &str,
) -> (String, String, String, String, String, String, String) {
    (
        date.into(),
        event.into(),
        occ.to_string(),
        status.into(),
        dose.into(),
        planned.into(),
        deviation.into(),
    )
}

#[test]
fn a_dose_three_days_late_pushes_the_later_ones_under_anchor_previous() {
    // Start Mon 2027-03-01: doses planned 03-01, 03-08, 03-15, 03-22. Dose 2 given on
    // 03-11, 3 days late (and 3 days beyond a 2-day window): doses 3 and 4 keep the weekly
    // interval from it, 03-18 and 03-25. The visit (day 337) stays on 2028-01-31.
    let rows = recorded(
        "msc",
        "2027-03-01",
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-11,given,uc_msc,2,,product released late",
        ],
        &[],
    );
    assert_eq!(
        brief(&rows),
        [
            row("2027-03-01", "uc_msc", 1, "given", "6000000", "6000000", ""),
            row(
                "2027-03-11",
                "uc_msc",
                2,
                "given",
                "6000000",
                "6000000",
                "late:+3d;outside_window:+3d"
            ),
            row("2027-03-18", "uc_msc", 3, "planned", "6000000", "", ""),
            row("2027-03-25", "uc_msc", 4, "planned", "6000000", "", ""),
            row("2028-01-31", "week48", 1, "planned", "", "", ""),
        ]
    );
    // The running total counts what was given.
    assert_eq!(rows[3].cumulative_dose, "24000000");
    // The moved dose keeps its planned date; the late one shows its shift.
    assert_eq!(rows[1].planned_date, "2027-03-08");
    assert_eq!(rows[1].shift_days, "3");
    assert_eq!(rows[2].planned_date, "2027-03-15");
}

#[test]
fn a_late_exchange_under_anchor_plan_moves_nothing_else() {
    // pe: 03-01, 03-04, 03-07. Exchange 1 a day late, on 03-02: within its 1-day window
    // (late, not outside_window); exchanges 2 and 3 stay on the plan's dates.
    let rows = recorded("pe", "2027-03-01", &["P1,2027-03-02,given,pe,1,,"], &[]);
    assert_eq!(
        brief(&rows)[..3],
        [
            row("2027-03-02", "pe", 1, "given", "2000", "2000", "late:+1d"),
            row("2027-03-04", "pe", 2, "planned", "2000", "", ""),
            row("2027-03-07", "pe", 3, "planned", "2000", "", ""),
        ]
    );
}

#[test]
fn missed_overdue_and_dose_deviations_are_coded_with_their_figures() {
    // As of 03-10: exchange 1 given 03-01, exchange 2 missed (due 03-04), exchange 3
    // (03-07) not recorded: due, 3 days overdue.
    let rows = recorded(
        "pe",
        "2027-03-01",
        &["P1,2027-03-01,given,pe,1,,", "P1,2027-03-04,missed,pe,2,,"],
        &["--as-of", "2027-03-10"],
    );
    assert_eq!(
        brief(&rows)[..3],
        [
            row("2027-03-01", "pe", 1, "given", "2000", "2000", ""),
            row("2027-03-04", "pe", 2, "missed", "", "2000", "missed"),
            row("2027-03-07", "pe", 3, "due", "2000", "2000", "overdue:3d"),
        ]
    );
    // A missed dose is not in the running total: exchange 3 would make 4000 mL.
    assert_eq!(rows[1].cumulative_dose, "");
    assert_eq!(rows[2].cumulative_dose, "4000");
    // 5,100,000 of 6,000,000 is 15% low, beyond the assumed 10%; 5,460,000 is 9% low,
    // within it; 6,900,000 is 15% high.
    let rows = recorded(
        "msc",
        "2027-03-01",
        &[
            "P1,2027-03-01,given,uc_msc,1,5100000,",
            "P1,2027-03-08,given,uc_msc,2,5460000,",
            "P1,2027-03-15,given,uc_msc,3,6900000,",
        ],
        &[],
    );
    assert_eq!(rows[0].deviation, "dose_low:-15%");
    assert_eq!(rows[1].deviation, "");
    assert_eq!(rows[1].dose, "5460000");
    assert_eq!(rows[2].deviation, "dose_high:+15%");
    // 5.1 + 5.46 + 6.9 million cells given.
    assert_eq!(rows[2].cumulative_dose, "17460000");
}

#[test]
fn a_weight_change_redoses_only_what_is_not_yet_given() {
    // Weighed 66 kg on 03-08, the day of dose 2: dose 1 (03-01) stays 6,000,000; doses 2
    // to 4 are 66 x 1e5 = 6,600,000, flagged +10% of the roster's 60 kg.
    let rows = recorded(
        "msc",
        "2027-03-01",
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-08,weight,,,66,re-weighed",
            "P1,2027-03-08,given,uc_msc,2,,",
        ],
        &[],
    );
    assert_eq!(
        brief(&rows)[..4],
        [
            row("2027-03-01", "uc_msc", 1, "given", "6000000", "6000000", ""),
            row(
                "2027-03-08",
                "uc_msc",
                2,
                "given",
                "6600000",
                "6600000",
                "weight_change:+10%"
            ),
            row(
                "2027-03-15",
                "uc_msc",
                3,
                "planned",
                "6600000",
                "",
                "weight_change:+10%"
            ),
            row(
                "2027-03-22",
                "uc_msc",
                4,
                "planned",
                "6600000",
                "",
                "weight_change:+10%"
            ),
        ]
    );
    assert_eq!(rows[0].weight_kg, "60");
    assert_eq!(rows[1].weight_kg, "66");
}

#[test]
fn withdrawal_and_death_keep_the_past_and_cancel_the_rest() {
    for kind in ["withdrawn", "died"] {
        let rows = recorded(
            "msc",
            "2027-03-01",
            &[
                "P1,2027-03-01,given,uc_msc,1,,",
                "P1,2027-03-08,given,uc_msc,2,,",
                &format!("P1,2027-03-10,{kind},,,,"),
            ],
            &[],
        );
        assert_eq!(
            brief(&rows),
            [
                row("2027-03-01", "uc_msc", 1, "given", "6000000", "6000000", ""),
                row("2027-03-08", "uc_msc", 2, "given", "6000000", "6000000", ""),
                row("2027-03-15", "uc_msc", 3, "cancelled", "", "6000000", ""),
                row("2027-03-22", "uc_msc", 4, "cancelled", "", "6000000", ""),
                row("2028-01-31", "week48", 1, "cancelled", "", "", ""),
            ],
            "{kind}"
        );
    }
}

#[test]
fn an_infusion_without_its_exchange_that_day_is_out_of_order() {
    // msc-pe: exchange 1 and infusion 1 on 03-01, the infusion after the exchange. The
    // exchange was given on 03-02 but the infusion on 03-01: the infusion is `order`, the
    // exchange a day late.
    let rows = recorded(
        "msc-pe",
        "2027-03-01",
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-02,given,pe,1,,",
        ],
        &[],
    );
    let uc = rows
        .iter()
        .find(|r| r.event == "uc_msc" && r.occurrence == "1")
        .unwrap();
    assert_eq!(uc.deviation, "order");
    let pe = rows
        .iter()
        .find(|r| r.event == "pe" && r.occurrence == "1")
        .unwrap();
    assert_eq!(
        (pe.date.as_str(), pe.deviation.as_str()),
        ("2027-03-02", "late:+1d")
    );
}

#[test]
fn re_projection_follows_the_site_calendar_under_both_anchors() {
    // Closed Sat and Sun. msc from Mon 2027-03-01: dose 2 given Sat 03-13 (5 days late).
    // Under anchor previous dose 3 is anchored on Sat 03-20: the nearest open day is Fri
    // 03-19 (a day earlier; Mon 03-22 is two days later), 6 days after dose 2. Dose 4
    // follows dose 3's own delay (planned 03-15, placed 03-19: 4 days): 03-22 + 4 = Fri
    // 03-26.
    let rows = recorded(
        "msc",
        "2027-03-01",
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-13,given,uc_msc,2,,",
        ],
        &["--site", "weekends"],
    );
    let dates: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.date.as_str(), r.status.as_str(), r.flags.as_str()))
        .collect();
    assert_eq!(
        dates[..4],
        [
            ("2027-03-01", "given", ""),
            ("2027-03-13", "given", ""),
            // Moved by the record (its interval kept from the late dose), and 4 days
            // from the day-1 grid, beyond the 2-day window: said before it is given.
            (
                "2027-03-19",
                "planned",
                "shifted;reprojected;outside_window"
            ),
            (
                "2027-03-26",
                "planned",
                "shifted;reprojected;outside_window"
            ),
        ]
    );
    assert_eq!(rows[1].deviation, "late:+5d;outside_window:+5d");
    // Anchor plan, pe from Thu 2027-03-04: planned 03-04, Sun 03-07 (moved to Mon 03-08,
    // the nearest open day in a 1-day window), Wed 03-10. Exchange 1 given Fri 03-05,
    // a day late: exchange 2 still goes from its own date, to Mon 03-08 (3 days after the
    // late one, so its 2-day gap holds), and exchange 3 stays on 03-10.
    let rows = recorded(
        "pe",
        "2027-03-04",
        &["P1,2027-03-05,given,pe,1,,"],
        &["--site", "weekends"],
    );
    let dates: Vec<(&str, &str)> = rows[..3]
        .iter()
        .map(|r| (r.date.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        dates,
        [
            ("2027-03-05", "given"),
            ("2027-03-08", "planned"),
            ("2027-03-10", "planned")
        ]
    );
    assert_eq!(rows[0].deviation, "late:+1d");
}

/// A cohort of three on NCT01724398 and their log, in `dir`.
fn cohort_files(dir: &Path, log: &[&str]) -> (PathBuf, PathBuf) {
    let roster = write_roster(
        dir,
        "r.csv",
        &[
            "P1,msc,60,2027-03-01",
            "P2,pe,60,2027-03-01",
            "P3,conventional,60,2027-03-01",
        ],
    );
    (roster, write_log(dir, log))
}

#[test]
fn every_log_problem_is_reported_at_once_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,",  // 2: fine
            "P9,2027-03-01,given,uc_msc,1,,",  // 3: not on the roster
            "P1,2027-03-08,given,pe,1,,",      // 4: no such component on msc
            "P1,2027-03-08,given,uc_msc,5,,",  // 5: occurrence out of range
            "P1,2027-03-08,given,uc_msc,1,,",  // 6: given twice
            "P2,2027-02-27,given,pe,1,,",      // 7: before day 1
            "P2,2027-03-04,given,pe,2,-2000,", // 8: negative amount
            "P1,2027-03-08,given,week48,,5,",  // 9: amount for a visit
            "P2,2027-03-05,weight,,,900,",     // 10: weight beyond the hard limits
            "P2,2027-03-06,died,,,,",          // 11: fine
            "P2,2027-03-07,given,pe,3,,",      // 12: after death
            "P1,2027-03-09,sold,,,,",          // 13: unknown record
        ],
    );
    let first = run([
        "pharmacy".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--log".as_ref(),
        log.as_os_str(),
        "--as-of".as_ref(),
        "2027-03-08".as_ref(),
    ]);
    first.expect_code(2);
    let err = first.err();
    let l = log.display().to_string();
    for (line, field, words) in [
        (3, "patient_id", "patient 'P9' is not on the roster"),
        (
            3,
            "patient_id",
            "record 'withdrawn' (or 'died') instead of deleting the row",
        ),
        (
            4,
            "component",
            "unknown component 'pe' for patient P1 on arm msc",
        ),
        (
            5,
            "occurrence",
            "occurrence '5' is out of range: uc_msc has occurrences 1 to 4",
        ),
        (
            6,
            "occurrence",
            "uc_msc occurrence 1 of patient P1 is recorded twice (first on line 2)",
        ),
        (
            7,
            "date",
            "2027-02-27 is before patient P2's study day 1 (2027-03-01)",
        ),
        (8, "amount", "-2000 mL is not a dose given"),
        (9, "amount", "a visit has no amount"),
        (10, "amount", "weight 900 kg is not a usable body weight"),
        (12, "date", "after they died on 2027-03-06 (line 11)"),
        (13, "record", "unknown record 'sold'"),
    ] {
        let want = format!("{l}:{line}: {field}: ");
        assert!(
            err.lines().any(|e| e.contains(&want) && e.contains(words)),
            "no '{want}... {words}' in:\n{err}"
        );
    }
    assert!(err.contains("10 problems:"), "{err}");
    assert_eq!(first.out(), "");
    // A date after --as-of, and an extra column (a withdrawal typed beside a row).
    let log2 = write_file(
        dir.path(),
        "log2.csv",
        &format!("{LOG_HEADER}\nP1,2027-03-09,given,uc_msc,2,,\n"),
    );
    let second = run([
        "pharmacy".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--log".as_ref(),
        log2.as_os_str(),
        "--as-of".as_ref(),
        "2027-03-08".as_ref(),
    ]);
    second.expect_code(2);
    assert!(
        second
            .err()
            .contains(":2: date: 2027-03-09 is after --as-of 2027-03-08"),
        "{}",
        second.err()
    );
    let log3 = write_file(
        dir.path(),
        "log3.csv",
        &format!("{LOG_HEADER},status\nP1,2027-03-01,given,uc_msc,1,,,withdrawn\n"),
    );
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log3.as_os_str()],
    );
    run.expect_code(2);
    assert!(
        run.err().contains(":1: status: unknown column 'status'"),
        "{}",
        run.err()
    );
}

/// A log as a Windows spreadsheet saves it (CRLF line ends), with a blank line and a note
/// holding a line break: each problem is named on the line it is on. (The csv crate's own
/// line count, used before, named each one a line early and the first row line 1.)
#[test]
fn a_log_with_crlf_line_ends_and_a_blank_line_names_the_right_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (roster, _) = cohort_files(dir.path(), &[]);
    let text = [
        LOG_HEADER,
        "P1,2027-03-01,given,uc_msc,1,,\"infused\r\nslowly\"", // 2-3: fine
        "",                                                    // 4: blank
        "P1,2027-03-08,given,uc_msc,5,,",                      // 5: occurrence out of range
        "P9,2027-03-08,given,uc_msc,1,,",                      // 6: not on the roster
        "P1,2027-13-08,given,uc_msc,2,,",                      // 7: no such date
        "",
    ]
    .join("\r\n");
    let log = write_file(dir.path(), "log.csv", &text);
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(2);
    let err = run.err();
    let l = log.display().to_string();
    for want in [
        format!("{l}:5: occurrence: occurrence '5' is out of range"),
        format!("{l}:6: patient_id: patient 'P9' is not on the roster"),
        format!("{l}:7: date: '2027-13-08'"),
    ] {
        assert!(err.contains(&want), "no '{want}' in:\n{err}");
    }
    assert!(err.contains("3 problems:"), "{err}");
    // The first row is line 2, not the header's line 1.
    let text = format!("{LOG_HEADER}\r\nP1,2027-02-01,given,uc_msc,1,,\r\n");
    let log = write_file(dir.path(), "log2.csv", &text);
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(2);
    assert!(
        run.err().contains(&format!(
            "{}:2: date: 2027-02-01 is before patient P1's study day 1",
            log.display()
        )),
        "{}",
        run.err()
    );
}

/// A log's header is matched as the roster's is: a byte-order mark, another letter case and
/// spaces around a name are the same column. A folder made from it is the same job as one
/// made from the log with the header as dosesim writes it.
#[test]
fn a_log_header_in_a_spreadsheet_s_letter_case_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (roster, _) = cohort_files(dir.path(), &[]);
    let rows = "P1,2027-03-01,given,uc_msc,1,,\r\nP2,2027-03-01,given,pe,1,,note\r\n";
    let log = write_file(
        dir.path(),
        "log.csv",
        &format!("\u{feff}Patient_ID, Date ,RECORD,Component,Occurrence,Amount,Note\r\n{rows}"),
    );
    let out = dir.path().join("out");
    let first = cohort_with(&roster, &out, &["--log", log.to_str().unwrap()]);
    first.expect_code(0);
    let plain = write_file(dir.path(), "plain.csv", &format!("{LOG_HEADER}\r\n{rows}"));
    let again = cohort_with(&roster, &out, &["--log", plain.to_str().unwrap()]);
    again.expect_code(0);
    let pharmacy = std::fs::read_to_string(out.join("NCT01724398/pharmacy.csv")).unwrap();
    assert!(pharmacy.contains(",given,"), "{pharmacy}");
}

#[test]
fn an_empty_log_before_every_event_changes_nothing_in_pharmacy_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(dir.path(), &[]);
    let plain = pharmacy(Path::new(SCENARIO), &roster, &[]);
    plain.expect_code(0);
    let with = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &[
            "--log".as_ref(),
            log.as_os_str(),
            "--as-of".as_ref(),
            "2027-02-28".as_ref(),
        ],
    );
    with.expect_code(0);
    assert_eq!(plain.stdout, with.stdout);
    // Without --log every status is planned and the other new columns are empty.
    let (_, rows) = parse_csv(&plain.stdout);
    assert!(
        rows.iter().all(|r| r.status == "planned"
            && r.planned_amount.is_empty()
            && r.deviation.is_empty())
    );
}

#[test]
fn cohort_writes_deviations_intensity_and_the_record_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    // P1: dose 1 given 15% low (5,100,000 of 6,000,000), dose 2 missed. P2: exchange 1
    // given, exchanges 2 and 3 not recorded (overdue as of 03-08). Due by then: P1
    // 12,000,000 cells planned, 5,100,000 given: 42.5%. P2 6000 mL planned, 2000 given:
    // 33.3%.
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,5100000,thawing loss",
            "P1,2027-03-08,missed,uc_msc,2,,no product",
            "P2,2027-03-01,given,pe,1,,",
        ],
    );
    let out = dir.path().join("out");
    let made = run([
        "cohort".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--log".as_ref(),
        log.as_os_str(),
        "--as-of".as_ref(),
        "2027-03-08".as_ref(),
    ]);
    made.expect_code(0);
    let summary = made.out();
    assert!(
        summary.contains("as of 2027-03-08, dose intensity uc_msc 42.5%, plasma 33.3%"),
        "{summary}"
    );
    let trial = out.join("NCT01724398");
    let devs = std::fs::read_to_string(trial.join("deviations.csv")).unwrap();
    assert_eq!(
        devs,
        "patient_id,arm_id,component,occurrence,planned_date,date,scheduled_date,days_from_planned,days_from_scheduled,planned_amount,amount,unit,deviation,note\n\
         P1,msc,uc_msc,1,2027-03-01,2027-03-01,2027-03-01,0,0,6000000,5100000,cells,dose_low:-15%,thawing loss\n\
         P1,msc,uc_msc,2,2027-03-08,2027-03-08,2027-03-08,0,0,6000000,,cells,missed,no product\n\
         P2,pe,pe,2,2027-03-04,2027-03-04,2027-03-04,0,0,2000,,mL,overdue:4d,\n\
         P2,pe,pe,3,2027-03-07,2027-03-07,2027-03-07,0,0,2000,,mL,overdue:1d,\n"
    );
    let manifest = std::fs::read_to_string(trial.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"role\": \"administration record\""),
        "{manifest}"
    );
    assert!(manifest.contains("\"as_of\": \"2027-03-08\""), "{manifest}");
    let report = std::fs::read_to_string(trial.join("report.html")).unwrap();
    assert!(report.contains("Administration record"), "report");
    assert!(report.contains(", complete to 2027-03-08)"), "footer");
}

#[test]
fn weight_change_is_from_the_roster_weight_on_weight_and_dose_rows_alike() {
    // P1 is 60 kg on the roster, weighed 66 kg on 03-08 and 69 kg on 03-15. The second
    // weight is +15% from the roster's 60 kg (and +4.5% from the 66 kg before it): both
    // the weight row and the dose computed at it say +15%.
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-08,weight,,,66,",
            "P1,2027-03-08,given,uc_msc,2,,",
            "P1,2027-03-15,weight,,,69,",
            "P1,2027-03-15,given,uc_msc,3,,",
        ],
    );
    let out = dir.path().join("out");
    run([
        "cohort".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--log".as_ref(),
        log.as_os_str(),
        "--as-of".as_ref(),
        "2027-03-15".as_ref(),
    ])
    .expect_code(0);
    let devs = std::fs::read_to_string(out.join("NCT01724398/deviations.csv")).unwrap();
    let p1: Vec<&str> = devs.lines().filter(|l| l.starts_with("P1,")).collect();
    assert_eq!(
        p1,
        [
            "P1,msc,uc_msc,2,2027-03-08,2027-03-08,2027-03-08,0,0,6600000,6600000,cells,weight_change:+10%,",
            "P1,msc,weight,,,2027-03-08,,,,60,66,kg,weight_change:+10%,",
            "P1,msc,uc_msc,3,2027-03-15,2027-03-15,2027-03-15,0,0,6900000,6900000,cells,weight_change:+15%,",
            "P1,msc,weight,,,2027-03-15,,,,60,69,kg,weight_change:+15%,",
            "P1,msc,uc_msc,4,2027-03-22,2027-03-22,2027-03-22,0,0,,,cells,weight_change:+15%,",
        ],
        "{devs}"
    );
}

/// Each VEVENT of an .ics as UID -> (SEQUENCE, DTSTART, STATUS), read with the
/// `icalendar` crate's parser.
fn ics_events(text: &str) -> std::collections::BTreeMap<String, (u64, String, String)> {
    let unfolded = icalendar::parser::unfold(text);
    let cal = icalendar::parser::read_calendar(&unfolded).expect("the .ics parses");
    cal.components
        .iter()
        .filter(|c| c.name.as_str() == "VEVENT")
        .map(|c| {
            let get = |name: &str| {
                c.properties
                    .iter()
                    .find(|p| p.name.as_str() == name)
                    .map(|p| p.val.as_str().to_string())
                    .unwrap_or_default()
            };
            (
                get("UID"),
                (
                    get("SEQUENCE").parse().expect("a SEQUENCE"),
                    get("DTSTART"),
                    get("STATUS"),
                ),
            )
        })
        .collect()
}

#[test]
fn ics_updates_applied_by_uid_and_sequence_leave_the_re_projected_plan() {
    let dir = tempfile::tempdir().unwrap();
    let ics = |name: &str, rows: &[&str]| -> String {
        let log = write_file(dir.path(), &format!("{name}.csv"), &{
            let mut t = format!("{LOG_HEADER}\n");
            for r in rows {
                t.push_str(r);
                t.push('\n');
            }
            t
        });
        let run = calendar(
            SCENARIO,
            "msc",
            "60",
            "2027-03-01",
            &[
                "--format",
                "ics",
                "--patient",
                "P1",
                "--log",
                log.to_str().unwrap(),
            ],
        );
        run.expect_code(0);
        run.out()
    };
    // Week one; then dose 2 three days late (doses 3 and 4 move); then a withdrawal.
    let logs: [&[&str]; 3] = [
        &["P1,2027-03-01,given,uc_msc,1,,"],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-11,given,uc_msc,2,,",
        ],
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-11,given,uc_msc,2,,",
            "P1,2027-03-12,withdrawn,,,,",
        ],
    ];
    let files: Vec<String> = logs
        .iter()
        .enumerate()
        .map(|(k, l)| ics(&format!("log{k}"), l))
        .collect();
    // The first file in a calendar app, then each update applied over it.
    let mut app = ics_events(&files[0]);
    for f in &files[1..] {
        let update = ics_events(f);
        for (uid, new) in &update {
            let old = app.get(uid).cloned().expect("the same UIDs");
            assert!(new.0 >= old.0, "{uid}: SEQUENCE fell");
            if (new.1.as_str(), new.2.as_str()) != (old.1.as_str(), old.2.as_str()) {
                assert!(new.0 > old.0, "{uid}: changed without a higher SEQUENCE");
            }
            if new.0 > old.0 {
                app.insert(uid.clone(), new.clone());
            }
        }
        assert_eq!(app, update);
    }
    // What the calendar app holds at the end: dose 2 on its late date, 3 and 4 cancelled
    // on their re-projected dates, the visit cancelled.
    let shown: Vec<(String, String)> = app.values().map(|v| (v.1.clone(), v.2.clone())).collect();
    assert_eq!(
        shown,
        [
            ("20270301".to_string(), String::new()),
            ("20270311".to_string(), String::new()),
            ("20270318".to_string(), "CANCELLED".to_string()),
            ("20270325".to_string(), "CANCELLED".to_string()),
            ("20280131".to_string(), "CANCELLED".to_string()),
        ]
    );
    assert!(
        files[2].contains("DTSTAMP:20270312T000000Z"),
        "stamped by the as-of date"
    );
}

mod sequence {
    //! A longer record never lowers an event's iCalendar SEQUENCE, and raises it whenever
    //! the event's date or status changes: checked over random courses, each record a
    //! prefix of the next (as a log grows day by day).

    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::LazyLock;

    use chrono::{Days, NaiveDate};
    use proptest::prelude::*;

    use dosesim::export::Recorded;
    use dosesim::model::{Kg, Trial};
    use dosesim::roster::{Entry, Roster};
    use dosesim::schedule::{Expand, Origin, Plan};

    static TRIAL: LazyLock<Trial> = LazyLock::new(|| {
        dosesim::scenario::load(&super::root().join(super::SCENARIO)).expect("bundled")
    });

    fn roster(arm: u16, start: NaiveDate) -> Roster {
        Roster {
            entries: vec![Entry {
                id: "P1".into(),
                weight_kg: "60".parse().unwrap(),
                start,
                line: 2,
                arm,
                site: None,
            }],
            by_id: vec![0],
            warnings: Vec::new(),
            id_warnings: Vec::new(),
            date_warnings: Vec::new(),
            sites: Vec::new(),
            site_warnings: Vec::new(),
        }
    }

    /// (uid key, occurrence) -> (SEQUENCE, date, status) of every event after `rows`.
    fn state(
        arm: u16,
        start: NaiveDate,
        rows: &[String],
    ) -> BTreeMap<(String, u32), (u64, NaiveDate, &'static str)> {
        let trial = &*TRIAL;
        let roster = roster(arm, start);
        let text = format!("{}\n{}", super::LOG_HEADER, rows.join("\n"));
        let log = dosesim::record::parse(
            Path::new("log.csv"),
            text.into_bytes(),
            trial,
            &roster,
            None,
            false,
        )
        .unwrap_or_else(|e| panic!("{e}\n{rows:?}"));
        let plan = Plan::new(trial, &trial.arms[usize::from(arm)]);
        let pl = log.patient(0);
        let fixes = plan.fixes(start, None, &pl);
        let placement = (!fixes.is_empty()).then(|| plan.place_on(start, None, &fixes).unwrap());
        let mut events = Vec::new();
        let how = Expand::new(Kg::from_f64(60.0), start)
            .placed(placement.as_ref().map(|p| p.slots()))
            .record(&pl, log.as_of);
        plan.expand(&how, &mut events).unwrap();
        let rec = Recorded {
            as_of: log.as_of,
            rows: pl.records.len(),
        };
        let arm = &trial.arms[usize::from(arm)];
        events
            .iter()
            .filter_map(|e| {
                let id = match e.origin {
                    Origin::Component(c) => arm.components[c].id.clone(),
                    Origin::Visit(v) => arm.visits[v].id.clone(),
                    Origin::Background(_) => return None,
                };
                Some((
                    (id, e.occurrence),
                    (rec.sequence(e.status), e.date, e.status.as_str()),
                ))
            })
            .collect()
    }

    /// A course as log rows in date order: each dose given (or missed) 5 to 10 days after
    /// the one before, maybe a weight, maybe a withdrawal at the end.
    fn course() -> impl Strategy<Value = (u16, Vec<String>)> {
        (
            prop::sample::select(vec![1u16, 2]),
            prop::collection::vec((5u64..=10, any::<bool>(), 0u8..10), 1..=4),
            any::<bool>(),
        )
            .prop_map(|(arm, doses, withdraw)| {
                let start = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
                let (id, step) = if arm == 1 { ("uc_msc", 7) } else { ("pe", 3) };
                let max = if arm == 1 { 4 } else { 3 };
                let mut date = start;
                let mut rows = Vec::new();
                for (k, (gap, given, weight)) in doses.iter().take(max).enumerate() {
                    if k > 0 {
                        date = date + Days::new(gap * step / 7);
                    }
                    if *weight == 0 {
                        rows.push(format!("P1,{date},weight,,,{},", 55 + k));
                    }
                    let kind = if *given { "given" } else { "missed" };
                    rows.push(format!("P1,{date},{kind},{id},{},,", k + 1));
                }
                if withdraw {
                    date = date + Days::new(1);
                    rows.push(format!("P1,{date},withdrawn,,,,"));
                }
                (arm, rows)
            })
    }

    proptest! {
        #[test]
        fn a_longer_log_never_lowers_a_sequence((arm, rows) in course()) {
            let start = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
            let mut before = state(arm, start, &[]);
            for k in 1..=rows.len() {
                let after = state(arm, start, &rows[..k]);
                for (uid, new) in &after {
                    let old = &before[uid];
                    prop_assert!(new.0 >= old.0, "{uid:?}: {old:?} -> {new:?}");
                    if (new.1, new.2) != (old.1, old.2) {
                        prop_assert!(new.0 > old.0, "{uid:?} changed: {old:?} -> {new:?}");
                    }
                }
                before = after;
            }
        }
    }
}

#[test]
fn pharmacy_csv_with_a_record_is_every_patient_calendar_in_date_order() {
    // The stream takes a patient's day from the plan when the record changes no amount
    // (P1: late, re-projected; P3: on time), and from the whole calendar when it does
    // (P2: missed; P4: re-weighed; P5: withdrawn; P6: an amount of its own). Each way,
    // its rows are the patient's own calendar's, on a site calendar or not.
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\n\
         P1,msc,60,2027-03-01,weekends\n\
         P2,pe,61,2027-03-02,\n\
         P3,msc-pe,62,2027-03-03,weekends\n\
         P4,msc,63,2027-03-01,\n\
         P5,msc-pe,64,2027-03-02,weekends\n\
         P6,msc,65,2027-03-03,\n",
    );
    let log = write_log(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-10,given,uc_msc,2,,",
            "P2,2027-03-02,given,pe,1,,",
            "P2,2027-03-05,missed,pe,2,,",
            "P3,2027-03-03,given,pe,1,,",
            "P3,2027-03-03,given,uc_msc,1,,",
            "P4,2027-03-01,given,uc_msc,1,,",
            "P4,2027-03-05,weight,,,70,",
            "P5,2027-03-02,given,pe,1,,",
            "P5,2027-03-04,withdrawn,,,,",
            "P6,2027-03-03,given,uc_msc,1,6000000,",
        ],
    );
    let a = |p: &Path| p.as_os_str().to_owned();
    let stream = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &[
            "--log".as_ref(),
            &a(&log),
            "--as-of".as_ref(),
            "2027-03-12".as_ref(),
        ],
    );
    stream.expect_code(0);
    let (_, streamed) = parse_csv(&stream.stdout);
    let mut from_calendars = Vec::new();
    for (id, arm, w, start, site) in [
        ("P1", "msc", "60", "2027-03-01", Some("weekends")),
        ("P2", "pe", "61", "2027-03-02", None),
        ("P3", "msc-pe", "62", "2027-03-03", Some("weekends")),
        ("P4", "msc", "63", "2027-03-01", None),
        ("P5", "msc-pe", "64", "2027-03-02", Some("weekends")),
        ("P6", "msc", "65", "2027-03-03", None),
    ] {
        let log = log.to_str().unwrap();
        let mut extra = vec![
            "--format",
            "csv",
            "--patient",
            id,
            "--log",
            log,
            "--as-of",
            "2027-03-12",
        ];
        if let Some(s) = site {
            extra.extend(["--site", s]);
        }
        let run = calendar(SCENARIO, arm, w, start, &extra);
        run.expect_code(0);
        from_calendars.extend(parse_csv(&run.stdout).1);
    }
    from_calendars.sort_by(|a, b| {
        (
            &a.date,
            &a.patient_id,
            a.order_in_day.parse::<u32>().unwrap(),
        )
            .cmp(&(
                &b.date,
                &b.patient_id,
                b.order_in_day.parse::<u32>().unwrap(),
            ))
    });
    assert_eq!(streamed.len(), from_calendars.len());
    for (s, c) in streamed.iter().zip(&from_calendars) {
        assert_eq!(s, c);
    }
}

#[test]
fn a_large_log_checked_in_parallel_slices_names_the_right_lines() {
    // Over 1 MB without quotes: split at line ends and checked in parallel. Two bad rows,
    // one early and one late, keep their own line numbers.
    let dir = tempfile::tempdir().unwrap();
    let n = 12_000;
    let roster_rows: Vec<String> = (0..n)
        .map(|i| format!("P{i:05},msc,60,2027-03-01"))
        .collect();
    let refs: Vec<&str> = roster_rows.iter().map(String::as_str).collect();
    let roster = write_roster(dir.path(), "r.csv", &refs);
    let mut text = format!("{LOG_HEADER}\n");
    for i in 0..n {
        for (k, d) in [(1, "01"), (2, "08"), (3, "15")] {
            let occurrence = if (i == 7 && k == 2) || (i == n - 3 && k == 1) {
                9
            } else {
                k
            };
            text.push_str(&format!(
                "P{i:05},2027-03-{d},given,uc_msc,{occurrence},,\n"
            ));
        }
    }
    assert!(text.len() > 1 << 20);
    let log = write_file(dir.path(), "big.csv", &text);
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(2);
    let err = run.err();
    // Patient 7's second row is line 1 + 7 x 3 + 2; patient n - 3's first, 1 + (n - 3) x 3 + 1.
    for line in [1 + 7 * 3 + 2, 1 + (n - 3) * 3 + 1] {
        assert!(
            err.contains(&format!(
                "big.csv:{line}: occurrence: occurrence '9' is out of range"
            )),
            "line {line}:\n{err}"
        );
    }
    assert!(err.contains("2 problems:"), "{err}");
}

#[test]
fn a_folder_made_before_the_record_is_the_same_job_and_is_replaced() {
    // The daily routine: a cohort folder made from the roster, then again with the record
    // as it grows. No --force is needed; the manifest names the newest record.
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(dir.path(), &["P1,2027-03-01,given,uc_msc,1,,"]);
    let out = dir.path().join("out");
    cohort(Path::new(SCENARIO), &roster, &out).expect_code(0);
    assert!(!out.join("NCT01724398/deviations.csv").exists());
    let with = |log: &Path| {
        run([
            "cohort".as_ref(),
            SCENARIO.as_ref(),
            "--roster".as_ref(),
            roster.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--log".as_ref(),
            log.as_os_str(),
        ])
    };
    with(&log).expect_code(0);
    assert!(out.join("NCT01724398/deviations.csv").exists());
    let log2 = write_file(
        dir.path(),
        "log2.csv",
        &format!("{LOG_HEADER}\nP1,2027-03-01,given,uc_msc,1,,\nP1,2027-03-08,given,uc_msc,2,,\n"),
    );
    with(&log2).expect_code(0);
    let manifest = std::fs::read_to_string(out.join("NCT01724398/manifest.json")).unwrap();
    assert!(manifest.contains("log2.csv"), "{manifest}");
    assert!(manifest.contains("\"as_of\": \"2027-03-08\""), "{manifest}");
}

#[test]
fn a_weight_outside_the_usual_range_is_warned_about_with_its_line() {
    // 150 "kg" is 68 kg typed in pounds: within the hard limits, outside NCT01724398's
    // usual 40-110 kg, so the run goes on and says so (doses at 150 kg: 15,000,000 cells).
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-02,weight,,,150,",
        ],
    );
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(0);
    let want = format!(
        "warning: {}:3: patient P1: weight 150 kg is outside this scenario's usual range",
        log.display()
    );
    assert!(run.err().contains(&want), "{}", run.err());
    // And it is a big change from the roster's 60 kg: warned about too.
    assert!(
        run.err()
            .contains("patient P1: weight 150 kg is +150% from 60 kg"),
        "{}",
        run.err()
    );
    let (_, rows) = parse_csv(&run.stdout);
    let dose2 = rows
        .iter()
        .find(|r| r.event == "uc_msc" && r.occurrence == "2")
        .unwrap();
    assert_eq!(
        (dose2.weight_kg.as_str(), dose2.dose.as_str()),
        ("150", "15000000")
    );
}

#[test]
fn a_row_with_more_fields_than_the_header_is_refused_whole() {
    // An unquoted 2,000 mL would read as 2 mL; a withdrawal typed after the note would
    // be dropped. Both rows are refused with their lines.
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,,withdrawn",
            "P2,2027-03-01,given,pe,1,2,000,",
        ],
    );
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(2);
    let err = run.err();
    for line in [2, 3] {
        assert!(
            err.contains(&format!(
                "{}:{line}: 8 fields where the header has 7",
                log.display()
            )),
            "{err}"
        );
    }
    assert!(!err.contains("part."), "{err}");
    assert_eq!(run.out(), "");
}

#[test]
fn a_calendar_for_a_patient_the_log_does_not_name_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path(), &["P1,2027-03-01,given,uc_msc,1,,"]);
    let run = calendar(
        SCENARIO,
        "msc",
        "60",
        "2027-03-01",
        &[
            "--format",
            "csv",
            "--patient",
            "p1",
            "--log",
            log.to_str().unwrap(),
        ],
    );
    run.expect_code(0);
    assert!(
        run.err().contains("has no rows for patient p1"),
        "{}",
        run.err()
    );
}

/// `dosesim cohort` of NCT01724398 with `roster` into `out`, plus `extra` (`--log`, ...).
fn cohort_with(roster: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "cohort".to_string(),
        SCENARIO.to_string(),
        "--roster".to_string(),
        roster.display().to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(args)
}

/// A log named `name` in `dir` with `rows` under the header.
fn log_named(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    let mut text = format!("{LOG_HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    write_file(dir, name, &text)
}

/// The trial folder's stderr without the warnings every run of it prints.
fn errors(run: &Run) -> String {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("error") || l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_rerun_without_the_record_is_refused_and_the_folder_kept() {
    // P1 died on 03-09 after their first dose: doses 2-4 and the visit are cancelled. A
    // rerun without the record would bring them back as appointments.
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &["P1,2027-03-01,given,uc_msc,1,,", "P1,2027-03-09,died,,,,"],
    );
    let out = dir.path().join("out");
    let log_arg = log.display().to_string();
    cohort_with(&roster, &out, &["--log", &log_arg]).expect_code(0);
    let trial = out.join("NCT01724398");
    // The folder keeps the record it was made from, byte for byte, as a file of its own.
    assert_eq!(
        std::fs::read(trial.join("record.csv")).unwrap(),
        std::fs::read(&log).unwrap()
    );
    let manifest = std::fs::read_to_string(trial.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"record.csv\""), "{manifest}");
    let before = tree(&out);

    let again = cohort_with(&roster, &out, &[]);
    again.expect_code(2);
    assert_eq!(
        errors(&again),
        format!(
            "error: {}: made with the administration record {} as of 2027-03-09 (kept as {}), and this run has none (give it with --log): every dose given, missed or cancelled would show planned again, in every file and calendar. Run it with that record or a later one, or add --force to replace the folder anyway",
            trial.display(),
            log.display(),
            trial.join("record.csv").display()
        )
    );
    assert!(again.stdout.is_empty());
    assert_same_tree(&before, &tree(&out), "after the refused rerun");
}

#[test]
fn a_rerun_with_an_older_record_names_its_first_missing_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "P1,2027-03-01,given,uc_msc,1,5100000,thawing loss",
        "P2,2027-03-01,given,pe,1,,",
        "P1,2027-03-08,given,uc_msc,2,,",
        "P2,2027-03-04,missed,pe,2,,\"no slot, unit down\"",
    ];
    let (roster, log) = cohort_files(dir.path(), &rows);
    let out = dir.path().join("out");
    let log_arg = log.display().to_string();
    cohort_with(&roster, &out, &["--log", &log_arg]).expect_code(0);
    let trial = out.join("NCT01724398");
    let copy = trial.join("record.csv");
    let before = tree(&out);

    // Last week's record: the last two rows are not in it. The first missing one is named
    // by its line in the folder's copy and its text, with how many more there are.
    let older = log_named(dir.path(), "older.csv", &rows[..2]);
    let refused = cohort_with(&roster, &out, &["--log", older.to_str().unwrap()]);
    refused.expect_code(2);
    assert_eq!(
        errors(&refused),
        format!(
            "error: {}:4: this row of the administration record {} was made from is not in {} (and 1 more of its rows): P1,2027-03-08,given,uc_msc,2,,. A record is only ever added to (a correction is a new row), and replacing the folder would roll its history back: run with a record that holds every row of this one, or add --force to replace the folder anyway",
            copy.display(),
            trial.display(),
            older.display()
        )
    );
    assert_same_tree(&before, &tree(&out), "after the refused rerun");

    // A row rewritten in place (the low dose "corrected" to the planned one) is a row
    // missing, and so is a quoted note whose words changed.
    let rewritten = log_named(
        dir.path(),
        "rewritten.csv",
        &[
            "P1,2027-03-01,given,uc_msc,1,,thawing loss",
            rows[1],
            rows[2],
            "P2,2027-03-04,missed,pe,2,,\"no slot; unit down\"",
        ],
    );
    let refused = cohort_with(&roster, &out, &["--log", rewritten.to_str().unwrap()]);
    refused.expect_code(2);
    let err = errors(&refused);
    assert!(
        err.starts_with(&format!("error: {}:2: ", copy.display())),
        "{err}"
    );
    assert!(
        err.contains(
            "(and 1 more of its rows): P1,2027-03-01,given,uc_msc,1,5100000,thawing loss."
        ),
        "{err}"
    );
    assert_same_tree(&before, &tree(&out), "after the second refused rerun");
}

#[test]
fn the_same_or_a_grown_record_replaces_the_folder_however_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "P1,2027-03-01,given,uc_msc,1,5100000,thawing loss",
        "P2,2027-03-01,given,pe,1,,",
        "P2,2027-03-04,missed,pe,2,,\"no slot, unit down\"",
    ];
    let (roster, log) = cohort_files(dir.path(), &rows);
    let out = dir.path().join("out");
    let log_arg = log.display().to_string();
    cohort_with(&roster, &out, &["--log", &log_arg]).expect_code(0);
    let trial = out.join("NCT01724398");
    // The same rows as a spreadsheet might save them: a byte-order mark, columns in
    // another order, rows in another order, spaces around values, quotes, CRLF line ends
    // and a blank line. Compared field by field, every row is there.
    let resaved = write_file(
        dir.path(),
        "resaved.csv",
        "\u{feff}date,patient_id,record,component,occurrence,amount,note\r\n\
         2027-03-04,P2,missed,pe,2,,\"no slot, unit down\"\r\n\
         \r\n\
         \"2027-03-01\", P1 ,given,uc_msc,1,5100000,  thawing loss\r\n\
         2027-03-01,P2,given,pe,1,,\r\n",
    );
    cohort_with(&roster, &out, &["--log", resaved.to_str().unwrap()]).expect_code(0);
    assert_eq!(
        std::fs::read(trial.join("record.csv")).unwrap(),
        std::fs::read(&resaved).unwrap(),
        "the copy is the record this run was made from"
    );
    // A week later, grown by a row: the daily routine, no --force.
    let grown = log_named(
        dir.path(),
        "grown.csv",
        &[rows[0], rows[1], rows[2], "P1,2027-03-08,given,uc_msc,2,,"],
    );
    let made = cohort_with(&roster, &out, &["--log", grown.to_str().unwrap()]);
    made.expect_code(0);
    assert!(!made.stderr.contains("--force"), "{}", made.stderr);
    assert_eq!(
        std::fs::read(trial.join("record.csv")).unwrap(),
        std::fs::read(&grown).unwrap()
    );
}

#[test]
fn an_earlier_as_of_is_a_roll_back_too() {
    // Made as of 03-10 from a record whose last row is 03-08: P2's exchange 3 (03-07) is
    // overdue. Rerun without --as-of, the record would be as of 03-08 again.
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P1,2027-03-08,given,uc_msc,2,,",
        ],
    );
    let out = dir.path().join("out");
    let log_arg = log.display().to_string();
    cohort_with(&roster, &out, &["--log", &log_arg, "--as-of", "2027-03-10"]).expect_code(0);
    let trial = out.join("NCT01724398");
    let before = tree(&out);
    let refused = cohort_with(&roster, &out, &["--log", &log_arg]);
    refused.expect_code(2);
    assert_eq!(
        errors(&refused),
        format!(
            "error: {}: as of 2027-03-08, before 2027-03-10, the day the record {} was made with is complete to: the statuses of the days between would roll back (a dose due then would show planned again). Use --as-of 2027-03-10 or later, or add --force to replace the folder anyway",
            log.display(),
            trial.display()
        )
    );
    assert_same_tree(&before, &tree(&out), "after the refused rerun");
    cohort_with(&roster, &out, &["--log", &log_arg, "--as-of", "2027-03-10"]).expect_code(0);
    cohort_with(&roster, &out, &["--log", &log_arg, "--as-of", "2027-03-12"]).expect_code(0);
}

#[test]
fn a_forced_roll_back_raises_every_sequence_so_calendar_apps_apply_it() {
    // The trial's calendar.ics (every patient's events) imported once, then each later
    // folder's applied over it by UID and SEQUENCE, as a calendar app does: after each, the
    // app must hold exactly the newer file's events, forced roll-backs included.
    let dir = tempfile::tempdir().unwrap();
    let week1 = [
        "P1,2027-03-01,given,uc_msc,1,,",
        "P2,2027-03-01,given,pe,1,,",
    ];
    let (roster, log1) = cohort_files(dir.path(), &week1);
    let log2 = log_named(
        dir.path(),
        "week2.csv",
        &[
            week1[0],
            week1[1],
            "P2,2027-03-04,given,pe,2,,",
            "P1,2027-03-08,given,uc_msc,2,,",
            "P1,2027-03-09,died,,,,",
        ],
    );
    let (log1, log2) = (log1.to_str().unwrap(), log2.to_str().unwrap());
    let out = dir.path().join("out");
    let calendar = out.join("NCT01724398/calendar.ics");
    let read = || std::fs::read_to_string(&calendar).unwrap();
    let manifest = || std::fs::read_to_string(out.join("NCT01724398/manifest.json")).unwrap();
    let mut app = std::collections::BTreeMap::new();
    let mut apply = |file: &str, what: &str| {
        let update = ics_events(file);
        if app.is_empty() {
            app = update;
            return;
        }
        assert_eq!(
            app.keys().collect::<Vec<_>>(),
            update.keys().collect::<Vec<_>>(),
            "{what}: the same UIDs"
        );
        for (uid, new) in &update {
            let old = app[uid].clone();
            assert!(new.0 >= old.0, "{what}: {uid}: SEQUENCE fell");
            if (&new.1, &new.2) != (&old.1, &old.2) {
                assert!(
                    new.0 > old.0,
                    "{what}: {uid} changed without a higher SEQUENCE"
                );
            }
            if new.0 > old.0 {
                app.insert(uid.clone(), new.clone());
            }
        }
        assert_eq!(app, update, "{what}: the app holds the newer plan");
    };
    let cancelled = |text: &str| text.matches("STATUS:CANCELLED").count();

    cohort_with(&roster, &out, &["--log", log1]).expect_code(0);
    apply(&read(), "week 1");
    cohort_with(&roster, &out, &["--log", log2]).expect_code(0);
    let dead = read();
    // P1's doses 3 and 4 and visit cancelled by the death.
    assert_eq!(cancelled(&dead), 3, "{dead}");
    apply(&dead, "week 2");
    // The highest SEQUENCE (P1's three rows: 6) is in the manifest.
    let highest = ics_events(&dead).values().map(|v| v.0).max().unwrap();
    assert_eq!(highest, 6);
    assert!(
        manifest().contains(&format!("\"sequence_max\": {highest}")),
        "{}",
        manifest()
    );

    // Without the record, forced: the dead patient's infusions are appointments again, as
    // asked, and every SEQUENCE is above the 6 the folder had.
    let forced = cohort_with(&roster, &out, &["--force"]);
    forced.expect_code(0);
    assert!(
        forced.warnings().iter().any(|w| w.starts_with(&format!(
            "warning: --force: {} is replaced although this rolls its history back (this run has no administration record); every event in its calendar files gets a SEQUENCE of 7 or more, above the 6 it had",
            out.join("NCT01724398").display()
        ))),
        "{}",
        forced.stderr
    );
    let planned = read();
    assert_eq!(cancelled(&planned), 0);
    assert!(!out.join("NCT01724398/record.csv").exists());
    apply(&planned, "forced, without the record");
    assert!(
        manifest().contains("\"sequence_base\": 7"),
        "{}",
        manifest()
    );

    // A folder without a record takes one again without --force, and keeps the base.
    cohort_with(&roster, &out, &["--log", log2]).expect_code(0);
    apply(&read(), "week 2 again");
    // Back to week 1, forced: the death is undone; SEQUENCEs rise again.
    let forced = cohort_with(&roster, &out, &["--log", log1, "--force"]);
    forced.expect_code(0);
    assert!(
        forced.stderr.contains("warning: --force: "),
        "{}",
        forced.stderr
    );
    apply(&read(), "forced back to week 1");
    // And week 2 once more: the daily routine, no --force.
    cohort_with(&roster, &out, &["--log", log2]).expect_code(0);
    apply(&read(), "week 2, a third time");
    assert_eq!(cancelled(&read()), 3);
}

/// Makes the trial folder under `out` look as an earlier dosesim left it: no copy of the
/// record and no highest SEQUENCE in the manifest.
fn as_made_before_copies(out: &Path) {
    let trial = out.join("NCT01724398");
    std::fs::remove_file(trial.join("record.csv")).unwrap();
    let path = trial.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let o = m.as_object_mut().unwrap();
    o.remove("sequence_max");
    o["files"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f != "record.csv");
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

#[test]
fn a_folder_an_earlier_dosesim_made_is_checked_against_its_record_while_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "P1,2027-03-01,given,uc_msc,1,,",
        "P1,2027-03-08,given,uc_msc,2,,",
    ];
    let (roster, log) = cohort_files(dir.path(), &rows);
    let out = dir.path().join("out");
    let log_arg = log.display().to_string();
    cohort_with(&roster, &out, &["--log", &log_arg]).expect_code(0);
    as_made_before_copies(&out);
    // The record the manifest names still has its bytes: it stands in for the copy.
    let older = log_named(dir.path(), "older.csv", &rows[..1]);
    let refused = cohort_with(&roster, &out, &["--log", older.to_str().unwrap()]);
    refused.expect_code(2);
    assert!(
        errors(&refused).starts_with(&format!(
            "error: {}:3: this row of the administration record",
            log.display()
        )),
        "{}",
        refused.stderr
    );
    // Forced without a record: the SEQUENCEs rise above the highest in its calendar.ics.
    let calendar = std::fs::read_to_string(out.join("NCT01724398/calendar.ics")).unwrap();
    let highest = ics_events(&calendar).values().map(|v| v.0).max().unwrap();
    cohort_with(&roster, &out, &["--force"]).expect_code(0);
    let manifest = std::fs::read_to_string(out.join("NCT01724398/manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!("\"sequence_base\": {}", highest + 1)),
        "{manifest}"
    );

    // Once the record has changed, the rows of the one it was made from are gone: said,
    // not refused (only the as-of date can still be held to).
    cohort_with(&roster, &out, &["--log", &log_arg]).expect_code(0);
    as_made_before_copies(&out);
    log_named(
        dir.path(),
        "log.csv",
        &[rows[0], rows[1], "P2,2027-03-01,given,pe,1,,"],
    );
    let older = older.to_str().unwrap();
    cohort_with(&roster, &out, &["--log", older]).expect_code(2);
    let made = cohort_with(&roster, &out, &["--log", older, "--as-of", "2027-03-08"]);
    made.expect_code(0);
    assert!(
        made.warnings().iter().any(|w| w.contains(&format!(
            "which has changed since and of which the folder keeps no copy (made by an earlier dosesim): whether {older} holds its every row cannot be checked"
        ))),
        "{}",
        made.stderr
    );
}

#[test]
fn a_file_of_yours_named_record_csv_is_kept_and_said_before_any_work() {
    // A folder made before the first record, where someone kept their own record.csv.
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(dir.path(), &["P1,2027-03-01,given,uc_msc,1,,"]);
    let out = dir.path().join("out");
    cohort(Path::new(SCENARIO), &roster, &out).expect_code(0);
    let mine = out.join("NCT01724398/record.csv");
    std::fs::write(&mine, "my own notes\n").unwrap();
    let before = tree(&out);
    let refused = cohort_with(&roster, &out, &["--log", log.to_str().unwrap()]);
    refused.expect_code(2);
    assert_eq!(
        errors(&refused),
        format!(
            "error: {}: not dosesim's (the folder's manifest does not list it), and this run keeps the administration record it is made from under that name: move it, then run again",
            mine.display()
        )
    );
    assert_same_tree(&before, &tree(&out), "after the refused run");
}

/// A record row dated 9999-12-31 re-projects the doses and visits after it past the last
/// date the outputs can show: every command refuses it with the record's file, the row's
/// line and field `date` (they panicked, or named `amount` and no line), on a site
/// calendar or not.
#[test]
fn a_row_dated_9999_12_31_is_refused_by_every_command_with_its_line() {
    for site in ["", ",GZ-SYSU3"] {
        let dir = tempfile::tempdir().unwrap();
        let header = if site.is_empty() {
            "patient_id,arm,weight_kg,start_date"
        } else {
            "patient_id,arm,weight_kg,start_date,site"
        };
        // Day 1 on 9999-01-20: the week-48 visit (day 337) falls on 9999-12-22, inside the
        // calendar, until the first dose recorded on 9999-12-31 pushes it 345 days on.
        let roster = write_file(
            dir.path(),
            "r.csv",
            &format!("{header}\nA,msc,60,9999-01-20{site}\n"),
        );
        let log = write_log(dir.path(), &["A,9999-12-31,given,uc_msc,1,,"]);
        let (r, l) = (roster.to_str().unwrap(), log.to_str().unwrap());
        let out = dir.path().join("out");
        let o = out.to_str().unwrap();
        for args in [
            vec!["pharmacy", SCENARIO, "--roster", r, "--log", l],
            vec!["prep", SCENARIO, "--roster", r, "--log", l],
            vec!["cohort", SCENARIO, "--roster", r, "--log", l, "--out", o],
            vec![
                "calendar",
                SCENARIO,
                "--roster",
                r,
                "--patient",
                "A",
                "--log",
                l,
            ],
            vec![
                "pharmacy",
                SCENARIO,
                "--roster",
                r,
                "--log",
                l,
                "--as-of",
                "9999-12-31",
            ],
        ] {
            let run = run(&args);
            run.expect_code(2);
            let err = run.err();
            assert!(
                err.contains(&format!("{l}:2: date: patient A: from 9999-12-31 on"))
                    && err.contains("runs past the calendar"),
                "{args:?}:\n{err}"
            );
            assert!(!err.contains("panicked"), "{err}");
            assert!(run.stdout.is_empty());
        }
        assert!(!out.exists());
    }
}

/// A weight row dated before the patient's day 1, the last row of the record, is refused
/// with its line (its weight was kept for a row that was not, and the reader panicked).
#[test]
fn a_weight_row_before_day_1_is_refused_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (roster, log) = cohort_files(
        dir.path(),
        &[
            "P1,2027-03-01,given,uc_msc,1,,",
            "P2,2027-02-01,weight,,,61,",
        ],
    );
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(2);
    assert!(
        run.err().contains(&format!(
            "{}:3: date: 2027-02-01 is before patient P2's study day 1 (2027-03-01)",
            log.display()
        )),
        "{}",
        run.err()
    );
    assert!(!run.err().contains("panicked"), "{}", run.err());
}

/// Past 200 problems the rest are counted: "... and N more problems" is the last line,
/// after the listed ones in line order (it came first).
#[test]
fn the_count_of_problems_not_listed_comes_last() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..260)
        .map(|_| "P1,2027-03-01,sold,,,,".to_string())
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let (roster, log) = cohort_files(dir.path(), &rows);
    let run = pharmacy(
        Path::new(SCENARIO),
        &roster,
        &["--log".as_ref(), log.as_os_str()],
    );
    run.expect_code(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let l = log.display().to_string();
    assert_eq!(lines[0], "error: 260 problems:", "{}", run.stderr);
    assert!(lines[1].starts_with(&format!("  {l}:2: record: unknown record 'sold'")));
    assert!(lines[200].starts_with(&format!("  {l}:201: record: ")));
    assert_eq!(lines[201], format!("  {l}: ... and 60 more problems"));
    assert_eq!(lines.len(), 202);
}

/// The record's header: a column named twice is refused naming both places; a file
/// saved with tabs between its columns is told so.
#[test]
fn a_record_header_with_a_column_twice_or_tabs_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (roster, _) = cohort_files(dir.path(), &[]);
    let twice = write_file(
        dir.path(),
        "twice.csv",
        &format!("{LOG_HEADER},patient_id\nP1,2027-03-01,given,uc_msc,1,,,P1\n"),
    );
    let tabs = write_file(
        dir.path(),
        "tabs.csv",
        &format!(
            "{}\nP1\t2027-03-01\tgiven\tuc_msc\t1\t\t\n",
            LOG_HEADER.replace(',', "\t")
        ),
    );
    for (log, words) in [
        (
            &twice,
            ":1: patient_id: column 'patient_id' is in the header 2 times: column 1 ('patient_id') and column 8 ('patient_id')",
        ),
        (&tabs, ":1: the file looks tab-separated"),
    ] {
        let run = pharmacy(
            Path::new(SCENARIO),
            &roster,
            &["--log".as_ref(), log.as_os_str()],
        );
        run.expect_code(2);
        assert!(
            run.err().contains(&format!("{}{words}", log.display())),
            "{}",
            run.err()
        );
    }
}
