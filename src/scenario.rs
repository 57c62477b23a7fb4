//! Scenario files: TOML in, a validated [`Trial`] out.
//!
//! Parsing happens in two steps. Serde reads the file into `Raw*` structs that keep the
//! byte span of each field (`toml::Spanned`), and rejects unknown keys, so that a typo such
//! as `cell_per_kg` is an error rather than a silently missing dose. Then `Validator`
//! checks everything it can and reports every problem at once, each with the file, line
//! and field. This module is the only one that knows the file format.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::checker::{Checker, RawValue};
use crate::error::{InputError, Lines, Problem};
use crate::format::shown;
use crate::limits::{self, MAX_NAME_CHARS, MAX_TEXT_CHARS};
use crate::model::*;

/// Longest code of an arm note (pharmacy.csv repeats it on every dose row).
const MAX_NOTE_CODE_CHARS: usize = 32;

/// Largest study day a scenario may use (100 years of days).
const MAX_DAY: i64 = limits::MAX_DAY as i64;
/// Largest count (occurrences, an interval, months of follow-up, minutes).
const MAX_COUNT: i64 = limits::MAX_OCCURRENCES as i64;

/// Doses dosesim accepts, per unit of dose field. Far wider than any cell-therapy or
/// plasma-exchange regimen, they catch the typo that would otherwise pass quietly: 12e-5
/// for 12e5 cells/kg schedules infusions of 0 cells.
/// How far (per cent) a dose given may be from the planned one before it is flagged,
/// when the scenario states no `dose.tolerance_pct`.
pub const DEFAULT_TOLERANCE_PCT: f64 = 10.0;

/// The doses dosesim accepts in a unit (a given amount in the administration record is
/// held to the same range as a scenario's fixed dose).
pub fn plausible_dose(unit: Unit) -> (f64, f64) {
    let key = match unit {
        Unit::Cells => "cells",
        Unit::Ml => "ml",
    };
    PLAUSIBLE
        .iter()
        .find(|p| p.0 == key)
        .map(|p| (p.1, p.2))
        .expect("a range for every unit")
}

