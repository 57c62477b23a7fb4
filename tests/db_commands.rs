//! The database commands through the real binary (`roster import|export`, `record import|
//! add|correct|void|list|history|export|verify|backup`), each test function run on a
//! SQLite file and on a fresh PostgreSQL database: the round trip CSV -> database -> CSV,
//! corrections and voids with their reasons, a tampered entry found by verify, UPDATE and
//! DELETE refused by the database itself, backups, and a bad import refused whole.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::common::postgres::{connect, fresh_database};
use crate::common::{Run, dosesim, root};

const TRIAL: &str = "NCT01724398";
const ROSTER: &str = "scenarios/rosters/NCT01724398.csv";
const LOG: &str = "scenarios/logs/NCT01724398.csv";

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

/// A database for one test: what `--db` takes, and a temporary folder for its files
/// (the SQLite file, backups, CSVs).
struct At {
    engine: Engine,
    db: String,
    dir: TempDir,
}

impl At {
    fn new(engine: Engine, hint: &str) -> At {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = match engine {
            Engine::Sqlite => dir.path().join("site.db").display().to_string(),
            Engine::Postgres => fresh_database(hint),
        };
        At { engine, db, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `dosesim ARGS --db DB`, with no DOSESIM_DB from the environment.
    fn run(&self, args: &[&str]) -> Run {
        let out = dosesim()
            .env_remove("DOSESIM_DB")
            .args(args)
            .arg("--db")
            .arg(&self.db)
            .output()
            .expect("dosesim runs");
        Run {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// The bundled roster and record imported.
    fn import_bundled(&self) {
        let r = self.run(&["roster", "import", TRIAL, ROSTER, "--by", "pharm"]);
        r.expect_code(0);
        assert!(r.out().starts_with("imported 120 patients"), "{}", r.out());
        let r = self.run(&["record", "import", TRIAL, LOG, "--by", "pharm"]);
        r.expect_code(0);
        assert!(
            r.out()
                .starts_with("imported 78 rows of NCT01724398.csv as entries 122-199"),
            "{}",
            r.out()
        );
    }

    /// The line `record verify` prints for an intact chain.
    fn verified(&self) -> String {
        let r = self.run(&["record", "verify"]);
        r.expect_code(0);
        r.out()
    }

    /// SQL run behind dosesim's back: the sqlite3 shell, or a PostgreSQL client; the
    /// error's words when refused.
    fn sql(&self, sql: &str) -> Result<(), String> {
        match self.engine {
            Engine::Sqlite => {
                let out = Command::new("sqlite3")
                    .arg(&self.db)
                    .arg(sql)
                    .output()
                    .expect("the sqlite3 shell runs (apt-get install sqlite3)");
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                if out.status.success() && err.is_empty() {
                    Ok(())
                } else {
                    Err(err)
                }
            }
            Engine::Postgres => connect(&self.db)
                .batch_execute(sql)
                .map_err(|e| format!("{e:?}")),
        }
    }
}

/// The head named in a `record verify` or `record backup` line: "entry N <hash>".
fn head_in(text: &str) -> String {
    let k = text.find("head entry ").expect("a head named") + 5;
    text[k..]
        .split([' ', ';', '('])
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `record list --format csv` rows: (entry, patient, fields..., entered_by, corrects).
fn listed(at: &At, patient: &str) -> Vec<csv::StringRecord> {
    let r = at.run(&[
        "record",
        "list",
        TRIAL,
        "--patient",
        patient,
        "--format",
        "csv",
    ]);
    r.expect_code(0);
    let mut rd = csv::Reader::from_reader(r.stdout.as_slice());
    rd.records().map(|x| x.expect("a CSV row")).collect()
}

fn round_trip(engine: Engine) {
    let at = At::new(engine, "round_trip");
    at.import_bundled();
    let log = std::fs::read(root().join(LOG)).unwrap();
    let roster = std::fs::read(root().join(ROSTER)).unwrap();
    let r = at.run(&["record", "export", TRIAL]);
    r.expect_code(0);
    assert!(r.stdout == log, "the exported record differs:\n{}", r.out());
    let r = at.run(&["roster", "export", TRIAL]);
    r.expect_code(0);
    assert!(
        r.stdout == roster,
        "the exported roster differs:\n{}",
        r.out()
    );
    // To a file, as pharmacy --out writes: the same bytes.
    let out = at.path("log.csv");
    let r = at.run(&["record", "export", TRIAL, "--out", out.to_str().unwrap()]);
    r.expect_code(0);
    assert!(std::fs::read(&out).unwrap() == log);
    // A second import adds nothing, and says so.
    let r = at.run(&["record", "import", TRIAL, LOG]);
    r.expect_code(0);
    assert!(
        r.out().contains("nothing new") && r.out().contains("78 rows already"),
        "{}",
        r.out()
    );
    assert!(at.verified().starts_with("chain intact: 199 entries"));
}

#[test]
fn round_trip_sqlite() {
    round_trip(Engine::Sqlite);
}

#[test]
fn round_trip_postgres() {
    round_trip(Engine::Postgres);
}

fn corrections_and_voids(engine: Engine) {
    let at = At::new(engine, "corrections");
    at.import_bundled();
    let rows = listed(&at, "P4398-002");
    assert_eq!(rows.len(), 4, "{rows:?}");
    let (first, second) = (rows[0][0].to_string(), rows[1][0].to_string());
    // No reason: refused by the command line, nothing written.
    let r = at.run(&["record", "correct", &first, "--note", "late entry"]);
    r.expect_code(2);
    assert!(r.err().contains("--reason"), "{}", r.err());
    let r = at.run(&["record", "void", &first, "--reason", " "]);
    r.expect_code(2);
    assert!(r.err().contains("--reason"), "{}", r.err());
    let r = at.run(&[
        "record",
        "correct",
        &first,
        "--note",
        "late entry",
        "--reason",
        "note left out",
        "--by",
        "Li Wei",
    ]);
    r.expect_code(0);
    assert!(
        r.out().starts_with("entry 200 corrects entry"),
        "{}",
        r.out()
    );
    let r = at.run(&[
        "record",
        "void",
        &second,
        "--reason",
        "entered for the wrong patient",
        "--by",
        "Chen Jing",
    ]);
    r.expect_code(0);
    assert!(r.out().starts_with("entry 201 voids entry"), "{}", r.out());
    // The record in effect: the correction in place, the void gone.
    let rows = listed(&at, "P4398-002");
    assert_eq!(rows.len(), 3, "{rows:?}");
    let fixed = rows
        .iter()
        .find(|r| &r[0] == "200")
        .expect("entry 200 listed");
    assert_eq!(
        (&fixed[7], &fixed[8], &fixed[10]),
        ("late entry", "Li Wei", first.as_str())
    );
    assert!(!rows.iter().any(|r| r[0] == first || r[0] == second));
    // The audit trail: every entry, with action, reason, who and what became of it.
    let r = at.run(&["record", "history", "P4398-002", "--format", "csv"]);
    r.expect_code(0);
    let h = r.out();
    let needles = [
        format!("{first},{TRIAL},record,add,,P4398-002"),
        "corrected by entry 200".to_string(),
        format!("200,{TRIAL},record,correct,{first},P4398-002"),
        "note left out,Li Wei".to_string(),
        format!("201,{TRIAL},record,void,{second},P4398-002"),
        "entered for the wrong patient,Chen Jing".to_string(),
        "voided by entry 201".to_string(),
    ];
    for needle in &needles {
        assert!(h.contains(needle.as_str()), "{needle:?} not in\n{h}");
    }
    let r = at.run(&["record", "history", "P4398-002"]);
    r.expect_code(0);
    assert!(r.out().contains("record correct entry"), "{}", r.out());
    // The exported record reflects them.
    let out = at.run(&["record", "export", TRIAL]).out();
    assert!(
        out.contains("P4398-002,2026-08-07,given,uc_msc,1,,late entry"),
        "{out}"
    );
    assert!(!out.contains("P4398-002,2026-08-14"), "{out}");
    assert!(at.verified().starts_with("chain intact: 201 entries"));
}

#[test]
fn corrections_and_voids_sqlite() {
    corrections_and_voids(Engine::Sqlite);
}

#[test]
fn corrections_and_voids_postgres() {
    corrections_and_voids(Engine::Postgres);
}

fn tampered_entry_found(engine: Engine) {
    let at = At::new(engine, "tampered");
    at.import_bundled();
    // Entry 140, an imported row, given a new amount as a tamperer would: the database's
    // guard switched off first.
    let off = match engine {
        Engine::Sqlite => "DROP TRIGGER entries_never_updated;",
        Engine::Postgres => "ALTER TABLE entries DISABLE TRIGGER ALL;",
    };
    at.sql(&format!(
        "{off} UPDATE entries SET f5 = '999' WHERE id = 140;"
    ))
    .expect("the tamperer's update");
    let r = at.run(&["record", "verify"]);
    r.expect_code(1);
    assert!(
        r.out()
            .contains("entry 140: its fields do not match its hash"),
        "{}",
        r.out()
    );
    assert_eq!(
        r.out().matches("\n  entry ").count() + r.out().starts_with("  entry ") as usize,
        1,
        "only entry 140 is named:\n{}",
        r.out()
    );
    assert!(r.err().contains("broken"), "{}", r.err());
}

#[test]
fn tampered_entry_found_sqlite() {
    tampered_entry_found(Engine::Sqlite);
}

#[test]
fn tampered_entry_found_postgres() {
    tampered_entry_found(Engine::Postgres);
}

fn update_and_delete_refused(engine: Engine) {
    let at = At::new(engine, "refused");
    at.import_bundled();
    let before = at.verified();
    for sql in [
        "UPDATE entries SET f5 = '999' WHERE id = 140",
        "DELETE FROM entries WHERE id = 140",
        "UPDATE writes SET entered_by = 'someone else'",
        "DELETE FROM writes",
    ] {
        let e = at.sql(sql).expect_err(sql);
        assert!(e.contains("never"), "{sql}: {e}");
    }
    assert_eq!(at.verified(), before);
}

#[test]
fn update_and_delete_refused_sqlite() {
    update_and_delete_refused(Engine::Sqlite);
}

#[test]
fn update_and_delete_refused_postgres() {
    update_and_delete_refused(Engine::Postgres);
}

fn backup(engine: Engine) {
    let at = At::new(engine, "backup");
    at.import_bundled();
    let head = head_in(&at.verified());
    let file = at.path("backup.db");
    let f = file.to_str().unwrap();
    let r = at.run(&["record", "backup", f]);
    r.expect_code(0);
    assert_eq!(head_in(&r.out()), head, "{}", r.out());
    let r = dosesim()
        .env_remove("DOSESIM_DB")
        .args(["record", "verify", "--db", f])
        .output()
        .unwrap();
    assert!(r.status.success());
    let out = String::from_utf8(r.stdout).unwrap();
    assert!(out.starts_with("chain intact: 199 entries"), "{out}");
    assert_eq!(head_in(&out), head);
    // The backup is a database of its own: its record exports as the log.
    let r = dosesim()
        .env_remove("DOSESIM_DB")
        .args(["record", "export", TRIAL, "--db", f])
        .output()
        .unwrap();
    assert!(r.stdout == std::fs::read(root().join(LOG)).unwrap());
    // An existing file is never replaced.
    let size = std::fs::metadata(&file).unwrap().len();
    let r = at.run(&["record", "backup", f]);
    r.expect_code(2);
    assert!(r.err().contains("already there"), "{}", r.err());
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
}

#[test]
fn backup_sqlite() {
    backup(Engine::Sqlite);
}

#[test]
fn backup_postgres() {
    backup(Engine::Postgres);
}

fn bad_import_refused_whole(engine: Engine) {
    let at = At::new(engine, "bad_import");
    at.import_bundled();
    let head = head_in(&at.verified());
    let bad = at.path("week47.csv");
    std::fs::write(
        &bad,
        "patient_id,date,record,component,occurrence,amount,note\n\
         P4398-002,2026-11-16,given,uc_msc,4,,\n\
         P4398-002,2026-13-40,given,uc_msc,1,,\n\
         P9999-999,2026-11-20,given,uc_msc,1,,\n\
         P4398-004,2026-11-20,given,nosuch,1,,\n\
         P4398-006,2026-11-20,sung,uc_msc,1,,\n",
    )
    .unwrap();
    let r = at.run(&["record", "import", TRIAL, bad.to_str().unwrap()]);
    r.expect_code(2);
    let err = r.err();
    let name = bad.display().to_string();
    for (line, field) in [
        (3, "date"),
        (4, "patient_id"),
        (5, "component"),
        (6, "record"),
    ] {
        let needle = format!("{name}:{line}: {field}: ");
        assert!(err.contains(&needle), "{needle:?} not in\n{err}");
    }
    assert_eq!(head_in(&at.verified()), head, "the database changed");
    // A file that is not there, and a database that is not there: said, nothing made.
    let r = at.run(&["record", "import", TRIAL, "no-such.csv"]);
    r.expect_code(2);
    let missing = at.path("none.db");
    let r = dosesim()
        .env_remove("DOSESIM_DB")
        .args(["record", "list", TRIAL, "--db"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(!Path::new(&missing).exists());
}

#[test]
fn bad_import_refused_whole_sqlite() {
    bad_import_refused_whole(Engine::Sqlite);
}

#[test]
fn bad_import_refused_whole_postgres() {
    bad_import_refused_whole(Engine::Postgres);
}

/// `record add` keeps a row typed on the command line (a weight), with who entered it; a date after
/// today or a row the CSV log would refuse is refused naming the flag.
#[test]
fn a_dose_added_is_listed_with_who_entered_it() {
    let at = At::new(Engine::Sqlite, "add");
    at.import_bundled();
    let r = at.run(&[
        "record",
        "add",
        TRIAL,
        "--patient",
        "P4398-006",
        "--date",
        "2026-11-20",
        "--record",
        "weight",
        "--amount",
        "57.2",
        "--note",
        "re-weighed at the week 12 visit",
        "--by",
        "Li Wei",
    ]);
    r.expect_code(0);
    assert!(
        r.out().starts_with("entry 200: P4398-006 weight"),
        "{}",
        r.out()
    );
    let rows = listed(&at, "P4398-006");
    let last = rows.last().unwrap();
    assert_eq!((&last[0], &last[3], &last[8]), ("200", "weight", "Li Wei"));
    let r = at.run(&[
        "record",
        "add",
        TRIAL,
        "--patient",
        "P4398-006",
        "--date",
        "2099-01-01",
        "--record",
        "given",
        "--component",
        "uc_msc",
        "--occurrence",
        "1",
    ]);
    r.expect_code(2);
    assert!(
        r.err().contains("--date") && r.err().contains("after today"),
        "{}",
        r.err()
    );
    let r = at.run(&[
        "record",
        "add",
        TRIAL,
        "--patient",
        "P4398-006",
        "--date",
        "2026-11-20",
        "--record",
        "given",
        "--component",
        "nosuch",
        "--occurrence",
        "1",
    ]);
    r.expect_code(2);
    assert!(r.err().contains("--component"), "{}", r.err());
    let r = at.run(&["record", "void", "9999", "--reason", "typo"]);
    r.expect_code(2);
    assert!(r.err().contains("there is no entry 9999"), "{}", r.err());
    assert!(at.verified().starts_with("chain intact: 200 entries"));
}

/// A weight typed in pounds is warned about when it is entered, naming the entry, and a
/// correction and a void say what they changed.
#[test]
fn an_entry_is_checked_and_echoed_as_it_is_made() {
    let at = At::new(Engine::Sqlite, "echo");
    at.import_bundled();
    let r = at.run(&[
        "record",
        "add",
        TRIAL,
        "--patient",
        "P4398-004",
        "--date",
        "2026-11-20",
        "--record",
        "weight",
        "--amount",
        "92.6",
    ]);
    r.expect_code(0);
    assert!(
        r.err()
            .contains("entry 200: patient P4398-004: weight 92.6 kg is +120%")
            && r.err().contains("a weight in pounds?"),
        "{}",
        r.err()
    );
    let r = at.run(&[
        "record",
        "correct",
        "200",
        "--amount",
        "42.0",
        "--reason",
        "typed in pounds",
    ]);
    r.expect_code(0);
    assert!(
        r.out().contains("was: 2026-11-20 weight, amount 92.6")
            && r.out().contains("now: 2026-11-20 weight, amount 42.0"),
        "{}",
        r.out()
    );
    // `record list PATIENT` lists the patient's rows in effect, the correction among them.
    let r = at.run(&["record", "list", "P4398-004", "--format", "csv"]);
    r.expect_code(0);
    let last = r.out().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("201,P4398-004,2026-11-20,weight,,,42.0,"),
        "{}",
        r.out()
    );
    let r = at.run(&["record", "void", "201", "--reason", "weighed twice"]);
    r.expect_code(0);
    assert!(
        r.out().contains("of patient P4398-004")
            && r.out()
                .contains("voided: record 2026-11-20 weight, amount 42.0"),
        "{}",
        r.out()
    );
}

/// `record correct` refuses to move a given dose inside its component's minimum gap, as
/// `record add` refuses that dose (exit 2, said of --date), and keeps nothing; a
/// correction from the command line says so in its source.
fn a_correction_inside_the_gap_is_refused(engine: Engine) {
    let at = At::new(engine, "gapfix");
    at.import_bundled();
    // Log line 79, P4398-024 uc_msc 2 given 2026-11-20, is entry 199; uc_msc 1 was given
    // 2026-11-14 (a minimum gap of 5 days).
    let r = at.run(&[
        "record",
        "correct",
        "199",
        "--date",
        "2026-11-15",
        "--reason",
        "typo",
        "--by",
        "pharm",
    ]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("--date") && r.stderr.contains("minimum gap of 5 days"),
        "{}",
        r.stderr
    );
    assert!(at.verified().starts_with("chain intact: 199 entries"));
    let r = at.run(&[
        "record",
        "correct",
        "199",
        "--date",
        "2026-11-19",
        "--reason",
        "typo",
        "--by",
        "pharm",
    ]);
    r.expect_code(0);
    let h = at
        .run(&["record", "history", "P4398-024", "--format", "csv"])
        .out();
    assert!(h.contains(",record correct,"), "{h}");
}

#[test]
fn a_correction_inside_the_gap_is_refused_sqlite() {
    a_correction_inside_the_gap_is_refused(Engine::Sqlite);
}

#[test]
fn a_correction_inside_the_gap_is_refused_postgres() {
    a_correction_inside_the_gap_is_refused(Engine::Postgres);
}
