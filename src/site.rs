//! Site calendars: the days a site (its pharmacy, cell-processing lab and plasma-exchange
//! unit) is open. A calendar is a TOML file, `SITE.toml`, named by the roster's `site`
//! column:
//!
//! ```toml
//! name = "Guangzhou: Third Affiliated Hospital of Sun Yat-sen University"
//! closed_weekdays = ["Sat", "Sun"]
//! # Holiday files, relative to this file: holiday-cn JSON, iCalendar or CSV.
//! sources = ["holidays/2026.json", { file = "holidays/2026.ics", open_if_summary_starts_with = "上班" }]
//! closed = ["2026-12-24..2026-12-26", { date = "2026-11-30", name = "Lab maintenance" }]
//! open = [{ date = "2026-10-04", name = "Extra clinic day" }]
//! covers = "2026-01-01..2026-12-31"   # optional: else the years the sources cover
//! expected_holidays = "cn"   # optional: outside coverage, closed on China's statutory holidays
//! ```
//!
//! A day is closed when a source or `closed` lists it as closed, when it is outside what
//! the calendar covers and an expected statutory holiday ([`crate::holidays`]), or when it
//! falls on a closed weekday and nothing lists it as open (a make-up working day, 调休).
//! Every date a calendar does not cover may still turn out to be a holiday, or a make-up
//! working day: see [`SiteCalendar::covers`].

pub mod holiday_ics;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use toml::Spanned;

use crate::checker::nearest;
use crate::error::{InputError, Lines, Problem};
use crate::holidays::Expected;
use crate::limits::{
    MAX_CALENDAR_BYTES, MAX_CALENDAR_DAYS, MAX_HOLIDAY_FILE_BYTES, MAX_HOLIDAY_SOURCES,
    MAX_NAME_CHARS, MAX_TEXT_CHARS,
};
use crate::timing::parse_date;

/// The most problems one site calendar reports; past them, how many more there are.
const MAX_PROBLEMS: usize = 200;

/// The dates a run's schedules can reach, over which a holiday file's recurrences with no
/// end are expanded (an .ics event repeating every Monday, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Span {
    /// The dates the schedules of patients starting from `first_start` to `last_start` can
    /// reach: a year before the first start (a window reaching back) to a hundred years
    /// (the largest study day) and a year after the last.
    pub fn of_starts(first_start: NaiveDate, last_start: NaiveDate) -> Span {
        let year = chrono::Duration::days(366);
        let reach = chrono::Duration::days(crate::limits::MAX_DAY as i64) + year;
        Span {
            first: first_start
                .checked_sub_signed(year)
                .unwrap_or(NaiveDate::MIN),
            last: last_start
                .checked_add_signed(reach)
                .unwrap_or(NaiveDate::MAX),
        }
    }
}

/// How many more days a site calendar may list ([`MAX_CALENDAR_DAYS`]), each day of a range
/// or recurrence counted as it is read, so that a calendar past the limit is refused before
/// it takes the memory of its days.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
    spent: bool,
    said: bool,
}

impl Budget {
    pub(crate) fn new() -> Self {
        Budget {
            left: MAX_CALENDAR_DAYS,
            spent: false,
            said: false,
        }
    }

    /// Takes `n` days; false (and from then on always false) when they are more than left.
    pub(crate) fn take(&mut self, n: usize) -> bool {
        if self.spent || n > self.left {
            self.spent = true;
            return false;
        }
        self.left -= n;
        true
    }

    /// The problem said where the days ran out: the first time only.
    pub(crate) fn over(&mut self, file: &Path, line: Option<usize>) -> Option<Problem> {
        if std::mem::replace(&mut self.said, true) {
            return None;
        }
        Some(Problem::new(
            file,
            format!(
                "here the site calendar passes {MAX_CALENDAR_DAYS} listed days (its holiday files, dates, ranges and recurrences together, each day of a range or recurrence counted): a calendar lists the days a site is closed or open, not every day; shorten the ranges or end the recurrences"
            ),
        )
        .at(line))
    }
}

/// What is wrong with a holiday's or closure's name, if anything: it reaches calendar files,
/// sheets and reports, so it is held to scenario text's rules (no control characters, at
/// most [`MAX_NAME_CHARS`] characters).
pub(crate) fn name_problem(name: &str) -> Option<String> {
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Some(format!(
            "the name is {chars} characters long; a holiday or closure name may have at most {MAX_NAME_CHARS}"
        ));
    }
    name.chars().find(|c| c.is_control()).map(|c| {
        format!(
            "the name contains the control character U+{:04X}: names reach calendar files, sheets and reports, so write them without line breaks, tabs or control characters",
            u32::from(c)
        )
    })
}

/// What a calendar says of one listed date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub open: bool,
    /// The holiday's or closure's name, as its source gives it.
    pub name: String,
}

/// One site's calendar, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteCalendar {
    /// The site id: the file's name without `.toml`, as the roster's `site` column gives it.
    pub id: String,
    pub name: String,
    pub file: PathBuf,
    /// The holiday files it reads, as paths from the working folder.
    pub sources: Vec<PathBuf>,
    /// Closed weekdays, Monday first.
    closed_weekdays: [bool; 7],
    /// Every date a source or the file itself lists, open or closed.
    listed: BTreeMap<NaiveDate, Listed>,
    /// The date ranges the calendar covers (both ends included), sorted and merged.
    coverage: Vec<(NaiveDate, NaiveDate)>,
    /// Whose statutory holidays close the site on the dates it does not cover.
    expected: Option<Expected>,
    /// Where its patients come, as a calendar app shows it (the events' LOCATION).
    pub location: Option<String>,
}