const PLAUSIBLE: [(&str, f64, f64, &str); 3] = [
    ("cells_per_kg", 1e3, 1e9, "cells/kg"),
    ("cells", 1e4, 1e12, "cells"),
    ("ml", 1.0, 20_000.0, "mL"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawScenario {
    trial: Spanned<RawTrial>,
    weight_kg: Option<Spanned<RawWeight>>,
    #[serde(default)]
    products: Vec<Spanned<RawProduct>>,
    #[serde(default)]
    arms: Vec<Spanned<RawArm>>,
    #[serde(default)]
    visits: Vec<Spanned<RawVisit>>,
    #[serde(default)]
    background: Vec<Spanned<RawBackground>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawTrial {
    id: Spanned<String>,
    title: String,
    condition: String,
    seed: Spanned<String>,
    registry_url: Option<String>,
    follow_up: Option<Spanned<RawFollowUp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawFollowUp {
    months: Spanned<i64>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawWeight {
    usual_min: Spanned<f64>,
    usual_max: Spanned<f64>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawProduct {
    id: Spanned<String>,
    name: String,
    unit: Spanned<String>,
    concentration_cells_per_ml: Option<Spanned<f64>>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawArm {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    notes: Vec<Spanned<toml::Value>>,
    source: Option<String>,
    assumed: Option<String>,
    #[serde(default)]
    components: Vec<Spanned<RawComponent>>,
}

/// An arm's note as read: its text, or `{ code, text }` with the short code pharmacy.csv's
/// `note_codes` column gives it (else `note1`, `note2`, ... by position).
fn note_parts(v: &toml::Value) -> Result<(Option<&str>, &str), String> {
    match v {
        toml::Value::String(t) => Ok((None, t)),
        toml::Value::Table(t) => {
            let unknown: Vec<&str> = t
                .keys()
                .map(String::as_str)
                .filter(|k| !matches!(*k, "code" | "text"))
                .collect();
            if !unknown.is_empty() {
                return Err(format!(
                    "unknown key '{}' in a note: a note is its text, or {{ code = \"...\", text = \"...\" }}",
                    unknown.join("', '")
                ));
            }
            match (t.get("code"), t.get("text")) {
                (Some(toml::Value::String(c)), Some(toml::Value::String(x))) => Ok((Some(c), x)),
                _ => Err(
                    "a note with a code needs both, as text: { code = \"stop_on_sae\", text = \"...\" }"
                        .into(),
                ),
            }
        }
        _ => Err("a note is its text, or { code = \"...\", text = \"...\" }".into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawComponent {
    id: Spanned<String>,
    name: Option<String>,
    kind: Spanned<String>,
    product: Spanned<String>,
    dose: RawDose,
    timing: RawTiming,
    route: Option<RawValue<String>>,
    duration_min: Option<RawValue<i64>>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawDose {
    cells_per_kg: Option<Spanned<f64>>,
    cells: Option<Spanned<f64>>,
    ml: Option<Spanned<f64>>,
    none: Option<Spanned<bool>>,
    round_to: Option<Spanned<f64>>,
    max_per_dose: Option<Spanned<f64>>,
    tolerance_pct: Option<Spanned<RawValue<f64>>>,
    weight_basis: Option<Spanned<RawValue<String>>>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawTiming {
    days: Option<Spanned<Vec<Spanned<i64>>>>,
    start_day: Option<Spanned<i64>>,
    every_days: Option<Spanned<i64>>,
    every_weeks: Option<Spanned<i64>>,
    every_months: Option<Spanned<i64>>,
    count: Option<Spanned<i64>>,
    after: Option<Spanned<String>>,
    after_occurrences: Option<Spanned<Vec<Spanned<i64>>>>,
    source: Option<String>,
    assumed: Option<String>,
    on_closed_day: Option<Spanned<RawValue<String>>>,
    window: Option<Spanned<RawWindow>>,
    min_gap_days: Option<Spanned<RawValue<i64>>>,
    anchor: Option<Spanned<RawValue<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawVisit {
    id: Spanned<String>,
    name: String,
    day: Spanned<i64>,
    arms: Option<Vec<Spanned<String>>>,
    window: Option<RawWindow>,
    on_closed_day: Option<Spanned<RawValue<String>>>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawWindow {
    days_before: Spanned<i64>,
    days_after: Spanned<i64>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawBackground {
    id: Spanned<String>,
    name: String,
    detail: Option<String>,
    start_day: Spanned<i64>,
    until: Option<String>,
    arms: Option<Vec<Spanned<String>>>,
    source: Option<String>,
    assumed: Option<String>,
}

/// The shape of a scenario file, checked before serde reads it (see [`crate::checker::Shape`]):
/// the keys of each `Raw*` table above, what each holds, and an example of its value.
mod shape {
    use crate::checker::{ASSUMED, Key, Kind, SOURCE, Shape};

    const TEXT: Kind = Kind::Text;
    const WHOLE: Kind = Kind::Whole;
    const NUMBER: Kind = Kind::Number;

    pub(super) const SCENARIO: Shape = Shape {
        what: "a scenario",
        keys: &[
            Key::must("trial", Kind::Table(&TRIAL), "[trial]"),
            Key::may("weight_kg", Kind::Table(&WEIGHT), "[weight_kg]"),
            Key::may(
                "products",
                Kind::List(&Kind::Table(&PRODUCT), "[[products]]"),
                "[[products]]",
            ),
            Key::may(
                "arms",
                Kind::List(&Kind::Table(&ARM), "[[arms]]"),
                "[[arms]]",
            ),
            Key::may(
                "visits",
                Kind::List(&Kind::Table(&VISIT), "[[visits]]"),
                "[[visits]]",
            ),
            Key::may(
                "background",
                Kind::List(&Kind::Table(&BACKGROUND), "[[background]]"),
                "[[background]]",
            ),
        ],
    };

    const TRIAL: Shape = Shape {
        what: "the [trial] table",
        keys: &[
            Key::must("id", TEXT, "\"NCT01724398\""),
            Key::must("title", TEXT, "\"the registry record's title\""),
            Key::must("condition", TEXT, "\"HBV-related liver failure\""),
            Key::must("seed", TEXT, "\"the registry record this file comes from\""),
            Key::may(
                "registry_url",
                TEXT,
                "\"https://clinicaltrials.gov/study/NCT01724398\"",
            ),
            Key::may(
                "follow_up",
                Kind::Table(&FOLLOW_UP),
                "{ months = 12, source = \"...\" }",
            ),
        ],
    };

    const FOLLOW_UP: Shape = Shape {
        what: "a follow-up",
        keys: &[Key::must("months", WHOLE, "12"), SOURCE, ASSUMED],
    };

    const WEIGHT: Shape = Shape {
        what: "the [weight_kg] table",
        keys: &[
            Key::must("usual_min", NUMBER, "40"),
            Key::must("usual_max", NUMBER, "110"),
            SOURCE,
            ASSUMED,
        ],
    };

    const PRODUCT: Shape = Shape {
        what: "a product",
        keys: &[
            Key::must("id", TEXT, "\"uc_msc\""),
            Key::must("name", TEXT, "\"hUC-MSC\""),
            Key::must("unit", TEXT, "\"cells\""),
            Key::may("concentration_cells_per_ml", NUMBER, "1e6"),
            SOURCE,
            ASSUMED,
        ],
    };

    const ARM: Shape = Shape {
        what: "an arm",
        keys: &[
            Key::must("id", TEXT, "\"msc\""),
            Key::must("name", TEXT, "\"UC-MSC\""),
            Key::may(
                "notes",
                Kind::List(&Kind::Any, "\"a note\""),
                "[\"a note\"]",
            ),
            SOURCE,
            ASSUMED,
            Key::may(
                "components",
                Kind::List(&Kind::Table(&COMPONENT), "[[arms.components]]"),
                "[[arms.components]]",
            ),
        ],
    };

    const COMPONENT: Shape = Shape {
        what: "a component",
        keys: &[
            Key::must("id", TEXT, "\"uc_msc\""),
            Key::may("name", TEXT, "\"hUC-MSC infusion\""),
            Key::must("kind", TEXT, "\"infusion\""),
            Key::must("product", TEXT, "\"uc_msc\""),
            Key::must(
                "dose",
                Kind::Table(&DOSE),
                "{ cells_per_kg = 1e6, source = \"...\" }",
            ),
            Key::must(
                "timing",
                Kind::Table(&TIMING),
                "{ days = [1, 8, 15], source = \"...\" }",
            ),
            Key::may("route", Kind::Sourced(&TEXT), "\"peripheral intravenous\""),
            Key::may("duration_min", Kind::Sourced(&WHOLE), "30"),
            Key::may("note", TEXT, "\"a note\""),
        ],
    };

    const DOSE: Shape = Shape {
        what: "a dose",
        keys: &[
            Key::may("cells_per_kg", NUMBER, "1e6"),
            Key::may("cells", NUMBER, "5e7"),
            Key::may("ml", NUMBER, "2000"),
            Key::may("none", Kind::Flag, "true"),
            Key::may("round_to", NUMBER, "1e5"),
            Key::may("max_per_dose", NUMBER, "1e8"),
            Key::may("tolerance_pct", Kind::Sourced(&NUMBER), "10"),
            Key::may("weight_basis", Kind::Sourced(&TEXT), "\"baseline\""),
            SOURCE,
            ASSUMED,
        ],
    };

    const TIMING: Shape = Shape {
        what: "a timing",
        keys: &[
            Key::may("days", Kind::List(&WHOLE, "1"), "[1, 8, 15]"),
            Key::may("start_day", WHOLE, "1"),
            Key::may("every_days", WHOLE, "7"),
            Key::may("every_weeks", WHOLE, "1"),
            Key::may("every_months", WHOLE, "3"),
            Key::may("count", WHOLE, "4"),
            Key::may("after", TEXT, "\"pe\""),
            Key::may("after_occurrences", Kind::List(&WHOLE, "1"), "[1, 2]"),
            SOURCE,
            ASSUMED,
            Key::may("on_closed_day", Kind::Sourced(&TEXT), "\"next\""),
            Key::may(
                "window",
                Kind::Table(&WINDOW),
                "{ days_before = 1, days_after = 1, assumed = \"why\" }",
            ),
            Key::may("min_gap_days", Kind::Sourced(&WHOLE), "2"),
            Key::may("anchor", Kind::Sourced(&TEXT), "\"plan\""),
        ],
    };

    const VISIT: Shape = Shape {
        what: "a visit",
        keys: &[
            Key::must("id", TEXT, "\"screening\""),
            Key::must("name", TEXT, "\"Screening\""),
            Key::must("day", WHOLE, "1"),
            Key::may("arms", Kind::List(&TEXT, "\"msc\""), "[\"msc\"]"),
            Key::may(
                "window",
                Kind::Table(&WINDOW),
                "{ days_before = 1, days_after = 1, assumed = \"why\" }",
            ),
            Key::may("on_closed_day", Kind::Sourced(&TEXT), "\"next\""),
            SOURCE,
            ASSUMED,
        ],
    };

    const WINDOW: Shape = Shape {
        what: "a window",
        keys: &[
            Key::must("days_before", WHOLE, "1"),
            Key::must("days_after", WHOLE, "1"),
            SOURCE,
            ASSUMED,
        ],
    };

    const BACKGROUND: Shape = Shape {
        what: "a background treatment",
        keys: &[
            Key::must("id", TEXT, "\"antiviral\""),
            Key::must("name", TEXT, "\"Entecavir\""),
            Key::may("detail", TEXT, "\"0.5 mg daily\""),
            Key::must("start_day", WHOLE, "1"),
            Key::may("until", TEXT, "\"end of follow-up\""),
            Key::may("arms", Kind::List(&TEXT, "\"msc\""), "[\"msc\"]"),
            SOURCE,
            ASSUMED,
        ],
    };
}

/// Reads and validates one scenario file.
pub fn load(path: &Path) -> Result<Trial, InputError> {
    // A file far larger than any scenario is refused before it is read (and one that
    // never ends, /dev/zero, after one byte past the limit).
    if let Ok(meta) = std::fs::metadata(path)
        && meta.len() > limits::MAX_SCENARIO_BYTES as u64
    {
        return Err(too_large(path, Some(meta.len())));
    }
    let cannot = |e: String| {
        InputError::one(Problem::new(
            path,
            format!("cannot read scenario file: {e}"),
        ))
    };
    let bytes = limits::read_at_most(path, limits::MAX_SCENARIO_BYTES)
        .map_err(|e| cannot(e.to_string()))?
        .ok_or_else(|| too_large(path, None))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| cannot("stream did not contain valid UTF-8".to_string()))?;
    parse(path, &text)
}

/// A scenario named on the command line, by its file or by its trial id (see [`resolve`]).
pub fn load_named(arg: &Path) -> Result<Trial, InputError> {
    load(&resolve(arg, Path::new(crate::layout::SCENARIO_DIR))?)
}

/// The scenario file `arg` names: the file itself, or, for a bare trial id such as
/// `NCT04822922` (no such file, no folder, no extension), the scenario in `dir` whose
/// `trial.id` it is, compared without regard to case. None or several is an error that
/// lists what `dir` holds.
pub fn resolve(arg: &Path, dir: &Path) -> Result<PathBuf, InputError> {
    let text = arg.to_string_lossy();
    let bare = arg.components().count() == 1 && arg.extension().is_none();
    // A folder of that name (a trial's output folder, made by `cohort --out .`) is not a
    // scenario: the trial id is looked up.
    if !bare || arg.is_file() {
        return Ok(arg.to_path_buf());
    }
    let files = files_in(dir).map_err(|_| {
        InputError::one(Problem::new(
            arg,
            format!(
                "no such scenario file, and no folder {}/ to look for trial id '{text}' in",
                dir.display()
            ),
        ))
    })?;
    let mut ids = Vec::new();
    let mut unread = Vec::new();
    let mut matches = Vec::new();
    for f in files {
        let id = std::fs::read_to_string(&f)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .and_then(|t| t.get("trial")?.get("id")?.as_str().map(str::to_string));
        match id {
            Some(id) if id.eq_ignore_ascii_case(&text) => matches.push(f),
            Some(id) => ids.push(id),
            None => unread.push(f.display().to_string()),
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => {
            let mut msg = format!(
                "no such scenario file, and no scenario in {}/ has trial id '{text}'; the trial ids there: {}",
                dir.display(),
                ids.join(", ")
            );
            if !unread.is_empty() {
                msg.push_str(&format!(
                    " (unreadable, so not searched: {})",
                    unread.join(", ")
                ));
            }
            Err(InputError::one(Problem::new(arg, msg)))
        }
        _ => {
            let names: Vec<String> = matches.iter().map(|f| f.display().to_string()).collect();
            Err(InputError::one(Problem::new(
                arg,
                format!(
                    "trial id '{text}' is that of several scenarios: {}; name the file",
                    names.join(", ")
                ),
            )))
        }
    }
}

/// Every `*.toml` file directly in `dir`, sorted by name.
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    toml_files(dir, "scenario files")
}

/// Every `*.toml` file directly in `dir`, sorted by name; `what` names them in messages
/// ("scenario files", "site calendars"). An empty folder is an error.
pub fn toml_files(dir: &Path, what: &str) -> Result<Vec<PathBuf>, InputError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| InputError::one(Problem::new(dir, format!("cannot list {what}: {e}"))))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(InputError::one(Problem::new(
            dir,
            format!("no {what} (*.toml) in this folder"),
        )));
    }
    Ok(files)
}

/// `bytes`: the file's size, when known (`None`: more than the limit were read).
fn too_large(path: &Path, bytes: Option<u64>) -> InputError {
    let max = limits::MAX_SCENARIO_BYTES;
    let size = match bytes {
        Some(n) => format!("{n} bytes"),
        None => format!("over {max} bytes"),
    };
    InputError::one(Problem::new(
        path,
        format!(
            "the file is {size}; a scenario file may be at most {max} bytes (the bundled ones are about 10 KB): is this the right file?"
        ),
    ))
}

/// Parses and validates scenario text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<Trial, InputError> {
    if text.len() > limits::MAX_SCENARIO_BYTES {
        return Err(too_large(path, Some(text.len() as u64)));
    }
    // The shape first, every problem of it at once: serde stops at the first.
    let lines = Lines::new(text);
    let mut problems = crate::checker::shape_problems(path, text, &shape::SCENARIO, 0)?;
    problems.extend(text_problems(path, text, &lines));
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(InputError::new(problems));
    }
    let raw: RawScenario =
        toml::from_str(text).map_err(|e| crate::checker::unread(path, text, &e))?;
    let mut c = Checker::new(
        path,
        text,
        "needs provenance: `source` quoting the registry record, or `assumed` with the reason",
    );
    c.problems = problems;
    Validator { c }.run(raw)
}

/// Every string of the file that holds a control character (a carriage return in an arm's
/// name would reach an .ics SUMMARY, where a reader that ends lines at CR sees a property
/// of its own) or is longer than its limit, with its line and key. TOML writes control
/// characters as escapes (`"\r"`), so they are found in the parsed values, not the text.
fn text_problems(path: &Path, text: &str, lines: &Lines) -> Vec<Problem> {
    use toml::de::{DeTable, DeValue};
    fn walk(
        v: &toml::Spanned<DeValue>,
        key: String,
        lines: &Lines,
        path: &Path,
        out: &mut Vec<Problem>,
    ) {
        match v.get_ref() {
            DeValue::String(s) => {
                let (limit, what) = text_limit(&key);
                let chars = s.chars().count();
                if chars > limit {
                    out.push(
                        Problem::new(
                            path,
                            format!(
                                "is {chars} characters long; {what} may have at most {limit}: quote the sentence that states the value, not the whole record"
                            ),
                        )
                        .at(Some(lines.of(v.span().start)))
                        .field(key.clone()),
                    );
                }
                if let Some(c) = s.chars().find(|c| c.is_control()) {
                    out.push(
                        Problem::new(
                            path,
                            format!(
                                "contains the control character U+{:04X}: text here reaches calendar files and reports, so write it without line breaks, tabs or control characters",
                                u32::from(c)
                            ),
                        )
                        .at(Some(lines.of(v.span().start)))
                        .field(key),
                    );
                }
            }
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    walk(item, format!("{key}[{i}]"), lines, path, out);
                }
            }
            DeValue::Table(t) => {
                for (k, item) in t.iter() {
                    let name = if key.is_empty() {
                        k.get_ref().to_string()
                    } else {
                        format!("{key}.{}", k.get_ref())
                    };
                    walk(item, name, lines, path, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(root) = DeTable::parse(text) {
        for (k, v) in root.get_ref().iter() {
            walk(v, k.get_ref().to_string(), lines, path, &mut out);
        }
    }
    out
}

/// How long the string at `key` may be: names label charts and table columns; quotes,
/// reasons and notes are read in full.
fn text_limit(key: &str) -> (usize, &'static str) {
    let last = key.rsplit('.').next().unwrap_or(key);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "id" | "name" | "title" | "condition" | "value" | "kind" | "unit" | "product" | "seed"
        | "registry_url" | "after" | "arms" | "code" => (MAX_NAME_CHARS, "a name or value"),
        _ => (MAX_TEXT_CHARS, "a quote, reason or note"),
    }
}

struct Validator<'a> {
    c: Checker<'a>,
}

impl Validator<'_> {
    /// Each arm note's code: given (an id, at most 32 characters, unique in the arm) or
    /// `note1`, `note2`, ... by position.
    fn note_codes(&mut self, notes: &[Spanned<toml::Value>], field: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(notes.len());
        for (k, n) in notes.iter().enumerate() {
            let f = format!("{field}.notes[{k}]");
            let code = match note_parts(n.get_ref()) {
                Err(msg) => {
                    self.c.err(self.c.line(n), f, msg);
                    format!("note{}", k + 1)
                }
                Ok((None, _)) => format!("note{}", k + 1),
                Ok((Some(c), _)) => {
                    if !is_safe_id(c) {
                        self.c.err(
                            self.c.line(n),
                            format!("{f}.code"),
                            format!("'{c}' is not a valid code: use {SAFE_ID_RULE}"),
                        );
                    } else if c.chars().count() > MAX_NOTE_CODE_CHARS {
                        self.c.err(
                            self.c.line(n),
                            format!("{f}.code"),
                            format!(
                                "note code '{c}' is longer than {MAX_NOTE_CODE_CHARS} characters: it is a short code for every dose row of pharmacy.csv"
                            ),
                        );
                    }
                    c.to_string()
                }
            };
            if out.contains(&code) {
                self.c.err(
                    self.c.line(n),
                    format!("{field}.notes[{k}]"),
                    format!("note code '{code}' is used twice in this arm"),
                );
            }
            out.push(code);
        }
        out
    }

    fn id(&mut self, id: &Spanned<String>, field: String) -> String {
        if !is_safe_id(id.get_ref()) {
            self.c.err(
                self.c.line(id),
                field,
                format!("'{}' is not a valid id: use {SAFE_ID_RULE}", id.get_ref()),
            );
        }
        id.get_ref().clone()
    }

    fn day(&mut self, v: &Spanned<i64>, field: String) -> u32 {
        let d = *v.get_ref();
        if d == 0 {
            self.c.err(
                self.c.line(v),
                field,
                "there is no day 0: study day 1 is the start date",
            );
        } else if !(1..=MAX_DAY).contains(&d) {
            self.c.err(
                self.c.line(v),
                field,
                format!("study day {d} is out of range (1 to {MAX_DAY})"),
            );
        }
        d.clamp(1, MAX_DAY) as u32
    }

    fn count(&mut self, v: &Spanned<i64>, field: String, min: i64) -> u32 {
        self.c.whole(v, field, (min, MAX_COUNT))
    }

    fn run(mut self, raw: RawScenario) -> Result<Trial, InputError> {
        let t = raw.trial.get_ref();
        let trial_id = self.id(&t.id, "trial.id".into());
        if let Some(u) = &t.registry_url {
            let lower = u.to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://")) {
                self.c.err(
                    self.c.line(&raw.trial),
                    "trial.registry_url",
                    format!("'{u}' is not a web address: the report links it, so only http:// and https:// addresses are accepted"),
                );
            }
        }
        let follow_up = t.follow_up.as_ref().map(|f| {
            let r = f.get_ref();
            let months = self.count(&r.months, "trial.follow_up.months".into(), 1);
            FollowUp {
                months,
                provenance: self.c.provenance(
                    &r.source,
                    &r.assumed,
                    self.c.line(f),
                    "trial.follow_up",
                ),
            }
        });
        if t.seed.get_ref().trim().is_empty() {
            self.c.err(
                self.c.line(&t.seed),
                "trial.seed",
                "name the registry record this scenario comes from",
            );
        }
        let weight = match &raw.weight_kg {
            Some(w) => self.weight(w),
            None => {
                self.c.err(
                    Some(1),
                    "weight_kg",
                    "missing [weight_kg] table with usual_min and usual_max",
                );
                WeightRange {
                    usual_min_kg: 0.0,
                    usual_max_kg: 0.0,
                    usual_kg: Default::default(),
                    provenance: Provenance::default(),
                }
            }
        };

        let products = self.products(&raw.products);
        let product_index: HashMap<&str, usize> = products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();

        if raw.arms.is_empty() {
            self.c.err(None, "arms", "the scenario has no [[arms]]");
        }
        let arm_ids: Vec<String> = raw
            .arms
            .iter()
            .map(|a| a.get_ref().id.get_ref().clone())
            .collect();
        let visits = self.visits(&raw.visits, &arm_ids);
        let background = self.background(&raw.background, &arm_ids);

        let mut seen = HashSet::new();
        let mut arms = Vec::new();
        for (i, a) in raw.arms.iter().enumerate() {
            let ra = a.get_ref();
            let field = format!("arms[{i}]");
            let id = self.id(&ra.id, format!("{field}.id"));
            if !seen.insert(id.clone()) {
                self.c.err(
                    self.c.line(&ra.id),
                    format!("{field}.id"),
                    format!("arm '{id}' is defined twice"),
                );
            }
            let provenance =
                self.c
                    .provenance(&ra.source, &ra.assumed, self.c.line(a), field.clone());
            let components = self.components(&id, &ra.components, &products, &product_index);
            arms.push(Arm {
                visits: visits
                    .iter()
                    .filter(|(_, only)| only.as_ref().is_none_or(|o| o.contains(&id)))
                    .map(|(v, _)| v.clone())
                    .collect(),
                background: background
                    .iter()
                    .filter(|(_, only)| only.as_ref().is_none_or(|o| o.contains(&id)))
                    .map(|(b, _)| b.clone())
                    .collect(),
                id,
                name: ra.name.clone(),
                provenance,
                notes: ra
                    .notes
                    .iter()
                    .map(|n| {
                        note_parts(n.get_ref()).map_or_else(|_| String::new(), |p| p.1.to_string())
                    })
                    .collect(),
                note_codes: self.note_codes(&ra.notes, &field),
                components,
            });
        }

        // Trial-wide visits and background may be limited to some arms; within one arm
        // their ids must still be unique, since they name the calendar rows.
        for arm in &arms {
            let mut ids = HashSet::new();
            for id in arm
                .visits
                .iter()
                .map(|v| &v.id)
                .chain(arm.background.iter().map(|b| &b.id))
            {
                if !ids.insert(id) {
                    self.c.problems.push(
                        Problem::new(self.c.path, format!("arm '{}' gets two visits or background treatments with the id '{id}'", arm.id))
                            .field("visits/background"),
                    );
                }
            }
        }
        self.limits(&raw, &arms);
        self.c.finish()?;
        Ok(Trial {
            id: trial_id,
            title: t.title.clone(),
            condition: t.condition.clone(),
            seed: t.seed.get_ref().clone(),
            registry_url: t.registry_url.clone(),
            follow_up,
            file: self.c.path.to_path_buf(),
            weight,
            products,
            arms,
        })
    }

    /// The counts [`limits`] sets: each list too long is one problem, at its first item
    /// past the limit.
    fn limits(&mut self, raw: &RawScenario, arms: &[Arm]) {
        fn over<T>(v: &mut Validator, list: &[Spanned<T>], max: usize, field: String, what: &str) {
            if let Some(first) = list.get(max) {
                v.c.err(
                    v.c.line(first),
                    field,
                    format!("{} {what}; a scenario may have at most {max}", list.len()),
                );
            }
        }
        over(self, &raw.arms, limits::MAX_ARMS, "arms".into(), "arms");
        over(
            self,
            &raw.products,
            limits::MAX_PRODUCTS,
            "products".into(),
            "products",
        );
        over(
            self,
            &raw.visits,
            limits::MAX_VISITS,
            "visits".into(),
            "visits",
        );
        over(
            self,
            &raw.background,
            limits::MAX_BACKGROUND,
            "background".into(),
            "background treatments",
        );
        for (i, a) in raw.arms.iter().enumerate() {
            let ra = a.get_ref();
            let field = format!("arms[{i}]");
            if let Some(first) = ra.components.get(limits::MAX_COMPONENTS) {
                self.c.err(
                    self.c.line(first),
                    format!("{field}.components"),
                    format!(
                        "arm '{}' has {} components; an arm may have at most {}",
                        ra.id.get_ref(),
                        ra.components.len(),
                        limits::MAX_COMPONENTS
                    ),
                );
            }
            if ra.notes.len() > limits::MAX_NOTES {
                self.c.err(
                    self.c.line(a),
                    format!("{field}.notes"),
                    format!(
                        "arm '{}' has {} notes; an arm may have at most {}",
                        ra.id.get_ref(),
                        ra.notes.len(),
                        limits::MAX_NOTES
                    ),
                );
            }
        }
        for (i, arm) in arms.iter().enumerate() {
            let events: usize = arm
                .components
                .iter()
                .map(|c| c.timing.rule.count() as usize)
                .sum::<usize>()
                + arm.visits.len()
                + arm.background.len();
            if events > limits::MAX_EVENTS_PER_ARM {
                self.c.err(
                    raw.arms.get(i).and_then(|a| self.c.line(a)),
                    format!("arms[{i}]"),
                    format!(
                        "arm '{}' gives each patient {events} events (doses, visits and background treatments); an arm may give at most {}",
                        arm.id,
                        limits::MAX_EVENTS_PER_ARM
                    ),
                );
            }
        }
    }

    fn weight(&mut self, w: &Spanned<RawWeight>) -> WeightRange {
        let r = w.get_ref();
        let min = self.c.positive(&r.usual_min, "weight_kg.usual_min");
        let max = self.c.positive(&r.usual_max, "weight_kg.usual_max");
        if min >= max {
            self.c.err(
                self.c.line(&r.usual_max),
                "weight_kg.usual_max",
                format!("must be above usual_min ({} kg)", shown(min)),
            );
        }
        if min < WEIGHT_HARD_MIN_KG || max > WEIGHT_HARD_MAX_KG {
            self.c.err(
                self.c.line(w),
                "weight_kg",
                format!(
                    "the usual range must lie within the hard limits {WEIGHT_HARD_MIN_KG}-{WEIGHT_HARD_MAX_KG} kg"
                ),
            );
        }
        let provenance = self
            .c
            .provenance(&r.source, &r.assumed, self.c.line(w), "weight_kg");
        WeightRange {
            usual_min_kg: min,
            usual_max_kg: max,
            usual_kg: (Kg::from_f64(min), Kg::from_f64(max)),
            provenance,
        }
    }

    fn products(&mut self, raw: &[Spanned<RawProduct>]) -> Vec<Product> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let rp = p.get_ref();
            let field = format!("products[{i}]");
            let id = self.id(&rp.id, format!("{field}.id"));
            if !seen.insert(id.clone()) {
                self.c.err(
                    self.c.line(&rp.id),
                    format!("{field}.id"),
                    format!("product '{id}' is defined twice"),
                );
            }
            let unit = match rp.unit.get_ref().as_str() {
                "cells" => Unit::Cells,
                "mL" => Unit::Ml,
                other => {
                    self.c.err(
                        self.c.line(&rp.unit),
                        format!("{field}.unit"),
                        format!("unknown unit '{other}': use \"cells\" or \"mL\""),
                    );
                    Unit::Cells
                }
            };
            let concentration = rp.concentration_cells_per_ml.as_ref().map(|c| {
                if unit != Unit::Cells {
                    self.c.err(
                        self.c.line(c),
                        format!("{field}.concentration_cells_per_ml"),
                        "a concentration in cells/mL only applies to a product counted in cells",
                    );
                }
                self.c
                    .positive(c, format!("{field}.concentration_cells_per_ml"))
            });
            let provenance = self
                .c
                .provenance(&rp.source, &rp.assumed, self.c.line(p), field);
            out.push(Product {
                id,
                name: rp.name.clone(),
                unit,
                concentration_cells_per_ml: concentration,
                provenance,
            });
        }
        out
    }

    fn components(
        &mut self,
        arm: &str,
        raw: &[Spanned<RawComponent>],
        products: &[Product],
        product_index: &HashMap<&str, usize>,
    ) -> Vec<Component> {
        let mut seen = HashSet::new();
        let mut out: Vec<Component> = Vec::new();
        for (i, c) in raw.iter().enumerate() {
            let rc = c.get_ref();
            let field = format!("arm '{arm}' components[{i}]");
            let id = self.id(&rc.id, format!("{field}.id"));
            if !seen.insert(id.clone()) {
                self.c.err(
                    self.c.line(&rc.id),
                    format!("{field}.id"),
                    format!("component '{id}' is defined twice in arm '{arm}'"),
                );
            }
            let kind = match rc.kind.get_ref().as_str() {
                "cell_infusion" => ComponentKind::CellInfusion,
                "plasma_exchange" => ComponentKind::PlasmaExchange,
                other => {
                    self.c.err(
                        self.c.line(&rc.kind),
                        format!("{field}.kind"),
                        format!("unknown kind '{other}': use cell_infusion or plasma_exchange"),
                    );
                    ComponentKind::CellInfusion
                }
            };
            let (product, unit) = self.product_of(rc, kind, (products, product_index), &field);
            let dose = self.dose(&rc.dose, self.c.line(c), unit, format!("{field}.dose"));
            let timing = self.timing(&rc.timing, self.c.line(c), format!("{field}.timing"));
            let route = rc.route.as_ref().map(|rr| {
                let route = rr.value.get_ref().clone();
                self.c
                    .sourced(rr, self.c.line(c), format!("{field}.route"), route)
            });
            let duration_min = rc.duration_min.as_ref().map(|rd| {
                let minutes = self.count(&rd.value, format!("{field}.duration_min.value"), 1);
                self.c
                    .sourced(rd, self.c.line(c), format!("{field}.duration_min"), minutes)
            });
            out.push(Component {
                name: rc.name.clone().unwrap_or_else(|| id.clone()),
                id,
                kind,
                product: product.unwrap_or(0),
                dose,
                timing,
                route,
                duration_min,
                note: rc.note.clone(),
            });
        }
        self.resolve_after(arm, raw, &mut out);
        out
    }

    /// The component's product (an index into `products`) and its unit, which fits the
    /// component's kind.
    fn product_of(
        &mut self,
        rc: &RawComponent,
        kind: ComponentKind,
        (products, product_index): (&[Product], &HashMap<&str, usize>),
        field: &str,
    ) -> (Option<usize>, Option<Unit>) {
        let product = match product_index.get(rc.product.get_ref().as_str()) {
            Some(&p) => Some(p),
            None => {
                let known: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
                self.c.err(
                    self.c.line(&rc.product),
                    format!("{field}.product"),
                    format!(
                        "unknown product '{}' (products: {})",
                        rc.product.get_ref(),
                        known.join(", ")
                    ),
                );
                None
            }
        };
        let unit = product.map(|p| products[p].unit);
        if let Some(u) = unit {
            let expected = match kind {
                ComponentKind::CellInfusion => Unit::Cells,
                ComponentKind::PlasmaExchange => Unit::Ml,
            };
            if u != expected {
                self.c.err(
                    self.c.line(&rc.product),
                    format!("{field}.product"),
                    format!(
                        "a {} needs a product counted in {}, and '{}' is counted in {}",
                        kind.as_str(),
                        expected.as_str(),
                        rc.product.get_ref(),
                        u.as_str()
                    ),
                );
            }
        }
        (product, unit)
    }

    fn dose(
        &mut self,
        r: &RawDose,
        line: Option<usize>,
        unit: Option<Unit>,
        field: String,
    ) -> Dose {
        self.one_amount(r, line, &field);
        self.ml_decimals(r, unit, &field);
        let amount = self.amount(r, unit, &field);
        let round_to = self.round_to(r, amount, &field);
        let max_per_dose = self.max_per_dose(r, amount, line, &field);
        let tolerance_pct = self.tolerance(r, &field);
        let weight_basis = self.weight_basis(r, amount, &field);
        let provenance = self.c.provenance(&r.source, &r.assumed, line, field);
        Dose {
            amount,
            round_to,
            max_per_dose,
            tolerance_pct,
            weight_basis,
            provenance,
        }
    }

    /// Exactly one of cells_per_kg, cells, ml or none = true.
    fn one_amount(&mut self, r: &RawDose, line: Option<usize>, field: &str) {
        let given: Vec<&str> = [
            ("cells_per_kg", r.cells_per_kg.is_some()),
            ("cells", r.cells.is_some()),
            ("ml", r.ml.is_some()),
            ("none", r.none.as_ref().is_some_and(|n| *n.get_ref())),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| *k)
        .collect();
        if given.len() != 1 {
            self.c.err(
                line,
                field,
                format!(
                    "give exactly one of cells_per_kg, cells, ml or none = true (found {})",
                    if given.is_empty() {
                        "none".to_string()
                    } else {
                        given.join(", ")
                    }
                ),
            );
        }
    }

    /// mL are printed to two decimals: more would be shown rounded in one output and
    /// exact in another, so a dose in mL may not have more.
    fn ml_decimals(&mut self, r: &RawDose, unit: Option<Unit>, field: &str) {
        for (key, v) in [("ml", &r.ml), ("round_to", &r.round_to)] {
            if let Some(v) = v
                && unit == Some(Unit::Ml)
                && ((v.get_ref() * 100.0).round() - v.get_ref() * 100.0).abs() > 1e-9
            {
                self.c.err(
                    self.c.line(v),
                    format!("{field}.{key}"),
                    format!(
                        "{} mL has more than two decimals: give mL to 0.01",
                        shown(*v.get_ref())
                    ),
                );
            }
        }
    }

    /// The amount given, each number checked against the product's unit and the doses
    /// dosesim accepts.
    fn amount(&mut self, r: &RawDose, unit: Option<Unit>, field: &str) -> DoseAmount {
        let want_unit = |this: &mut Self, s: &Spanned<f64>, key: &str, need: Unit| {
            if unit.is_some_and(|u| u != need) {
                this.c.err(
                    this.c.line(s),
                    format!("{field}.{key}"),
                    format!(
                        "{key} does not fit a product counted in {}",
                        unit.unwrap().as_str()
                    ),
                );
            }
            let x = this.c.positive(s, format!("{field}.{key}"));
            if let Some((_, lo, hi, unit)) = PLAUSIBLE.iter().find(|p| p.0 == key)
                && x > 0.0
                && !(*lo..=*hi).contains(&x)
            {
                this.c.err(
                    this.c.line(s),
                    format!("{field}.{key}"),
                    format!(
                        "{} {unit} is outside the doses dosesim accepts ({lo:e} to {hi:e} {unit}): a typo in the exponent?",
                        shown(x)
                    ),
                );
            }
            x
        };
        if let Some(v) = &r.cells_per_kg {
            DoseAmount::PerKg(want_unit(self, v, "cells_per_kg", Unit::Cells))
        } else if let Some(v) = &r.cells {
            DoseAmount::Fixed(want_unit(self, v, "cells", Unit::Cells))
        } else if let Some(v) = &r.ml {
            DoseAmount::Fixed(want_unit(self, v, "ml", Unit::Ml))
        } else {
            DoseAmount::None
        }
    }

    /// The rounding step: positive, and not larger than the smallest dose it applies to.
    fn round_to(&mut self, r: &RawDose, amount: DoseAmount, field: &str) -> Option<f64> {
        let round_to = r
            .round_to
            .as_ref()
            .map(|v| self.c.positive(v, format!("{field}.round_to")));
        // A rounding step larger than the smallest dose it applies to (a typo: 1e8 for 1e6)
        // rounds doses to 0: the smallest per-kg dose is at the lowest weight accepted.
        if let (Some(step), Some(v)) = (round_to, r.round_to.as_ref())
            && step > 0.0
        {
            let smallest = match amount {
                DoseAmount::PerKg(k) => Some((
                    k * WEIGHT_HARD_MIN_KG,
                    format!(
                        "{k:e} cells/kg x {WEIGHT_HARD_MIN_KG} kg, the lowest weight dosesim accepts"
                    ),
                )),
                DoseAmount::Fixed(x) => Some((x, "the fixed dose".to_string())),
                DoseAmount::None => None,
            };
            if let Some((dose, what)) = smallest
                && step > dose
            {
                self.c.err(
                    self.c.line(v),
                    format!("{field}.round_to"),
                    format!(
                        "a rounding step of {step:e} is larger than the smallest dose it applies to ({dose:e}: {what}), so doses would round to 0: a typo in the exponent?"
                    ),
                );
            }
        }
        round_to
    }

    /// The most one dose may be: positive, and not below a fixed dose.
    fn max_per_dose(
        &mut self,
        r: &RawDose,
        amount: DoseAmount,
        line: Option<usize>,
        field: &str,
    ) -> Option<f64> {
        let max_per_dose = r
            .max_per_dose
            .as_ref()
            .map(|v| self.c.positive(v, format!("{field}.max_per_dose")));
        if let (DoseAmount::Fixed(x), Some(max)) = (amount, max_per_dose)
            && x > max
        {
            self.c.err(
                line,
                format!("{field}.max_per_dose"),
                format!(
                    "the fixed dose {} exceeds max_per_dose {}",
                    shown(x),
                    shown(max)
                ),
            );
        }
        max_per_dose
    }

    /// The tolerance for a dose given, or dosesim's default, marked assumed.
    fn tolerance(&mut self, r: &RawDose, field: &str) -> Sourced<f64> {
        match &r.tolerance_pct {
            Some(t) => {
                let at = self.c.line(t);
                let t = t.get_ref();
                let v = *t.value.get_ref();
                if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                    self.c.err(
                        self.c.line(&t.value),
                        format!("{field}.tolerance_pct.value"),
                        format!("{} is not a per cent from 0 to 100", shown(v)),
                    );
                }
                self.c.sourced(t, at, format!("{field}.tolerance_pct"), v)
            }
            None => Sourced {
                value: DEFAULT_TOLERANCE_PCT,
                provenance: Provenance {
                    source: None,
                    assumed: Some(format!(
                        "The record states no tolerance for a dose given. dosesim's default: a dose more than {DEFAULT_TOLERANCE_PCT}% from the planned one is flagged dose_low or dose_high."
                    )),
                },
            },
        }
    }

    /// Which weight a per-kg dose follows, or dosesim's default (current), marked assumed.
    fn weight_basis(
        &mut self,
        r: &RawDose,
        amount: DoseAmount,
        field: &str,
    ) -> Sourced<WeightBasis> {
        match &r.weight_basis {
            Some(w) => {
                let at = self.c.line(w);
                let w = w.get_ref();
                let value = WeightBasis::parse(w.value.get_ref()).unwrap_or_else(|| {
                    let names: Vec<&str> = <WeightBasis as strum::VariantArray>::VARIANTS
                        .iter()
                        .map(|w| w.as_str())
                        .collect();
                    self.c.err(
                        at,
                        format!("{field}.weight_basis.value"),
                        format!(
                            "unknown weight basis '{}': use {} (the weight in force on the dose's date, or the weight at enrolment)",
                            w.value.get_ref(),
                            names.join(" or ")
                        ),
                    );
                    WeightBasis::Current
                });
                if !matches!(amount, DoseAmount::PerKg(_)) {
                    self.c.err(
                        at,
                        format!("{field}.weight_basis"),
                        "a weight basis is for a dose in cells/kg: this dose does not depend on weight",
                    );
                }
                self.c.sourced(w, at, format!("{field}.weight_basis"), value)
            }
            None => Sourced {
                value: WeightBasis::Current,
                provenance: Provenance {
                    source: None,
                    assumed: Some(
                        "The record does not say whether a per-kg dose follows a patient's weight during treatment. dosesim's default: a weight recorded in the administration record re-doses the per-kg doses not yet given (current)."
                            .into(),
                    ),
                },
            },
        }
    }

    fn timing(&mut self, r: &RawTiming, line: Option<usize>, field: String) -> Timing {
        let intervals: Vec<(&str, &Spanned<i64>)> = [
            ("every_days", &r.every_days),
            ("every_weeks", &r.every_weeks),
            ("every_months", &r.every_months),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let rule = match (&r.days, intervals.as_slice()) {
            (Some(days), []) => self.listed_days(r, days, line, &field),
            (None, [(key, every)]) => self.every(r, key, every, line, &field),
            _ => {
                self.c.err(
                    line,
                    field.clone(),
                    "give either `days = [...]` or one of every_days, every_weeks, every_months with a count",
                );
                TimingRule::Days(vec![1])
            }
        };
        // Each rule's problems are reported on its own line.
        let closed_days = self.closed_days(r, &field);
        let provenance = self.c.provenance(&r.source, &r.assumed, line, field);
        Timing {
            rule,
            after: None,
            provenance,
            closed_days,
        }
    }

    /// `days = [...]`: every study day listed, in increasing order.
    fn listed_days(
        &mut self,
        r: &RawTiming,
        days: &Spanned<Vec<Spanned<i64>>>,
        line: Option<usize>,
        field: &str,
    ) -> TimingRule {
        if r.count.is_some() || r.start_day.is_some() {
            self.c.err(
                line,
                field,
                "`days` lists every study day: drop start_day and count",
            );
        }
        if days.get_ref().is_empty() {
            self.c
                .err(self.c.line(days), format!("{field}.days"), "lists no day");
        }
        if days.get_ref().len() > limits::MAX_OCCURRENCES {
            self.c.err(
                self.c.line(days),
                format!("{field}.days"),
                format!(
                    "lists {} days; a component may occur at most {} times",
                    days.get_ref().len(),
                    limits::MAX_OCCURRENCES
                ),
            );
        }
        let mut out: Vec<u32> = Vec::new();
        for (k, d) in days.get_ref().iter().enumerate() {
            let day = self.day(d, format!("{field}.days[{k}]"));
            if out.last().is_some_and(|&prev| day <= prev) {
                self.c.err(
                    self.c.line(d),
                    format!("{field}.days[{k}]"),
                    "days must be in increasing order, each once",
                );
            }
            out.push(day);
        }
        TimingRule::Days(out)
    }

    /// `every_days`, `every_weeks` or `every_months` (`key`) with a count, ending within
    /// the study days dosesim can date.
    fn every(
        &mut self,
        r: &RawTiming,
        key: &str,
        every: &Spanned<i64>,
        line: Option<usize>,
        field: &str,
    ) -> TimingRule {
        let start_day = match &r.start_day {
            Some(s) => self.day(s, format!("{field}.start_day")),
            None => 1,
        };
        let n = self.count(every, format!("{field}.{key}"), 1);
        let count = match &r.count {
            Some(c) => self.count(c, format!("{field}.count"), 1),
            None => {
                self.c.err(
                    line,
                    format!("{field}.count"),
                    format!("{key} needs a count"),
                );
                1
            }
        };
        let interval = match key {
            "every_days" => Interval::Days(n),
            "every_weeks" => Interval::Weeks(n),
            _ => Interval::Months(n),
        };
        let rule = TimingRule::Every {
            start_day,
            interval,
            count,
        };
        if rule
            .fixed_days()
            .is_some_and(|d| d.last().is_some_and(|&l| i64::from(l) > MAX_DAY))
        {
            self.c.err(
                line,
                field,
                format!("the last occurrence falls after study day {MAX_DAY}"),
            );
        }
        // Month steps: the last occurrence at most MAX_DAY days (100 years) after
        // day 1 too, counted with the longest months, so that no start date a roster
        // may hold runs the schedule past the calendar (a typo of 1000 for 10 did).
        if let Interval::Months(m) = interval {
            let months = u64::from(m) * u64::from(count.saturating_sub(1));
            let last_day = u64::from(start_day) + months * 31;
            if last_day > MAX_DAY as u64 {
                self.c.err(
                    line,
                    field,
                    format!(
                        "the last occurrence falls {months} calendar months after study day {start_day}, past study day {MAX_DAY} (100 years)"
                    ),
                );
            }
        }
        rule
    }

    /// The rules for a closed day, a window, a gap and an anchor, each with its provenance.
    fn closed_days(&mut self, r: &RawTiming, field: &str) -> ClosedDayRules {
        ClosedDayRules {
            on_closed: r.on_closed_day.as_ref().map(|o| {
                self.on_closed(
                    o.get_ref(),
                    self.c.line(o),
                    format!("{field}.on_closed_day"),
                )
            }),
            window: r
                .window
                .as_ref()
                .map(|w| self.window(w.get_ref(), None, self.c.line(w), format!("{field}.window"))),
            min_gap_days: r.min_gap_days.as_ref().map(|g| {
                let days = self.count(&g.get_ref().value, format!("{field}.min_gap_days.value"), 1);
                self.c.sourced(
                    g.get_ref(),
                    self.c.line(g),
                    format!("{field}.min_gap_days"),
                    days,
                )
            }),
            anchor: r.anchor.as_ref().map(|a| {
                let at = self.c.line(a);
                let a = a.get_ref();
                let value = Anchor::parse(a.value.get_ref()).unwrap_or_else(|| {
                    self.c.err(
                        at,
                        format!("{field}.anchor.value"),
                        format!(
                            "unknown anchor '{}': use plan or previous",
                            a.value.get_ref()
                        ),
                    );
                    Anchor::Plan
                });
                self.c.sourced(a, at, format!("{field}.anchor"), value)
            }),
        }
    }

    /// An `on_closed_day = { value = "next", source or assumed }`.
    fn on_closed(
        &mut self,
        o: &RawValue<String>,
        line: Option<usize>,
        field: String,
    ) -> Sourced<OnClosed> {
        let value = OnClosed::parse(o.value.get_ref()).unwrap_or_else(|| {
            let names: Vec<&str> = OnClosed::ALL.iter().map(|(_, n)| *n).collect();
            self.c.err(
                line,
                format!("{field}.value"),
                format!(
                    "unknown rule '{}' for a closed day: use {}",
                    o.value.get_ref(),
                    names.join(", ")
                ),
            );
            OnClosed::Keep
        });
        self.c.sourced(o, line, field, value)
    }

    /// A window of days before and after a planned date; `day`, when given, is the
    /// planned study day, which the window may not reach before.
    fn window(
        &mut self,
        rw: &RawWindow,
        day: Option<u32>,
        line: Option<usize>,
        field: String,
    ) -> Window {
        let before = self.count(&rw.days_before, format!("{field}.days_before"), 0);
        let after = self.count(&rw.days_after, format!("{field}.days_after"), 0);
        if let Some(day) = day
            && i64::from(before) >= i64::from(day)
        {
            self.c.err(
                self.c.line(&rw.days_before),
                format!("{field}.days_before"),
                format!("a window {before} days early would open before study day 1"),
            );
        }
        Window {
            days_before: before,
            days_after: after,
            provenance: self.c.provenance(&rw.source, &rw.assumed, line, field),
        }
    }

    /// Resolves `timing.after` once all components of the arm are known.
    fn resolve_after(&mut self, arm: &str, raw: &[Spanned<RawComponent>], out: &mut [Component]) {
        let ids: Vec<String> = out.iter().map(|c| c.id.clone()).collect();
        for (i, c) in raw.iter().enumerate() {
            let rt = &c.get_ref().timing;
            let field = format!("arm '{arm}' components[{i}].timing");
            let Some(after) = &rt.after else {
                if let Some(o) = &rt.after_occurrences {
                    self.c.err(
                        self.c.line(o),
                        format!("{field}.after_occurrences"),
                        "after_occurrences needs `after`",
                    );
                }
                continue;
            };
            let Some(target) = ids.iter().position(|id| id == after.get_ref()) else {
                self.c.err(
                    self.c.line(after),
                    format!("{field}.after"),
                    format!(
                        "'{}' is not a component of arm '{arm}' (components: {})",
                        after.get_ref(),
                        ids.join(", ")
                    ),
                );
                continue;
            };
            if target == i {
                self.c.err(
                    self.c.line(after),
                    format!("{field}.after"),
                    "a component cannot follow itself",
                );
                continue;
            }
            let count = out[i].timing.rule.count();
            let occurrences = self.after_occurrences(rt, count, &field);
            let rule = After {
                component: target,
                occurrences,
            };
            self.after_same_days(out, (i, target), &rule, after, &field);
            out[i].timing.after = Some(rule);
        }
        self.after_loops(arm, raw, out);
    }

    /// The occurrences `after_occurrences` names, each one of the `count` there are.
    fn after_occurrences(&mut self, rt: &RawTiming, count: u32, field: &str) -> Option<Vec<u32>> {
        rt.after_occurrences.as_ref().map(|o| {
            o.get_ref()
                .iter()
                .map(|n| {
                    let v = *n.get_ref();
                    if !(1..=i64::from(count)).contains(&v) {
                        self.c.err(
                            self.c.line(n),
                            format!("{field}.after_occurrences"),
                            format!("occurrence {v} does not exist (1 to {count})"),
                        );
                    }
                    v.clamp(1, i64::from(count.max(1))) as u32
                })
                .collect::<Vec<u32>>()
        })
    }

    /// Every occurrence of component `i` that follows `target` falls on a day `target` is
    /// given.
    fn after_same_days(
        &mut self,
        out: &[Component],
        (i, target): (usize, usize),
        rule: &After,
        after: &Spanned<String>,
        field: &str,
    ) {
        match (
            out[i].timing.rule.fixed_days(),
            out[target].timing.rule.fixed_days(),
        ) {
            (Some(mine), Some(theirs)) => {
                for (k, day) in mine.iter().enumerate() {
                    if rule.applies_to(k as u32 + 1) && !theirs.contains(day) {
                        self.c.err(
                            self.c.line(after),
                            format!("{field}.after"),
                            format!(
                                "occurrence {} (study day {day}) is to follow '{}', which is not given on that day",
                                k + 1,
                                after.get_ref()
                            ),
                        );
                    }
                }
            }
            _ => self.c.err(
                self.c.line(after),
                format!("{field}.after"),
                "`after` needs both components on fixed study days (not month intervals)",
            ),
        }
    }

    /// A chain of `after` must not loop back on itself.
    fn after_loops(&mut self, arm: &str, raw: &[Spanned<RawComponent>], out: &[Component]) {
        for (start, raw_component) in raw.iter().enumerate() {
            let mut at = start;
            for _ in 0..=out.len() {
                match &out[at].timing.after {
                    Some(a) => at = a.component,
                    None => break,
                }
                if at == start {
                    self.c.err(
                        self.c.line(raw_component),
                        format!("arm '{arm}' components[{start}].timing.after"),
                        "the `after` chain loops back to this component",
                    );
                    break;
                }
            }
        }
    }

    fn arms_filter(
        &mut self,
        arms: &Option<Vec<Spanned<String>>>,
        known: &[String],
        field: &str,
    ) -> Option<Vec<String>> {
        arms.as_ref().map(|list| {
            list.iter()
                .map(|a| {
                    if !known.contains(a.get_ref()) {
                        self.c.err(
                            self.c.line(a),
                            format!("{field}.arms"),
                            format!("unknown arm '{}' (arms: {})", a.get_ref(), known.join(", ")),
                        );
                    }
                    a.get_ref().clone()
                })
                .collect()
        })
    }

    fn visits(
        &mut self,
        raw: &[Spanned<RawVisit>],
        arms: &[String],
    ) -> Vec<(Visit, Option<Vec<String>>)> {
        let mut seen = HashSet::new();
        raw.iter()
            .enumerate()
            .map(|(i, v)| {
                let rv = v.get_ref();
                let field = format!("visits[{i}]");
                let id = self.id(&rv.id, format!("{field}.id"));
                if !seen.insert(id.clone()) {
                    self.c.err(
                        self.c.line(&rv.id),
                        format!("{field}.id"),
                        format!("visit '{id}' is defined twice"),
                    );
                }
                let day = self.day(&rv.day, format!("{field}.day"));
                let window = rv.window.as_ref().map(|rw| {
                    self.window(rw, Some(day), self.c.line(v), format!("{field}.window"))
                });
                let on_closed = rv.on_closed_day.as_ref().map(|o| {
                    self.on_closed(
                        o.get_ref(),
                        self.c.line(o),
                        format!("{field}.on_closed_day"),
                    )
                });
                let only = self.arms_filter(&rv.arms, arms, &field);
                let provenance = self
                    .c
                    .provenance(&rv.source, &rv.assumed, self.c.line(v), field);
                (
                    Visit {
                        id,
                        name: rv.name.clone(),
                        day,
                        window,
                        provenance,
                        on_closed,
                    },
                    only,
                )
            })
            .collect()
    }

    fn background(
        &mut self,
        raw: &[Spanned<RawBackground>],
        arms: &[String],
    ) -> Vec<(Background, Option<Vec<String>>)> {
        raw.iter()
            .enumerate()
            .map(|(i, b)| {
                let rb = b.get_ref();
                let field = format!("background[{i}]");
                let id = self.id(&rb.id, format!("{field}.id"));
                let start_day = self.day(&rb.start_day, format!("{field}.start_day"));
                let only = self.arms_filter(&rb.arms, arms, &field);
                let provenance = self
                    .c
                    .provenance(&rb.source, &rb.assumed, self.c.line(b), field);
                (
                    Background {
                        id,
                        name: rb.name.clone(),
                        detail: rb.detail.clone(),
                        start_day,
                        until: rb.until.clone(),
                        provenance,
                    },
                    only,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Serde never speaks to a user: a bundled scenario with any value changed to any
    /// kind is refused by the shape check, or read.
    #[test]
    fn the_shape_check_and_the_reader_agree() {
        for file in super::files_in(Path::new("scenarios")).unwrap() {
            let text = std::fs::read_to_string(&file).unwrap();
            crate::checker::assert_agrees::<super::RawScenario>(&text, &super::shape::SCENARIO);
        }
    }
}
