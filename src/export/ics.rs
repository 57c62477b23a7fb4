//! A patient's calendar as an iCalendar file (RFC 5545) that calendar apps import.
//!
//! One all-day VEVENT per infusion, exchange and visit (background treatment is not an
//! appointment and stays in the CSV), no recurrence rules. The UID is built from the
//! trial, patient, event and occurrence so re-importing updates rather than duplicates,
//! and DTSTAMP is the patient's study day 1 at 00:00 UTC (with an administration record,
//! its as-of date) so the same inputs give the same bytes. With a record, each event is an
//! update a calendar app applies: SEQUENCE grows when its date or status changes
//! ([`super::Recorded::sequence`]), a missed or cancelled event is STATUS:CANCELLED and
//! one held for a decision STATUS:TENTATIVE.
//! A patient with no such event (background treatment only) gets no file: RFC 5545 allows
//! no calendar without a component ([`has_events`]). Each title starts with the patient
//! id, since the trial's and site's files (written by `bundle.rs` from [`events`], byte
//! for byte the patient's own) hold many patients. With `--remind-days N` or `--remind-at
//! HH:MM`, a dose or visit still to come has a VALARM N days before it (default 1) at that
//! hour (default 08:00). Every event is TRANSP:TRANSPARENT (a whole day in a shared
//! calendar is not shown busy) and at the site calendar's `location`, if it has one. The
//! patient's form (`--for patient`, [`Audience`]) says the same dates in plain words,
//! without doses, arm or assumptions. CRLF line ends and text escaping are the
//! `icalendar` crate's, folding at 75 octets is `refold`'s; this file decides what the
//! events say.

use icalendar::{Component, EventLike};

use super::{Calendar, Exporter};
use crate::format::{sci_exact, trim_decimals};
use crate::record::Status;
use crate::schedule::EventKind;

pub struct Ics;

/// Whether a patient of `arm` has an event for a calendar file: an infusion, exchange or
/// visit. An arm of background treatment only (a control arm) has none, and RFC 5545 allows
/// no calendar file without a component (an event, here), so its patients get no `.ics`
/// (nor does a site or trial whose patients are all on such arms).
pub fn has_events(arm: &crate::model::Arm) -> bool {
    !arm.components.is_empty() || !arm.visits.is_empty()
}

/// Why a patient of an arm without events has no calendar file, in the words the report,
/// the patient's page and `calendar --format ics` use.
pub const NO_EVENTS: &str = "an arm of background treatment only has no infusion, exchange or visit, and a calendar file (RFC 5545) must hold at least one event";

impl Exporter for Ics {
    fn render(&self, c: &Calendar) -> anyhow::Result<Vec<u8>> {
        Ok(render(c).into_bytes())
    }
}

pub fn render(c: &Calendar) -> String {
    file(&own_name(c), &events(c))
}

/// What a calendar app calls a patient's own file: "NCT04822922 high P2922-004"; the
/// patient's form, without the arm: "Study NCT04822922 appointments".
pub fn own_name(c: &Calendar) -> String {
    match c.audience {
        Audience::Staff => format!("{} {} {}", c.trial.id, c.arm.id, c.patient.id),
        Audience::Patient => format!("Study {} appointments", c.trial.id),
    }
}

/// A calendar file named `name` holding `events` (VEVENT blocks of [`events`]).
pub fn file(name: &str, events: &str) -> String {
    [header(name).as_str(), events, FOOTER].concat()
}

/// The last line of every calendar file.
pub const FOOTER: &str = "END:VCALENDAR\r\n";

/// The lines of a calendar file before its events, the calendar named `name` (what a
/// calendar app calls it on import).
pub fn header(name: &str) -> String {
    let mut cal = icalendar::Calendar::empty();
    cal.append_property(("VERSION", "2.0"));
    cal.append_property(("PRODID", "-//dosesim//dosesim calendar//EN"));
    cal.append_property(("CALSCALE", "GREGORIAN"));
    cal.append_property(("X-WR-CALNAME", text(name).as_ref()));
    let text = refold(&cal.to_string());
    text.strip_suffix(FOOTER)
        .expect("a calendar ends with END:VCALENDAR")
        .to_string()
}

