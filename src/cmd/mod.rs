//! One file per subcommand; each has a `run` taking its parsed arguments. Shared steps
//! (finding an arm, printing warnings) live here.

pub mod calendar;
pub mod chart;
pub mod cohort;
pub mod examples;
pub mod pharmacy;
pub mod run;
pub mod show;
pub mod validate;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::{InputError, Problem};
use crate::model::{Arm, Assumption, Trial};

/// Where the bundled scenarios live, relative to the working directory.
pub const SCENARIO_DIR: &str = "scenarios";

pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Calendar(a) => calendar::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Show(a) => show::run(a),
        Command::Cohort(a) => cohort::run(a),
        Command::Pharmacy(a) => pharmacy::run(a),
        Command::Run(a) => run::run(a),
        Command::Chart(a) => chart::run_chart(a),
        Command::Compare(a) => chart::run_compare(a),
        Command::Timeline(a) => chart::run_timeline(a),
        Command::Examples(a) => examples::run(a),
    }
}

/// The arm called `id`, or an error listing the valid ones.
pub fn find_arm<'t>(trial: &'t Trial, id: &str) -> Result<&'t Arm, InputError> {
    trial.arm(id).ok_or_else(|| {
        InputError::one(
            Problem::new(
                &trial.file,
                format!(
                    "unknown arm '{id}'; the arms of {} are: {}",
                    trial.id,
                    trial.arm_ids().join(", ")
                ),
            )
            .field("--arm"),
        )
    })
}

/// The scenario files named (a folder stands for the *.toml files in it), or every one
/// in scenarios/.
pub fn scenario_files(named: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    if named.is_empty() {
        return crate::scenario::files_in(Path::new(SCENARIO_DIR));
    }
    let mut files = Vec::new();
    for p in named {
        if p.is_dir() {
            files.extend(crate::scenario::files_in(p)?);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Prints each assumed value an output uses, once, on stderr.
pub fn warn_assumptions(trial: &Trial, arm: &Arm, assumptions: &[Assumption]) {
    for a in assumptions {
        eprintln!(
            "warning: {} arm {}: {} is assumed, not stated in the registry record: {}",
            trial.id, arm.id, a.what, a.reason
        );
    }
}
