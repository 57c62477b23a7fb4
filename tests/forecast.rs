//! `dosesim forecast`: the exact case (a roster, nobody dying) against cohort's prep.csv,
//! the same bytes at any thread count, the files a planner opens, bad plans, the forecast
//! in `run`'s report; issue 20: the assumed dose said in every output, cumulative demand
//! and lots that add up, monthly capacity risk from its weeks, the record's facts, per-site
//! demand and products in mL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

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

/// The rows of all sites together (of one product, when given).
fn all_sites(
    rows: &[BTreeMap<String, String>],
    product: Option<&str>,
) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .filter(|r| r["site"] == "all sites" && product.is_none_or(|p| r["product"] == p))
        .cloned()
        .collect()
}

/// summary.csv's row of `measure` for all sites (and `product`, when given).
fn measure(
    rows: &[BTreeMap<String, String>],
    measure: &str,
    product: &str,
) -> BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["measure"] == measure && r["site"] == "all sites" && r["product"] == product)
        .unwrap_or_else(|| panic!("no {measure} row for '{product}'"))
        .clone()
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
    let weekly = all_sites(&rows(&out.join("NCT04822922/forecast/weekly.csv")), None);
    assert_eq!(weekly.len(), 60, "one row per week of the horizon");
    let mut seen = 0;
    let mut cumulative = 0.0;
    for w in &weekly {
        let start: chrono::NaiveDate = w["week_start"].parse().unwrap();
        let (cells, doses) = by_week.get(&start).copied().unwrap_or((0.0, 0));
        cumulative += cells;
        for col in ["cumulative_mean", "cumulative_p5", "cumulative_p99"] {
            assert_eq!(num(w, col), cumulative, "{start} {col}");
        }
        for col in ["amount_mean", "amount_p5", "amount_p50", "amount_p99"] {
            assert_eq!(num(w, col), cells, "{start} {col}");
        }
        assert_eq!(num(w, "doses_p50"), f64::from(doses), "{start}");
        assert_eq!(num(w, "doses_mean"), f64::from(doses), "{start}");
        seen += usize::from(cells > 0.0);
    }
    assert_eq!(seen, by_week.len(), "every prep week is inside the horizon");
    let summary = rows(&out.join("NCT04822922/forecast/summary.csv"));
    assert_eq!(measure(&summary, "patients_enrolled", "")["p50"], "16");
    assert_eq!(measure(&summary, "patients_completed", "")["p5"], "16");
    let total = measure(&summary, "amount", "uc_msc");
    assert_eq!(total["p50"], "3201280000", "cohort's 3201280000 cells");
    assert_eq!(total["unit"], "cells");
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
            .filter(|r| r["site"] == "all sites")
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
            .any(|w| w.starts_with("assumed: NCT04822922: forecast plan ")
                && w.contains(", mortality.day28, ")),
        "{}",
        run.err()
    );
    let weekly = all_sites(&rows(&out.join("NCT04822922/forecast/weekly.csv")), None);
    let monthly = all_sites(&rows(&out.join("NCT04822922/forecast/monthly.csv")), None);
    for rs in [&weekly, &monthly] {
        let mut before = (0.0, 0.0);
        for r in rs.iter() {
            for name in ["amount", "cumulative"] {
                let ps: &[&str] = if name == "amount" {
                    &["p5", "p25", "p50", "p75", "p95", "p99"]
                } else {
                    &["p5", "p50", "p95", "p99"]
                };
                let q: Vec<f64> = ps.iter().map(|p| num(r, &format!("{name}_{p}"))).collect();
                assert!(q.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
                // Every dose is whole cells.
                assert!(q.iter().all(|x| x.fract() == 0.0), "{r:?}");
            }
            assert!(num(r, "doses_p5") <= num(r, "doses_p95"));
            // Lots released by the end of the period: ceil(cumulative / 2e8) of the P50
            // and P95, never fewer than the period before.
            let (c50, c95) = (num(r, "cumulative_p50"), num(r, "cumulative_p95"));
            assert_eq!(num(r, "lots_released_p50"), (c50 / 2e8).ceil(), "{r:?}");
            assert_eq!(num(r, "lots_released_p95"), (c95 / 2e8).ceil(), "{r:?}");
            assert!(
                c50 >= before.0 && c95 >= before.1,
                "a running total never falls: {r:?}"
            );
            before = (c50, c95);
            let p = num(r, "p_over_capacity");
            assert!((0.0..=1.0).contains(&p));
            assert_eq!(r["unit"], "cells");
        }
    }
    // The same doses, counted by week and by month, and the same running total at the end.
    let sum = |rs: &[BTreeMap<String, String>], c: &str| rs.iter().map(|r| num(r, c)).sum::<f64>();
    let (w, m) = (sum(&weekly, "doses_mean"), sum(&monthly, "doses_mean"));
    assert!((w - m).abs() < 0.01 * (weekly.len() as f64), "{w} vs {m}");
    assert_eq!(
        num(weekly.last().unwrap(), "cumulative_mean"),
        num(monthly.last().unwrap(), "cumulative_mean")
    );
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
        assert!(html.contains("Forecast of demand"), "{t}");
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
    let doses = measure(&summary, "doses", "uc_msc");
    assert_eq!(doses["p5"], "64", "16 patients x 4 infusions, nobody dying");
    for w in rows(&out.join("NCT04822922/forecast/weekly.csv")) {
        for q in ["p5", "p25", "p50", "p75", "p95", "p99"] {
            let c = num(&w, &format!("amount_{q}"));
            assert_eq!(c % 4e6, 0.0, "{} {q} {c}", w["week_start"]);
        }
    }
    let cells = measure(&summary, "amount", "uc_msc");
    let (lo, hi) = (64.0 * 2e7, 64.0 * 9.6e7);
    assert!((lo..=hi).contains(&num(&cells, "p50")), "{cells:?}");
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
    let weekly = all_sites(&rows(&out.join("NCT04822922/forecast/weekly.csv")), None);
    assert_eq!(weekly[0]["week_start"], "2026-08-03");
    assert_eq!(
        weekly.len(),
        60 + 9,
        "9 weeks from 2026-08-03 to 2026-10-05"
    );
    let total: f64 = weekly.iter().map(|w| num(w, "amount_p50")).sum();
    assert_eq!(
        total, 3_201_280_000.0,
        "cohort's total, every dose in a week"
    );
}

