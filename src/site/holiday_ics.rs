//! iCalendar (RFC 5545) holiday files for site calendars: each all-day VEVENT is a closed
//! range of days, or an open one when its summary starts with the prefix the calendar names.
//!
//! What an event says about its days is read in full, or the file is refused with the line
//! of what is not understood; nothing is read as something else:
//!
//! - `DTSTART;VALUE=DATE` starts it; `DTEND` (a date, exclusive) or `DURATION` (whole days
//!   or weeks, `P3D`, `P1W`) ends it, else it is one day long.
//! - `RRULE` repeats it (expanded with the rrule crate, DAILY to YEARLY, with COUNT, a date
//!   UNTIL or neither), `RDATE` adds days and `EXDATE` takes days out. A rule with no end is
//!   expanded over the dates the run's schedules can reach ([`Span`]).
//! - `STATUS:CANCELLED` events are skipped; an event with a `RECURRENCE-ID` replaces that
//!   occurrence of the event with the same `UID`.
//! - Times of day, `EXRULE`, `RDATE;VALUE=PERIOD`, a `RECURRENCE-ID` with `RANGE`, a second
//!   `DTSTART` (or `DTEND`, `DURATION`, `RRULE`, `SUMMARY`, `STATUS`) in one event, and
//!   lines that are not content lines are refused.
//!
//! The file is read in one pass over its lines, so that the time it takes grows with its
//! size only. The days it covers (for [`crate::site::SiteCalendar::covers`]) are the years
//! from its first to its last event's own days; a recurrence does not extend them (it says
//! the site is closed every Monday, not what else is closed in the years it reaches).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, TimeZone};

use crate::error::Problem;
use crate::site::{Budget, Listed, SourceDays, Span, name_problem, year_span};

/// The longest an event may last (ten years of days), as the site's own ranges.
const MAX_EVENT_DAYS: i64 = 3660;

/// A content line's parameters: (name in upper case, value without quotes).
type Params = Vec<(String, String)>;

/// One content line, unfolded, with the line it starts on.
struct Prop<'a> {
    /// Upper case.
    name: String,
    params: Params,
    value: &'a str,
    at: usize,
}

impl Prop<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One VEVENT: the line of its BEGIN and its own properties (not those of a VALARM in it).
struct Event<'a> {
    at: usize,
    props: Vec<Prop<'a>>,
}

