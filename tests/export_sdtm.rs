//! `dosesim export sdtm`: the real binary on every bundled trial (NCT01724398 with its
//! administration record), read back by a small Dataset-JSON reader of ours: well-formed
//! datasets with their CSV twins, SDTMIG's Required variables never empty, EX and PR equal
//! to what pharmacy.csv says was given, EC SCHEDULED covering every infusion, the assumed
//! values marked, the same bytes on a second run; and a snapshot of one patient's rows.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::{CsvRow, parse_csv, run};

const TRIALS: [&str; 5] = [
    "NCT01573923",
    "NCT01724398",
    "NCT02812121",
    "NCT04822922",
    "NCT05106972",
];

const DATASETS: [&str; 12] = [
    "te", "ta", "tv", "ts", "dm", "sv", "ex", "ec", "pr", "suppex", "suppec", "supppr",
];

/// SDTMIG v3.4's Required variables of the datasets (the full Required/Expected table is
/// in tests/exports/sdtm.py).
const REQUIRED: [(&str, &str); 10] = [
    ("ta", "STUDYID DOMAIN ARMCD ARM TAETORD ETCD EPOCH"),
    ("te", "STUDYID DOMAIN ETCD ELEMENT TESTRL"),
    ("tv", "STUDYID DOMAIN VISITNUM VISIT TVSTRL"),
    ("ts", "STUDYID DOMAIN TSSEQ TSPARMCD TSPARM"),
    ("dm", "STUDYID DOMAIN USUBJID SUBJID SITEID SEX COUNTRY"),
    ("sv", "STUDYID DOMAIN USUBJID VISITNUM"),
    ("ex", "STUDYID DOMAIN USUBJID EXSEQ EXTRT"),
    ("ec", "STUDYID DOMAIN USUBJID ECSEQ ECTRT"),
    ("pr", "STUDYID DOMAIN USUBJID PRSEQ PRTRT"),
    ("supp", "STUDYID RDOMAIN USUBJID QNAM QLABEL QVAL QORIG"),
];

/// The roster (and record) arguments of a bundled trial.
fn inputs(trial: &str) -> Vec<String> {
    let mut a = vec![
        "--roster".to_string(),
        format!("scenarios/rosters/{trial}.csv"),
    ];
    let log = format!("scenarios/logs/{trial}.csv");
    if crate::common::root().join(&log).exists() {
        a.extend(["--log".to_string(), log]);
    }
    a
}

/// Exports `trial` under `out`; returns its sdtm folder.
fn export(trial: &str, out: &Path) -> std::path::PathBuf {
    let mut args = vec!["export".to_string(), "sdtm".into(), trial.into()];
    args.extend(inputs(trial));
    args.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
    run(&args).expect_code(0);
    out.join(trial).join("sdtm")
}

/// pharmacy.csv of the same inputs.
fn pharmacy(trial: &str) -> Vec<CsvRow> {
    let mut args = vec!["pharmacy".to_string(), trial.into()];
    args.extend(inputs(trial));
    let r = run(&args);
    r.expect_code(0);
    parse_csv(&r.stdout).1
}

/// A dataset read back: its column names and rows by name.
struct Dataset {
    names: Vec<String>,
    rows: Vec<BTreeMap<String, Value>>,
}