/// One patient's events as VEVENT blocks, folded: the body of their own file and their
/// part of the trial's and the site's files, byte for byte the same in each.
pub fn events(c: &Calendar) -> String {
    let follow_up = c.follow_up();
    let mut cal = icalendar::Calendar::empty();
    // With a record, the stamp is its as-of date: an update is stamped by the day it
    // knows of.
    let stamp = c
        .record
        .map_or(c.patient.start, |r| r.as_of)
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    for r in c.rows.iter().filter(|r| r.kind != EventKind::Background) {
        let (summary, desc) = match c.audience {
            Audience::Staff => (
                staff_summary(c, r),
                staff_description(c, r, follow_up.as_deref()),
            ),
            Audience::Patient => (patient_summary(c, r), patient_description(c, r)),
        };
        cal.push(event(c, r, stamp, &summary, &desc));
    }
    let text = refold(&cal.to_string());
    let start = text
        .find("BEGIN:VEVENT")
        .unwrap_or(text.len() - FOOTER.len());
    text[start..text.len() - FOOTER.len()].to_string()
}

/// One VEVENT: an all-day event on the row's date, free time in a shared calendar
/// (TRANSP:TRANSPARENT: a whole day is not blocked), at the site's `location`, with its
/// SEQUENCE and STATUS from the record and a reminder while it is still to come.
fn event(
    c: &Calendar,
    r: &super::Row,
    stamp: chrono::DateTime<chrono::Utc>,
    summary: &str,
    desc: &[String],
) -> icalendar::Event {
    let uid = uid(c, r);
    let summary = text(summary).into_owned();
    let mut event = icalendar::Event::new()
        .uid(&uid)
        .timestamp(stamp)
        .summary(&summary)
        .description(&text(&desc.join("\n")))
        .starts(r.date)
        .ends(r.date.succ_opt().expect("a date after the schedule exists"))
        .done();
    event.append_property(("TRANSP", "TRANSPARENT"));
    if let Some(place) = c.site.and_then(|s| s.location.as_deref()) {
        event.location(&text(place));
    }
    if let Some(n) = c.sequence(r.status) {
        event.sequence(u32::try_from(n).unwrap_or(u32::MAX));
    }
    if c.record.is_some() {
        match r.status {
            Status::Cancelled | Status::Missed => {
                event.status(icalendar::EventStatus::Cancelled);
            }
            // Held for a decision: on the calendar, not confirmed.
            Status::Held => {
                event.status(icalendar::EventStatus::Tentative);
            }
            _ => {}
        }
    }
    // A reminder for a dose or visit still to come: given, missed and cancelled ones need
    // none.
    if let Some(remind) = c.remind
        && matches!(r.status, Status::Planned | Status::Due)
    {
        event.alarm(reminder(remind, &summary, &uid));
    }
    event.done()
}

/// The event's UID, built from the trial, patient, event and occurrence so that a
/// re-import updates rather than duplicates; the patient's form has UIDs of its own, so
/// that importing it beside the staff's file replaces none of its events.
fn uid(c: &Calendar, r: &super::Row) -> String {
    let form = match c.audience {
        Audience::Staff => "",
        Audience::Patient => "-patient",
    };
    format!(
        "{}-{}-{}-{}{form}@dosesim",
        c.trial.id, c.patient.id, r.event, r.occurrence
    )
}

/// The staff's title: the patient, what the record says, the event with its dose, and
/// any assumed value.
fn staff_summary(c: &Calendar, r: &super::Row) -> String {
    let summary = if r.is_dose() {
        match r.dose {
            Some(d) => format!(
                "{} {}/{}, {}",
                r.name,
                r.occurrence,
                r.occurrences,
                d.readable()
            ),
            None => format!("{} {}/{}", r.name, r.occurrence, r.occurrences),
        }
    } else {
        format!("Visit: {}", r.name)
    };
    // What the record says, first in the title: a calendar shows titles.
    let summary = match (c.record, r.status) {
        (None, _) | (_, Status::Planned) => summary,
        (Some(_), s) => format!("{} {summary}", s.as_str().to_uppercase()),
    };
    // An assumed value shows in the title too, where it is seen without opening the event.
    let summary = if r.assumed.is_empty() {
        summary
    } else {
        format!("{summary} [assumed: {}]", r.assumed)
    };
    // The patient first: one calendar holds a whole trial's or site's patients.
    format!("{}: {summary}", c.patient.id)
}

