//! `dosesim calendar` end to end: every arm of every bundled trial, run through the real
//! binary as CSV, checked row by row against calendars worked out by hand from the
//! registry records in shared/seeds/ and the project's decisions:
//!
//! - study day 1 is the start date, day N is start + (N - 1) days;
//! - "once a week, 4 times" is days 1, 8, 15, 22; "every 3 days, 3 times" is 1, 4, 7;
//!   "24 weeks apart" is days 1 and 169; week 48 is day 337; week 72 is day 505;
//! - calendar months count from the start date and clamp to the month's end;
//! - per-kg doses are rounded to whole cells.
//!
//! The dates and weekdays below were worked out with a calendar, not by the code under
//! test; several starts cross a year end (2026-12-30, 2027-12-30) or a leap day
//! (2028-02-25, 2028-02-27).

use crate::common::*;
use chrono::{Datelike, NaiveDate, Weekday};

/// The columns of a row that depend on the event, as the CSV writes them.
#[derive(Debug, Clone, PartialEq)]
struct Exp {
    date: String,
    study_day: String,
    weekday: String,
    order_in_day: String,
    kind: String,
    event: String,
    occurrence: String,
    occurrences: String,
    dose_per_kg: String,
    dose: String,
    dose_unit: String,
    cumulative_dose: String,
    volume_ml: String,
    product: String,
    assumed: String,
}

impl Exp {
    fn of(r: &CsvRow) -> Exp {
        Exp {
            date: r.date.clone(),
            study_day: r.study_day.clone(),
            weekday: r.weekday.clone(),
            order_in_day: r.order_in_day.clone(),
            kind: r.kind.clone(),
            event: r.event.clone(),
            occurrence: r.occurrence.clone(),
            occurrences: r.occurrences.clone(),
            dose_per_kg: r.dose_per_kg.clone(),
            dose: r.dose.clone(),
            dose_unit: r.dose_unit.clone(),
            cumulative_dose: r.cumulative_dose.clone(),
            volume_ml: r.volume_ml.clone(),
            product: r.product.clone(),
            assumed: r.assumed.clone(),
        }
    }
}

/// A dated slot of the calendar: date, study day, weekday, order within the day.
type At = (&'static str, u32, &'static str, u32);

fn undosed(at: At, kind: &str, event: &str, assumed: &str) -> Exp {
    Exp {
        date: at.0.into(),
        study_day: at.1.to_string(),
        weekday: at.2.into(),
        order_in_day: at.3.to_string(),
        kind: kind.into(),
        event: event.into(),
        occurrence: "1".into(),
        occurrences: "1".into(),
        dose_per_kg: String::new(),
        dose: String::new(),
        dose_unit: String::new(),
        cumulative_dose: String::new(),
        volume_ml: String::new(),
        product: String::new(),
        assumed: assumed.into(),
    }
}

/// Background treatment starting on the day `at`.
fn background(at: At, id: &str) -> Exp {
    undosed(at, "background", id, "")
}

/// Background treatment the record details for another arm only (marked assumed).
fn background_assumed(at: At, id: &str) -> Exp {
    undosed(at, "background", id, "background")
}

fn visit(at: At, id: &str, assumed: &str) -> Exp {
    undosed(at, "visit", id, assumed)
}

/// The regimen of one cell-infusion component, for [`Cells::at`].
struct Cells {
    event: &'static str,
    product: &'static str,
    /// Cells/kg when the dose is weight-based.
    per_kg: Option<u64>,
    /// Whole cells per dose.
    dose: u64,
    of: u32,
    volume_ml: &'static str,
    assumed: &'static str,
}

impl Cells {
    /// Occurrence `n` (1-based) on `at`; the running total is n doses.
    fn at(&self, at: At, n: u32) -> Exp {
        Exp {
            date: at.0.into(),
            study_day: at.1.to_string(),
            weekday: at.2.into(),
            order_in_day: at.3.to_string(),
            kind: "cell_infusion".into(),
            event: self.event.into(),
            occurrence: n.to_string(),
            occurrences: self.of.to_string(),
            dose_per_kg: self.per_kg.map(|k| k.to_string()).unwrap_or_default(),
            dose: self.dose.to_string(),
            dose_unit: "cells".into(),
            cumulative_dose: (self.dose * u64::from(n)).to_string(),
            volume_ml: self.volume_ml.into(),
            product: self.product.into(),
            assumed: self.assumed.into(),
        }
    }
}

/// NCT01724398 plasma exchange n of 3: "2000 milliliter plasma exchange (every 3 days,
/// 3 times)". Counted in mL, so the volume is the dose.
fn exchange(at: At, n: u32) -> Exp {
    let ml = 2000 * n;
    Exp {
        date: at.0.into(),
        study_day: at.1.to_string(),
        weekday: at.2.into(),
        order_in_day: at.3.to_string(),
        kind: "plasma_exchange".into(),
        event: "pe".into(),
        occurrence: n.to_string(),
        occurrences: "3".into(),
        dose_per_kg: String::new(),
        dose: "2000".into(),
        dose_unit: "mL".into(),
        cumulative_dose: ml.to_string(),
        volume_ml: "2000".into(),
        product: "plasma".into(),
        assumed: String::new(),
    }
}

/// Whole cells for `per_kg` cells/kg at `centi_kg` hundredths of a kg, exactly.
fn cells(per_kg: u64, centi_kg: u64) -> u64 {
    assert_eq!(
        per_kg * centi_kg % 100,
        0,
        "pick a weight giving whole cells"
    );
    per_kg * centi_kg / 100
}

/// Runs the calendar as CSV and checks it against `expected`, row for row, plus the
/// columns that are the same on every row.
fn check(
    scenario: &str,
    trial: &str,
    arm: &str,
    weight: &str,
    start: &str,
    expected: &[Exp],
) -> (Run, Vec<CsvRow>) {
    let run = calendar(scenario, arm, weight, start, &["--format", "csv"]);
    run.expect_code(0);
    let (header, rows) = parse_csv(&run.stdout);
    assert_eq!(&header[..20], &HEADER20[..]);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.patient_id, "patient", "row {i}: default patient id");
        assert_eq!(r.trial_id, trial, "row {i}");
        assert_eq!(r.arm_id, arm, "row {i}");
        assert_eq!(r.weight_kg, weight, "row {i}");
        assert_eq!(
            (r.window_start.as_str(), r.window_end.as_str()),
            ("", ""),
            "row {i}: no bundled visit has a window"
        );
    }
    let got: Vec<Exp> = rows.iter().map(Exp::of).collect();
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g, e, "{trial} {arm}: row {i}");
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "{trial} {arm}: number of rows; got {got:#?}"
    );
    (run, rows)
}

