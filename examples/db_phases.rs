//! The database benchmark's two jobs, once each, with the time of each phase, for a
//! profiler or `/usr/bin/time -v` (peak memory):
//!
//!     cargo run --release --example db_phases -- import 1000000 DIR
//!     cargo run --release --example db_phases -- pharmacy 1000000 DIR
//!
//! `import` makes DIR/bench.db with the roster of N patients and imports their record
//! (3 rows a patient); `pharmacy` reads them back and writes the pharmacy schedule to
//! nowhere.

use std::path::Path;
use std::time::Instant;

use dosesim::cohort::Cohort;
use dosesim::db::{Db, Location, Open, books};
use dosesim::{scenario, site};

#[path = "../tests/bench/data.rs"]
mod data;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (job, n, dir) = (
        &args[1],
        args[2].parse::<usize>().unwrap(),
        Path::new(&args[3]),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trial = scenario::load(&root.join("scenarios/nct04822922.toml")).unwrap();
    let at = Location::Sqlite(dir.join("bench.db"));
    let t = Instant::now();
    let lap = |what: &str| eprintln!("{:>8.3} s  {what}", t.elapsed().as_secs_f64());
    match job.as_str() {
        "import" => {
            // The roster's database made once, copied for each run.
            let base = dir.join(format!("roster-{n}.db"));
            if !base.exists() {
                let tmp = Location::Sqlite(dir.join("making.db"));
                let mut db = Db::open(&tmp, Open::OrCreate).unwrap();
                let roster = data::make_roster_at(n, &[]);
                books::import_roster(&mut db, &trial, Path::new("roster.csv"), roster, "bench")
                    .map_err(|e| e.into_anyhow())
                    .unwrap();
                drop(db);
                std::fs::rename(dir.join("making.db"), &base).unwrap();
            }
            for end in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("bench.db{end}")));
            }
            std::fs::copy(&base, dir.join("bench.db")).unwrap();
            let log = data::make_log(n);
            let mut db = Db::open(&at, Open::Existing).unwrap();
            lap("ready");
            let (t0, c0) = (Instant::now(), cpu());
            let (imp, _) =
                books::import_record(&mut db, &trial, Path::new("log.csv"), log, "bench")
                    .map_err(|e| e.into_anyhow())
                    .unwrap();
            let (s, c) = (t0.elapsed().as_secs_f64(), cpu() - c0);
            lap(&format!(
                "record imported: {} rows in {s:.3} s ({:.0} k rows/s), CPU {c:.3} s",
                imp.added,
                imp.added as f64 / s / 1e3
            ));
        }
        "pharmacy" => {
            let mut db = Db::open(&at, Open::Existing).unwrap();
            let b = books::load(&mut db, &trial.id).unwrap();
            drop(db);
            lap("books loaded");
            let (r, l) = b.into_checked(&trial, None).unwrap();
            lap("roster and record checked");
            let found = site::Sites::new();
            let c = Cohort::build(&trial, &r, Path::new("db"), &found, Some(&l)).unwrap();
            lap("cohort built");
            c.write_pharmacy(&mut std::io::sink(), &|_| {}).unwrap();
            lap(&format!(
                "pharmacy written: {} rows, {:.2} M rows/s, CPU {:.3} s",
                c.rows(),
                c.rows() as f64 / t.elapsed().as_secs_f64() / 1e6,
                cpu()
            ));
        }
        other => panic!("import or pharmacy, not {other}"),
    }
}

/// The process's CPU time so far (user and system), in seconds.
fn cpu() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}
