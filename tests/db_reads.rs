//! Every command reads the roster and record from the database (`--db`): the same content
//! gives the same outputs as the CSV files, on SQLite and PostgreSQL; a correction raises
//! the calendars' SEQUENCE; a folder is never rolled back to an older copy of the
//! database unasked; and the folder holds the audit trail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dosesim::db::{Db, Location, Open, books};
use dosesim::model::Trial;

use crate::common::{root, run, tree};

const TRIAL: &str = "NCT01724398";
const SCENARIO: &str = "scenarios/nct01724398.toml";
const ROSTER: &str = "scenarios/rosters/NCT01724398.csv";
const LOG: &str = "scenarios/logs/NCT01724398.csv";

fn trial() -> Trial {
    dosesim::scenario::load(&root().join(SCENARIO)).expect("the bundled scenario")
}

/// A SQLite file in a temporary folder, and a fresh PostgreSQL database: each as the
/// `--db` value, with the folder to keep.
fn engines(hint: &str) -> Vec<(&'static str, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dosesim.db").display().to_string();
    vec![
        ("sqlite", file, Some(dir)),
        (
            "postgres",
            crate::common::postgres::fresh_database(hint),
            None,
        ),
    ]
}

/// The bundled roster and record imported into the database at `spec`, entered by
/// "pharm".
fn imported(spec: &str) -> Db {
    let mut db = Db::open(&Location::parse(spec), Open::OrCreate).unwrap();
    let t = trial();
    let r = root().join(ROSTER);
    books::import_roster(&mut db, &t, &r, std::fs::read(&r).unwrap(), "pharm").unwrap();
    let l = root().join(LOG);
    books::import_record(&mut db, &t, &l, std::fs::read(&l).unwrap(), "pharm").unwrap();
    db
}

/// `dosesim cohort` of the trial into `out` from the database `spec`, with `extra`.
fn cohort_db(spec: &str, out: &Path, extra: &[&str]) -> crate::common::Run {
    let mut args = vec![
        "cohort".to_string(),
        SCENARIO.into(),
        "--db".into(),
        spec.into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(args)
}

/// The files whose bytes depend on the roster and record alone: the schedule, the
/// deviations and the calendars (the manifest, the pages and the audit trail name where
/// the inputs came from).
fn schedule_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(dir)
        .into_iter()
        .filter(|(k, _)| {
            k.ends_with(".ics") || k.ends_with(".csv") && k != "audit.csv" && k != "record.csv"
        })
        .collect()
}

/// The first record entry of `patient`, as imported.
fn first_record_entry(db: &mut Db, patient: &str) -> i64 {
    books::history(db, TRIAL, patient)
        .unwrap()
        .into_iter()
        .find(|e| e.fields.book() == dosesim::db::Book::Record)
        .expect("the patient has a record row")
        .id
}

/// Each event's UID and SEQUENCE in an .ics file.
fn sequences(ics: &[u8]) -> BTreeMap<String, u64> {
    let text = String::from_utf8_lossy(ics);
    let mut out = BTreeMap::new();
    let mut uid = None;
    for line in text.lines() {
        if let Some(u) = line.strip_prefix("UID:") {
            uid = Some(u.trim().to_string());
        }
        if let (Some(s), Some(u)) = (line.strip_prefix("SEQUENCE:"), &uid) {
            out.insert(u.clone(), s.trim().parse().unwrap());
        }
    }
    out
}

fn out_dir(base: &Path, name: &str) -> PathBuf {
    base.join(name)
}

/// `cohort --db` makes the same schedule, deviations and calendars as `cohort --roster
/// --log` of the same content, on both engines, and each engine the same as the other;
/// a rerun from the same database gives the same bytes in every file.
#[test]
fn cohort_from_the_database_matches_cohort_from_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let from_files = out_dir(tmp.path(), "files");
    run([
        "cohort",
        SCENARIO,
        "--roster",
        ROSTER,
        "--log",
        LOG,
        "--out",
        &from_files.display().to_string(),
    ])
    .expect_code(0);
    let expected = schedule_files(&from_files.join(TRIAL));
    assert!(expected.contains_key("pharmacy.csv") && expected.contains_key("calendar.ics"));
    for (engine, spec, _keep) in engines("reads same bytes") {
        drop(imported(&spec));
        let out = out_dir(tmp.path(), engine);
        cohort_db(&spec, &out, &[]).expect_code(0);
        let made = tree(&out.join(TRIAL));
        assert_eq!(
            schedule_files(&out.join(TRIAL)),
            expected,
            "{engine}: the schedule from the database differs from the files'"
        );
        assert!(made.contains_key("audit.csv"), "{engine}");
        // The same database content again: the same bytes in every file.
        cohort_db(&spec, &out, &[]).expect_code(0);
        assert_eq!(
            tree(&out.join(TRIAL)),
            made,
            "{engine}: a rerun changed a file"
        );
    }
    // No audit trail and no database in the manifest from the files.
    let files = tree(&from_files.join(TRIAL));
    assert!(!files.contains_key("audit.csv"));
    let manifest = String::from_utf8(files["manifest.json"].clone()).unwrap();
    assert!(!manifest.contains("\"database\""), "{manifest}");
    let report = String::from_utf8(files["report.html"].clone()).unwrap();
    assert!(!report.contains("Audit trail"));
}

