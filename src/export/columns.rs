//! A CSV file's columns as one list of [`Col`]s: each column's header name beside the cell
//! it writes, so that adding a column touches one line and the header cannot drift from
//! the rows. The calendar CSV's [`super::Column`] is the same idea for the calendar's
//! columns (which the pharmacy stream also writes); prep.csv, the sheet CSV,
//! deviations.csv and the forecast CSVs use this one.

use std::borrow::Borrow;
use std::io::Write;

/// One column: its header name and the text of its cell in a row of type `R` (a typed
/// row, formatted here and nowhere else).
pub struct Col<R> {
    pub name: &'static str,
    pub cell: fn(&R) -> String,
}

/// A column named `name` whose cell `cell` writes.
pub const fn col<R>(name: &'static str, cell: fn(&R) -> String) -> Col<R> {
    Col { name, cell }
}

/// The header names of `cols`, in order.
pub fn names<R>(cols: &[Col<R>]) -> Vec<&'static str> {
    cols.iter().map(|c| c.name).collect()
}

/// Writes the header of `cols`, then one record per row (rows given or borrowed).
pub fn write_csv<R, W: Write>(
    out: W,
    cols: &[Col<R>],
    rows: impl IntoIterator<Item = impl Borrow<R>>,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(cols.iter().map(|c| c.name))?;
    for r in rows {
        let r = r.borrow();
        w.write_record(cols.iter().map(|c| (c.cell)(r)))?;
    }
    w.flush()?;
    Ok(())
}