/// The staff's description: trial, arm, patient, the record, the placement, the dose
/// figures, the arm's rules and any assumed value, a line each.
fn staff_description(c: &Calendar, r: &super::Row, follow_up: Option<&str>) -> Vec<String> {
    let (trial, arm, patient) = (c.trial, c.arm, c.patient);
    let mut desc = vec![
        format!("Trial {}: {}", trial.id, trial.title),
        format!("Arm {}: {}", arm.id, arm.name),
        format!("Patient {}, {} kg", patient.id, patient.weight_kg),
        format!("Study day {}", r.study_day),
    ];
    if let Some(site) = r.site {
        desc.push(format!("Site {site}"));
    }
    if let Some(rec) = c.record {
        desc.push(format!(
            "Status: {} (administration record as of {})",
            r.status.as_str(),
            rec.as_of
        ));
        if let Some(p) = r.planned_amount {
            desc.push(format!("Planned dose: {}", p.readable()));
        }
        if !r.deviation.is_empty() {
            desc.push(format!("Deviation: {}", r.deviation.text()));
        }
    }
    if r.planned_date != r.date {
        desc.push(format!(
            "Planned date: {} {}",
            crate::timing::weekday_abbrev(r.planned_date),
            r.planned_date
        ));
    }
    if let Some(n) = super::placement_note(c.site, r) {
        desc.push(format!("Moved or flagged: {n} [{}]", r.flags.codes()));
    }
    if let Some(k) = r.dose_per_kg {
        desc.push(format!("Dose per kg: {} cells/kg", sci_exact(k)));
    }
    if let Some(d) = r.dose {
        desc.push(format!("Dose: {}", d.readable()));
    }
    if let Some(c) = r.cumulative_dose {
        desc.push(format!("Cumulative: {}", c.readable()));
    }
    if let Some(v) = r.volume_ml {
        desc.push(format!("Volume: {} mL", trim_decimals(v, 2)));
    }
    if let (Some(a), Some(b)) = (r.window_start, r.window_end) {
        desc.push(format!("Window: {a} to {b}"));
    }
    // The arm's rules (a stopping rule) in full wherever the event is read.
    desc.push(r.note.clone());
    desc.extend(arm.notes.iter().cloned());
    if let Some(f) = follow_up {
        desc.push(format!("F{}", &f[1..]));
    }
    if !r.assumed.is_empty() {
        desc.push(format!(
            "Assumed, not stated in the registry record: {}",
            r.assumed
        ));
    }
    desc
}

/// The patient's title, in plain words: "Stem cell infusion 2 of 4", "Plasma exchange 1
/// of 3", "Follow-up visit"; first what became of it when it will not happen as planned
/// ("Cancelled: ..."). No dose, patient id, arm or assumption.
fn patient_summary(c: &Calendar, r: &super::Row) -> String {
    let what = match r.kind {
        EventKind::CellInfusion => "Stem cell infusion",
        EventKind::PlasmaExchange => "Plasma exchange",
        EventKind::Visit | EventKind::Background => "Follow-up visit",
    };
    let what = if r.is_dose() && r.occurrences > 1 {
        format!("{what} {} of {}", r.occurrence, r.occurrences)
    } else {
        what.to_string()
    };
    match (c.record, r.status) {
        (Some(_), Status::Cancelled) => format!("Cancelled: {what}"),
        (Some(_), Status::Missed) => format!("Missed: {what}"),
        (Some(_), Status::Held) => format!("To be confirmed: {what}"),
        _ => what,
    }
}

/// The patient's description: the study's public registry number, a date moved from
/// the one planned, and a date that may still change. Nothing of doses, cell counts,
/// arms or assumptions.
fn patient_description(c: &Calendar, r: &super::Row) -> Vec<String> {
    let mut desc = vec![format!("Clinical study {}", c.trial.id)];
    if r.planned_date != r.date {
        desc.push(format!(
            "Moved from {} {}",
            crate::timing::weekday_abbrev(r.planned_date),
            r.planned_date
        ));
    }
    if r.flags.contains(crate::moves::Flags::PROVISIONAL) {
        desc.push(
            "This date may still change: the hospital's holidays for that year are not yet announced"
                .to_string(),
        );
    }
    if matches!(r.status, Status::Held) && c.record.is_some() {
        desc.push("Your study team will confirm this date".to_string());
    }
    desc
}