// ---------------------------------------------------------------------------------------
// NCT01724398 (seed 000): conventional / UC-MSC / PE / UC-MSC + PE, followed to week 48.
// "Received conventional treatment including antiviral drugs, lowering aminotransferase
// and jaundice medicine." is given in every arm from day 1; "followed until the week 48
// study visit" is day 337 (48 x 7 + 1).
// ---------------------------------------------------------------------------------------

const NCT01724398: &str = "scenarios/nct01724398.toml";

#[test]
fn nct01724398_conventional() {
    // Start 2027-12-30: the week 48 visit falls after the 2028 leap day.
    check(
        NCT01724398,
        "NCT01724398",
        "conventional",
        "70",
        "2027-12-30",
        &[
            background(("2027-12-30", 1, "Thu", 1), "conventional"),
            visit(("2028-11-30", 337, "Thu", 1), "week48", ""),
        ],
    );
}

#[test]
fn nct01724398_msc_weekly_four_times_across_the_leap_day() {
    // "(1×105/Kg, once a week, 4 times)": 1 x 10^5 cells/kg on days 1, 8, 15, 22.
    let uc = Cells {
        event: "uc_msc",
        product: "uc_msc",
        per_kg: Some(100_000),
        dose: cells(100_000, 5830), // 58.3 kg
        of: 4,
        volume_ml: "",
        assumed: "",
    };
    assert_eq!(uc.dose, 5_830_000);
    let (run, rows) = check(
        NCT01724398,
        "NCT01724398",
        "msc",
        "58.3",
        "2028-02-27",
        &[
            background(("2028-02-27", 1, "Sun", 1), "conventional"),
            uc.at(("2028-02-27", 1, "Sun", 2), 1),
            uc.at(("2028-03-05", 8, "Sun", 1), 2), // 2028-02-29 exists
            uc.at(("2028-03-12", 15, "Sun", 1), 3),
            uc.at(("2028-03-19", 22, "Sun", 1), 4),
            visit(("2029-01-28", 337, "Sun", 1), "week48", ""),
        ],
    );
    assert!(
        rows[1].note.contains("peripheral intravenous"),
        "{}",
        rows[1].note
    );
    assert!(rows[1].note.contains("over 30 min"), "{}", rows[1].note);
    assert!(run.warnings().is_empty(), "nothing assumed: {}", run.stderr);
}

#[test]
fn nct01724398_pe_every_three_days_across_the_year_end() {
    // "2000 milliliter plasma exchange (every 3 days, 3 times)": days 1, 4, 7.
    check(
        NCT01724398,
        "NCT01724398",
        "pe",
        "70",
        "2026-12-30",
        &[
            background(("2026-12-30", 1, "Wed", 1), "conventional"),
            exchange(("2026-12-30", 1, "Wed", 2), 1),
            exchange(("2027-01-02", 4, "Sat", 1), 2),
            exchange(("2027-01-05", 7, "Tue", 1), 3),
            visit(("2027-12-01", 337, "Wed", 1), "week48", ""),
        ],
    );
}

#[test]
fn nct01724398_msc_pe_exchange_comes_before_the_infusion() {
    // Exchanges on days 1, 4, 7; "1×105/Kg, once a week, 4 times ... the first two times
    // is taken after plasma exchange": the project reads this as infusions on days 1, 7,
    // 14, 21, the first two after that day's exchange (an assumed timing).
    let uc = Cells {
        event: "uc_msc",
        product: "uc_msc",
        per_kg: Some(100_000),
        dose: cells(100_000, 5830), // 58.3 kg
        of: 4,
        volume_ml: "",
        assumed: "timing",
    };
    let (run, rows) = check(
        NCT01724398,
        "NCT01724398",
        "msc-pe",
        "58.3",
        "2028-02-25",
        &[
            background(("2028-02-25", 1, "Fri", 1), "conventional"),
            exchange(("2028-02-25", 1, "Fri", 2), 1),
            uc.at(("2028-02-25", 1, "Fri", 3), 1),
            exchange(("2028-02-28", 4, "Mon", 1), 2),
            exchange(("2028-03-02", 7, "Thu", 1), 3), // through 2028-02-29
            uc.at(("2028-03-02", 7, "Thu", 2), 2),
            uc.at(("2028-03-09", 14, "Thu", 1), 3),
            uc.at(("2028-03-16", 21, "Thu", 1), 4),
            visit(("2029-01-26", 337, "Fri", 1), "week48", ""),
        ],
    );
    let infusions: Vec<&CsvRow> = rows.iter().filter(|r| r.event == "uc_msc").collect();
    let follows: Vec<bool> = infusions
        .iter()
        .map(|r| r.note.contains("given after the Plasma exchange that day"))
        .collect();
    assert_eq!(
        follows,
        [true, true, false, false],
        "only doses 1 and 2 follow"
    );
    let w = run.warnings();
    assert!(
        w.iter()
            .any(|l| l.contains("NCT01724398") && l.contains(": uc_msc timing (see dosesim show")),
        "the assumed timing must warn: {}",
        run.stderr
    );
}

