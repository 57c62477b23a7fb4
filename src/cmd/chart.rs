//! `dosesim chart`, `compare` and `timeline` (being written).
use anyhow::{Result, bail};
use crate::cli::{ChartArgs, CompareArgs, TimelineArgs};
pub fn run_chart(_a: ChartArgs) -> Result<()> { bail!("chart: being written") }
pub fn run_compare(_a: CompareArgs) -> Result<()> { bail!("compare: being written") }
pub fn run_timeline(_a: TimelineArgs) -> Result<()> { bail!("timeline: being written") }
