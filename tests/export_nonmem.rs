//! `dosesim export nonmem` (issue 26): the real binary on every bundled trial
//! (NCT01724398 with its record). A small reader of ours expands ADDL/II and gives back
//! pharmacy.csv's rows less the missed and cancelled ones (patient, kind, event,
//! occurrence, date, amount, given); rows by ID then TIME; `--expanded` is the expansion of
//! the compressed table; a clock time from the day sheet lands in TIME and DATETIME; the
//! same bytes on a second run; a snapshot of three patients' rows.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};

use crate::common::*;

const LOG: &str = "scenarios/logs/NCT01724398.csv";

/// `dosesim export nonmem` of a bundled trial into `out`, with the record for NCT01724398
/// (or `log`), plus `extra`.
fn export(trial: &str, scenario: &str, log: Option<&Path>, out: &Path, extra: &[&str]) {
    let roster = format!("scenarios/rosters/{trial}.csv");
    let mut args: Vec<std::ffi::OsString> = vec![
        "export".into(),
        "nonmem".into(),
        scenario.into(),
        "--roster".into(),
        roster.into(),
        "--out".into(),
        out.into(),
    ];
    let log = log
        .map(Path::to_path_buf)
        .or_else(|| (trial == "NCT01724398").then(|| root().join(LOG)));
    if let Some(log) = log {
        args.extend(["--log".into(), log.into()]);
    }
    args.extend(extra.iter().map(|s| s.into()));
    run(args).expect_code(0);
}

/// pharmacy.csv of the same roster and record.
fn pharmacy_rows(trial: &str, scenario: &str, log: Option<&Path>) -> Vec<CsvRow> {
    let roster = root().join(format!("scenarios/rosters/{trial}.csv"));
    let log = log
        .map(Path::to_path_buf)
        .or_else(|| (trial == "NCT01724398").then(|| root().join(LOG)));
    let mut extra: Vec<&std::ffi::OsStr> = Vec::new();
    if let Some(log) = &log {
        extra.extend(["--log".as_ref(), log.as_os_str()]);
    }
    let run = pharmacy(Path::new(scenario), &roster, &extra);
    run.expect_code(0);
    parse_csv(&run.stdout).1
}

/// One row of the event table, every cell as written, by column name.
type Row = BTreeMap<String, String>;

fn read_rows(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).expect("the table opens");
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.expect("a table row");
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn secs(hours: &str) -> i64 {
    (hours.parse::<f64>().expect("hours are a number") * 3600.0).round() as i64
}

