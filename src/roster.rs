//! Rosters: the patients of a cohort, from CSV. Every row is checked before anything is
//! written, and all problems are reported together, each with its line (the header is
//! line 1) and column.
//!
//! Required columns: `patient_id,arm,weight_kg,start_date`; optional `site` (the patient's
//! site calendar, [`crate::site`]); other columns (ward, say) are allowed and ignored.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;

use crate::csv_in;
use crate::error::{InputError, Problem};
use crate::model::{Kg, SAFE_ID_RULE, Trial, is_safe_id};
use crate::schedule::{Plan, ScheduleError, check_weight};
use crate::site::{Sites, Span, load_each};
use crate::timing::parse_date;

pub const REQUIRED: [&str; 4] = ["patient_id", "arm", "weight_kg", "start_date"];

/// One roster row.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Box<str>,
    /// As entered.
    pub weight_kg: Kg,
    pub start: NaiveDate,
    /// Line in the roster file.
    pub line: u32,
    /// Index into [`Trial::arms`].
    pub arm: u16,
    /// The site whose calendar the patient follows (the optional `site` column), if any,
    /// as an index into [`Roster::sites`] (two bytes, where the name would take sixteen).
    pub site: Option<u16>,
}

/// A checked roster, with the patients' order by id.
#[derive(Debug, Clone)]
pub struct Roster {
    pub entries: Vec<Entry>,
    /// Indices into `entries`, sorted by patient id.
    pub by_id: Vec<u32>,
    /// Weights outside the scenario's usual range, one line each.
    pub warnings: Vec<String>,
    /// Ids a spreadsheet would read as a number, date or boolean, one line each.
    pub id_warnings: Vec<String>,
    /// Start dates years away from the rest of the roster (a typo such as 0207 for 2027?).
    pub date_warnings: Vec<String>,
    /// The site ids the `site` column names, each once.
    pub sites: Vec<Box<str>>,
    /// With a `site` column, the patients whose cell is empty (no site calendar): one line.
    pub site_warnings: Vec<String>,
}

impl Roster {
    /// The site a patient follows, if the roster names one.
    pub fn site(&self, e: &Entry) -> Option<&str> {
        e.site.map(|k| &*self.sites[k as usize])
    }
}

/// A start date this many days or more from the roster's median start is warned about.
pub const FAR_START_DAYS: i64 = 5 * 365;

/// Reads and checks a roster against a trial.
pub fn read(path: &Path, trial: &Trial) -> Result<Roster, InputError> {
    parse(path, file_bytes(path)?, trial)
}

/// A roster file's bytes, or why it cannot be read (missing, too large).
pub fn file_bytes(path: &Path) -> Result<Vec<u8>, InputError> {
    let max = crate::limits::MAX_ROSTER_BYTES;
    crate::limits::read_input(path, max, "a roster", "a million patients take about 35 MB")
        .map_err(|msg| InputError::one(Problem::new(path, msg)))
}

/// What one slice of the rows gave.
#[derive(Default)]
struct Part {
    entries: Vec<Entry>,
    /// The first [`crate::error::MAX_LISTED`] problems (rows come in line order).
    problems: Vec<Problem>,
    /// Problems found in all, listed or not.
    found: usize,
    /// The lines of the rows with a problem.
    bad_lines: Vec<u32>,
    warnings: Vec<String>,
    id_warnings: Vec<String>,
    /// This slice's site ids, in first-seen order (entries index them until joined).
    sites: Vec<Box<str>>,
}

impl Part {
    fn problem(&mut self, p: Problem) {
        self.found += 1;
        if self.problems.len() < crate::error::MAX_LISTED {
            self.problems.push(p);
        }
    }
}