/// Why a day is closed, or that it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day<'a> {
    Open,
    /// Open although it falls on a closed weekday: a make-up working day.
    MadeOpen(&'a str),
    /// Closed: a listed holiday or closure, by name.
    Holiday(&'a str),
    /// Closed: a statutory holiday on a date no holiday file covers, by its name in the law
    /// ("春节"); expected, not yet announced.
    Expected(&'static str),
    /// Closed: a closed weekday.
    Weekend(Weekday),
}

impl Day<'_> {
    pub fn is_open(self) -> bool {
        matches!(self, Day::Open | Day::MadeOpen(_))
    }

    /// The closure's name, for a closed day: "National Day 国庆节", "Saturday",
    /// "Spring Festival 春节, expected".
    pub fn closure(self) -> Option<String> {
        match self {
            Day::Holiday(name) => Some(holiday_name(name)),
            Day::Expected(name) => Some(format!("{}, expected", holiday_name(name))),
            Day::Weekend(w) => Some(weekday_name(w).to_string()),
            Day::Open | Day::MadeOpen(_) => None,
        }
    }
}

/// China's public holidays as the State Council's notice (and holiday-cn) names them, in
/// English.
const HOLIDAYS_CN: [(&str, &str); 7] = [
    ("元旦", "New Year's Day"),
    ("春节", "Spring Festival"),
    ("清明节", "Qingming Festival"),
    ("劳动节", "Labour Day"),
    ("端午节", "Dragon Boat Festival"),
    ("中秋节", "Mid-Autumn Festival"),
    ("国庆节", "National Day"),
];

/// A listed day's name as people read it: a Chinese public holiday's name with its English
/// name first ("National Day 国庆节", "National Day and Mid-Autumn Festival 国庆节、中秋节");
/// any other name as its source gives it.
pub fn holiday_name(name: &str) -> String {
    if name.is_ascii() {
        return name.to_string();
    }
    let mut found: Vec<(usize, &str)> = HOLIDAYS_CN
        .iter()
        .filter_map(|(cn, en)| name.find(cn).map(|at| (at, *en)))
        .collect();
    if found.is_empty() {
        return name.to_string();
    }
    found.sort();
    let en: Vec<&str> = found.into_iter().map(|(_, en)| en).collect();
    format!("{} {name}", en.join(" and "))
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("Mon", Weekday::Mon),
    ("Tue", Weekday::Tue),
    ("Wed", Weekday::Wed),
    ("Thu", Weekday::Thu),
    ("Fri", Weekday::Fri),
    ("Sat", Weekday::Sat),
    ("Sun", Weekday::Sun),
];

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

impl SiteCalendar {
    /// What the site's calendar says of `date`: its holiday files and own lists first, then
    /// (on a date they do not cover) the statutory holidays it expects, then its weekdays.
    pub fn day(&self, date: NaiveDate) -> Day<'_> {
        match self.listed.get(&date) {
            Some(l) if l.open => {
                if self.closed_weekdays[date.weekday().num_days_from_monday() as usize] {
                    Day::MadeOpen(&l.name)
                } else {
                    Day::Open
                }
            }
            Some(l) => Day::Holiday(&l.name),
            None => match self.expected_on(date) {
                Some(name) => Day::Expected(name),
                None if self.closed_weekdays[date.weekday().num_days_from_monday() as usize] => {
                    Day::Weekend(date.weekday())
                }
                None => Day::Open,
            },
        }
    }

    /// The statutory holiday the calendar expects on `date`, a date it does not cover.
    fn expected_on(&self, date: NaiveDate) -> Option<&'static str> {
        let e = self.expected?;
        if self.covers(date) {
            return None;
        }
        e.holiday(date)
    }

    /// Whose statutory holidays the calendar expects where it does not cover a date.
    pub fn expected(&self) -> Option<Expected> {
        self.expected
    }

    /// The date ranges that only expected holidays speak for: those the calendar does not
    /// cover within the years its expected holidays are computed for. Empty without
    /// `expected_holidays`.
    pub fn expected_ranges(&self) -> Vec<(NaiveDate, NaiveDate)> {
        let Some(e) = self.expected else {
            return Vec::new();
        };
        let (first, last) = e.span();
        let mut out = Vec::new();
        let mut from = Some(first);
        for &(a, b) in &self.coverage {
            if let Some(f) = from
                && a > f
                && f <= last
            {
                out.push((f, a.pred_opt().unwrap_or(a).min(last)));
            }
            from = from.max(b.succ_opt());
        }
        if let Some(f) = from
            && f <= last
        {
            out.push((f, last));
        }
        out
    }

    /// The expected holidays from `from` to `to` (both included) on dates the calendar
    /// neither covers nor lists, in order, by their names in the law.
    pub fn expected_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(NaiveDate, &'static str)> {
        let Some(e) = self.expected else {
            return Vec::new();
        };
        e.between(from, to)
            .into_iter()
            .filter(|(d, _)| !self.covers(*d) && !self.listed.contains_key(d))
            .collect()
    }

    /// Why a date the calendar does not cover is provisional, in words: what the calendar
    /// does and does not know there.
    pub fn uncovered_note(&self) -> String {
        match self.expected {
            Some(e) => format!(
                "there it expects {} (the law's days), but not the make-up working days and bridging days a year's notice adds",
                e.describe()
            ),
            None => "holidays on dates it does not cover are not known".to_string(),
        }
    }

    pub fn is_open(&self, date: NaiveDate) -> bool {
        self.day(date).is_open()
    }

    /// Whether the calendar's sources cover `date`: outside, a holiday may still be
    /// announced, so an event scheduled there is provisional.
    pub fn covers(&self, date: NaiveDate) -> bool {
        let k = self.coverage.partition_point(|&(_, end)| end < date);
        self.coverage
            .get(k)
            .is_some_and(|&(start, _)| start <= date)
    }

    /// The ranges covered, sorted, as (first, last) dates.
    pub fn coverage(&self) -> &[(NaiveDate, NaiveDate)] {
        &self.coverage
    }

    /// "Sat, Sun and listed holidays", "listed days only"; with expected holidays,
    /// "Sat, Sun and listed holidays; where the holiday files stop, China's statutory public
    /// holidays (expected)".
    pub fn closed_summary(&self) -> String {
        let days = self.closed_weekdays();
        let listed = if days.is_empty() {
            "listed days only".to_string()
        } else {
            format!("{} and listed holidays", days.join(", "))
        };
        match self.expected {
            Some(e) => format!(
                "{listed}; where the holiday files stop, {} (expected)",
                e.describe()
            ),
            None => listed,
        }
    }

    /// "2024-01-01 to 2026-12-31", the ranges joined; "no dates" when it covers none.
    pub fn coverage_summary(&self) -> String {
        if self.coverage.is_empty() {
            return "no dates".to_string();
        }
        ranges(&self.coverage)
    }

    /// "expected holidays only (China's statutory public holidays, provisional):
    /// 2008-01-01 to 2023-12-31, 2027-01-01 to 9999-12-31", or `None` without
    /// `expected_holidays`.
    pub fn expected_summary(&self) -> Option<String> {
        let e = self.expected?;
        let r = self.expected_ranges();
        Some(if r.is_empty() {
            format!("expected holidays ({}): none needed", e.describe())
        } else {
            format!(
                "expected holidays only ({}, provisional): {}",
                e.describe(),
                ranges(&r)
            )
        })
    }

    /// The listed dates from `from` to `to` (both included), in order.
    pub fn listed_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = (NaiveDate, &Listed)> {
        self.listed.range(from..=to).map(|(d, l)| (*d, l))
    }

    /// The closed weekdays, as their three-letter names.
    pub fn closed_weekdays(&self) -> Vec<&'static str> {
        WEEKDAYS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.closed_weekdays[*i])
            .map(|(_, (n, _))| *n)
            .collect()
    }
}