/// The bundled plan of NCT02812121 with `edits` (old, new) applied, written into `dir`.
fn bundled_plan(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string("scenarios/plans/nct02812121.toml").unwrap();
    for (old, new) in edits {
        assert!(text.contains(old), "{old}");
        text = text.replacen(old, new, 1);
    }
    write_file(dir, "plan.toml", &text)
}

fn forecast_of(scenario: &str, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec![
        "forecast".into(),
        scenario.into(),
        "--out".into(),
        out.into(),
    ];
    args.extend(extra.iter().map(|s| s.into()));
    run(args)
}

#[test]
fn nct02812121s_forecast_says_in_every_output_that_it_rests_on_the_assumed_dose() {
    // Issue 20, item 9: the summary line, the CSV files and forecast.html were unmarked
    // (only stderr warned).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = forecast_of("scenarios/nct02812121.toml", &out, &["--replicates", "300"]);
    r.expect_code(0);
    let line = r
        .out()
        .lines()
        .find(|l| l.starts_with("NCT02812121: "))
        .unwrap()
        .to_string();
    assert!(
        line.contains("ucb_msc: median") && line.contains("[includes assumed doses]"),
        "{line}"
    );
    assert!(line.contains("[assumed: product"), "{line}");
    let f = out.join("NCT02812121/forecast");
    for file in ["weekly.csv", "monthly.csv", "lots.csv"] {
        let rs = rows(&f.join(file));
        assert!(!rs.is_empty(), "{file}");
        for r in &rs {
            let names: Vec<&str> = r["assumed"].split("; ").collect();
            assert!(
                names.contains(&"dose") && names.contains(&"product"),
                "{file}: {r:?}"
            );
        }
    }
    let summary = rows(&f.join("summary.csv"));
    for m in ["doses", "amount", "amount_after_horizon"] {
        let row = measure(&summary, m, "ucb_msc");
        assert!(row["assumed"].split("; ").any(|a| a == "dose"), "{row:?}");
    }
    assert_eq!(
        measure(&summary, "patients_enrolled", "")["assumed"],
        "",
        "enrolment rests on the plan alone"
    );
    let html = std::fs::read_to_string(f.join("forecast.html")).unwrap();
    assert!(html.contains("These figures rest on assumed regimen values"));
    assert!(html.contains("ucb_msc dose") && html.contains("The record states no cell dose"));
    let svg = std::fs::read_to_string(f.join("fan-ucb_msc.svg")).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.iter().any(|t| t.contains("assumed dose")),
        "the chart's title: {texts:?}"
    );
}