#[test]
fn nct01724398_msc_pe_order_comes_from_after_not_file_order() {
    // The same arm with the infusion written before the exchange: `after = "pe"` must
    // still put the exchange first on days 1 and 7.
    let text = std::fs::read_to_string(root().join(NCT01724398)).unwrap();
    let arm = text.find("id = \"msc-pe\"").expect("msc-pe arm");
    let pe = arm + text[arm..].find("[[arms.components]]").expect("pe block");
    let uc = pe + text[pe..].find("# The ambiguity").expect("uc_msc block");
    let swapped = format!("{}{}\n{}", &text[..pe], &text[uc..], &text[pe..uc]);
    let (_dir, path) = temp_scenario("swapped.toml", &swapped);
    let run = calendar(
        path.to_str().unwrap(),
        "msc-pe",
        "70",
        "2026-12-30",
        &["--format", "csv"],
    );
    run.expect_code(0);
    let (_, rows) = parse_csv(&run.stdout);
    let days: Vec<(&str, &str, &str)> = rows
        .iter()
        .filter(|r| r.kind != "background" && r.kind != "visit")
        .map(|r| {
            (
                r.study_day.as_str(),
                r.order_in_day.as_str(),
                r.event.as_str(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("1", "2", "pe"),
            ("1", "3", "uc_msc"),
            ("4", "1", "pe"),
            ("7", "1", "pe"),
            ("7", "2", "uc_msc"),
            ("14", "1", "uc_msc"),
            ("21", "1", "uc_msc"),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// NCT02812121 (seed 001): UCB-MSC once a week for 8 or 4 weeks, or standard treatment.
// The record states no cell dose: 1 x 10^5 cells/kg is assumed and must warn.
// Background in every arm from day 1: standard medical treatment, "human serum albumin
// (10g per day until serum albumin was 35g/L)" and "plasma (200 ml to 400 ml per day until
// the international normalized ratio was less than 1.5)", in that order.
// ---------------------------------------------------------------------------------------

const NCT02812121: &str = "scenarios/nct02812121.toml";

/// Standard medical treatment is detailed under Group Control only: quoted there, and
/// assumed the same for the MSC groups.
fn nct02812121_background(date: &'static str, wd: &'static str) -> Vec<Exp> {
    vec![
        background_assumed((date, 1, wd, 1), "smt"),
        background_assumed((date, 1, wd, 2), "albumin"),
        background_assumed((date, 1, wd, 3), "plasma"),
    ]
}

fn nct02812121_control_background(date: &'static str, wd: &'static str) -> Vec<Exp> {
    vec![
        background((date, 1, wd, 1), "smt"),
        background((date, 1, wd, 2), "albumin"),
        background((date, 1, wd, 3), "plasma"),
    ]
}

fn assert_dose_assumed_warning(run: &Run, arm: &str) {
    assert!(
        run.warnings()
            .iter()
            .any(|l| l.contains("NCT02812121") && l.contains(": ucb_msc dose (see dosesim show")),
        "{arm}: the assumed dose must warn on stderr: {}",
        run.stderr
    );
}

#[test]
fn nct02812121_msc_8w_weekly_for_eight_weeks() {
    // "once a week for 8 weeks": days 1, 8, ..., 50.
    let ucb = Cells {
        event: "ucb_msc",
        product: "ucb_msc",
        per_kg: Some(100_000),
        dose: cells(100_000, 6250), // 62.5 kg
        of: 8,
        volume_ml: "",
        // The dose is assumed, and so is which product it is: the record calls it both
        // umbilical-cord and umbilical-cord-blood MSCs.
        assumed: "dose; product",
    };
    let mut expected = nct02812121_background("2027-12-30", "Thu");
    expected.extend([
        ucb.at(("2027-12-30", 1, "Thu", 4), 1),
        ucb.at(("2028-01-06", 8, "Thu", 1), 2),
        ucb.at(("2028-01-13", 15, "Thu", 1), 3),
        ucb.at(("2028-01-20", 22, "Thu", 1), 4),
        ucb.at(("2028-01-27", 29, "Thu", 1), 5),
        ucb.at(("2028-02-03", 36, "Thu", 1), 6),
        ucb.at(("2028-02-10", 43, "Thu", 1), 7),
        ucb.at(("2028-02-17", 50, "Thu", 1), 8),
    ]);
    let (run, _) = check(
        NCT02812121,
        "NCT02812121",
        "msc-8w",
        "62.5",
        "2027-12-30",
        &expected,
    );
    assert_dose_assumed_warning(&run, "msc-8w");
}

#[test]
fn nct02812121_msc_4w_weekly_for_four_weeks() {
    // "once a week for 4 weeks": days 1, 8, 15, 22, here across 2028-02-29.
    let ucb = Cells {
        event: "ucb_msc",
        product: "ucb_msc",
        per_kg: Some(100_000),
        dose: cells(100_000, 8170), // 81.7 kg
        of: 4,
        volume_ml: "",
        // The dose is assumed, and so is which product it is: the record calls it both
        // umbilical-cord and umbilical-cord-blood MSCs.
        assumed: "dose; product",
    };
    assert_eq!(ucb.dose, 8_170_000);
    let mut expected = nct02812121_background("2028-02-27", "Sun");
    expected.extend([
        ucb.at(("2028-02-27", 1, "Sun", 4), 1),
        ucb.at(("2028-03-05", 8, "Sun", 1), 2),
        ucb.at(("2028-03-12", 15, "Sun", 1), 3),
        ucb.at(("2028-03-19", 22, "Sun", 1), 4),
    ]);
    let (run, _) = check(
        NCT02812121,
        "NCT02812121",
        "msc-4w",
        "81.7",
        "2028-02-27",
        &expected,
    );
    assert_dose_assumed_warning(&run, "msc-4w");
}

#[test]
fn nct02812121_control_has_background_only() {
    let (run, _) = check(
        NCT02812121,
        "NCT02812121",
        "control",
        "62.5",
        "2026-05-15",
        &nct02812121_control_background("2026-05-15", "Fri"),
    );
    assert!(
        run.warnings().is_empty(),
        "the control arm uses no assumed value: {}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// NCT01573923 (seed 002): "(4x107/40ml, once per three months, four times in one year)":
// a fixed 4 x 10^7 cells in 40 mL, every 3 calendar months from day 1, 4 times.
// ---------------------------------------------------------------------------------------

const NCT01573923: &str = "scenarios/nct01573923.toml";

fn fixed_4e7() -> Cells {
    Cells {
        event: "uc_msc",
        product: "uc_msc",
        per_kg: None,
        dose: 4 * 10u64.pow(7),
        of: 4,
        volume_ml: "40",
        assumed: "",
    }
}

#[test]
fn nct01573923_conventional_has_background_only() {
    let (run, _) = check(
        NCT01573923,
        "NCT01573923",
        "conventional",
        "62.5",
        "2026-11-30",
        &[background(("2026-11-30", 1, "Mon", 1), "conventional")],
    );
    assert_eq!(run.stderr, "", "nothing assumed, nothing to warn");
}

#[test]
fn nct01573923_msc_every_three_months_clamps_to_month_end() {
    // 2026-11-30 + 3, 6, 9 months: 2027-02-28 (clamped), 2027-05-30, 2027-08-30: counted
    // from the start date, not chained from the clamped 28th.
    let uc = fixed_4e7();
    let (run, _) = check(
        NCT01573923,
        "NCT01573923",
        "msc",
        "62.5",
        "2026-11-30",
        &[
            background(("2026-11-30", 1, "Mon", 1), "conventional"),
            uc.at(("2026-11-30", 1, "Mon", 2), 1),
            uc.at(("2027-02-28", 91, "Sun", 1), 2),
            uc.at(("2027-05-30", 182, "Sun", 1), 3),
            uc.at(("2027-08-30", 274, "Mon", 1), 4),
        ],
    );
    assert_eq!(run.stderr, "", "nothing assumed, nothing to warn");
}

#[test]
fn nct01573923_msc_months_clamp_into_a_leap_february() {
    // From 2027-08-31: 2027-11-30 (30-day month), 2028-02-29 (leap year), 2028-05-31 (back
    // to the 31st: steps are not chained). The dose ignores the weight.
    let uc = fixed_4e7();
    check(
        NCT01573923,
        "NCT01573923",
        "msc",
        "95",
        "2027-08-31",
        &[
            background(("2027-08-31", 1, "Tue", 1), "conventional"),
            uc.at(("2027-08-31", 1, "Tue", 2), 1),
            uc.at(("2027-11-30", 92, "Tue", 1), 2),
            uc.at(("2028-02-29", 183, "Tue", 1), 3),
            uc.at(("2028-05-31", 275, "Wed", 1), 4),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// NCT05106972 (seed 003): "1*10^8 cells/dose, 2 doses (apart from 24weeks)": days 1 and
// 169 (24 x 7 + 1); "Changes from baseline to 72 weeks": a visit on day 505 (72 x 7 + 1).
// ---------------------------------------------------------------------------------------

#[test]
fn nct05106972_msc_two_fixed_doses_24_weeks_apart() {
    let uc = Cells {
        event: "uc_msc",
        product: "uc_msc",
        per_kg: None,
        dose: 10u64.pow(8),
        of: 2,
        volume_ml: "",
        assumed: "",
    };
    let (run, _) = check(
        "scenarios/nct05106972.toml",
        "NCT05106972",
        "msc",
        "45",
        "2027-12-30",
        &[
            uc.at(("2027-12-30", 1, "Thu", 1), 1),
            uc.at(("2028-06-15", 169, "Thu", 1), 2),
            visit(("2029-05-17", 505, "Thu", 1), "week72", "day"),
        ],
    );
    assert!(
        run.warnings()
            .iter()
            .any(|l| l.contains(": visit week72 day (see dosesim show")),
        "the week-72 visit is an outcome time frame, assumed: {}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------
// NCT04822922 (seed 004): "injected intravenously on the 1, 4, 7 and 10 days" at 4, 8 or
// 12 x 10^5 cells/kg each time. Visits: "1 month since intervention start" (assumed to be
// study day 31) and "90 days" (study day 91).
// ---------------------------------------------------------------------------------------

const NCT04822922: &str = "scenarios/nct04822922.toml";

fn nct04822922_arm(
    arm: &str,
    per_kg: u64,
    centi_kg: u64,
    weight: &str,
    start: &str,
    at: [At; 6],
) -> Run {
    let uc = Cells {
        event: "uc_msc",
        product: "uc_msc",
        per_kg: Some(per_kg),
        dose: cells(per_kg, centi_kg),
        of: 4,
        volume_ml: "",
        assumed: "",
    };
    let (run, _) = check(
        NCT04822922,
        "NCT04822922",
        arm,
        weight,
        start,
        &[
            // "All patients need to receive the standard medical treatment (SMT)".
            background((at[0].0, 1, at[0].2, 1), "smt"),
            uc.at((at[0].0, at[0].1, at[0].2, 2), 1),
            uc.at(at[1], 2),
            uc.at(at[2], 3),
            uc.at(at[3], 4),
            // Outcome time frames taken as visits: assumed.
            visit(at[4], "day30", "day"),
            visit(at[5], "day90", "day"),
        ],
    );
    assert!(
        run.warnings()
            .iter()
            .any(|l| l.contains("NCT04822922") && l.contains(": visit day30 day (see dosesim show")),
        "the assumed visit day must warn: {}",
        run.stderr
    );
    run
}

#[test]
fn nct04822922_low_across_the_leap_day() {
    // "low dose: 4*10^5 cells/kg/each time"; 4 x 10^5 x 55.5 kg = 22 200 000 cells.
    assert_eq!(cells(400_000, 5550), 22_200_000);
    nct04822922_arm(
        "low",
        400_000,
        5550,
        "55.5",
        "2028-02-27",
        [
            ("2028-02-27", 1, "Sun", 1),
            ("2028-03-01", 4, "Wed", 1),
            ("2028-03-04", 7, "Sat", 1),
            ("2028-03-07", 10, "Tue", 1),
            ("2028-03-28", 31, "Tue", 1),
            ("2028-05-27", 91, "Sat", 1),
        ],
    );
}

#[test]
fn nct04822922_middle_across_the_year_end() {
    // "medium dose: 8*10^5 cells/kg/each time"; 8 x 10^5 x 73.25 kg = 58 600 000 cells.
    assert_eq!(cells(800_000, 7325), 58_600_000);
    nct04822922_arm(
        "middle",
        800_000,
        7325,
        "73.25",
        "2027-12-30",
        [
            ("2027-12-30", 1, "Thu", 1),
            ("2028-01-02", 4, "Sun", 1),
            ("2028-01-05", 7, "Wed", 1),
            ("2028-01-08", 10, "Sat", 1),
            ("2028-01-29", 31, "Sat", 1),
            ("2028-03-29", 91, "Wed", 1),
        ],
    );
}

#[test]
fn nct04822922_high_across_the_year_end() {
    // "high dose 12*10^5 cells/kg/each time"; 1.2 x 10^6 x 62.5 kg = 75 000 000 cells.
    assert_eq!(cells(1_200_000, 6250), 75_000_000);
    nct04822922_arm(
        "high",
        1_200_000,
        6250,
        "62.5",
        "2026-12-30",
        [
            ("2026-12-30", 1, "Wed", 1),
            ("2027-01-02", 4, "Sat", 1),
            ("2027-01-05", 7, "Tue", 1),
            ("2027-01-08", 10, "Fri", 1),
            ("2027-01-29", 31, "Fri", 1),
            ("2027-03-30", 91, "Tue", 1),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Columns, flags and formats.
// ---------------------------------------------------------------------------------------

/// Every arm of every bundled scenario, as (file, arm).
fn all_arms() -> Vec<(&'static str, &'static str)> {
    vec![
        (NCT01724398, "conventional"),
        (NCT01724398, "msc"),
        (NCT01724398, "pe"),
        (NCT01724398, "msc-pe"),
        (NCT02812121, "msc-8w"),
        (NCT02812121, "msc-4w"),
        (NCT02812121, "control"),
        (NCT01573923, "conventional"),
        (NCT01573923, "msc"),
        ("scenarios/nct05106972.toml", "msc"),
        (NCT04822922, "low"),
        (NCT04822922, "middle"),
        (NCT04822922, "high"),
    ]
}

#[test]
fn every_arm_of_every_scenario_is_covered_above() {
    let mut listed: Vec<(String, String)> = all_arms()
        .into_iter()
        .map(|(f, a)| (f.to_string(), a.to_string()))
        .collect();
    listed.sort();
    let mut bundled = Vec::new();
    for f in SCENARIOS {
        let t = dosesim::scenario::load(&root().join(f)).expect("bundled scenario loads");
        for a in t.arm_ids() {
            bundled.push((f.to_string(), a.to_string()));
        }
    }
    bundled.sort();
    assert_eq!(listed, bundled);
}

#[test]
fn csv_header_is_the_fixed_contract() {
    let run = calendar(
        NCT04822922,
        "high",
        "62.5",
        "2026-12-30",
        &["--format", "csv"],
    );
    run.expect_code(0);
    let out = run.out();
    let first = out.lines().next().expect("a header line");
    assert!(
        first.starts_with(&format!("{},", HEADER20.join(","))),
        "header: {first}"
    );
    assert_eq!(
        first,
        "patient_id,trial_id,arm_id,date,study_day,weekday,order_in_day,kind,event,occurrence,\
         occurrences,weight_kg,dose_per_kg,dose,dose_unit,cumulative_dose,volume_ml,\
         window_start,window_end,note,product,assumed,site,planned_date,shift_days,flags,\
         status,planned_amount,deviation,note_codes"
    );
}

#[test]
fn weekday_column_names_the_dates_weekday_in_every_arm() {
    let name = |w: Weekday| match w {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    };
    let mut seen = std::collections::BTreeSet::new();
    for (file, arm) in all_arms() {
        for start in ["2027-12-30", "2028-02-27", "2026-01-05"] {
            let run = calendar(file, arm, "70", start, &["--format", "csv"]);
            run.expect_code(0);
            let (_, rows) = parse_csv(&run.stdout);
            for r in &rows {
                let d = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").unwrap();
                assert_eq!(r.weekday, name(d.weekday()), "{file} {arm} {}", r.date);
                seen.insert(r.weekday.clone());
            }
        }
    }
    assert_eq!(seen.len(), 7, "all seven weekdays occur: {seen:?}");
}

#[test]
fn patient_flag_sets_patient_id_on_every_row() {
    let run = calendar(
        NCT01724398,
        "msc-pe",
        "70",
        "2026-12-30",
        &["--format", "csv", "--patient", "P-007_b.2"],
    );
    run.expect_code(0);
    let (_, rows) = parse_csv(&run.stdout);
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r.patient_id == "P-007_b.2"),
        "{rows:#?}"
    );
}

#[test]
fn json_parses_with_integer_doses() {
    let run = calendar(
        NCT01724398,
        "msc-pe",
        "62.5",
        "2026-12-30",
        &["--format", "json", "--patient", "J1"],
    );
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).expect("valid JSON");
    assert_eq!(doc["trial_id"], "NCT01724398");
    assert_eq!(doc["arm_id"], "msc-pe");
    assert_eq!(doc["patient_id"], "J1");
    assert_eq!(doc["start_date"], "2026-12-30");
    assert_eq!(doc["weight_kg"], 62.5);
    let events = doc["events"].as_array().expect("events array");
    // The same rows as the CSV of the same calendar.
    let csv = calendar(
        NCT01724398,
        "msc-pe",
        "62.5",
        "2026-12-30",
        &["--format", "csv", "--patient", "J1"],
    );
    let (_, rows) = parse_csv(&csv.stdout);
    assert_eq!(events.len(), rows.len());
    for (e, r) in events.iter().zip(&rows) {
        assert_eq!(e["date"], r.date.as_str());
        assert_eq!(e["study_day"].as_i64().unwrap().to_string(), r.study_day);
        assert_eq!(
            e["order_in_day"].as_u64().unwrap().to_string(),
            r.order_in_day
        );
        assert_eq!(e["kind"], r.kind.as_str());
        assert_eq!(e["event"], r.event.as_str());
        assert_eq!(e["patient_id"], "J1");
        if r.dose.is_empty() {
            assert!(e["dose"].is_null(), "{e}");
            assert!(e["cumulative_dose"].is_null(), "{e}");
        } else {
            // Whole cells (and whole mL) are JSON integers, not 6.25e6 or 6250000.0.
            assert!(e["dose"].is_u64(), "dose must be an integer: {e}");
            assert!(e["cumulative_dose"].is_u64(), "{e}");
            assert_eq!(e["dose"].as_u64().unwrap().to_string(), r.dose);
            assert_eq!(
                e["cumulative_dose"].as_u64().unwrap().to_string(),
                r.cumulative_dose
            );
        }
    }
    // 1 x 10^5 cells/kg x 62.5 kg, four times.
    let uc: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "uc_msc")
        .map(|e| e["dose"].as_u64().unwrap())
        .collect();
    assert_eq!(uc, [6_250_000; 4]);
    let assumed = doc["assumptions"].as_array().unwrap();
    assert!(
        assumed.iter().any(|a| a["what"] == "uc_msc timing"),
        "{assumed:?}"
    );
}

#[test]
fn out_writes_the_file_and_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    for (format, ext) in [
        ("csv", "csv"),
        ("json", "json"),
        ("ics", "ics"),
        ("table", "txt"),
    ] {
        let path = dir.path().join(format!("cal.{ext}"));
        let to_file = calendar(
            NCT04822922,
            "high",
            "62.5",
            "2026-12-30",
            &[
                "--format",
                format,
                "--patient",
                "P1",
                "--out",
                path.to_str().unwrap(),
            ],
        );
        to_file.expect_code(0);
        assert!(to_file.stdout.is_empty(), "{format}: stdout must be empty");
        let to_stdout = calendar(
            NCT04822922,
            "high",
            "62.5",
            "2026-12-30",
            &["--format", format, "--patient", "P1"],
        );
        to_stdout.expect_code(0);
        let written = std::fs::read(&path).expect("the --out file exists");
        assert!(!written.is_empty());
        assert_eq!(written, to_stdout.stdout, "{format}: file == stdout output");
        if format == "table" {
            // A table on stdout holds its assumed values; written to a file, stderr
            // names them.
            assert!(
                !to_stdout.stderr.contains("assumed: ")
                    && to_file
                        .stderr
                        .contains("assumed: NCT04822922: follow-up length"),
                "{}\n{}",
                to_stdout.stderr,
                to_file.stderr
            );
        } else {
            assert_eq!(to_file.stderr, to_stdout.stderr, "same warnings either way");
        }
    }
    let mut want: Vec<String> = ["csv", "ics", "json", "txt"]
        .iter()
        .map(|f| format!("cal.{f}"))
        .collect();
    want.sort();
    assert_eq!(entries(dir.path()), want, "no temporary file left behind");
}

#[test]
fn out_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.csv");
    std::fs::write(&path, "old contents\n").unwrap();
    calendar(
        "scenarios/nct05106972.toml",
        "msc",
        "60",
        "2026-01-01",
        &["--format", "csv", "--out", path.to_str().unwrap()],
    )
    .expect_code(0);
    let (_, rows) = parse_csv(&std::fs::read(&path).unwrap());
    assert_eq!(rows.len(), 3);
    assert_eq!(entries(dir.path()), ["cal.csv"]);
}

#[test]
fn weight_outside_the_usual_range_warns_but_succeeds() {
    // The usual range of every bundled scenario is 40-110 kg.
    for (weight, centi) in [("120", 12_000u64), ("35.5", 3550)] {
        let run = calendar(
            NCT04822922,
            "high",
            weight,
            "2026-12-30",
            &["--format", "csv"],
        );
        run.expect_code(0);
        let want = format!(
            "warning: weight {weight} kg is outside this scenario's usual range of 40-110 kg"
        );
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&want)),
            "{weight}: {}",
            run.stderr
        );
        let (_, rows) = parse_csv(&run.stdout);
        let doses: Vec<&str> = rows
            .iter()
            .filter(|r| r.kind == "cell_infusion")
            .map(|r| r.dose.as_str())
            .collect();
        let want_dose = cells(1_200_000, centi).to_string();
        assert_eq!(doses, [want_dose.as_str(); 4], "still dosed by weight");

        let json = calendar(
            NCT04822922,
            "high",
            weight,
            "2026-12-30",
            &["--format", "json"],
        );
        json.expect_code(0);
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let warnings = doc["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].as_str().unwrap().contains("usual range"));
    }
    // Inside the range: no weight warning.
    let run = calendar(
        NCT04822922,
        "high",
        "110",
        "2026-12-30",
        &["--format", "csv"],
    );
    run.expect_code(0);
    assert!(!run.stderr.contains("usual range"), "{}", run.stderr);
}

#[test]
fn per_kg_doses_round_to_the_nearest_whole_cell() {
    // 4 x 10^5 cells/kg x 70.1234567 kg = 28 049 382.68 cells -> 28 049 383 (up);
    // 4 x 10^5 cells/kg x 55.5555501 kg = 22 222 220.04 cells -> 22 222 220 (down).
    // The running total adds the rounded doses.
    for (weight, dose) in [("70.1234567", 28_049_383u64), ("55.5555501", 22_222_220)] {
        let run = calendar(
            NCT04822922,
            "low",
            weight,
            "2026-12-30",
            &["--format", "csv"],
        );
        run.expect_code(0);
        let (_, rows) = parse_csv(&run.stdout);
        let got: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r.kind == "cell_infusion")
            .map(|r| (r.dose.as_str(), r.cumulative_dose.as_str()))
            .collect();
        let want: Vec<(String, String)> = (1..=4)
            .map(|n| (dose.to_string(), (dose * n).to_string()))
            .collect();
        let want: Vec<(&str, &str)> = want.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, want, "{weight} kg");
    }
}

#[test]
fn table_is_the_default_format() {
    let run = calendar(NCT04822922, "high", "62.5", "2026-12-30", &[]);
    run.expect_code(0);
    let out = run.out();
    assert!(out.starts_with("NCT04822922 ("), "{out}");
    assert!(out.contains("| Date "), "{out}");
    assert!(out.contains("7.50 x 10⁷ cells"), "{out}");
}

/// Regression (review findings 4): `--out x.xlsx` wrote a text table into a file named
/// .xlsx. An extension dosesim does not write is refused, naming the ones it does, and no
/// file is made.
#[test]
fn an_extension_the_tool_does_not_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.xlsx", "x.pdf", "x.CSVX"] {
        let path = dir.path().join(name);
        let run = calendar(
            NCT04822922,
            "high",
            "62.5",
            "2026-12-30",
            &["--patient", "P1", "--out", path.to_str().unwrap()],
        );
        run.expect_code(2);
        for ext in [".txt", ".md", ".csv", ".json", ".ics"] {
            assert!(run.err().contains(ext), "{}", run.err());
        }
        assert!(!path.exists(), "{name} must not be written");
    }
    // Upper-case extensions of formats it writes are fine.
    let path = dir.path().join("x.CSV");
    calendar(
        NCT04822922,
        "high",
        "62.5",
        "2026-12-30",
        &["--out", path.to_str().unwrap()],
    )
    .expect_code(0);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("patient_id,")
    );
}

/// Regression (review findings 3): 50.00000125 kg x 1.2e6 cells/kg is exactly 60000001.5,
/// which rounds half away from zero to 60000002; f64 arithmetic gave 60000001. Weights are
/// echoed as entered.
#[test]
fn decimal_weights_give_exact_doses_and_are_echoed_as_entered() {
    let run = calendar(
        NCT04822922,
        "high",
        "50.00000125",
        "2027-01-31",
        &["--format", "csv"],
    );
    run.expect_code(0);
    let out = run.out();
    let first = out
        .lines()
        .find(|l| l.contains(",cell_infusion,"))
        .unwrap()
        .to_string();
    assert!(first.contains(",50.00000125,"), "{first}");
    assert!(first.contains(",60000002,cells,60000002,"), "{first}");

    let long = calendar(
        NCT04822922,
        "high",
        "63.123456789123456789",
        "2027-01-31",
        &["--format", "json"],
    );
    long.expect_code(0);
    assert!(
        long.out().contains("\"weight_kg\": 63.123456789123456789,"),
        "{}",
        long.out()
    );
    let table = calendar(NCT04822922, "high", "62.50", "2027-01-31", &[]);
    assert!(
        table.out().contains("Patient patient: 62.50 kg"),
        "{}",
        table.out()
    );
}

/// Regression: `--out p.ics` without `--format` wrote the text table into the .ics file.
#[test]
fn the_out_extension_picks_the_format() {
    let dir = tempfile::tempdir().unwrap();
    for (ext, starts) in [
        ("csv", "patient_id,trial_id,"),
        ("json", "{"),
        ("ics", "BEGIN:VCALENDAR\r\n"),
        ("txt", "NCT04822922 ("),
    ] {
        let path = dir.path().join(format!("cal.{ext}"));
        let run = calendar(
            NCT04822922,
            "high",
            "62.5",
            "2026-12-30",
            &["--patient", "P1", "--out", path.to_str().unwrap()],
        );
        run.expect_code(0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(starts),
            "{ext}: {}",
            &text[..40.min(text.len())]
        );
    }
}

/// An arm-wide rule from the record (NCT04822922's stopping rule) is shown once under the
/// table, and travels with every dose in the files a pharmacy works from: its code in the
/// CSV's note_codes of each infusion (issue 20: the rule in full on every row doubled
/// pharmacy.csv), in full in the JSON's arm_notes and each .ics event's description
/// (issue: clinical details the pharmacy files dropped).
#[test]
fn arm_notes_reach_every_format() {
    let table = calendar(NCT04822922, "high", "62.5", "2026-12-30", &[]);
    table.expect_code(0);
    assert!(
        table
            .out()
            .contains("Note: Stop the intervention if a serious adverse reaction occurs"),
        "{}",
        table.out()
    );
    let csv = calendar(
        NCT04822922,
        "high",
        "62.5",
        "2026-12-30",
        &["--format", "csv"],
    );
    let out = csv.out();
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(",cell_infusion,"))
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    for r in rows {
        assert!(r.ends_with(",stop_on_sae"), "{r}");
        assert!(!r.contains("serious adverse reaction"), "{r}");
    }
    let json = calendar(
        NCT04822922,
        "high",
        "62.5",
        "2026-12-30",
        &["--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_str(&json.out()).unwrap();
    assert!(
        doc["arm_notes"][0]
            .as_str()
            .unwrap()
            .contains("serious adverse reaction"),
        "{doc}"
    );
    assert_eq!(doc["follow_up"]["months"], 60);
    assert_eq!(doc["follow_up"]["end_date"], "2031-12-30");
    let ics = calendar(
        NCT04822922,
        "high",
        "62.5",
        "2026-12-30",
        &["--format", "ics", "--patient", "P1"],
    );
    let unfolded = ics.out().replace("\r\n ", "");
    let descriptions: Vec<&str> = unfolded
        .lines()
        .filter(|l| l.starts_with("DESCRIPTION:"))
        .collect();
    assert_eq!(descriptions.len(), 6, "4 infusions and 2 visits");
    for d in descriptions {
        assert!(d.contains("serious adverse reaction"), "{d}");
        assert!(
            d.contains("Follow-up: 5 years after study day 1\\, to 2031-12-30"),
            "{d}"
        );
    }
}

/// Each VEVENT of a calendar file, parsed by the icalendar crate: its properties
/// ("NAME;PARAM=VALUE", value) and its VALARMs' properties.
type Props = Vec<(String, String)>;
fn ics_events(text: &str) -> Vec<(Props, Vec<Props>)> {
    fn props(c: &icalendar::parser::Component) -> Props {
        c.properties
            .iter()
            .map(|p| {
                let params: String = p
                    .params
                    .iter()
                    .map(|q| {
                        let v = q.val.as_ref().map(|v| v.as_str()).unwrap_or_default();
                        format!(";{}={v}", q.key.as_str())
                    })
                    .collect();
                (
                    format!("{}{params}", p.name.as_str()),
                    p.val.as_str().to_string(),
                )
            })
            .collect()
    }
    let unfolded = icalendar::parser::unfold(text);
    let cal = icalendar::parser::read_calendar(&unfolded).expect("the file parses");
    cal.components
        .iter()
        .map(|c| {
            assert_eq!(c.name.as_str(), "VEVENT");
            (props(c), c.components.iter().map(props).collect())
        })
        .collect()
}

/// The value of the property named `name` (with its parameters) in `props`.
fn prop<'p>(props: &'p Props, name: &str) -> &'p str {
    props
        .iter()
        .find(|(n, _)| n == name)
        .map_or_else(|| panic!("no {name} in {props:?}"), |(_, v)| v.as_str())
}

/// When a TRIGGER relative to an all-day event's start (its day at 00:00) goes off:
/// "-PT16H" on 2027-01-04 is 2027-01-03 08:00. Only the forms a day and hour give.
fn alarm_time(day: NaiveDate, trigger: &str) -> chrono::NaiveDateTime {
    let (sign, rest) = match trigger.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, trigger),
    };
    let rest = rest.strip_prefix('P').expect("a duration");
    let (days, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut minutes = days
        .strip_suffix('D')
        .map_or(0, |d| d.parse::<i64>().unwrap())
        * 1440;
    let mut number = String::new();
    for ch in time.chars() {
        match ch {
            'H' => minutes += number.parse::<i64>().unwrap() * 60,
            'M' => minutes += number.parse::<i64>().unwrap(),
            c => number.push(c),
        }
        if !ch.is_ascii_digit() {
            number.clear();
        }
    }
    day.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::minutes(sign * minutes)
}

