//! `dosesim export fhir` through the real binary, on every bundled trial (NCT01724398 with
//! its administration record):
//!
//! - a small reader of ours gets back from the Bundles pharmacy.csv's schedule: each dose to
//!   give or given (patient, component, occurrence, date, amount), the doses given, the
//!   doses missed;
//! - every reference inside a Bundle resolves to one of its entries, ids are valid FHIR ids,
//!   Timing units are UnitsOfTime codes, requests are of intent "plan";
//! - a second run writes the same bytes; one small patient's Bundle is a snapshot;
//! - a dose given at a recorded clock time from a recorded lot has its instant (the offset
//!   marked assumed) and a BiologicallyDerivedProduct; a missed dose says why.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

const TRIALS: [&str; 5] = [
    "NCT01573923",
    "NCT01724398",
    "NCT02812121",
    "NCT04822922",
    "NCT05106972",
];
const UNITS_OF_TIME: [&str; 7] = ["s", "min", "h", "d", "wk", "mo", "a"];

/// (patient, component, occurrence) -> (date, amount).
type Doses = BTreeMap<(String, String, u32), (String, Option<f64>)>;

/// The inputs of a trial: its roster, and its record when it has one.
fn inputs(trial: &str, extra: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        trial.into(),
        "--roster".into(),
        format!("scenarios/rosters/{trial}.csv").into(),
    ];
    let log = root().join(format!("scenarios/logs/{trial}.csv"));
    if log.exists() {
        args.extend(["--log".into(), log.into_os_string()]);
    }
    args.extend(extra.iter().map(OsString::from));
    args
}

/// Exports `trial` as FHIR under `out`; its folder.
fn export(trial: &str, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args: Vec<OsString> = vec!["--quiet".into(), "export".into(), "fhir".into()];
    args.extend(inputs(trial, extra));
    args.extend(["--out".into(), out.as_os_str().to_owned()]);
    run(&args).expect_code(0);
    out.join(trial).join("fhir")
}

/// pharmacy.csv of the same inputs.
fn pharmacy_rows(trial: &str, extra: &[&str]) -> Vec<CsvRow> {
    let mut args: Vec<OsString> = vec!["--quiet".into(), "pharmacy".into()];
    args.extend(inputs(trial, extra));
    let r = run(&args);
    r.expect_code(0);
    parse_csv(&r.stdout).1
}

/// Every Bundle of a folder, by its file's name less `.json` (the manifest aside).
fn bundles(folder: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name == "manifest.json" {
            continue;
        }
        let id = name
            .strip_suffix(".json")
            .expect("only .json files")
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        out.insert(id, serde_json::from_str(&text).unwrap());
    }
    out
}

fn resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"]
        .as_array()
        .expect("a Bundle has entries")
        .iter()
        .map(|e| &e["resource"])
}

fn of_type<'a>(bundle: &'a Value, t: &'a str) -> impl Iterator<Item = &'a Value> {
    resources(bundle).filter(move |r| r["resourceType"] == t)
}

/// The value of a dosesim extension on `node`.
fn ext<'a>(node: &'a Value, url: &str) -> Option<&'a Value> {
    node["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
}

fn occurrence(node: &Value) -> u32 {
    ext(node, "urn:dosesim:occurrence").expect("an occurrence")["valuePositiveInt"]
        .as_u64()
        .unwrap() as u32
}

/// A request's component: the last part of its identifier PATIENT/COMPONENT.
fn component(request: &Value) -> String {
    let value = request["identifier"][0]["value"].as_str().unwrap();
    value.rsplit_once('/').unwrap().1.to_string()
}

/// Each date of a Timing with its occurrence and (an exchange's) volume.
fn timing_doses(t: &Value, amount: Option<f64>, key: (&str, &str), out: &mut Doses) {
    let dates = t["event"].as_array().cloned().unwrap_or_default();
    let notes = t["_event"].as_array().cloned().unwrap_or_default();
    assert_eq!(dates.len(), notes.len(), "each date has its note: {t}");
    for (date, note) in dates.iter().zip(&notes) {
        let volume = ext(note, "urn:dosesim:volume").map(|v| v["valueQuantity"]["value"].as_f64());
        let amount = volume.map_or(amount, |v| v);
        let k = (key.0.to_string(), key.1.to_string(), occurrence(note));
        let old = out.insert(k, (date.as_str().unwrap().to_string(), amount));
        assert!(old.is_none(), "an occurrence listed twice: {t}");
    }
}