impl Dataset {
    /// Reads `<name>.json`, checking its shape and that `<name>.csv` holds the same values.
    fn read(folder: &Path, name: &str) -> Dataset {
        let doc: Value =
            serde_json::from_slice(&std::fs::read(folder.join(format!("{name}.json"))).unwrap())
                .unwrap_or_else(|e| panic!("{name}.json parses: {e}"));
        assert_eq!(doc["datasetJSONVersion"], "1.1.0");
        assert_eq!(doc["name"], name.to_ascii_uppercase());
        let names: Vec<String> = doc["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        let rows = doc["rows"].as_array().unwrap();
        assert_eq!(doc["records"], rows.len(), "{name}: records");
        let csv = std::fs::read(folder.join(format!("{name}.csv"))).unwrap();
        let mut r = csv::Reader::from_reader(csv.as_slice());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            names,
            "{name}.csv header"
        );
        let csv_rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(csv_rows.len(), rows.len(), "{name}.csv rows");
        let mut out = Vec::new();
        for (row, text) in rows.iter().zip(&csv_rows) {
            let row = row.as_array().unwrap();
            assert_eq!(row.len(), names.len(), "{name}: a row's values");
            let plain: Vec<String> = row.iter().map(plain).collect();
            assert_eq!(
                plain,
                text.iter().collect::<Vec<_>>(),
                "{name}.csv equals the JSON"
            );
            out.push(names.iter().cloned().zip(row.iter().cloned()).collect());
        }
        Dataset { names, rows: out }
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // A missing number.
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text(row: &BTreeMap<String, Value>, var: &str) -> String {
    plain(&row[var])
}

#[test]
fn every_dataset_is_well_formed_with_its_required_values() {
    let dir = tempfile::tempdir().unwrap();
    for trial in TRIALS {
        let folder = export(trial, dir.path());
        for name in DATASETS {
            let d = Dataset::read(&folder, name);
            let key = if name.starts_with("supp") {
                "supp"
            } else {
                name
            };
            let (_, req) = REQUIRED.iter().find(|(n, _)| *n == key).unwrap();
            for var in req.split(' ') {
                assert!(d.names.iter().any(|n| n == var), "{trial} {name}: {var}");
                for (i, r) in d.rows.iter().enumerate() {
                    assert_ne!(text(r, var), "", "{trial} {name} row {}: {var}", i + 1);
                }
            }
            for r in &d.rows {
                assert_eq!(text(r, "STUDYID"), trial);
            }
        }
        let dm = Dataset::read(&folder, "dm");
        let patients: std::collections::BTreeSet<String> =
            pharmacy(trial).into_iter().map(|p| p.patient_id).collect();
        let subjects: std::collections::BTreeSet<String> =
            dm.rows.iter().map(|r| text(r, "SUBJID")).collect();
        assert_eq!(subjects, patients, "{trial}: DM has every patient");
    }
}

/// (USUBJID, "<component>-<occurrence>") -> (date, amount) of the rows of `domain`
/// matching `keep`, from their --LNKID, --STDTC and --DOSE.
fn by_link(
    d: &Dataset,
    domain: &str,
    keep: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<(String, String), (String, String)> {
    d.rows
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            let key = (text(r, "USUBJID"), text(r, &format!("{domain}LNKID")));
            let date = text(r, &format!("{domain}STDTC"))[..10].to_string();
            (key, (date, text(r, &format!("{domain}DOSE"))))
        })
        .collect()
}

#[test]
fn ex_pr_and_ec_round_trip_to_pharmacy_csv() {
    let dir = tempfile::tempdir().unwrap();
    for trial in TRIALS {
        let folder = export(trial, dir.path());
        let rows = pharmacy(trial);
        let key = |p: &CsvRow| {
            (
                format!("{trial}-{}", p.patient_id),
                format!("{}-{}", p.event, p.occurrence),
            )
        };
        let given = |kind: &str| -> BTreeMap<_, _> {
            rows.iter()
                .filter(|p| p.kind == kind && p.status == "given")
                .map(|p| (key(p), (p.date.clone(), p.dose.clone())))
                .collect()
        };
        let ex = by_link(&Dataset::read(&folder, "ex"), "EX", |_| true);
        assert_eq!(
            ex,
            given("cell_infusion"),
            "{trial}: EX is the given infusions"
        );
        let pr_rows = Dataset::read(&folder, "pr");
        let pr = by_link(&pr_rows, "PR", |r| r["PROCCUR"] == "Y");
        let not_done: Vec<_> = by_link(&pr_rows, "PR", |r| r["PROCCUR"] == "N")
            .into_iter()
            .map(|(k, (d, _))| (k, d))
            .collect();
        let missed: Vec<_> = rows
            .iter()
            .filter(|p| p.kind == "plasma_exchange" && p.status == "missed")
            .map(|p| (key(p), p.date.clone()))
            .collect();
        assert_eq!(
            not_done, missed,
            "{trial}: PR's not-done rows are the missed exchanges"
        );
        assert_eq!(
            pr,
            given("plasma_exchange"),
            "{trial}: PR is the given exchanges"
        );
        let ec = Dataset::read(&folder, "ec");
        let scheduled = by_link(&ec, "EC", |r| r["ECMOOD"] == "SCHEDULED");
        let planned: BTreeMap<_, _> = rows
            .iter()
            .filter(|p| p.kind == "cell_infusion")
            .map(|p| {
                let amount = if p.planned_amount.is_empty() {
                    &p.dose
                } else {
                    &p.planned_amount
                };
                (key(p), amount.clone())
            })
            .collect();
        let amounts: BTreeMap<_, _> = scheduled.into_iter().map(|(k, (_, a))| (k, a)).collect();
        assert_eq!(
            amounts, planned,
            "{trial}: EC SCHEDULED is every infusion at its planned dose"
        );
        if trial == "NCT01724398" {
            assert!(
                ex.len() >= 40 && pr.len() >= 30,
                "the record's doses are there"
            );
            assert!(!not_done.is_empty(), "P4398-003's missed pe-2 is in PR");
            let missed = ec.rows.iter().filter(|r| r["ECOCCUR"] == "N").count();
            let want = rows
                .iter()
                .filter(|p| p.kind == "cell_infusion" && p.status == "missed")
                .count();
            assert_eq!(
                missed, want,
                "a PERFORMED row with ECOCCUR N per missed infusion"
            );
        }
    }
}

#[test]
fn an_assumed_dose_is_marked_on_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export("NCT02812121", dir.path());
    let supp = Dataset::read(&folder, "suppec");
    let marks: Vec<String> = supp
        .rows
        .iter()
        .filter(|r| r["QNAM"] == "ASSUMED")
        .map(|r| text(r, "QVAL"))
        .collect();
    assert!(!marks.is_empty());
    assert!(
        marks.iter().any(|m| m.split("; ").any(|n| n == "dose")),
        "{marks:?}"
    );
    // Its planned dose per kg is ours, not the protocol's.
    let origins: std::collections::BTreeSet<String> = supp
        .rows
        .iter()
        .filter(|r| r["QNAM"] == "DOSEPKG")
        .map(|r| text(r, "QORIG"))
        .collect();
    assert_eq!(origins, ["Assigned".to_string()].into());
}