/// Reads an iCalendar holiday file. `open_prefix`: a summary starting with it is an open day.
/// `span`: the dates a recurrence is expanded over (`None`: a hundred years from its start,
/// for `calendars check`).
pub(crate) fn read(
    path: &Path,
    text: &str,
    open_prefix: Option<&str>,
    span: Option<Span>,
    budget: &mut Budget,
) -> Result<SourceDays, Vec<Problem>> {
    let lines = unfold(text);
    let events = structure(path, &lines)?;
    let mut problems = Vec::new();

    // The occurrences that events with a RECURRENCE-ID replace, by UID.
    let mut replaced: BTreeMap<&str, Vec<NaiveDate>> = BTreeMap::new();
    for ev in &events {
        let Ok(Some(rid)) = single(path, ev, "RECURRENCE-ID") else {
            continue;
        };
        if rid.param("RANGE").is_some() {
            problems.push(
                Problem::new(
                    path,
                    "RECURRENCE-ID with RANGE (this and later occurrences) is not read: give each changed occurrence its own event, or end the rule and start a new one",
                )
                .at(Some(rid.at)),
            );
            continue;
        }
        let uid = match single(path, ev, "UID") {
            Ok(Some(u)) => u.value,
            _ => {
                problems.push(
                    Problem::new(
                        path,
                        "an event with a RECURRENCE-ID needs the UID of the event whose occurrence it replaces",
                    )
                    .at(Some(rid.at)),
                );
                continue;
            }
        };
        match date_value(rid) {
            Ok(d) => replaced.entry(uid).or_default().push(d),
            Err(msg) => problems.push(Problem::new(path, msg).at(Some(rid.at))),
        }
    }

    let mut days = Vec::new();
    let mut own_days: Vec<NaiveDate> = Vec::new();
    for ev in &events {
        match event(path, ev, &replaced, open_prefix, span) {
            Ok(None) => {}
            Ok(Some(e)) => {
                own_days.push(e.start);
                own_days.push(e.start + chrono::Duration::days(e.days - 1));
                for first in e.starts {
                    if !budget.take(e.days as usize) {
                        problems.extend(budget.over(path, Some(ev.at)));
                        return Err(problems);
                    }
                    for d in first.iter_days().take(e.days as usize) {
                        days.push((
                            d,
                            Listed {
                                open: e.open,
                                name: e.name.clone(),
                            },
                            Some(ev.at),
                        ));
                    }
                }
            }
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(SourceDays {
            days,
            covers: year_span(own_days.into_iter()),
        })
    } else {
        Err(problems)
    }
}

/// An event as read: its name, whether it opens the site, how many days each occurrence
/// lasts, its own first day and the first day of every occurrence within the span.
struct Read {
    name: String,
    open: bool,
    start: NaiveDate,
    days: i64,
    starts: Vec<NaiveDate>,
}

/// What one event says, `None` for a cancelled one; or every problem of it.
fn event(
    path: &Path,
    ev: &Event,
    replaced: &BTreeMap<&str, Vec<NaiveDate>>,
    open_prefix: Option<&str>,
    span: Option<Span>,
) -> Result<Option<Read>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut one = |name: &str| match single(path, ev, name) {
        Ok(p) => p,
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let summary = one("SUMMARY");
    let start = one("DTSTART");
    let end = one("DTEND");
    let duration = one("DURATION");
    let status = one("STATUS");
    let rrule = one("RRULE");
    let uid = one("UID");
    let recurrence_id = one("RECURRENCE-ID");

    let name = match summary {
        Some(s) => unescape(s.value),
        None => "closed".to_string(),
    };
    if let Some(msg) = name_problem(&name) {
        let at = Some(summary.map_or(ev.at, |p| p.at));
        problems.push(Problem::new(path, msg).at(at).field("SUMMARY"));
    }
    if cancelled(path, status, &mut problems) {
        return Ok(None);
    }
    if let Some(p) = ev.props.iter().find(|p| p.name == "EXRULE") {
        problems.push(
            Problem::new(
                path,
                "EXRULE (withdrawn from iCalendar by RFC 5545) is not read: list the days to leave out with EXDATE",
            )
            .at(Some(p.at)),
        );
    }
    let start = start_date(path, ev, start, &name, &mut problems);
    let days = length(path, ev, &name, (start, end, duration), &mut problems);
    let rdates = dates_of(path, ev, "RDATE", &mut problems);
    let uid = uid.filter(|_| recurrence_id.is_none());
    let exdates = left_out(path, ev, uid, replaced, &mut problems);
    let rule = rrule.and_then(|r| match rule(r.value) {
        Ok(x) => Some((x, r.at)),
        Err(msg) => {
            problems.push(Problem::new(path, msg).at(Some(r.at)).field("RRULE"));
            None
        }
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(start), Some(days)) = (start, days) else {
        return Err(problems);
    };
    let open = open_prefix.is_some_and(|p| name.starts_with(p));
    let starts = if rule.is_none() && rdates.is_empty() {
        if exdates.contains(&start) {
            Vec::new()
        } else {
            vec![start]
        }
    } else {
        expand(path, start, days, rule, &rdates, &exdates, span).map_err(|p| vec![p])?
    };
    Ok(Some(Read {
        name,
        open,
        start,
        days,
        starts,
    }))
}

/// The days an event leaves out: its EXDATEs, and the occurrences other events replace
/// (`uid`: the event's, unless it replaces one itself).
fn left_out(
    path: &Path,
    ev: &Event,
    uid: Option<&Prop>,
    replaced: &BTreeMap<&str, Vec<NaiveDate>>,
    problems: &mut Vec<Problem>,
) -> Vec<NaiveDate> {
    let mut exdates: Vec<NaiveDate> = dates_of(path, ev, "EXDATE", problems)
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    if let Some(u) = uid
        && let Some(r) = replaced.get(u.value)
    {
        exdates.extend(r.iter().copied());
    }
    exdates
}

/// Whether the event's STATUS is CANCELLED (then it is skipped); a status that is none
/// of RFC 5545's is a problem.
fn cancelled(path: &Path, status: Option<&Prop>, problems: &mut Vec<Problem>) -> bool {
    let Some(s) = status else {
        return false;
    };
    match s.value.trim().to_ascii_uppercase().as_str() {
        "CANCELLED" => return true,
        "CONFIRMED" | "TENTATIVE" => {}
        other => problems.push(
            Problem::new(
                path,
                format!(
                    "'{other}' is not an event status: an event is CONFIRMED, TENTATIVE (both read as listed) or CANCELLED (skipped)"
                ),
            )
            .at(Some(s.at))
            .field("STATUS"),
        ),
    }
    false
}

/// The event's first day: its DTSTART, a date (an all-day event).
fn start_date(
    path: &Path,
    ev: &Event,
    start: Option<&Prop>,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<NaiveDate> {
    match start {
        Some(p) if is_date(p) => match date_value(p) {
            Ok(d) => Some(d),
            Err(msg) => {
                problems.push(Problem::new(path, msg).at(Some(p.at)).field("DTSTART"));
                None
            }
        },
        Some(p) => {
            problems.push(
                Problem::new(
                    path,
                    format!("event '{name}' is not an all-day event (DTSTART;VALUE=DATE)"),
                )
                .at(Some(p.at)),
            );
            None
        }
        None => {
            problems.push(
                Problem::new(
                    path,
                    format!("event '{name}' has no DTSTART: an all-day event starts on a date (DTSTART;VALUE=DATE:20261001)"),
                )
                .at(Some(ev.at)),
            );
            None
        }
    }
}

/// How many days each occurrence lasts, from its DTEND or DURATION (one day without
/// either), at least one and at most [`MAX_EVENT_DAYS`].
fn length(
    path: &Path,
    ev: &Event,
    name: &str,
    (start, end, duration): (Option<NaiveDate>, Option<&Prop>, Option<&Prop>),
    problems: &mut Vec<Problem>,
) -> Option<i64> {
    let days = match (end, duration) {
        (Some(e), Some(d)) => {
            problems.push(
                Problem::new(
                    path,
                    format!(
                        "event '{name}' has both DTEND (line {}) and DURATION: RFC 5545 allows one",
                        e.at
                    ),
                )
                .at(Some(d.at)),
            );
            None
        }
        (Some(e), None) if !is_date(e) => {
            problems.push(
                Problem::new(path, format!("event '{name}' ends at a time, not a date"))
                    .at(Some(e.at)),
            );
            None
        }
        (Some(e), None) => match (date_value(e), start) {
            (Ok(end), Some(start)) => Some((end - start).num_days()),
            (Ok(_), None) => None,
            (Err(msg), _) => {
                problems.push(Problem::new(path, msg).at(Some(e.at)).field("DTEND"));
                None
            }
        },
        (None, Some(d)) => {
            let n = duration_days(d.value);
            if n.is_none() {
                problems.push(
                    Problem::new(
                        path,
                        format!(
                            "'{}' is not a whole number of days or weeks (P3D, P1W): an all-day event lasts whole days",
                            d.value
                        ),
                    )
                    .at(Some(d.at))
                    .field("DURATION"),
                );
            }
            n
        }
        (None, None) => Some(1),
    };
    if let (Some(start), Some(n)) = (start, days)
        && !(1..=MAX_EVENT_DAYS).contains(&n)
    {
        let end = start + chrono::Duration::days(n);
        problems.push(
            Problem::new(
                path,
                format!(
                    "event '{name}' ends {end}, not after it starts {start}, or runs over ten years"
                ),
            )
            .at(Some(end_prop_of(ev).map_or(ev.at, |p| p.at))),
        );
    }
    days
}

/// The line of an event's DTEND or DURATION, for a message about how long it lasts.
fn end_prop_of<'e, 'a>(ev: &'e Event<'a>) -> Option<&'e Prop<'a>> {
    ev.props
        .iter()
        .find(|p| p.name == "DTEND" || p.name == "DURATION")
}

/// The first day of every occurrence of a repeating event within the span (or, without
/// one, within a hundred years of its start): DTSTART, the rule's days and RDATEs, less the
/// EXDATEs.
fn expand(
    path: &Path,
    start: NaiveDate,
    days: i64,
    rule: Option<(rrule::RRule<rrule::Unvalidated>, usize)>,
    rdates: &[(NaiveDate, usize)],
    exdates: &[NaiveDate],
    span: Option<Span>,
) -> Result<Vec<NaiveDate>, Problem> {
    let utc = |d: NaiveDate| {
        rrule::Tz::UTC.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
    };
    let dtstart = utc(start);
    let mut set = rrule::RRuleSet::new(dtstart);
    if let Some((r, at)) = rule {
        if let Some(until) = r.get_until()
            && until.date_naive() < start
        {
            return Err(Problem::new(
                path,
                format!(
                    "the rule ends (UNTIL {}) before the event starts (DTSTART {start}): check both dates",
                    until.date_naive()
                ),
            )
            .at(Some(at))
            .field("RRULE"));
        }
        match r.validate(dtstart) {
            Ok(v) => set = set.rrule(v),
            Err(e) => {
                return Err(Problem::new(
                    path,
                    format!("the rule is not one dosesim can read: {}", rrule_error(&e)),
                )
                .at(Some(at))
                .field("RRULE"));
            }
        }
    }
    // RFC 5545: DTSTART is the first occurrence, whether or not the rule gives it.
    set = set.rdate(dtstart);
    for (d, _) in rdates {
        set = set.rdate(utc(*d));
    }
    for d in exdates {
        set = set.exdate(utc(*d));
    }
    let (lo, hi) = match span {
        Some(s) => (
            s.first
                .checked_sub_signed(chrono::Duration::days(days - 1))
                .unwrap_or(s.first),
            s.last,
        ),
        None => (
            start,
            start
                .checked_add_signed(chrono::Duration::days(crate::limits::MAX_DAY as i64))
                .unwrap_or(NaiveDate::MAX),
        ),
    };
    let result = set.after(utc(lo)).before(utc(hi)).all(u16::MAX);
    if result.limited {
        let msg = if result.dates.len() >= usize::from(u16::MAX) {
            format!(
                "the event repeats more than {} times from {lo} to {hi}, the dates the schedules can reach: a site calendar lists closures, not every day",
                u16::MAX
            )
        } else {
            "the rule finds no further date within a hundred thousand steps: is it one that can never match (30 February)?".to_string()
        };
        return Err(Problem::new(path, msg).field("RRULE"));
    }
    let mut out: Vec<NaiveDate> = result.dates.iter().map(|d| d.date_naive()).collect();
    out.dedup();
    Ok(out)
}

/// An RRULE's value for an all-day event, its UNTIL a date as RFC 5545 requires of one.
fn rule(value: &str) -> Result<rrule::RRule<rrule::Unvalidated>, String> {
    let mut until = None;
    let mut parts = Vec::new();
    for part in value.split(';').filter(|p| !p.trim().is_empty()) {
        let (key, val) = part.split_once('=').unwrap_or((part, ""));
        let key = key.trim().to_ascii_uppercase();
        match key.as_str() {
            "UNTIL" => {
                let v = val.trim();
                if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "UNTIL={v} is not a date: an all-day event's rule ends on a date (UNTIL=20261231), as RFC 5545 requires"
                    ));
                }
                until = Some(ymd(v).ok_or_else(|| format!("UNTIL={v} is not a real date"))?);
            }
            "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                return Err(format!(
                    "{key} gives times of day: an all-day closure repeats on days"
                ));
            }
            "FREQ" | "COUNT" | "INTERVAL" | "BYDAY" | "BYMONTHDAY" | "BYYEARDAY" | "BYWEEKNO"
            | "BYMONTH" | "BYSETPOS" | "WKST" => parts.push(part),
            _ => {
                return Err(format!(
                    "{key} is not a part of a recurrence rule (RFC 5545 has FREQ, UNTIL, COUNT, INTERVAL, BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYMONTH, BYSETPOS and WKST for days)"
                ));
            }
        }
    }
    let count = |key: &str| {
        parts.iter().find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    };
    if count("COUNT").is_some() && until.is_some() {
        return Err(format!(
            "'{value}' has both COUNT and UNTIL: RFC 5545 allows one"
        ));
    }
    for key in ["COUNT", "INTERVAL"] {
        if let Some(v) = count(key)
            && v.parse::<u32>().is_ok_and(|n| n == 0)
        {
            return Err(format!("{key}={v}: a rule's {key} is a positive number"));
        }
    }
    let r: rrule::RRule<rrule::Unvalidated> = parts.join(";").parse().map_err(|e| {
        format!(
            "'{value}' is not a rule dosesim can read: {}",
            rrule_error(&e)
        )
    })?;
    if matches!(
        r.get_freq(),
        rrule::Frequency::Hourly | rrule::Frequency::Minutely | rrule::Frequency::Secondly
    ) {
        return Err(format!(
            "'{value}' repeats within a day: an all-day closure repeats DAILY, WEEKLY, MONTHLY or YEARLY"
        ));
    }
    Ok(match until {
        Some(u) => r.until(
            rrule::Tz::UTC.from_utc_datetime(&u.and_hms_opt(0, 0, 0).expect("midnight exists")),
        ),
        None => r,
    })
}

