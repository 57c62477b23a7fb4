//! The pharmacy's day (or week) at a site: the preparation sheet as `dosesim prep` gives
//! it, each dose with its state and a form for its next step (prepared with its lot,
//! checked by a second person who signs with their password, given or missed), the doses
//! recorded on those dates, and the printable sheet as `dosesim prep --format html`
//! prints it. Every step is a call of [`crate::db::doses`]; nothing here decides what may
//! be recorded.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Signed;
use super::page::{self, Failure, FieldErrors};
use super::{App, blocking};
use crate::cohort::Cohort;
use crate::db::books::Refused;
use crate::db::doses::{self, DoseRef, Given, Progress};
use crate::db::users::Role;
use crate::export::sheet::{
    HELD_HEADING, closed_words, day_heading, exact, flags, held_words, per_kg_words, scope_words,
    total_words, unit_headers, volume, weight_words,
};
use crate::inputs::Inputs;
use crate::record::RecordKind;
use crate::sheet::{Block, Day, Line, Request, Sheet};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/trials/{trial}/day", get(day_page))
        .route("/trials/{trial}/day/print", get(print_page))
        .route("/trials/{trial}/doses/{step}", post(record_step))
}

/// Which day(s) and site: `?date=YYYY-MM-DD&site=SITE&days=1|7`, and what was just
/// recorded (`done`, `dose`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DayQuery {
    pub date: Option<String>,
    pub site: Option<String>,
    pub days: Option<String>,
    pub done: Option<String>,
    pub dose: Option<String>,
}

/// The range and site a page shows, checked.
#[derive(Debug, Clone)]
struct Scope {
    first: NaiveDate,
    days: u32,
    /// `None`: every site.
    site: Option<String>,
}

impl Scope {
    /// The query's scope: today where the server is (its time zone), every site, one
    /// day, when not given; a date that is not one is a problem beside the date picker.
    fn of(q: &DayQuery, errors: &mut FieldErrors) -> Scope {
        let today = crate::db::today_local();
        let first = match q.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => today,
            Some(d) => crate::timing::parse_date(d).unwrap_or_else(|e| {
                errors.add("date", format!("'{d}' is not a date: {e}"));
                today
            }),
        };
        let days = if q.days.as_deref() == Some("7") { 7 } else { 1 };
        let site = q.site.clone().filter(|s| !s.trim().is_empty());
        Scope { first, days, site }
    }

    fn last(&self) -> NaiveDate {
        self.first + chrono::Days::new(u64::from(self.days - 1))
    }

    /// The query string that shows this scope again.
    fn query(&self) -> String {
        let mut q = format!("date={}&days={}", self.first, self.days);
        if let Some(s) = &self.site {
            q.push_str(&format!("&site={}", page::url_encode(s)));
        }
        q
    }

    fn request(&self) -> Request {
        Request {
            first: Some(self.first),
            last: Some(self.last()),
            site: self.site.clone(),
            concentrations: Vec::new(),
        }
    }
}

/// A form that was refused: which dose, which step, what was typed and the problems.
#[derive(Debug, Clone)]
struct Attempt {
    dose: DoseRef,
    step: String,
    typed: DoseForm,
    errors: FieldErrors,
}

async fn day_page(
    State(app): State<App>,
    Path(trial): Path<String>,
    Query(q): Query<DayQuery>,
    user: Signed,
) -> Result<Response, Failure> {
    let mut errors = FieldErrors::default();
    let scope = Scope::of(&q, &mut errors);
    let top = html! { @if let Some(n) = done_words(&q) { (page::notice(&n)) } };
    let html = render_day(&app, &trial, &user, &scope, top, errors, None).await?;
    Ok(html.into_response())
}

/// "P4398-026 uc_msc 1: recorded prepared."
fn done_words(q: &DayQuery) -> Option<String> {
    let done = q.done.as_deref()?;
    let what = match done {
        "prepare" => "recorded as prepared",
        "check" => "checked (signed)",
        "give" => "recorded as given",
        "miss" => "recorded as missed",
        _ => return None,
    };
    Some(format!(
        "{}: {what}.",
        q.dose.as_deref().unwrap_or("The dose")
    ))
}

