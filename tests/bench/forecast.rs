//! Benchmark: the forecast of NCT02812121 (10,000 replicates, seed 1), in the library:
//! the model compiled from the plan (every schedule and dose), the replicates on every
//! core, and the weekly and monthly percentiles, running totals and capacity risk, per
//! site and for all sites. `peer` is shared/bench/peer_forecast.py's
//! model (4 sites, no site calendars, tests/bench/peer_forecast.toml); `demo` is the
//! bundled plan (one site on the China working calendar, Poisson-gamma rates).
//! `bash tests/bench/forecast.sh` runs the binary end to end beside the numpy baseline.
//!
//!     cargo bench --bench forecast

use std::hint::black_box;
use std::path::Path;

use dosesim::forecast::{self, Model, plan};
use dosesim::{scenario, site::Sites};

fn main() {
    divan::main();
}

fn bench(b: divan::Bencher, plan_file: &str) {
    let trial = scenario::load(Path::new("scenarios/nct02812121.toml")).unwrap();
    let plan = plan::load(Path::new(plan_file), &trial).unwrap();
    let calendars: Sites =
        dosesim::forecast::plan::calendars(Path::new("scenarios/calendars"), &plan).unwrap();
    b.bench(|| {
        let model = Model::new(&trial, &plan, &calendars, None).unwrap();
        let f = forecast::simulate(model, 10_000, 1, 0, Vec::new(), &|_| {}).unwrap();
        black_box(f.summary.weekly.len())
    });
}

#[divan::bench(sample_count = 10)]
fn peer(b: divan::Bencher) {
    bench(b, "tests/bench/peer_forecast.toml");
}

#[divan::bench(sample_count = 10)]
fn demo(b: divan::Bencher) {
    bench(b, "scenarios/plans/nct02812121.toml");
}
