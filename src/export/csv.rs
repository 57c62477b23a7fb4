//! The calendar as CSV: the [`Column`] header, one row per event.
//!
//! Numbers are plain digits (75000000, never 7.5e7); dates YYYY-MM-DD; empty cells where a
//! value does not apply. Text cells are made inert against spreadsheet formula injection.

use std::io::Write;

use super::{Calendar, Column, Exporter, Row, header};

pub struct Csv;

impl Exporter for Csv {
    fn render(&self, c: &Calendar) -> anyhow::Result<Vec<u8>> {
        let mut buf = Vec::new();
        write(&mut buf, c.rows)?;
        Ok(buf)
    }
}

/// Writes a header and the rows.
pub fn write<'a, W: Write>(out: W, rows: impl IntoIterator<Item = &'a Row<'a>>) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header())?;
    for r in rows {
        w.write_record(Column::ALL.iter().map(|&c| r.cell(c).into_owned()))?;
    }
    w.flush()?;
    Ok(())
}