/// As [`read`], from the file's bytes; `path` names the input in messages.
///
/// A large roster without quotes (the usual machine-written kind) is split at line ends
/// and its slices checked in parallel ([`csv_in::slices`]); anything else is read in one
/// pass. It takes the bytes so that it can free them (a million-row roster is 30 MB)
/// before gathering the checked rows.
pub fn parse(path: &Path, bytes: Vec<u8>, trial: &Trial) -> Result<Roster, InputError> {
    let header = csv_in::Header::read(path, &bytes)?;
    let cx = Context::new(path, trial, &header)?;
    let parts: Vec<Part> = csv_in::slices(&bytes)
        .par_iter()
        .map(|s| cx.rows(*s))
        .collect();
    drop(bytes);
    let mut joined = join(parts);
    let entries = &joined.entries;
    if entries.is_empty() && joined.problems.is_empty() {
        joined
            .problems
            .push(Problem::new(path, "the roster has no patients").at(Some(2)));
    }
    let by_id = by_id(entries);
    for p in used_again(path, entries, &by_id)
        .into_iter()
        .chain(case_collisions(path, entries))
    {
        joined.bad_lines.extend(p.line.map(|l| l as u32));
        joined.problems.push(p);
    }
    let Joined {
        entries,
        warnings,
        id_warnings,
        sites,
        mut problems,
        mut bad_lines,
    } = joined;
    if !problems.is_empty() {
        // The rows that read well are expanded too, so that a schedule that cannot be made
        // (a start date that runs it past the calendar) is reported with the other problems
        // now, not after they are fixed.
        bad_lines.sort_unstable();
        bad_lines.dedup();
        schedule_problems(path, trial, &entries, &bad_lines, &mut problems);
    }
    drop(bad_lines);
    // In line order, then "... and N more problems" last.
    problems.check(path)?;
    let date_warnings = far_starts(path, &entries);
    let site_warnings = match cx.site_col {
        Some(_) => blank_sites(path, &entries),
        None => Vec::new(),
    };
    Ok(Roster {
        entries,
        by_id,
        warnings,
        id_warnings,
        date_warnings,
        sites,
        site_warnings,
    })
}

/// The slices' rows joined in file order, with what they found.
struct Joined {
    entries: Vec<Entry>,
    warnings: Vec<String>,
    id_warnings: Vec<String>,
    sites: Vec<Box<str>>,
    /// At most the first few hundred problems are kept (997,278 bad rows once made 80 MB
    /// of messages); the rest are counted.
    problems: crate::error::Capped,
    /// The lines of the rows with a problem.
    bad_lines: Vec<u32>,
}

/// The slices' rows joined in file order, each slice's site indices made the roster's.
fn join(parts: Vec<Part>) -> Joined {
    let mut joined = Joined {
        entries: Vec::with_capacity(parts.iter().map(|p| p.entries.len()).sum()),
        warnings: Vec::new(),
        id_warnings: Vec::new(),
        sites: Vec::new(),
        problems: crate::error::Capped::new(),
        bad_lines: Vec::new(),
    };
    let mut site_index: HashMap<Box<str>, u16> = HashMap::new();
    let mut more = 0usize;
    for p in parts {
        // Each slice's site indices become the roster's.
        let mut map = Vec::with_capacity(p.sites.len());
        for s in p.sites {
            let next = joined.sites.len();
            let k = *site_index.entry(s.clone()).or_insert_with(|| {
                joined.sites.push(s);
                next as u16
            });
            map.push(k);
        }
        // Each slice's entries are freed as soon as they are moved over.
        joined.entries.extend(p.entries.into_iter().map(|mut e| {
            e.site = e.site.map(|k| map[k as usize]);
            e
        }));
        more += p.found - p.problems.len();
        joined.bad_lines.extend(p.bad_lines);
        joined.problems.extend(p.problems);
        joined.warnings.extend(p.warnings);
        joined.id_warnings.extend(p.id_warnings);
    }
    joined.problems.count_more(more);
    joined
}

/// Indices into `entries`, sorted by patient id (file order among equal ids).
fn by_id(entries: &[Entry]) -> Vec<u32> {
    let mut by_id: Vec<u32> = (0..entries.len() as u32).collect();
    if !entries.windows(2).all(|w| w[0].id <= w[1].id) {
        by_id.par_sort_by(|&a, &b| entries[a as usize].id.cmp(&entries[b as usize].id));
    }
    by_id
}

/// Each row whose id an earlier row uses, as a problem naming where it was first used.
fn used_again(path: &Path, entries: &[Entry], by_id: &[u32]) -> Vec<Problem> {
    let mut problems = Vec::new();
    // Equal ids stand together in id order, in file order among themselves (the sort is
    // stable), so the first of a run is where the id was first used.
    let mut first = None::<&Entry>;
    for w in by_id.windows(2) {
        let (a, b) = (&entries[w[0] as usize], &entries[w[1] as usize]);
        if a.id != b.id {
            first = None;
        } else {
            let first = *first.get_or_insert(a);
            let again = b;
            problems.push(
                Problem::new(
                    path,
                    format!(
                        "patient_id '{}' is used again (first on line {})",
                        again.id, first.line
                    ),
                )
                .at(Some(again.line as usize))
                .field("patient_id"),
            );
        }
    }
    problems
}

