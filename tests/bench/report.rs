//! Benchmark: everything `dosesim cohort` makes for the largest bundled trial (NCT01573923,
//! 320 demo patients): pharmacy and prep CSVs, per-patient CSV, .ics, PNG and SVG charts,
//! the timeline, the cumulative chart and report.html, written to a temporary folder.
//!
//!     cargo bench --bench report

use std::path::Path;

use dosesim::bundle::{check, write_cohort};
use dosesim::cohort::Cohort;
use dosesim::{roster, scenario};

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn cohort_320_patients_with_charts_and_report(bencher: divan::Bencher) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trial = scenario::load(&root.join("scenarios/nct01573923.toml")).unwrap();
    let roster_path = root.join("scenarios/rosters/NCT01573923.csv");
    let roster = roster::read(&roster_path, &trial).unwrap();
    assert_eq!(roster.entries.len(), 320);
    let out = tempfile::tempdir().unwrap();
    bencher.bench(|| {
        let cohort = Cohort::new(&trial, &roster, &roster_path).unwrap();
        // Each sample replaces the folder the one before wrote (a rerun of the same inputs).
        let checked = check(&cohort, out.path(), false, "--log").unwrap();
        write_cohort(&cohort, out.path(), &checked, None, &|_| {}, None).unwrap()
    });
}
