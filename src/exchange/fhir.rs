//! (being written)

use super::{Export, Files, Options};

pub fn files(_export: &Export, _options: &Options) -> anyhow::Result<Files> {
    anyhow::bail!("the fhir export is not written yet")
}