#[test]
fn a_second_run_writes_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let fa = export("NCT01724398", a.path());
    let fb = export("NCT01724398", b.path());
    let files = |f: &Path| -> BTreeMap<String, Vec<u8>> {
        DATASETS
            .iter()
            .flat_map(|n| [format!("{n}.json"), format!("{n}.csv")])
            .map(|n| {
                let bytes = std::fs::read(f.join(&n)).unwrap();
                (n, bytes)
            })
            .collect()
    };
    assert_eq!(files(&fa), files(&fb));
}

#[test]
fn one_patients_exposure_rows() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export("NCT01724398", dir.path());
    // P4398-008: a dose given at 85% (EXADJ), an exchange before each of the first two.
    let mut lines = Vec::new();
    for name in ["ex", "ec", "pr", "suppex"] {
        let csv = std::fs::read_to_string(folder.join(format!("{name}.csv"))).unwrap();
        lines.push(csv.lines().next().unwrap().to_string());
        lines.extend(
            csv.lines()
                .filter(|l| l.contains(",NCT01724398-P4398-008,"))
                .map(String::from),
        );
    }
    insta::assert_snapshot!("sdtm_p4398_008_exposure", lines.join("\n"));
    let ts = std::fs::read_to_string(folder.join("ts.json")).unwrap();
    insta::assert_snapshot!("sdtm_nct01724398_ts_json", ts);
}

