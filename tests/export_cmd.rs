//! `dosesim export` as a command, whatever the format: its flags checked, bad input refused
//! with nothing written, its folder `DIR/<trial>/<format>/` with a manifest, kept by a
//! later `cohort` into the same folder and never replaced by an export of other inputs
//! unless asked; the same files from the database as from the CSV files it was imported
//! from.

use std::path::Path;

use crate::common::{dosesim, run, tree, write_roster};

const TRIAL: &str = "NCT01724398";
const ROSTER: &str = "scenarios/rosters/NCT01724398.csv";
const LOG: &str = "scenarios/logs/NCT01724398.csv";

/// `dosesim export FORMAT NCT01724398 --roster R --log L --out OUT` plus `extra`.
fn export(format: &str, out: &Path, extra: &[&str]) -> crate::common::Run {
    let mut with_log = vec!["--log", LOG];
    with_log.extend_from_slice(extra);
    export_of(format, ROSTER, out, &with_log)
}

/// `dosesim export FORMAT NCT01724398 --roster ROSTER --out OUT` plus `extra`.
fn export_of(format: &str, roster: &str, out: &Path, extra: &[&str]) -> crate::common::Run {
    let mut args = vec![
        "export",
        format,
        TRIAL,
        "--roster",
        roster,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(args)
}

#[test]
fn expanded_is_for_the_nonmem_table_only() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["sdtm", "fhir"] {
        let r = export(format, dir.path(), &["--expanded"]);
        r.expect_code(2);
        assert!(
            r.err()
                .contains("--expanded: is for the nonmem event table"),
            "{}",
            r.err()
        );
    }
    assert!(crate::common::entries(dir.path()).is_empty());
}

#[test]
fn an_unknown_format_is_refused_naming_the_formats() {
    let dir = tempfile::tempdir().unwrap();
    let r = export("xpt", dir.path(), &[]);
    r.expect_code(2);
    for f in ["nonmem", "sdtm", "fhir"] {
        assert!(r.err().contains(f), "{}", r.err());
    }
}