/// What the rrule crate says is wrong, without its own name for the error.
fn rrule_error(e: &rrule::RRuleError) -> String {
    let text = match e {
        rrule::RRuleError::ParserError(p) => p.to_string(),
        rrule::RRuleError::ValidationError(v) => v.to_string(),
        rrule::RRuleError::IterError(m) => m.clone(),
    };
    text.trim_end_matches('.').to_string()
}

/// The dates of every RDATE or EXDATE property of an event, with their lines.
fn dates_of(
    path: &Path,
    ev: &Event,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Vec<(NaiveDate, usize)> {
    let mut out = Vec::new();
    for p in ev.props.iter().filter(|p| p.name == name) {
        match p.param("VALUE").map(str::to_ascii_uppercase).as_deref() {
            None | Some("DATE") => {}
            Some(v) => {
                problems.push(
                    Problem::new(
                        path,
                        format!(
                            "{name};VALUE={v} is not read: an all-day event's {name} lists dates ({name};VALUE=DATE:20261001,20261008)"
                        ),
                    )
                    .at(Some(p.at))
                    .field(name),
                );
                continue;
            }
        }
        for v in p.value.split(',') {
            let v = v.trim();
            match (v.len() == 8).then(|| ymd(v)).flatten() {
                Some(d) => out.push((d, p.at)),
                None => problems.push(
                    Problem::new(
                        path,
                        format!(
                            "'{v}' is not a date (YYYYMMDD): an all-day event's {name} lists dates, not times"
                        ),
                    )
                    .at(Some(p.at))
                    .field(name),
                ),
            }
        }
    }
    out
}

/// The event's only property `name`, if any; a second one is refused.
fn single<'e, 'a>(
    path: &Path,
    ev: &'e Event<'a>,
    name: &str,
) -> Result<Option<&'e Prop<'a>>, Problem> {
    let mut found = ev.props.iter().filter(|p| p.name == name);
    let first = found.next();
    match (first, found.next()) {
        (Some(a), Some(b)) => Err(Problem::new(
            path,
            format!(
                "{name} appears twice in one event (also on line {}): RFC 5545 allows one",
                a.at
            ),
        )
        .at(Some(b.at))),
        (first, None) => Ok(first),
        (None, Some(_)) => unreachable!("the second of none"),
    }
}

/// Whether a date property holds a date (not a date and time).
fn is_date(p: &Prop) -> bool {
    match p.param("VALUE") {
        Some(v) => v.eq_ignore_ascii_case("DATE"),
        None => !p.value.contains('T'),
    }
}

/// A DATE value (YYYYMMDD) of a property.
fn date_value(p: &Prop) -> Result<NaiveDate, String> {
    let v = p.value.trim();
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{v}' is not a date (YYYYMMDD): an all-day event's {} is a date",
            p.name
        ));
    }
    ymd(v).ok_or_else(|| format!("'{v}' is not a real calendar date"))
}