#[test]
fn run_marks_the_forecast_line_of_a_trial_with_an_assumed_dose() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = run([
        "run".as_ref(),
        "scenarios/nct02812121.toml".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    r.expect_code(0);
    let line = r
        .out()
        .lines()
        .find(|l| l.trim_start().starts_with("forecast: 10000 replicates"))
        .unwrap_or_else(|| panic!("{}", r.out()))
        .to_string();
    assert!(line.contains("[includes assumed doses]"), "{line}");
    let report = std::fs::read_to_string(out.join("NCT02812121/report.html")).unwrap();
    assert!(report.contains("These figures rest on assumed regimen values"));
}

#[test]
fn nct02812121s_lots_read_down_are_a_release_plan_that_adds_up_to_the_trial() {
    // Issue 20, item 10: the weekly lots_p50 column, a ceiling per week, summed to 122
    // lots for a trial that needs 6 or 7 (P50 5.91e9, P95 6.24e9 cells at 1e9 a lot).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    forecast_of(
        "scenarios/nct02812121.toml",
        &out,
        &["--replicates", "2000"],
    )
    .expect_code(0);
    let f = out.join("NCT02812121/forecast");
    let weekly = all_sites(&rows(&f.join("weekly.csv")), Some("ucb_msc"));
    let mut before = (0.0, 0.0);
    for w in &weekly {
        let l = (num(w, "lots_released_p50"), num(w, "lots_released_p95"));
        assert!(l.0 >= before.0 && l.1 >= before.1, "never fewer: {w:?}");
        assert!(l.0 <= l.1);
        before = l;
    }
    assert_eq!(
        before,
        (6.0, 7.0),
        "the whole trial: 6 lots at the P50, 7 at the P95"
    );
    let summary = rows(&f.join("summary.csv"));
    let total = measure(&summary, "amount", "ucb_msc");
    assert_eq!(before.0, (num(&total, "p50") / 1e9).ceil());
    // lots.csv: one row per lot up to the P95's, each due in the first week whose lots
    // released reach it; the seventh is not needed at the P50.
    let lots = rows(&f.join("lots.csv"));
    assert_eq!(lots.len(), 7);
    for (k, l) in lots.iter().enumerate() {
        assert_eq!(num(l, "lot"), (k + 1) as f64);
        for (q, col) in [("p50", "lots_released_p50"), ("p95", "lots_released_p95")] {
            let first = weekly.iter().find(|w| num(w, col) >= (k + 1) as f64);
            match first {
                Some(w) => {
                    assert_eq!(l[&format!("iso_week_{q}")], w["iso_week"], "lot {}", k + 1);
                    assert_eq!(l[&format!("released_by_{q}")], w["week_start"]);
                }
                None => assert_eq!(l[&format!("iso_week_{q}")], "", "lot {}", k + 1),
            }
        }
        // The bundled plan gives a lead time: each lot starts that many weeks earlier.
        let lead = num(l, "lead_time_weeks");
        let released: chrono::NaiveDate = l["released_by_p95"].parse().unwrap();
        let start: chrono::NaiveDate = l["start_by_p95"].parse().unwrap();
        assert_eq!((released - start).num_days(), lead as i64 * 7);
    }
    assert_eq!(lots[6]["iso_week_p50"], "");
    let html = std::fs::read_to_string(f.join("forecast.html")).unwrap();
    assert!(html.contains("release plan") && html.contains("lots.csv"));
}