#[test]
fn a_roster_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dosesim()
        .env_remove("DOSESIM_DB")
        .args(["export", "nonmem", TRIAL, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--roster"), "{err}");
}

#[test]
fn an_export_among_the_inputs_is_refused() {
    let r = export("nonmem", Path::new("scenarios/rosters/x"), &[]);
    r.expect_code(2);
    assert!(
        r.err().contains("dosesim writes nothing among its inputs"),
        "{}",
        r.err()
    );
}

#[test]
fn a_bad_roster_names_every_problem_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "roster.csv",
        &[
            "P1,msc,61.5,2026-09-01,GZ-SYSU3",
            "P2,nosuch,61.5,2026-09-01,GZ-SYSU3",
            "P3,msc,-4,2026-09-01,GZ-SYSU3",
        ],
    );
    let out = dir.path().join("out");
    let r = run([
        "export",
        "sdtm",
        TRIAL,
        "--roster",
        roster.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    r.expect_code(2);
    let err = r.err();
    assert!(err.contains("roster.csv:3"), "{err}");
    assert!(err.contains("roster.csv:4"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn each_format_has_its_folder_with_a_manifest_kept_by_a_cohort_run() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["nonmem", "sdtm", "fhir"] {
        export(format, dir.path(), &[]).expect_code(0);
        let folder = dir.path().join(TRIAL).join(format);
        let manifest = std::fs::read_to_string(folder.join("manifest.json")).unwrap();
        assert!(manifest.contains(&format!("\"{format}\"")), "{manifest}");
        assert!(
            manifest.contains("NCT01724398.csv"),
            "the record is an input: {manifest}"
        );
    }
    let before: Vec<_> = ["nonmem", "sdtm", "fhir"]
        .iter()
        .map(|f| tree(&dir.path().join(TRIAL).join(f)))
        .collect();
    // The trial folder made around the exports keeps them, and they are not its files.
    let r = run([
        "cohort",
        TRIAL,
        "--roster",
        ROSTER,
        "--log",
        LOG,
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    r.expect_code(0);
    for (f, was) in ["nonmem", "sdtm", "fhir"].iter().zip(&before) {
        assert_eq!(&tree(&dir.path().join(TRIAL).join(f)), was, "{f} kept");
    }
    assert!(dir.path().join(TRIAL).join("pharmacy.csv").is_file());
    // And an export into the trial folder keeps the cohort's files.
    export("nonmem", dir.path(), &[]).expect_code(0);
    assert!(dir.path().join(TRIAL).join("pharmacy.csv").is_file());
    assert!(dir.path().join(TRIAL).join("report.html").is_file());
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    // Twice into the same folder (the manifest names the command, --out included).
    let dir = tempfile::tempdir().unwrap();
    for format in ["nonmem", "sdtm", "fhir"] {
        export(format, dir.path(), &[]).expect_code(0);
        let first = tree(&dir.path().join(TRIAL).join(format));
        export(format, dir.path(), &[]).expect_code(0);
        crate::common::assert_same_tree(
            &first,
            &tree(&dir.path().join(TRIAL).join(format)),
            format,
        );
    }
}

#[test]
fn an_export_of_other_inputs_is_not_replaced_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    export("fhir", dir.path(), &[]).expect_code(0);
    let folder = dir.path().join(TRIAL).join("fhir");
    std::fs::write(folder.join("mine.txt"), "a note of mine").unwrap();
    let was = tree(&folder);
    // Another roster (the same patients, copied): other inputs.
    let other = dir.path().join("other-roster.csv");
    std::fs::copy(crate::common::root().join(ROSTER), &other).unwrap();
    let without = |extra: &[&str]| export_of("fhir", other.to_str().unwrap(), dir.path(), extra);
    let r = without(&[]);
    r.expect_code(2);
    assert!(r.err().contains("add --force"), "{}", r.err());
    assert_eq!(tree(&folder), was, "untouched");
    without(&["--force"]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(folder.join("mine.txt")).unwrap(),
        "a note of mine",
        "a user's own file is kept"
    );
    let manifest = std::fs::read_to_string(folder.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("other-roster.csv"),
        "replaced when asked: {manifest}"
    );
}

#[test]
fn the_database_gives_the_same_files_as_the_csv_files_it_was_imported_from() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("site.db");
    let db = db.to_str().unwrap();
    let in_db = |args: &[&str]| {
        let out = dosesim()
            .env_remove("DOSESIM_DB")
            .args(args)
            .args(["--db", db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    in_db(&["roster", "import", TRIAL, ROSTER, "--by", "pharm"]);
    in_db(&["record", "import", TRIAL, LOG, "--by", "pharm"]);
    let from_db = dir.path().join("db");
    let from_files = dir.path().join("files");
    for format in ["nonmem", "sdtm", "fhir"] {
        in_db(&["export", format, TRIAL, "--out", from_db.to_str().unwrap()]);
        export(format, &from_files, &[]).expect_code(0);
        let mut a = tree(&from_db.join(TRIAL).join(format));
        let mut b = tree(&from_files.join(TRIAL).join(format));
        // The manifests name different inputs; every other file is the same.
        a.remove("manifest.json").expect("a manifest");
        b.remove("manifest.json").expect("a manifest");
        crate::common::assert_same_tree(&a, &b, format);
    }
}

#[test]
fn an_export_made_with_the_record_is_not_rolled_back_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    export("sdtm", &out, &[]).expect_code(0);
    let folder = out.join(TRIAL).join("sdtm");
    let was = tree(&folder);
    let roster_only = |extra: &[&str]| export_of("sdtm", ROSTER, &out, extra);
    // No record: every death, withdrawal and dose given would be gone from DM, EX, ...
    let r = roster_only(&[]);
    r.expect_code(2);
    assert!(r.err().contains("and this run has none"), "{}", r.err());
    assert_eq!(tree(&folder), was, "untouched");
    // An older record (its first 40 rows): the rows after would be lost.
    let text = std::fs::read_to_string(crate::common::root().join(LOG)).unwrap();
    let short: String = text.lines().take(41).map(|l| format!("{l}\n")).collect();
    let older = crate::common::write_file(dir.path(), "older.csv", &short);
    let r = roster_only(&["--log", older.to_str().unwrap()]);
    r.expect_code(2);
    assert_eq!(tree(&folder), was, "untouched");
    // Asked for: replaced, and said.
    let r = roster_only(&["--force"]);
    r.expect_code(0);
    assert!(
        r.err().contains("--force:") && r.err().contains("rolls its history back"),
        "{}",
        r.err()
    );
    assert_ne!(tree(&folder), was);
}