/// YYYYMMDD, years 1 to 9999.
fn ymd(v: &str) -> Option<NaiveDate> {
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| v[r].parse::<u32>().ok();
    let year = n(0..4)? as i32;
    if year < 1 {
        return None;
    }
    NaiveDate::from_ymd_opt(year, n(4..6)?, n(6..8)?)
}

/// Days of a DURATION of whole days or weeks (`P3D`, `P1W`, `+P2D`).
fn duration_days(v: &str) -> Option<i64> {
    let v = v.trim();
    let v = v.strip_prefix('+').unwrap_or(v);
    let rest = v.strip_prefix('P')?;
    let (n, unit) = rest.split_at(rest.len().checked_sub(1)?);
    if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = n.parse().ok()?;
    match unit {
        "D" => Some(n),
        "W" => Some(n * 7),
        _ => None,
    }
}

/// A TEXT value unescaped (RFC 5545 section 3.3.11): `\\`, `\;`, `\,`, `\n` and `\N`.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(x @ ('\\' | ';' | ',' | ':')) => out.push(x),
            Some(x) => {
                out.push('\\');
                out.push(x);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The content lines of the text, unfolded (a line starting with a space or tab continues
/// the one before), each with the line it starts on; blank lines left out.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match line.as_bytes().first() {
            Some(b' ' | b'\t') if !out.is_empty() => {
                out.last_mut().expect("not empty").1.push_str(&line[1..]);
            }
            _ if line.trim().is_empty() => {}
            _ => out.push((i + 1, line.to_string())),
        }
    }
    out
}