/// Our reader: the doses to give or given (amounts of given ones as given), the doses
/// given and the doses missed, of one patient's Bundle.
fn read(patient: &str, bundle: &Value) -> (Doses, Doses, Doses) {
    let by_url: BTreeMap<&str, &Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["fullUrl"].as_str().unwrap(), &e["resource"]))
        .collect();
    let mut plan = Doses::new();
    for r in of_type(bundle, "MedicationRequest") {
        for d in r["dosageInstruction"].as_array().unwrap() {
            let amount = d["doseAndRate"][0]["doseQuantity"]["value"].as_f64();
            timing_doses(&d["timing"], amount, (patient, &component(r)), &mut plan);
        }
    }
    for r in of_type(bundle, "ServiceRequest") {
        timing_doses(
            &r["occurrenceTiming"],
            None,
            (patient, &component(r)),
            &mut plan,
        );
    }
    let (mut given, mut missed) = (Doses::new(), Doses::new());
    for r in resources(bundle) {
        let (request, date, amount) = match r["resourceType"].as_str() {
            Some("MedicationAdministration") => (
                &r["request"],
                &r["effectiveDateTime"],
                r["dosage"]["dose"]["value"].as_f64(),
            ),
            Some("Procedure") => (
                &r["basedOn"][0],
                &r["performedDateTime"],
                ext(r, "urn:dosesim:volume").and_then(|v| v["valueQuantity"]["value"].as_f64()),
            ),
            _ => continue,
        };
        let request = by_url[request["reference"].as_str().unwrap()];
        let k = (patient.to_string(), component(request), occurrence(r));
        let date = date.as_str().unwrap()[..10].to_string();
        match r["status"].as_str() {
            Some("completed") => {
                plan.get_mut(&k).expect("a given dose is in its request").1 = amount;
                given.insert(k, (date, amount));
            }
            Some("not-done") => {
                missed.insert(k, (date, None));
            }
            other => panic!("an administration's status {other:?}"),
        }
    }
    (plan, given, missed)
}

/// pharmacy.csv's doses: to give or given, given, missed.
fn expected(rows: &[CsvRow]) -> (Doses, Doses, Doses) {
    let (mut plan, mut given, mut missed) = (Doses::new(), Doses::new(), Doses::new());
    for r in rows
        .iter()
        .filter(|r| r.kind == "cell_infusion" || r.kind == "plasma_exchange")
    {
        let k = (
            r.patient_id.clone(),
            r.event.clone(),
            r.occurrence.parse().unwrap(),
        );
        let v = (r.date.clone(), r.dose.parse::<f64>().ok());
        match r.status.as_str() {
            "missed" => {
                missed.insert(k, (r.date.clone(), None));
            }
            "cancelled" => {}
            status => {
                if status == "given" {
                    given.insert(k.clone(), v.clone());
                }
                plan.insert(k, v);
            }
        }
    }
    (plan, given, missed)
}

/// Every reference resolves to an entry; ids are valid and make the fullUrls.
fn assert_references(name: &str, bundle: &Value) {
    let mut urls = BTreeSet::new();
    for e in bundle["entry"].as_array().unwrap() {
        let id = e["resource"]["id"].as_str().unwrap();
        assert!(
            (1..=64).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
            "{name}: id {id}"
        );
        assert_eq!(e["fullUrl"], format!("urn:uuid:{id}"), "{name}");
        assert!(urls.insert(id.to_string()), "{name}: id {id} twice");
    }
    let mut refs = Vec::new();
    collect_refs(bundle, &mut refs);
    assert!(!refs.is_empty(), "{name}: no references");
    for r in refs {
        let id = r.strip_prefix("urn:uuid:").unwrap_or(&r);
        assert!(
            urls.contains(id),
            "{name}: reference {r} resolves to no entry"
        );
    }
}