/// Text as an iCalendar TEXT value can hold it (RFC 5545 section 3.3.11), whatever its
/// source: a line break (CR LF, a lone CR or LF) becomes LF, which the `icalendar` crate
/// writes escaped (`\n`), and any other control character but a tab, which TEXT cannot hold,
/// becomes U+FFFD. A raw CR would end the line for a reader that ends lines at CR, and what
/// follows it would be read as a property of its own (an `ATTENDEE`, say).
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// When a calendar file's reminders come: `days_before` days before an event's day, at
/// `at`, the local time of whoever's calendar shows it (an all-day event's day is local).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remind {
    pub days_before: u32,
    pub at: chrono::NaiveTime,
}

impl Remind {
    /// The days before when only `--remind-at` is given: the day before.
    pub const DAYS_BEFORE: u32 = 1;
    /// The hour when only `--remind-days` is given: the start of a working day, not
    /// midnight.
    pub const AT: chrono::NaiveTime = chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap();

    /// The reminders `--remind-days` and `--remind-at` ask for: none when neither is given,
    /// else each defaulted (the day before, at 08:00).
    pub fn asked(days_before: Option<u32>, at: Option<chrono::NaiveTime>) -> Option<Remind> {
        if days_before.is_none() && at.is_none() {
            return None;
        }
        Some(Remind {
            days_before: days_before.unwrap_or(Self::DAYS_BEFORE),
            at: at.unwrap_or(Self::AT),
        })
    }

    /// The TRIGGER, a duration from the start of the event's day (00:00 local): "-PT16H" is
    /// 08:00 the day before, "-P1DT16H" two days before, "PT8H" 08:00 on the day. Whole
    /// days are nominal (a change of clocks does not move the hour) and the hours fall
    /// between the reminder and midnight, when no clock changes.
    pub fn trigger(self) -> String {
        use chrono::Timelike;
        let minutes = i64::from(self.days_before) * 24 * 60
            - i64::from(self.at.hour() * 60 + self.at.minute());
        let sign = if minutes > 0 { "-" } else { "" };
        let m = minutes.abs();
        let (days, hours, mins) = (m / (24 * 60), m / 60 % 24, m % 60);
        let mut out = format!("{sign}P");
        if days > 0 || m == 0 {
            out.push_str(&format!("{days}D"));
        }
        if hours > 0 || mins > 0 {
            out.push('T');
            if hours > 0 {
                out.push_str(&format!("{hours}H"));
            }
            if mins > 0 {
                out.push_str(&format!("{mins}M"));
            }
        }
        out
    }

    /// "the day before at 08:00", "3 days before at 07:30", "on the day at 08:00".
    pub fn words(self) -> String {
        let when = match self.days_before {
            0 => "on the day".to_string(),
            1 => "the day before".to_string(),
            n => format!("{n} days before"),
        };
        format!("{when} at {}", self.at.format("%H:%M"))
    }
}

/// Whom a calendar file is for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Audience {
    /// The trial's staff: the patient id, doses, the record, placement and assumptions
    #[default]
    Staff,
    /// The patient's own phone: plain titles, no cell counts, assumptions or arm
    Patient,
}

/// A VALARM at `remind`'s time before the event's day, to thaw or order the product or
/// to be at a visit. Its UID is the event's with `-remind`, so that the same inputs give
/// the same bytes (the crate would make up a random one).
fn reminder(remind: Remind, summary: &str, uid: &str) -> icalendar::Alarm {
    let when = match remind.days_before {
        0 => "Today".to_string(),
        1 => "Tomorrow".to_string(),
        n => format!("In {n} days"),
    };
    let mut alarm = icalendar::Alarm::display(
        &format!("{when}: {summary}"),
        icalendar::Trigger::before_start(chrono::Duration::days(i64::from(remind.days_before))),
    );
    // The crate writes the trigger in seconds; in days and hours it reads as set.
    alarm.append_property(
        icalendar::Property::new("TRIGGER", remind.trigger())
            .add_parameter("RELATED", "START")
            .done(),
    );
    alarm.uid(&uid.replacen("@dosesim", "-remind@dosesim", 1));
    alarm.done()
}