#[test]
fn the_last_weeks_cumulative_percentiles_are_the_trials_totals() {
    // With a horizon long enough that no replicate gives a dose after it, each replicate's
    // running total at the last week is its total: the same order statistics, exactly.
    let dir = tempfile::tempdir().unwrap();
    let p = bundled_plan(
        dir.path(),
        &[(
            "horizon_weeks = { value = 200,",
            "horizon_weeks = { value = 300,",
        )],
    );
    let out = dir.path().join("out");
    let r = forecast_of(
        "scenarios/nct02812121.toml",
        &out,
        &["--plan", p.to_str().unwrap(), "--replicates", "1000"],
    );
    r.expect_code(0);
    let f = out.join("NCT02812121/forecast");
    let summary = rows(&f.join("summary.csv"));
    assert_eq!(
        measure(&summary, "amount_after_horizon", "ucb_msc")["mean"],
        "0"
    );
    let total = measure(&summary, "amount", "ucb_msc");
    let last = all_sites(&rows(&f.join("weekly.csv")), Some("ucb_msc"))
        .pop()
        .unwrap();
    for q in ["mean", "p5", "p50", "p95"] {
        assert_eq!(total[q], last[&format!("cumulative_{q}")], "{q}");
    }
    let month = all_sites(&rows(&f.join("monthly.csv")), Some("ucb_msc"))
        .pop()
        .unwrap();
    assert_eq!(total["p50"], month["cumulative_p50"]);
}

#[test]
fn a_months_capacity_risk_is_the_share_with_any_of_its_weeks_over() {
    // Issue 20, item 10: a month against 4.4 weeks of capacity read 6% where its weeks
    // read 15%. A month is over capacity in a replicate when any of its weeks is.
    let dir = tempfile::tempdir().unwrap();
    let p = bundled_plan(
        dir.path(),
        &[(
            "capacity_cells_per_week = { value = 1.5e8,",
            "capacity_cells_per_week = { value = 6e7,",
        )],
    );
    let out = dir.path().join("out");
    forecast_of(
        "scenarios/nct02812121.toml",
        &out,
        &["--plan", p.to_str().unwrap(), "--replicates", "1000"],
    )
    .expect_code(0);
    let f = out.join("NCT02812121/forecast");
    let weekly = all_sites(&rows(&f.join("weekly.csv")), Some("ucb_msc"));
    let monthly = all_sites(&rows(&f.join("monthly.csv")), Some("ucb_msc"));
    let mut above = 0;
    for m in &monthly {
        let first: chrono::NaiveDate = m["first_day"].parse().unwrap();
        let last = first + chrono::Days::new(num(m, "days_counted") as u64 - 1);
        let weeks: Vec<f64> = weekly
            .iter()
            .filter(|w| {
                let start: chrono::NaiveDate = w["week_start"].parse().unwrap();
                start <= last && start + chrono::Days::new(6) >= first
            })
            .map(|w| num(w, "p_over_capacity"))
            .collect();
        let pm = num(m, "p_over_capacity");
        let most = weeks.iter().copied().fold(0.0, f64::max);
        let sum: f64 = weeks.iter().sum();
        assert!(pm >= most, "{}: {pm} below a week's {most}", m["month"]);
        assert!(
            pm <= sum.min(1.0) + 1e-9,
            "{}: {pm} above {sum}",
            m["month"]
        );
        above += usize::from(pm > most);
        assert_eq!(num(m, "capacity_cells_per_week"), 6e7);
    }
    assert!(
        above > 3,
        "months where more replicates have some week over than any one week"
    );
    let html = std::fs::read_to_string(f.join("forecast.html")).unwrap();
    assert!(html.contains("P(a week over capacity)"));
}

/// An administration record for the NCT04822922 demo roster: P2922-001 given all four
/// infusions (the first a smaller amount), P2922-002 the first, then (`died`) dead on
/// 2026-08-25.
fn record(dir: &Path, died: bool) -> PathBuf {
    let mut rows = vec![
        "patient_id,date,record,component,occurrence,amount,note",
        "P2922-001,2026-08-03,given,uc_msc,1,20000000,part of the bag lost",
        "P2922-001,2026-08-06,given,uc_msc,2,,",
        "P2922-001,2026-08-09,given,uc_msc,3,,",
        "P2922-001,2026-08-12,given,uc_msc,4,,",
        "P2922-002,2026-08-21,given,uc_msc,1,,",
    ];
    if died {
        rows.push("P2922-002,2026-08-25,died,,,,");
    }
    write_file(
        dir,
        if died { "died.csv" } else { "alive.csv" },
        &(rows.join("\n") + "\n"),
    )
}

