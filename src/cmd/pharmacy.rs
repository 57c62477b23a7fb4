//! `dosesim pharmacy`: the pharmacy schedule of a roster alone, streamed in date order to
//! stdout (for piping) or atomically to a file.

use std::io::{self, Write};

use anyhow::{Context, Result};

use crate::cli::PharmacyArgs;
use dosesim::cohort::Cohort;
use dosesim::write;

pub fn run(args: PharmacyArgs) -> Result<()> {
    if let Some(out) = &args.out {
        let mut problems = Vec::new();
        if let Err(p) = super::out_extension(out, "--out", &[("csv", ())]) {
            problems.push(p);
        }
        if let Err(p) = dosesim::write::check_out_file(out, "--out")
            .and_then(|()| reads(&args).check_file(out, "--out"))
        {
            problems.push(p);
        }
        dosesim::error::InputError::check(problems)?;
    }
    if let (Some(a), Some(b)) = (args.from, args.to)
        && a > b
    {
        return Err(
            dosesim::error::InputError::one(dosesim::error::Problem::flag(
                "--to",
                format!("{b} is before --from {a}"),
            ))
            .into(),
        );
    }
    let inputs = super::common::roster_inputs(
        &args.scenario,
        args.roster.as_deref(),
        &args.record,
        &args.db,
        &args.calendars,
        false,
    )?;
    let cohort = Cohort::of(&inputs)?;
    super::common::warn(&cohort);
    super::common::warn_closed_days(&cohort);
    // The files the inputs led to (a site calendar's holiday files), before anything is
    // written; then the folder is locked, as long as the file takes to write.
    let _lock = match &args.out {
        Some(out) => {
            reads(&args)
                .inputs(&dosesim::bundle::inputs_of(&cohort)?)
                .check_file(out, "--out")
                .map_err(dosesim::error::InputError::one)?;
            write::lock_out_file(out)?
        }
        None => Vec::new(),
    };
    let bar = super::common::progress(cohort.rows(), "pharmacy");
    let tick = |n| bar.set_position(n);
    match &args.out {
        Some(path) => write::atomic_with(path, |w| {
            cohort.write_pharmacy_between(w, &tick, args.from, args.to)
        })?,
        None => {
            let mut w = io::BufWriter::with_capacity(1 << 20, io::stdout());
            match cohort
                .write_pharmacy_between(&mut w, &tick, args.from, args.to)
                .and_then(|_| w.flush())
            {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                r => r.context("cannot write to standard output")?,
            }
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// What the schedule is made from, for refusing an `--out` that would replace it.
fn reads(args: &PharmacyArgs) -> super::guard::Reads {
    super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
}