fn collect_refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Every periodUnit and durationUnit is a UnitsOfTime code; the count of Timing units.
fn timing_units(node: &Value) -> usize {
    match node {
        Value::Object(m) => {
            let mut n = 0;
            for key in ["periodUnit", "durationUnit"] {
                if let Some(u) = m.get(key) {
                    let u = u.as_str().unwrap();
                    assert!(UNITS_OF_TIME.contains(&u), "{key} {u}");
                    n += 1;
                }
            }
            n + m.values().map(timing_units).sum::<usize>()
        }
        Value::Array(a) => a.iter().map(timing_units).sum(),
        _ => 0,
    }
}

#[test]
fn every_trial_reads_back_as_pharmacy_csv_with_resolved_references() {
    for trial in TRIALS {
        let dir = tempfile::tempdir().unwrap();
        let folder = export(trial, dir.path(), &[]);
        let rows = pharmacy_rows(trial, &[]);
        let bundles = bundles(&folder);
        let patients: BTreeSet<&String> = rows.iter().map(|r| &r.patient_id).collect();
        assert_eq!(bundles.keys().collect::<BTreeSet<_>>(), patients, "{trial}");
        let (mut plan, mut given, mut missed) = (Doses::new(), Doses::new(), Doses::new());
        let mut units = 0;
        for (patient, b) in &bundles {
            assert_eq!(b["resourceType"], "Bundle");
            assert_eq!(b["type"], "collection");
            assert_references(patient, b);
            units += timing_units(b);
            for r in of_type(b, "MedicationRequest").chain(of_type(b, "ServiceRequest")) {
                assert_eq!(r["intent"], "plan", "{patient}");
            }
            let (p, g, m) = read(patient, b);
            plan.extend(p);
            given.extend(g);
            missed.extend(m);
        }
        assert!(units > 0, "{trial}: no Timing units to check");
        let (want_plan, want_given, want_missed) = expected(&rows);
        assert!(!want_plan.is_empty(), "{trial}");
        assert_eq!(plan, want_plan, "{trial}: the schedule");
        assert_eq!(given, want_given, "{trial}: the doses given");
        assert_eq!(missed, want_missed, "{trial}: the doses missed");
        if trial == "NCT01724398" {
            assert!(
                given.len() > 30 && !missed.is_empty(),
                "{trial}: the record"
            );
        }
    }
}

#[test]
fn a_second_run_writes_the_same_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = export("NCT01724398", a.path(), &[]);
    let second = export("NCT01724398", b.path(), &[]);
    let mut one = tree(&first);
    let mut two = tree(&second);
    // The manifest names the folder written to; the Bundles must not differ at all.
    one.remove("manifest.json");
    two.remove("manifest.json");
    assert!(one.len() > 100);
    assert!(one == two, "the Bundles differ between two runs");
}

#[test]
fn a_small_patients_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let folder = export("NCT04822922", dir.path(), &[]);
    let text = std::fs::read_to_string(folder.join("P2922-001.json")).unwrap();
    insta::assert_snapshot!("fhir_nct04822922_p2922_001", text);
}