#[test]
fn a_missed_infusion_and_the_time_and_lot_of_a_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    std::fs::write(
        &log,
        "patient_id,date,record,component,occurrence,amount,note\n\
         P4398-002,2026-08-07,given,uc_msc,1,,\"given at 10:40, lot UC-2608-01\"\n\
         P4398-002,2026-08-14,missed,uc_msc,2,,fever 38.9 C on the day\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    run([
        "export",
        "sdtm",
        "NCT01724398",
        "--roster",
        "scenarios/rosters/NCT01724398.csv",
        "--log",
        log.to_str().unwrap(),
        "--as-of",
        "2026-08-20",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let folder = out.join("NCT01724398").join("sdtm");
    let ex = Dataset::read(&folder, "ex");
    assert_eq!(ex.rows.len(), 1);
    let r = &ex.rows[0];
    assert_eq!(text(r, "EXSTDTC"), "2026-08-07T10:40");
    // The scenario's 30 minutes of infusion.
    assert_eq!(text(r, "EXENDTC"), "2026-08-07T11:10");
    assert_eq!(text(r, "EXLOT"), "UC-2608-01");
    let ec = Dataset::read(&folder, "ec");
    let performed: Vec<_> = ec
        .rows
        .iter()
        .filter(|r| r["ECMOOD"] == "PERFORMED")
        .map(|r| {
            [
                text(r, "ECLNKID"),
                text(r, "ECOCCUR"),
                text(r, "ECREASOC"),
                text(r, "ECDOSE"),
                text(r, "ECSTDTC"),
            ]
        })
        .collect();
    assert_eq!(
        performed,
        [
            ["uc_msc-1", "Y", "", "4580000", "2026-08-07T10:40"],
            ["uc_msc-2", "N", "fever 38.9 C on the day", "", "2026-08-14"],
        ]
    );
    let sv = Dataset::read(&folder, "sv");
    assert_eq!(
        sv.rows.len(),
        1,
        "the day of the missed dose was no visit held"
    );
}

/// Exports `trial` with a roster and a record of our own; returns the sdtm folder.
fn export_with(dir: &Path, trial: &str, roster: &str, log: Option<&str>) -> std::path::PathBuf {
    let r = dir.join("roster.csv");
    std::fs::write(&r, roster).unwrap();
    let out = dir.join("out");
    let mut args = vec![
        "export".to_string(),
        "sdtm".into(),
        trial.into(),
        "--roster".into(),
        r.to_str().unwrap().into(),
    ];
    if let Some(log) = log {
        let l = dir.join("log.csv");
        std::fs::write(&l, log).unwrap();
        args.extend(["--log".into(), l.to_str().unwrap().into()]);
    }
    args.extend(["--out".into(), out.to_str().unwrap().into()]);
    run(&args).expect_code(0);
    out.join(trial).join("sdtm")
}

const LOG_HEADER: &str = "patient_id,date,record,component,occurrence,amount,note\n";

#[test]
fn ec_scheduled_is_the_planned_date_when_a_dose_is_given_early_in_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export_with(
        dir.path(),
        "NCT04822922",
        "patient_id,arm,weight_kg,start_date,site\nE1,low,50,2026-10-05,\n",
        Some(&format!(
            "{LOG_HEADER}E1,2026-10-05,given,uc_msc,1,25000000,high dose\n\
             E1,2026-10-07,given,uc_msc,2,,\n\
             E1,2026-10-09,given,uc_msc,3,,\n"
        )),
    );
    let ec = Dataset::read(&folder, "ec");
    let rows = |mood: &str| -> Vec<[String; 2]> {
        ec.rows
            .iter()
            .filter(|r| r["ECMOOD"] == mood)
            .map(|r| [text(r, "ECLNKID"), text(r, "ECSTDTC")])
            .collect()
    };
    let s = |a: &str, b: &str| [a.to_string(), b.to_string()];
    // Day 1, 4 and 7 of the regimen; doses 2 and 3 were given a day early.
    assert_eq!(
        rows("SCHEDULED"),
        [
            s("uc_msc-1", "2026-10-05"),
            s("uc_msc-2", "2026-10-08"),
            s("uc_msc-3", "2026-10-11"),
            s("uc_msc-4", "2026-10-14")
        ]
    );
    assert_eq!(
        rows("PERFORMED"),
        [
            s("uc_msc-1", "2026-10-05"),
            s("uc_msc-2", "2026-10-07"),
            s("uc_msc-3", "2026-10-09")
        ]
    );
}