/// "2024-01-01 to 2026-12-31, 2028-01-01 to 2028-12-31".
fn ranges(r: &[(NaiveDate, NaiveDate)]) -> String {
    r.iter()
        .map(|(a, b)| format!("{a} to {b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The site calendars there are in `dir`, for a message naming a site with none: "the
/// site calendars in scenarios/calendars: BJ-302, GZ-SYSU" (or that there are none).
pub fn known_calendars(dir: &Path) -> String {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    ids.sort();
    if ids.is_empty() {
        format!("{} holds no site calendar (SITE.toml)", dir.display())
    } else {
        format!(
            "the site calendars in {}: {}",
            dir.display(),
            ids.join(", ")
        )
    }
}

/// The calendars a roster's `site` column names, by site id.
pub type Sites = BTreeMap<String, SiteCalendar>;

/// Loads `dir/<id>.toml` for each wanted id (with what `missing` needs to say where it
/// was asked for), each once; every problem of every file is reported at once. `span`: the
/// dates the run's schedules can reach (see [`load_within`]).
pub fn load_each<'a, W>(
    dir: &Path,
    wanted: impl IntoIterator<Item = (&'a str, W)>,
    span: Option<Span>,
    missing: impl Fn(&str, &W, &Path) -> Problem,
) -> Result<Sites, InputError> {
    let mut sites = Sites::new();
    let mut problems = Vec::new();
    for (id, at) in wanted {
        if sites.contains_key(id) {
            continue;
        }
        let file = dir.join(format!("{id}.toml"));
        if !file.is_file() {
            problems.push(missing(id, &at, &file));
            continue;
        }
        match load_within(&file, span) {
            Ok(c) => {
                sites.insert(id.to_string(), c);
            }
            Err(e) => problems.extend(e.problems),
        }
    }
    InputError::check(problems)?;
    Ok(sites)
}

/// A calendar as serde reads it. Unknown keys, at every level, are refused before (see
/// [`toml_problems`]); sources and dates, each a text or a table, are read by hand so that
/// every message is in the file's own words.
#[derive(Deserialize)]
struct RawCalendar {
    name: String,
    #[serde(default)]
    closed_weekdays: Vec<Spanned<String>>,
    #[serde(default)]
    sources: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    closed: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    open: Vec<Spanned<toml::Value>>,
    covers: Option<Spanned<String>>,
    expected_holidays: Option<Spanned<String>>,
    location: Option<Spanned<toml::Value>>,
}

/// The keys of a calendar, of a source table and of a date table.
const CALENDAR_KEYS: [&str; 8] = [
    "name",
    "closed_weekdays",
    "sources",
    "closed",
    "open",
    "covers",
    "expected_holidays",
    "location",
];
const SOURCE_KEYS: [&str; 2] = ["file", "open_if_summary_starts_with"];
const DATE_KEYS: [&str; 2] = ["date", "name"];

/// A source as written: `"holidays/2026.json"` or `{ file = "...", open_if_summary_starts_with
/// = "..." }`.
fn source_parts(v: &toml::Value) -> Result<(&str, Option<&str>), String> {
    const FORM: &str = "a source is a file name, or { file = \"holidays/2026.ics\", open_if_summary_starts_with = \"上班\" }";
    match v {
        toml::Value::String(f) => Ok((f, None)),
        toml::Value::Table(t) => {
            let file = match t.get("file") {
                Some(toml::Value::String(f)) => f.as_str(),
                Some(_) => return Err(format!("file must be text: {FORM}")),
                None => return Err(format!("the table names no file: {FORM}")),
            };
            match t.get("open_if_summary_starts_with") {
                None => Ok((file, None)),
                Some(toml::Value::String(p)) => Ok((file, Some(p.as_str()))),
                Some(_) => Err(format!("open_if_summary_starts_with must be text: {FORM}")),
            }
        }
        _ => Err(FORM.to_string()),
    }
}

/// A date or range as written: `"2026-10-01"`, `"2026-10-01..2026-10-08"` or `{ date = "...",
/// name = "..." }`.
fn date_parts(v: &toml::Value) -> Result<(&str, Option<&str>), String> {
    const FORM: &str = "a date is \"2026-10-01\", a range \"2026-10-01..2026-10-08\", or { date = \"2026-11-30\", name = \"Lab maintenance\" }";
    match v {
        toml::Value::String(d) => Ok((d, None)),
        toml::Value::Table(t) => {
            let date = match t.get("date") {
                Some(toml::Value::String(d)) => d.as_str(),
                _ => return Err(format!("the table has no date as text: {FORM}")),
            };
            match t.get("name") {
                None => Ok((date, None)),
                Some(toml::Value::String(n)) => Ok((date, Some(n.as_str()))),
                Some(_) => Err(format!("name must be text: {FORM}")),
            }
        }
        _ => Err(FORM.to_string()),
    }
}

/// The walk of [`toml_problems`] over a calendar's keys and values.
struct Walk<'a> {
    path: &'a Path,
    lines: &'a Lines,
    out: Vec<Problem>,
}
impl Walk<'_> {
    fn table(&mut self, t: &toml::de::DeTable, field: &str, keys: &[&str], what: &str) {
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let here = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
            if !keys.contains(&name) {
                let near = nearest(name, keys)
                    .map(|n| format!(": did you mean '{n}'?"))
                    .unwrap_or_default();
                let mut p = Problem::new(
                    self.path,
                    format!(
                        "unknown key '{name}'{near} ({what} has the keys {})",
                        keys.join(", ")
                    ),
                )
                .at(Some(self.lines.of(k.span().start)));
                if !field.is_empty() {
                    p = p.field(field);
                }
                self.out.push(p);
                continue;
            }
            self.value(v, &here, name);
        }
    }

    fn value(&mut self, v: &toml::Spanned<toml::de::DeValue>, field: &str, key: &str) {
        use toml::de::DeValue;
        match v.get_ref() {
            DeValue::String(s) => {
                let at = Some(self.lines.of(v.span().start));
                let (limit, what) = match key {
                    "name" | "open_if_summary_starts_with" => (MAX_NAME_CHARS, "a name or prefix"),
                    "location" => (MAX_NAME_CHARS, "a location"),
                    _ => (MAX_TEXT_CHARS, "a file name or date"),
                };
                let chars = s.chars().count();
                if chars > limit {
                    self.out.push(
                        Problem::new(
                            self.path,
                            format!("is {chars} characters long; {what} may have at most {limit}"),
                        )
                        .at(at)
                        .field(field),
                    );
                } else if let Some(c) = s.chars().find(|c| c.is_control()) {
                    self.out.push(
                        Problem::new(
                            self.path,
                            format!(
                                "contains the control character U+{:04X}: text here reaches calendar files, sheets and reports, so write it without line breaks, tabs or control characters",
                                u32::from(c)
                            ),
                        )
                        .at(at)
                        .field(field),
                    );
                }
            }
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let here = format!("{field}[{i}]");
                    match (item.get_ref(), key) {
                        (DeValue::Table(t), "sources") => {
                            self.table(t, &here, &SOURCE_KEYS, "a source table")
                        }
                        (DeValue::Table(t), "closed" | "open") => {
                            self.table(t, &here, &DATE_KEYS, "a date table")
                        }
                        _ => self.value(item, &here, key),
                    }
                }
            }
            // A table where none belongs: serde says so.
            _ => {}
        }
    }
}