/// Folds every content line at 75 octets (RFC 5545 section 3.1): at most 75 on the first
/// physical line and a space plus at most 74 on each continuation, never inside a UTF-8
/// character. The `icalendar` crate folds too, but its last continuation can reach 76
/// (0.16 and 0.17 alike: a line of 76 octets after a multi-byte character or an escape).
fn refold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 64 * 3);
    let unfolded = text.replace("\r\n ", "");
    let mut in_alarm = false;
    for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
        // The crate stamps every component with the time of writing, a VALARM too; RFC
        // 5545 gives a VALARM no DTSTAMP, and a clock in the file would break the same
        // inputs giving the same bytes.
        match line {
            "BEGIN:VALARM" => in_alarm = true,
            "END:VALARM" => in_alarm = false,
            l if in_alarm && l.starts_with("DTSTAMP") => continue,
            _ => {}
        }
        let mut rest = line;
        let mut limit = 75;
        while rest.len() > limit {
            let mut cut = limit;
            // Not inside a UTF-8 character, and not between a backslash and the character it
            // escapes: legal, but some parsers unescape before they unfold.
            while !rest.is_char_boundary(cut) || rest.as_bytes()[cut - 1] == b'\\' {
                cut -= 1;
            }
            out.push_str(&rest[..cut]);
            out.push_str("\r\n ");
            rest = &rest[cut..];
            limit = 74;
        }
        out.push_str(rest);
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Remind, refold, text};

    fn remind(days: Option<u32>, at: Option<(u32, u32)>) -> Option<Remind> {
        Remind::asked(
            days,
            at.map(|(h, m)| chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap()),
        )
    }

    /// A reminder's TRIGGER is the time from the start of the event's day (00:00) to the
    /// hour asked on the day asked: before it, or after it on the day itself.
    #[test]
    fn a_reminder_comes_at_the_hour_on_the_day_asked() {
        assert_eq!(remind(None, None), None);
        let cases = [
            (None, Some((8, 0)), "-PT16H", "the day before at 08:00"),
            (Some(2), None, "-P1DT16H", "2 days before at 08:00"),
            (
                Some(3),
                Some((7, 30)),
                "-P2DT16H30M",
                "3 days before at 07:30",
            ),
            (Some(1), Some((0, 0)), "-P1D", "the day before at 00:00"),
            (Some(0), Some((0, 0)), "P0D", "on the day at 00:00"),
            (Some(0), Some((9, 15)), "PT9H15M", "on the day at 09:15"),
            (Some(1), Some((23, 59)), "-PT1M", "the day before at 23:59"),
            (
                Some(365),
                Some((0, 1)),
                "-P364DT23H59M",
                "365 days before at 00:01",
            ),
        ];
        for (days, at, trigger, words) in cases {
            let r = remind(days, at).unwrap();
            assert_eq!(r.trigger(), trigger, "{words}");
            assert_eq!(r.words(), words);
        }
    }

    /// No CR or other control character reaches a calendar file raw: a line break is
    /// escaped, anything else TEXT cannot hold is replaced.
    #[test]
    fn control_characters_are_escaped_or_replaced() {
        assert_eq!(text("Lab\r\nATTENDEE:x"), "Lab\nATTENDEE:x");
        assert_eq!(text("Lab\rATTENDEE:x"), "Lab\nATTENDEE:x");
        assert_eq!(text("a\u{7}b\u{1b}c\td"), "a\u{fffd}b\u{fffd}c\td");
        assert!(matches!(text("plain"), std::borrow::Cow::Borrowed(_)));
        use icalendar::Component;
        let event = icalendar::Event::new()
            .summary(&text("Closed\r\nATTENDEE:mailto:x@y"))
            .done();
        let mut cal = icalendar::Calendar::empty();
        cal.push(event);
        let written = refold(&cal.to_string());
        assert!(
            written.contains("SUMMARY:Closed\\nATTENDEE:mailto:x@y\r\n"),
            "{written}"
        );
        assert!(!written.contains("\r\nATTENDEE"), "{written}");
    }

    #[test]
    fn lines_fold_at_75_octets_on_character_boundaries() {
        let long = format!("DESCRIPTION:{}é{}", "x".repeat(70), "y".repeat(150));
        let text = refold(&format!("BEGIN:VEVENT\r\n{long}\r\nEND:VEVENT\r\n"));
        assert!(text.ends_with("\r\n"));
        for l in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        assert_eq!(
            text.replace("\r\n ", ""),
            format!("BEGIN:VEVENT\r\n{long}\r\nEND:VEVENT\r\n")
        );
    }
}
