//! `dosesim cohort`: a roster against a trial, written under `DIR/<trial id>/` by
//! [`dosesim::bundle`]: pharmacy.csv, prep.csv, report.html and `patients/<id>.csv` and .ics.

use anyhow::Result;

use super::common::check_out;
use crate::cli::CohortArgs;
use dosesim::bundle;
use dosesim::cohort::Cohort;

pub fn run(args: CohortArgs) -> Result<()> {
    super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
        .map_err(dosesim::error::InputError::one)?;
    let inputs = super::common::roster_inputs(
        &args.scenario,
        args.roster.as_deref(),
        &args.record,
        &args.db,
        &args.calendars,
        true,
    )?;
    let cohort = Cohort::of(&inputs)?;
    check_out(&args.out)?;
    let checked = bundle::check(&cohort, &args.out, args.force, "give it with --log")?;
    let _ = super::common::warn(&cohort);
    super::common::warn_closed_days(&cohort);
    for n in checked.notes() {
        eprintln!("warning: {n}");
    }
    let _lock = dosesim::write::lock_folder(&args.out)?;
    let summary = super::common::write(&cohort, &args.out, &checked, args.remind.asked(), None)?;
    print!("{}", summary.render());
    Ok(())
}