/// Every unknown key of the file, at every level (with the known key it is nearest to),
/// and every string that holds a control character or is longer than its limit, each with
/// its line and key. Empty when the file is not TOML (serde says why).
fn toml_problems(path: &Path, text: &str, lines: &Lines) -> Vec<Problem> {
    use toml::de::DeTable;
    let Ok(root) = DeTable::parse(text) else {
        return Vec::new();
    };
    let mut walk = Walk {
        path,
        lines,
        out: Vec::new(),
    };
    walk.table(root.get_ref(), "", &CALENDAR_KEYS, "a site calendar");
    walk.out
}

/// What a TOML value is, in words: "a number", "a list".
fn value_words(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "text",
        toml::Value::Integer(_) | toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// A file's text, refused past `limit` bytes before more is read (a `/dev/zero` named as a
/// holiday file is refused, not read until memory runs out). `what` names the file with its
/// article ("a holiday file"), `usual` its usual size.
fn read_limited(path: &Path, limit: usize, what: &str, usual: &str) -> Result<String, String> {
    let bytes = crate::limits::read_at_most(path, limit)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .ok_or_else(|| crate::limits::too_large(limit, what, usual))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read {}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Parses `"2026-10-01"` or `"2026-10-01..2026-10-08"` (both ends included).
fn parse_range(text: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (parse_date(a)?, parse_date(b)?),
        None => {
            let d = parse_date(text)?;
            (d, d)
        }
    };
    if b < a {
        return Err(format!("the range '{text}' ends before it starts"));
    }
    Ok((a, b))
}

/// The dates one source lists, with where each came from (for conflicts).
pub(crate) struct SourceDays {
    pub(crate) days: Vec<(NaiveDate, Listed, Option<usize>)>,
    pub(crate) covers: Option<(NaiveDate, NaiveDate)>,
}

/// Reads and checks one calendar file; every problem of it and its sources at once. The
/// recurrences of its .ics holiday files that have no end are expanded over a hundred years
/// from their start: enough to check them (`calendars check`); a run that has schedules
/// uses [`load_within`].
pub fn load(path: &Path) -> Result<SiteCalendar, InputError> {
    load_within(path, None)
}

/// As [`load`], the recurrences with no end expanded over `span`, the dates the run's
/// schedules can reach.
pub fn load_within(path: &Path, span: Option<Span>) -> Result<SiteCalendar, InputError> {
    let text = read_limited(
        path,
        MAX_CALENDAR_BYTES,
        "a site calendar",
        "the bundled ones are under 1 KB",
    )
    .map_err(|msg| {
        let msg = if msg.starts_with("cannot read") {
            format!("cannot read the site calendar: {msg}")
        } else {
            msg
        };
        InputError::one(Problem::new(path, msg))
    })?;
    parse_within(path, &text, span)
}

/// As [`load`], from the file's text; sources are read relative to `path`'s folder.
pub fn parse(path: &Path, text: &str) -> Result<SiteCalendar, InputError> {
    parse_within(path, text, None)
}

/// As [`load_within`], from the file's text.
pub fn parse_within(
    path: &Path,
    text: &str,
    span: Option<Span>,
) -> Result<SiteCalendar, InputError> {
    if text.len() > MAX_CALENDAR_BYTES {
        return Err(InputError::one(Problem::new(
            path,
            format!(
                "the file is {} bytes; a site calendar may be at most {MAX_CALENDAR_BYTES} bytes: is this the right file?",
                text.len()
            ),
        )));
    }
    let lines = Lines::new(text);
    let mut problems = toml_problems(path, text, &lines);
    let raw: RawCalendar = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            problems.extend(crate::checker::unread(path, text, &e).problems);
            return Err(capped(path, problems));
        }
    };
    let mut r = Reading {
        path,
        lines: &lines,
        problems,
        listed: BTreeMap::new(),
        from: Vec::new(),
        coverage: Vec::new(),
        sources: Vec::new(),
        budget: Budget::new(),
    };
    let closed_weekdays = r.weekdays(&raw.closed_weekdays);
    r.sources(&raw.sources, span);
    r.own_dates(&raw.closed, &raw.open);
    if let Some(c) = &raw.covers {
        match parse_range(c.get_ref()) {
            Ok(range) => r.coverage = vec![range],
            Err(msg) => r.problem(msg, c.span(), "covers".into()),
        }
    }
    let expected = r.expected(raw.expected_holidays.as_ref());
    let location = r.location(raw.location.as_ref());
    if !r.problems.is_empty() {
        return Err(capped(path, r.problems));
    }
    Ok(SiteCalendar {
        id: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        name: raw.name,
        file: path.to_path_buf(),
        sources: r.sources,
        closed_weekdays,
        listed: r.listed.into_iter().map(|(d, (l, _))| (d, l)).collect(),
        coverage: merge(r.coverage),
        expected,
        location,
    })
}

/// A calendar being read: what its sources and own lists have given so far.
struct Reading<'a> {
    path: &'a Path,
    lines: &'a Lines,
    problems: Vec<Problem>,
    /// Each date listed, with the index in `from` of the file that listed it.
    listed: BTreeMap<NaiveDate, (Listed, usize)>,
    /// The files read so far (the calendar itself last).
    from: Vec<String>,
    coverage: Vec<(NaiveDate, NaiveDate)>,
    /// The holiday files named.
    sources: Vec<PathBuf>,
    budget: Budget,
}

