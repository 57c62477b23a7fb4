//! `dosesim validate`: loads each scenario and reports OK or every problem found.

use anyhow::Result;

use crate::cli::ValidateArgs;
use dosesim::format::plural;
use dosesim::scenario;

pub fn run(args: ValidateArgs) -> Result<()> {
    let files = super::scenario_files(&args.scenarios)?;
    super::check_files(&files, |f| {
        let t = scenario::load(f)?;
        Ok(format!(
            "OK  {}  {} ({}: {}; {})",
            f.display(),
            t.id,
            plural(t.arms.len() as u64, "arm"),
            t.arm_ids().join(", "),
            plural(t.assumptions().len() as u64, "assumed value")
        ))
    })
}
