//! `dosesim validate`: loads each scenario and reports OK or every problem found.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::error::InputError;
use crate::scenario;

pub fn run(args: ValidateArgs) -> Result<()> {
    let files = super::scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    let mut out = String::new();
    for f in &files {
        match scenario::load(f) {
            Ok(t) => {
                let assumed = t.assumptions().len();
                let _ = writeln!(
                    out,
                    "OK  {}  {} ({} arm{}: {}; {} assumed value{})",
                    f.display(),
                    t.id,
                    t.arms.len(),
                    if t.arms.len() == 1 { "" } else { "s" },
                    t.arm_ids().join(", "),
                    assumed,
                    if assumed == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "BAD {}  ({} problem{})",
                    f.display(),
                    e.problems.len(),
                    if e.problems.len() == 1 { "" } else { "s" }
                );
                problems.extend(e.problems);
            }
        }
    }
    crate::write::stdout(out.as_bytes())?;
    InputError::check(problems)?;
    Ok(())
}