#[test]
fn with_the_record_a_dead_patient_is_not_simulated_and_the_forecast_starts_at_the_as_of_week() {
    // Issue 20, item 11: with --roster, a patient the record showed dead was simulated
    // again, and the outputs started at the roster's first week, months in the past.
    let dir = tempfile::tempdir().unwrap();
    // Nobody dies in the plan: every replicate is the same, and every dose counts.
    let p = plan(dir.path(), 16, 0.0, 0.0, 0.0);
    let roster = "scenarios/rosters/NCT04822922.csv";
    let go = |log: &Path, out: &Path| {
        let r = forecast(
            &p,
            out,
            &[
                "--roster",
                roster,
                "--log",
                log.to_str().unwrap(),
                "--as-of",
                "2026-08-26",
                "--replicates",
                "50",
            ],
        );
        r.expect_code(0);
        r.out()
    };
    let (dead, alive) = (dir.path().join("dead"), dir.path().join("alive"));
    let said = go(&record(dir.path(), true), &dead);
    go(&record(dir.path(), false), &alive);
    assert!(
        said.contains("as of 2026-08-26: 5 doses given") && said.contains("1 death"),
        "{said}"
    );
    let get = |out: &Path, file: &str| rows(&out.join("NCT04822922/forecast").join(file));
    for out in [&dead, &alive] {
        let weekly = all_sites(&get(out, "weekly.csv"), None);
        assert_eq!(
            weekly[0]["week_start"], "2026-08-24",
            "the as-of date's week"
        );
        assert_eq!(weekly[0]["iso_week"], "2026-W35");
    }
    let summary = |out: &Path| get(out, "summary.csv");
    let doses = |out: &Path| num(&measure(&summary(out), "doses", "uc_msc"), "p50");
    // 16 patients x 4 infusions; P2922-002's last three are not given once they are dead.
    assert_eq!(doses(&alive), 64.0);
    assert_eq!(doses(&dead), 61.0);
    let s = summary(&dead);
    assert_eq!(
        num(&measure(&s, "doses_given_to_date", "uc_msc"), "p50"),
        5.0
    );
    // What was given is counted as given: its recorded amount, not the plan's.
    let given = 20_000_000.0 + 3.0 * 60.1 * 4e5 + 53.1 * 4e5;
    assert_eq!(
        num(&measure(&s, "amount_given_to_date", "uc_msc"), "p50"),
        given
    );
    assert_eq!(
        s.iter()
            .find(|r| r["measure"] == "patients_died_recorded")
            .unwrap()["mean"],
        "1"
    );
    assert_eq!(
        num(&measure(&s, "patients_died_before_completing", ""), "p95"),
        1.0
    );
    assert_eq!(num(&measure(&s, "patients_enrolled", ""), "p5"), 16.0);
    // The weeks forecast hold the rest: what came before the as-of week is in the totals.
    let in_weeks: f64 = all_sites(&get(&dead, "weekly.csv"), None)
        .iter()
        .map(|w| num(w, "doses_p50"))
        .sum();
    assert_eq!(in_weeks, 61.0 - 5.0);
    // P2922-002's dose due on 2026-08-24, before the as-of date, with nothing recorded:
    // counted as still to give while they live, in the as-of week.
    let first = |out: &Path| num(&all_sites(&get(out, "weekly.csv"), None)[0], "doses_p50");
    assert_eq!(
        first(&alive),
        2.0,
        "the overdue dose of 08-24 and that of 08-27 (the fourth moves off Sunday 08-30 to Monday 08-31)"
    );
    assert_eq!(first(&dead), 0.0);
    let manifest =
        std::fs::read_to_string(dead.join("NCT04822922/forecast/manifest.json")).unwrap();
    assert!(manifest.contains("administration record") && manifest.contains("2026-08-26"));
}

