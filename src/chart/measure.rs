//! Text widths in linear time. Plotters measures a string by adding up its glyphs'
//! advances and kerning, in `f32`, in order, and truncating the sum to whole pixels
//! (`plotters::style::font::ab_glyph`). Shortening a label to a width with plotters alone
//! means measuring every shorter candidate whole: quadratic in the label's length (a
//! 2,000-character title took a minute over a cohort's charts). [`Measure`] does the very
//! same arithmetic, on the same font through the same crate, one glyph at a time, so that
//! the width of every prefix comes from one pass, and it stops reading as soon as the text
//! is wider than the box can hold: a label of any length costs about as much as the part
//! of it that is drawn. The results are bit for bit plotters' widths (checked in debug
//! builds on every fitted label, and by the tests).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScaleFont, ScaleFont};
use anyhow::{Result, anyhow};
use plotters::style::TextStyle;

/// What shortens a label.
pub const ELLIPSIS: &str = "...";

/// How far past the box's width a prefix is still measured, in ems. Advances are positive
/// and the font's kerning never takes back more than a fraction of an em between two
/// glyphs, so a prefix this much wider than the box cannot lead to a candidate that fits.
const SLACK_EM: f32 = 1.0;

fn font() -> Result<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(super::FONT).ok())
        .as_ref()
        .ok_or_else(|| anyhow!("the bundled chart font could not be read"))
}

/// The running width of a text measured so far: plotters' sum, and the last glyph (for
/// the kerning with the next one).
#[derive(Debug, Clone, Copy, Default)]
struct Pen {
    x: f32,
    prev: Option<GlyphId>,
}

impl Pen {
    /// The width plotters reports for the text measured so far.
    fn px(self) -> i32 {
        self.x as i32
    }
}

/// The glyph metrics of one text style (the bundled font at one size).
pub struct Measure {
    font: PxScaleFont<&'static FontRef<'static>>,
    /// Prefixes wider than this many pixels past the box are not measured further.
    slack: i32,
}

impl Measure {
    /// The metrics of `style`, which must be one of the charts' own styles (the bundled
    /// font, registered as "sans-serif").
    pub fn new(style: &TextStyle) -> Result<Self> {
        debug_assert_eq!(style.font.get_family().as_str(), "sans-serif");
        let size = style.font.get_size() as f32;
        Ok(Measure {
            font: font()?.as_scaled(size),
            slack: (SLACK_EM * size).ceil() as i32 + 1,
        })
    }

    /// Moves the pen past `c`, exactly as plotters adds it up.
    fn step(&self, pen: &mut Pen, c: char) -> GlyphId {
        let id = self.font.glyph_id(c);
        pen.x += self.font.h_advance(id);
        if let Some(p) = pen.prev {
            pen.x += self.font.kern(p, id);
        }
        pen.prev = Some(id);
        id
    }

    /// Width in pixels of `s`, as plotters measures it.
    pub fn width(&self, s: &str) -> i32 {
        let mut pen = Pen::default();
        for c in s.chars() {
            self.step(&mut pen, c);
        }
        pen.px()
    }

    /// Width in pixels of `s` when it is at most `cap`, else some width above `cap`; reads
    /// `s` only as far as needed.
    pub fn width_up_to(&self, s: &str, cap: i32) -> i32 {
        let mut pen = Pen::default();
        for c in s.chars() {
            self.step(&mut pen, c);
            if pen.px() > cap + self.slack {
                break;
            }
        }
        pen.px()
    }

    /// True when `s` is at most `max_w` pixels wide; reads `s` only as far as needed.
    pub fn fits(&self, s: &str, max_w: i32) -> bool {
        self.extend(Pen::default(), s, max_w).is_some()
    }

    /// The pen after `s` is measured on from `pen`, when the whole is at most `max_w`
    /// pixels wide; reads `s` only as far as needed.
    fn extend(&self, mut pen: Pen, s: &str, max_w: i32) -> Option<Pen> {
        for c in s.chars() {
            self.step(&mut pen, c);
            if pen.px() > max_w + self.slack {
                return None;
            }
        }
        (pen.px() <= max_w).then_some(pen)
    }