fn hours(secs: i64) -> String {
    let h = format!("{:.4}", secs as f64 / 3600.0);
    h.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Each row as NONMEM reads it: a row with ADDL n stands for n + 1 doses II hours apart,
/// its OCC one more each; their DATETIME is the date TIME gives (no clock time known).
fn expand(rows: &[Row], zero: &BTreeMap<String, NaiveDateTime>) -> Vec<Row> {
    let mut out = Vec::new();
    for r in rows {
        let addl: u32 = r["ADDL"].parse().unwrap();
        for k in 0..=addl {
            let mut e = r.clone();
            if k > 0 {
                let t = secs(&r["TIME"]) + i64::from(k) * secs(&r["II"]);
                let at = zero[&r["ID"]] + chrono::Duration::seconds(t);
                e.insert("TIME".into(), hours(t));
                e.insert("DATETIME".into(), at.date().to_string());
                let occ: u32 = r["OCC"].parse().unwrap();
                e.insert("OCC".into(), (occ + k).to_string());
            }
            e.insert("ADDL".into(), "0".into());
            e.insert("II".into(), "0".into());
            out.push(e);
        }
    }
    out
}

/// ids.csv: ID to (patient id, TIME 0).
fn ids(folder: &Path) -> BTreeMap<String, (String, NaiveDateTime)> {
    read_rows(&folder.join("ids.csv"))
        .into_iter()
        .map(|r| {
            let zero = NaiveDateTime::parse_from_str(&r["time_zero"], "%Y-%m-%dT%H:%M")
                .expect("time_zero is YYYY-MM-DDTHH:MM");
            (r["ID"].clone(), (r["patient_id"].clone(), zero))
        })
        .collect()
}

/// What pharmacy.csv and the table must agree on, per row.
type Key = (String, String, String, String, NaiveDate, String, String);

fn table_keys(rows: &[Row], ids: &BTreeMap<String, (String, NaiveDateTime)>) -> Vec<Key> {
    let kinds = ["cell_infusion", "plasma_exchange", "visit", "background"];
    let mut keys: Vec<Key> = rows
        .iter()
        .map(|r| {
            let (patient, zero) = &ids[&r["ID"]];
            let at = *zero + chrono::Duration::seconds(secs(&r["TIME"]));
            let proc_code: usize = r["PROC"].parse().unwrap();
            let amount = match proc_code {
                0 => format!("{} {}", r["AMT"], r["AMTU"]),
                1 => format!("{} mL", r["VOLML"]),
                _ => String::new(),
            };
            let event = (kinds[proc_code].to_string(), r["EVENT"].clone());
            (
                patient.clone(),
                event.0,
                event.1,
                r["OCC"].clone(),
                at.date(),
                amount,
                r["GIVEN"].clone(),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn pharmacy_keys(rows: &[CsvRow]) -> Vec<Key> {
    let mut keys: Vec<Key> = rows
        .iter()
        .filter(|r| r.status != "missed" && r.status != "cancelled")
        .map(|r| {
            let amount = match r.kind.as_str() {
                "cell_infusion" => format!("{} {}", r.dose, r.dose_unit),
                "plasma_exchange" => format!("{} mL", r.volume_ml),
                _ => String::new(),
            };
            let date = NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").unwrap();
            let given = u8::from(r.status == "given").to_string();
            (
                r.patient_id.clone(),
                r.kind.clone(),
                r.event.clone(),
                r.occurrence.clone(),
                date,
                amount,
                given,
            )
        })
        .collect();
    keys.sort();
    keys
}

/// Rows grouped by ID in ascending order, TIME ascending within an ID.
fn assert_sorted(rows: &[Row], what: &str) {
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ids: (u32, u32) = (a["ID"].parse().unwrap(), b["ID"].parse().unwrap());
        assert!(ids.0 <= ids.1, "{what}: ID {} before {}", ids.0, ids.1);
        if ids.0 == ids.1 {
            assert!(
                secs(&a["TIME"]) <= secs(&b["TIME"]),
                "{what}: ID {}: TIME {} before {}",
                ids.0,
                a["TIME"],
                b["TIME"]
            );
        }
    }
}

fn sorted_rows(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by_key(|r| {
        let n = |c: &str| r[c].parse::<u64>().unwrap_or(0);
        (
            n("ID"),
            secs(&r["TIME"]),
            n("PROC"),
            r["EVENT"].clone(),
            n("OCC"),
        )
    });
    rows
}

#[test]
fn every_trial_expands_to_pharmacy_csv_and_the_expanded_form_is_its_expansion() {
    for (trial, scenario) in TRIALS {
        let dir = tempfile::tempdir().unwrap();
        export(trial, scenario, None, &dir.path().join("c"), &[]);
        export(
            trial,
            scenario,
            None,
            &dir.path().join("e"),
            &["--expanded"],
        );
        let folder = dir.path().join("c").join(trial).join("nonmem");
        let table = read_rows(&folder.join(format!("{trial}.csv")));
        let expanded = read_rows(
            &dir.path()
                .join("e")
                .join(trial)
                .join("nonmem")
                .join(format!("{trial}.csv")),
        );
        assert_sorted(&table, trial);
        assert_sorted(&expanded, &format!("{trial} --expanded"));
        assert!(
            table.iter().any(|r| r["ADDL"] != "0"),
            "{trial}: some run of doses compresses"
        );
        assert!(table.len() < expanded.len(), "{trial}");
        assert!(
            expanded.iter().all(|r| r["ADDL"] == "0" && r["II"] == "0"),
            "{trial}"
        );
        let ids = ids(&folder);
        let zero = ids.iter().map(|(k, v)| (k.clone(), v.1)).collect();
        let ours = expand(&table, &zero);
        assert_eq!(
            sorted_rows(ours.clone()),
            sorted_rows(expanded.clone()),
            "{trial}: --expanded is the expansion"
        );
        let pharmacy = pharmacy_keys(&pharmacy_rows(trial, scenario, None));
        assert_eq!(
            table_keys(&ours, &ids),
            pharmacy,
            "{trial}: the table expanded is pharmacy.csv less missed and cancelled"
        );
        for r in &table {
            for c in ["DATETIME", "AMTU", "EVENT", "ASSUMED"] {
                assert!(
                    !r[c].is_empty() && !r[c].contains([' ', ',', '"', '\'']),
                    "{trial}: {c} {:?}",
                    r[c]
                );
            }
        }
    }
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let (trial, scenario) = TRIALS[0];
    let dir = tempfile::tempdir().unwrap();
    // The manifest names the command line (--out too): the same command again.
    export(trial, scenario, None, dir.path(), &[]);
    let a = tree(dir.path());
    export(trial, scenario, None, dir.path(), &[]);
    let b = tree(dir.path());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs on a second run");
    }
    let names: Vec<&str> = a.keys().map(String::as_str).collect();
    for f in ["NCT01724398.csv", "ids.csv", "columns.csv", "input.txt"] {
        assert!(
            names.contains(&format!("NCT01724398/nonmem/{f}").as_str()),
            "{f} in {names:?}"
        );
    }
}

#[test]
fn a_clock_time_from_the_day_sheet_is_in_time_and_datetime() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(LOG)).unwrap();
    let text = text.replacen(
        "P4398-002,2026-08-14,given,uc_msc,2,,",
        "P4398-002,2026-08-14,given,uc_msc,2,,\"given at 10:40, lot UC-2608-02\"",
        1,
    );
    let log = write_file(dir.path(), "log.csv", &text);
    let (trial, scenario) = TRIALS[0];
    export(trial, scenario, Some(&log), &dir.path().join("c"), &[]);
    let folder = dir.path().join("c").join(trial).join("nonmem");
    let table = read_rows(&folder.join(format!("{trial}.csv")));
    let rows: Vec<&Row> = table
        .iter()
        .filter(|r| r["ID"] == "2" && r["EVENT"] == "uc_msc")
        .collect();
    let cells: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["TIME"].as_str(),
                r["DATETIME"].as_str(),
                r["OCC"].as_str(),
                r["ADDL"].as_str(),
            )
        })
        .collect();
    // The dose at 10:40 stands alone: it breaks the weekly run into three rows.
    assert_eq!(
        cells,
        vec![
            ("0", "2026-08-07", "1", "0"),
            ("178.6667", "2026-08-14T10:40", "2", "0"),
            ("336", "2026-08-21", "3", "1"),
        ]
    );
    let ids = ids(&folder);
    let zero = ids.iter().map(|(k, v)| (k.clone(), v.1)).collect();
    let pharmacy = pharmacy_keys(&pharmacy_rows(trial, scenario, Some(&log)));
    assert_eq!(table_keys(&expand(&table, &zero), &ids), pharmacy);
}

