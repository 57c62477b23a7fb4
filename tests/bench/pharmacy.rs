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
/// 64 kg, start dates spread over two years. Deterministic, so every run sees the same.
fn make_roster(n: usize) -> Vec<u8> {
    make_roster_at(n, &[])
}

/// As [`make_roster`], each patient at one of `sites` in turn (none: no site column).
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/nct04822922.toml");
    let trial = scenario::load(&path).unwrap();
    let bytes = make_roster(patients);
    let rows = {
        let r = roster::parse(Path::new("bench.csv"), bytes.clone(), &trial).unwrap();
        Cohort::new(&trial, &r, Path::new("bench.csv"))
            .unwrap()
            .rows()
    };
    // The roster's bytes are copied outside the timed part: parsing takes them over.
    bencher
        .counter(ItemsCount::new(rows))
        .with_inputs(|| bytes.clone())
        .bench_values(|bytes| {
            let r = roster::parse(Path::new("bench.csv"), black_box(bytes), &trial).unwrap();
            let c = Cohort::new(&trial, &r, Path::new("bench.csv")).unwrap();
            c.write_pharmacy(&mut std::io::sink(), &|_| {}).unwrap();
        });
}

/// The same job with every patient on a site calendar (China's working calendar at three
/// sites, and one closed at weekends only): the calendars are read, each distinct (arm,
/// site, start date) placed once, and every row carries its planned date and flags.
#[divan::bench(args = [10_000, 100_000, 1_000_000], sample_count = 5, sample_size = 1)]
fn pharmacy_on_calendars(bencher: divan::Bencher, patients: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("scenarios/nct04822922.toml");
    let calendars = root.join("scenarios/calendars");
    let trial = scenario::load(&path).unwrap();
    let bytes = make_roster_at(patients, &["guangzhou", "shanghai", "beijing", "weekends"]);
    let rows = {
        let r = roster::parse(Path::new("bench.csv"), bytes.clone(), &trial).unwrap();
        let sites = site::for_roster(&calendars, Path::new("bench.csv"), &r).unwrap();
        Cohort::on_calendars(&trial, &r, Path::new("bench.csv"), &sites)
            .unwrap()
            .rows()
    };
    bencher
        .counter(ItemsCount::new(rows))
        .with_inputs(|| bytes.clone())
        .bench_values(|bytes| {
            let r = roster::parse(Path::new("bench.csv"), black_box(bytes), &trial).unwrap();
            let sites = site::for_roster(&calendars, Path::new("bench.csv"), &r).unwrap();
            let c = Cohort::on_calendars(&trial, &r, Path::new("bench.csv"), &sites).unwrap();
            c.write_pharmacy(&mut std::io::sink(), &|_| {}).unwrap();
        });
}
