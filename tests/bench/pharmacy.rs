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

fn main() {
    divan::main();
}

/// A fictional roster like shared/bench/make_roster.py's: arms in turn, weights around
/// 64 kg, start dates spread over two years, each patient at one of `sites` in turn (none:
/// no site column). Deterministic, so every run sees the same.
fn make_roster_at(n: usize, sites: &[&str]) -> Vec<u8> {
    let arms = ["low", "middle", "high"];
    let d0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut out = String::from("patient_id,arm,weight_kg,start_date");
    out.push_str(if sites.is_empty() { "\n" } else { ",site\n" });
    let mut x: u64 = 42;
    for i in 0..n {
        // A small linear congruential generator is all the spread a weight needs here.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = 40.0 + ((x >> 33) % 700) as f64 / 10.0;
        let d = d0 + chrono::Days::new((i * 730 / n.max(1)) as u64);
        out.push_str(&format!("P{:07},{},{w},{d}", i + 1, arms[i % 3]));
        if !sites.is_empty() {
            out.push(',');
            out.push_str(sites[i % sites.len()]);
        }
        out.push('\n');
    }
    out.into_bytes()
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

/// An administration record for [`make_roster_at`]'s roster: each patient's first three
/// infusions given (days 1, 4 and 7), three rows a patient; every 20th patient's second
/// one a day late (re-projecting the rest).
fn make_log(n: usize) -> Vec<u8> {
    let d0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut out = String::from("patient_id,date,record,component,occurrence,amount,note\n");
    for i in 0..n {
        let start = d0 + chrono::Days::new((i * 730 / n.max(1)) as u64);
        for (k, day) in [1u64, 4, 7].iter().enumerate() {
            let late = u64::from(k == 1 && i % 20 == 0);
            let date = start + chrono::Days::new(day - 1 + late);
            out.push_str(&format!("P{:07},{date},given,uc_msc,{},,\n", i + 1, k + 1));
        }
    }
    out.into_bytes()
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
