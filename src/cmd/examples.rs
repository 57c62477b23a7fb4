//! `dosesim examples`: regenerates the examples committed under output/examples/, so that a
//! newcomer sees what the tool makes without running it, and a test can check that they
//! still match what the code makes.

use std::path::Path;

use anyhow::Result;

use crate::cli::ExamplesArgs;
use dosesim::bundle::{self, REFERENCE_WEIGHT_KG};
use dosesim::chart;
use dosesim::cohort::Cohort;
use dosesim::inputs::Load;
use dosesim::{scenario, write};

/// The trial whose arm chart and report are the examples (its demo roster is the smallest).
const EXAMPLE_TRIAL: &str = "nct04822922";
/// Weight of the example patient (kg).
const EXAMPLE_WEIGHT_KG: f64 = 62.5;

pub fn run(args: ExamplesArgs) -> Result<()> {
    super::guard::Reads::new()
        .check_folder(&args.out, "--out")
        .map_err(dosesim::error::InputError::one)?;
    let files = scenario::files_in(Path::new(dosesim::layout::SCENARIO_DIR))?;
    let trials = files
        .iter()
        .map(|f| Load::file(f).load(&super::warn_line).map(|i| i.trial))
        .collect::<Result<Vec<_>, _>>()?;
    let out = &args.out;
    // Created if missing, and locked while the examples are written.
    let _lock = write::lock_folder(out)?;

    let compare = |ext: &str| out.join(format!("compare.{ext}"));
    write::atomic(
        &compare("svg"),
        chart::compare_svg(&trials, REFERENCE_WEIGHT_KG, true, chart::DEFAULT_SIZE)?.as_bytes(),
    )?;
    write::atomic(
        &compare("png"),
        &chart::compare_png(&trials, REFERENCE_WEIGHT_KG, true, chart::DEFAULT_SIZE)?,
    )?;

    let path = Path::new(super::SCENARIO_DIR).join(format!("{EXAMPLE_TRIAL}.toml"));
    // The report is the one `dosesim cohort` writes for the demo roster.
    let calendars = path.parent().unwrap_or(Path::new(".")).join("calendars");
    let inputs = Load::file(&path)
        .demo_roster()
        .calendars(&calendars)
        .load(&super::warn_line)?;
    let trial = &inputs.trial;
    let arms: Vec<_> = trial.arms.iter().collect();
    let stem = out.join(format!("chart-{EXAMPLE_TRIAL}"));
    write::atomic(
        &stem.with_extension("svg"),
        chart::cumulative_svg(
            trial,
            &arms,
            EXAMPLE_WEIGHT_KG,
            None,
            false,
            chart::DEFAULT_SIZE,
        )?
        .as_bytes(),
    )?;
    write::atomic(
        &stem.with_extension("png"),
        &chart::cumulative_png(
            trial,
            &arms,
            EXAMPLE_WEIGHT_KG,
            None,
            false,
            chart::DEFAULT_SIZE,
        )?,
    )?;

    let cohort = Cohort::of(&inputs)?;
    let html = bundle::report_only(&cohort)?;
    write::atomic(
        &out.join(format!("report-{EXAMPLE_TRIAL}.html")),
        html.as_bytes(),
    )?;
    println!("examples written to {}", out.display());
    Ok(())
}
