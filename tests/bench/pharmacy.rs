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
use dosesim::{roster, scenario};

fn main() {
    divan::main();
}

/// A fictional roster like shared/bench/make_roster.py's: arms in turn, weights around
/// 64 kg, start dates spread over two years. Deterministic, so every run sees the same.
fn make_roster(n: usize) -> Vec<u8> {
    let arms = ["low", "middle", "high"];
    let d0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut out = String::from("patient_id,arm,weight_kg,start_date\n");
    let mut x: u64 = 42;
    for i in 0..n {
        // A small linear congruential generator is all the spread a weight needs here.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = 40.0 + ((x >> 33) % 700) as f64 / 10.0;
        let d = d0 + chrono::Days::new((i * 730 / n.max(1)) as u64);
        out.push_str(&format!("P{:07},{},{w},{d}\n", i + 1, arms[i % 3]));
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
