//! `dosesim forecast`: the exact case (a roster, nobody dying) against cohort's prep.csv,
//! the same bytes at any thread count, the files a planner opens, bad plans, and the
//! forecast in `run`'s report.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

const SCENARIO: &str = "scenarios/nct04822922.toml";

/// A plan for NCT04822922 on SH-RENJI's calendar; `extra` replaces lines by key prefix.
fn plan(dir: &Path, target: u32, m28: f64, m90: f64, dropout: f64) -> PathBuf {
    let text = format!(
        r#"trial = "NCT04822922"
target_patients = {{ value = {target}, source = "Estimated Enrollment : 16 participants" }}
start = {{ value = "2026-08-03", assumed = "test: the demo roster's first start" }}
horizon_weeks = {{ value = 60, assumed = "test" }}

[[sites]]
id = "SH-RENJI"
calendar = "SH-RENJI"
activation = {{ value = "2026-08-03", assumed = "test" }}
rate_per_month = {{ value = 2, assumed = "test" }}

[allocation]
ratio = {{ low = 1, middle = 1, high = 1 }}
block_size = 3
assumed = "test"

[weight_kg]
normal = {{ mean = 67, sd = 14, min = 40, max = 110 }}
assumed = "test"

[mortality]
day28 = {{ value = {m28}, assumed = "test" }}
day90 = {{ value = {m90}, assumed = "test" }}
dropout_per_month = {{ value = {dropout}, assumed = "test" }}

[product.uc_msc]
lot_cells = {{ value = 2e8, assumed = "test" }}
capacity_cells_per_week = {{ value = 1.5e8, assumed = "test" }}
"#
    );
    write_file(dir, "plan.toml", &text)
}

fn forecast(plan: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec![
        "forecast".into(),
        SCENARIO.into(),
        "--plan".into(),
        plan.into(),
        "--out".into(),
        out.into(),
    ];
    args.extend(extra.iter().map(|s| s.into()));
    run(args)
}

/// A CSV file as header-keyed rows.
fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = '{}'", row[col]))
}

/// The Monday of a date's ISO week.
fn monday(date: &str) -> chrono::NaiveDate {
    use chrono::Datelike;
    let d: chrono::NaiveDate = date.parse().unwrap();
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}

#[test]
fn with_a_roster_and_nobody_dying_every_week_is_cohorts_prep_cell_for_cell() {
    let dir = tempfile::tempdir().unwrap();
    // Target 16 = the roster's 16 patients: the enrolment model adds nobody.
    let p = plan(dir.path(), 16, 0.0, 0.0, 0.0);
    let out = dir.path().join("out");
    let roster = "scenarios/rosters/NCT04822922.csv";
    forecast(&p, &out, &["--roster", roster, "--replicates", "50"]).expect_code(0);
    cohort(Path::new(SCENARIO), Path::new(roster), &out).expect_code(0);
    let mut by_week: BTreeMap<chrono::NaiveDate, (f64, u32)> = BTreeMap::new();
    for r in rows(&out.join("NCT04822922/prep.csv")) {
        let e = by_week.entry(monday(&r["date"])).or_default();
        e.0 += num(&r, "total_dose");
        e.1 += num(&r, "doses") as u32;
    }
    assert!(by_week.len() > 10, "doses over many weeks: {by_week:?}");
    let weekly = rows(&out.join("NCT04822922/forecast/weekly.csv"));
    assert_eq!(weekly.len(), 60, "one row per week of the horizon");
    let mut seen = 0;
    for w in &weekly {
        let start: chrono::NaiveDate = w["week_start"].parse().unwrap();
        let (cells, doses) = by_week.get(&start).copied().unwrap_or((0.0, 0));
        for col in ["cells_mean", "cells_p5", "cells_p50", "cells_p99"] {
            assert_eq!(num(w, col), cells, "{start} {col}");
        }
        assert_eq!(num(w, "doses_p50"), f64::from(doses), "{start}");
        assert_eq!(num(w, "doses_mean"), f64::from(doses), "{start}");
        seen += usize::from(cells > 0.0);
    }
    assert_eq!(seen, by_week.len(), "every prep week is inside the horizon");
    let summary = rows(&out.join("NCT04822922/forecast/summary.csv"));
    let get = |m: &str| summary.iter().find(|r| r["measure"] == m).unwrap().clone();
    assert_eq!(get("patients_enrolled")["p50"], "16");
    assert_eq!(get("patients_completed")["p5"], "16");
    assert_eq!(
        get("cells")["p50"],
        "3201280000",
        "cohort's 3201280000 cells"
    );
    // The fan chart draws the roster's planned demand.
    let svg = std::fs::read_to_string(out.join("NCT04822922/forecast/fan-uc_msc.svg")).unwrap();
    assert!(svg_texts(&svg).iter().any(|t| t == "roster as planned"));
}