#[test]
fn a_recorded_time_and_lot_and_a_missed_doses_reason() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_file(
        dir.path(),
        "log.csv",
        "patient_id,date,record,component,occurrence,amount,note\n\
         P2922-001,2026-08-03,given,uc_msc,1,,\"given at 10:40, lot UC-2611-07; slow start\"\n\
         P2922-001,2026-08-06,missed,uc_msc,2,,fever on the day\n",
    );
    let log = log.to_str().unwrap();
    let extra = ["--log", log, "--as-of", "2026-08-07"];
    let out = dir.path().join("out");
    let mut args: Vec<OsString> = ["--quiet", "export", "fhir", "NCT04822922", "--roster"]
        .map(OsString::from)
        .to_vec();
    args.push("scenarios/rosters/NCT04822922.csv".into());
    args.extend(extra.map(OsString::from));
    args.extend(["--out".into(), out.clone().into_os_string()]);
    run(&args).expect_code(0);
    let text = std::fs::read_to_string(out.join("NCT04822922/fhir/P2922-001.json")).unwrap();
    let b: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(b["timestamp"], "2026-08-07T00:00:00+08:00");
    assert_references("P2922-001", &b);
    let admins: Vec<&Value> = of_type(&b, "MedicationAdministration").collect();
    assert_eq!(admins.len(), 2);
    let given = admins.iter().find(|a| a["status"] == "completed").unwrap();
    assert_eq!(given["effectiveDateTime"], "2026-08-03T10:40:00+08:00");
    let offset = given["extension"].as_array().unwrap().iter().any(|e| {
        e["url"] == "urn:dosesim:assumed"
            && e["valueString"]
                .as_str()
                .unwrap()
                .contains("UTC offset +08:00")
    });
    assert!(offset, "the offset is marked assumed: {given}");
    let lot = of_type(&b, "BiologicallyDerivedProduct")
        .next()
        .expect("the lot");
    assert_eq!(lot["identifier"][0]["value"], "UC-2611-07");
    assert_eq!(lot["productCategory"], "cells");
    let lot_url = format!("urn:uuid:{}", lot["id"].as_str().unwrap());
    assert_eq!(given["supportingInformation"][0]["reference"], lot_url);
    let missed = admins.iter().find(|a| a["status"] == "not-done").unwrap();
    assert_eq!(missed["statusReason"][0]["text"], "fever on the day");
    assert_eq!(missed["effectiveDateTime"], "2026-08-06");
    // The reader gives back pharmacy.csv of the same record.
    let rows = pharmacy_rows("NCT04822922", &extra);
    let rows: Vec<CsvRow> = rows
        .into_iter()
        .filter(|r| r.patient_id == "P2922-001")
        .collect();
    let (plan, g, m) = read("P2922-001", &b);
    let (want_plan, want_g, want_m) = expected(&rows);
    assert_eq!((plan, g, m), (want_plan, want_g, want_m));
}

/// The gap of `n` `unit`s after `from` (`None` for a unit other than d, wk, mo).
fn step(from: chrono::NaiveDate, n: u32, unit: &str) -> Option<chrono::NaiveDate> {
    match unit {
        "d" => from.checked_add_days(chrono::Days::new(n.into())),
        "wk" => from.checked_add_days(chrono::Days::new((7 * n).into())),
        "mo" => from.checked_add_months(chrono::Months::new(n)),
        _ => None,
    }
}

/// Every Timing with `event` and `repeat.period`: the dates listed are exactly `count`
/// dates `period` apart, so a reader expanding `repeat` gets the dates listed.
fn assert_timings_follow_their_period(name: &str, node: &Value) {
    match node {
        Value::Object(m) => {
            if let (Some(Value::Array(events)), Some(repeat)) = (m.get("event"), m.get("repeat"))
                && let Some(period) = repeat.get("period").and_then(Value::as_u64)
            {
                let unit = repeat["periodUnit"].as_str().unwrap();
                let dates: Vec<chrono::NaiveDate> = events
                    .iter()
                    .map(|d| d.as_str().unwrap().parse().unwrap())
                    .collect();
                assert_eq!(repeat["count"], events.len(), "{name}: count of {node}");
                for (k, d) in dates.iter().enumerate() {
                    let want = step(dates[0], period as u32 * k as u32, unit);
                    assert_eq!(want, Some(*d), "{name}: date {k} of {node}");
                }
            }
            m.values()
                .for_each(|v| assert_timings_follow_their_period(name, v));
        }
        Value::Array(a) => a
            .iter()
            .for_each(|v| assert_timings_follow_their_period(name, v)),
        _ => {}
    }
}