#[test]
fn a_record_needs_the_roster_and_an_as_of_date_inside_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), 16, 0.0, 0.0, 0.0);
    let out = dir.path().join("out");
    let log = record(dir.path(), true);
    let r = forecast(&p, &out, &["--log", log.to_str().unwrap()]);
    r.expect_code(2);
    assert!(r.err().contains("--log: needs --roster"), "{}", r.err());
    let r = forecast(
        &p,
        &out,
        &[
            "--roster",
            "scenarios/rosters/NCT04822922.csv",
            "--log",
            log.to_str().unwrap(),
            "--as-of",
            "2028-01-03",
        ],
    );
    r.expect_code(2);
    assert!(
        r.err()
            .contains("after the forecast's horizon ends (2027-09-26"),
        "{}",
        r.err()
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn the_bundled_record_of_nct01724398_starts_the_forecast_at_its_as_of_week() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = forecast_of(
        "scenarios/nct01724398.toml",
        &out,
        &[
            "--roster",
            "scenarios/rosters/NCT01724398.csv",
            "--log",
            "scenarios/logs/NCT01724398.csv",
            "--replicates",
            "200",
        ],
    );
    r.expect_code(0);
    assert!(r.out().contains("as of 2026-11-20:"), "{}", r.out());
    let f = out.join("NCT01724398/forecast");
    let weekly = rows(&f.join("weekly.csv"));
    assert_eq!(weekly[0]["week_start"], "2026-11-16");
    let summary = rows(&f.join("summary.csv"));
    let one = |m: &str| summary.iter().find(|r| r["measure"] == m).unwrap()["mean"].clone();
    assert_eq!(one("patients_died_recorded"), "1");
    assert_eq!(one("patients_withdrawn_recorded"), "1");
    assert_eq!(one("record_complete_to"), "2026-11-20");
    let html = std::fs::read_to_string(f.join("forecast.html")).unwrap();
    assert!(html.contains("From the administration record."));
}

#[test]
fn demand_is_given_per_site_and_the_sites_add_up_to_all() {
    // Issue 20, item 11: per-site demand. Half the demo roster at another site; nobody
    // dies, so every replicate is the same and each week's sites add up exactly.
    let dir = tempfile::tempdir().unwrap();
    let lines = roster_lines(Path::new("scenarios/rosters/NCT04822922.csv"));
    let mut text = vec!["patient_id,arm,weight_kg,start_date,site".to_string()];
    for (k, l) in lines.iter().enumerate() {
        text.push(if k % 2 == 1 {
            l.replace("SH-RENJI", "SH-TJ")
        } else {
            l.clone()
        });
    }
    let roster = write_file(dir.path(), "two.csv", &(text.join("\n") + "\n"));
    let p = plan(dir.path(), 16, 0.0, 0.0, 0.0);
    let out = dir.path().join("out");
    forecast(
        &p,
        &out,
        &["--roster", roster.to_str().unwrap(), "--replicates", "20"],
    )
    .expect_code(0);
    let f = out.join("NCT04822922/forecast");
    for file in ["weekly.csv", "monthly.csv"] {
        let all = rows(&f.join(file));
        let key = if file == "weekly.csv" {
            "week_start"
        } else {
            "month"
        };
        let sites: std::collections::BTreeSet<&str> =
            all.iter().map(|r| r["site"].as_str()).collect();
        assert_eq!(
            sites.into_iter().collect::<Vec<_>>(),
            ["SH-RENJI", "SH-TJ", "all sites"],
            "{file}"
        );
        let mut by_period: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
        for r in &all {
            let e = by_period
                .entry((r[key].clone(), r["site"].clone()))
                .or_default();
            *e = (num(r, "amount_p50"), num(r, "cumulative_p50"));
            if r["site"] != "all sites" {
                assert_eq!(r["lots_released_p50"], "", "lots are the lab's: all sites");
                assert_eq!(r["capacity_cells_per_week"], "");
            }
        }
        let mut checked = 0;
        for ((period, site), (amount, cum)) in &by_period {
            if site == "all sites" {
                let part = |s: &str| by_period[&(period.clone(), s.to_string())];
                assert_eq!(
                    *amount,
                    part("SH-RENJI").0 + part("SH-TJ").0,
                    "{file} {period}"
                );
                assert_eq!(
                    *cum,
                    part("SH-RENJI").1 + part("SH-TJ").1,
                    "{file} {period}"
                );
                checked += usize::from(*amount > 0.0);
            }
        }
        assert!(checked > 5, "{file}");
    }
    let summary = rows(&f.join("summary.csv"));
    let enrolled = |site: &str| {
        summary
            .iter()
            .find(|r| r["measure"] == "patients_enrolled" && r["site"] == site)
            .unwrap()["p50"]
            .clone()
    };
    assert_eq!(
        (
            enrolled("SH-RENJI"),
            enrolled("SH-TJ"),
            enrolled("all sites")
        ),
        ("8".into(), "8".into(), "16".into())
    );
}