#[test]
fn the_same_seed_gives_the_same_bytes_at_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), 40, 0.24, 0.35, 0.02);
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    forecast(
        &p,
        &a,
        &["--threads", "1", "--replicates", "3000", "--seed", "5"],
    )
    .expect_code(0);
    forecast(
        &p,
        &b,
        &["--threads", "2", "--replicates", "3000", "--seed", "5"],
    )
    .expect_code(0);
    forecast(
        &p,
        &c,
        &["--threads", "2", "--replicates", "3000", "--seed", "6"],
    )
    .expect_code(0);
    // The manifest records the command line, threads included; every output is the same.
    let strip = |d: &Path| {
        let mut t = tree(&d.join("NCT04822922/forecast"));
        assert!(t.remove("manifest.json").is_some());
        t
    };
    assert_same_tree(&strip(&a), &strip(&b), "1 and 2 threads");
    let weekly = |d: &Path| std::fs::read(d.join("NCT04822922/forecast/weekly.csv")).unwrap();
    assert_ne!(weekly(&a), weekly(&c), "another seed, other draws");
}

/// The forecast places each simulated patient's doses on their site's calendar through the
/// same code as `calendar`, so Spring Festival 2027 (the eve, Friday 5 February, to Monday
/// 8 February), past holiday-cn's files, is closed at a Guangzhou site: one patient on the
/// high arm, enrolled on Thursday 4 February (1,000 a month from then: the first the same
/// day in every replicate), has day 7 (Sunday 7th) kept on its day, flagged, where it
/// used to move onto Monday 8 February as if Spring Festival were working days. The week
/// of 1 February then counts 2 doses and the week of 8 February 2, as the patient's own
/// calendar does; a calendar without expected holidays gives 1 and 3.
#[test]
fn the_forecast_does_not_work_through_spring_festival_2027() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(plan(dir.path(), 1, 0.0, 0.0, 0.0))
        .unwrap()
        .replace(
            "\"2026-08-03\", assumed = \"test: the demo roster's first start\"",
            "\"2027-01-25\", assumed = \"test\"",
        )
        .replace(
            "horizon_weeks = { value = 60,",
            "horizon_weeks = { value = 4,",
        )
        .replace(
            "id = \"SH-RENJI\"\ncalendar = \"SH-RENJI\"",
            "id = \"GZ\"\ncalendar = \"guangzhou\"",
        )
        .replace(
            "activation = { value = \"2026-08-03\"",
            "activation = { value = \"2027-02-04\"",
        )
        .replace(
            "rate_per_month = { value = 2,",
            "rate_per_month = { value = 1000,",
        )
        .replace(
            "ratio = { low = 1, middle = 1, high = 1 }\nblock_size = 3",
            "ratio = { high = 1 }\nblock_size = 1",
        );
    let p = write_file(dir.path(), "gz.toml", &text);
    // The guangzhou calendar without expected holidays, as it was.
    let cals = dir.path().join("cals");
    std::fs::create_dir(&cals).unwrap();
    let holidays = root().join("scenarios/calendars/holidays");
    let sources: Vec<String> = ["cn-2024.json", "cn-2025.json", "cn-2026.json"]
        .iter()
        .map(|f| format!("\"{}\"", holidays.join(f).display()))
        .collect();
    write_file(
        &cals,
        "guangzhou.toml",
        &format!(
            "name = \"Guangzhou, holiday files only\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [{}]\n",
            sources.join(", ")
        ),
    );
    let weeks = |extra: &[&str]| -> Vec<(String, f64, f64)> {
        let out = tempfile::tempdir().unwrap();
        let mut args = vec!["--replicates", "50"];
        args.extend_from_slice(extra);
        let run = forecast(&p, out.path(), &args);
        run.expect_code(0);
        rows(&out.path().join("NCT04822922/forecast/weekly.csv"))
            .iter()
            .map(|r| {
                (
                    r["week_start"].clone(),
                    num(r, "doses_p5"),
                    num(r, "doses_p95"),
                )
            })
            .collect()
    };
    let week = |w: &str, n: f64| (w.to_string(), n, n);
    assert_eq!(
        weeks(&[]),
        vec![
            week("2027-01-25", 0.0),
            week("2027-02-01", 2.0),
            week("2027-02-08", 2.0),
            week("2027-02-15", 0.0),
        ]
    );
    // The patient's own calendar at the same site, week by week.
    let cal = calendar(
        SCENARIO,
        "high",
        "67",
        "2027-02-04",
        &["--site", "guangzhou", "--format", "csv"],
    );
    cal.expect_code(0);
    let (_, rows) = parse_csv(&cal.stdout);
    let per_week = |monday: &str| {
        rows.iter()
            .filter(|r| r.kind == "cell_infusion" && self::monday(&r.date).to_string() == monday)
            .count()
    };
    assert_eq!((per_week("2027-02-01"), per_week("2027-02-08")), (2, 2));
    assert!(
        rows.iter()
            .filter(|r| r.kind == "cell_infusion")
            .all(|r| r.flags.contains("provisional"))
    );
    // Without expected holidays: Monday 8 February was a working day.
    assert_eq!(
        weeks(&["--calendars", cals.to_str().unwrap()])[1..3],
        [week("2027-02-01", 1.0), week("2027-02-08", 3.0)]
    );
}