impl Reading<'_> {
    /// A problem of the calendar file at the start of `span`, in `field`.
    fn problem(&mut self, msg: impl Into<String>, span: std::ops::Range<usize>, field: String) {
        let at = Some(self.lines.of(span.start));
        self.problems
            .push(Problem::new(self.path, msg).at(at).field(field));
    }

    /// The optional `location`: text that names a place. Its length and control
    /// characters are checked with every other text of the file ([`toml_problems`]).
    fn location(&mut self, v: Option<&Spanned<toml::Value>>) -> Option<String> {
        const FORM: &str = "write where the patients come as one line of text, as a calendar app shows it: location = \"Third Affiliated Hospital, Building 2, 600 Tianhe Road, Guangzhou\"";
        let v = v?;
        match v.get_ref() {
            toml::Value::String(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            toml::Value::String(_) => {
                let msg = format!("is empty: {FORM}, or leave the key out");
                self.problem(msg, v.span(), "location".into());
                None
            }
            other => {
                let msg = format!("is {}, not text: {FORM}", value_words(other));
                self.problem(msg, v.span(), "location".into());
                None
            }
        }
    }

    /// The closed weekdays, Monday first.
    fn weekdays(&mut self, list: &[Spanned<String>]) -> [bool; 7] {
        let mut closed = [false; 7];
        for (k, w) in list.iter().enumerate() {
            match WEEKDAYS
                .iter()
                .position(|(n, _)| n.eq_ignore_ascii_case(w.get_ref()))
            {
                Some(i) => closed[i] = true,
                None => self.problem(
                    format!(
                        "'{}' is not a weekday: use Mon, Tue, Wed, Thu, Fri, Sat or Sun",
                        w.get_ref()
                    ),
                    w.span(),
                    format!("closed_weekdays[{k}]"),
                ),
            }
        }
        closed
    }

    /// Reads each holiday file named (each once), and says which are named twice.
    fn sources(&mut self, list: &[Spanned<toml::Value>], span: Option<Span>) {
        let folder = self.path.parent().unwrap_or(Path::new("."));
        // Each file named, with the line and field of its first naming and how often it is
        // named.
        let mut named: BTreeMap<PathBuf, (usize, usize, usize)> = BTreeMap::new();
        for (k, s) in list.iter().enumerate() {
            let field = format!("sources[{k}]");
            let (file, open_prefix) = match source_parts(s.get_ref()) {
                Ok(p) => p,
                Err(msg) => {
                    self.problem(msg, s.span(), field);
                    continue;
                }
            };
            let source = folder.join(file);
            // A file named twice is read once, and said once however often it is named
            // again.
            match named.get_mut(&source) {
                Some((_, _, n)) => {
                    *n += 1;
                    continue;
                }
                None => {
                    named.insert(source.clone(), (self.lines.of(s.span().start), k, 1));
                }
            }
            if named.len() > MAX_HOLIDAY_SOURCES {
                if named.len() == MAX_HOLIDAY_SOURCES + 1 {
                    self.problem(
                        format!(
                            "more than {MAX_HOLIDAY_SOURCES} holiday files; a site calendar may read at most {MAX_HOLIDAY_SOURCES}"
                        ),
                        s.span(),
                        field,
                    );
                }
                continue;
            }
            self.source(s, field, file, source, open_prefix, span);
        }
        for (source, (first_line, k, n)) in &named {
            if *n > 1 {
                self.problems.push(
                    Problem::new(
                        self.path,
                        format!(
                            "{} is named {n} times: name each holiday file once",
                            source.display()
                        ),
                    )
                    .at(Some(*first_line))
                    .field(format!("sources[{k}]")),
                );
            }
        }
    }

    /// Reads one holiday file (`source`, named `file` at `s`) and adds its dates.
    fn source(
        &mut self,
        s: &Spanned<toml::Value>,
        field: String,
        file: &str,
        source: PathBuf,
        open_prefix: Option<&str>,
        span: Option<Span>,
    ) {
        self.sources.push(source.clone());
        let ext = source
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(ext.as_str(), "json" | "ics" | "csv") {
            let msg =
                format!("{file}: a holiday source is a .json (holiday-cn), .ics or .csv file");
            self.problem(msg, s.span(), field);
            return;
        }
        let read = match read_limited(
            &source,
            MAX_HOLIDAY_FILE_BYTES,
            "a holiday file",
            "a year of holiday-cn is about 5 KB",
        ) {
            Ok(t) => t,
            Err(msg) => return self.problem(msg, s.span(), field),
        };
        let budget = &mut self.budget;
        let parsed = match ext.as_str() {
            "json" => holiday_cn(&source, &read, budget),
            "ics" => holiday_ics::read(&source, &read, open_prefix, span, budget),
            _ => csv_days(&source, &read, budget),
        };
        if open_prefix.is_some() && ext != "ics" {
            let msg = "open_if_summary_starts_with applies to .ics sources only";
            self.problem(msg, s.span(), field);
        }
        match parsed {
            Ok(days) => {
                self.coverage.extend(days.covers);
                self.from.push(source.display().to_string());
                for (date, l, at) in days.days {
                    add(
                        &mut self.listed,
                        &self.from,
                        &mut self.problems,
                        &source,
                        at,
                        date,
                        l,
                    );
                }
            }
            Err(p) => self.problems.extend(p),
        }
    }

    /// The file's own lists, `closed` and `open`: they come last and override the sources,
    /// since a site's own decision (open on a public holiday for a trial) is the one that
    /// holds.
    fn own_dates(&mut self, closed: &[Spanned<toml::Value>], open: &[Spanned<toml::Value>]) {
        self.from.push(self.path.display().to_string());
        let mut own: BTreeMap<NaiveDate, (bool, usize)> = BTreeMap::new();
        for (key, list, open) in [("closed", closed, false), ("open", open, true)] {
            for (k, d) in list.iter().enumerate() {
                let field = format!("{key}[{k}]");
                let (text, name) = match date_parts(d.get_ref()) {
                    Ok(p) => p,
                    Err(msg) => {
                        self.problem(msg, d.span(), field);
                        continue;
                    }
                };
                match parse_range(text) {
                    Ok(range) => self.own_range(&mut own, d.span(), field, text, range, name, open),
                    Err(msg) => self.problem(msg, d.span(), field),
                }
            }
        }
    }

    /// One date or range of the file's own lists (`text`, at `span`), each day listed.
    #[allow(clippy::too_many_arguments)]
    fn own_range(
        &mut self,
        own: &mut BTreeMap<NaiveDate, (bool, usize)>,
        span: std::ops::Range<usize>,
        field: String,
        text: &str,
        (a, b): (NaiveDate, NaiveDate),
        name: Option<&str>,
        open: bool,
    ) {
        let at = self.lines.of(span.start);
        if (b - a).num_days() > 3660 {
            let msg = format!("the range '{text}' is longer than ten years");
            return self.problem(msg, span, field);
        }
        if !self.budget.take((b - a).num_days() as usize + 1) {
            let over = self.budget.over(self.path, Some(at));
            self.problems.extend(over.map(|p| p.field(field)));
            return;
        }
        let name = name.map_or_else(
            || if open { "open day" } else { "site closed" }.to_string(),
            str::to_string,
        );
        let own_from = self.from.len() - 1;
        for date in a.iter_days().take_while(|x| *x <= b) {
            if let Some(&(was_open, first)) = own.get(&date)
                && was_open != open
            {
                let msg = format!("{date} is listed both closed and open (also on line {first})");
                self.problem(msg, span.clone(), field.clone());
            }
            own.insert(date, (open, at));
            let listed = Listed {
                open,
                name: name.clone(),
            };
            self.listed.insert(date, (listed, own_from));
        }
    }

    /// Whose statutory holidays close the site on the dates it does not cover.
    fn expected(&mut self, e: Option<&Spanned<String>>) -> Option<Expected> {
        let e = e?;
        if let Some(x) = Expected::parse(e.get_ref()) {
            return Some(x);
        }
        let known: Vec<String> = Expected::ALL
            .iter()
            .map(|(x, code)| format!("\"{code}\" ({})", x.describe()))
            .collect();
        self.problem(
            format!(
                "'{}' is not a country whose holidays dosesim knows: use {}",
                e.get_ref(),
                known.join(", ")
            ),
            e.span(),
            "expected_holidays".into(),
        );
        None
    }
}

/// A calendar's problems, at most [`MAX_PROBLEMS`] of them and then how many more.
fn capped(path: &Path, mut problems: Vec<Problem>) -> InputError {
    let mut unlisted = 0;
    if problems.len() > MAX_PROBLEMS {
        unlisted = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(Problem::new(
            path,
            format!("... and {unlisted} more problems"),
        ));
    }
    InputError { problems, unlisted }
}