#[test]
fn the_files_say_what_the_table_holds() {
    let (trial, scenario) = TRIALS[0];
    let dir = tempfile::tempdir().unwrap();
    export(trial, scenario, None, dir.path(), &[]);
    let folder = dir.path().join(trial).join("nonmem");
    let table = read_rows(&folder.join(format!("{trial}.csv")));
    let columns = read_rows(&folder.join("columns.csv"));
    let names: Vec<&str> = columns.iter().map(|r| r["name"].as_str()).collect();
    let text = std::fs::read_to_string(folder.join(format!("{trial}.csv"))).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(names, header);
    assert!(table.iter().all(|r| r["MDV"] == "1"));
    let arm = columns.iter().find(|r| r["name"] == "ARM").unwrap();
    assert!(
        arm["codes"].contains("2=msc (Conventional plus UC-MSC treatment)"),
        "{}",
        arm["codes"]
    );
    let time = columns.iter().find(|r| r["name"] == "TIME").unwrap();
    assert!(
        time["meaning"].contains("assumed at 00:00"),
        "{}",
        time["meaning"]
    );
    let input = std::fs::read_to_string(folder.join("input.txt")).unwrap();
    let words: Vec<&str> = input
        .lines()
        .filter(|l| !l.starts_with(';'))
        .flat_map(str::split_whitespace)
        .collect();
    let mut want = vec!["$INPUT"];
    want.extend(names.iter().map(|n| match *n {
        "DATETIME" => "DATETIME=DROP",
        "AMTU" => "AMTU=DROP",
        "EVENT" => "EVENT=DROP",
        "ASSUMED" => "ASSUMED=DROP",
        n => n,
    }));
    want.extend(["$DATA", "NCT01724398.csv", "IGNORE=@"]);
    assert_eq!(words, want);
    let ids = read_rows(&folder.join("ids.csv"));
    let died: Vec<(&str, &str)> = ids
        .iter()
        .filter(|r| !r["end"].is_empty())
        .map(|r| (r["patient_id"].as_str(), r["end"].as_str()))
        .collect();
    assert!(
        died.iter().any(|(_, e)| *e == "died") && died.iter().any(|(_, e)| *e == "withdrawn"),
        "{died:?}"
    );
}

#[test]
fn snapshot_of_three_patients_rows() {
    let (trial, scenario) = TRIALS[0];
    let dir = tempfile::tempdir().unwrap();
    export(trial, scenario, None, dir.path(), &[]);
    let text = std::fs::read_to_string(
        dir.path()
            .join(trial)
            .join("nonmem")
            .join(format!("{trial}.csv")),
    )
    .unwrap();
    let lines: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || ["2,", "4,", "8,"].iter().any(|p| l.starts_with(p)))
        .map(|(_, l)| l)
        .collect();
    insta::assert_snapshot!("nonmem_nct01724398_ids_2_4_8", lines.join("\n"));
}
