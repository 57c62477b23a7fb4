//! The coordinators' pages: a trial's patients (the roster in effect, each one's state and
//! next event) with the enrol form (`books::add_roster`), and each patient's page: their
//! calendar and cumulative dose chart (the cohort and chart the commands use), their
//! entries in effect (each with links to correct and void it) and those corrected or
//! voided, and the forms for a weight, a visit held, a withdrawal and a death
//! (`books::add_record`, as `dosesim record add`). Every role reads; the coordinator
//! (or an admin) records.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::auth::Signed;
use super::entries::{amount_with_unit, says};
use super::page::{self, Failure, FieldErrors, Opts};
use super::{App, blocking, trials};
use crate::cohort::Cohort;
use crate::db::books::{self, Refused};
use crate::db::users::{self, Role};
use crate::db::{Action, Book, Entry};
use crate::export::{self, Row};
use crate::inputs::Inputs;
use crate::model::Trial;
use crate::record::Status;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/trials/{trial}/patients", get(list).post(enrol))
        .route("/trials/{trial}/patients/{patient}", get(patient))
        .route("/trials/{trial}/patients/{patient}/record", post(record))
}

/// The size the patient's chart is drawn at (as the report's patient chart).
const CHART: (u32, u32) = (900, 420);

/// A form's typed fields, by name.
#[derive(Deserialize, Default, Clone)]
struct Form {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

impl Form {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: String,
}

/// One patient of the roster page.
struct Line {
    id: String,
    arm: String,
    weight_kg: String,
    start: String,
    site: String,
    state: String,
    next: String,
}

/// What the roster page shows: the trial, its patients, the arms and sites to choose from.
struct RosterView {
    trial: Trial,
    lines: Vec<Line>,
    sites: Vec<String>,
}

/// The state of patient `i`: on study, or withdrawn or died on a date.
fn state(inputs: &Inputs, i: u32) -> String {
    match inputs.log.as_ref().and_then(|l| l.patient(i).end()) {
        Some((d, kind)) => format!("{} on {d}", kind.as_str()),
        None => "on study".to_string(),
    }
}

/// The first dose or visit still to come (planned or due) of a patient's calendar (the
/// background treatment, which is never recorded, left out).
fn next_event(rows: &[Row]) -> String {
    rows.iter()
        .find(|r| {
            r.kind != crate::schedule::EventKind::Background
                && matches!(r.status, Status::Planned | Status::Due)
        })
        .map_or_else(String::new, |r| {
            let mut s = format!("{} {}", r.date, r.name);
            if r.is_dose() {
                s.push_str(&format!(" (dose {} of {})", r.occurrence, r.occurrences));
            }
            if r.status == Status::Due {
                s.push_str(", due");
            }
            s
        })
}

/// The roster in effect with each patient's state and next event.
fn roster_view(app: &App, trial_id: &str) -> Result<RosterView, Failure> {
    let (_, trial) = trials::find(app, trial_id)?;
    let sites = site_calendars(app);
    let Some(inputs) = trials::load(app, trial_id)? else {
        return Ok(RosterView {
            trial,
            lines: Vec::new(),
            sites,
        });
    };
    let cohort = Cohort::of(&inputs).map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
    let roster = &inputs.roster_file().roster;
    let mut lines = Vec::with_capacity(roster.entries.len());
    for (i, e) in roster.entries.iter().enumerate() {
        let (p, arm, events) = cohort.calendar(i as u32);
        let arm = &inputs.trial.arms[arm];
        let rows = export::rows(&inputs.trial, arm, &p, &events);
        lines.push(Line {
            id: e.id.to_string(),
            arm: arm.id.clone(),
            weight_kg: e.weight_kg.to_string(),
            start: e.start.to_string(),
            site: roster.site(e).unwrap_or("").to_string(),
            state: state(&inputs, i as u32),
            next: next_event(&rows),
        });
    }
    Ok(RosterView {
        trial,
        lines,
        sites,
    })
}

/// The site calendars of the scenarios folder (calendars/*.toml), by name.
fn site_calendars(app: &App) -> Vec<String> {
    let dir = app.config.scenarios.join("calendars");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    out.sort();
    out
}

/// The roster table.
fn roster_table(v: &RosterView) -> Markup {
    let t = &v.trial.id;
    html! {
        div.table-wrap {
            table.stack {
                thead { tr {
                    th { "Patient" } th { "Arm" } th.num { "Weight (kg)" } th { "Start (day 1)" }
                    th { "Site" } th { "State" } th { "Next event" }
                } }
                tbody {
                    @for l in &v.lines {
                        tr {
                            td data-label="Patient" { a href={ "/trials/" (t) "/patients/" (l.id) } { (l.id) } }
                            td data-label="Arm" { (l.arm) }
                            td.num data-label="Weight (kg)" { (l.weight_kg) }
                            td data-label="Start (day 1)" { (l.start) }
                            td data-label="Site" { (l.site) }
                            td data-label="State" { (l.state) }
                            td data-label="Next event" { (l.next) }
                        }
                    }
                }
            }
        }
    }
}

/// The enrol form, with what was typed and its errors.
fn enrol_form(user: &Signed, v: &RosterView, typed: &Form, errors: &FieldErrors) -> Markup {
    let arms: Vec<(String, String)> = std::iter::once((String::new(), "(choose an arm)".into()))
        .chain(
            v.trial
                .arms
                .iter()
                .map(|a| (a.id.clone(), format!("{}: {}", a.id, a.name))),
        )
        .collect();
    let sites: Vec<(String, String)> =
        std::iter::once((String::new(), "(no site calendar)".into()))
            .chain(v.sites.iter().map(|s| (s.clone(), s.clone())))
            .collect();
    let shown = ["patient", "arm", "weight_kg", "start_date", "site"];
    let req = Opts {
        required: true,
        ..Default::default()
    };
    html! {
        h2 id="enrol" { "Enrol a patient" }
        @if user.role.may(Role::Coordinator) {
            (page::form_errors(errors, &shown))
            form.inline-form method="post" action={ "/trials/" (v.trial.id) "/patients" } {
                (page::csrf_field(user))
                (page::field_with("Patient id", "patient", "text", typed.get("patient"), errors.of("patient"), Opts { autocomplete: Some("off"), ..req }))
                (page::select("Arm", "arm", &arms, typed.get("arm"), errors.of("arm")))
                (page::field_with("Weight (kg)", "weight_kg", "text", typed.get("weight_kg"), errors.of("weight_kg"), Opts { hint: Some("at enrolment, in kg"), ..req }))
                (page::field_with("Start date (day 1)", "start_date", "date", typed.get("start_date"), errors.of("start_date"), req))
                (page::select("Site", "site", &sites, typed.get("site"), errors.of("site")))
                button type="submit" { "Enrol" }
            }
        } @else {
            p.muted { "Only a coordinator (or an admin) enrols patients." }
        }
    }
}

/// The roster page.
fn roster_page(user: &Signed, v: &RosterView, typed: &Form, errors: &FieldErrors) -> Markup {
    html! {
        h1 { (v.trial.id) ": patients" }
        (enrol_form(user, v, typed, errors))
        h2 { "Roster" }
        @if v.lines.is_empty() {
            p { "No patient is enrolled in " (v.trial.id) " yet." }
        } @else {
            p.muted { (v.lines.len()) " patients on the roster in effect." }
            (roster_table(v))
        }
    }
}

async fn list(
    State(app): State<App>,
    user: Signed,
    Path(trial): Path<String>,
    Query(q): Query<Done>,
) -> Result<Response, Failure> {
    let v = blocking(move || roster_view(&app, &trial)).await?;
    let body = html! {
        @if !q.done.is_empty() { (page::notice(&q.done)) }
        (roster_page(&user, &v, &Form::default(), &FieldErrors::default()))
    };
    Ok(page::page("Patients", &user, Some(&v.trial.id), body).into_response())
}

async fn enrol(
    State(app): State<App>,
    user: Signed,
    Path(trial_id): Path<String>,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, Failure> {
    user.require(Role::Coordinator)?;
    let (a, f, by) = (app.clone(), form.clone(), user.name.clone());
    let added = blocking(move || -> Result<_, Failure> {
        let (_, trial) = trials::find(&a, &trial_id)?;
        let mut errors = FieldErrors::default();
        let site = f.get("site").trim();
        if !site.is_empty() && !site_calendars(&a).iter().any(|s| s == site) {
            errors.add("site", format!("there is no calendar for site {site} in the server's calendars folder: choose one of the list"));
            return Ok((trial, Err(errors)));
        }
        let values = [f.get("arm"), f.get("weight_kg"), f.get("start_date"), site].map(str::to_string);
        let mut db = a.db()?;
        match books::add_roster(&mut db, &trial, f.get("patient"), values, &by) {
            Ok((_, _, warnings)) => Ok((trial, Ok(warnings))),
            Err(Refused::Input(e)) => Ok((trial, Err(FieldErrors::from_input(&e)))),
            Err(Refused::Db(e)) => Err(Failure::Internal(e)),
        }
    })
    .await?;
    match added {
        (trial, Ok(warnings)) => {
            let id = form.get("patient").trim();
            let mut note = format!("{id} enrolled in {}", trial.id);
            for w in warnings {
                note.push_str(&format!("; warning: {w}"));
            }
            Ok(Redirect::to(&patient_url(&trial.id, id, &note)).into_response())
        }
        (trial, Err(errors)) => {
            let tid = trial.id.clone();
            let v = blocking(move || roster_view(&app, &tid)).await?;
            let body = roster_page(&user, &v, &form, &errors);
            let html = page::page("Patients", &user, Some(&trial.id), body);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
    }
}

/// A patient's page, with a notice.
fn patient_url(trial: &str, patient: &str, done: &str) -> String {
    format!(
        "/trials/{}/patients/{}?done={}",
        page::url_encode(trial),
        page::url_encode(patient),
        page::url_encode(done)
    )
}

/// What a patient's page shows.
struct PatientView {
    trial: Trial,
    id: String,
    arm: String,
    /// The arm's visits: (id, name).
    visits: Vec<(String, String)>,
    summary: String,
    state: String,
    calendar: Markup,
    chart: String,
    entries: Vec<Entry>,
    /// Entry -> the entry that corrected or voided it.
    superseded_by: HashMap<i64, Entry>,
}

/// The patient's calendar, chart and entries.
fn patient_view(app: &App, trial_id: &str, id: &str) -> Result<PatientView, Failure> {
    let missing = || {
        Failure::NotFound(format!(
            "there is no patient {id} on the roster of {trial_id}"
        ))
    };
    let inputs = trials::load(app, trial_id)?.ok_or_else(missing)?;
    let roster = &inputs.roster_file().roster;
    let i = roster
        .entries
        .iter()
        .position(|e| &*e.id == id)
        .ok_or_else(missing)? as u32;
    let cohort = Cohort::of(&inputs).map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
    let trial = &inputs.trial;
    let (p, arm_index, events) = cohort.calendar(i);
    let arm = &trial.arms[arm_index];
    let rows = export::rows(trial, arm, &p, &events);
    let recorded = inputs.log.as_ref().map(|l| (events.as_slice(), l.as_of));
    let (chart, _) =
        crate::chart::patient_charts(trial, arm, &p, cohort.site_calendar(i), recorded, CHART)
            .map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
    let mut db = app.db()?;
    let entries = books::history(&mut db, &trial.id, id)?;
    let superseded_by = entries
        .iter()
        .filter_map(|e| e.fields.supersedes.map(|s| (s, e.clone())))
        .collect();
    Ok(PatientView {
        trial: trial.clone(),
        id: id.to_string(),
        arm: arm.id.clone(),
        visits: arm
            .visits
            .iter()
            .map(|v| (v.id.clone(), format!("{} (day {})", v.name, v.day)))
            .collect(),
        summary: format!(
            "arm {} ({}), {} kg, day 1 {}{}",
            arm.id,
            arm.name,
            p.weight_kg,
            p.start,
            p.site
                .as_ref()
                .map_or(String::new(), |s| format!(", site {s}"))
        ),
        state: state(&inputs, i),
        calendar: calendar_table(&rows),
        chart,
        entries,
        superseded_by,
    })
}

/// A dose with its unit, or nothing.
fn amount(a: Option<crate::format::Amount>) -> String {
    a.map(|a| a.readable()).unwrap_or_default()
}

/// The patient's calendar: each event, its status, the planned and given dose with units.
fn calendar_table(rows: &[Row]) -> Markup {
    html! {
        div.table-wrap {
            table.stack {
                thead { tr {
                    th { "Date" } th { "Event" } th { "Status" } th.num { "Planned dose" }
                    th.num { "Given dose" } th.num { "Cumulative" } th.num { "Volume (mL)" } th { "Deviation" }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td data-label="Date" { (r.date) " " (r.weekday) br; span.muted { "day " (r.study_day) } }
                            td data-label="Event" { (r.name) @if r.is_dose() { br; span.muted { "dose " (r.occurrence) " of " (r.occurrences) } } }
                            td data-label="Status" { (r.status.as_str()) }
                            td.num data-label="Planned dose" {
                                (amount(if r.status == Status::Planned { r.dose } else { r.planned_amount }))
                            }
                            td.num data-label="Given dose" { @if r.status == Status::Given { (amount(r.dose)) } }
                            td.num data-label="Cumulative" { (amount(r.cumulative_dose)) }
                            td.num data-label="Volume (mL)" { (r.volume_ml.map(|v| crate::format::trim_decimals(v, 2)).unwrap_or_default()) }
                            td data-label="Deviation" { (r.deviation.text()) }
                        }
                    }
                }
            }
        }
    }
}

/// Who may correct or void an entry (its owner's role), as words for a link's title.
fn may_change(user: &Signed, v: &PatientView, e: &Entry) -> bool {
    user.role
        .may(users::whose(&v.trial, e.fields.book(), &e.fields.values))
}

/// The patient's entries in effect, with links to correct and void each.
fn entries_table(user: &Signed, v: &PatientView) -> Markup {
    let in_effect = v
        .entries
        .iter()
        .filter(|e| e.fields.action() != Action::Void && !v.superseded_by.contains_key(&e.id));
    html! {
        div.table-wrap {
            table.stack {
                thead { tr {
                    th.num { "Entry" } th { "Book" } th { "Date" } th { "Record" } th { "Component" }
                    th.num { "Occurrence" } th.num { "Amount" } th { "Note / lot" } th { "Entered by, at (UTC)" } th { "Change" }
                } }
                tbody {
                    @for e in in_effect {
                        @let f = &e.fields;
                        @let roster = f.book() == Book::Roster;
                        tr {
                            td.num data-label="Entry" { (e.id) @if f.action() == Action::Correct { br; span.muted { "corrects " (f.supersedes.unwrap_or(0)) } } }
                            td data-label="Book" { (f.book().as_str()) }
                            @if roster {
                                td data-label="Roster" colspan="6" { (says(&v.trial, f)) }
                            } @else {
                                td data-label="Date" { (f.values[0]) }
                                td data-label="Record" { (f.values[1]) }
                                td data-label="Component" { (f.values[2]) }
                                td.num data-label="Occurrence" { (f.values[3]) }
                                td.num data-label="Amount" { @if !f.values[4].is_empty() { (amount_with_unit(&v.trial, if f.book() == Book::Prep { "given" } else { &f.values[1] }, &f.values[2], &f.values[4])) } }
                                td data-label="Note / lot" { (f.values[5]) }
                            }
                            td data-label="Entered" { (f.entered_by) br; span.muted { (f.entered_at) } }
                            td data-label="Change" {
                                @if may_change(user, v, e) {
                                    @if f.book() != Book::Prep { a href={ "/entries/" (e.id) "/correct" } { "Correct" } " · " }
                                    a href={ "/entries/" (e.id) "/void" } { "Void" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The entries corrected or voided, each with what took its place and why.
fn changed_table(v: &PatientView) -> Markup {
    let changed: Vec<(&Entry, &Entry)> = v
        .entries
        .iter()
        .filter_map(|e| Some((e, v.superseded_by.get(&e.id)?)))
        .collect();
    html! {
        @if !changed.is_empty() {
            h2 { "Corrected or voided" }
            div.table-wrap {
                table.stack {
                    thead { tr { th.num { "Entry" } th { "It said" } th { "Became" } th { "Reason" } th { "By, at (UTC)" } } }
                    tbody {
                        @for (old, by) in changed {
                            tr {
                                td.num data-label="Entry" { (old.id) }
                                td data-label="It said" { (says(&v.trial, &old.fields)) }
                                td data-label="Became" {
                                    @if by.fields.action() == Action::Void { "voided by entry " (by.id) }
                                    @else { "corrected by entry " (by.id) ": " (says(&v.trial, &by.fields)) }
                                }
                                td data-label="Reason" { (by.fields.reason) }
                                td data-label="By, at" { (by.fields.entered_by) br; span.muted { (by.fields.entered_at) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A labelled input of one of the page's several forms: its id names the form too.
fn input(
    form: &str,
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    errors: &[String],
    o: Opts,
) -> Markup {
    let id = format!("{form}-{name}");
    let err = format!("{id}-error");
    html! {
        div.field {
            label for=(id) { (label) }
            @if let Some(h) = o.hint { span.muted { (h) } }
            input id=(id) name=(name) type=(kind) value=(value) required[o.required] step=[o.step]
                aria-invalid=[(!errors.is_empty()).then_some("true")]
                aria-describedby=[(!errors.is_empty()).then_some(&err)];
            @if !errors.is_empty() { span.field-error id=(err) { @for m in errors { (m) " " } } }
        }
    }
}

/// The form that was posted and failed: its record kind, what was typed and the errors.
struct Posted<'a> {
    record: &'a str,
    form: &'a Form,
    errors: &'a FieldErrors,
}

/// One of the coordinator's forms (`record` = weight, given (a visit), withdrawn, died).
fn record_form(user: &Signed, v: &PatientView, record: &str, posted: Option<&Posted>) -> Markup {
    let this = posted.filter(|p| p.record == record);
    let typed = |n: &str| this.map_or("", |p| p.form.get(n)).to_string();
    let none = FieldErrors::default();
    let errors = this.map_or(&none, |p| p.errors);
    let (legend, shown): (&str, &[&str]) = match record {
        "weight" => ("Weight", &["date", "amount"]),
        "given" => ("Visit held", &["date", "component", "occurrence"]),
        "withdrawn" => ("Withdrawn", &["date", "note"]),
        _ => ("Died", &["date", "note"]),
    };
    let req = Opts {
        required: true,
        ..Default::default()
    };
    html! {
        form method="post" action={ "/trials/" (v.trial.id) "/patients/" (v.id) "/record" } {
            (page::csrf_field(user))
            input type="hidden" name="record" value=(record);
            fieldset id={ "form-" (record) } {
                legend { (legend) }
                (page::form_errors(errors, shown))
                div.inline-form {
                    (input(record, "Date", "date", "date", &typed("date"), errors.of("date"), req))
                    @match record {
                        "weight" => (input(record, "Weight (kg)", "amount", "text", &typed("amount"), errors.of("amount"), req)),
                        "given" => {
                            (visit_select(v, &typed("component"), errors.of("component")))
                            (input(record, "Occurrence", "occurrence", "number", &typed("occurrence"), errors.of("occurrence"), Opts { hint: Some("1 for the first"), ..req }))
                        }
                        _ => (input(record, "Note", "note", "text", &typed("note"), errors.of("note"), Opts::default())),
                    }
                    button type="submit" { "Record " (legend.to_lowercase()) }
                }
            }
        }
    }
}

/// The problems of a posted form the page does not show (a `record` none of its forms
/// records, "Given" or "cancelled" say), above the forms: the record reader's words
/// about the `record` field first.
fn unshown_errors(kinds: &[&str], posted: Option<&Posted>) -> Markup {
    match posted {
        Some(p) if !kinds.contains(&p.record) => html! {
            div id="form-record" { (page::form_errors(p.errors, &[])) }
        },
        _ => html! {},
    }
}

/// The arm's visits to choose from.
fn visit_select(v: &PatientView, chosen: &str, errors: &[String]) -> Markup {
    html! {
        div.field {
            label for="given-component" { "Visit" }
            select id="given-component" name="component" aria-invalid=[(!errors.is_empty()).then_some("true")] {
                @for (id, name) in &v.visits { option value=(id) selected[id == chosen] { (name) } }
            }
            @if !errors.is_empty() { span.field-error { @for m in errors { (m) " " } } }
        }
    }
}

/// The patient's page.
fn patient_body(user: &Signed, v: &PatientView, done: &str, posted: Option<&Posted>) -> Markup {
    let mut kinds = vec!["weight"];
    if !v.visits.is_empty() {
        kinds.push("given");
    }
    kinds.extend(["withdrawn", "died"]);
    html! {
        @if !done.is_empty() { (page::notice(done)) }
        h1 { "Patient " (v.id) }
        p { (v.summary) ". State: " strong { (v.state) } "." }
        p.no-print { a href={ "/trials/" (v.trial.id) "/patients" } { "All patients" } " · "
            a href={ "/trials/" (v.trial.id) "/audit?patient=" (page::url_encode(&v.id)) } { "This patient's audit trail" } }
        @if user.role.may(Role::Coordinator) {
            h2 { "Record" }
            p.muted { "Doses are recorded by the pharmacy on the day's sheet." }
            (unshown_errors(&kinds, posted))
            @for k in &kinds { (record_form(user, v, k, posted)) }
        }
        h2 { "Calendar" }
        (v.calendar)
        h2 { "Cumulative dose" }
        div.table-wrap { (PreEscaped(&v.chart)) }
        h2 { "Entries in effect" }
        (entries_table(user, v))
        (changed_table(v))
        p.muted { "Arm " (v.arm) "." }
    }
}

async fn patient(
    State(app): State<App>,
    user: Signed,
    Path((trial, id)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Result<Response, Failure> {
    let v = blocking(move || patient_view(&app, &trial, &id)).await?;
    let body = patient_body(&user, &v, &q.done, None);
    Ok(page::page(&format!("Patient {}", v.id), &user, Some(&v.trial.id), body).into_response())
}

/// The record row a form gives: [`crate::db::entry::RECORD_FIELDS`] in order.
fn row_of(f: &Form) -> [String; 6] {
    [
        "date",
        "record",
        "component",
        "occurrence",
        "amount",
        "note",
    ]
    .map(|n| f.get(n).trim().to_string())
}

async fn record(
    State(app): State<App>,
    user: Signed,
    Path((trial_id, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, Failure> {
    user.require(Role::Coordinator)?;
    let values = row_of(&form);
    let (a, t) = (app.clone(), trial_id.clone());
    let trial = blocking(move || trials::find(&a, &t)).await?.1;
    user.require(users::whose(&trial, Book::Record, &values))?;
    let (a, tr, pid, vals, by) = (
        app.clone(),
        trial.clone(),
        id.clone(),
        values.clone(),
        user.name.clone(),
    );
    let done = blocking(move || {
        let mut db = a.db()?;
        books::add_record(&mut db, &tr, &pid, vals, &by, books::Face::Serve)
    })
    .await;
    match done {
        Ok((entry, _, warnings)) => {
            let mut note = format!(
                "entry {entry}: {} recorded",
                says(&trial, &record_fields(&trial, &id, &values))
            );
            for w in warnings {
                note.push_str(&format!("; warning: {w}"));
            }
            Ok(Redirect::to(&patient_url(&trial.id, &id, &note)).into_response())
        }
        Err(Refused::Input(e)) => {
            let errors = FieldErrors::from_input(&e);
            let v = blocking(move || patient_view(&app, &trial_id, &id)).await?;
            let posted = Posted {
                record: form.get("record"),
                form: &form,
                errors: &errors,
            };
            let body = patient_body(&user, &v, "", Some(&posted));
            let html = page::page(&format!("Patient {}", v.id), &user, Some(&v.trial.id), body);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(Refused::Db(e)) => Err(Failure::Internal(e)),
    }
}

/// A record row's fields, to say what was recorded.
fn record_fields(trial: &Trial, patient: &str, values: &[String; 6]) -> crate::db::Fields {
    crate::db::Fields {
        trial_id: trial.id.clone(),
        book: Some(Book::Record),
        action: Some(Action::Add),
        patient_id: patient.to_string(),
        values: values.clone(),
        ..Default::default()
    }
}
