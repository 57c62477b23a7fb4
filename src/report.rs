//! The HTML report of a cohort, and the index linking the trials' reports.
//!
//! Written with `maud` templates: the compiler checks the markup's shape and every value is
//! escaped unless marked as trusted markup (only the charts' own SVG is). A report is one
//! self-contained file: styles inline, charts inline as SVG, no script, font, style sheet
//! or image from anywhere else, so it opens from a file on a machine without internet and
//! prints legibly, one patient to a page. The only link out is the registry record.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::describe;
use crate::export::{self, Row, table::event_name};
use crate::format::{Amount, sci, sci_exact, trim_decimals};
use crate::manifest::{Input, Manifest};
use crate::model::{Kg, Trial};
use crate::moves::Flags;
use crate::schedule::{Event, EventKind, component_totals};
use crate::site::SiteCalendar;
use chrono::NaiveDate;

const STYLE: &str = "
@page { size: A4; margin: 12mm; }
@page wide { size: A4 landscape; margin: 12mm; }
body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; margin: 2em auto; max-width: 72em; color: #111; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #999; margin-top: 2em; }
h2, h3 { break-after: avoid; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.d, span.d, span.num { white-space: nowrap; } td.ev { min-width: 12em; }
.meta { color: #444; } .assumed { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }
td.flag, span.flag { background: #fff3cd; }
span.moved { font-size: 0.85em; color: #444; } span.moved.flag { background: #fff3cd; color: #111; }
span.sub { display: block; font-size: 0.85em; color: #444; font-weight: normal; }
table.events td.n { white-space: normal; } table.events td.ev { min-width: 8em; }
table.events tbody.more > tr:first-child > td { border-bottom: none; }
table.events tr.more > td { border-top: none; padding-left: 1.5em; font-size: 0.9em; }
table.events span.flag { padding: 0 0.2em; }
details { margin: 0.3em 0; border: 1px solid #ddd; padding: 0.3em 0.6em; }
summary { cursor: pointer; font-weight: bold; }
svg { max-width: 100%; height: auto; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  details { border: none; } details::details-content { content-visibility: visible; display: block; }
  details.patient { break-before: page; } details.patient.wide, div.wide { page: wide; }
  div.one details.patient { break-before: auto; }
  tr, tbody { break-inside: avoid; } thead { display: table-header-group; }
  div.figure { break-inside: avoid; }
  a { color: #000; } svg { max-height: 45vh; }
}
";

/// What the report shows of one patient: their calendar rows and chart.
pub struct PatientSection<'a> {
    pub id: &'a str,
    pub arm_id: &'a str,
    pub weight_kg: Kg,
    pub rows: &'a [Row<'a>],
    pub chart_svg: &'a str,
    /// The patient's site calendar, if any.
    pub site: Option<&'a SiteCalendar>,
}

/// One line of the report's list of patients, linking the patient's own page.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientLine {
    pub id: String,
    pub arm_id: String,
    pub weight_kg: Kg,
    pub start: chrono::NaiveDate,
    pub doses: usize,
    /// Whether the patient has a calendar file (`patients/<id>.ics`): none for background
    /// treatment only.
    pub calendar: bool,
}

/// How the report shows the patients: a small cohort in full, a larger one as a list of
/// links to each patient's own page, a very large one as counts (the folder and
/// pharmacy.csv hold every patient), so the report stays a size a browser opens.
pub enum Patients {
    /// Each patient's section ([`patient_section`]), rendered.
    Inline(Vec<String>),
    /// A line each, in id order.
    Listed(Vec<PatientLine>),
    /// How many patients each arm has (arm id, count), in the scenario's arm order.
    Counted(Vec<(String, usize)>),
}

/// How a cohort sits on its site calendars: each site its patients use, and per arm how
/// many events the calendars moved or flagged.
#[derive(Debug, Default)]
pub struct CalendarUse<'a> {
    /// By site id.
    pub sites: std::collections::BTreeMap<String, SiteUse<'a>>,
    /// Indexed like the trial's arms.
    pub arms: Vec<ArmFlags>,
}

/// One site calendar's patients and the dates their events span.
#[derive(Debug)]
pub struct SiteUse<'a> {
    pub calendar: &'a SiteCalendar,
    pub patients: usize,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// An arm's events on site calendars, and how many carry each flag ([`Flags::all_codes`] order).
#[derive(Debug, Default, Clone)]
pub struct ArmFlags {
    pub events: u64,
    pub flagged: [u64; Flags::COUNT],
}

impl<'a> CalendarUse<'a> {
    /// Counts one patient's events on `calendar`.
    pub fn add(&mut self, calendar: &'a SiteCalendar, arm: usize, events: &[Event]) {
        let (Some(first), Some(last)) = (
            events.iter().map(|e| e.date).min(),
            events.iter().map(|e| e.date).max(),
        ) else {
            return;
        };
        let u = self.sites.entry(calendar.id.clone()).or_insert(SiteUse {
            calendar,
            patients: 0,
            first,
            last,
        });
        u.patients += 1;
        u.first = u.first.min(first);
        u.last = u.last.max(last);
        if self.arms.len() <= arm {
            self.arms.resize(arm + 1, ArmFlags::default());
        }
        let a = &mut self.arms[arm];
        for e in events.iter().filter(|e| e.kind != EventKind::Background) {
            a.events += 1;
            for (k, (f, _)) in Flags::all_codes().iter().enumerate() {
                if e.flags.contains(*f) {
                    a.flagged[k] += 1;
                }
            }
        }
    }
}

/// The whole trial report.
pub struct Report<'a> {
    pub trial: &'a Trial,
    /// The files the report was made from (scenario, roster), with their SHA-256.
    pub inputs: &'a [Input],
    pub timeline_svg: &'a str,
    pub cumulative_svg: &'a str,
    pub cumulative_caption: &'a str,
    pub prep: &'a export::prep::Prep,
    /// The site calendars the patients are on (empty: every day open).
    pub calendars: &'a CalendarUse<'a>,
    /// What the administration record made of the cohort, if one was applied.
    pub record: Option<&'a crate::adherence::RecordTally>,
    pub patient_count: usize,
    pub patients: Patients,
    /// The forecast section ([`forecast_section`]), when the run made a forecast.
    pub forecast: Option<Markup>,
    /// The audit trail, when the roster and record were read from the database.
    pub audit: Option<&'a crate::export::audit::Trail>,
}

/// Patient ids shown on one line of the report's preparation table; prep.csv lists all.
const PREP_IDS_SHOWN: usize = 40;

fn page(title: &str, body: Markup) -> String {
    styled_page(title, STYLE, body)
}

/// A self-contained HTML page: its style sheet inline, nothing fetched.
pub fn styled_page(title: &str, style: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(style)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

pub fn render(r: &Report) -> String {
    let t = r.trial;
    let body = html! {
        h1 { (t.id) ": " (t.title) }
        p.meta {
            "Condition: " (t.condition) "." br;
            "Registry record: "
            @if let Some(u) = &t.registry_url { a href=(u) { (t.id) } } @else { (t.id) }
            ", encoded from " code { (t.seed) } "." br;
            "Study day 1 is each patient's start date; day N is start + (N - 1) days."
            @if let Some(f) = &t.follow_up {
                br; "Follow-up: " (f.words()) " after study day 1 (" (describe::provenance(&f.provenance)) ")."
            }
        }
        h2 { "Regimens" }
        @for arm in &t.arms { (arm_section(t, arm)) }
        div.figure {
            h2 { "Timeline" }
            (PreEscaped(r.timeline_svg))
        }
        div.figure {
            h2 { "Cumulative dose by arm" }
            p.meta { (r.cumulative_caption) }
            (PreEscaped(r.cumulative_svg))
        }
        h2 { "Preparation list by date" }
        details {
            summary { "Doses to prepare each day" }
            (prep_table(t, r.prep))
        }
        @if !r.calendars.sites.is_empty() {
            h2 { "Site calendars" }
            (site_calendars(t, r.calendars))
        }
        @if let Some(rec) = r.record {
            h2 { "Administration record" }
            (record_section(t, rec))
        }
        @if let Some(a) = r.audit {
            h2 { "Audit trail" }
            (audit_section(a))
        }
        @if let Some(fc) = &r.forecast {
            h2 { "Forecast of demand" }
            (fc)
        }
        h2 { "Patients (" (r.patient_count) ")" }
        (no_calendar_files(t))
        @match &r.patients {
            Patients::Inline(sections) => {
                @for s in sections { (PreEscaped(s)) }
            }
            Patients::Listed(lines) => {
                p.meta {
                    "Each patient's calendar and chart is on their own page (the links below), "
                    "and in " code { "patients/" } " as CSV, iCalendar, SVG and PNG files."
                }
                (patient_list(lines))
            }
            Patients::Counted(arms) => {
                p.meta {
                    "Too many patients to list here: each has their own page "
                    code { "patients/<id>.html" } " beside their calendar (.csv, .ics) and chart "
                    "(.svg, .png) in the " code { "patients/" } " folder, and pharmacy.csv lists "
                    "every dose in date order."
                }
                table {
                    tr { th { "Arm" } th { "Patients" } }
                    @for (arm, n) in arms { tr { td { code { (arm) } } td.n { (n) } } }
                }
            }
        }
        (made_from(r.inputs, "report"))
    };
    page(&format!("{}: dosing report", t.id), body)
}

/// The site calendars section: each site's open days, closures in the trial's period and
/// coverage, then how many events each arm had moved or flagged.
fn site_calendars(t: &Trial, cals: &CalendarUse) -> Markup {
    html! {
        p.meta {
            "Patients with a " code { "site" } " in the roster are scheduled on that site's calendar. "
            "An infusion, exchange or visit planned on a day the site is closed moves by the "
            "scenario's closed-day rules (on_closed_day, window, min_gap_days, anchor) or stays, flagged. "
            "The calendar CSV and pharmacy.csv give each event's planned_date, shift_days and flags."
            @if cals.sites.values().any(|u| u.calendar.expected().is_some()) {
                " Where a site's holiday files stop, its calendar expects the statutory public holidays the law "
                "gives (closed, named expected below); every date there is flagged provisional, since the "
                "make-up working days and bridging days of a year's notice are not known until it is out."
            }
        }
        table {
            tr {
                th { "Site" } th { "Name" } th { "Closed" } th { "Calendar covers" } th { "Patients" }
                th { "Their events span" } th { "Closures and make-up working days in that span" }
            }
            @for (id, u) in &cals.sites {
                tr {
                    td { code { (id) } }
                    td { (u.calendar.name) }
                    td { (u.calendar.closed_summary()) }
                    td {
                        (keep_together(&u.calendar.coverage_summary()))
                        @if let Some(e) = u.calendar.expected_summary() { "; " (keep_together(&e)) }
                    }
                    td.n { (u.patients) }
                    td.d { (u.first) " to " (u.last) }
                    td { (keep_together(&closures(u.calendar, u.first, u.last))) }
                }
            }
        }
        @let arms = cals.arms.iter().enumerate().filter(|(_, a)| a.events > 0).map(|(i, _)| &t.arms[i]);
        @let assumed = t.closed_day_assumptions_of(arms);
        @if !assumed.is_empty() {
            div.assumed {
                strong { "Closed-day rules assumed, not stated in the registry record:" }
                ul { @for a in &assumed { li { (a.what) ": " (a.reason) } } }
            }
        }
        h3 { "Moved and flagged events per arm" }
        table {
            tr {
                th { "Arm" } th { "Events on a site calendar" }
                @for (_, name) in Flags::all_codes() { th { code { (name) } } }
            }
            @for (i, a) in cals.arms.iter().enumerate() {
                @if a.events > 0 {
                    tr {
                        td { code { (t.arms[i].id) } }
                        td.n { (a.events) }
                        @for (k, (f, _)) in Flags::all_codes().iter().enumerate() {
                            td.n.flag[a.flagged[k] > 0 && *f != Flags::SHIFTED] { (a.flagged[k]) }
                        }
                    }
                }
            }
        }
    }
}

/// The administration record section: per arm, what was given, missed, cancelled or is
/// overdue, dose intensity per product and how many events carry each deviation.
/// The audit trail in short: how many entries, by whom, the entry the folder is made up
/// to and its hash, and every correction and void with who, when and why (audit.csv has
/// every entry).
fn audit_section(a: &crate::export::audit::Trail) -> Markup {
    let by: Vec<String> = a.by.iter().map(|(who, n)| format!("{who} ({n})")).collect();
    html! {
        p {
            (a.entries) @if a.entries == 1 { " entry" } @else { " entries" } " of this trial's roster and record in "
            code { (a.database) } ", entered by " (by.join(", ")) ". "
            "The folder is made up to entry " (a.head.id) ", chain hash "
            code { (crate::db::entry::hex(&a.head.hash)) } ". "
            "Every entry, with who entered it, when (UTC), where from and why, is in "
            code { (crate::export::audit::FILE) } "."
        }
        @if a.changes.is_empty() {
            p.meta { "No entry has been corrected or voided." }
        } @else {
            table {
                thead { tr {
                    th { "Entry" } th { "Action" } th { "Of entry" } th { "Book" }
                    th { "Patient" } th { "By" } th { "When (UTC)" } th { "Why" }
                } }
                tbody {
                    @for c in &a.changes {
                        tr {
                            td { (c.entry) } td { (c.action.as_str()) } td { (c.supersedes) }
                            td { (c.book.as_str()) } td { (c.patient_id) } td { (c.entered_by) }
                            td { (c.entered_at) } td { (c.reason) }
                        }
                    }
                }
            }
        }
    }
}

fn record_section(t: &Trial, rec: &crate::adherence::RecordTally) -> Markup {
    use crate::adherence::pct_text;
    use crate::record::{Code, Status};
    html! {
        p.meta {
            "What was actually given, as recorded to " strong { (rec.as_of) } " (the as-of date). "
            "Events on or before it are given, missed, cancelled (after a withdrawal or death) or due "
            "(nothing recorded: overdue); later ones are re-projected from what happened. "
            "Dose intensity is the delivered total over the planned total of the doses due by the "
            "as-of date while on study, at the weights then in force. deviations.csv lists every deviation."
        }
        table {
            tr {
                th { "Arm" } th { "Patients" }
                @for s in Status::ALL { th { (s.as_str()) } }
                th { "Withdrawn" } th { "Died" }
                @for p in &t.products { th { "Dose intensity " (p.id) } }
            }
            @for (i, a) in rec.adherence.arms.iter().enumerate() {
                @if a.patients > 0 {
                    tr {
                        td { code { (t.arms[i].id) } }
                        td.n { (a.patients) }
                        @for (k, s) in Status::ALL.iter().enumerate() {
                            td.n.flag[a.statuses[k] > 0 && matches!(s, Status::Due | Status::Missed)] { (a.statuses[k]) }
                        }
                        td.n { (a.withdrawn) }
                        td.n { (a.died) }
                        @for x in &a.intensity {
                            td.n.flag[x.pct().is_some_and(|p| p < 100.0)] {
                                @if let Some(p) = x.pct() { (pct_text(p)) } @else { "-" }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Deviations per arm" }
        table {
            tr {
                th { "Arm" }
                @for (_, name) in Code::names() { th { code { (name) } } }
            }
            @for (i, a) in rec.adherence.arms.iter().enumerate() {
                @if a.patients > 0 {
                    tr {
                        td { code { (t.arms[i].id) } }
                        @for n in &a.deviations { td.n.flag[*n > 0] { (n) } }
                    }
                }
            }
        }
    }
}

/// A calendar's listed days from `first` to `last`, and the statutory holidays it expects
/// where its holiday files do not reach, runs of one name joined: "2026-10-01 to
/// 2026-10-07 国庆节 (closed); 2026-10-10 国庆节 (open, make-up working day); 2027-02-05 to
/// 2027-02-08 Spring Festival 春节 (closed, expected: provisional)".
fn closures(cal: &SiteCalendar, first: NaiveDate, last: NaiveDate) -> String {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Closed,
        Open,
        Expected,
    }
    let mut days: Vec<(NaiveDate, &str, Kind)> = cal
        .listed_between(first, last)
        .map(|(d, l)| {
            let kind = if l.open { Kind::Open } else { Kind::Closed };
            (d, l.name.as_str(), kind)
        })
        .chain(
            cal.expected_between(first, last)
                .into_iter()
                .map(|(d, name)| (d, name, Kind::Expected)),
        )
        .collect();
    days.sort_by_key(|x| x.0);
    let mut runs: Vec<(NaiveDate, NaiveDate, &str, Kind)> = Vec::new();
    for (d, name, kind) in days {
        match runs.last_mut() {
            Some(r) if r.2 == name && r.3 == kind && r.1.succ_opt() == Some(d) => r.1 = d,
            _ => runs.push((d, d, name, kind)),
        }
    }
    if runs.is_empty() {
        return "none listed".into();
    }
    runs.iter()
        .map(|(a, b, name, kind)| {
            let span = if a == b {
                a.to_string()
            } else {
                format!("{a} to {b}")
            };
            let what = match kind {
                Kind::Open => "open, make-up working day",
                Kind::Closed => "closed",
                Kind::Expected => "closed, expected: provisional",
            };
            format!("{span} {} ({what})", crate::site::holiday_name(name))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The footer naming the inputs, with their SHA-256.
fn made_from(inputs: &[Input], what: &str) -> Markup {
    html! {
        p.meta {
            "Made by dosesim " (env!("CARGO_PKG_VERSION")) " from "
            @for (i, input) in inputs.iter().enumerate() {
                @if i > 0 { " and " }
                "the " (input.role) " " code { (input.path) } " (SHA-256 " code { (input.sha256) }
                @if let Some(d) = &input.as_of { ", complete to " (d) }
                ")"
            }
            "; the same inputs give the same " (what) ". The folder's manifest.json lists every input and file."
        }
    }
}

fn patient_list(lines: &[PatientLine]) -> Markup {
    html! {
        table {
            tr {
                th { "Patient" } th { "Arm" } th { "Weight (kg)" } th { "Start (study day 1)" }
                th { "Doses" } th { "Files" }
            }
            @for l in lines {
                tr {
                    td { a href=(format!("patients/{}.html", l.id)) { (l.id) } }
                    td { code { (l.arm_id) } }
                    td.n { (l.weight_kg) }
                    td.d { (l.start) }
                    td.n { (l.doses) }
                    td {
                        a href=(format!("patients/{}.csv", l.id)) { "csv" } " "
                        @if l.calendar {
                            a href=(format!("patients/{}.ics", l.id)) { "ics" } " "
                        } @else {
                            span.meta title=(export::ics::NO_EVENTS) { "no ics" } " "
                        }
                        a href=(format!("patients/{}.png", l.id)) { "png" }
                    }
                }
            }
        }
    }
}

/// The arms whose patients have no calendar file (background treatment only), said
/// where the patients' files are listed; nothing when every arm has an event.
fn no_calendar_files(t: &Trial) -> Markup {
    let arms: Vec<&str> = t
        .arms
        .iter()
        .filter(|a| !export::ics::has_events(a))
        .map(|a| a.id.as_str())
        .collect();
    html! {
        @if !arms.is_empty() {
            p.meta {
                "No " code { "patients/<id>.ics" } " for a patient of arm "
                @for (i, a) in arms.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (a) }
                }
                ": " (export::ics::NO_EVENTS) ". Their CSV, page and chart list the background treatment."
            }
        }
    }
}

/// A patient's own page (`patients/<id>.html`): their calendar and chart, with the trial
/// and arm it follows, a link back to the report, and the inputs it was made from.
pub fn patient_page(trial: &Trial, p: &PatientSection, inputs: &[Input]) -> String {
    let arm = trial.arm(p.arm_id);
    // One patient to the page: no page break before the section, and the whole page
    // landscape when the section is (see [`patient_section`]).
    let body = html! { div.one.wide[is_recorded(p.rows)] {
        p.meta { a href="../report.html" { "Report of " (trial.id) } }
        h1 { "Patient " (p.id) }
        p.meta {
            (trial.id) ": " (trial.title) "." br;
            "Arm " code { (p.arm_id) }
            @if let Some(a) = arm { ": " (a.name) }
            ". Dosing weight " (p.weight_kg) " kg."
            br; "Study day 1 is the start date; day N is start + (N - 1) days."
        }
        @if let Some(a) = arm { (arm_notes(a)) }
        @if let Some(a) = arm.filter(|a| !export::ics::has_events(a)) {
            p.meta { "No calendar file (.ics) for this patient of arm " code { (a.id) } ": " (export::ics::NO_EVENTS) "." }
        }
        (patient_section(p, true))
        (made_from(inputs, "page"))
    } };
    page(&format!("{}: patient {}", trial.id, p.id), body)
}

/// An arm's notes (its rules, in the record's words), each with the code pharmacy.csv's
/// `note_codes` column gives it on every dose row.
fn arm_notes(arm: &crate::model::Arm) -> Markup {
    html! {
        @for (n, code) in arm.notes.iter().zip(&arm.note_codes) {
            p { strong { "Note" } " (" code { (code) } " in pharmacy.csv's " code { "note_codes" } "): " (n) }
        }
    }
}

fn arm_section(t: &Trial, arm: &crate::model::Arm) -> Markup {
    let assumed = arm.assumptions(t);
    html! {
        h3 { "Arm " code { (arm.id) } ": " (arm.name) }
        (arm_notes(arm))
        @if arm.components.is_empty() {
            p { "No cell infusions or exchanges." }
        } @else {
            p {
                @for (i, c) in arm.components.iter().enumerate() {
                    @let p = &t.products[c.product];
                    @if i > 0 { "; " }
                    (c.name) " of " (describe::dose(&c.dose, p.unit)) ", "
                    (describe::timing(&c.timing, &arm.components))
                }
                "."
            }
            table {
                tr {
                    th { "Component" } th { "Product" } th { "Dose per administration" }
                    th { "Number of doses" } th { "Total (per kg or fixed)" } th { "Route" } th { "Source" }
                }
                @for c in &arm.components {
                    @let p = &t.products[c.product];
                    tr {
                        td { (c.name) }
                        td { (p.name) }
                        td.flag[c.dose.provenance.is_assumed()] {
                            (describe::dose(&c.dose, p.unit))
                        }
                        td.n { (component_totals(c).0) }
                        td.d { (describe::component_total(c, p.unit)) }
                        td { (c.route.as_ref().map_or("", |r| r.value.as_str())) }
                        td { (describe::provenance(&c.dose.provenance)) }
                    }
                }
            }
        }
        @if !arm.visits.is_empty() || !arm.background.is_empty() {
            ul {
                @for v in &arm.visits { li { "Visit: " (describe::visit(v)) } }
                @for b in &arm.background { li { "Background (not a dose): " (describe::background(b)) } }
            }
        }
        @if !assumed.is_empty() {
            div.assumed {
                strong { "Assumed, not stated in the registry record:" }
                ul { @for a in &assumed { li { (a.what) ": " (a.reason) } } }
            }
        }
    }
}

fn prep_table(t: &Trial, prep: &export::prep::Prep) -> Markup {
    html! {
        table.events {
            tr {
                th { "Date" } th { "Site" } th { "Product" } th { "Doses" } th { "Total dose" }
                th { "Total volume (mL)" } th { "Patients" } th { "Assumed" } th { "Site calendar flags" }
            }
            @for l in prep.lines() {
                @let p = &t.products[l.product];
                tr {
                    td.d { (l.date) " " (crate::timing::weekday_abbrev(l.date)) }
                    td { (l.site) }
                    td { (p.id) }
                    td.n { (l.doses) }
                    td.n { (amount(Some(Amount { value: l.total, unit: p.unit }.readable()))) }
                    td.n { (l.volume_ml.map(|v| trim_decimals(v, 2)).unwrap_or_default()) }
                    td {
                        @if l.patients.len() > PREP_IDS_SHOWN {
                            (l.patients[..PREP_IDS_SHOWN].join(" "))
                            " ... and " (l.patients.len() - PREP_IDS_SHOWN) " more (prep.csv lists every one)"
                        } @else {
                            (l.patients.join(" "))
                        }
                    }
                    td.flag[!l.assumed.is_empty()] { (l.assumed) }
                    td.flag[l.flags.intersects(Flags::CLOSED_DAY | Flags::PROVISIONAL)] { (l.flags.codes()) }
                }
            }
        }
    }
}

/// One patient's calendar table and chart, folded (the report holds many).
///
/// The table is narrow by construction, so every column prints on A4 and fits a 1280 px
/// window: the study day and the dose's number sit under the date and the event, numbers
/// wrap only between the figure and its unit or before "(exactly ...)", and what is not
/// on every row (window, assumed values, a move) goes on a line below the row. Once the
/// record adds planned and given doses side by side, the section prints on a landscape
/// page (`wide`).
pub fn patient_section(p: &PatientSection, open: bool) -> Markup {
    let doses = p.rows.iter().filter(|row| row.is_dose()).count();
    let recorded = is_recorded(p.rows);
    let columns = if recorded { 9 } else { 6 };
    html! {
        details.patient.wide[recorded] id=(format!("patient-{}", p.id)) open[open] {
            summary { (p.id) ": arm " (p.arm_id) ", " (p.weight_kg) " kg, " (doses) " doses" }
            (PreEscaped(p.chart_svg))
            table.events {
                thead { (event_head(recorded)) }
                @for row in p.rows {
                    @let more = below_the_row(p, row);
                    tbody.more[more.is_some()] {
                        (event_row(row, recorded))
                        @if let Some(m) = more { tr.more { td colspan=(columns) { (m) } } }
                    }
                }
            }
        }
    }
}

/// Whether the record says anything about this patient: then the table gives planned and
/// given side by side.
fn is_recorded(rows: &[Row]) -> bool {
    rows.iter()
        .any(|r| r.status != crate::record::Status::Planned)
}

/// The patient table's header row.
fn event_head(recorded: bool) -> Markup {
    html! {
        tr {
            th { "Date" span.sub { "study day, #" } } th { "Event" span.sub { "dose n of N" } }
            @if recorded {
                th { "Status" } th { "Planned dose" } th { "Given dose" } th { "Deviation" }
            } @else {
                th { "Dose" }
            }
            th { "Per kg (cells/kg)" } th { "Cumulative" } th { "Volume (mL)" }
        }
    }
}

/// One event's row of the patient table.
fn event_row(row: &Row, recorded: bool) -> Markup {
    use crate::record::Status;
    html! {
        tr {
            td.d { (row.date) " " (row.weekday) span.sub { "day " (row.study_day) ", #" (row.order_in_day) } }
            td.ev {
                (event_name(row))
                @if row.is_dose() { span.sub { "dose " (row.occurrence) " of " (row.occurrences) } }
            }
            @if recorded {
                // Side by side: what the plan says (at the weight then current, on its
                // planned date when it happened on another) and what was given.
                td.flag[matches!(row.status, Status::Due | Status::Missed)] { (row.status.as_str()) }
                td.n {
                    @if row.status == Status::Planned {
                        (amount(row.dose.map(|a| a.readable())))
                    } @else {
                        (amount(row.planned_amount.map(|a| a.readable())))
                        @if row.planned_date != row.date { span.sub { "planned " span.d { (row.planned_date) } } }
                    }
                }
                td.n {
                    @if row.status == Status::Given {
                        @if let Some(a) = row.dose { (amount(Some(a.readable()))) } @else { "held" }
                    }
                }
                td.flag[!row.deviation.is_empty()] { (codes(&row.deviation.text())) }
            } @else {
                td.n { (amount(row.dose.map(|a| a.readable()))) }
            }
            td.n { (amount(row.dose_per_kg.map(sci_exact))) }
            td.n { (amount(row.cumulative_dose.map(|a| a.readable()))) }
            td.n { (row.volume_ml.map(|v| trim_decimals(v, 2)).unwrap_or_default()) }
        }
    }
}

/// What goes below an event's row, when there is any: its window, its assumed values
/// (flagged) and where the site calendar moved or flagged it.
fn below_the_row(p: &PatientSection, row: &Row) -> Option<Markup> {
    let window = row.window_start.zip(row.window_end);
    let note = export::placement_note(p.site, row);
    if window.is_none() && row.assumed.is_empty() && note.is_none() {
        return None;
    }
    Some(html! {
        @if let Some((a, b)) = window {
            span { "Window " span.d { (a) } " to " span.d { (b) } ". " }
        }
        @if !row.assumed.is_empty() {
            span.flag { "Assumed: " (row.assumed) } " "
        }
        @if let Some(note) = note {
            span.moved.flag[row.flags.intersects(Flags::CLOSED_DAY | Flags::PROVISIONAL)] {
                "Moved or flagged: " (note)
            }
        }
    })
}

/// A figure as printed ("4.58 x 10⁶ cells (exactly 4580000)") that wraps only between the
/// number and its unit and before the exact figure, never inside a number.
fn amount(text: Option<String>) -> Markup {
    let text = text.unwrap_or_default();
    let (figure, exact) = match text.split_once(" (exactly ") {
        Some((f, e)) => (f, Some(e)),
        None => (text.as_str(), None),
    };
    let (number, unit) = match figure.rsplit_once(' ') {
        Some((n, u)) if u == "cells" || u == "mL" => (n, Some(u)),
        _ => (figure, None),
    };
    html! {
        span.num { (number) }
        @if let Some(u) = unit { " " (u) }
        @if let Some(e) = exact { " " span.num { "(exactly " (e) } }
    }
}

/// Codes joined by ';' ("late:+3d;outside_window:+3d") with places to wrap after each
/// ';' and ':', so a long deviation does not widen its column.
fn codes(text: &str) -> Markup {
    let pieces = text.split_inclusive([';', ':']);
    html! { @for piece in pieces { (piece) wbr; } }
}

/// The index page: one line per trial folder, from its manifest (what is actually in the
/// folder, whoever made it), the compare chart, and what each folder was made from. A
/// row's "Made from" cell counts the inputs by kind; their paths are listed below the
/// table, so ten paths do not stretch a row.
pub fn index(folders: &[Manifest], compare_svg: &str, reference_weight_kg: f64) -> String {
    let body = html! {
        h1 { "UC-MSC trial dosing reports" }
        table {
            tr {
                th { "Trial" } th { "Title" } th { "Condition" } th { "Arms" } th { "Patients" }
                th { "Doses (infusions and exchanges)" } th { "Summary" } th { "Made from" }
            }
            @for m in folders {
                @let c = &m.contents;
                tr {
                    td { a href=(format!("{}/report.html", c.trial_id)) { (c.trial_id) } }
                    td { (c.trial_title) }
                    td { (c.condition) }
                    td { (c.arms.join(", ")) }
                    td.n { (c.patients) }
                    td.n { (c.doses) }
                    td { (keep_together(&c.summary)) }
                    td {
                        (input_counts(&m.inputs)) " (listed below the table)"
                    }
                }
            }
        }
        div.figure {
            h2 { "Dosing intensity of every arm" }
            p.meta {
                "Cumulative cells/kg over study days; fixed doses converted at a reference weight of "
                (reference_weight_kg) " kg."
            }
            (PreEscaped(compare_svg))
        }
        h2 { "What each trial's folder was made from" }
        @for m in folders {
            h3 id=(format!("inputs-{}", m.contents.trial_id)) { (m.contents.trial_id) }
            ul {
                @for input in &m.inputs { li { (input.role) " " code { (input.path) } } }
            }
        }
    };
    page("dosesim: UC-MSC trial dosing reports", body)
}

/// The inputs counted by kind, in the order they come: "scenario, roster, 6 site
/// calendars, 3 holiday files".
fn input_counts(inputs: &[Input]) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for i in inputs {
        match kinds.iter_mut().find(|(role, _)| *role == i.role) {
            Some((_, n)) => *n += 1,
            None => kinds.push((&i.role, 1)),
        }
    }
    kinds
        .iter()
        .map(|(role, n)| match n {
            1 => role.to_string(),
            n => format!("{n} {role}s"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text with each date (YYYY-MM-DD) and each figure ("2.56 x 10¹⁰") kept on one line: a
/// summary wraps between words, never at a date's hyphen.
fn keep_together(text: &str) -> Markup {
    let bytes = text.as_bytes();
    let is_date = |i: usize| {
        text.get(i..i + 10).is_some_and(|d| {
            let shape = d.bytes().enumerate().all(|(k, b)| match k {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
            shape
                && NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()
                && (i == 0 || !bytes[i - 1].is_ascii_digit())
        })
    };
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let (mut i, mut from) = (0, 0);
    while i < text.len() {
        if is_date(i) {
            pieces.push((false, &text[from..i]));
            pieces.push((true, &text[i..i + 10]));
            i += 10;
            from = i;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    pieces.push((false, &text[from..]));
    html! {
        @for (date, piece) in pieces {
            @if date { span.d { (piece) } } @else { (piece.replace(" x 10", "\u{a0}x\u{a0}10")) }
        }
    }
}

/// The forecast section of a trial's report (`prefix`: where its files are from the page,
/// "forecast/" in the trial report, "" in forecast.html), with each product's fan chart:
/// the assumed regimen values the figures rest on, the plan's values, what the record
/// shows, patients and totals, the charts, the release plan and the months with their
/// capacity risk.
pub fn forecast_section(
    f: &crate::forecast::Forecast,
    charts: &[(usize, &str)],
    prefix: &str,
) -> Markup {
    use crate::export::forecast::{iso_week, site_name};
    let m = &f.model;
    let s = &f.summary;
    let t = m.trial;
    let week = |d: f64| iso_week(m.date_of(d as i64));
    let unit_of = |p: usize| t.products[p].unit;
    let amount = move |p: usize, x: f64| -> String {
        match unit_of(p) {
            crate::model::Unit::Cells => sci_exact(x),
            crate::model::Unit::Ml => format!("{} mL", trim_decimals(x, 2)),
        }
    };
    let short = move |p: usize, x: f64| -> String {
        match unit_of(p) {
            crate::model::Unit::Cells => sci(x),
            crate::model::Unit::Ml => format!("{} mL", trim_decimals(x, 2)),
        }
    };
    let regimen = crate::forecast::regimen_assumptions(m);
    let several = m.sites.len() > 1;
    let cells_word = |p: usize| match unit_of(p) {
        crate::model::Unit::Cells => " cells",
        crate::model::Unit::Ml => " (mL)",
    };
    html! {
        @if !regimen.is_empty() {
            div.assumed {
                p {
                    strong { "These figures rest on assumed regimen values" }
                    ", not stated in the registry record: every dose, date and total below (and "
                    "each row of the CSV files, in its " code { "assumed" } " column) depends on them."
                }
                ul {
                    @for a in &regimen { li { strong { (a.what) } ": " (a.reason) } }
                }
            }
        }
        p.meta {
            (s.replicates) " replicates (seed " (f.seed) ") of the plan " code { (m.plan.file.display()) }
            ", over " (m.weeks) " weeks from the week of " (m.week0) ". "
            @if m.enrolled_before() > 0 {
                "The " (m.enrolled_before()) " patients of the roster are enrolled in every replicate; "
                "the enrolment model adds patients from the day after the roster's last start. "
            }
            "Patients arrive at each site as a Poisson process from its activation (its rate drawn "
            "from a gamma distribution per replicate where the plan gives a rate_shape), are allocated "
            "in permuted blocks per site, weighed, and die or drop out by the plan's hazards. Each "
            "patient's doses come from the same schedule as the calendars, on their site's calendar; "
            "a dose on or after the day a patient dies or drops out is not given. Percentiles are "
            "values replicates had. A cumulative percentile is that of each replicate's own running "
            "total from the first week forecast, so lots released (ceil(cumulative / lot_cells)) read "
            "down the weeks are a release plan."
        }
        @if let Some(as_of) = m.facts.as_of {
            p {
                strong { "From the administration record. " }
                "The forecast starts in the week of the record's as-of date, " (as_of) ": "
                (crate::forecast::record_words(f, as_of)) ". "
                "Doses given are counted on their dates (those before the week of " (m.week0)
                " are in the totals, not in any week); a patient recorded dead or withdrawn is given "
                "nothing more; a dose due by the as-of date with nothing recorded is counted as still "
                "to give, on the as-of date; the others face the hazards from their study day on the "
                "as-of date, known to be alive then."
            }
        }
        table {
            tr { th { "Plan value" } th { "Value" } th { "Where it comes from" } }
            @for (field, value, p) in &m.plan.values {
                tr {
                    td { code { (field) } }
                    td { (value) }
                    @if p.is_assumed() { td.flag { (describe::provenance(p)) } }
                    @else { td { (describe::provenance(p)) } }
                }
            }
        }
        h3 { "Patients and totals" }
        table {
            tr { th { "Measure" } th { "Mean" } th { "P5" } th { "P50" } th { "P95" } }
            @for (name, st) in [("Patients enrolled", &s.enrolled), ("Completed (on study after the last dose or visit)", &s.completed), ("Died before completing", &s.died), ("Dropped out before completing", &s.dropped_out)] {
                tr { td { (name) } td.n { (trim_decimals(st.mean, 1)) } td.n { (st.p("p5")) } td.n { (st.p("p50")) } td.n { (st.p("p95")) } }
            }
            @for tot in &s.totals {
                @let p = tot.product;
                @let at = if several { format!(" at {}", site_name(m, tot.site)) } else { String::new() };
                @let flag = !tot.assumed.is_empty();
                @if tot.site.is_none() || several {
                    tr {
                        td.flag[flag] { (t.products[p].id) " doses" (at) @if flag { " (assumed: " (tot.assumed) ")" } }
                        td.n { (trim_decimals(tot.doses.mean, 1)) } td.n { (tot.doses.p("p5")) } td.n { (tot.doses.p("p50")) } td.n { (tot.doses.p("p95")) }
                    }
                    tr {
                        td.flag[flag] { (t.products[p].id) (cells_word(p)) (at) @if flag { " (assumed: " (tot.assumed) ")" } }
                        td.n { (amount(p, tot.amount.mean.round())) } td.n { (amount(p, tot.amount.p("p5"))) } td.n { (amount(p, tot.amount.p("p50"))) } td.n { (amount(p, tot.amount.p("p95"))) }
                    }
                    @if tot.site.is_none() {
                        tr { td { (t.products[p].id) (cells_word(p)) " after the horizon" } td.n { (amount(p, tot.after_horizon.mean.round())) } td.n { (amount(p, tot.after_horizon.p("p5"))) } td.n { (amount(p, tot.after_horizon.p("p50"))) } td.n { (amount(p, tot.after_horizon.p("p95"))) } }
                    }
                }
            }
            @if let Some(l) = &s.last_dose_day {
                tr { td { "Week of the last dose" } td {} td.d { (week(l.p("p5"))) } td.d { (week(l.p("p50"))) } td.d { (week(l.p("p95"))) } }
            }
            @if let Some(l) = &s.full_day {
                tr { td { "Week enrolment is complete (" (trim_decimals(s.reached_share * 100.0, 1)) "% of replicates within the horizon)" } td {} td.d { (week(l.p("p5"))) } td.d { (week(l.p("p50"))) } td.d { (week(l.p("p95"))) } }
            }
        }
        @for (p, svg) in charts {
            div.figure {
                h3 { (t.products[*p].id) ": " (unit_of(*p).as_str()) " per week, all sites" }
                (PreEscaped(*svg))
            }
        }
        @for plan in &s.lots {
            h3 { (t.products[plan.product].id) ": release plan (lots of " (sci(plan.lot_cells)) " cells)" }
            p.meta {
                "Lot n must be released by the Monday of the first week whose cumulative demand needs it: "
                "at the P50, and at the P95 (enough in 95% of replicates). "
                @match plan.lead_time_weeks {
                    Some(l) => { "Its manufacture starts " (l) " weeks before (the plan's lead_time_weeks). " }
                    None => { "The plan gives no lead_time_weeks, so no start dates. " }
                }
                "Every lot: " a href=(format!("{prefix}lots.csv")) { "lots.csv" } "."
            }
            table {
                tr { th { "Lot" } th { "Released by (P50)" } th { "Start by (P50)" } th { "Released by (P95)" } th { "Start by (P95)" } }
                @for &(lot, p50, p95) in plan.lots.iter().take(24) {
                    tr {
                        td.n { (lot) }
                        @for wk in [p50, p95] {
                            @match wk {
                                Some(w) => {
                                    @let monday = m.date_of(w as i64 * 7);
                                    td.d { (iso_week(monday)) " (" (monday) ")" }
                                    @let start = plan.lead_time_weeks.map(|l| monday - chrono::Days::new(u64::from(l) * 7));
                                    @match start {
                                        Some(d) if d < m.week0 => td.d.flag { (d) " (before the first week forecast)" },
                                        Some(d) => td.d { (d) },
                                        None => td {},
                                    }
                                }
                                None => { td { "not needed" } td {} }
                            }
                        }
                    }
                }
            }
            @if plan.lots.len() > 24 {
                p.meta { "The first 24 of " (plan.lots.len()) " lots; every one in lots.csv." }
            }
        }
        h3 { "By month, all sites" }
        table {
            tr {
                th { "Month" } th { "Product" } th { "Days counted" } th { "Doses P50" } th { "Amount P50" }
                th { "Amount P95" } th { "Cumulative P50" } th { "Cumulative P95" } th { "Lots released by its end (P50)" } th { "(P95)" }
                th { "Capacity per week (cells)" } th { "P(a week over capacity)" }
            }
            @for r in s.monthly.iter().filter(|r| r.site.is_none()) {
                tr {
                    td.d { (r.start.format("%Y-%m")) } td.flag[!r.assumed.is_empty()] { code { (t.products[r.product].id) } } td.n { (r.days) }
                    td.n { (r.doses.p("p50")) } td.n { (short(r.product, r.amount.p("p50"))) } td.n { (short(r.product, r.amount.p("p95"))) }
                    td.n { (short(r.product, r.cumulative.p("p50"))) } td.n { (short(r.product, r.cumulative.p("p95"))) }
                    td.n { @if let Some(l) = r.lots_released { (l.0) } } td.n { @if let Some(l) = r.lots_released { (l.1) } }
                    td.n { @if let Some(c) = r.capacity_per_week { (sci(c.floor())) } }
                    @match r.p_over_capacity {
                        Some(p) if p > 0.05 => td.n.flag { (format!("{p:.4}")) },
                        Some(p) => td.n { (format!("{p:.4}")) },
                        None => td {},
                    }
                }
            }
        }
        p.meta {
            "A month's P(a week over capacity) is the share of replicates in which any week with a day "
            "in that month needs more than the weekly capacity (so it is never below any of its weeks'), "
            "flagged above 5%. Amounts in this table are rounded to three figures; the CSV files hold "
            "them exactly, per site as well as for all sites, with an " code { "assumed" } " column. "
            "Every week's figures: " a href=(format!("{prefix}weekly.csv")) { "weekly.csv" } "; every month's: "
            a href=(format!("{prefix}monthly.csv")) { "monthly.csv" } "; patients and totals: "
            a href=(format!("{prefix}summary.csv")) { "summary.csv" } "."
        }
    }
}

/// forecast.html: the forecast section as a page of its own.
pub fn forecast_page(f: &crate::forecast::Forecast, charts: &[(usize, &str)]) -> String {
    let t = f.model.trial;
    let body = html! {
        h1 { (t.id) ": forecast of demand" }
        p.meta { (t.title) ". Condition: " (t.condition) "." }
        (forecast_section(f, charts, ""))
        (made_from(&f.inputs, "forecast"))
    };
    page(&format!("{}: forecast", t.id), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial() -> Trial {
        crate::scenario::load(std::path::Path::new("scenarios/nct04822922.toml")).unwrap()
    }

    fn report(patients: Patients, count: usize) -> String {
        let t = trial();
        let inputs = [Input {
            role: "roster".into(),
            path: "r.csv".into(),
            sha256: "ab".into(),
            as_of: None,
        }];
        render(&Report {
            trial: &t,
            inputs: &inputs,
            timeline_svg: "",
            cumulative_svg: "",
            cumulative_caption: "",
            prep: &export::prep::Prep::default(),
            calendars: &CalendarUse::default(),
            record: None,
            patient_count: count,
            patients,
            forecast: None,
            audit: None,
        })
    }

    #[test]
    fn a_listed_cohort_links_each_patient_page_and_files() {
        let line = |id: &str, calendar: bool| PatientLine {
            id: id.into(),
            arm_id: "low".into(),
            weight_kg: "62.5".parse().unwrap(),
            start: chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap(),
            doses: 4,
            calendar,
        };
        let html = report(
            Patients::Listed(vec![line("P1", true), line("P2", true), line("P3", false)]),
            3,
        );
        assert!(html.contains("Patients (3)"), "{html}");
        for id in ["P1", "P2", "P3"] {
            for ext in ["html", "csv", "ics", "png"] {
                assert_eq!(
                    html.contains(&format!("href=\"patients/{id}.{ext}\"")),
                    ext != "ics" || id != "P3",
                    "{id}.{ext}"
                );
            }
        }
        // No link to a calendar file that is not there, and why, where the link would be.
        assert!(html.contains("no ics"), "{html}");
        assert!(html.contains("<td class=\"n\">62.5</td>"));
        assert!(!html.contains("<details class=\"patient\""));
    }

    #[test]
    fn a_counted_cohort_gives_each_arm_its_count_and_where_the_patients_are() {
        let html = report(
            Patients::Counted(vec![("low".into(), 10_000), ("high".into(), 20_000)]),
            30_000,
        );
        assert!(html.contains("Patients (30000)"));
        assert!(html.contains("<td class=\"n\">20000</td>"));
        assert!(html.contains("patients/&lt;id&gt;.html"), "{html}");
        assert!(!html.contains("href=\"patients/"));
    }

    #[test]
    fn a_patient_page_is_open_and_links_back() {
        let t = trial();
        let section = PatientSection {
            id: "P7",
            arm_id: "high",
            weight_kg: "70".parse().unwrap(),
            rows: &[],
            chart_svg: "<svg></svg>",
            site: None,
        };
        let page = patient_page(&t, &section, &[]);
        assert!(page.contains("<h1>Patient P7</h1>"));
        assert!(page.contains("href=\"../report.html\""));
        assert!(page.contains("id=\"patient-P7\" open"), "{page}");
        // The arm's stop rule is on the patient's page too.
        assert!(page.contains("serious adverse"), "{page}");
    }

    #[test]
    fn summary_dates_and_figures_stay_whole() {
        let m =
            keep_together("uc_msc: 1.47 x 10⁹ cells; 2026-08-03 to 2028-12-21; as of 2026-11-20.");
        assert_eq!(
            m.into_string(),
            "uc_msc: 1.47\u{a0}x\u{a0}10⁹ cells; <span class=\"d\">2026-08-03</span> to \
             <span class=\"d\">2028-12-21</span>; as of <span class=\"d\">2026-11-20</span>."
        );
    }

    #[test]
    fn text_is_escaped() {
        let s = page("<t>", html! { p { ("<a href=\"x\">&'") } });
        assert!(s.contains("&lt;a href=&quot;x&quot;&gt;&amp;'"), "{s}");
        assert!(s.contains("<title>&lt;t&gt;</title>"));
    }
}