#[test]
fn weekly_figures_are_ordered_and_add_up_to_the_months() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), 16, 0.24, 0.35, 0.01);
    let out = dir.path().join("out");
    let run = forecast(&p, &out, &["--replicates", "2000"]);
    run.expect_code(0);
    assert!(
        run.out().contains("2000 replicates (seed 1)"),
        "{}",
        run.out()
    );
    assert!(
        run.warnings()
            .iter()
            .any(|w| w.contains("forecast plan mortality.day28 is assumed")),
        "{}",
        run.err()
    );
    let weekly = rows(&out.join("NCT04822922/forecast/weekly.csv"));
    let monthly = rows(&out.join("NCT04822922/forecast/monthly.csv"));
    for r in weekly.iter().chain(&monthly) {
        let q: Vec<f64> = ["p5", "p25", "p50", "p75", "p95", "p99"]
            .iter()
            .map(|p| num(r, &format!("cells_{p}")))
            .collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
        assert!(num(r, "doses_p5") <= num(r, "doses_p95"));
        // Lots: ceil(cells / 2e8) of the P50 and P95.
        assert_eq!(num(r, "lots_p50"), (q[2] / 2e8).ceil(), "{r:?}");
        assert_eq!(num(r, "lots_p95"), (q[4] / 2e8).ceil(), "{r:?}");
        let p = num(r, "p_over_capacity");
        assert!((0.0..=1.0).contains(&p));
        // Every dose is whole cells.
        assert_eq!(q[2].fract(), 0.0);
    }
    // The same doses, counted by week and by month.
    let sum = |rs: &[BTreeMap<String, String>], c: &str| rs.iter().map(|r| num(r, c)).sum::<f64>();
    let (w, m) = (sum(&weekly, "doses_mean"), sum(&monthly, "doses_mean"));
    assert!((w - m).abs() < 0.01 * (weekly.len() as f64), "{w} vs {m}");
    assert_eq!(
        monthly.iter().map(|r| num(r, "days_counted")).sum::<f64>(),
        420.0,
        "60 weeks of days"
    );
    let html = std::fs::read_to_string(out.join("NCT04822922/forecast/forecast.html")).unwrap();
    assert!(html.contains("mortality.day28") && html.contains("weekly.csv"));
    assert_self_contained(&html, "forecast.html", &|h| !h.contains("//"));
    let png = std::fs::read(out.join("NCT04822922/forecast/fan-uc_msc.png")).unwrap();
    assert_eq!(png_size(&png), (1000, 600));
}