#[test]
fn a_timings_period_is_kept_only_where_its_dates_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut periods = 0;
    for trial in TRIALS {
        for (name, b) in bundles(&export(trial, dir.path(), &[])) {
            assert_timings_follow_their_period(&name, &b);
            periods += serde_json::to_string(&b)
                .unwrap()
                .matches("\"period\":")
                .count();
        }
    }
    assert!(periods > 0, "some Timing keeps its period");
    // P4398-003 missed an exchange (a reader expanding every 3 d would get 2026-08-15) and
    // P4398-014's second weekly infusion moved:
    // no period, the rule in words.
    let b = &bundles(&dir.path().join("NCT01724398/fhir"))["P4398-003"];
    let sr = of_type(b, "ServiceRequest").next().unwrap();
    let t = &sr["occurrenceTiming"];
    assert_eq!(t["event"], serde_json::json!(["2026-08-12", "2026-08-18"]));
    assert_eq!(t["repeat"]["count"], 2);
    assert!(t["repeat"].get("period").is_none(), "{t}");
    let note = sr["note"][0]["text"].as_str().unwrap();
    assert!(note.starts_with("regimen rule: every 3 d"), "{note}");
    let b = &bundles(&dir.path().join("NCT01724398/fhir"))["P4398-014"];
    let mr = of_type(b, "MedicationRequest").next().unwrap();
    let d = &mr["dosageInstruction"][0];
    let t = &d["timing"];
    assert_eq!(t["event"], serde_json::json!(["2026-09-30", "2026-10-08"]));
    assert!(t["repeat"].get("period").is_none(), "{t}");
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .contains("regimen rule: every 1 wk")
    );
}

#[test]
fn a_recorded_death_is_on_the_patient_and_a_withdrawal_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let all = bundles(&export("NCT01724398", dir.path(), &[]));
    let b = &all["P4398-014"];
    let patient = of_type(b, "Patient").next().unwrap();
    assert_eq!(patient["deceasedDateTime"], "2026-10-12", "{patient}");
    let subject = of_type(b, "ResearchSubject").next().unwrap();
    assert_eq!(subject["status"], "off-study");
    assert_eq!(subject["period"]["end"], patient["deceasedDateTime"]);
    // P4398-012 withdrew consent: off the study, alive.
    let b = &all["P4398-012"];
    assert_eq!(
        of_type(b, "ResearchSubject").next().unwrap()["status"],
        "withdrawn"
    );
    let patient = of_type(b, "Patient").next().unwrap();
    assert!(patient.get("deceasedDateTime").is_none(), "{patient}");
    let dead = all
        .values()
        .filter(|b| of_type(b, "Patient").any(|p| p.get("deceasedDateTime").is_some()))
        .count();
    assert_eq!(dead, 1, "only the death the record gives");
}

#[test]
fn a_recorded_weight_is_an_observation_besides_the_rosters() {
    let dir = tempfile::tempdir().unwrap();
    let all = bundles(&export("NCT01724398", dir.path(), &[]));
    let weights = |b: &Value| -> Vec<(String, f64, String)> {
        of_type(b, "Observation")
            .map(|o| {
                assert_eq!(o["code"]["coding"][0]["system"], "http://loinc.org");
                assert_eq!(o["code"]["coding"][0]["code"], "29463-7");
                assert_eq!(o["valueQuantity"]["system"], "http://unitsofmeasure.org");
                assert_eq!(o["valueQuantity"]["code"], "kg");
                assert_eq!(o["status"], "final");
                (
                    o["effectiveDateTime"].as_str().unwrap().to_string(),
                    o["valueQuantity"]["value"].as_f64().unwrap(),
                    o["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // P4398-010 was re-weighed on 2026-09-21 (72.4 kg; 68.9 on the roster).
    let w = weights(&all["P4398-010"]);
    let got: Vec<(&str, f64)> = w.iter().map(|(d, kg, _)| (d.as_str(), *kg)).collect();
    assert_eq!(got, [("2026-09-12", 68.9), ("2026-09-21", 72.4)]);
    assert_ne!(w[0].2, w[1].2, "ids differ");
    // No other patient of the record has a weight row: the roster's only.
    for (name, b) in &all {
        if name != "P4398-010" {
            assert_eq!(weights(b).len(), 1, "{name}");
        }
    }
}
