//! `dosesim export`: a roster's schedule and record in a format other tools read
//! ([`dosesim::exchange`]: NONMEM/nlmixr2, CDISC SDTM, FHIR R4), written under
//! `DIR/<trial id>/<format>/` by [`dosesim::bundle::write_export`].

use anyhow::Result;

use crate::cli::ExchangeArgs;
use dosesim::cohort::Cohort;
use dosesim::error::{InputError, Problem};
use dosesim::exchange::{self, Export, Format, Options};
use dosesim::format::plural;
use dosesim::write;

pub fn run(args: ExchangeArgs) -> Result<()> {
    let mut problems = Vec::new();
    if let Err(p) = super::guard::Reads::new()
        .scenario(&args.scenario)
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
        .check_folder(&args.out, "--out")
    {
        problems.push(p);
    }
    if args.expanded && args.format != Format::Nonmem {
        problems.push(Problem::flag(
            "--expanded",
            format!(
                "is for the nonmem event table (every dose on a row of its own); the {} export has no ADDL or II to expand",
                args.format.as_str()
            ),
        ));
    }
    if let Err(e) = super::common::check_out(&args.out) {
        problems.extend(e.problems);
    }
    InputError::check(problems)?;
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
    let trial = cohort.trial;
    let dir = dosesim::bundle::export_folder(&args.out, trial, args.format)?;
    let record_from = if inputs.database.is_some() {
        "read it from the database with --db"
    } else {
        "give it with --log"
    };
    let (made_from, notes) = dosesim::bundle::check_export(&cohort, &dir, args.force, record_from)?;
    for n in notes {
        eprintln!("warning: {n}");
    }
    let export = Export::of(&cohort);
    let options = Options {
        expanded: args.expanded,
        created: export.data_cut(),
    };
    let files = exchange::files(args.format, &export, &options)?;
    let doses: u64 = export
        .subjects
        .iter()
        .map(|s| s.doses().count() as u64)
        .sum();
    let line = format!("{} export of {}", args.format.as_str(), counts(&export));
    let _lock = write::lock_folder(&args.out)?;
    dosesim::bundle::write_export(&cohort, &files, &made_from, (doses, line.clone()), &dir)?;
    println!("{}: {line}", trial.id);
    println!("{}: {}", args.format.as_str(), dir.display());
    Ok(())
}

/// What an export holds, in words: "120 patients: 235 cell doses (40 given), 178 plasma
/// exchanges (34 given), record as of 2026-11-20" (doses missed or cancelled not counted).
fn counts(export: &Export) -> String {
    use dosesim::schedule::EventKind;
    let mut n = [(0u64, 0u64); 2];
    for (_, e) in export.subjects.iter().flat_map(|s| s.doses()) {
        let k = usize::from(e.kind == EventKind::PlasmaExchange);
        n[k].0 += 1;
        n[k].1 += u64::from(e.status == dosesim::recorded::Status::Given);
    }
    let mut parts = Vec::new();
    for (k, word) in [(0, "cell dose"), (1, "plasma exchange")] {
        let (all, given) = n[k];
        if all > 0 || k == 0 {
            let given = export
                .as_of
                .map_or_else(String::new, |_| format!(" ({given} given)"));
            parts.push(format!("{}{given}", plural(all, word)));
        }
    }
    let mut words = format!(
        "{}: {}",
        plural(export.subjects.len() as u64, "patient"),
        parts.join(", ")
    );
    if let Some(d) = export.as_of {
        words.push_str(&format!(", record as of {d}"));
    }
    words
}
