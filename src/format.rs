//! Numbers and text as every output prints them, in one place: plain digits for machines
//! (75000000, never 7.5e7), scientific notation for people (7.50 x 10⁷ cells, with the exact
//! count when three figures hide cells), and spreadsheet-safe text cells.
//!
//! Nothing here knows about trials or files; the exporters, the report, `show` and the
//! messages all call these so that a number reads the same wherever it appears.

use std::borrow::Cow;

use serde::Serialize;

use crate::model::Unit;

/// An amount in a product's unit: whole cells print as integers, mL as decimals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Amount {
    pub value: f64,
    pub unit: Unit,
}

impl Amount {
    /// Plain digits for machines: 75000000 (never 7.5e7), 2000, 6.25.
    pub fn plain(&self) -> String {
        match self.unit {
            Unit::Cells => format!("{:.0}", self.value),
            Unit::Ml => trim_decimals(self.value, 2),
        }
    }

    /// For people: 7.50 x 10⁷ cells, 2000 mL. Three significant figures can hide cells,
    /// so an inexact one is followed by the exact count: 1.88 x 10⁷ cells (exactly 18750000).
    pub fn readable(&self) -> String {
        match self.unit {
            Unit::Cells if sci_is_exact(self.value) => format!("{} cells", sci(self.value)),
            Unit::Cells => format!("{} cells (exactly {})", sci(self.value), self.plain()),
            Unit::Ml => format!("{} mL", trim_decimals(self.value, 2)),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.value.fract() == 0.0 && self.value.abs() < 9.0e15 {
            s.serialize_i64(self.value as i64)
        } else {
            s.serialize_f64(self.value)
        }
    }
}

/// A number from an input file as a message quotes it: as written for ordinary sizes
/// (4000000, 0.5), in exponent form when plain digits would run long (4e300, not 301
/// digits; 1e-12, not 0.000000000001).
pub fn shown(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && a.is_finite() && !(1e-6..1e16).contains(&a) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// `x` with at most `places` decimals and no trailing zeros: 6.25, 40, 7.57.
pub fn trim_decimals(x: f64, places: usize) -> String {
    let s = format!("{x:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Mantissa (rounded to two decimals) and exponent of `x` in scientific notation.
fn sci_parts(x: f64) -> (f64, i32) {
    let mut exp = x.abs().log10().floor() as i32;
    let mut hundredths = (x / 10f64.powi(exp) * 100.0).round();
    if hundredths.abs() >= 1000.0 {
        exp += 1;
        hundredths = (x / 10f64.powi(exp) * 100.0).round();
    }
    (hundredths / 100.0, exp)
}

/// An exponent in superscript digits: 7 -> ⁷, -3 -> ⁻³, 10 -> ¹⁰.
pub fn superscript(exp: i32) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::new();
    if exp < 0 {
        s.push('⁻');
    }
    for d in exp.unsigned_abs().to_string().bytes() {
        s.push(DIGITS[usize::from(d - b'0')]);
    }
    s
}

/// Scientific notation a clinician reads: 7.50 x 10⁷. Values under 1000 print plainly.
pub fn sci(x: f64) -> String {
    if x.abs() < 1000.0 {
        return trim_decimals(x, 2);
    }
    let (m, e) = sci_parts(x);
    format!("{m:.2} x 10{}", superscript(e))
}

/// [`sci`], followed by the exact value when the three figures hide digits:
/// "1.26 x 10⁵ (exactly 125500)" for a per-kg dose, where every digit counts.
pub fn sci_exact(x: f64) -> String {
    if sci_is_exact(x) {
        sci(x)
    } else {
        format!("{} (exactly {})", sci(x), trim_decimals(x, 6))
    }
}

/// True when [`sci`] shows `x` exactly (to the unit), so no exact figure need follow it.
pub fn sci_is_exact(x: f64) -> bool {
    if x.abs() < 1000.0 {
        return (x * 100.0).round() == x * 100.0;
    }
    let (m, e) = sci_parts(x);
    ((m * 100.0).round() * 10f64.powi(e - 2) - x).abs() < 0.5
}

/// Makes a text cell inert in spreadsheets: a leading =, +, -, @, tab or carriage return
/// would start a formula, so such a cell gets a leading apostrophe.
pub fn inert(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// "1 dose", "2 doses".
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A bit set's flags with their names in lowercase (`CLOSED_DAY` is `closed_day`), in
/// the order declared: the codes the outputs write.
pub fn lowercase_flag_names<F: bitflags::Flags + Copy>() -> Vec<(F, String)> {
    F::FLAGS
        .iter()
        .map(|f| (*f.value(), f.name().to_ascii_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_numbers_are_quoted_short() {
        assert_eq!(shown(4e300), "4e300");
        assert_eq!(shown(-4e300), "-4e300");
        assert_eq!(shown(1e-12), "1e-12");
        assert_eq!(shown(4e15), "4000000000000000");
        assert_eq!(shown(0.5), "0.5");
        assert_eq!(shown(0.0), "0");
        assert_eq!(shown(f64::INFINITY), "inf");
    }

    #[test]
    fn scientific_notation_reads_like_a_label() {
        assert_eq!(sci(75_000_000.0), "7.50 x 10⁷");
        assert_eq!(sci(1e5), "1.00 x 10⁵");
        assert_eq!(sci(1.2e6), "1.20 x 10⁶");
        assert_eq!(sci(99_990_000.0), "1.00 x 10⁸");
        assert_eq!(sci(2.56e10), "2.56 x 10¹⁰");
        assert_eq!(sci(40.0), "40");
        assert!(sci_is_exact(75_000_000.0));
        assert!(!sci_is_exact(75_312_500.0));
        assert_eq!(superscript(-12), "⁻¹²");
        assert_eq!(sci_exact(125_600.0), "1.26 x 10⁵ (exactly 125600)");
        assert_eq!(sci_exact(1.2e6), "1.20 x 10⁶");
    }

    #[test]
    fn amounts_print_whole_cells_and_decimal_ml() {
        let c = Amount {
            value: 75_000_000.0,
            unit: Unit::Cells,
        };
        assert_eq!(c.plain(), "75000000");
        assert_eq!(c.readable(), "7.50 x 10⁷ cells");
        let m = Amount {
            value: 2000.0,
            unit: Unit::Ml,
        };
        assert_eq!(m.plain(), "2000");
        assert_eq!(m.readable(), "2000 mL");
        let inexact = Amount {
            value: 18_750_000.0,
            unit: Unit::Cells,
        };
        assert_eq!(inexact.readable(), "1.88 x 10⁷ cells (exactly 18750000)");
        assert_eq!(serde_json::to_string(&c).unwrap(), "75000000");
    }

    #[test]
    fn formula_like_text_is_made_inert() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(inert(bad), format!("'{bad}"));
        }
        assert_eq!(inert("P001"), "P001");
        assert_eq!(inert(""), "");
    }
}