/// Adds a source's date, refusing one that another source says the opposite of. `from`:
/// the files read so far, the last of them this one.
fn add(
    listed: &mut BTreeMap<NaiveDate, (Listed, usize)>,
    from: &[String],
    problems: &mut Vec<Problem>,
    source: &Path,
    at: Option<usize>,
    date: NaiveDate,
    l: Listed,
) {
    let here = from.len() - 1;
    if let Some((before, was)) = listed.get(&date)
        && before.open != l.open
    {
        let other = if *was == here {
            "earlier in this file".to_string()
        } else {
            format!("in {}", from[*was])
        };
        problems.push(
            Problem::new(
                source,
                format!(
                    "{date} is {} here and {} {other}",
                    if l.open { "open" } else { "closed" },
                    if before.open { "open" } else { "closed" }
                ),
            )
            .at(at),
        );
        return;
    }
    listed.insert(date, (l, here));
}

/// Sorted, overlapping or touching ranges joined.
fn merge(mut ranges: Vec<(NaiveDate, NaiveDate)>) -> Vec<(NaiveDate, NaiveDate)> {
    ranges.sort();
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.succ_opt().unwrap_or(last.1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A holiday-cn file: `{"year": 2026, "days": [{"name", "date", "isOffDay"}]}`. It covers
/// its whole year.
/// A JSON reader's message in the words of a holiday-cn file: without the code's type
/// names (`i32`, `struct File`) and without the line, which the problem gives.
fn json_words(e: &serde_json::Error) -> String {
    let mut msg = e.to_string();
    if let Some(i) = msg.rfind(" at line ") {
        msg.truncate(i);
    }
    for (code, words) in [
        ("expected i32", "expected a whole number (a year)"),
        ("invalid length", "a list of length"),
        (" with 2 elements", ""),
        ("struct File", "an object with \"year\" and \"days\""),
        (
            "struct Entry",
            "an object with \"name\", \"date\" and \"isOffDay\"",
        ),
        ("expected a boolean", "expected true or false"),
        ("floating point", "number"),
        ("integer", "number"),
    ] {
        msg = msg.replace(code, words);
    }
    msg
}

fn holiday_cn(path: &Path, text: &str, budget: &mut Budget) -> Result<SourceDays, Vec<Problem>> {
    #[derive(Deserialize)]
    struct File {
        year: i32,
        days: Vec<Entry>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        name: String,
        date: String,
        is_off_day: bool,
    }
    let file: File = serde_json::from_str(text).map_err(|e| {
        vec![
            Problem::new(path, format!("not a holiday-cn file: {}", json_words(&e)))
                .at(Some(e.line()).filter(|&l| l > 0)),
        ]
    })?;
    if !(1..=9999).contains(&file.year) {
        return Err(vec![
            Problem::new(
                path,
                format!(
                    "{} is not a year dosesim reads: holiday-cn names a year from 1 to 9999 (its files start in 2007)",
                    file.year
                ),
            )
            .field("year"),
        ]);
    }
    let mut problems = Vec::new();
    // The line of each entry's "date" key, for messages: found in one pass over the text.
    let lines = Lines::new(text);
    let mut date_lines = text.match_indices("\"date\"").map(|(i, _)| lines.of(i));
    let mut name_lines = text.match_indices("\"name\"").map(|(i, _)| lines.of(i));
    let mut days = Vec::new();
    for (k, e) in file.days.into_iter().enumerate() {
        let at = date_lines.next();
        let name_at = name_lines.next();
        if let Some(msg) = name_problem(&e.name) {
            problems.push(
                Problem::new(path, msg)
                    .at(name_at)
                    .field(format!("days[{k}].name")),
            );
        }
        match parse_date(&e.date) {
            Ok(d) if d.year() == file.year => {
                if !budget.take(1) {
                    problems.extend(budget.over(path, at));
                    return Err(problems);
                }
                days.push((
                    d,
                    Listed {
                        open: !e.is_off_day,
                        name: e.name,
                    },
                    at,
                ))
            }
            Ok(d) => problems.push(
                Problem::new(path, format!("{d} is not in the file's year {}", file.year))
                    .at(at)
                    .field(format!("days[{k}].date")),
            ),
            Err(msg) => problems.push(
                Problem::new(path, msg)
                    .at(at)
                    .field(format!("days[{k}].date")),
            ),
        }
    }
    let covers =
        NaiveDate::from_ymd_opt(file.year, 1, 1).zip(NaiveDate::from_ymd_opt(file.year, 12, 31));
    if problems.is_empty() {
        Ok(SourceDays { days, covers })
    } else {
        Err(problems)
    }
}

/// A CSV file with the header `date,name,open` (`open` is true or false), read as every
/// CSV a user gives is ([`crate::csv_in`]): the header's names in any letter case, each
/// row's line counted from its byte offset, so that CRLF line ends and blank lines do not
/// shift them.
fn csv_days(path: &Path, text: &str, budget: &mut Budget) -> Result<SourceDays, Vec<Problem>> {
    let mut problems = lone_carriage_returns(path, text);
    if !problems.is_empty() {
        return Err(problems);
    }
    let header = crate::csv_in::Header::read(path, text.as_bytes()).map_err(|e| e.problems)?;
    let columns = ["date", "name", "open"];
    if header.len() != columns.len() || !(0..3).all(|k| header.is(k, columns[k])) {
        return Err(vec![
            Problem::new(path, "the header must be date,name,open").at(Some(1)),
        ]);
    }
    let mut days = Vec::new();
    let mut rows = crate::csv_in::whole(text.as_bytes()).rows();
    let mut rec = csv::ByteRecord::new();
    while let Some(read) = rows.read(&mut rec) {
        let at = match read {
            Ok(line) => Some(line),
            Err(e) => {
                let msg = format!("unreadable CSV row ({})", e.error);
                problems.push(Problem::new(path, msg).at(e.line));
                break;
            }
        };
        if let Some((d, listed)) = holiday_row(path, &rec, at, &mut problems) {
            if !budget.take(1) {
                problems.extend(budget.over(path, at));
                return Err(problems);
            }
            days.push((d, listed, at));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let covers = year_span(days.iter().map(|d| d.0));
    Ok(SourceDays { days, covers })
}

/// A carriage return inside a line would end the row there for the CSV reader: said, with
/// its line. (Inside quotes it is part of the name, which the name's own check refuses.)
fn lone_carriage_returns(path: &Path, text: &str) -> Vec<Problem> {
    let lines = Lines::new(text);
    let mut problems = Vec::new();
    let mut quoted = false;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        quoted ^= b == b'"';
        if b == b'\r' && !quoted && text.as_bytes().get(i + 1) != Some(&b'\n') {
            problems.push(
                Problem::new(
                    path,
                    "a carriage return (control character U+000D) inside a line: remove it",
                )
                .at(Some(lines.of(i))),
            );
        }
    }
    problems
}

/// One row of a holiday CSV (on line `at`): its date and what it says of it, or `None`
/// with its problems added to `problems`.
fn holiday_row(
    path: &Path,
    rec: &csv::ByteRecord,
    at: Option<usize>,
    problems: &mut Vec<Problem>,
) -> Option<(NaiveDate, Listed)> {
    if rec.len() != 3 {
        problems.push(
            Problem::new(
                path,
                format!(
                    "the row has {} column{}; a holiday CSV row has 3: date,name,open",
                    rec.len(),
                    if rec.len() == 1 { "" } else { "s" }
                ),
            )
            .at(at),
        );
        return None;
    }
    // The file is UTF-8 and the fields are cut at commas and line ends: each is UTF-8.
    let cell = |k: usize| std::str::from_utf8(&rec[k]).unwrap_or("").trim();
    let date = match parse_date(cell(0)) {
        Ok(d) => Some(d),
        Err(msg) => {
            problems.push(Problem::new(path, msg).at(at).field("date"));
            None
        }
    };
    let name = cell(1);
    if let Some(msg) = name_problem(name) {
        problems.push(Problem::new(path, msg).at(at).field("name"));
    }
    // In any letter case: a spreadsheet saves the values as TRUE and FALSE.
    let open = match cell(2) {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        other => {
            problems.push(
                Problem::new(path, format!("'{other}' is not true or false"))
                    .at(at)
                    .field("open"),
            );
            None
        }
    };
    Some((
        date?,
        Listed {
            open: open?,
            name: name.to_string(),
        },
    ))
}

/// From 1 January of the first date's year to 31 December of the last date's.
pub(crate) fn year_span(dates: impl Iterator<Item = NaiveDate>) -> Option<(NaiveDate, NaiveDate)> {
    let (lo, hi) = dates.fold((None::<NaiveDate>, None::<NaiveDate>), |(lo, hi), d| {
        (
            Some(lo.map_or(d, |l| l.min(d))),
            Some(hi.map_or(d, |h| h.max(d))),
        )
    });
    Some((
        NaiveDate::from_ymd_opt(lo?.year(), 1, 1)?,
        NaiveDate::from_ymd_opt(hi?.year(), 12, 31)?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_calendars_lists_the_site_ids_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::known_calendars(dir.path()).ends_with("holds no site calendar (SITE.toml)"));
        for f in ["B.toml", "A.toml", "notes.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("holidays")).unwrap();
        assert_eq!(
            super::known_calendars(dir.path()),
            format!("the site calendars in {}: A, B", dir.path().display())
        );
    }

    #[test]
    fn a_holiday_cn_file_of_the_wrong_shape_is_said_without_the_codes_type_names() {
        for (body, words) in [
            (
                r#"{"year": 2026.5, "days": []}"#,
                "expected a whole number (a year)",
            ),
            (
                r#"{"year": 2026, "days": [{"name": "x", "date": "2026-10-01", "isOffDay": "yes"}]}"#,
                "expected true or false",
            ),
            ("[1]", r#"expected an object with "year" and "days""#),
        ] {
            let problems =
                match super::holiday_cn(Path::new("h.json"), body, &mut super::Budget::new()) {
                    Err(p) => p,
                    Ok(_) => panic!("{body} was read"),
                };
            let msg = problems[0].to_string();
            assert!(msg.contains(words), "{msg}");
            for code in ["i32", "struct", "column", "floating point", "boolean"] {
                assert!(!msg.contains(code), "{msg}");
            }
        }
    }

    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    /// A calendar in a temporary folder with the real holiday-cn files beside it.
    fn china(extra: &str) -> (tempfile::TempDir, Result<SiteCalendar, InputError>) {
        let dir = tempfile::tempdir().unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/calendars/holidays");
        let text = format!(
            "name = \"Guangzhou\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [\"{}\"]\n{extra}",
            data.join("cn-2026.json").display()
        );
        let path = dir.path().join("guangzhou.toml");
        std::fs::write(&path, &text).unwrap();
        let cal = load(&path);
        (dir, cal)
    }

    #[test]
    fn the_china_calendar_of_2026_has_its_holidays_and_make_up_days() {
        let (_d, cal) = china("");
        let cal = cal.unwrap();
        assert_eq!(cal.id, "guangzhou");
        // Spring Festival: 15 to 23 February closed.
        for day in d("2026-02-15").iter_days().take(9) {
            assert!(matches!(cal.day(day), Day::Holiday(_)), "{day}");
        }
        assert!(cal.is_open(d("2026-02-24")));
        // Make-up working days: Sunday 2026-09-20 and Saturday 2026-10-10 are open.
        assert!(matches!(cal.day(d("2026-09-20")), Day::MadeOpen(_)));
        assert!(matches!(cal.day(d("2026-10-10")), Day::MadeOpen(_)));
        // National Day week, and an ordinary weekend.
        assert_eq!(
            cal.day(d("2026-10-01")).closure().unwrap(),
            "National Day 国庆节"
        );
        assert_eq!(cal.day(d("2026-11-21")), Day::Weekend(Weekday::Sat));
        assert_eq!(cal.day(d("2026-11-21")).closure().unwrap(), "Saturday");
        assert!(cal.is_open(d("2026-11-23")));
        // The file covers 2026 only: 2027's holidays are not yet known.
        assert!(cal.covers(d("2026-12-31")));
        assert!(!cal.covers(d("2027-01-01")));
        assert!(!cal.covers(d("2025-12-31")));
    }

    /// Past its holiday file (2026), a calendar with `expected_holidays = "cn"` is closed on
    /// China's statutory holidays, which stay uncovered (provisional); the site's own lists
    /// still override them, and the years before the file are expected too.
    #[test]
    fn expected_holidays_close_the_dates_the_files_do_not_cover() {
        let (_d, cal) = china(
            "expected_holidays = \"cn\"\nopen = [\"2027-10-01\"]\nclosed = [\"2027-02-09\"]\n",
        );
        let cal = cal.unwrap();
        assert_eq!(cal.day(d("2027-01-01")), Day::Expected("元旦"));
        assert_eq!(
            cal.day(d("2027-01-01")).closure().unwrap(),
            "New Year's Day 元旦, expected"
        );
        assert!(!cal.covers(d("2027-01-01")));
        // Spring Festival 2027: the eve (Friday 5 February) to the 3rd day (Monday 8th).
        for day in ["2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08"] {
            assert_eq!(cal.day(d(day)), Day::Expected("春节"), "{day}");
        }
        assert_eq!(cal.day(d("2027-02-09")), Day::Holiday("site closed"));
        assert!(cal.is_open(d("2027-02-10")));
        assert_eq!(cal.day(d("2027-04-05")), Day::Expected("清明节"));
        assert_eq!(cal.day(d("2027-05-01")), Day::Expected("劳动节"));
        assert_eq!(cal.day(d("2027-05-02")), Day::Expected("劳动节"));
        assert_eq!(cal.day(d("2027-06-09")), Day::Expected("端午节"));
        assert_eq!(cal.day(d("2027-09-15")), Day::Expected("中秋节"));
        // The site's own open day holds; 2 and 3 October stay closed.
        assert!(cal.is_open(d("2027-10-01")));
        assert_eq!(cal.day(d("2027-10-02")), Day::Expected("国庆节"));
        // An ordinary weekend, and a weekday after National Day (no bridging day known).
        assert_eq!(cal.day(d("2027-10-09")), Day::Weekend(Weekday::Sat));
        assert!(cal.is_open(d("2027-10-04")));
        // 2026 is the file's: Spring Festival's eve 2026-02-16 as holiday-cn names it, and
        // its bridging day 2026-02-23 (not a statutory day) closed too.
        assert_eq!(cal.day(d("2026-02-16")), Day::Holiday("春节"));
        assert_eq!(cal.day(d("2026-02-23")), Day::Holiday("春节"));
        // 2025, before the file, is expected as well: 1 May and 2 May (rules from 2025).
        assert_eq!(cal.day(d("2025-05-02")), Day::Expected("劳动节"));
        assert_eq!(
            cal.expected_ranges(),
            vec![
                (d("2008-01-01"), d("2025-12-31")),
                (d("2027-01-01"), d("9999-12-31"))
            ]
        );
        assert_eq!(
            cal.expected_between(d("2027-09-30"), d("2027-10-04")),
            vec![(d("2027-10-02"), "国庆节"), (d("2027-10-03"), "国庆节")]
        );
        // Without the key, nothing is expected: 2027-01-01 is an ordinary Friday.
        let (_d, plain) = china("");
        let plain = plain.unwrap();
        assert!(plain.is_open(d("2027-01-01")));
        assert!(plain.expected_ranges().is_empty());
        assert_eq!(plain.expected_summary(), None);
    }

    #[test]
    fn an_unknown_expected_holidays_value_is_named_with_its_line() {
        let (_d, cal) = china("expected_holidays = \"china\"\n");
        let e = cal.unwrap_err().to_string();
        assert!(
            e.contains("guangzhou.toml:4: expected_holidays: 'china' is not a country whose holidays dosesim knows: use \"cn\" (China's statutory public holidays)"),
            "{e}"
        );
    }

    #[test]
    fn a_misspelt_key_is_matched_to_the_key_meant() {
        assert_eq!(
            nearest("open_if_summary", &SOURCE_KEYS),
            Some("open_if_summary_starts_with")
        );
        assert_eq!(nearest("nmae", &DATE_KEYS), Some("name"));
        assert_eq!(nearest("colsed", &CALENDAR_KEYS), Some("closed"));
        assert_eq!(nearest("closed_days", &CALENDAR_KEYS), Some("closed"));
        assert_eq!(nearest("Sources", &CALENDAR_KEYS), Some("sources"));
        assert_eq!(nearest("timezone", &CALENDAR_KEYS), None);
    }

    #[test]
    fn a_day_of_two_holidays_is_named_by_both() {
        assert_eq!(
            holiday_name("国庆节、中秋节"),
            "National Day and Mid-Autumn Festival 国庆节、中秋节"
        );
        assert_eq!(holiday_name("春节"), "Spring Festival 春节");
        assert_eq!(holiday_name("Lab maintenance"), "Lab maintenance");
    }

    #[test]
    fn the_ics_and_json_files_of_2026_agree() {
        let dir = tempfile::tempdir().unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/calendars/holidays");
        let path = dir.path().join("ics.toml");
        std::fs::write(
            &path,
            format!(
                "name = \"ics\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [{{ file = \"{}\", open_if_summary_starts_with = \"上班\" }}]\n",
                data.join("cn-2026.ics").display()
            ),
        )
        .unwrap();
        let from_ics = load(&path).unwrap();
        let (_d, from_json) = china("");
        let from_json = from_json.unwrap();
        for day in d("2026-01-01").iter_days().take(365) {
            assert_eq!(
                from_ics.is_open(day),
                from_json.is_open(day),
                "{day}: {:?} / {:?}",
                from_ics.day(day),
                from_json.day(day)
            );
        }
        assert_eq!(from_ics.coverage(), from_json.coverage());
    }

    #[test]
    fn the_file_s_own_dates_override_its_sources() {
        let (_d, cal) = china(
            "closed = [\"2026-12-24..2026-12-26\", { date = \"2026-11-30\", name = \"Lab maintenance\" }]\nopen = [{ date = \"2026-10-05\", name = \"Trial clinic\" }]\n",
        );
        let cal = cal.unwrap();
        assert_eq!(cal.day(d("2026-11-30")), Day::Holiday("Lab maintenance"));
        assert_eq!(cal.day(d("2026-12-25")), Day::Holiday("site closed"));
        assert!(cal.is_open(d("2026-10-05")));
    }

    #[test]
    fn problems_are_reported_together_with_lines() {
        let (_d, cal) = china(
            "closed = [\"2026-02-30\", \"2026-12-24\"]\nopen = [\"2026-12-24\"]\nclosed_days = 1\n",
        );
        let e = cal.unwrap_err().to_string();
        assert!(
            e.contains("guangzhou.toml:6: unknown key 'closed_days': did you mean 'closed'? (a site calendar has the keys name, closed_weekdays, sources, closed, open, covers, expected_holidays, location)"),
            "{e}"
        );
        // With the other problems of the file, at once.
        assert!(
            e.contains("guangzhou.toml:4: closed[0]: '2026-02-30' is not a real calendar date"),
            "{e}"
        );
        let (_d, cal) =
            china("closed = [\"2026-02-30\", \"2026-12-24\"]\nopen = [\"2026-12-24\", \"x\"]\n");
        let e = cal.unwrap_err().to_string();
        assert!(
            e.contains("guangzhou.toml:4: closed[0]: '2026-02-30' is not a real calendar date"),
            "{e}"
        );
        assert!(e.contains("guangzhou.toml:5: open[0]: 2026-12-24 is listed both closed and open (also on line 4)"), "{e}");
        assert!(
            e.contains("guangzhou.toml:5: open[1]: 'x' is not a date"),
            "{e}"
        );
    }

    #[test]
    fn a_csv_source_lists_dates_and_a_bad_row_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("h.csv"),
            "date,name,open\n2027-01-01,New Year,false\n2027-01-09,Make-up day,true\n",
        )
        .unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "name = \"S\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [\"h.csv\"]\n",
        )
        .unwrap();
        let cal = load(&path).unwrap();
        assert_eq!(cal.day(d("2027-01-01")), Day::Holiday("New Year"));
        assert_eq!(cal.day(d("2027-01-09")), Day::MadeOpen("Make-up day"));
        assert!(cal.covers(d("2027-12-31")));
        std::fs::write(
            dir.path().join("h.csv"),
            "date,name,open\n2027-01-01,New Year,maybe\n",
        )
        .unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(
            e.contains("h.csv:2: open: 'maybe' is not true or false"),
            "{e}"
        );
        // TRUE and FALSE, as a spreadsheet saves them, mean the same.
        std::fs::write(
            dir.path().join("h.csv"),
            "date,name,open\n2027-01-01,New Year,FALSE\n2027-01-09,Make-up day,True\n",
        )
        .unwrap();
        let cal = load(&path).unwrap();
        assert_eq!(cal.day(d("2027-01-01")), Day::Holiday("New Year"));
        assert_eq!(cal.day(d("2027-01-09")), Day::MadeOpen("Make-up day"));
    }
}