#[test]
fn plasma_in_ml_is_forecast_with_its_unit() {
    // Issue 20, item 11: products in mL (NCT01724398's plasma exchanges, 2000 mL each)
    // were left out.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    forecast_of("scenarios/nct01724398.toml", &out, &["--replicates", "200"]).expect_code(0);
    let f = out.join("NCT01724398/forecast");
    let weekly = all_sites(&rows(&f.join("weekly.csv")), Some("plasma"));
    assert!(!weekly.is_empty());
    let mut some = 0;
    for w in &weekly {
        assert_eq!(w["unit"], "mL");
        for q in ["p5", "p50", "p95", "p99"] {
            assert_eq!(num(w, &format!("amount_{q}")) % 2000.0, 0.0, "{w:?}");
        }
        assert_eq!(num(w, "amount_p50"), 2000.0 * num(w, "doses_p50"));
        assert_eq!(w["lot_cells"], "", "lots are of cells");
        some += usize::from(num(w, "amount_p50") > 0.0);
    }
    assert!(some > 10);
    let summary = rows(&f.join("summary.csv"));
    let total = measure(&summary, "amount", "plasma");
    assert_eq!(total["unit"], "mL");
    assert!(num(&total, "p50") > 0.0);
    let svg = std::fs::read_to_string(f.join("fan-plasma.svg")).unwrap();
    assert!(svg_texts(&svg).iter().any(|t| t == "mL per week"));
}

/// A plan whose start runs its horizon, or a schedule of its first patients, past
/// 9999-12-31 is refused naming `start` (it was blamed on `weight_kg`, with no line).
#[test]
fn a_plan_start_past_the_calendar_is_refused_naming_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), 16, 0.0, 0.0, 0.0);
    let text = std::fs::read_to_string(&p).unwrap();
    let out = dir.path().join("out");
    // The horizon (60 weeks) itself ends past the calendar: said with its line.
    let late = text.replace("2026-08-03", "9999-06-07");
    std::fs::write(&p, &late).unwrap();
    let r = forecast(&p, &out, &["--replicates", "10"]);
    r.expect_code(2);
    assert!(
        r.err().contains(&format!(
            "{}:{}: start: 9999-06-07 with a horizon of 60 weeks ends after 9999-12-31",
            p.display(),
            line_of(&late, "start = ")
        )),
        "{}",
        r.err()
    );
    // A start in year 0: before the first date the outputs can show.
    let early = text.replace("2026-08-03", "0000-06-07");
    std::fs::write(&p, &early).unwrap();
    let r = forecast(&p, &out, &["--replicates", "10"]);
    r.expect_code(2);
    assert!(
        r.err().contains(&format!(
            "{}:{}: start: 0000-06-07: the forecast's first week begins before 0001-01-01",
            p.display(),
            line_of(&early, "start = ")
        )),
        "{}",
        r.err()
    );
    // The horizon fits, a first patient's week-48 visit does not.
    let late = text.replace("2026-08-03", "9998-10-05");
    std::fs::write(&p, &late).unwrap();
    let r = forecast(&p, &out, &["--replicates", "10"]);
    r.expect_code(2);
    assert!(
        r.err().contains(&format!("{}: start: arm ", p.display()))
            && r.err().contains("falls outside the calendar")
            && !r.err().contains("weight_kg"),
        "{}",
        r.err()
    );
    assert!(!out.exists());
}