/// The VEVENTs of the file's calendars, each with its own properties; or what makes the
/// file not an iCalendar file, with its line.
fn structure<'a>(
    path: &Path,
    lines: &'a [(usize, String)],
) -> Result<Vec<Event<'a>>, Vec<Problem>> {
    let bad = |at: usize, msg: String| {
        vec![Problem::new(path, format!("not an iCalendar file: {msg}")).at(Some(at))]
    };
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut events = Vec::new();
    let mut current: Option<Event> = None;
    let mut calendars = 0;
    for (at, line) in lines {
        let at = *at;
        let (name, params, value) = content_line(line).map_err(|m| bad(at, m))?;
        match name.as_str() {
            "BEGIN" => {
                let what = value.trim().to_ascii_uppercase();
                match (stack.len(), what.as_str()) {
                    (0, "VCALENDAR") => calendars += 1,
                    (0, _) => {
                        return Err(bad(
                            at,
                            format!("BEGIN:{what} outside BEGIN:VCALENDAR ... END:VCALENDAR"),
                        ));
                    }
                    (1, "VEVENT") => {
                        current = Some(Event {
                            at,
                            props: Vec::new(),
                        })
                    }
                    _ => {}
                }
                stack.push((what, at));
            }
            "END" => {
                let what = value.trim().to_ascii_uppercase();
                match stack.pop() {
                    Some((open, _)) if open == what => {
                        if stack.len() == 1 && what == "VEVENT" {
                            events.extend(current.take());
                        }
                    }
                    Some((open, from)) => {
                        return Err(bad(
                            at,
                            format!("END:{what} where BEGIN:{open} (line {from}) is still open"),
                        ));
                    }
                    None => return Err(bad(at, format!("END:{what} with no BEGIN"))),
                }
            }
            _ if stack.is_empty() => {
                return Err(bad(
                    at,
                    format!("{name} outside BEGIN:VCALENDAR ... END:VCALENDAR"),
                ));
            }
            _ => {
                if stack.len() == 2
                    && let Some(ev) = current.as_mut()
                {
                    ev.props.push(Prop {
                        name,
                        params,
                        value,
                        at,
                    });
                }
            }
        }
    }
    if let Some((open, from)) = stack.pop() {
        return Err(bad(
            from,
            format!("BEGIN:{open} is never ended (END:{open})"),
        ));
    }
    if calendars == 0 {
        return Err(vec![Problem::new(
            path,
            "not an iCalendar file: no BEGIN:VCALENDAR",
        )]);
    }
    Ok(events)
}