/// The patients of a roster with a `site` column whose cell is empty, as one warning:
/// they follow no site calendar, and a sheet or calendar of a site leaves them out.
fn blank_sites(path: &Path, entries: &[Entry]) -> Vec<String> {
    let mut lines: Vec<u32> = entries
        .iter()
        .filter(|e| e.site.is_none())
        .map(|e| e.line)
        .collect();
    if lines.is_empty() {
        return Vec::new();
    }
    lines.sort_unstable();
    let shown: Vec<String> = lines.iter().take(10).map(u32::to_string).collect();
    let more = if lines.len() > 10 { ", ..." } else { "" };
    vec![format!(
        "{}: {} an empty site cell (line{} {}{more}): no site calendar (every day open), and no site's sheet or calendar file",
        path.display(),
        match lines.len() {
            1 => "1 patient has".to_string(),
            n => format!("{n} patients have"),
        },
        if lines.len() == 1 { "" } else { "s" },
        shown.join(", ")
    )]
}

/// The schedules that cannot be made for the rows not on a `bad` line.
fn schedule_problems(
    path: &Path,
    trial: &Trial,
    entries: &[Entry],
    bad: &[u32],
    problems: &mut crate::error::Capped,
) {
    let plans: Vec<Plan> = trial.arms.iter().map(|a| Plan::new(trial, a)).collect();
    // A slice at a time, so that a million unusable rows never hold a million messages.
    for slice in entries.chunks(1 << 16) {
        let found: Vec<Problem> = slice
            .par_iter()
            .filter(|e| bad.binary_search(&e.line).is_err() && (e.arm as usize) < plans.len())
            .map_init(Vec::new, |buf, e| {
                plans[e.arm as usize]
                    .expand(&crate::schedule::Expand::new(e.weight_kg, e.start), buf)
                    .err()
                    .map(|err| schedule_problem(path, e, err))
            })
            .flatten()
            .collect();
        problems.extend(found);
    }
}

/// Warnings for start dates [`FAR_START_DAYS`] or more from the roster's median start date,
/// each with its line, in file order (the first 10 are printed).
fn far_starts(path: &Path, entries: &[Entry]) -> Vec<String> {
    // Every start within five years of every other (the usual roster): none is far from
    // the median, found without computing it.
    let (lo, hi) = entries.iter().fold((i32::MAX, i32::MIN), |(lo, hi), e| {
        let d = e.start.num_days_from_ce();
        (lo.min(d), hi.max(d))
    });
    if entries.len() < 2 || i64::from(hi) - i64::from(lo) < FAR_START_DAYS {
        return Vec::new();
    }
    let mut days: Vec<i32> = entries.iter().map(|e| e.start.num_days_from_ce()).collect();
    let mid = days.len() / 2;
    let median = *days.select_nth_unstable(mid).1;
    let median_date = NaiveDate::from_num_days_from_ce_opt(median).unwrap_or_default();
    let mut out: Vec<(u32, String)> = entries
        .iter()
        .filter_map(|e| {
            let off = i64::from(e.start.num_days_from_ce()) - i64::from(median);
            (off.abs() >= FAR_START_DAYS).then(|| {
                let years = off.abs() as f64 / 365.2425;
                (
                    e.line,
                    format!(
                        "{}:{}: patient {}: start_date {} is {:.0} years {} the roster's median start date {median_date}: a typo in the year?",
                        path.display(),
                        e.line,
                        e.id,
                        e.start,
                        years,
                        if off < 0 { "before" } else { "after" }
                    ),
                )
            })
        })
        .collect();
    out.sort_by_key(|w| w.0);
    out.into_iter().map(|w| w.1).collect()
}