#[test]
fn a_bad_plan_is_refused_with_every_problem_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(plan(dir.path(), 16, 0.2, 0.3, 0.0)).unwrap();
    let bad = good
        .replace("trial = \"NCT04822922\"", "trial = \"NCT00000000\"")
        .replace("ratio = { low = 1,", "ratio = { lowest = 1,")
        .replace("block_size = 3", "block_size = 5")
        .replace(
            "day90 = { value = 0.3, assumed = \"test\" }",
            "day90 = { value = 0.1, assumed = \"test\" }",
        )
        .replace(
            "rate_per_month = { value = 2, assumed = \"test\" }",
            "rate_per_month = { value = 2 }",
        )
        .replace("calendar = \"SH-RENJI\"", "calendar = \"NOWHERE\"");
    let p = write_file(dir.path(), "bad.toml", &bad);
    let out = dir.path().join("out");
    let run = forecast(&p, &out, &[]);
    run.expect_code(2);
    let err = run.err();
    let at = |needle: &str| format!("bad.toml:{}", line_of(&bad, needle));
    for (needle, field, words) in [
        ("trial = ", "trial", "this plan is for NCT00000000"),
        ("lowest = 1", "allocation.ratio", "unknown arm 'lowest'"),
        (
            "block_size = 5",
            "allocation.block_size",
            "use a multiple of 2",
        ),
        (
            "day90 = ",
            "mortality.day90",
            "fewer than the 0.2 dead by day 28",
        ),
        (
            "rate_per_month = ",
            "sites[1].rate_per_month",
            "needs provenance",
        ),
    ] {
        assert!(
            err.contains(&format!("{}: {field}: ", at(needle))) && err.contains(words),
            "{field}: {err}"
        );
    }
    assert!(!out.exists(), "nothing written");
    // The calendar is looked for once the plan itself is good.
    let p = write_file(
        dir.path(),
        "cal.toml",
        &good.replace("calendar = \"SH-RENJI\"", "calendar = \"NOWHERE\""),
    );
    let run = forecast(&p, &out, &[]);
    run.expect_code(2);
    assert!(
        run.err()
            .contains("sites[1].calendar: no site calendar 'NOWHERE'"),
        "{}",
        run.err()
    );
    let cal_text = std::fs::read_to_string(&p).unwrap();
    let at = format!(
        "cal.toml:{}: sites[1].calendar",
        line_of(&cal_text, "NOWHERE")
    );
    assert!(
        run.err().contains(&at),
        "the line of the calendar: {}",
        run.err()
    );
    // A share out of range is named as written, and the day-90 check does not quote a
    // value the file does not hold.
    let range = write_file(
        dir.path(),
        "range.toml",
        &good.replace(
            "day28 = { value = 0.2, assumed = \"test\" }",
            "day28 = { value = 1.5, assumed = \"test\" }",
        ),
    );
    let r = forecast(&range, &out, &[]);
    r.expect_code(2);
    assert!(
        r.err().contains("mortality.day28: 1.5 is out of range"),
        "{}",
        r.err()
    );
    assert!(!r.err().contains("0.999 dead"), "{}", r.err());
    let run = forecast(&p, &out, &["--replicates", "0"]);
    run.expect_code(2);
    assert!(
        run.err().contains("--replicates: 0 is out of range"),
        "{}",
        run.err()
    );
}

#[test]
fn a_weight_whose_dose_is_above_the_maximum_names_the_weight_range() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(SCENARIO).unwrap().replacen(
        "dose.cells_per_kg = 4e5",
        "dose.cells_per_kg = 4e5\ndose.max_per_dose = 3e7",
        1,
    );
    let scenario = write_file(dir.path(), "s.toml", &text);
    let p = plan(dir.path(), 16, 0.2, 0.3, 0.0);
    let run = run([
        "forecast".as_ref(),
        scenario.as_os_str(),
        "--plan".as_ref(),
        p.as_os_str(),
        "--out".as_ref(),
        dir.path().join("out").as_os_str(),
    ]);
    run.expect_code(2);
    // 4e5 cells/kg above 75 kg exceeds 3e7: the first such weight of the grid is 75.1 kg.
    assert!(
        run.err().contains("weight_kg: at 75.1 kg, arm low"),
        "{}",
        run.err()
    );
}

#[test]
fn run_puts_each_forecast_in_its_trials_report_and_a_cohort_rerun_keeps_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = run([
        "run".as_ref(),
        "scenarios/nct04822922.toml".as_ref(),
        "scenarios/nct05106972.toml".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    r.expect_code(0);
    assert!(
        r.out().contains("forecast: 10000 replicates (seed 1)"),
        "{}",
        r.out()
    );
    for t in ["NCT04822922", "NCT05106972"] {
        let html = std::fs::read_to_string(out.join(t).join("report.html")).unwrap();
        assert!(html.contains("Forecast of cell demand"), "{t}");
        assert!(html.contains("href=\"forecast/weekly.csv\""), "{t}");
        assert!(out.join(t).join("forecast/weekly.csv").is_file());
    }
    let before = std::fs::read(out.join("NCT04822922/forecast/weekly.csv")).unwrap();
    cohort(
        Path::new(SCENARIO),
        Path::new("scenarios/rosters/NCT04822922.csv"),
        &out,
    )
    .expect_code(0);
    let after = std::fs::read(out.join("NCT04822922/forecast/weekly.csv")).unwrap();
    assert_eq!(before, after, "the forecast folder is kept");
    // A forecast into a fresh folder, then a cohort into the same: the cohort writes
    // around the forecast.
    let fresh = dir.path().join("fresh");
    forecast(
        Path::new("scenarios/plans/nct04822922.toml"),
        &fresh,
        &["--replicates", "100"],
    )
    .expect_code(0);
    cohort(
        Path::new(SCENARIO),
        Path::new("scenarios/rosters/NCT04822922.csv"),
        &fresh,
    )
    .expect_code(0);
    assert!(fresh.join("NCT04822922/forecast/weekly.csv").is_file());
    assert!(fresh.join("NCT04822922/prep.csv").is_file());
}

#[test]
fn summary_csv_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), 16, 0.24, 0.35, 0.01);
    let out = dir.path().join("out");
    forecast(&p, &out, &["--replicates", "500", "--seed", "42"]).expect_code(0);
    let summary = std::fs::read_to_string(out.join("NCT04822922/forecast/summary.csv")).unwrap();
    insta::assert_snapshot!("forecast_summary_csv", summary);
    let weekly = std::fs::read_to_string(out.join("NCT04822922/forecast/weekly.csv")).unwrap();
    let head: Vec<&str> = weekly.lines().take(6).collect();
    insta::assert_snapshot!("forecast_weekly_head", head.join("\n"));
}

