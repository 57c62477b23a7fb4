//! The shape of a TOML file, checked before serde reads it: every key the file may hold,
//! what each holds (text, a whole number, a value with its provenance, a table...) and
//! which must be there. [`check`] walks the parsed file against a [`Shape`] and reports
//! every unknown key, every value of the wrong kind and every missing key at once, each
//! with its line, its field and the fix in the file's own words (`write it as { value =
//! 52, source = "..." }`), so that serde, which stops at the first and names the code's
//! types, only ever reads a file of the right shape.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{InputError, Lines, Problem, line_of};

/// What a key holds.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Text in quotes.
    Text,
    /// A whole number.
    Whole,
    /// A number, whole or not.
    Number,
    /// `true` or `false`.
    Flag,
    /// A date: `2026-01-05`, quoted or not.
    Date,
    /// Anything: the reader checks it in its own words.
    Any,
    /// `{ value = ..., source = "..." }` or `{ value = ..., assumed = "..." }`.
    Sourced(&'static Kind),
    /// A table with these keys.
    Table(&'static Shape),
    /// A list (`[1, 4, 7]`, or `[[arms]]` tables), and what an item looks like.
    List(&'static Kind, &'static str),
    /// A table whose keys the file names (arm ids, product ids), each holding this, and
    /// what one looks like.
    Named(&'static Kind, &'static str),
}

/// A table: what it is called in a message, and its keys.
pub(crate) struct Shape {
    /// "a dose", "the [mortality] table".
    pub what: &'static str,
    pub keys: &'static [Key],
}

/// One key of a table.
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// What a value looks like, as the file writes it; for a [`Kind::Sourced`] key, the
    /// value inside (`52`, `"peripheral intravenous"`).
    pub example: &'static str,
}

impl Key {
    /// A key that must be there.
    pub const fn must(name: &'static str, kind: Kind, example: &'static str) -> Key {
        Key {
            name,
            kind,
            required: true,
            example,
        }
    }

    /// A key that may be left out.
    pub const fn may(name: &'static str, kind: Kind, example: &'static str) -> Key {
        Key {
            name,
            kind,
            required: false,
            example,
        }
    }
}

/// The `source` and `assumed` keys every table with a provenance has.
pub(crate) const SOURCE: Key = Key::may(
    "source",
    Kind::Text,
    "\"the sentence of the registry record that states it\"",
);
pub(crate) const ASSUMED: Key = Key::may("assumed", Kind::Text, "\"why it is assumed\"");

/// The keys of a value with its provenance.
const SOURCED: Shape = Shape {
    what: "a value with its provenance",
    keys: &[Key::must("value", Kind::Any, "..."), SOURCE, ASSUMED],
};

/// The file parsed and its shape checked: every problem of its shape (see [`check`]), or
/// the error that it is not TOML at all, on the line of the mistake.
pub(crate) fn problems(
    path: &Path,
    text: &str,
    shape: &'static Shape,
    first: usize,
) -> Result<Vec<Problem>, InputError> {
    match DeTable::parse(text) {
        Ok(root) => Ok(check(path, text, &root, shape, first)),
        Err(e) => {
            let line = e.span().map(|s| syntax_error_line(text, s.start));
            let message = e.message().trim().to_string();
            Err(InputError::one(Problem::new(path, message).at(line)))
        }
    }
}