/// Ids that differ only in letter case (`P1a`, `P1A`): their files would overwrite each
/// other on case-insensitive file systems (macOS, Windows), so they are refused.
fn case_collisions(path: &Path, entries: &[Entry]) -> Vec<Problem> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    // Two ids can only differ in case if the roster has both lower- and upper-case letters
    // (P0000001 ... never can): then there is nothing to compare.
    let has = |f: fn(&u8) -> bool| entries.par_iter().any(|e| e.id.as_bytes().iter().any(f));
    if !(has(u8::is_ascii_lowercase) && has(u8::is_ascii_uppercase)) {
        return Vec::new();
    }
    let folded_hash = |id: &str| {
        let mut h = DefaultHasher::new();
        for b in id.bytes() {
            b.to_ascii_lowercase().hash(&mut h);
        }
        h.finish()
    };
    let mut keys: Vec<(u64, u32)> = entries
        .par_iter()
        .enumerate()
        .map(|(i, e)| (folded_hash(&e.id), i as u32))
        .collect();
    keys.par_sort_unstable();
    let mut problems = Vec::new();
    for w in keys.windows(2) {
        if w[0].0 != w[1].0 {
            continue;
        }
        let (a, b) = (&entries[w[0].1 as usize], &entries[w[1].1 as usize]);
        if a.id != b.id && a.id.eq_ignore_ascii_case(&b.id) {
            let (first, again) = if a.line < b.line { (a, b) } else { (b, a) };
            problems.push(
                Problem::new(
                    path,
                    format!(
                        "patient_id '{}' differs from '{}' (line {}) only in letter case; their files would collide on some systems",
                        again.id, first.id, first.line
                    ),
                )
                .at(Some(again.line as usize))
                .field("patient_id"),
            );
        }
    }
    problems
}

/// What checking a row needs: the inputs and the columns' places.
struct Context<'a> {
    path: &'a Path,
    trial: &'a Trial,
    /// Column of the optional `site` field.
    site_col: Option<usize>,
    /// Column of each [`REQUIRED`] field.
    col: [usize; 4],
    /// Number of fields in the header; every row must have as many.
    fields: usize,
    arms: HashMap<&'a [u8], u16>,
}

