//! Why a chart could not be made, in the chart's own terms. The chart code knows no
//! command line: the chart commands (`cmd/chart.rs`) decide which flag or file a
//! problem is blamed on.

use std::path::PathBuf;

use crate::schedule::ScheduleError;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// An arm's schedule cannot be made for the weight or start date asked: a dose above
    /// the scenario's maximum at this weight, or a day past the supported calendar.
    #[error("{}: arm {arm}: {error}", file.display())]
    Schedule {
        /// The scenario file of the trial.
        file: PathBuf,
        arm: String,
        error: ScheduleError,
    },
    /// A cumulative chart was asked for no arm at all.
    #[error("no arm to chart")]
    NoArms,
    /// A timeline was asked for a trial without arms.
    #[error("{0} has no arms")]
    TrialWithoutArms(String),
    /// None of the trials compared has an arm that gives cells.
    #[error("none of the scenarios has an arm with cell doses to compare")]
    NothingToCompare,
    /// The size asked is too small to read or too large to hold.
    #[error("chart size {w}x{h} px is outside {min_w}x{min_h} to {max}x{max} px")]
    Size {
        w: u32,
        h: u32,
        min_w: u32,
        min_h: u32,
        max: u32,
    },
    /// The bundled font could not be loaded.
    #[error("the bundled chart font could not be read")]
    Font,
    /// Drawing or rasterising failed (a bug rather than bad input).
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}