/// A file serde could not read though its shape was checked (the shape and the reader
/// disagree, or a reader that checks no shape): said in plain words on its line, with the
/// key the line starts with, never in serde's (`invalid type: integer `3`, expected a
/// string`).
pub(crate) fn unread(path: &Path, text: &str, e: &toml::de::Error) -> InputError {
    let said = e.message().trim();
    if DeTable::parse(text).is_err() {
        let line = e.span().map(|s| syntax_error_line(text, s.start));
        return InputError::one(Problem::new(path, said.to_string()).at(line));
    }
    if let Some(key) = said
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let p = Problem::new(path, format!("missing: add {key} = ...")).field(key);
        return InputError::one(p);
    }
    let line = e.span().map(|s| line_of(text, s.start));
    let key = line
        .and_then(|n| text.lines().nth(n - 1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let written = e
        .span()
        .and_then(|s| text.get(s))
        .map(str::trim)
        .filter(|w| w.chars().count() <= 40 && !w.contains('\n'));
    let message = said
        .strip_prefix("invalid type: ")
        .and_then(|r| r.split_once(", expected "))
        .and_then(|(found, wanted)| Some((serde_found(found)?, serde_wanted(wanted)?)))
        .map(|(found, wanted)| {
            // The fix, when the value says it: one item where a list belongs, a number
            // where text belongs.
            let fix = match (wanted, written, &key) {
                ("a list in square brackets", Some(w), Some(k)) if !w.starts_with(['[', '{']) => {
                    format!(": write it as {k} = [{w}]")
                }
                ("text in quotes", Some(w), Some(k)) if !w.starts_with(['[', '{', '"']) => {
                    format!(": write it as {k} = \"{w}\"")
                }
                _ => String::new(),
            };
            format!("{found} where {wanted} belongs{fix}")
        })
        .unwrap_or_else(|| {
            "this value is not of the form dosesim reads here: compare it with the same key in the bundled files (scenarios/)".to_string()
        });
    let mut p = Problem::new(path, message).at(line);
    if let Some(k) = key {
        p = p.field(k);
    }
    InputError::one(p)
}

/// What serde found, in the file's words: "integer `3`" is 3, "string \"x\"" the text "x".
fn serde_found(found: &str) -> Option<String> {
    let quoted = |s: &str| s.trim_matches('`').to_string();
    let (what, shown) = found.split_once(' ').unwrap_or((found, ""));
    Some(match what {
        "integer" | "floating" | "boolean" => quoted(shown.trim_start_matches("point ")),
        "string" => format!("the text {shown}"),
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        _ => return None,
    })
}

/// What serde wanted, in words.
fn serde_wanted(wanted: &str) -> Option<&'static str> {
    Some(match wanted {
        "a string" => "text in quotes",
        "a sequence" => "a list in square brackets",
        "a boolean" => "true or false",
        "i64" | "u32" | "u64" | "usize" | "an integer" => "a whole number",
        "f64" | "a number" => "a number",
        "a table" | "a map" => "a table",
        _ => return None,
    })
}

/// Every problem of the shape of `root` (the whole file, parsed) against `shape`, in line
/// order. `first` is the number of a list's first item in a field name (0 or 1, as the
/// reader's other messages count).
pub(crate) fn check(
    path: &Path,
    text: &str,
    root: &Spanned<DeTable>,
    shape: &'static Shape,
    first: usize,
) -> Vec<Problem> {
    let mut walk = Walk {
        path,
        text,
        lines: Lines::new(text),
        first,
        out: Vec::new(),
    };
    walk.table(root.get_ref(), None, "", shape);
    walk.out.sort_by_key(|p| p.line);
    walk.out
}

/// A place a value goes: a key of a table, an item of a list, a named entry.
struct Slot<'k> {
    /// The key, to write the fix with (`count = 4`); empty for a list's item.
    name: &'k str,
    kind: Kind,
    example: &'k str,
}

impl Slot<'_> {
    fn of(key: &Key) -> Slot<'_> {
        Slot {
            name: key.name,
            kind: key.kind,
            example: key.example,
        }
    }
}

struct Walk<'a> {
    path: &'a Path,
    text: &'a str,
    lines: Lines,
    first: usize,
    out: Vec<Problem>,
}

/// `parent.name`, or `name` at the top.
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