impl<'a> Context<'a> {
    /// The header checked (every required column there, none twice), and the arms by id.
    fn new(path: &'a Path, trial: &'a Trial, header: &csv_in::Header) -> Result<Self, InputError> {
        let mut problems = header.twice(path, &REQUIRED, &["site"]);
        let (col, missing) = header.columns(path, &REQUIRED);
        problems.extend(missing);
        // A file saved with tabs (or semicolons) between its columns misses them all for
        // one reason: said once.
        if col.contains(&usize::MAX)
            && let Some(hint) = header.other_separator(&REQUIRED)
        {
            return Err(InputError::one(Problem::new(path, hint).at(Some(1))));
        }
        InputError::check(problems)?;
        Ok(Context {
            path,
            trial,
            col,
            site_col: header.find("site"),
            fields: header.len(),
            arms: trial
                .arms
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id.as_bytes(), i as u16))
                .collect(),
        })
    }

    fn problem(&self, line: usize, col: &str, msg: String) -> Problem {
        Problem::new(self.path, msg).at(Some(line)).field(col)
    }

    /// Checks every row of a slice of the roster (each with its line, counted by
    /// [`csv_in`] from the row's byte offset).
    fn rows(&self, slice: csv_in::Slice) -> Part {
        // About one entry a line: sized once, so a million rows never grow by doubling.
        let mut part = Part {
            entries: Vec::with_capacity(slice.line_ends() + 1),
            ..Part::default()
        };
        let mut rows = slice.rows();
        let mut site_index: HashMap<String, u16> = HashMap::new();
        let mut rec = csv::ByteRecord::new();
        while let Some(read) = rows.read(&mut rec) {
            let line = match read {
                Ok(line) => line,
                Err(e) => {
                    let msg = format!("unreadable CSV: {}", e.error);
                    part.problem(Problem::new(self.path, msg).at(e.line));
                    break;
                }
            };
            if csv_in::is_blank(&rec) {
                continue;
            }
            if rec.len() != self.fields {
                // Shifted cells would be read as the wrong columns: refuse the row whole.
                part.problem(
                    Problem::new(
                        self.path,
                        format!(
                            "the row has {} fields and the header {}: a comma inside a value (62,5 for 62.5?) or a missing field",
                            rec.len(),
                            self.fields
                        ),
                    )
                    .at(Some(line)),
                );
                continue;
            }
            self.row(&mut part, &mut site_index, &rec, line);
        }
        part
    }

    /// Checks one row and keeps its entry. A bad row keeps its id, so that a duplicate of
    /// it is still reported.
    #[inline]
    fn row(
        &self,
        part: &mut Part,
        site_index: &mut HashMap<String, u16>,
        rec: &csv::ByteRecord,
        line: usize,
    ) {
        let get = |k: usize| {
            rec.get(self.col[k])
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
        };
        let before = part.found;
        let id_cell = get(0);
        let id = id_cell.trim();
        self.id(part, id, line);
        let arm = self.arm(part, get(1).trim(), line);
        let weight = self.weight(part, get(2).trim(), id, line);
        let start = match parse_date(get(3).trim()) {
            Ok(d) => Some(d),
            Err(msg) => {
                part.problem(self.problem(line, "start_date", msg));
                None
            }
        };
        let raw_site = self.site_col.and_then(|c| rec.get(c));
        let site = self.site(part, site_index, raw_site, line);
        if part.found > before {
            part.bad_lines.push(line as u32);
        }
        if part.found == before || !id.is_empty() {
            part.entries.push(Entry {
                id: id.into(),
                arm: arm.unwrap_or(u16::MAX),
                weight_kg: weight.unwrap_or_default(),
                start: start.unwrap_or_default(),
                line: line as u32,
                site,
            });
        }
    }

    /// The patient id: there, safe in file names; warned about when a spreadsheet would
    /// read it as something else.
    #[inline]
    fn id(&self, part: &mut Part, id: &str, line: usize) {
        if id.is_empty() {
            part.problem(self.problem(line, "patient_id", "missing patient_id".into()));
        } else if !is_safe_id(id) {
            part.problem(self.problem(
                line,
                "patient_id",
                format!(
                    "'{id}' is not a safe id: use {SAFE_ID_RULE} (it becomes part of file names)"
                ),
            ));
        } else if let Some(reading) = spreadsheet_reading(id) {
            part.id_warnings.push(format!(
                "{}:{line}: patient_id '{id}': a spreadsheet will read it as {reading}, and show or save it differently; prefix the ids with letters (P{id}) to keep them as text",
                self.path.display()
            ));
        }
    }

    /// The arm, as an index into [`Trial::arms`].
    #[inline]
    fn arm(&self, part: &mut Part, arm_text: &str, line: usize) -> Option<u16> {
        let arm = self.arms.get(arm_text.as_bytes()).copied();
        if arm.is_none() {
            let arms = self.trial.arm_ids().join(", ");
            part.problem(self.problem(
                line,
                "arm",
                if arm_text.is_empty() {
                    format!("missing arm (arms: {arms})")
                } else {
                    format!("unknown arm '{arm_text}' (arms: {arms})")
                },
            ));
        }
        arm
    }

    /// The weight, within the hard limits; warned about outside the scenario's usual range.
    #[inline]
    fn weight(&self, part: &mut Part, weight_text: &str, id: &str, line: usize) -> Option<Kg> {
        match weight_text.parse::<Kg>() {
            Ok(w) => match check_weight(w, &self.trial.weight) {
                Ok(None) => Some(w),
                Ok(Some(warn)) => {
                    part.warnings.push(format!(
                        "{}:{line}: patient {id}: {warn}",
                        self.path.display()
                    ));
                    Some(w)
                }
                Err(e) => {
                    part.problem(self.problem(line, "weight_kg", e.to_string()));
                    None
                }
            },
            Err(msg) => {
                part.problem(self.problem(
                    line,
                    "weight_kg",
                    if weight_text.is_empty() {
                        "missing weight_kg".into()
                    } else {
                        msg
                    },
                ));
                None
            }
        }
    }

    /// The site (the optional `site` column), as an index into the slice's sites.
    #[inline]
    fn site(
        &self,
        part: &mut Part,
        site_index: &mut HashMap<String, u16>,
        raw_site: Option<&[u8]>,
        line: usize,
    ) -> Option<u16> {
        // The first few sites seen are looked up by comparing bytes: a roster names a
        // handful, and this runs on every row.
        let seen = raw_site.and_then(|b| {
            let b = b.trim_ascii();
            part.sites
                .iter()
                .take(8)
                .position(|s| !b.is_empty() && s.as_bytes() == b)
                .map(|k| k as u16)
        });
        let site = match seen {
            Some(_) => None,
            None => raw_site.map(String::from_utf8_lossy),
        };
        let site = match &site {
            Some(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            None if seen.is_some() => Some(""),
            None => None,
        };
        match site {
            Some(_) if seen.is_some() => seen,
            Some(site) if !is_safe_id(site) => {
                part.problem(self.problem(
                    line,
                    "site",
                    format!("'{site}' is not a site id: use {SAFE_ID_RULE} (it names the calendar file SITE.toml)"),
                ));
                None
            }
            Some(site) => match site_index.get(site) {
                Some(&k) => Some(k),
                None if part.sites.len() < usize::from(u16::MAX) => {
                    let k = part.sites.len() as u16;
                    part.sites.push(site.into());
                    site_index.insert(site.to_string(), k);
                    Some(k)
                }
                None => {
                    part.problem(self.problem(
                        line,
                        "site",
                        format!("more than {} different sites", u16::MAX),
                    ));
                    None
                }
            },
            None => None,
        }
    }
}

