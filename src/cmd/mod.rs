//! One file per subcommand; each has a `run` taking its parsed arguments. Shared steps
//! (finding an arm, printing warnings) live here.

pub mod calendar;
pub mod calendars;
pub mod chart;
pub mod cohort;
pub mod common;
pub mod examples;
pub mod export;
pub mod forecast;
pub mod guard;
pub mod ledger;
pub mod pharmacy;
pub mod prep;
pub mod record;
pub mod roster;
pub mod run;
pub mod serve;
pub mod show;
pub mod user;
pub mod validate;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::{Cli, Command};
use dosesim::error::{InputError, Problem};
use dosesim::layout::SCENARIO_DIR;
use dosesim::model::{Arm, Assumption, Trial};

/// The format an `--out FILE` names by its extension, or an error naming the extensions
/// the command writes (a table written into `x.xlsx` would open as garbage).
pub fn out_extension<T: Copy>(
    path: &Path,
    flag: &str,
    known: &[(&str, T)],
) -> Result<Option<T>, Problem> {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return Ok(None);
    };
    let lower = ext.to_ascii_lowercase();
    match known.iter().find(|(e, _)| *e == lower) {
        Some((_, t)) => Ok(Some(*t)),
        None => {
            let list: Vec<String> = known.iter().map(|(e, _)| format!(".{e}")).collect();
            Err(Problem::flag(
                flag,
                format!(
                    "dosesim does not write .{ext} files; name a file ending in {}",
                    list.join(", ")
                ),
            ))
        }
    }
}

/// The format asked for with `--format`, or the one the `--out` extension names (`known`),
/// else `default`; a clash, or an extension dosesim does not write, is an error. `name`
/// says a format in the message.
pub fn output_format<T: Copy + PartialEq>(
    asked: Option<T>,
    out: Option<&Path>,
    known: &[(&str, T)],
    default: T,
    name: impl Fn(T) -> String,
) -> Result<T, Problem> {
    let implied = match out {
        Some(p) => out_extension(p, "--out", known)?,
        None => None,
    };
    match (asked, implied) {
        (Some(a), Some(i)) if a != i => Err(Problem::flag(
            "--format",
            format!(
                "{} output does not fit a file named {}: drop --format or change the file name",
                name(a),
                out.map(|p| p.display().to_string()).unwrap_or_default()
            ),
        )),
        (Some(a), _) => Ok(a),
        (None, Some(i)) => Ok(i),
        (None, None) => Ok(default),
    }
}

/// A warning of an input as it is read, on stderr ([`dosesim::inputs::Load::load`]).
pub fn warn_line(w: &str) {
    eprintln!("warning: {w}");
}

/// The record's warnings (weights outside the usual range), on stderr, as a list
/// ([`common::warn_list`]).
pub fn warn_log(log: &dosesim::record::Log) {
    common::warn_record(&log.warnings);
}

pub fn dispatch(cli: Cli) -> Result<()> {
    common::set_verbosity(match (cli.quiet, cli.verbose) {
        (true, _) => common::Verbosity::Quiet,
        (_, true) => common::Verbosity::Verbose,
        _ => common::Verbosity::Normal,
    });
    match cli.command {
        Command::Calendar(a) => calendar::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Calendars(crate::cli::CalendarsCommand::Check { dir }) => calendars::check(dir),
        Command::Show(a) => show::run(a),
        Command::Cohort(a) => cohort::run(a),
        Command::Pharmacy(a) => pharmacy::run(a),
        Command::Prep(a) => prep::run(a),
        Command::Run(a) => run::run(a),
        Command::Chart(a) => chart::run_chart(a),
        Command::Compare(a) => chart::run_compare(a),
        Command::Timeline(a) => chart::run_timeline(a),
        Command::Forecast(a) => forecast::run(a),
        Command::Export(a) => export::run(a),
        Command::Examples(a) => examples::run(a),
        Command::Record(c) => record::run(c),
        Command::Roster(c) => roster::run(c),
        Command::Serve(a) => serve::run(a),
        Command::User(c) => user::run(c),
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
        return dosesim::scenario::files_in(Path::new(SCENARIO_DIR));
    }
    let mut files = Vec::new();
    for p in named {
        if p.is_dir() {
            files.extend(dosesim::scenario::files_in(p)?);
        } else {
            // A bare trial id names the scenario in scenarios/ that has it.
            files.push(dosesim::scenario::resolve(p, Path::new(SCENARIO_DIR))?);
        }
    }
    Ok(files)
}

/// Checks each file with `check` (the "OK ..." line of a good file, or its problems),
/// prints a line per file ("BAD x.toml  (2 problems)" for a bad one), then every problem
/// at once: `validate` and `calendars check`.
pub fn check_files(
    files: &[PathBuf],
    check: impl Fn(&Path) -> Result<String, InputError>,
) -> Result<()> {
    let mut problems = Vec::new();
    let mut out = String::new();
    for f in files {
        match check(f) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            Err(e) => {
                let n = e.count();
                out.push_str(&format!(
                    "BAD {}  ({n} problem{})\n",
                    f.display(),
                    if n == 1 { "" } else { "s" }
                ));
                problems.extend(e.problems);
            }
        }
    }
    dosesim::write::stdout(out.as_bytes())?;
    InputError::check(problems)?;
    Ok(())
}

/// The arms of `trial` whose index is marked in `used`, in file order.
pub fn arms_used<'t>(trial: &'t Trial, used: &[bool]) -> Vec<&'t Arm> {
    trial
        .arms
        .iter()
        .zip(used)
        .filter(|(_, u)| **u)
        .map(|(a, _)| a)
        .collect()
}

/// Says each assumed value an output uses, once, on stderr: a line naming it, with where
/// its reason is written (`dosesim show`, which the report repeats); the reason too with
/// `--verbose`; how many there are with `--quiet`.
pub fn warn_assumptions(trial: &Trial, assumptions: &[Assumption]) {
    let see = format!("see dosesim show {}", show_name(trial));
    common::say_assumed(&trial.id, assumptions, &see, false);
}

/// The assumed values of `arms`, each once (two arms of one product name it once).
pub fn assumptions_of_arms<'t>(
    trial: &'t Trial,
    arms: impl IntoIterator<Item = &'t Arm>,
) -> Vec<Assumption> {
    let mut out: Vec<Assumption> = Vec::new();
    for a in arms.into_iter().flat_map(|arm| arm.assumptions(trial)) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// What `dosesim show` takes to show `trial`: its id for a scenario of scenarios/, else
/// its file.
pub fn show_name(trial: &Trial) -> String {
    let bundled = trial.file.parent() == Some(Path::new(SCENARIO_DIR))
        && scenario_files(&[PathBuf::from(&trial.id)]).is_ok_and(|f| f == [trial.file.clone()]);
    if bundled {
        trial.id.clone()
    } else {
        trial.file.display().to_string()
    }
}