/// NCT04822922's high arm from 2027-01-04 as a calendar file, with `extra` flags.
fn high_ics(extra: &[&str]) -> Run {
    let mut args = vec!["--patient", "R1", "--format", "ics"];
    args.extend_from_slice(extra);
    let r = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2027-01-04",
        &args,
    );
    r.expect_code(0);
    r
}

/// A reminder case: the flags, the TRIGGER written, the days before, the time of day (hour,
/// minute), the alarm's first word.
type Reminded = (
    &'static [&'static str],
    &'static str,
    i64,
    (u32, u32),
    &'static str,
);

#[test]
fn reminders_come_for_doses_and_visits_at_the_chosen_hour() {
    // (flags, the TRIGGER written, days before, time of day, the alarm's first word)
    let cases: [Reminded; 4] = [
        (&["--remind-at", "08:00"], "-PT16H", 1, (8, 0), "Tomorrow: "),
        (
            &["--remind-days", "3", "--remind-at", "7:30"],
            "-P2DT16H30M",
            3,
            (7, 30),
            "In 3 days: ",
        ),
        (
            &["--remind-days-before", "0", "--remind-at", "09:15"],
            "PT9H15M",
            0,
            (9, 15),
            "Today: ",
        ),
        // Days alone: at 08:00, not at midnight.
        (
            &["--remind-days", "2"],
            "-P1DT16H",
            2,
            (8, 0),
            "In 2 days: ",
        ),
    ];
    for (flags, trigger, days, (h, m), word) in cases {
        let text = high_ics(flags).out();
        let events = ics_events(&text);
        // 4 infusions and 2 visits, each with one reminder.
        assert_eq!(events.len(), 6, "{flags:?}");
        assert_eq!(
            events
                .iter()
                .filter(|e| prop(&e.0, "SUMMARY").contains("Visit:"))
                .count(),
            2
        );
        for (event, alarms) in &events {
            assert_eq!(alarms.len(), 1, "{flags:?}: {event:?}");
            let alarm = &alarms[0];
            assert_eq!(prop(alarm, "TRIGGER;RELATED=START"), trigger, "{flags:?}");
            assert_eq!(prop(alarm, "ACTION"), "DISPLAY");
            assert_eq!(
                prop(alarm, "DESCRIPTION"),
                format!("{word}{}", prop(event, "SUMMARY"))
            );
            let day =
                NaiveDate::parse_from_str(prop(event, "DTSTART;VALUE=DATE"), "%Y%m%d").unwrap();
            let expected = (day - chrono::Duration::days(days))
                .and_hms_opt(h, m, 0)
                .unwrap();
            assert_eq!(alarm_time(day, trigger), expected, "{flags:?}");
        }
    }
    // None unless asked for; a time of day that is not HH:MM is refused.
    assert!(!high_ics(&[]).out().contains("VALARM"));
    for bad in ["8am", "24:00", "08:00:00", "0800"] {
        let r = calendar(
            "scenarios/nct04822922.toml",
            "high",
            "60",
            "2027-01-04",
            &["--patient", "R1", "--format", "ics", "--remind-at", bad],
        );
        r.expect_code(2);
        assert!(
            r.err().contains(&format!(
                "'{bad}' is not a time of day: write it as HH:MM on the 24-hour clock"
            )),
            "{}",
            r.err()
        );
    }
}

