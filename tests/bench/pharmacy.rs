//! Benchmark: the pharmacy schedule of a large roster, end to end in the library (read the
//! roster's bytes, check every row, index the dates, format every row in date order) into
//! a sink. `bash tests/bench/compare.sh` runs the same job through the binary, to a file,
//! beside the polars and pandas baselines in shared/bench/.
//!
//!     cargo bench --bench pharmacy

use std::hint::black_box;
use std::path::Path;

use divan::counter::ItemsCount;
use dosesim::cohort::Cohort;
use dosesim::{roster, scenario, site};

mod data;

use data::{make_log, make_roster_at};

fn main() {
    divan::main();
}

#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 5, sample_size = 1)]
fn pharmacy(bencher: divan::Bencher, patients: usize) {
    run(bencher, patients, &[]);
}

/// The same job with every patient on a site calendar (China's working calendar at three
/// sites, and one closed at weekends only): the calendars are read, each distinct (arm,
/// site, start date) placed once, and every row carries its planned date and flags.
#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 5, sample_size = 1)]
fn pharmacy_on_calendars(bencher: divan::Bencher, patients: usize) {
    run(
        bencher,
        patients,
        &["guangzhou", "shanghai", "beijing", "weekends"],
    );
}

/// The pharmacy schedule of the roster with a record of three rows a patient (3,000,000
/// rows for a million patients): every row gets its status, planned amount and
/// deviations, and the patients with a late dose are re-projected.
#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 5, sample_size = 1)]
fn pharmacy_with_log(bencher: divan::Bencher, patients: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trial = scenario::load(&root.join("scenarios/nct04822922.toml")).unwrap();
    let bytes = make_roster_at(patients, &[]);
    let log = make_log(patients);
    let job = |(bytes, log): (Vec<u8>, Vec<u8>), write: bool| -> u64 {
        let name = Path::new("bench.csv");
        let r = roster::parse(name, bytes, &trial).unwrap();
        let l = dosesim::record::parse(Path::new("log.csv"), log, &trial, &r, None, false).unwrap();
        let found = site::Sites::new();
        let c = Cohort::build(&trial, &r, name, &found, Some(&l)).unwrap();
        if write {
            c.write_pharmacy(&mut std::io::sink(), &|_| {}).unwrap();
        }
        c.rows()
    };
    let rows = job((bytes.clone(), log.clone()), false);
    // Both files' bytes are copied outside the timed part: parsing takes them over.
    bencher
        .counter(ItemsCount::new(rows))
        .with_inputs(|| (bytes.clone(), log.clone()))
        .bench_values(|inputs| job(black_box(inputs), true));
}

/// Reads the roster's bytes, checks every row, (with `sites`) reads their calendars and
/// places the patients, indexes the dates and writes every row into a sink.
fn run(bencher: divan::Bencher, patients: usize, sites: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trial = scenario::load(&root.join("scenarios/nct04822922.toml")).unwrap();
    let calendars = root.join("scenarios/calendars");
    let bytes = make_roster_at(patients, sites);
    let job = |bytes: Vec<u8>, write: bool| -> u64 {
        let name = Path::new("bench.csv");
        let r = roster::parse(name, bytes, &trial).unwrap();
        let found = if sites.is_empty() {
            site::Sites::new()
        } else {
            roster::calendars(&calendars, name, &r).unwrap()
        };
        let c = Cohort::on_calendars(&trial, &r, name, &found).unwrap();
        if write {
            c.write_pharmacy(&mut std::io::sink(), &|_| {}).unwrap();
        }
        c.rows()
    };
    let rows = job(bytes.clone(), false);
    // The roster's bytes are copied outside the timed part: parsing takes them over.
    bencher
        .counter(ItemsCount::new(rows))
        .with_inputs(|| bytes.clone())
        .bench_values(|bytes| job(black_box(bytes), true));
}
