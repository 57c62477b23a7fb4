//! (being written)

use super::{Export, Files, Options};

pub fn files(_export: &Export, _options: &Options) -> anyhow::Result<Files> {
    anyhow::bail!("the nonmem export is not written yet")
}
