//! `dosesim validate`: loads each scenario and reports OK or every problem found.

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::error::InputError;
use crate::scenario;

pub fn run(args: ValidateArgs) -> Result<()> {
    let files = super::scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    for f in &files {
        match scenario::load(f) {
            Ok(t) => {
                let assumed: usize = t.arms.iter().map(|a| a.assumptions(&t).len()).sum();
                println!(
                    "OK  {}  {} ({} arms: {}; {} assumed value{})",
                    f.display(),
                    t.id,
                    t.arms.len(),
                    t.arm_ids().join(", "),
                    assumed,
                    if assumed == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                println!(
                    "BAD {}  ({} problem{})",
                    f.display(),
                    e.problems.len(),
                    if e.problems.len() == 1 { "" } else { "s" }
                );
                problems.extend(e.problems);
            }
        }
    }
    InputError::check(problems)?;
    Ok(())
}