/// What a spreadsheet (LibreOffice, Excel) makes of an id it opens in a CSV file, when
/// that is not the id as text: `00123` becomes the number 123, `1E5` 100000, `1.50` 1.5, a
/// 16-digit id loses its last digits, `2027-01-04` and `3-4` become dates, `TRUE` a
/// boolean. `None` for ids that stay text, or stay the same number (`123`).
pub fn spreadsheet_reading(id: &str) -> Option<&'static str> {
    let b = id.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let num = |s: &[u8]| -> u32 {
        std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(u32::MAX)
    };
    if id.eq_ignore_ascii_case("true") || id.eq_ignore_ascii_case("false") {
        return Some("a boolean (TRUE or FALSE)");
    }
    if is_month_date(id) {
        return Some("a date (a month name with a number: the SEPT1 gene-name problem)");
    }
    // Any other letter but an exponent's e keeps an id text (P0001, A-12): the usual case,
    // answered without looking further.
    if b.iter()
        .any(|c| c.is_ascii_alphabetic() && !matches!(c, b'e' | b'E'))
    {
        return None;
    }
    if digits(b) {
        if b.len() > 1 && b[0] == b'0' {
            return Some("a number, dropping its leading zeros");
        }
        if b.len() > 15 {
            return Some("a number, losing its digits after the 15th");
        }
        return None;
    }
    // Dates: 2027-01-04, 3-4, 1.2.2027, when the numbers can be a day, a month and a year.
    for sep in [b'-', b'.'] {
        let parts: Vec<&[u8]> = b.split(|&c| c == sep).collect();
        if !parts.iter().all(|p| digits(p) && p.len() <= 4) {
            continue;
        }
        let n: Vec<u32> = parts.iter().map(|p| num(p)).collect();
        let day_month = |d: u32, m: u32| (1..=31).contains(&d) && (1..=12).contains(&m);
        let date = match (sep, n.as_slice()) {
            (b'-', [a, c]) => {
                day_month(*a, *c) || day_month(*c, *a) || ((1..=12).contains(c) && *a >= 1000)
            }
            (_, [y, m, d]) if parts[0].len() == 4 => day_month(*d, *m) && *y >= 1,
            (_, [a, c, _]) => day_month(*a, *c) || day_month(*c, *a),
            _ => false,
        };
        if date {
            return Some("a date");
        }
    }
    // Decimal numbers: 1.50, 12.0 (.5 is refused by the id rule already).
    if let Some((int, frac)) = id.split_once('.')
        && digits(int.as_bytes())
        && digits(frac.as_bytes())
    {
        return Some("a number (trailing or leading zeros dropped, decimals rounded)");
    }
    // Scientific notation: 1E5, 2e-3, 1.5E10.
    if let Some(pos) = id.find(['e', 'E']) {
        let (mant, exp) = (&id[..pos], &id[pos + 1..]);
        let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
        let mant_ok = match mant.split_once('.') {
            Some((i, f)) => digits(i.as_bytes()) && (f.is_empty() || digits(f.as_bytes())),
            None => digits(mant.as_bytes()),
        };
        if mant_ok && digits(exp.as_bytes()) {
            return Some("a number in scientific notation");
        }
    }
    None
}

