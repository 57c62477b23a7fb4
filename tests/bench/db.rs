//! Benchmark: the administration record in the database. `record_import` imports the
//! record of three rows a patient (3,000,000 rows for a million patients) into a new SQLite
//! database that holds the roster already: the file checked against the roster, every row
//! an entry numbered, hashed into the chain and inserted, in one transaction.
//! `pharmacy_from_db` makes the pharmacy schedule of those patients with the roster and
//! record read from the database (the books made from the entries, then checked and
//! streamed as from the CSV files).
//!
//!     cargo bench --bench db

use std::hint::black_box;
use std::path::Path;

use divan::counter::ItemsCount;
use dosesim::cohort::Cohort;
use dosesim::db::{Db, Location, Open, books};
use dosesim::{scenario, site};

mod data;

use data::{make_log, make_roster_at};

fn main() {
    divan::main();
}

/// A database in `dir` holding the roster of `patients`.
fn with_roster(dir: &Path, trial: &dosesim::model::Trial, patients: usize) -> Location {
    let at = Location::Sqlite(dir.join("bench.db"));
    let mut db = Db::open(&at, Open::OrCreate).unwrap();
    let roster = make_roster_at(patients, &[]);
    books::import_roster(&mut db, trial, Path::new("roster.csv"), roster, "bench")
        .map_err(|e| e.into_anyhow())
        .unwrap();
    at
}

#[divan::bench(args = [100_000, 1_000_000], sample_count = 3, sample_size = 1)]
fn record_import(bencher: divan::Bencher, patients: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trial = scenario::load(&root.join("scenarios/nct04822922.toml")).unwrap();
    let log = make_log(patients);
    let rows = 3 * patients as u64;
    bencher
        .counter(ItemsCount::new(rows))
        .with_inputs(|| {
            let dir = tempfile::tempdir().unwrap();
            let at = with_roster(dir.path(), &trial, patients);
            (dir, at, log.clone())
        })
        .bench_values(|(dir, at, log)| {
            let mut db = Db::open(&at, Open::Existing).unwrap();
            let (imported, _) =
                books::import_record(&mut db, &trial, Path::new("log.csv"), log, "bench")
                    .map_err(|e| e.into_anyhow())
                    .unwrap();
            assert_eq!(imported.added as u64, rows);
            drop(db);
            dir
        });
}

#[divan::bench(args = [100_000, 1_000_000], sample_count = 3, sample_size = 1)]
fn pharmacy_from_db(bencher: divan::Bencher, patients: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trial = scenario::load(&root.join("scenarios/nct04822922.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let at = with_roster(dir.path(), &trial, patients);
    let mut db = Db::open(&at, Open::Existing).unwrap();
    books::import_record(
        &mut db,
        &trial,
        Path::new("log.csv"),
        make_log(patients),
        "bench",
    )
    .map_err(|e| e.into_anyhow())
    .unwrap();
    drop(db);
    let job = |write: bool| -> u64 {
        let mut db = Db::open(&at, Open::Existing).unwrap();
        let b = books::load(&mut db, &trial.id).unwrap();
        // The connection's page cache (64 MB) and the books' text are freed once read.
        drop(db);
        let (r, l) = b.into_checked(&trial, None).unwrap();
        let found = site::Sites::new();
        let c = Cohort::build(&trial, &r, Path::new("db"), &found, Some(&l)).unwrap();
        if write {
            c.write_pharmacy(&mut std::io::sink(), &|_| {}).unwrap();
        }
        c.rows()
    };
    let rows = job(false);
    bencher
        .counter(ItemsCount::new(rows))
        .bench(|| job(black_box(true)));
}