/// The day page, `top` above it (a notice, or a refusal's summary), with `attempt`'s
/// problems beside its dose's fields.
async fn render_day(
    app: &App,
    trial: &str,
    user: &Signed,
    scope: &Scope,
    top: Markup,
    errors: FieldErrors,
    attempt: Option<Attempt>,
) -> Result<Html<String>, Failure> {
    let (app2, trial2, scope2) = (app.clone(), trial.to_string(), scope.clone());
    let may_record = user.role.may(Role::Pharmacist);
    let csrf = page::csrf_field(user);
    let (trial_id, body) = blocking(move || -> Result<(String, Markup), Failure> {
        let Some(inputs) = super::trials::load(&app2, &trial2)? else {
            let (_, t) = super::trials::find(&app2, &trial2)?;
            let body = html! { p { "The trial has no patient in the database yet." } };
            return Ok((t.id, body));
        };
        let steps = doses::steps(&mut *app2.db()?, &inputs.trial.id)?;
        let view = View {
            inputs: &inputs,
            scope: &scope2,
            steps: &steps,
            may_record,
            csrf,
            attempt: attempt.as_ref(),
        };
        Ok((inputs.trial.id.clone(), view.body()?))
    })
    .await?;
    let title = format!("Day: {}", scope.first);
    let page_body = html! {
        (top)
        (pickers(&trial_id, scope, &errors))
        (body)
    };
    Ok(page::page(&title, user, Some(&trial_id), page_body))
}

/// The GET form that picks the date, the site and one day or a week, and the print link.
fn pickers(trial: &str, scope: &Scope, errors: &FieldErrors) -> Markup {
    let days = [
        ("1".to_string(), "One day".to_string()),
        ("7".to_string(), "A week from it".to_string()),
    ];
    html! {
        h1 { "Preparation sheet" }
        form.inline-form.no-print method="get" action={ "/trials/" (trial) "/day" } {
            (page::field_with("Date", "date", "date", &scope.first.to_string(),
                errors.of("date"), page::Opts { required: true, ..page::Opts::default() }))
            (page::field("Site (empty: every site)", "site", "text",
                scope.site.as_deref().unwrap_or(""), errors.of("site")))
            (page::select("Days", "days", &days, &scope.days.to_string(), &[]))
            button type="submit" { "Show" }
        }
        p.no-print {
            a href={ "/trials/" (trial) "/day/print?" (scope.query()) } { "Printable sheet (as dosesim prep --format html)" }
        }
    }
}

/// What the day's page is made from.
struct View<'a> {
    inputs: &'a Inputs,
    scope: &'a Scope,
    steps: &'a BTreeMap<DoseRef, Progress>,
    may_record: bool,
    csrf: Markup,
    attempt: Option<&'a Attempt>,
}