impl Walk<'_> {
    fn err(&mut self, at: Option<usize>, field: &str, message: String) {
        self.out.push(
            Problem::new(self.path, message)
                .at(at.map(|o| self.lines.of(o)))
                .field(field),
        );
    }

    /// A table's keys: each known one checked, each unknown one named with the known key
    /// it is nearest to, each missing one asked for. `at` is where the table starts.
    fn table(&mut self, t: &DeTable, at: Option<usize>, field: &str, shape: &'static Shape) {
        let names: Vec<&str> = shape.keys.iter().map(|k| k.name).collect();
        for (k, v) in t.iter() {
            let name: &str = k.get_ref().as_ref();
            let here = join(field, name);
            match shape.keys.iter().find(|key| key.name == name) {
                Some(key) => self.value(v, &here, &Slot::of(key)),
                None => {
                    let near = nearest(name, &names)
                        .map(|n| format!(": did you mean '{n}'?"))
                        .or_else(|| inside(shape, name))
                        .unwrap_or_default();
                    self.err(
                        Some(k.span().start),
                        &here,
                        format!(
                            "unknown key '{name}'{near} ({} has the keys {})",
                            shape.what,
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        for key in shape.keys.iter().filter(|k| k.required) {
            if !t.contains_key(key.name) {
                let message = missing(key);
                self.err(at, &join(field, key.name), message);
            }
        }
    }

    /// One value against what its key holds.
    fn value(&mut self, v: &Spanned<DeValue>, field: &str, key: &Slot) {
        let at = Some(v.span().start);
        match (key.kind, v.get_ref()) {
            (Kind::Sourced(inner), DeValue::Table(t)) => self.sourced(t, at, field, inner, key),
            (Kind::Sourced(inner), _) => {
                let shown = fits(v.get_ref(), inner, self.written(v))
                    .unwrap_or_else(|| key.example.to_string());
                self.err(
                    at,
                    field,
                    format!(
                        "{} needs its provenance: write it as {}",
                        self.found(v),
                        sourced_forms(key.name, &shown)
                    ),
                );
            }
            (Kind::Table(shape), DeValue::Table(t)) => self.table(t, at, field, shape),
            (Kind::Named(inner, example), DeValue::Table(t)) => {
                for (k, item) in t.iter() {
                    let named = Slot {
                        name: k.get_ref(),
                        kind: *inner,
                        example,
                    };
                    self.value(item, &join(field, k.get_ref()), &named);
                }
            }
            (Kind::List(inner, example), DeValue::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let here = format!("{field}[{}]", i + self.first);
                    let each = Slot {
                        name: "",
                        kind: *inner,
                        example,
                    };
                    self.value(item, &here, &each);
                }
            }
            (kind, value) if is(value, kind) => {}
            (kind, value) => {
                let shown = fits(value, &kind, self.written(v));
                let message = format!(
                    "{} where {} belongs: {}",
                    self.found(v),
                    describe(kind),
                    fix(key, shown)
                );
                self.err(at, field, message);
            }
        }
    }

    /// `{ value = ..., source = "..." }`: its keys, and its value of the kind `inner`.
    fn sourced(
        &mut self,
        t: &DeTable,
        at: Option<usize>,
        field: &str,
        inner: &'static Kind,
        key: &Slot,
    ) {
        let before = self.out.len();
        self.table(t, at, field, &SOURCED);
        // A missing value is asked for in the key's own words.
        if let Some(p) = self.out[before..]
            .iter_mut()
            .find(|p| p.field.as_deref() == Some(&join(field, "value")))
        {
            p.field = Some(field.to_string());
            p.message = format!(
                "has no value: write it as {}",
                sourced_forms(key.name, key.example)
            );
        }
        if let Some(v) = t.get("value") {
            let value = Slot {
                name: "value",
                kind: *inner,
                example: key.example,
            };
            self.value(v, &join(field, "value"), &value);
        }
    }

    /// The value as the file writes it, when it is short enough to quote.
    fn written(&self, v: &Spanned<DeValue>) -> Option<&str> {
        let s = self.text.get(v.span())?.trim();
        (s.chars().count() <= 40 && !s.contains('\n')).then_some(s)
    }

    /// What the file holds, for a message: `52`, `the text "52"`, a list, a table.
    fn found(&self, v: &Spanned<DeValue>) -> String {
        let written = self.written(v).map(str::to_string);
        match (v.get_ref(), written) {
            (DeValue::Table(_), _) => "a table".into(),
            (DeValue::Array(_), _) => "a list".into(),
            (DeValue::String(_), Some(w)) => format!("the text {w}"),
            (DeValue::String(_), None) => "a text".into(),
            (_, Some(w)) => w,
            (_, None) => "this value".into(),
        }
    }
}

/// Whether `value` is of `kind` (a leaf kind: text, numbers, flags, dates).
fn is(value: &DeValue, kind: Kind) -> bool {
    match kind {
        Kind::Any => true,
        Kind::Text => matches!(value, DeValue::String(_)),
        Kind::Whole => matches!(value, DeValue::Integer(_)),
        Kind::Number => matches!(value, DeValue::Integer(_) | DeValue::Float(_)),
        Kind::Flag => matches!(value, DeValue::Boolean(_)),
        Kind::Date => matches!(value, DeValue::String(_) | DeValue::Datetime(_)),
        Kind::Sourced(_) | Kind::Table(_) | Kind::List(..) | Kind::Named(..) => false,
    }
}

/// The value as it should be written, when what the file holds says it plainly: `"52"`
/// for a whole number is `52`, `4.0` is `4`, `3` for text is `"3"`, a value of the right
/// kind is itself, one item where a list belongs is `[item]`.
fn fits(value: &DeValue, kind: &Kind, written: Option<&str>) -> Option<String> {
    let w = written?;
    match (kind, value) {
        (k, v) if is(v, *k) && !matches!(k, Kind::Any) => Some(w.to_string()),
        (Kind::Whole, DeValue::String(s)) => s.trim().parse::<i64>().ok().map(|n| n.to_string()),
        (Kind::Whole, DeValue::Float(f)) => {
            let x: f64 = f.as_str().parse().ok()?;
            (x.fract() == 0.0 && x.abs() < 1e15).then(|| format!("{x:.0}"))
        }
        (Kind::Number, DeValue::String(s)) => {
            let t = s.trim();
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(|_| t.to_string())
        }
        (Kind::Text, DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)) => {
            Some(format!("\"{w}\""))
        }
        (Kind::Date, DeValue::Integer(_)) => None,
        (Kind::List(inner, _), v) if is(v, **inner) => Some(format!("[{w}]")),
        _ => None,
    }
}

/// How to write the value `slot` holds: `shown` (the value written as it should be,
/// when the file says it plainly) or the slot's example.
fn fix(slot: &Slot, shown: Option<String>) -> String {
    let example = slot.example;
    match (slot.kind, shown) {
        (_, Some(shown)) if slot.name.is_empty() => format!("write it as {shown}"),
        (_, Some(shown)) => format!("write it as {} = {shown}", slot.name),
        (Kind::Table(shape), None) if example.starts_with('[') => {
            format!("write it as a table, {example}{}", with_keys(shape))
        }
        (Kind::List(Kind::Table(shape), _), None) => {
            format!("write each as a table, {example}{}", with_keys(shape))
        }
        (_, None) if slot.name.is_empty() => format!("write it as {example}"),
        (_, None) => format!("write it as {} = {example}", slot.name),
    }
}

/// Where a key belongs when it is a key of one of `shape`'s tables (a weight's `mean`
/// goes into `normal = { mean = 67, ... }`).
fn inside(shape: &Shape, name: &str) -> Option<String> {
    shape.keys.iter().find_map(|k| match k.kind {
        Kind::Table(inner) if inner.keys.iter().any(|i| i.name == name) => Some(format!(
            ": it belongs in {}, as in {} = {}",
            k.name, k.name, k.example
        )),
        _ => None,
    })
}

/// The known key a misspelt one is nearest to: one it starts or ends, or one a few edits
/// away.
pub(crate) fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    if key.len() > 64 {
        return None;
    }
    let affix = known
        .iter()
        .filter(|k| key.len() >= 3 && (k.starts_with(&key) || key.starts_with(**k)))
        .max_by_key(|k| k.len());
    if let Some(k) = affix {
        return Some(k);
    }
    known
        .iter()
        .map(|k| (edits(&key, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let up = row[j + 1];
            row[j + 1] = (up + 1).min(row[j] + 1).min(diag + usize::from(ca != b[j]));
            diag = up;
        }
    }
    row[b.len()]
}

/// `, with id, name` (the keys a table must have), or nothing.
fn with_keys(shape: &Shape) -> String {
    let needs: Vec<&str> = shape
        .keys
        .iter()
        .filter(|k| k.required)
        .map(|k| k.name)
        .collect();
    match needs.is_empty() {
        true => String::new(),
        false => format!(", with {}", needs.join(", ")),
    }
}

/// What a kind is, in words.
fn describe(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text in quotes",
        Kind::Whole => "a whole number",
        Kind::Number => "a number",
        Kind::Flag => "true or false",
        Kind::Date => "a date",
        Kind::Any => "a value",
        Kind::Sourced(_) => "a value with its provenance",
        Kind::Table(shape) => shape.what,
        Kind::Named(..) => "a table",
        Kind::List(Kind::Table(_), _) => "a list of tables",
        Kind::List(..) => "a list in square brackets",
    }
}

/// `{ value = 52, source = "..." }` quoting the record, or `{ value = 52, assumed = "why" }`.
fn sourced_forms(name: &str, value: &str) -> String {
    format!(
        "{name} = {{ value = {value}, source = \"...\" }} quoting the registry record, or {name} = {{ value = {value}, assumed = \"why\" }}"
    )
}

/// The message for a key that must be there and is not.
fn missing(key: &Key) -> String {
    match key.kind {
        Kind::Sourced(_) => format!("missing: add {}", sourced_forms(key.name, key.example)),
        Kind::Table(shape) if key.example.starts_with('[') => {
            format!("missing: add the {} table{}", key.example, with_keys(shape))
        }
        _ => format!("missing: add {} = {}", key.name, key.example),
    }
}

/// The line a TOML syntax error found at byte `at` belongs to. The parser notices an
/// unclosed array or inline table (`days = [1, 4, 7` then a new line) only at the next
/// token, which is on a later line, and an unterminated multi-line string only at the end
/// of the file. So when the error is the first token of its line, inside an open array or
/// inline table, and the token before it is a value (a `,` `]` or `}` is missing after it),
/// the line of that value is meant; at the end of the file, the line where the last token
/// starts.
fn syntax_error_line(text: &str, at: usize) -> usize {
    use toml_parser::lexer::TokenKind as K;
    let mut depth = 0i32;
    let mut last = None;
    for t in toml_parser::Source::new(text).lex() {
        if t.span().start() >= at {
            break;
        }
        match t.kind() {
            K::Whitespace | K::Newline | K::Comment | K::Eof => continue,
            K::LeftSquareBracket | K::LeftCurlyBracket => depth += 1,
            K::RightSquareBracket | K::RightCurlyBracket => depth -= 1,
            _ => {}
        }
        last = Some(t);
    }
    let line = line_of(text, at);
    let Some(last) = last else {
        return line;
    };
    let (start, end) = (last.span().start(), last.span().end());
    if line_of(text, end.saturating_sub(1)) >= line {
        return line;
    }
    if text[at.min(text.len())..].trim().is_empty() {
        return line_of(text, start);
    }
    let after_value = !matches!(
        last.kind(),
        K::Comma | K::LeftSquareBracket | K::LeftCurlyBracket | K::Equals | K::Dot
    );
    if depth > 0 && after_value {
        line_of(text, end.saturating_sub(1))
    } else {
        line
    }
}

/// Asserts that `shape` and the serde struct `T` agree on `text`'s keys: with any line's
/// value replaced by a value of any kind, or the line left out, the file is refused by
/// the shape check or read by serde (whose words never reach a user).
#[cfg(test)]
pub(crate) fn assert_agrees<T: serde::de::DeserializeOwned>(text: &str, shape: &'static Shape) {
    const VALUES: [&str; 14] = [
        "3",
        "-1",
        "1.5",
        "\"x\"",
        "true",
        "2026-01-05",
        "[1]",
        "[\"x\"]",
        "[]",
        "{}",
        "{ a = 1 }",
        "{ value = 1 }",
        "{ value = \"x\", source = \"y\" }",
        "[{ a = 1 }]",
    ];
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let mut variants: Vec<String> = VALUES.iter().map(|v| format!("{key} = {v}")).collect();
        variants.push(String::new());
        for v in variants {
            let mut edited = lines.clone();
            edited[i] = &v;
            let edited = edited.join("\n");
            let Ok(problems) = problems(Path::new("x.toml"), &edited, shape, 0) else {
                continue;
            };
            if problems.is_empty()
                && let Err(e) = toml::from_str::<T>(&edited)
            {
                panic!(
                    "line {}: `{v}` passes the shape check but not serde: {e}",
                    i + 1
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: Kind = Kind::List(&Kind::Whole, "1");
    const INNER: Shape = Shape {
        what: "an inner table",
        keys: &[Key::must("n", Kind::Whole, "4")],
    };
    const TOP: Shape = Shape {
        what: "a test file",
        keys: &[
            Key::must("count", Kind::Whole, "4"),
            Key::may("days", LIST, "[1, 8]"),
            Key::may("rate", Kind::Sourced(&Kind::Number), "5"),
            Key::may("inner", Kind::Table(&INNER), "[inner]"),
        ],
    };

    fn messages(text: &str) -> Vec<String> {
        problems(Path::new("t.toml"), text, &TOP, 1)
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn every_problem_of_the_shape_comes_at_once_in_line_order() {
        let got = messages("rate = 5\ndays = [1, \"8\"]\ncuont = 4\n[inner]\nn = 1.5\n");
        assert_eq!(
            got,
            [
                "t.toml: count: missing: add count = 4",
                "t.toml:1: rate: 5 needs its provenance: write it as rate = { value = 5, source = \"...\" } quoting the registry record, or rate = { value = 5, assumed = \"why\" }",
                "t.toml:2: days[2]: the text \"8\" where a whole number belongs: write it as 8",
                "t.toml:3: cuont: unknown key 'cuont': did you mean 'count'? (a test file has the keys count, days, rate, inner)",
                "t.toml:5: inner.n: 1.5 where a whole number belongs: write it as n = 4",
            ]
        );
    }

    #[test]
    fn a_table_where_a_value_belongs_and_the_other_way_round() {
        let got =
            messages("count = { n = 1 }\ninner = 3\nrate = { value = [1], assumed = \"a\" }\n");
        assert_eq!(
            got,
            [
                "t.toml:1: count: a table where a whole number belongs: write it as count = 4",
                "t.toml:2: inner: 3 where an inner table belongs: write it as a table, [inner], with n",
                "t.toml:3: rate.value: a list where a number belongs: write it as value = 5",
            ]
        );
    }

    #[test]
    fn a_missing_table_and_a_value_with_no_value() {
        const FILE: Shape = Shape {
            what: "a file",
            keys: &[
                Key::must("inner", Kind::Table(&INNER), "[inner]"),
                Key::must("rate", Kind::Sourced(&Kind::Number), "5"),
            ],
        };
        let got: Vec<String> =
            problems(Path::new("t.toml"), "rate = { source = \"s\" }\n", &FILE, 0)
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect();
        assert_eq!(
            got,
            [
                "t.toml: inner: missing: add the [inner] table, with n",
                "t.toml:1: rate: has no value: write it as rate = { value = 5, source = \"...\" } quoting the registry record, or rate = { value = 5, assumed = \"why\" }",
            ]
        );
    }

    /// A reader with no shape of its own (a site calendar) still says serde's finds in
    /// the file's words.
    #[test]
    fn serde_is_said_in_plain_words() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Cal {
            name: String,
            days: Vec<String>,
        }
        let said = |text: &str| {
            let e = toml::from_str::<Cal>(text).unwrap_err();
            unread(Path::new("c.toml"), text, &e).to_string()
        };
        assert_eq!(
            said("name = \"x\"\ndays = \"Sat\"\n"),
            "c.toml:2: days: the text \"Sat\" where a list in square brackets belongs: write it as days = [\"Sat\"]"
        );
        assert_eq!(
            said("name = 3\ndays = []\n"),
            "c.toml:1: name: 3 where text in quotes belongs: write it as name = \"3\""
        );
        assert_eq!(said("days = []\n"), "c.toml: name: missing: add name = ...");
    }

    #[test]
    fn not_toml_is_a_syntax_error_on_its_line() {
        let e = problems(
            Path::new("t.toml"),
            "count = 4\ndays = [1, 8\nrate = 3\n",
            &TOP,
            0,
        )
        .unwrap_err();
        assert_eq!(e.problems[0].line, Some(2), "{e}");
    }
}
