//! `dosesim prep`, the pharmacy's preparation sheet, and `pharmacy --from/--to`, run as a
//! pharmacist would. The figures are checked by hand in the comments.

use std::path::{Path, PathBuf};

use crate::common::*;

/// NCT04822922, doses on days 1, 4, 7 and 10, without a site calendar:
/// - H1, high (12 x 10^5 cells/kg) x 62.5 kg = 75,000,000 cells: Jan 4, 7, 10, 13;
/// - L1, low (4 x 10^5) x 70 kg = 28,000,000 cells: Jan 5, 8, 11, 14;
/// - M1, middle (8 x 10^5) x 55.5 kg = 44,400,000 cells: Jan 7, 10, 13, 16.
const THREE: [&str; 3] = [
    "H1,high,62.5,2027-01-04",
    "L1,low,70,2027-01-05",
    "M1,middle,55.5,2027-01-07",
];

fn three() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(dir.path(), "r.csv", &THREE);
    (dir, roster)
}

fn prep(scenario: &str, roster: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["prep", scenario, "--roster", roster.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(args)
}

/// The CSV's rows as maps from column to cell.
fn csv_rows(bytes: &[u8]) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn one_day_lists_each_dose_its_volume_and_the_days_total_as_checked_by_hand() {
    let (_dir, roster) = three();
    let r = prep(
        "NCT04822922",
        &roster,
        &[
            "--date",
            "2027-01-13",
            "--concentration",
            "uc_msc=2.5e6",
            "--format",
            "csv",
        ],
    );
    r.expect_code(0);
    let rows = csv_rows(&r.stdout);
    let cells = |i: usize, c: &str| rows[i][c].clone();
    assert_eq!(rows.len(), 3, "two doses and the day's total");
    // H1's 4th dose: 75,000,000 cells / 2.5 x 10^6 cells/mL = 30 mL; 4 x 75e6 = 3e8 in all.
    assert_eq!(cells(0, "line"), "dose");
    assert_eq!(cells(0, "weekday"), "Wed");
    assert_eq!(cells(0, "patient_id"), "H1");
    assert_eq!(cells(0, "arm_id"), "high");
    assert_eq!(
        (cells(0, "occurrence"), cells(0, "occurrences")),
        ("4".into(), "4".into())
    );
    assert_eq!(cells(0, "dose"), "75000000");
    assert_eq!(cells(0, "volume_ml"), "30");
    assert_eq!(cells(0, "concentration_cells_per_ml"), "2500000");
    assert_eq!(cells(0, "concentration_source"), "command line");
    assert_eq!(cells(0, "cumulative_dose"), "300000000");
    // M1's 3rd: 44,400,000 / 2.5e6 = 17.76 mL; 3 x 44.4e6 = 133,200,000.
    assert_eq!(cells(1, "patient_id"), "M1");
    assert_eq!(cells(1, "occurrence"), "3");
    assert_eq!(cells(1, "dose"), "44400000");
    assert_eq!(cells(1, "volume_ml"), "17.76");
    assert_eq!(cells(1, "cumulative_dose"), "133200000");
    // The day: 2 doses, 119,400,000 cells, 47.76 mL.
    assert_eq!(cells(2, "line"), "day_total");
    assert_eq!(cells(2, "doses"), "2");
    assert_eq!(cells(2, "dose"), "119400000");
    assert_eq!(cells(2, "volume_ml"), "47.76");
    assert!(
        r.stderr
            .contains("NCT04822922: 2 doses to prepare on 1 date (Wed 2027-01-13)")
    );
}

#[test]
fn a_week_a_range_and_a_day_pick_the_dates_of_the_schedule() {
    let (_dir, roster) = three();
    let dates = |extra: &[&str]| -> Vec<(String, String)> {
        let mut args = vec!["--format", "csv"];
        args.extend_from_slice(extra);
        let r = prep("NCT04822922", &roster, &args);
        r.expect_code(0);
        csv_rows(&r.stdout)
            .into_iter()
            .filter(|row| row["line"] == "dose")
            .map(|row| (row["date"].clone(), row["patient_id"].clone()))
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    // ISO week 2 of 2027: Monday 11 to Sunday 17 January.
    let week2 = pairs(&[
        ("2027-01-11", "L1"),
        ("2027-01-13", "H1"),
        ("2027-01-13", "M1"),
        ("2027-01-14", "L1"),
        ("2027-01-16", "M1"),
    ]);
    assert_eq!(dates(&["--week", "2027-W02"]), week2);
    assert_eq!(
        dates(&["--from", "2027-01-11", "--to", "2027-01-17"]),
        week2
    );
    assert_eq!(dates(&["--week", "2027-w02"]), week2);
    // Week 1: Monday 4 to Sunday 10 January; the 10th holds H1 3/4 and M1 2/4.
    assert_eq!(
        dates(&["--week", "2027-W01"]),
        pairs(&[
            ("2027-01-04", "H1"),
            ("2027-01-05", "L1"),
            ("2027-01-07", "H1"),
            ("2027-01-07", "M1"),
            ("2027-01-08", "L1"),
            ("2027-01-10", "H1"),
            ("2027-01-10", "M1"),
        ])
    );
    // An open end; no option at all is every scheduled date (12 doses).
    assert_eq!(dates(&["--from", "2027-01-14"]).len(), 2);
    assert_eq!(dates(&["--to", "2027-01-05"]).len(), 2);
    assert_eq!(dates(&[]).len(), 12);
    // A date with nothing scheduled: the sheet says so.
    let r = prep("NCT04822922", &roster, &["--date", "2027-01-06"]);
    r.expect_code(0);
    assert!(r.out().contains("No dose to prepare."), "{}", r.out());
}

#[test]
fn the_volume_says_which_concentration_it_used_or_that_none_is_known() {
    let (_dir, roster) = three();
    // NCT04822922 states no concentration: the column says so, and stderr tells how.
    let r = prep("NCT04822922", &roster, &["--date", "2027-01-13"]);
    r.expect_code(0);
    let out = r.out();
    assert!(out.contains("| no concentration known |"), "{out}");
    assert!(out.contains("concentration: none known"), "{out}");
    assert!(
        r.warnings().iter().any(|w| w.contains(
            "uc_msc: no concentration known, so no volume to draw: give the lot's with --concentration uc_msc=CELLS_PER_ML"
        )),
        "{}",
        r.stderr
    );
    let csv = prep(
        "NCT04822922",
        &roster,
        &["--date", "2027-01-13", "--format", "csv"],
    );
    let rows = csv_rows(&csv.stdout);
    assert!(rows.iter().all(|r| r["volume_ml"].is_empty()));
    assert!(
        rows.iter()
            .all(|r| r["concentration_source"] == "none known")
    );

    // NCT01573923 states 1 x 10^6 cells/mL: 4 x 10^7 cells is 40 mL, as its record says
    // ("4x107/40ml"); a lot of 2 x 10^6 cells/mL halves it.
    let dir = tempfile::tempdir().unwrap();
    let r1573 = write_roster(dir.path(), "r.csv", &["A1,msc,60,2027-01-04"]);
    let sheet = |extra: &[&str]| {
        let mut args = vec!["--date", "2027-01-04", "--format", "csv"];
        args.extend_from_slice(extra);
        let r = prep("NCT01573923", &r1573, &args);
        r.expect_code(0);
        csv_rows(&r.stdout).remove(0)
    };
    let row = sheet(&[]);
    assert_eq!(
        (row["dose"].as_str(), row["volume_ml"].as_str()),
        ("40000000", "40")
    );
    assert_eq!(row["concentration_source"], "scenario");
    let row = sheet(&["--concentration", "uc_msc=2e6"]);
    assert_eq!(row["volume_ml"], "20");
    assert_eq!(row["concentration_cells_per_ml"], "2000000");
    assert_eq!(row["concentration_source"], "command line");
    let table = prep(
        "NCT01573923",
        &r1573,
        &["--date", "2027-01-04", "--concentration", "uc_msc=2e6"],
    );
    assert!(
        table
            .out()
            .contains("Volume to draw (mL, at 2.00 x 10⁶ cells/mL, --concentration)"),
        "{}",
        table.out()
    );
}

#[test]
fn a_scenario_is_named_by_its_trial_id_in_any_case() {
    let (_dir, roster) = three();
    let args = ["--week", "2027-W02", "--format", "csv"];
    let by_file = prep("scenarios/nct04822922.toml", &roster, &args);
    by_file.expect_code(0);
    for id in ["NCT04822922", "nct04822922"] {
        let r = prep(id, &roster, &args);
        r.expect_code(0);
        assert_eq!(r.stdout, by_file.stdout, "{id}");
    }
    // Other commands take the id too.
    let r = run(["show", "NCT01724398"]);
    r.expect_code(0);
    assert!(r.out().starts_with("NCT01724398: "));

    let r = prep("NCT99999999", &roster, &args);
    r.expect_code(2);
    assert!(
        r.stderr.contains("no scenario in scenarios/ has trial id 'NCT99999999'; the trial ids there: NCT01573923, NCT01724398, NCT02812121, NCT04822922, NCT05106972"),
        "{}",
        r.stderr
    );
    // Two scenarios with one id: neither is guessed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/nct04822922.toml")).unwrap();
    write_file(&dir.path().join("scenarios"), "a.toml", &text);
    write_file(&dir.path().join("scenarios"), "b.toml", &text);
    let out = dosesim()
        .current_dir(dir.path())
        .args(["show", "NCT04822922"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("trial id 'NCT04822922' is that of several scenarios: scenarios/a.toml, scenarios/b.toml; name the file"),
        "{err}"
    );
}

#[test]
fn given_missed_and_cancelled_doses_drop_off_and_an_overdue_one_stays() {
    // The bundled record of NCT01724398: on 2026-08-14, P4398-002's uc_msc 2/4 was given
    // and P4398-003's plasma exchange 2/3 missed; without the record both are listed.
    let roster = Path::new("scenarios/rosters/NCT01724398.csv");
    let log = "scenarios/logs/NCT01724398.csv";
    let sheet = |args: &[&str]| prep("NCT01724398", roster, args);
    let ids = |r: &Run| -> Vec<String> {
        r.expect_code(0);
        csv_rows(&r.stdout)
            .into_iter()
            .filter(|row| row["line"] == "dose")
            .map(|row| {
                format!(
                    "{} {} {}",
                    row["patient_id"], row["component"], row["status"]
                )
            })
            .collect()
    };
    let day = ["--date", "2026-08-14"];
    let csv = ["--format", "csv"];
    assert_eq!(
        ids(&sheet(&[&day[..], &csv].concat())),
        ["P4398-002 uc_msc planned", "P4398-003 pe planned"]
    );
    assert!(ids(&sheet(&[&["--log", log][..], &day, &csv].concat())).is_empty());
    let table = sheet(&[&["--log", log][..], &day].concat());
    assert!(
        table.out().contains("Administration record as of 2026-11-20: doses recorded as given, missed or cancelled are not listed (2 in this range)."),
        "{}",
        table.out()
    );
    // A dose due on or before the record's as-of date with nothing recorded stays on the
    // list, marked due: here the record is cut to 2026-08-13, before P4398-002's 2/4.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(log)).unwrap();
    let early: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("patient_id") || l.contains(",2026-08-07,"))
        .collect();
    let cut = write_file(dir.path(), "log.csv", &(early.join("\n") + "\n"));
    let cut = ["--log", cut.to_str().unwrap(), "--as-of", "2026-08-20"];
    assert_eq!(
        ids(&sheet(&[&cut[..], &day, &csv].concat())),
        ["P4398-002 uc_msc due", "P4398-003 pe due"]
    );
    // A sheet of a later day says that doses before it are overdue, and where they start.
    let later = sheet(&[&cut[..], &["--date", "2026-08-21"]].concat());
    later.expect_code(0);
    let first = later
        .warnings()
        .iter()
        .find_map(|w| {
            w.split_once("due before this range (the first on ")
                .map(|x| x.1[..10].to_string())
        })
        .unwrap_or_else(|| panic!("{}", later.stderr));
    assert!(first.as_str() < "2026-08-14", "{first}");
    assert!(
        later.out().contains("before this range (the first on "),
        "{}",
        later.out()
    );
    assert!(
        later
            .stderr
            .contains(&format!("`--from {first}` lists them"))
    );
    let listed = ids(&sheet(
        &[&cut[..], &["--from", &first, "--to", "2026-08-20"], &csv].concat(),
    ));
    assert!(listed.iter().all(|l| l.ends_with(" due")), "{listed:?}");
}

#[test]
fn a_site_has_its_own_sheet_and_an_unknown_site_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\nH1,high,62.5,2026-09-07,SH-RENJI\nL1,low,70,2026-09-07,BJ-302\nM1,middle,55.5,2026-09-07,\n",
    );
    let sites = |extra: &[&str]| -> Vec<(String, String)> {
        let mut args = vec!["--date", "2026-09-07", "--format", "csv"];
        args.extend_from_slice(extra);
        let r = prep("NCT04822922", &roster, &args);
        r.expect_code(0);
        csv_rows(&r.stdout)
            .into_iter()
            .filter(|row| row["line"] == "dose")
            .map(|row| (row["site"].clone(), row["patient_id"].clone()))
            .collect()
    };
    // Monday 7 September 2026 is open at both sites. Sites sort by name; no site first.
    assert_eq!(
        sites(&[]),
        [
            ("".to_string(), "M1".to_string()),
            ("BJ-302".into(), "L1".into()),
            ("SH-RENJI".into(), "H1".into())
        ]
    );
    assert_eq!(
        sites(&["--site", "SH-RENJI"]),
        [("SH-RENJI".to_string(), "H1".to_string())]
    );
    let r = prep("NCT04822922", &roster, &["--site", "SH-TJ"]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("--site: no patient of")
            && r.stderr
                .contains("is at site 'SH-TJ'; the roster's sites: SH-RENJI, BJ-302"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_printable_sheet_has_a_page_per_day_with_lot_concentration_and_signature_lines() {
    let (dir, roster) = three();
    let out = dir.path().join("week.html");
    let r = prep(
        "NCT04822922",
        &roster,
        &["--week", "2027-W02", "--out", out.to_str().unwrap()],
    );
    r.expect_code(0);
    assert!(r.stdout.is_empty());
    let html = std::fs::read_to_string(&out).unwrap();
    // Four dates that week: four pages, each starting on its own.
    assert_eq!(html.matches("<section class=\"day\">").count(), 4);
    assert!(html.contains(".day { break-after: page; page-break-after: always; }"));
    assert!(html.contains("tr { break-inside: avoid; page-break-inside: avoid; }"));
    for h in [
        "Preparation sheet: Mon 2027-01-11, no site (every day open)",
        "Preparation sheet: Wed 2027-01-13, no site (every day open)",
    ] {
        assert!(html.contains(h), "{h}");
    }
    for (text, n) in [
        ("<th>Prepared by</th>", 4),
        ("<th>Checked by</th>", 4),
        ("<th>Lot number</th>", 4),
        ("<th>Date and time</th>", 8),
        ("Lot's concentration: ______________ cells/mL", 4),
        ("Trial <b>NCT04822922</b>", 4),
    ] {
        assert_eq!(html.matches(text).count(), n, "{text}");
    }
    assert!(html.contains(
        "Day total: 2 doses, 119400000 (1.19 x 10⁸) cells, volume: no concentration known"
    ));
    // The inputs it was made from, for the batch record.
    assert!(html.contains("the scenario <code>scenarios/nct04822922.toml</code> (SHA-256"));
    assert_self_contained(&html, "week.html", &|_| false);
}

#[test]
fn the_sheet_formats_are_stable() {
    let (_dir, roster) = three();
    let args = ["--week", "2027-W02", "--concentration", "uc_msc=2.5e6"];
    let table = prep("NCT04822922", &roster, &args);
    table.expect_code(0);
    insta::assert_snapshot!("prep_week_table", table.out());
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = prep("NCT04822922", &roster, &csv_args);
    insta::assert_snapshot!("prep_week_csv", csv.out());
    let mut html_args = args.to_vec();
    html_args.extend(["--format", "html"]);
    let html = prep("NCT04822922", &roster, &html_args);
    // The roster's path is a temporary folder's: its name and hash differ each run.
    let html = html.out().replace(roster.to_str().unwrap(), "ROSTER");
    let roster_hash = html
        .split("the roster <code>ROSTER</code> (SHA-256 <code>")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_string();
    insta::assert_snapshot!("prep_week_html", html.replace(&roster_hash, "HASH"));
}

#[test]
fn bad_options_are_refused_at_once_and_nothing_is_written() {
    let (dir, roster) = three();
    let out = dir.path().join("sheet.csv");
    let r = prep(
        "NCT04822922",
        &roster,
        &[
            "--concentration",
            "uc_msc",
            "--concentration",
            "cells=1e6",
            "--concentration",
            "uc_msc=-3",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    r.expect_code(2);
    for m in [
        "--concentration: 'uc_msc': write PRODUCT=CELLS_PER_ML, as uc_msc=2.5e6",
        "--concentration: 'cells=1e6': NCT04822922 has no product 'cells'; its products: uc_msc",
        "--concentration: 'uc_msc=-3': '-3' is not a positive number of cells/mL",
    ] {
        assert!(r.stderr.contains(m), "{m}\n{}", r.stderr);
    }
    assert!(!out.exists());
    // Plasma is dosed in mL: it has no concentration.
    let r = run([
        "prep",
        "NCT01724398",
        "--roster",
        "scenarios/rosters/NCT01724398.csv",
        "--concentration",
        "plasma=1e6",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("plasma is dosed in mL"), "{}", r.stderr);

    let r = prep(
        "NCT04822922",
        &roster,
        &[
            "--from",
            "2027-01-20",
            "--to",
            "2027-01-10",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("--to: 2027-01-10 is before --from 2027-01-20"),
        "{}",
        r.stderr
    );
    for (args, m) in [
        (vec!["--week", "2027-W54"], "2027 has no ISO week 54"),
        (
            vec!["--week", "2027-03"],
            "is not an ISO week: write YYYY-Www",
        ),
        (
            vec!["--date", "2027-01-13", "--week", "2027-W02"],
            "cannot be used with",
        ),
        (
            vec!["--out", "sheet.xlsx"],
            "dosesim does not write .xlsx files; name a file ending in .txt, .md, .csv, .html, .htm",
        ),
        (
            vec!["--format", "csv", "--out", "x.html"],
            "does not fit a file named x.html",
        ),
    ] {
        let r = prep("NCT04822922", &roster, &args);
        r.expect_code(2);
        assert!(r.stderr.contains(m), "{args:?}: {m}\n{}", r.stderr);
    }
    assert!(!out.exists());
}

#[test]
fn pharmacy_from_to_lists_the_rows_of_those_dates_only() {
    let (_dir, roster) = three();
    let scenario = Path::new("scenarios/nct04822922.toml");
    let all = pharmacy(scenario, &roster, &[]);
    all.expect_code(0);
    let some = pharmacy(
        scenario,
        &roster,
        &[
            "--from".as_ref(),
            "2027-01-10".as_ref(),
            "--to".as_ref(),
            "2027-01-13".as_ref(),
        ],
    );
    some.expect_code(0);
    let text = all.out();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let expected: Vec<&str> = lines
        .filter(|l| {
            let date = l.split(',').nth(3).unwrap();
            ("2027-01-10"..="2027-01-13").contains(&date)
        })
        .collect();
    // Jan 10: H1 3/4, M1 2/4; Jan 11: L1 3/4; Jan 13: H1 4/4, M1 3/4.
    assert_eq!(expected.len(), 5);
    assert_eq!(some.out(), format!("{header}\n{}\n", expected.join("\n")));
    let r = pharmacy(
        scenario,
        &roster,
        &[
            "--from".as_ref(),
            "2027-01-13".as_ref(),
            "--to".as_ref(),
            "2027-01-10".as_ref(),
        ],
    );
    r.expect_code(2);
}

#[test]
fn every_days_totals_are_cohorts_prep_csv_for_every_bundled_trial() {
    let dir = tempfile::tempdir().unwrap();
    for (id, scenario) in TRIALS {
        let roster = format!("scenarios/rosters/{id}.csv");
        let out = dir.path().join(id);
        cohort(Path::new(scenario), Path::new(&roster), &out).expect_code(0);
        let prep_csv = std::fs::read(out.join(id).join("prep.csv")).unwrap();
        // The cells of `columns`, row by row.
        let pick = |rows: &[std::collections::BTreeMap<String, String>], columns: [&str; 6]| {
            rows.iter()
                .map(|r| columns.map(|c| r[c].clone()))
                .collect::<Vec<_>>()
        };
        let expected = pick(
            &csv_rows(&prep_csv),
            [
                "date",
                "site",
                "product",
                "doses",
                "total_dose",
                "total_volume_ml",
            ],
        );
        let sheet = run(["prep", id, "--roster", &roster, "--format", "csv"]);
        sheet.expect_code(0);
        let rows = csv_rows(&sheet.stdout);
        let day_totals: Vec<_> = rows
            .iter()
            .filter(|r| r["line"] == "day_total")
            .cloned()
            .collect();
        let totals = pick(
            &day_totals,
            ["date", "site", "product", "doses", "dose", "volume_ml"],
        );
        assert!(!totals.is_empty());
        assert_eq!(totals, expected, "{id}");
        // Each total is the sum of its lines.
        let mut sum = 0u128;
        for r in &rows {
            match r["line"].as_str() {
                "dose" if r["dose_unit"] == "cells" => sum += r["dose"].parse::<u128>().unwrap(),
                "day_total" if r["dose_unit"] == "cells" => {
                    assert_eq!(
                        sum,
                        r["dose"].parse::<u128>().unwrap(),
                        "{id} {}",
                        r["date"]
                    );
                    sum = 0;
                }
                _ => {}
            }
        }
    }
}

#[test]
fn a_concentration_off_by_powers_of_ten_is_refused_and_totals_add_up_as_printed() {
    let (_dir, roster) = three();
    // 2.5 for 2.5e6 would ask for 30,000,000 mL; 1e12 for 0.00 mL.
    for c in ["uc_msc=2.5", "uc_msc=1e12"] {
        let r = prep("NCT04822922", &roster, &["--concentration", c]);
        r.expect_code(2);
        assert!(
            r.stderr
                .contains("is not the concentration of a cell suspension (dosesim takes 1.00 x 10⁴ to 1.00 x 10⁹ cells/mL)"),
            "{c}: {}",
            r.stderr
        );
    }
    // At 3 x 10^6 cells/mL the volumes have a third decimal: each is drawn to the
    // hundredth, and the day's total is the sum of the volumes as printed.
    let r = run([
        "prep",
        "NCT02812121",
        "--roster",
        "scenarios/rosters/NCT02812121.csv",
        "--concentration",
        "ucb_msc=3e6",
        "--format",
        "csv",
    ]);
    r.expect_code(0);
    let mut hundredths = 0i64;
    let mut days = 0;
    for row in csv_rows(&r.stdout) {
        let v: f64 = row["volume_ml"].parse().unwrap();
        let h = (v * 100.0).round() as i64;
        assert!(
            ((v * 100.0) - h as f64).abs() < 1e-6,
            "{v} has at most 2 decimals"
        );
        if row["line"] == "dose" {
            hundredths += h;
        } else {
            assert_eq!(h, hundredths, "{}", row["date"]);
            hundredths = 0;
            days += 1;
        }
    }
    assert!(days > 100);
}

#[test]
fn an_old_record_and_patients_without_a_site_are_warned_about() {
    let roster = "scenarios/rosters/NCT01724398.csv";
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/logs/NCT01724398.csv")).unwrap();
    let early: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("patient_id") || l.contains(",2026-08-07,"))
        .collect();
    let log = write_file(dir.path(), "log.csv", &(early.join("\n") + "\n"));
    let r = run([
        "prep",
        "NCT01724398",
        "--roster",
        roster,
        "--log",
        log.to_str().unwrap(),
        "--week",
        "2026-W48",
    ]);
    r.expect_code(0);
    assert!(
        r.stderr.contains("the administration record is complete to 2026-08-07, 108 days before this sheet's first date"),
        "{}",
        r.stderr
    );
    // A site column spelled Site, with an empty cell: read, and the empty one warned of.
    let sited = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,Site\nH1,high,62.5,2026-09-07,SH-RENJI\nL1,low,70,2026-09-07,\n",
    );
    let r = prep(
        "NCT04822922",
        &sited,
        &["--date", "2026-09-07", "--format", "csv"],
    );
    r.expect_code(0);
    let sites: Vec<String> = csv_rows(&r.stdout)
        .into_iter()
        .filter(|row| row["line"] == "dose")
        .map(|row| row["site"].clone())
        .collect();
    assert_eq!(sites, ["", "SH-RENJI"]);
    assert!(
        r.stderr.contains("r.csv: 1 patient has an empty site cell (line 3): no site calendar (every day open), and no site's sheet or calendar file"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_command_that_takes_a_scenario_takes_its_trial_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let svg = dir.path().join("c.svg");
    for args in [
        vec!["validate", "NCT04822922"],
        vec!["show", "nct04822922"],
        vec!["compare", "NCT04822922", "--out", svg.to_str().unwrap()],
        vec!["timeline", "NCT04822922", "--out", svg.to_str().unwrap()],
        vec!["chart", "NCT04822922", "--out", svg.to_str().unwrap()],
        vec!["forecast", "NCT04822922", "--replicates", "50", "--out", o],
        vec!["run", "NCT04822922", "--out", o, "--force"],
    ] {
        run(&args).expect_code(0);
    }
    assert!(out.join("NCT04822922/forecast/weekly.csv").is_file());
    assert!(out.join("NCT04822922/calendar.ics").is_file());
}

#[test]
fn the_help_examples_on_bundled_files_run() {
    // At the width of a terminal of 80 columns, each example on its lines as written.
    let help = dosesim()
        .args(["prep", "--help"])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap().replace("\\\n", " ");
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for line in text.lines().map(str::trim) {
        let Some(args) = line.strip_prefix("dosesim ") else {
            continue;
        };
        let mut args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
        // Examples with a roster of the user's own (r.csv) are shapes, not runs.
        if args
            .iter()
            .any(|a| a.ends_with(".csv") && !a.starts_with("scenarios/"))
        {
            continue;
        }
        if let Some(k) = args.iter().position(|a| a == "--out") {
            args[k + 1] = dir.path().join(&args[k + 1]).to_string_lossy().into_owned();
        }
        let r = run(&args);
        assert_eq!(r.code, Some(0), "{line}\n{}", r.stderr);
        ran += 1;
    }
    assert_eq!(ran, 4);
    assert!(dir.path().join("monday.html").is_file());
}

/// The bundled record of NCT01724398 up to 2026-09-25 (its first 38 lines): P4398-010 was
/// re-weighed at 72.4 kg on 2026-09-21 (68.9 kg on the roster), and `extra` rows after.
fn record_to_sept_25(dir: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("scenarios/logs/NCT01724398.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(38).collect();
    write_file(dir, "log.csv", &(head.join("\n") + "\n" + extra))
}

#[test]
fn a_checker_reads_the_weight_the_dose_per_kg_and_the_patients_warnings_beside_each_dose() {
    // P4398-010's uc_msc 4/4 on Sat 2026-10-03, at the weight recorded on 2026-09-21:
    // 72.4 kg x 1 x 10^5 cells/kg = 7,240,000 cells.
    let dir = tempfile::tempdir().unwrap();
    let roster = Path::new("scenarios/rosters/NCT01724398.csv");
    let log = record_to_sept_25(dir.path(), "");
    let args = |extra: &[&'static str]| {
        let mut a = vec!["--log", log.to_str().unwrap(), "--as-of", "2026-09-25"];
        a.extend_from_slice(&["--date", "2026-10-03"]);
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let csv = prep(
        "NCT01724398",
        roster,
        &args(&["--format", "csv"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    csv.expect_code(0);
    let rows = csv_rows(&csv.stdout);
    let dose = rows
        .iter()
        .find(|r| r["line"] == "dose" && r["patient_id"] == "P4398-010")
        .unwrap_or_else(|| panic!("{}", csv.out()));
    assert_eq!(dose["weight_kg"], "72.4");
    assert_eq!(dose["weight_date"], "2026-09-21");
    assert_eq!(dose["dose_per_kg"], "100000");
    assert_eq!(dose["dose"], "7240000", "72.4 kg x 100000 cells/kg");
    assert_eq!(dose["patient_warnings"], "");
    // The columns scripts read keep their places; the new ones come after them.
    let header: Vec<String> = csv::Reader::from_reader(&csv.stdout[..])
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header[..3], ["line", "date", "weekday"]);
    assert_eq!(header[20], "planned_date");
    assert_eq!(
        header[21..],
        [
            "weight_kg",
            "weight_date",
            "dose_per_kg",
            "patient_warnings",
            "closed_day",
            "trial_id"
        ]
    );
    let html = prep(
        "NCT01724398",
        roster,
        &args(&[]).iter().map(String::as_str).collect::<Vec<_>>(),
    );
    html.expect_code(0);
    let table = html.out();
    assert!(
        table.contains("Weight (kg)") && table.contains("Dose per kg (cells/kg)"),
        "{table}"
    );
    assert!(table.contains("72.4 (recorded 2026-09-21)"), "{table}");

    // 139.8 kg recorded three days later (pounds, for 63.4 kg): the dose follows it, and its
    // Flags cell says why it must be checked, in the table, the CSV and the printed sheet.
    let log = record_to_sept_25(dir.path(), "P4398-010,2026-09-24,weight,,,139.8,\n");
    let out_html = dir.path().join("sheet.html");
    for format in ["table", "csv", "html"] {
        let mut a = vec![
            "--log",
            log.to_str().unwrap(),
            "--as-of",
            "2026-09-25",
            "--date",
            "2026-10-03",
            "--format",
            format,
        ];
        if format == "html" {
            a.extend_from_slice(&["--out", out_html.to_str().unwrap()]);
        }
        let r = prep("NCT01724398", roster, &a);
        r.expect_code(0);
        let text = if format == "html" {
            std::fs::read_to_string(&out_html).unwrap()
        } else {
            r.out()
        };
        for want in [
            "record line 39: weight 139.8 kg is outside this scenario's usual range of 40-110 kg",
            "record line 39: weight 139.8 kg is +93% from 72.4 kg",
        ] {
            assert!(text.contains(want), "{format}: {want}\n{text}");
        }
    }
}

#[test]
fn a_roster_weight_out_of_range_and_a_moved_doses_planned_date_are_in_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    // 139.8 kg: outside NCT04822922's usual 40-110 kg, so checked where the dose is signed.
    let roster = write_roster(dir.path(), "r.csv", &["H1,high,139.8,2027-01-04"]);
    let r = prep(
        "NCT04822922",
        &roster,
        &["--date", "2027-01-04", "--format", "csv"],
    );
    r.expect_code(0);
    let rows = csv_rows(&r.stdout);
    assert_eq!(rows[0]["weight_kg"], "139.8");
    assert!(
        rows[0]["patient_warnings"]
            .starts_with("roster line 2: weight 139.8 kg is outside this scenario's usual range"),
        "{:?}",
        rows[0]
    );
    let table = prep("NCT04822922", &roster, &["--date", "2027-01-04"]);
    assert!(
        table
            .out()
            .contains("check: roster line 2: weight 139.8 kg"),
        "{}",
        table.out()
    );
    // NCT02812121's demo roster on Wed 2026-09-30: P2121-010's 7/8 is moved there from
    // Fri 2026-10-02 (National Day), and says so.
    let r = prep(
        "NCT02812121",
        Path::new("scenarios/rosters/NCT02812121.csv"),
        &["--date", "2026-09-30"],
    );
    r.expect_code(0);
    let row = r
        .out()
        .lines()
        .find(|l| l.contains("P2121-010"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{}", r.out()));
    assert!(row.contains("planned Fri 2026-10-02; shifted"), "{row}");
    assert!(row.contains("61.2") && row.contains("1.00 x 10⁵"), "{row}");
}

#[test]
fn a_closed_days_page_names_the_closure_and_prep_warns_of_doses_left_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let roster = Path::new("scenarios/rosters/NCT01724398.csv");
    let log = record_to_sept_25(dir.path(), "");
    let out = dir.path().join("sheet.html");
    let r = prep(
        "NCT01724398",
        roster,
        &[
            "--log",
            log.to_str().unwrap(),
            "--as-of",
            "2026-09-25",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-04",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    r.expect_code(0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains(
            r#"<p class="closed">CLOSED: National Day 国庆节. Site GZ-SYSU3 is closed on this date"#
        ),
        "{html}"
    );
    // Two closed days in the range, each with its banner.
    assert_eq!(html.matches(r#"<p class="closed">"#).count(), 2, "{html}");
    // On stderr, as pharmacy and cohort say it: each dose left on a closed day of the range.
    for (line, what, day) in [
        (11, "P4398-010: UC-MSC infusion 4/4", "Sat 2026-10-03"),
        (13, "P4398-012: UC-MSC infusion 3/4", "Sun 2026-10-04"),
    ] {
        let want = format!(
            "scenarios/rosters/NCT01724398.csv:{line}: patient {what} stays on {day}, a day site GZ-SYSU3 is closed (National Day 国庆节)"
        );
        assert!(r.stderr.contains(&want), "{want}\n{}", r.stderr);
    }
    // Only the range's: P4398-015's plasma exchange on Mon 2026-10-05 is not in it.
    assert!(!r.stderr.contains("P4398-015"), "{}", r.stderr);
    // The CSV says it on every row of the day, and the table under the day's heading.
    let csv = prep(
        "NCT01724398",
        roster,
        &[
            "--log",
            log.to_str().unwrap(),
            "--as-of",
            "2026-09-25",
            "--date",
            "2026-10-03",
            "--format",
            "csv",
        ],
    );
    assert!(
        csv_rows(&csv.stdout)
            .iter()
            .all(|r| r["closed_day"] == "National Day 国庆节")
    );
    let table = prep(
        "NCT01724398",
        roster,
        &[
            "--log",
            log.to_str().unwrap(),
            "--as-of",
            "2026-09-25",
            "--date",
            "2026-10-03",
        ],
    );
    assert!(
        table
            .out()
            .contains("Sat 2026-10-03, site GZ-SYSU3\nCLOSED: National Day 国庆节."),
        "{}",
        table.out()
    );
}

/// Two trials at one site, GZ-SYSU3, in a scenarios folder of their own (no bundled
/// roster shares a site): NCT04822922 (R1-R4, with R5 at another site) and NCT01724398
/// (Q1-Q4), every patient starting on Mon 2026-09-07, so that both trials give their first
/// doses that day. Returns the two scenario files.
pub fn two_trials(dir: &Path) -> [PathBuf; 2] {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(scenarios.join("rosters")).unwrap();
    let mut files = Vec::new();
    for (name, id, rows) in [
        (
            "nct04822922.toml",
            "NCT04822922",
            &[
                "R1,high,62.5,2026-09-07,GZ-SYSU3",
                "R2,low,70,2026-09-07,GZ-SYSU3",
                "R3,middle,55.5,2026-09-07,GZ-SYSU3",
                "R4,high,80,2026-09-07,GZ-SYSU3",
                "R5,low,64,2026-09-07,SH-RENJI",
            ][..],
        ),
        (
            "nct01724398.toml",
            "NCT01724398",
            &[
                "Q1,msc,60,2026-09-07,GZ-SYSU3",
                "Q2,msc-pe,55,2026-09-07,GZ-SYSU3",
                "Q3,msc,72.4,2026-09-07,GZ-SYSU3",
                "Q4,msc-pe,66,2026-09-07,GZ-SYSU3",
            ][..],
        ),
    ] {
        let file = scenarios.join(name);
        std::fs::copy(root().join("scenarios").join(name), &file).unwrap();
        let mut text = "patient_id,arm,weight_kg,start_date,site\n".to_string();
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        std::fs::write(scenarios.join("rosters").join(format!("{id}.csv")), text).unwrap();
        files.push(file);
    }
    files.try_into().unwrap()
}

/// The sheet CSV's rows without the `trial_id` column, sorted: to compare as sets.
fn rows_without_trial(bytes: &[u8]) -> Vec<Vec<(String, String)>> {
    let mut rows: Vec<Vec<(String, String)>> = csv_rows(bytes)
        .into_iter()
        .map(|r| r.into_iter().filter(|(k, _)| k != "trial_id").collect())
        .collect();
    rows.sort();
    rows
}

#[test]
fn two_trials_at_one_site_make_one_sheet_holding_each_trials_own_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_trials(dir.path());
    let [a, b] = files.each_ref().map(|f| f.to_str().unwrap());
    let day = [
        "--site",
        "GZ-SYSU3",
        "--date",
        "2026-09-07",
        "--format",
        "csv",
    ];
    let both = run([&["prep", a, b][..], &day].concat());
    both.expect_code(0);
    // Each trial alone, with its roster named.
    let mut singles = Vec::new();
    for (f, id) in [(a, "NCT04822922"), (b, "NCT01724398")] {
        let roster = dir.path().join(format!("scenarios/rosters/{id}.csv"));
        let one = run([&["prep", f, "--roster", roster.to_str().unwrap()][..], &day].concat());
        one.expect_code(0);
        let rows = csv_rows(&one.stdout);
        assert!(
            rows.iter().any(|r| r["line"] == "dose"),
            "{id} has doses on 2026-09-07"
        );
        assert!(rows.iter().all(|r| r["trial_id"] == id));
        singles.push(one.stdout);
    }
    // The site's sheet is the union of the two, row for row (R5, at another site, on none).
    let mut union: Vec<Vec<(String, String)>> =
        singles.iter().flat_map(|s| rows_without_trial(s)).collect();
    union.sort();
    assert_eq!(rows_without_trial(&both.stdout), union);
    let rows = csv_rows(&both.stdout);
    let whose: std::collections::BTreeSet<(&str, &str)> = rows
        .iter()
        .filter(|r| r["line"] == "dose")
        .map(|r| (r["trial_id"].as_str(), &r["patient_id"][..1]))
        .collect();
    assert_eq!(
        whose.into_iter().collect::<Vec<_>>(),
        [("NCT01724398", "Q"), ("NCT04822922", "R")],
        "each row says its trial"
    );
    assert!(!rows.iter().any(|r| r["patient_id"] == "R5"));
    // The table: a Trial column, and the day's totals across the trials.
    let table = run([&["prep", a, b][..], &day[..4]].concat());
    table.expect_code(0);
    let out = table.out();
    assert!(out.contains("| Trial "), "{out}");
    assert!(out.contains("All trials' total (cells): "), "{out}");
    assert!(out.contains("All trials' total (mL): "), "{out}");
}

#[test]
fn the_day_total_across_trials_adds_up_each_trials_totals() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_trials(dir.path());
    let [a, b] = files.each_ref().map(|f| f.to_str().unwrap());
    let args = [
        "prep",
        a,
        b,
        "--site",
        "GZ-SYSU3",
        "--date",
        "2026-09-07",
        "--concentration",
        "uc_msc=2.5e6",
    ];
    let csv = run([&args[..], &["--format", "csv"]].concat());
    csv.expect_code(0);
    let (mut doses, mut cells, mut ml) = (0u64, 0u64, 0.0f64);
    for r in csv_rows(&csv.stdout)
        .iter()
        .filter(|r| r["line"] == "day_total")
    {
        if r["dose_unit"] == "cells" {
            doses += r["doses"].parse::<u64>().unwrap();
            cells += r["dose"].parse::<u64>().unwrap();
            ml += r["volume_ml"].parse::<f64>().unwrap();
        }
    }
    // --concentration applies to both trials' uc_msc.
    let table = run(args).out();
    let want = format!("All trials' total (cells): {doses} doses, {cells} (");
    assert!(table.contains(&want), "{want} in:\n{table}");
    assert!(table.contains(&format!("cells, {ml:.2} mL")), "{table}");
    assert_eq!(
        table
            .matches("cells/mL (given with --concentration)")
            .count(),
        2
    );
}

#[test]
fn a_sheet_across_trials_needs_its_site_and_reads_each_trials_own_roster() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_trials(dir.path());
    let [a, b] = files.each_ref().map(|f| f.to_str().unwrap());
    let r = run(["prep", a, b, "--date", "2026-09-07"]);
    r.expect_code(2);
    assert!(r.err().contains("--site"), "{}", r.err());
    assert!(r.err().contains("say which site"), "{}", r.err());
    let r = run([
        "prep",
        a,
        b,
        "--site",
        "GZ-SYSU3",
        "--roster",
        "scenarios/rosters/NCT04822922.csv",
    ]);
    r.expect_code(2);
    assert!(r.err().contains("--roster"), "{}", r.err());
    assert!(r.err().contains("one trial at a time"), "{}", r.err());
    let r = run(["prep", a, b, "--site", "NOWHERE"]);
    r.expect_code(2);
    assert!(r.err().contains("'NOWHERE'"), "{}", r.err());
    assert!(
        r.err().contains("their sites: GZ-SYSU3, SH-RENJI"),
        "{}",
        r.err()
    );
    // One trial still wants its roster, in plain words.
    let r = run(["prep", a, "--date", "2026-09-07"]);
    r.expect_code(2);
    assert!(r.err().contains("--roster"), "{}", r.err());
    assert!(!r.err().contains("Option<"), "{}", r.err());
}

#[test]
fn no_trial_named_gives_the_sites_sheet_across_the_bundled_trials() {
    // Of the bundled rosters only NCT02812121's is at GZ-SYSU: the site's sheet across
    // scenarios/ is that trial's own (7 doses on Wed 2026-09-30).
    let day = [
        "--site",
        "GZ-SYSU",
        "--date",
        "2026-09-30",
        "--format",
        "csv",
    ];
    let all = run([&["prep"][..], &day].concat());
    all.expect_code(0);
    let one = run([
        &[
            "prep",
            "NCT02812121",
            "--roster",
            "scenarios/rosters/NCT02812121.csv",
        ][..],
        &day,
    ]
    .concat());
    one.expect_code(0);
    assert_eq!(all.out(), one.out());
    assert_eq!(
        csv_rows(&all.stdout)
            .iter()
            .filter(|r| r["line"] == "dose")
            .count(),
        7
    );
}
