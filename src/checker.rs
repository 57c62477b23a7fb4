//! What the TOML readers share (scenario files and forecast plans): the [`Checker`] that
//! collects every problem of a file with its line and field, and [`RawValue`], a value as
//! written with its provenance, `{ value = ..., source = "..." }` or `assumed = "..."`.
//!
//! A file is read in three steps. Its shape is checked first ([`Shape`], in `shape.rs`):
//! every unknown key, value of the wrong kind and missing key at once, in plain words with
//! the fix. Then serde reads it into `Raw*` structs that keep each field's byte span
//! (`toml::Spanned`); a reader walks them with a `Checker`, which turns a span into a
//! line, checks numbers against their ranges, and turns `source`/`assumed` into a
//! [`Provenance`]. The readers keep their own messages; the ones here are shared word for
//! word.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{InputError, Lines, Problem};
use crate::format::shown;
use crate::model::{Provenance, Sourced};

mod shape;
#[cfg(test)]
pub(crate) use shape::assert_agrees;
pub(crate) use shape::{
    ASSUMED, Key, Kind, SOURCE, Shape, nearest, problems as shape_problems, unread,
};

/// A value with its provenance, as a file writes it: `{ value = ..., source = "..." }`, or
/// `assumed = "..."` with the reason, or both.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a value with its provenance, { value = ..., source = \"...\" } or { value = ..., assumed = \"...\" }"
)]
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

    /// `Ok(())` when no problem was found, else all of them in line order (those of no
    /// line first).
    pub fn finish(&mut self) -> Result<(), InputError> {
        self.problems.sort_by_key(|p| p.line);
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    const SCENARIO: &str = include_str!("../scenarios/nct01724398.toml");
    const PLAN: &str = include_str!("../scenarios/plans/nct01724398.toml");

    /// The one problem of `r`'s error, shown as the user sees it.
    fn message<T>(r: Result<T, crate::InputError>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    /// No Rust type name (`RawValue`, `RawDose`, "struct") nor serde's phrasing reaches a
    /// user: a value or table of the wrong type is called what the file shows, with the fix.
    fn assert_plain(msg: &str, what: &str) {
        assert!(msg.contains(what), "{msg}");
        for code in ["Raw", "struct", "invalid type", "expected"] {
            assert!(!msg.contains(code), "{msg}");
        }
    }

    #[test]
    fn a_scenario_value_of_the_wrong_type_is_refused_in_plain_words() {
        let path = Path::new("x.toml");
        let text = SCENARIO.replacen(
            "route.value = \"peripheral intravenous\"",
            "route = \"peripheral intravenous\"",
            1,
        );
        let text = text.replacen("route.source = \"umbilical", "note = \"umbilical", 1);
        let msg = message(crate::scenario::parse(path, &text));
        assert_plain(
            &msg,
            "x.toml:76: arms[1].components[0].route: the text \"peripheral intravenous\" needs its provenance: write it as route = { value = \"peripheral intravenous\", source = \"...\" }",
        );
        // A table of the wrong type is called by its name.
        let at = SCENARIO.find("timing.window = {").unwrap();
        let end = at + SCENARIO[at..].find('\n').unwrap();
        let text = format!("{}timing.window = 3{}", &SCENARIO[..at], &SCENARIO[end..]);
        let msg = message(crate::scenario::parse(path, &text));
        assert_plain(
            &msg,
            "x.toml:73: arms[1].components[0].timing.window: 3 where a window belongs: write it as window = {",
        );
    }

    #[test]
    fn a_plan_value_of_the_wrong_type_is_refused_in_plain_words() {
        let trial = crate::scenario::load(Path::new("scenarios/nct01724398.toml")).unwrap();
        let path = Path::new("p.toml");
        let at = PLAN.find("target_patients").unwrap();
        let end = at + PLAN[at..].find('\n').unwrap();
        let text = format!("{}target_patients = 3{}", &PLAN[..at], &PLAN[end..]);
        let msg = message(crate::forecast::plan::parse(path, &text, &trial));
        assert_plain(
            &msg,
            "p.toml:6: target_patients: 3 needs its provenance: write it as target_patients = { value = 3, source = \"...\" }",
        );
        let text = PLAN.replacen(
            "normal = { mean = 67, sd = 14, min = 40, max = 110 }",
            "normal = 3",
            1,
        );
        let msg = message(crate::forecast::plan::parse(path, &text, &trial));
        assert_plain(
            &msg,
            "weight_kg.normal: 3 where a normal distribution of weights belongs: write it as normal = { mean = 67, sd = 14, min = 40, max = 110 }",
        );
    }
}
