//! Rosters: the patients of a cohort, from CSV. Every row is checked before anything is
//! written, and all problems are reported together, each with its line (the header is
//! line 1) and column.
//!
//! Required columns: `patient_id,arm,weight_kg,start_date`; other columns (site, say) are
//! allowed and ignored.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::error::{InputError, Problem};
use crate::model::Trial;
use crate::scenario::is_safe_id;
use crate::schedule::{ScheduleError, check_weight};
use crate::timing::parse_date;

pub const REQUIRED: [&str; 4] = ["patient_id", "arm", "weight_kg", "start_date"];

/// One roster row.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    /// Index into [`Trial::arms`].
    pub arm: usize,
    pub weight_kg: f64,
    pub start: NaiveDate,
    /// Line in the roster file.
    pub line: usize,
}

/// A checked roster, with the patients' order by id.
#[derive(Debug, Clone)]
pub struct Roster {
    pub entries: Vec<Entry>,
    /// Indices into `entries`, sorted by patient id.
    pub by_id: Vec<u32>,
    /// Weights outside the scenario's usual range, one line each.
    pub warnings: Vec<String>,
}

/// Reads and checks a roster against a trial.
pub fn read(path: &Path, trial: &Trial) -> Result<Roster, InputError> {
    let file = std::fs::File::open(path)
        .map_err(|e| InputError::one(Problem::new(path, format!("cannot read roster: {e}"))))?;
    read_from(path, std::io::BufReader::with_capacity(1 << 20, file), trial)
}

/// As [`read`], from any reader; `path` names the input in messages.
pub fn read_from(path: &Path, input: impl std::io::Read, trial: &Trial) -> Result<Roster, InputError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(input);
    let problem = |line: usize, col: &str, msg: String| {
        Problem::new(path, msg).at(Some(line)).field(col.to_string())
    };
    let headers = rdr
        .byte_headers()
        .map_err(|e| InputError::one(Problem::new(path, format!("cannot read the header: {e}")).at(Some(1))))?
        .clone();
    let mut col = [usize::MAX; 4];
    let mut problems = Vec::new();
    for (k, name) in REQUIRED.iter().enumerate() {
        match headers.iter().position(|h| h == name.as_bytes()) {
            Some(i) => col[k] = i,
            None => problems.push(problem(
                1,
                name,
                format!(
                    "missing column '{name}' (the header needs {})",
                    REQUIRED.join(",")
                ),
            )),
        }
    }
    InputError::check(problems.clone())?;

    let arms: HashMap<&[u8], usize> = trial
        .arms
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_bytes(), i))
        .collect();
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                problems.push(Problem::new(path, format!("unreadable CSV: {e}")).at(Some(line)));
                break;
            }
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let get = |k: usize| rec.get(col[k]).map(|b| String::from_utf8_lossy(b).trim().to_string());
        let before = problems.len();

        let id = get(0).unwrap_or_default();
        if id.is_empty() {
            problems.push(problem(line, "patient_id", "missing patient_id".into()));
        } else if !is_safe_id(&id) {
            problems.push(problem(
                line,
                "patient_id",
                format!("'{id}' is not a safe id: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it becomes part of file names)"),
            ));
        }
        let arm_text = get(1).unwrap_or_default();
        let arm = arms.get(arm_text.as_bytes()).copied();
        if arm.is_none() {
            problems.push(problem(
                line,
                "arm",
                if arm_text.is_empty() {
                    format!("missing arm (arms: {})", trial.arm_ids().join(", "))
                } else {
                    format!("unknown arm '{arm_text}' (arms: {})", trial.arm_ids().join(", "))
                },
            ));
        }
        let weight_text = get(2).unwrap_or_default();
        let weight = match weight_text.parse::<f64>() {
            Ok(w) => match check_weight(w, &trial.weight) {
                Ok(None) => Some(w),
                Ok(Some(warn)) => {
                    warnings.push(format!("{}:{line}: patient {id}: {warn}", path.display()));
                    Some(w)
                }
                Err(e) => {
                    problems.push(problem(line, "weight_kg", e.to_string()));
                    None
                }
            },
            Err(_) => {
                problems.push(problem(
                    line,
                    "weight_kg",
                    if weight_text.is_empty() {
                        "missing weight_kg".into()
                    } else {
                        format!("'{weight_text}' is not a weight in kg")
                    },
                ));
                None
            }
        };
        let start = match parse_date(&get(3).unwrap_or_default()) {
            Ok(d) => Some(d),
            Err(msg) => {
                problems.push(problem(line, "start_date", msg));
                None
            }
        };
        if problems.len() == before {
            entries.push(Entry {
                id,
                arm: arm.unwrap_or(0),
                weight_kg: weight.unwrap_or(0.0),
                start: start.unwrap_or_default(),
                line,
            });
        } else if !id.is_empty() {
            // Keep the id so that a duplicate of a bad row is still reported.
            entries.push(Entry {
                id,
                arm: usize::MAX,
                weight_kg: 0.0,
                start: NaiveDate::default(),
                line,
            });
        }
    }
    if entries.is_empty() && problems.is_empty() {
        problems.push(Problem::new(path, "the roster has no patients").at(Some(2)));
    }

    let mut by_id: Vec<u32> = (0..entries.len() as u32).collect();
    let sorted = entries.windows(2).all(|w| w[0].id <= w[1].id);
    if !sorted {
        by_id.par_sort_by(|&a, &b| entries[a as usize].id.cmp(&entries[b as usize].id));
    }
    for w in by_id.windows(2) {
        let (a, b) = (&entries[w[0] as usize], &entries[w[1] as usize]);
        if a.id == b.id {
            let (first, again) = if a.line < b.line { (a, b) } else { (b, a) };
            problems.push(problem(
                again.line,
                "patient_id",
                format!("patient_id '{}' is used again (first on line {})", again.id, first.line),
            ));
        }
    }
    problems.sort_by_key(|p| p.line);
    InputError::check(problems)?;
    Ok(Roster {
        entries,
        by_id,
        warnings,
    })
}

/// A schedule that cannot be made for a roster row, as a problem on that row.
pub fn schedule_problem(path: &Path, e: &Entry, err: ScheduleError) -> Problem {
    let col = match err {
        ScheduleError::DateOutOfRange(_) => "start_date",
        _ => "weight_kg",
    };
    Problem::new(path, format!("patient {}: {err}", e.id))
        .at(Some(e.line))
        .field(col)
}