#[test]
fn all_day_events_are_transparent() {
    for audience in ["staff", "patient"] {
        let text = high_ics(&["--for", audience]).out();
        let events = ics_events(&text);
        assert_eq!(events.len(), 6);
        for (event, _) in &events {
            // All-day, and free time: a shared calendar's whole day is not shown busy.
            assert!(
                event.iter().any(|(n, _)| n == "DTSTART;VALUE=DATE"),
                "{event:?}"
            );
            assert_eq!(prop(event, "TRANSP"), "TRANSPARENT", "{event:?}");
        }
    }
}

#[test]
fn the_patient_form_has_plain_titles_and_no_cell_counts() {
    let form = |id: &str, audience: &str, extra: &[&str]| {
        let mut args = vec![
            "calendar",
            "NCT01724398",
            "--roster",
            "scenarios/rosters/NCT01724398.csv",
            "--log",
            "scenarios/logs/NCT01724398.csv",
            "--patient",
            id,
            "--format",
            "ics",
            "--for",
            audience,
        ];
        args.extend_from_slice(extra);
        let r = run(args);
        r.expect_code(0);
        r.out()
    };
    let plain = regex_lite(&["Stem cell infusion", "Plasma exchange", "Follow-up visit"]);
    // P4398-003 (exchanges, one missed), P4398-004 (exchanges and infusions).
    for (id, arm) in [
        ("P4398-003", "pe"),
        ("P4398-004", "msc-pe"),
        ("P4398-002", "msc"),
    ] {
        let patient = form(id, "patient", &["--remind-at", "08:00"]);
        let staff = form(id, "staff", &[]);
        let (p, s) = (ics_events(&patient), ics_events(&staff));
        // The same events on the same days.
        assert_eq!(p.len(), s.len(), "{id}");
        for ((pe, _), (se, _)) in p.iter().zip(&s) {
            assert_eq!(
                prop(pe, "DTSTART;VALUE=DATE"),
                prop(se, "DTSTART;VALUE=DATE")
            );
            let status = |e: &Props| {
                e.iter()
                    .find(|(n, _)| n == "STATUS")
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(status(pe), status(se));
            assert!(plain(prop(pe, "SUMMARY")), "{id}: {}", prop(pe, "SUMMARY"));
            assert!(prop(pe, "DESCRIPTION").starts_with("Clinical study NCT01724398"));
            assert_ne!(prop(pe, "UID"), prop(se, "UID"), "its own UIDs");
        }
        // No cell counts, volumes, per-kg doses, assumptions, arm or patient id where a
        // person reads (the UIDs, which no app shows, are built from the ids).
        let read: String = patient
            .replace("\r\n ", "")
            .lines()
            .filter(|l| !l.starts_with("UID:"))
            .collect::<Vec<_>>()
            .join("\n");
        for word in [
            "cells", "x 10", "×", "mL", "/kg", "ssumed", "Arm", arm, id, "kg", "Dose", " dose",
        ] {
            assert!(!read.contains(word), "{id}: '{word}' in\n{read}");
        }
        assert!(read.contains("X-WR-CALNAME:Study NCT01724398 appointments"));
        // The staff's file still says it all.
        let staff = staff.replace("\r\n ", "");
        assert!(staff.contains("Arm ") && staff.contains(&format!("SUMMARY:{id}: ")));
    }
    let missed = form("P4398-003", "patient", &[]);
    assert!(
        missed.contains("SUMMARY:Missed: Plasma exchange 2 of 3\r\n"),
        "{missed}"
    );
    let given = form("P4398-004", "patient", &["--remind-at", "18:00"]);
    assert!(
        given.contains("SUMMARY:Stem cell infusion 1 of 4\r\n"),
        "{given}"
    );
    assert!(given.contains("SUMMARY:Follow-up visit\r\n"), "{given}");
    // Reminders for what is still to come only, in the patient's words.
    assert!(
        given.contains("DESCRIPTION:Tomorrow: Follow-up visit\r\n"),
        "{given}"
    );

    // A CSV, JSON or table is the staff's: --for patient makes a calendar file or nothing.
    for format in ["csv", "json", "table"] {
        let r = calendar(
            "scenarios/nct04822922.toml",
            "high",
            "60",
            "2027-01-04",
            &["--patient", "R1", "--format", format, "--for", "patient"],
        );
        r.expect_code(2);
        assert!(
            r.err().contains(&format!("--for: --for patient makes a calendar file for a patient's phone, and {format} output is the staff's")),
            "{}",
            r.err()
        );
        assert!(r.out().is_empty());
    }
}

/// Whether a title is one of `titles`, alone or "k of N", perhaps after what became of
/// it ("Missed: ", "Cancelled: ", "To be confirmed: ").
fn regex_lite(titles: &'static [&'static str]) -> impl Fn(&str) -> bool {
    move |s: &str| {
        let s = ["Missed: ", "Cancelled: ", "To be confirmed: "]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .unwrap_or(s);
        titles.iter().any(|t| {
            s == *t
                || s.strip_prefix(t)
                    .and_then(|r| r.strip_prefix(' '))
                    .and_then(|r| r.split_once(" of "))
                    .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
        })
    }
}