impl View<'_> {
    /// The sheet's days, each dose with its state and form, then what was recorded.
    fn body(&self) -> Result<Markup, Failure> {
        let cohort = Cohort::of(self.inputs).map_err(|e| Failure::Internal(e.into()))?;
        let sheet = crate::sheet::build(&cohort, &self.scope.request());
        Ok(html! {
            @for line in scope_words(&sheet) { p.muted { (line) } }
            @if sheet.days.is_empty() { p { "No dose to prepare." } }
            @for d in &sheet.days { (self.day(&sheet, d)) }
            (self.recorded(&cohort))
        })
    }

    /// One date and site: its blocks of doses, its held doses.
    fn day(&self, sheet: &Sheet, d: &Day) -> Markup {
        html! {
            section {
                h2 { (day_heading(d)) }
                @if let Some(c) = closed_words(d) { p.error { (c) } }
                @for b in &d.blocks { (self.block(sheet, b)) }
                @if !d.held.is_empty() {
                    h3 { (HELD_HEADING) }
                    ul {
                        @for (p, l) in &d.held {
                            li { (held_words(&sheet.trial.products[*p], l)) }
                        }
                    }
                }
            }
        }
    }

    /// A product's doses of the day: the sheet's columns, the state, the next step.
    fn block(&self, sheet: &Sheet, b: &Block) -> Markup {
        let product = &sheet.trial.products[b.product];
        let [dose_h, vol_h, cum_h] = unit_headers(product, b.concentration);
        let unit = product.unit.as_str();
        html! {
            h3 { (product.name) " (" (product.id) ")" }
            div.table-wrap {
                table.stack {
                    thead { tr {
                        th { "Patient" } th { "Arm" } th { "Component" } th { "Dose n/N" }
                        th.num { "Weight (kg)" } th.num { "Dose per kg (" (unit) "/kg)" }
                        th.num { (dose_h) } th.num { (vol_h) } th.num { (cum_h) }
                        th { "Flags" } th { "State and next step" }
                    } }
                    tbody {
                        @for l in &b.lines {
                            tr id=(anchor(&dose_of(l))) {
                                td data-label="Patient" { (l.patient_id) }
                                td data-label="Arm" { (l.arm_id) }
                                td data-label="Component" { (l.component) }
                                td data-label="Dose n/N" { (l.occurrence) "/" (l.occurrences) }
                                td.num data-label="Weight (kg)" { (weight_words(l)) }
                                td.num data-label={ "Dose per kg (" (unit) "/kg)" } { (per_kg_words(l)) }
                                td.num data-label=(dose_h) { (exact(product, l.dose)) }
                                td.num data-label=(vol_h) { (volume(l.volume_ml, "no concentration known")) }
                                td.num data-label=(cum_h) { (l.cumulative.map(|c| exact(product, c)).unwrap_or_default()) }
                                td data-label="Flags" { (flags(l)) }
                                td data-label="State and next step" { (self.dose_cell(l, unit)) }
                            }
                        }
                    }
                }
            }
            p { b { "Day total: " } (total_words(product, b)) }
        }
    }

    /// A dose's state, and the form of its next step for a user who may record.
    fn dose_cell(&self, l: &Line, unit: &str) -> Markup {
        let dose = dose_of(l);
        let progress = self.steps.get(&dose).cloned().unwrap_or_default();
        let attempt = self.attempt.filter(|a| a.dose == dose);
        let sheet = crate::format::Amount {
            value: l.dose,
            unit: unit_of(unit),
        };
        html! {
            (state_words(&progress, sheet))
            @if self.may_record {
                (self.next_form(l, &dose, &progress, unit, attempt))
                (self.miss_form(l, &dose, attempt))
            }
        }
    }

    /// The form of the dose's next step: prepare, check or give.
    fn next_form(
        &self,
        l: &Line,
        dose: &DoseRef,
        progress: &Progress,
        unit: &str,
        attempt: Option<&Attempt>,
    ) -> Markup {
        let (step, legend, button) = match (&progress.prepared, &progress.checked) {
            (None, _) => ("prepare", "Prepare", "Record prepared"),
            (Some(_), None) => ("check", "Check (second person)", "Sign: checked"),
            _ => ("give", "Give", "Record given"),
        };
        let attempt = attempt.filter(|a| a.step == step);
        let errors = attempt.map(|a| a.errors.clone()).unwrap_or_default();
        let typed = attempt.map(|a| &a.typed);
        let id = anchor(dose);
        let fields = match step {
            "prepare" => prepare_fields(&id, l, unit, typed, &errors),
            "check" => check_fields(&id, typed, &errors),
            _ => give_fields(&id, progress, unit, typed, &errors),
        };
        let shown = ["lot", "password", "amount", "time", "note"];
        html! {
            form method="post" action={ "/trials/" (self.inputs.trial.id) "/doses/" (step) } {
                fieldset {
                    legend { (legend) }
                    (page::form_errors(&errors, &shown))
                    (self.hidden(l))
                    (fields)
                    button type="submit" { (button) }
                }
            }
        }
    }

    /// The missed form: the reason, required.
    fn miss_form(&self, l: &Line, dose: &DoseRef, attempt: Option<&Attempt>) -> Markup {
        let attempt = attempt.filter(|a| a.step == "miss");
        let errors = attempt.map(|a| a.errors.clone()).unwrap_or_default();
        let reason = attempt.map_or("", |a| a.typed.reason.as_str());
        let id = anchor(dose);
        html! {
            form method="post" action={ "/trials/" (self.inputs.trial.id) "/doses/miss" } {
                fieldset {
                    legend { "Or: missed" }
                    (page::form_errors(&errors, &["reason"]))
                    (self.hidden(l))
                    (text_field(&id, "Reason it was missed", "reason", "text", reason, errors.of("reason"), None))
                    button.secondary type="submit" { "Record missed" }
                }
            }
        }
    }

    /// The hidden fields every dose form carries: the session's token, the dose, and the
    /// page to come back to.
    fn hidden(&self, l: &Line) -> Markup {
        html! {
            (self.csrf)
            input type="hidden" name="patient" value=(l.patient_id);
            input type="hidden" name="component" value=(l.component_id);
            input type="hidden" name="occurrence" value=(l.occurrence);
            input type="hidden" name="date" value=(l.date);
            input type="hidden" name="site" value=(self.scope.site.as_deref().unwrap_or(""));
            input type="hidden" name="days" value=(self.scope.days);
            input type="hidden" name="from" value=(self.scope.first);
        }
    }

    /// The doses recorded given or missed on the page's dates (at its site): they are
    /// off the sheet, and shown here with their entry.
    fn recorded(&self, cohort: &Cohort) -> Markup {
        let rows = recorded_rows(cohort, self.scope);
        html! {
            h2 { "Recorded on these dates" }
            @if rows.is_empty() { p.muted { "No dose recorded given or missed on these dates yet." } }
            @else {
                div.table-wrap { table.stack {
                    thead { tr {
                        th { "Date" } th { "Patient" } th { "Component" } th { "Dose n" }
                        th { "Recorded" } th.num { "Amount" } th { "Note" } th { "Entry" }
                    } }
                    tbody {
                        @for r in &rows {
                            tr {
                                td data-label="Date" { (r.date) }
                                td data-label="Patient" { (r.patient) }
                                td data-label="Component" { (r.component) }
                                td data-label="Dose n" { (r.occurrence) }
                                td data-label="Recorded" { b { (r.kind) } }
                                td.num data-label="Amount" { (r.amount) }
                                td data-label="Note" { (r.note) }
                                td data-label="Entry" { (r.entry) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// A row of the record shown on the day's page.
struct Shown {
    date: NaiveDate,
    patient: String,
    component: String,
    occurrence: u16,
    kind: &'static str,
    amount: String,
    note: String,
    entry: u32,
}

/// The given and missed rows on the scope's dates, of the scope's site's patients.
fn recorded_rows(cohort: &Cohort, scope: &Scope) -> Vec<Shown> {
    let Some(log) = cohort.log else {
        return Vec::new();
    };
    let roster = cohort.roster;
    let mut out = Vec::new();
    for (i, e) in roster.entries.iter().enumerate() {
        let site = roster.site(e).unwrap_or_default();
        if scope.site.as_deref().is_some_and(|s| s != site) {
            continue;
        }
        let arm = &cohort.trial.arms[e.arm as usize];
        let pl = log.patient(i as u32);
        for r in pl.records {
            let (Some(crate::record::Target::Component(c)), true) = (
                r.target,
                matches!(r.kind, RecordKind::Given | RecordKind::Missed)
                    && r.date >= scope.first
                    && r.date <= scope.last(),
            ) else {
                continue;
            };
            let comp = &arm.components[c as usize];
            let product = &cohort.trial.products[comp.product];
            out.push(Shown {
                date: r.date,
                patient: e.id.to_string(),
                component: comp.name.clone(),
                occurrence: r.occurrence,
                kind: r.kind.as_str(),
                amount: r.amount().map_or_else(
                    || "planned".to_string(),
                    |a| format!("{} {}", exact(product, a), product.unit.as_str()),
                ),
                note: pl.note(r).unwrap_or_default().to_string(),
                entry: r.line,
            });
        }
    }
    out.sort_by(|a, b| (a.date, &a.patient).cmp(&(b.date, &b.patient)));
    out
}

/// The dose a sheet line is.
fn dose_of(l: &Line) -> DoseRef {
    DoseRef {
        patient: l.patient_id.clone(),
        component: l.component_id.clone(),
        occurrence: l.occurrence,
    }
}

/// The id of a dose's row (and the prefix of its fields' ids): "dose-P4398-026-uc_msc-1".
fn anchor(d: &DoseRef) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    format!(
        "dose-{}-{}-{}",
        safe(&d.patient),
        safe(&d.component),
        d.occurrence
    )
}

/// "To prepare", "Prepared by X at T, lot L, as A cells", "Checked by Y at T"; the amount
/// prepared flagged when the sheet's dose is no longer it.
fn state_words(p: &Progress, sheet: crate::format::Amount) -> Markup {
    let unit = sheet.unit.as_str();
    html! {
        @match (&p.prepared, &p.checked) {
            (None, _) => p { b { "To prepare" } },
            (Some(s), c) => {
                p {
                    b { "Prepared" } " by " (s.by) " at " (doses::time_words(&s.at)) ", lot " b { (s.lot) }
                    ", as " b { (s.amount) " " (unit) }
                    @if let Some(c) = c {
                        br; b { "Checked" } " by " (c.by) " at " (doses::time_words(&c.at)) " (signed)"
                    } @else {
                        br; span.muted { "Not checked yet: a second person checks it." }
                    }
                }
                @if !doses::same_amount(&s.amount, sheet.value) {
                    p.error {
                        "The dose on the sheet is now " (sheet.plain()) " " (unit) "; it was prepared as "
                        (s.amount) " " (unit) " before the prescription changed: "
                        a href={ "/entries/" (s.entry) "/void" } { "void the preparation" }
                        " and prepare again."
                    }
                }
            }
        }
    }
}

/// A labelled input whose id is unique on the page (`prefix`-`name`), with its errors
/// beside it.
fn text_field(
    prefix: &str,
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    errors: &[String],
    hint: Option<&str>,
) -> Markup {
    let id = format!("{prefix}-{name}");
    let err_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described: Vec<&str> = [
        hint.map(|_| hint_id.as_str()),
        (!errors.is_empty()).then_some(err_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    html! {
        div.field {
            label for=(id) { (label) }
            @if let Some(h) = hint { span.muted id=(hint_id) { (h) } }
            input id=(id) name=(name) type=(kind) value=(value) required
                autocomplete=[(kind == "password").then_some("current-password")]
                aria-invalid=[(!errors.is_empty()).then_some("true")]
                aria-describedby=[described];
            @if !errors.is_empty() {
                span.field-error id=(err_id) { @for m in errors { (m) " " } }
            }
        }
    }
}

fn prepare_fields(
    id: &str,
    l: &Line,
    unit: &str,
    typed: Option<&DoseForm>,
    errors: &FieldErrors,
) -> Markup {
    html! {
        p { "Dose to prepare: " b { (crate::format::Amount { value: l.dose, unit: unit_of(unit) }.plain()) " " (unit) } }
        (text_field(id, "Lot or bag id", "lot", "text", typed.map_or("", |t| t.lot.as_str()), errors.of("lot"), None))
    }
}

fn check_fields(id: &str, typed: Option<&DoseForm>, errors: &FieldErrors) -> Markup {
    html! {
        (text_field(id, "Lot or bag id, read again from the bag", "lot", "text",
            typed.map_or("", |t| t.lot.as_str()), errors.of("lot"), None))
        (text_field(id, "Your password: electronic signature, meaning \"checked\"", "password", "password",
            "", errors.of("password"), Some("Entering your password signs this dose as checked by you.")))
    }
}

fn give_fields(
    id: &str,
    p: &Progress,
    unit: &str,
    typed: Option<&DoseForm>,
    errors: &FieldErrors,
) -> Markup {
    let prepared = p.prepared.as_ref();
    let amount = typed.map_or_else(
        || prepared.map_or_else(String::new, |s| s.amount.clone()),
        |t| t.amount.clone(),
    );
    let lot = typed.map_or_else(
        || prepared.map_or_else(String::new, |s| s.lot.clone()),
        |t| t.lot.clone(),
    );
    let time = typed.map_or("", |t| t.time.as_str());
    let note = typed.map_or("", |t| t.note.as_str());
    html! {
        (text_field(id, &format!("Amount given ({unit})"), "amount", "text", &amount, errors.of("amount"), Some("Prefilled with the dose prepared.")))
        (time_field(id, time, errors.of("time")))
        (text_field(id, "Lot or bag id", "lot", "text", &lot, errors.of("lot"), None))
        (optional_field(id, "Note (optional)", "note", note, errors.of("note")))
    }
}

/// The time given: a text input (a time input cannot show what was typed when it is not
/// a time), HH:MM on the 24-hour clock.
fn time_field(prefix: &str, value: &str, errors: &[String]) -> Markup {
    let id = format!("{prefix}-time");
    let err_id = format!("{id}-error");
    html! {
        div.field {
            label for=(id) { "Time given (HH:MM, 24-hour)" }
            input id=(id) name="time" type="text" value=(value) required
                pattern="([01]?[0-9]|2[0-3]):[0-5][0-9]" maxlength="5" size="5"
                autocomplete="off" placeholder="10:40"
                aria-invalid=[(!errors.is_empty()).then_some("true")]
                aria-describedby=[(!errors.is_empty()).then_some(err_id.as_str())];
            @if !errors.is_empty() {
                span.field-error id=(err_id) { @for m in errors { (m) " " } }
            }
        }
    }
}

/// A text input that may be left empty.
fn optional_field(prefix: &str, label: &str, name: &str, value: &str, errors: &[String]) -> Markup {
    let id = format!("{prefix}-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(value);
            @if !errors.is_empty() { span.field-error { @for m in errors { (m) " " } } }
        }
    }
}

fn unit_of(unit: &str) -> crate::model::Unit {
    if unit == crate::model::Unit::Ml.as_str() {
        crate::model::Unit::Ml
    } else {
        crate::model::Unit::Cells
    }
}

/// The printable sheet, exactly as `dosesim prep --format html` renders it.
async fn print_page(
    State(app): State<App>,
    Path(trial): Path<String>,
    Query(q): Query<DayQuery>,
    _user: Signed,
) -> Result<Response, Failure> {
    let scope = Scope::of(&q, &mut FieldErrors::default());
    let html = blocking(move || -> Result<String, Failure> {
        let inputs = super::trials::load(&app, &trial)?.ok_or_else(|| {
            Failure::NotFound(format!("trial {trial} has no patient in the database yet"))
        })?;
        let cohort = Cohort::of(&inputs).map_err(|e| Failure::Internal(e.into()))?;
        let sheet = crate::sheet::build(&cohort, &scope.request());
        let files = crate::bundle::inputs_of(&cohort).map_err(|e| Failure::Internal(e.into()))?;
        Ok(crate::export::sheet_html::render(&sheet, &files))
    })
    .await?;
    Ok(Html(html).into_response())
}

/// What a dose's form posts (every step's fields; each step reads its own).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DoseForm {
    pub patient: String,
    pub component: String,
    pub occurrence: String,
    pub date: String,
    pub site: String,
    pub days: String,
    pub from: String,
    pub lot: String,
    pub password: String,
    pub amount: String,
    pub time: String,
    pub note: String,
    pub reason: String,
}

/// POST `/trials/{trial}/doses/{prepare|check|give|miss}`: a pharmacist (or an admin)
/// records the step; 303 back to the day with a notice, or 422 and the day again with the
/// problems beside the dose's fields.
async fn record_step(
    State(app): State<App>,
    Path((trial, step)): Path<(String, String)>,
    user: Signed,
    axum::Form(f): axum::Form<DoseForm>,
) -> Result<Response, Failure> {
    if !["prepare", "check", "give", "miss"].contains(&step.as_str()) {
        return Err(Failure::NotFound(format!("there is no step '{step}'")));
    }
    user.require(Role::Pharmacist)?;
    let scope = Scope::of(
        &DayQuery {
            date: Some(f.from.clone()),
            site: Some(f.site.clone()),
            days: Some(f.days.clone()),
            ..DayQuery::default()
        },
        &mut FieldErrors::default(),
    );
    let (dose, date) = match parse_dose(&f) {
        Ok(x) => x,
        Err(errors) => return refused_page(&app, &trial, &user, &scope, &step, f, errors).await,
    };
    if step == "check"
        && let Err(m) = super::auth::check_password(&app, &user.name, &f.password, None).await
    {
        let mut errors = FieldErrors::default();
        let m = if m.contains("not right") {
            "the password is not right: nothing was signed".to_string()
        } else {
            m
        };
        errors.add("password", m);
        return refused_page(&app, &trial, &user, &scope, &step, f, errors).await;
    }
    let outcome = run_step(&app, &trial, &step, &dose, date, &f, &user.name).await?;
    match outcome {
        Ok(()) => {
            let to = format!(
                "/trials/{trial}/day?{}&done={step}&dose={}#{}",
                scope.query(),
                page::url_encode(&dose.words()),
                anchor(&dose)
            );
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let errors = FieldErrors::from_input(&e);
            refused_page(&app, &trial, &user, &scope, &step, f, errors).await
        }
    }
}

/// The dose and date a form names; a problem beside the form otherwise.
fn parse_dose(f: &DoseForm) -> Result<(DoseRef, NaiveDate), FieldErrors> {
    let mut errors = FieldErrors::default();
    let occurrence = f.occurrence.trim().parse::<u32>().ok();
    if occurrence.is_none() {
        errors.add("", format!("'{}' is not a dose number", f.occurrence));
    }
    let date = crate::timing::parse_date(f.date.trim()).ok();
    if date.is_none() {
        errors.add("", format!("'{}' is not a date", f.date));
    }
    match (occurrence, date) {
        (Some(occurrence), Some(date)) if errors.is_empty() => Ok((
            DoseRef {
                patient: f.patient.trim().to_string(),
                component: f.component.trim().to_string(),
                occurrence,
            },
            date,
        )),
        _ => Err(errors),
    }
}

/// The step's library call, on the blocking pool: `Ok(Err(..))` is bad input.
async fn run_step(
    app: &App,
    trial: &str,
    step: &str,
    dose: &DoseRef,
    date: NaiveDate,
    f: &DoseForm,
    by: &str,
) -> Result<Result<(), crate::error::InputError>, Failure> {
    let (app, trial, step, dose, f, by) = (
        app.clone(),
        trial.to_string(),
        step.to_string(),
        dose.clone(),
        f.clone(),
        by.to_string(),
    );
    blocking(move || {
        let inputs = super::trials::load(&app, &trial)?.ok_or_else(|| {
            Failure::NotFound(format!("trial {trial} has no patient in the database yet"))
        })?;
        let t = &inputs.trial;
        let mut db = app.db()?;
        let done = match step.as_str() {
            "prepare" => doses::prepare(&mut db, &inputs, &dose, date, &f.lot, &by).map(|_| ()),
            "check" => doses::check(&mut db, &t.id, &dose, &f.lot, &by).map(|_| ()),
            "give" => {
                let g = Given {
                    amount: &f.amount,
                    time: &f.time,
                    lot: &f.lot,
                    note: &f.note,
                };
                doses::give(&mut db, &inputs, &dose, date, &g, &by).map(|_| ())
            }
            _ => doses::miss(&mut db, t, &dose, date, &f.reason, &by).map(|_| ()),
        };
        match done {
            Ok(()) => Ok(Ok(())),
            Err(Refused::Input(e)) => Ok(Err(e)),
            Err(Refused::Db(e)) => Err(Failure::Internal(e)),
        }
    })
    .await
}

/// The dose as the form named it: "P4398-026 uc_msc 1", the occurrence as typed.
fn typed_words(f: &DoseForm) -> String {
    format!(
        "{} {} {}",
        f.patient.trim(),
        f.component.trim(),
        f.occurrence.trim()
    )
}

/// The day again, 422, with the problems beside the dose's fields and what was typed.
async fn refused_page(
    app: &App,
    trial: &str,
    user: &Signed,
    scope: &Scope,
    step: &str,
    mut f: DoseForm,
    errors: FieldErrors,
) -> Result<Response, Failure> {
    f.password.clear();
    let dose = DoseRef {
        patient: f.patient.trim().to_string(),
        component: f.component.trim().to_string(),
        occurrence: f.occurrence.trim().parse().unwrap_or(0),
    };
    let attempt = Attempt {
        dose,
        step: step.to_string(),
        typed: f,
        errors: errors.clone(),
    };
    // Said at the top too, with a link to the dose's form, so that a problem is seen
    // even when the dose is no longer on the page (recorded in the meantime, say).
    let top = html! {
        div.error role="alert" {
            p {
                "Nothing was recorded for " (typed_words(&attempt.typed)) ": "
                a href={ "#" (anchor(&attempt.dose)) } { "see the problems beside its fields" }
            }
            ul { @for m in errors.0.values().flatten() { li { (m) } } }
        }
    };
    let html = render_day(
        app,
        trial,
        user,
        scope,
        top,
        FieldErrors::default(),
        Some(attempt),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}
