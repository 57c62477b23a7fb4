//! What the TOML readers share (scenario files and forecast plans): the [`Checker`] that
//! collects every problem of a file with its line and field, and [`RawValue`], a value as
//! written with its provenance, `{ value = ..., source = "..." }` or `assumed = "..."`.
//!
//! Serde reads a file into `Raw*` structs that keep each field's byte span
//! (`toml::Spanned`); a reader then walks them with a `Checker`, which turns a span into a
//! line, checks numbers against their ranges, and turns `source`/`assumed` into a
//! [`Provenance`]. The readers keep their own messages; the ones here are shared word for
//! word.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{InputError, Lines, Problem};
use crate::format::shown;
use crate::model::{Provenance, Sourced};

/// A value with its provenance, as a file writes it: `{ value = ..., source = "..." }`, or
/// `assumed = "..."` with the reason, or both.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawValue<T> {
    pub value: Spanned<T>,
    pub source: Option<String>,
    pub assumed: Option<String>,
}

/// Collects the problems of one file, each with its line and field.
pub(crate) struct Checker<'a> {
    pub path: &'a Path,
    lines: Lines,
    pub problems: Vec<Problem>,
    /// The message for a value with neither `source` nor `assumed`.
    no_provenance: &'static str,
}

impl<'a> Checker<'a> {
    /// A checker for `text`, read from `path`; `no_provenance` is the reader's message for
    /// a value that says neither where it comes from nor why it is assumed.
    pub fn new(path: &'a Path, text: &str, no_provenance: &'static str) -> Self {
        Checker {
            path,
            lines: Lines::new(text),
            problems: Vec::new(),
            no_provenance,
        }
    }

    /// The file's line index.
    pub fn lines(&self) -> &Lines {
        &self.lines
    }

    /// The line a spanned value starts on.
    pub fn line<T>(&self, s: &Spanned<T>) -> Option<usize> {
        Some(self.lines.of(s.span().start))
    }

    pub fn err(
        &mut self,
        line: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.problems
            .push(Problem::new(self.path, message).at(line).field(field));
    }

    /// `Ok(())` when no problem was found, else all of them.
    pub fn finish(&mut self) -> Result<(), InputError> {
        InputError::check(std::mem::take(&mut self.problems))
    }

    /// The provenance of `field` from its `source` and `assumed` texts, or the problem that
    /// it has none (and an empty provenance).
    pub fn provenance(
        &mut self,
        source: &Option<String>,
        assumed: &Option<String>,
        line: Option<usize>,
        field: impl Into<String>,
    ) -> Provenance {
        Provenance::from_texts(source, assumed).unwrap_or_else(|| {
            self.err(line, field, self.no_provenance);
            Provenance::default()
        })
    }

    /// `value`, checked from `v`, with `v`'s provenance; `line` is where a missing
    /// provenance is reported.
    pub fn sourced<T, U>(
        &mut self,
        v: &RawValue<T>,
        line: Option<usize>,
        field: impl Into<String>,
        value: U,
    ) -> Sourced<U> {
        Sourced {
            value,
            provenance: self.provenance(&v.source, &v.assumed, line, field),
        }
    }

    /// A positive finite number.
    pub fn positive(&mut self, v: &Spanned<f64>, field: impl Into<String>) -> f64 {
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0) {
            self.err(
                self.line(v),
                field,
                format!("must be a positive number, not {}", shown(x)),
            );
        }
        x
    }

    /// A whole number in `range` (both ends included), clamped into it.
    pub fn whole(&mut self, v: &Spanned<i64>, field: impl Into<String>, range: (i64, i64)) -> u32 {
        let n = *v.get_ref();
        if !(range.0..=range.1).contains(&n) {
            self.err(
                self.line(v),
                field,
                format!("{n} is out of range ({} to {})", range.0, range.1),
            );
        }
        n.clamp(range.0, range.1) as u32
    }

    /// A number in `range`, clamped into it (the top for one not finite); `open_low`
    /// excludes the low end.
    pub fn within(
        &mut self,
        v: &Spanned<f64>,
        field: impl Into<String>,
        range: (f64, f64),
        open_low: bool,
    ) -> f64 {
        let x = *v.get_ref();
        let low_ok = if open_low { x > range.0 } else { x >= range.0 };
        if !(x.is_finite() && low_ok && x <= range.1) {
            let low = if open_low { "above" } else { "from" };
            self.err(
                self.line(v),
                field,
                format!(
                    "{} is out of range: it must be {low} {} to {}",
                    shown(x),
                    shown(range.0),
                    shown(range.1)
                ),
            );
        }
        if x.is_finite() {
            x.clamp(range.0, range.1)
        } else {
            range.1
        }
    }
}