/// A content line's name (upper case), parameters and value: `NAME;PARAM=V:value`.
fn content_line(line: &str) -> Result<(String, Params, &str), String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-';
    let end = line.find(|c: char| !is_name(c)).unwrap_or(line.len());
    let shown = || line.chars().take(60).collect::<String>();
    if end == 0 {
        return Err(format!("'{}' is not a content line (NAME:value)", shown()));
    }
    let name = line[..end].to_ascii_uppercase();
    let mut params = Vec::new();
    let mut rest = &line[end..];
    loop {
        match rest.as_bytes().first() {
            Some(b':') => return Ok((name, params, &rest[1..])),
            Some(b';') => {
                let r = &rest[1..];
                let k = r.find(|c: char| !is_name(c)).unwrap_or(r.len());
                if k == 0 || !r[k..].starts_with('=') {
                    return Err(format!("'{}' has a parameter with no name=value", shown()));
                }
                let pname = r[..k].to_ascii_uppercase();
                let mut r = &r[k + 1..];
                let mut values = Vec::new();
                loop {
                    if let Some(q) = r.strip_prefix('"') {
                        let close = q
                            .find('"')
                            .ok_or_else(|| format!("'{}' has an unclosed quote", shown()))?;
                        values.push(&q[..close]);
                        r = &q[close + 1..];
                    } else {
                        let e = r.find([',', ';', ':']).unwrap_or(r.len());
                        values.push(&r[..e]);
                        r = &r[e..];
                    }
                    match r.strip_prefix(',') {
                        Some(more) => r = more,
                        None => break,
                    }
                }
                params.push((pname, values.join(",")));
                rest = r;
            }
            _ => return Err(format!("'{}' is not a content line (NAME:value)", shown())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::parse_date;
    use std::collections::BTreeSet;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn ics(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{events}END:VCALENDAR\r\n")
    }

    fn days(text: &str, span: Option<Span>) -> Result<BTreeSet<NaiveDate>, String> {
        let mut budget = Budget::new();
        read(Path::new("h.ics"), text, None, span, &mut budget)
            .map(|s| s.days.into_iter().map(|(d, _, _)| d).collect())
            .map_err(|p| {
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn a_weekly_rule_closes_every_monday_of_the_span() {
        let text = ics(
            "BEGIN:VEVENT\r\nSUMMARY:Lab closed\r\nDTSTART;VALUE=DATE:20261005\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\nEND:VEVENT\r\n",
        );
        let span = Span {
            first: d("2026-11-01"),
            last: d("2026-11-30"),
        };
        let got = days(&text, Some(span)).unwrap();
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![
                d("2026-11-02"),
                d("2026-11-09"),
                d("2026-11-16"),
                d("2026-11-23"),
                d("2026-11-30")
            ]
        );
    }

    #[test]
    fn count_until_rdate_exdate_duration_and_cancelled() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\nSUMMARY:A\r\nDTSTART;VALUE=DATE:20260105\r\nDURATION:P2D\r\n",
            "RRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE;VALUE=DATE:20260112\r\nRDATE;VALUE=DATE:20260301\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nSUMMARY:B\r\nDTSTART;VALUE=DATE:20260401\r\nRRULE:FREQ=MONTHLY;UNTIL=20260601\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nSUMMARY:C\r\nSTATUS:CANCELLED\r\nDTSTART;VALUE=DATE:20260701\r\nEND:VEVENT\r\n",
        ));
        let got: Vec<_> = days(&text, None).unwrap().into_iter().collect();
        assert_eq!(
            got,
            vec![
                d("2026-01-05"),
                d("2026-01-06"),
                d("2026-01-19"),
                d("2026-01-20"),
                d("2026-03-01"),
                d("2026-03-02"),
                d("2026-04-01"),
                d("2026-05-01"),
                d("2026-06-01"),
            ]
        );
    }

    #[test]
    fn a_recurrence_id_replaces_its_occurrence() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\nUID:x\r\nSUMMARY:A\r\nDTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:x\r\nRECURRENCE-ID;VALUE=DATE:20260112\r\nSUMMARY:A\r\nDTSTART;VALUE=DATE:20260113\r\nEND:VEVENT\r\n",
        ));
        let got: Vec<_> = days(&text, None).unwrap().into_iter().collect();
        assert_eq!(got, vec![d("2026-01-05"), d("2026-01-13"), d("2026-01-19")]);
    }

    #[test]
    fn what_is_not_understood_is_refused_with_its_line() {
        for (event, needle) in [
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=HOURLY\r\n",
                "h.ics:5: RRULE: 'FREQ=HOURLY' repeats within a day",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=WEEKLY;UNTIL=20260301T000000Z\r\n",
                "h.ics:5: RRULE: UNTIL=20260301T000000Z is not a date",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=FORTNIGHTLY\r\n",
                "h.ics:5: RRULE: 'FREQ=FORTNIGHTLY' is not a rule dosesim can read: `FORTNIGHTLY` is not a valid frequency",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=DAILY;COUNT=2;UNTIL=20260110\r\n",
                "h.ics:5: RRULE: 'FREQ=DAILY;COUNT=2;UNTIL=20260110' has both COUNT and UNTIL",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=WEEKLY;UNTIL=20251001\r\n",
                "h.ics:5: RRULE: the rule ends (UNTIL 2025-10-01) before the event starts (DTSTART 2026-01-05)",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=WEEKLY;X-FOO=1\r\n",
                "h.ics:5: RRULE: X-FOO is not a part of a recurrence rule",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=DAILY;INTERVAL=0\r\n",
                "h.ics:5: RRULE: INTERVAL=0: a rule's INTERVAL is a positive number",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nDURATION:PT36H\r\n",
                "h.ics:5: DURATION: 'PT36H' is not a whole number of days",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nDTEND;VALUE=DATE:20260106\r\nDURATION:P1D\r\n",
                "h.ics:6: event 'closed' has both DTEND (line 5) and DURATION",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nRDATE;VALUE=PERIOD:20260101/P1D\r\n",
                "h.ics:5: RDATE: RDATE;VALUE=PERIOD is not read",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nEXDATE:20260112T000000Z\r\n",
                "h.ics:5: EXDATE: '20260112T000000Z' is not a date",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nEXRULE:FREQ=WEEKLY\r\n",
                "h.ics:5: EXRULE (withdrawn",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nDTSTART;VALUE=DATE:20260106\r\n",
                "h.ics:5: DTSTART appears twice in one event (also on line 4)",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nSTATUS:POSTPONED\r\n",
                "h.ics:5: STATUS: 'POSTPONED' is not an event status",
            ),
            (
                "SUMMARY:Bad\\nname\r\nDTSTART;VALUE=DATE:20260105\r\n",
                "h.ics:4: SUMMARY: the name contains the control character U+000A",
            ),
            (
                "DTSTART;VALUE=DATE:20260105\r\nnot a line\r\n",
                "h.ics:5: not an iCalendar file: 'not a line' is not a content line",
            ),
        ] {
            let text = ics(&format!("BEGIN:VEVENT\r\n{event}END:VEVENT\r\n"));
            let e = days(&text, None).unwrap_err();
            assert!(e.contains(needle), "{needle}\n{e}");
        }
    }

    #[test]
    fn a_rule_with_no_end_is_expanded_over_the_span_only() {
        let text = ics(
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20000101\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n",
        );
        let span = Span {
            first: d("2026-01-01"),
            last: d("2026-12-31"),
        };
        assert_eq!(days(&text, Some(span)).unwrap().len(), 365);
    }
}