/// `--db` with `--roster` (or `--log`) is refused in plain words: one source of truth.
#[test]
fn db_with_a_roster_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let r = cohort_db(
        &tmp.path().join("x.db").display().to_string(),
        &tmp.path().join("out"),
        &["--roster", ROSTER],
    );
    r.expect_code(2);
    assert!(
        r.err().contains("--db") && r.err().contains("one source of truth"),
        "{}",
        r.err()
    );
    assert!(!tmp.path().join("out").exists());
}

/// A correction raises the SEQUENCE of the patient's events, and lowers none anywhere;
/// audit.csv lists it with who made it and why, and the report's audit trail names it.
#[test]
fn a_correction_raises_sequence_and_is_in_the_audit_trail() {
    for (engine, spec, _keep) in engines("reads correction") {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut db = imported(&spec);
        cohort_db(&spec, &out, &[]).expect_code(0);
        let patient = "P4398-003";
        let ics = |out: &Path| {
            std::fs::read(
                out.join(TRIAL)
                    .join("patients")
                    .join(format!("{patient}.ics")),
            )
            .unwrap()
        };
        let before = sequences(&ics(&out));
        let all_before = sequences(&std::fs::read(out.join(TRIAL).join("calendar.ics")).unwrap());
        let id = first_record_entry(&mut db, patient);
        let changes = vec![("note".to_string(), "infused over 40 minutes".to_string())];
        let (c, _) = books::correct(
            &mut db,
            &trial(),
            id,
            &changes,
            "note left out when first entered",
            "jane",
            books::Face::Command,
        )
        .unwrap();
        cohort_db(&spec, &out, &[]).expect_code(0);
        let after = sequences(&ics(&out));
        assert!(!before.is_empty(), "{engine}");
        for (uid, s) in &before {
            assert!(
                after[uid] > *s,
                "{engine}: {uid}: SEQUENCE {s} -> {}",
                after[uid]
            );
        }
        let all_after = sequences(&std::fs::read(out.join(TRIAL).join("calendar.ics")).unwrap());
        for (uid, s) in &all_before {
            assert!(all_after[uid] >= *s, "{engine}: {uid} fell");
        }
        let audit =
            String::from_utf8(std::fs::read(out.join(TRIAL).join("audit.csv")).unwrap()).unwrap();
        let header = audit.lines().next().unwrap();
        assert!(
            header.starts_with(
                "entry,entered_at,entered_by,action,book,patient_id,supersedes,reason"
            ),
            "{header}"
        );
        let row = audit
            .lines()
            .find(|l| l.starts_with(&format!("{c},")))
            .expect("the correction's row");
        for part in [
            ",jane,correct,record,P4398-003,",
            "note left out when first entered",
            "infused over 40 minutes",
        ] {
            assert!(row.contains(part), "{engine}: {part} not in {row}");
        }
        let report =
            String::from_utf8(std::fs::read(out.join(TRIAL).join("report.html")).unwrap()).unwrap();
        assert!(report.contains("Audit trail"), "{engine}");
        assert!(
            report.contains("note left out when first entered"),
            "{engine}"
        );
        assert!(report.contains("jane"), "{engine}");
        let manifest =
            String::from_utf8(std::fs::read(out.join(TRIAL).join("manifest.json")).unwrap())
                .unwrap();
        assert!(
            manifest.contains(&format!("\"entry\": {c}")),
            "{engine}: {manifest}"
        );
    }
}