    /// `s` whole when it fits in `max_w` pixels, else its longest prefix that fits with
    /// [`ELLIPSIS`] after it (trailing spaces of the prefix dropped), else "". The same
    /// result as trying every shorter prefix in turn, longest first, and measuring each
    /// candidate whole, in one pass over at most the part of `s` that can fit.
    pub fn fit(&self, s: &str, max_w: i32) -> String {
        // The pen after each prefix: pens[n] has measured the first n characters.
        let mut pens = vec![Pen::default()];
        let mut chars: Vec<(usize, char)> = Vec::new();
        let mut pen = Pen::default();
        let mut whole = true;
        for (at, c) in s.char_indices() {
            self.step(&mut pen, c);
            chars.push((at, c));
            pens.push(pen);
            if pen.px() > max_w + self.slack {
                whole = false;
                break;
            }
        }
        if whole && pen.px() <= max_w {
            return s.to_string();
        }
        // Candidates from n = (length - 1) characters down: those longer than the measured
        // part cannot fit.
        let at_end = whole
            || chars
                .last()
                .is_some_and(|&(at, c)| at + c.len_utf8() == s.len());
        let mut n = if at_end {
            chars.len().saturating_sub(1)
        } else {
            chars.len()
        };
        loop {
            // trim_end: the prefix without its trailing white space.
            let mut kept = n;
            while kept > 0 && chars[kept - 1].1.is_whitespace() {
                kept -= 1;
            }
            let mut pen = pens[kept];
            for c in ELLIPSIS.chars() {
                self.step(&mut pen, c);
            }
            if pen.px() <= max_w {
                let end = chars.get(kept).map_or(s.len(), |c| c.0);
                return format!("{}{ELLIPSIS}", &s[..end]);
            }
            if n == 0 {
                return String::new();
            }
            n -= 1;
        }
    }

    /// A label of two parts, `head` and `tail` separated by its first space (a trial id
    /// and an arm id), shortened so that both show: whole when it fits, else the head cut
    /// to at most half the width and the tail to the rest. A label without a space is
    /// shortened as by [`Measure::fit`].
    pub fn fit_parts(&self, s: &str, max_w: i32) -> String {
        if self.fits(s, max_w) {
            return s.to_string();
        }
        let Some((head, tail)) = s.split_once(' ') else {
            return self.fit(s, max_w);
        };
        let head = self.fit(head, max_w / 2);
        let rest = max_w - self.width(&format!("{head} "));
        let tail = self.fit(tail, rest);
        if head.is_empty() || tail.is_empty() {
            return self.fit(s, max_w);
        }
        format!("{head} {tail}")
    }

    /// `s` broken into lines of at most `max_w` pixels at white space, at most `max_lines`
    /// of them (at least one): a word longer than a line is shortened with [`ELLIPSIS`],
    /// and when the text needs more lines, the last one ends with [`ELLIPSIS`]. Linear in
    /// the length of the part of `s` that is shown.
    pub fn wrap(&self, s: &str, max_w: i32, max_lines: usize) -> Vec<String> {
        let max_lines = max_lines.max(1);
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        let mut pen = Pen::default();
        for word in s.split_whitespace() {
            // The line with this word after a space, measured on from where the line ends.
            let mut from = pen;
            if !line.is_empty() {
                self.step(&mut from, ' ');
            }
            let next = self.extend(from, word, max_w);
            if let Some(next) = next {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                pen = next;
                continue;
            }
            if !line.is_empty() {
                if lines.len() + 1 == max_lines {
                    // The last line allowed, and more words to come.
                    lines.push(self.fit(&format!("{line} {word}"), max_w));
                    return lines;
                }
                lines.push(std::mem::take(&mut line));
            }
            line = self.fit(word, max_w);
            pen = Pen::default();
            for c in line.chars() {
                self.step(&mut pen, c);
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}