/// A month name (Jan, Sept, March...) next to a day or year, with or without `-` or `.`:
/// `1-Jan`, `Jan-1`, `Apr-2027`, `SEPT1`, `MARCH1`.
fn is_month_date(id: &str) -> bool {
    const MONTHS: [&str; 24] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ];
    // Letters then digits (SEPT1, Jan-1), or digits then letters (1-Jan); no allocation,
    // since every roster row asks.
    let split = id
        .find(|c: char| c.is_ascii_digit())
        .filter(|&i| i > 0)
        .map(|i| (&id[..i], &id[i..]))
        .or_else(|| {
            id.rfind(|c: char| c.is_ascii_digit())
                .filter(|&i| i + 1 < id.len())
                .map(|i| (&id[i + 1..], &id[..=i]))
        });
    let Some((word, number)) = split else {
        return false;
    };
    let word = word.trim_matches(['-', '.']);
    let number = number.trim_matches(['-', '.']);
    (3..=9).contains(&word.len())
        && MONTHS.iter().any(|m| m.eq_ignore_ascii_case(word))
        && !number.is_empty()
        && number.len() <= 4
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// A schedule that cannot be made for a roster row, as a problem on that row.
pub fn schedule_problem(path: &Path, e: &Entry, err: ScheduleError) -> Problem {
    let col = match err {
        ScheduleError::DateOutOfRange(_) => "start_date",
        _ => "weight_kg",
    };
    Problem::new(path, format!("patient {}: {err}", e.id))
        .at(Some(e.line as usize))
        .field(col)
}

/// Loads `dir/SITE.toml` for every site the roster names. A site with no file is an error
/// on the first roster line that names it; every problem of every file is reported.
pub fn calendars(dir: &Path, roster_path: &Path, roster: &Roster) -> Result<Sites, InputError> {
    calendars_of(dir, roster_path, roster, &roster.entries)
}

/// [`calendars`] for some of the roster's patients only (one, for `calendar --roster`).
pub fn calendars_of<'e>(
    dir: &Path,
    roster_path: &Path,
    roster: &Roster,
    entries: impl IntoIterator<Item = &'e Entry>,
) -> Result<Sites, InputError> {
    let mut first: BTreeMap<&str, u32> = BTreeMap::new();
    let mut starts: Option<(NaiveDate, NaiveDate)> = None;
    for e in entries {
        if let Some(s) = roster.site(e) {
            let line = first.entry(s).or_insert(e.line);
            *line = (*line).min(e.line);
            starts = Some(starts.map_or((e.start, e.start), |(a, b)| {
                (a.min(e.start), b.max(e.start))
            }));
        }
    }
    let span = starts.map(|(a, b)| Span::of_starts(a, b));
    load_each(dir, first, span, |site, line, file| {
        Problem::new(
                roster_path,
                format!(
                    "no calendar for site '{site}': {} does not exist; {} (--calendars DIR names another folder)",
                    file.display(),
                    crate::site::known_calendars(dir)
                ),
            )
            .at(Some(*line as usize))
            .field("site")
    })
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_reading;

    /// A roster over 1 MiB is read in parallel slices, each numbering its sites; joined,
    /// every patient keeps their own site.
    #[test]
    fn sites_are_kept_across_the_slices_of_a_large_roster() {
        let trial =
            crate::scenario::load(std::path::Path::new("scenarios/nct04822922.toml")).unwrap();
        let sites = ["GZ", "SH", "BJ", "XA", "LZ"];
        let mut text = String::from("patient_id,arm,weight_kg,start_date,site\n");
        for i in 0..40_000 {
            // The order of first use differs between slices.
            let site = sites[(i * 7 / 3 + i / 9000) % 5];
            let site = if i % 11 == 0 { "" } else { site };
            text.push_str(&format!("P{i:06},low,60,2027-01-04,{site}\n"));
        }
        assert!(text.len() > 1 << 20);
        let r = super::parse(std::path::Path::new("r.csv"), text.into_bytes(), &trial).unwrap();
        assert_eq!(r.sites.len(), 5);
        for (i, e) in r.entries.iter().enumerate() {
            let want = if i % 11 == 0 {
                None
            } else {
                Some(sites[(i * 7 / 3 + i / 9000) % 5])
            };
            assert_eq!(r.site(e), want, "row {i}");
        }
    }

    #[test]
    fn ids_a_spreadsheet_would_change_are_recognised() {
        for id in [
            "00123",
            "1E5",
            "1e-5",
            "1.50",
            "12345678901234567890",
            "2027-01-04",
            "3-4",
            "1.2.2027",
            "TRUE",
            "false",
        ] {
            assert!(spreadsheet_reading(id).is_some(), "{id}");
        }
        for id in [
            "P001", "123", "P-1.5", "A1E5", "abc-def", "E5", "1.2.3.4", "x.y",
        ] {
            assert_eq!(spreadsheet_reading(id), None, "{id}");
        }
    }
}