/// A rerun from an older backup of the database, into the folder made from the newer
/// state, is refused (exit 2) naming both heads, and accepted with --force.
#[test]
fn a_rerun_from_an_older_backup_is_refused_unless_forced() {
    for (engine, spec, _keep) in engines("reads backup") {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let backup = tmp.path().join("backup.db");
        let mut db = imported(&spec);
        db.backup(&backup).unwrap();
        let id = first_record_entry(&mut db, "P4398-004");
        let changes = vec![("note".to_string(), "late entry".to_string())];
        let (c, _) = books::correct(
            &mut db,
            &trial(),
            id,
            &changes,
            "typo",
            "jane",
            books::Face::Command,
        )
        .unwrap();
        cohort_db(&spec, &out, &[]).expect_code(0);
        let made = tree(&out.join(TRIAL));
        let old = backup.display().to_string();
        let r = cohort_db(&old, &out, &[]);
        r.expect_code(2);
        let err = r.err();
        assert!(
            err.contains(&format!("up to entry {c}"))
                && err.contains(&format!("its last entry is {}", c - 1))
                && err.contains("--force"),
            "{engine}: {err}"
        );
        assert_eq!(tree(&out.join(TRIAL)), made, "{engine}: the folder changed");
        let r = cohort_db(&old, &out, &["--force"]);
        r.expect_code(0);
        assert!(r.err().contains("--force"), "{engine}: {}", r.err());
    }
}

/// A different database (the same content entered again: other hashes) is refused too.
#[test]
fn a_rerun_from_another_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = tmp.path().join("a.db").display().to_string();
    let b = tmp.path().join("b.db").display().to_string();
    drop(imported(&a));
    drop(imported(&b));
    cohort_db(&a, &out, &[]).expect_code(0);
    let r = cohort_db(&b, &out, &[]);
    r.expect_code(2);
    assert!(r.err().contains("has another hash"), "{}", r.err());
}

/// `run --db`: the trial whose roster is in the database is made from it (its folder has
/// the audit trail), the others from their files, said on one line.
#[test]
fn run_reads_the_trials_the_database_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("dosesim.db").display().to_string();
    drop(imported(&spec));
    let out = tmp.path().join("out");
    let r = run(["run", "--db", &spec, "--out", &out.display().to_string()]);
    r.expect_code(0);
    assert!(out.join(TRIAL).join("audit.csv").is_file());
    assert!(!out.join("NCT04822922").join("audit.csv").exists());
    let err = r.err();
    let notes: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("holds no roster"))
        .collect();
    assert_eq!(notes.len(), 1, "{}", r.err());
    assert!(!notes[0].contains(TRIAL), "{}", notes[0]);
}

/// `pharmacy --db` gives what `pharmacy --roster --log` gives.
#[test]
fn pharmacy_from_the_database_matches_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("dosesim.db").display().to_string();
    drop(imported(&spec));
    let files = run(["pharmacy", SCENARIO, "--roster", ROSTER, "--log", LOG]);
    files.expect_code(0);
    let db = run(["pharmacy", SCENARIO, "--db", &spec]);
    db.expect_code(0);
    assert_eq!(db.stdout, files.stdout);
}

/// `calendar --db --patient` takes the patient and their record from the database, with
/// the SEQUENCE their record entries give.
#[test]
fn calendar_takes_the_patient_from_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("dosesim.db").display().to_string();
    drop(imported(&spec));
    let p = "P4398-004";
    let files = run([
        "calendar",
        SCENARIO,
        "--roster",
        ROSTER,
        "--log",
        LOG,
        "--patient",
        p,
        "--format",
        "csv",
    ]);
    files.expect_code(0);
    let db = run([
        "calendar",
        SCENARIO,
        "--db",
        &spec,
        "--patient",
        p,
        "--format",
        "csv",
    ]);
    db.expect_code(0);
    assert_eq!(db.stdout, files.stdout);
}

/// `prep --db` gives the same preparation sheet as `prep --roster --log` for the same
/// content (the weeks after the record's as-of date, when doses are still to prepare).
#[test]
fn prep_from_the_database_matches_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("dosesim.db").display().to_string();
    drop(imported(&spec));
    let range = [
        "--from",
        "2026-11-21",
        "--to",
        "2027-01-31",
        "--format",
        "csv",
    ];
    let mut args = vec!["prep", SCENARIO, "--roster", ROSTER, "--log", LOG];
    args.extend(range);
    let files = run(args);
    files.expect_code(0);
    let mut args = vec!["prep", SCENARIO, "--db", &spec];
    args.extend(range);
    let db = run(args);
    db.expect_code(0);
    assert!(files.out().lines().count() > 50, "{}", files.out());
    assert_eq!(db.stdout, files.stdout);
}