#[test]
fn weights_drawn_from_a_roster_are_that_rosters() {
    // Every patient weighs 50 or 80 kg and gets 4, 8 or 12 x 10^5 cells/kg: 2, 4, 6, 3.2,
    // 6.4 or 9.6 x 10^7 cells a dose, each a multiple of 4 x 10^6. Normal weights to
    // 0.1 kg would give doses of any multiple of 4 x 10^4.
    let dir = tempfile::tempdir().unwrap();
    write_roster(
        dir.path(),
        "weights.csv",
        &["W1,low,50,2026-01-05", "W2,high,80,2026-01-05"],
    );
    let text = std::fs::read_to_string(plan(dir.path(), 16, 0.0, 0.0, 0.0))
        .unwrap()
        .replace(
            "normal = { mean = 67, sd = 14, min = 40, max = 110 }",
            "roster = \"weights.csv\"",
        );
    let p = write_file(dir.path(), "plan.toml", &text);
    let out = dir.path().join("out");
    forecast(&p, &out, &["--replicates", "200"]).expect_code(0);
    let manifest = std::fs::read_to_string(out.join("NCT04822922/forecast/manifest.json")).unwrap();
    assert!(manifest.contains("weight roster"), "{manifest}");
    let summary = rows(&out.join("NCT04822922/forecast/summary.csv"));
    let doses = summary.iter().find(|r| r["measure"] == "doses").unwrap();
    assert_eq!(doses["p5"], "64", "16 patients x 4 infusions, nobody dying");
    for w in rows(&out.join("NCT04822922/forecast/weekly.csv")) {
        for q in ["p5", "p25", "p50", "p75", "p95", "p99"] {
            let c = num(&w, &format!("cells_{q}"));
            assert_eq!(c % 4e6, 0.0, "{} {q} {c}", w["week_start"]);
        }
    }
    let cells = summary.iter().find(|r| r["measure"] == "cells").unwrap();
    let (lo, hi) = (64.0 * 2e7, 64.0 * 9.6e7);
    assert!((lo..=hi).contains(&num(cells, "p50")), "{cells:?}");
}

#[test]
fn a_roster_that_starts_before_the_plan_is_counted_from_its_first_week() {
    // The plan starts 2026-10-05 (Monday); the roster's first patient on 2026-08-03: week
    // 1 moves back to 2026-08-03, the horizon still ends 60 weeks after 2026-10-05, and
    // every dose of the roster is in a week.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(plan(dir.path(), 16, 0.0, 0.0, 0.0))
        .unwrap()
        .replace(
            "start = { value = \"2026-08-03\"",
            "start = { value = \"2026-10-05\"",
        )
        .replace(
            "activation = { value = \"2026-08-03\"",
            "activation = { value = \"2026-10-05\"",
        );
    let p = write_file(dir.path(), "late.toml", &text);
    let out = dir.path().join("out");
    let roster = "scenarios/rosters/NCT04822922.csv";
    forecast(&p, &out, &["--roster", roster, "--replicates", "20"]).expect_code(0);
    let weekly = rows(&out.join("NCT04822922/forecast/weekly.csv"));
    assert_eq!(weekly[0]["week_start"], "2026-08-03");
    assert_eq!(
        weekly.len(),
        60 + 9,
        "9 weeks from 2026-08-03 to 2026-10-05"
    );
    let total: f64 = weekly.iter().map(|w| num(w, "cells_p50")).sum();
    assert_eq!(
        total, 3_201_280_000.0,
        "cohort's total, every dose in a week"
    );
}