/// DM's (USUBJID, RFSTDTC, ACTARMCD, ACTARM, ARMNRS) rows.
fn actual_arms(folder: &Path) -> Vec<[String; 5]> {
    Dataset::read(folder, "dm")
        .rows
        .iter()
        .map(|r| ["USUBJID", "RFSTDTC", "ACTARMCD", "ACTARM", "ARMNRS"].map(|v| text(r, v)))
        .collect()
}

#[test]
fn with_no_record_dm_says_nothing_of_actual_treatment() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export("NCT01573923", dir.path());
    for [id, start, cd, arm, nrs] in actual_arms(&folder) {
        assert!(!start.is_empty(), "{id}: the roster's start");
        assert_eq!([cd, arm, nrs], ["", "", ""].map(String::from), "{id}");
    }
}

#[test]
fn with_a_record_dm_says_treated_not_treated_or_not_yet_started() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export_with(
        dir.path(),
        "NCT04822922",
        "patient_id,arm,weight_kg,start_date,site\n\
         E1,low,50,2026-10-05,\n\
         E2,low,60,2026-10-06,\n\
         E3,high,70,2026-10-20,\n",
        Some(&format!(
            "{LOG_HEADER}E1,2026-10-05,given,uc_msc,1,,\n\
             E2,2026-10-06,missed,uc_msc,1,,fever\n"
        )),
    );
    let s = |v: [&str; 5]| v.map(String::from);
    assert_eq!(
        actual_arms(&folder),
        [
            s([
                "NCT04822922-E1",
                "2026-10-05",
                "LOW",
                "Low dose: 4 x 10^5 cells/kg each time",
                ""
            ]),
            s([
                "NCT04822922-E2",
                "2026-10-06",
                "",
                "",
                "ASSIGNED, NOT TREATED"
            ]),
            s(["NCT04822922-E3", "", "", "", ""]),
        ]
    );
}

#[test]
fn a_missed_plasma_exchange_is_a_pr_row_not_done_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export("NCT01724398", dir.path());
    let pr = Dataset::read(&folder, "pr");
    let rows: Vec<_> = pr
        .rows
        .iter()
        .filter(|r| r["USUBJID"] == "NCT01724398-P4398-003" && r["PRLNKID"] == "pe-2")
        .collect();
    assert_eq!(rows.len(), 1);
    let r = rows[0];
    assert_eq!(
        ["PRPRESP", "PROCCUR", "PRDOSE", "PRDOSU"].map(|v| text(r, v)),
        ["Y", "N", "", ""].map(String::from)
    );
    let supp = Dataset::read(&folder, "supppr");
    let reason: Vec<_> = supp
        .rows
        .iter()
        .filter(|q| {
            q["USUBJID"] == "NCT01724398-P4398-003"
                && text(q, "IDVARVAL") == text(r, "PRSEQ")
                && q["QNAM"] == "REASOC"
        })
        .map(|q| text(q, "QVAL"))
        .collect();
    assert_eq!(reason, ["apheresis unit out of service"]);
}

#[test]
fn exadj_says_a_dose_given_off_plan_even_inside_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    // 4 x 10^5 cells/kg at 50 kg: 20,000,000 planned; 19,440,000 is 2.8% below.
    let folder = export_with(
        dir.path(),
        "NCT04822922",
        "patient_id,arm,weight_kg,start_date,site\nE1,low,50,2026-10-05,\n",
        Some(&format!(
            "{LOG_HEADER}E1,2026-10-05,given,uc_msc,1,19440000,short by one bag\n\
             E1,2026-10-08,given,uc_msc,2,19440000,\n\
             E1,2026-10-11,given,uc_msc,3,,\n"
        )),
    );
    let ex = Dataset::read(&folder, "ex");
    let adj: Vec<[String; 2]> = ex
        .rows
        .iter()
        .map(|r| [text(r, "EXDOSE"), text(r, "EXADJ")])
        .collect();
    let s = |a: &str, b: &str| [a.to_string(), b.to_string()];
    assert_eq!(
        adj,
        [
            s("19440000", "2.8% below the planned dose: short by one bag"),
            s("19440000", "2.8% below the planned dose"),
            s("20000000", ""),
        ]
    );
}
