//! The audit trail: every entry of a trial (roster, record and preparation books) with its
//! number, when (UTC), who, what it did (add, correct entry N, void entry N), why, where
//! from, what it says and what became of it, filterable by patient and by the date
//! entered; as a page, or as CSV (audit.csv's columns, then the preparation step's own
//! and what became of each entry).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Signed;
use super::entries::says;
use super::page::{self, Failure, FieldErrors};
use super::{App, blocking, trials};
use crate::db::{Action, Book, Entry, Filter};
use crate::export::audit::COLUMNS;
use crate::model::Trial;

pub fn routes() -> Router<App> {
    Router::new().route("/trials/{trial}/audit", get(audit))
}

/// The most entries a page shows (the CSV gives them all).
const PAGE_ROWS: usize = 2000;

#[derive(Deserialize, Default, Clone)]
struct Asked {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

/// The filter, checked: the patient, and the first and last date entered.
struct Narrow {
    patient: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

fn narrow(q: &Asked) -> Result<Narrow, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut date = |name: &str, v: &str| -> Option<NaiveDate> {
        if v.trim().is_empty() {
            return None;
        }
        match crate::timing::parse_date(v.trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                errors.add(name, format!("'{v}' is not a date: give YYYY-MM-DD"));
                None
            }
        }
    };
    let (from, to) = (date("from", &q.from), date("to", &q.to));
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        errors.add(
            "to",
            format!("{t} is before {f}: give the earlier date first"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let p = q.patient.trim();
    Ok(Narrow {
        patient: (!p.is_empty()).then(|| p.to_string()),
        from,
        to,
    })
}

/// The trial's entries the filter keeps, and what became of each (the entry that
/// corrected or voided it).
struct Trail {
    entries: Vec<Entry>,
    became: HashMap<i64, (i64, Action)>,
}

fn trail(app: &App, trial_id: &str, n: &Narrow) -> Result<Trail, Failure> {
    let mut db = app.db()?;
    let (mut entries, mut became) = (Vec::new(), HashMap::new());
    db.read(|s| {
        s.scan(&Filter::trial(trial_id).superseding(), &mut |e| {
            if let Some(of) = e.fields.supersedes {
                became.insert(of, (e.id, e.fields.action()));
            }
            Ok(())
        })?;
        let f = Filter {
            patient: n.patient.clone(),
            ..Filter::trial(trial_id)
        };
        s.scan(&f, &mut |e| {
            if kept(e, n) {
                entries.push(e.clone());
            }
            Ok(())
        })
    })?;
    Ok(Trail { entries, became })
}

/// Whether the entry is of a book the trail shows and was entered between the dates.
fn kept(e: &Entry, n: &Narrow) -> bool {
    if !matches!(e.fields.book(), Book::Roster | Book::Record | Book::Prep) {
        return false;
    }
    let day = e
        .fields
        .entered_at
        .get(..10)
        .and_then(|d| crate::timing::parse_date(d).ok());
    match day {
        Some(d) => n.from.is_none_or(|f| d >= f) && n.to.is_none_or(|t| d <= t),
        None => n.from.is_none() && n.to.is_none(),
    }
}

/// "add", "correct entry 12", "void entry 12".
fn action(e: &Entry) -> String {
    match (e.fields.action(), e.fields.supersedes) {
        (a, Some(of)) => format!("{} entry {of}", a.as_str()),
        (a, None) => a.as_str().to_string(),
    }
}

/// What became of the entry: in effect, corrected by N, voided by N (a void: "").
fn became(t: &Trail, e: &Entry) -> String {
    match t.became.get(&e.id) {
        Some((by, Action::Void)) => format!("voided by {by}"),
        Some((by, _)) => format!("corrected by {by}"),
        None if e.fields.action() == Action::Void => String::new(),
        None => "in effect".to_string(),
    }
}

/// The trail as CSV: audit.csv's columns (a preparation step's date, component,
/// occurrence and amount in theirs), then `step`, `lot` and `became`.
fn csv(t: &Trail) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    header.extend(["step", "lot", "became"]);
    w.write_record(&header)?;
    for e in &t.entries {
        let mut row: Vec<String> = COLUMNS.iter().map(|c| (c.cell)(e)).collect();
        let prep = e.fields.book() == Book::Prep;
        if prep {
            let v = &e.fields.values;
            for (name, k) in [
                ("date", 0),
                ("component", 2),
                ("occurrence", 3),
                ("amount", 4),
            ] {
                if let Some(at) = header.iter().position(|h| *h == name) {
                    row[at].clone_from(&v[k]);
                }
            }
        }
        let (step, lot) = if prep {
            (e.fields.values[1].clone(), e.fields.values[5].clone())
        } else {
            (String::new(), String::new())
        };
        row.extend([step, lot, became(t, e)]);
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// The filter form.
fn filter_form(trial: &str, q: &Asked, errors: &FieldErrors) -> Markup {
    html! {
        form.inline-form method="get" action={ "/trials/" (trial) "/audit" } {
            (page::field("Patient", "patient", "text", &q.patient, errors.of("patient")))
            (page::field_with("Entered from (UTC date)", "from", "date", &q.from, errors.of("from"), page::Opts::default()))
            (page::field_with("Entered to (UTC date)", "to", "date", &q.to, errors.of("to"), page::Opts::default()))
            button type="submit" { "Show" }
        }
    }
}

/// The trail's table.
fn table(trial: &Trial, t: &Trail) -> Markup {
    html! {
        div.table-wrap {
            table.stack {
                thead { tr {
                    th.num { "Entry" } th { "When (UTC)" } th { "Who" } th { "Action" } th { "Book" }
                    th { "Patient" } th { "What it says" } th { "Reason" } th { "Where from" } th { "Now" }
                } }
                tbody {
                    @for e in t.entries.iter().take(PAGE_ROWS) {
                        @let f = &e.fields;
                        tr {
                            td.num data-label="Entry" { (e.id) }
                            td data-label="When (UTC)" { (f.entered_at) }
                            td data-label="Who" { (f.entered_by) }
                            td data-label="Action" { (action(e)) }
                            td data-label="Book" { (f.book().as_str()) }
                            td data-label="Patient" { a href={ "/trials/" (trial.id) "/patients/" (f.patient_id) } { (f.patient_id) } }
                            td data-label="What it says" { @if f.action() != Action::Void { (says(trial, f)) } }
                            td data-label="Reason" { (f.reason) }
                            td data-label="Where from" { (f.origin()) }
                            td data-label="Now" { (became(t, e)) }
                        }
                    }
                }
            }
        }
    }
}

async fn audit(
    State(app): State<App>,
    user: Signed,
    Path(trial_id): Path<String>,
    Query(q): Query<Asked>,
) -> Result<Response, Failure> {
    let (a, tid) = (app.clone(), trial_id.clone());
    let (_, trial) = blocking(move || trials::find(&a, &tid)).await?;
    let n = match narrow(&q) {
        Ok(n) => n,
        Err(errors) => {
            let body = html! {
                h1 { (trial.id) ": audit trail" }
                (page::form_errors(&errors, &["patient", "from", "to"]))
                (filter_form(&trial.id, &q, &errors))
            };
            let html = page::page("Audit trail", &user, Some(&trial.id), body);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
        }
    };
    let id = trial.id.clone();
    let t = blocking(move || trail(&app, &id, &n)).await?;
    if q.format == "csv" {
        let bytes = csv(&t)?;
        let name = format!("attachment; filename=\"{}-audit.csv\"", trial.id);
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, name),
            ],
            bytes,
        )
            .into_response());
    }
    let csv_link = format!(
        "/trials/{}/audit?patient={}&from={}&to={}&format=csv",
        trial.id,
        page::url_encode(&q.patient),
        page::url_encode(&q.from),
        page::url_encode(&q.to)
    );
    let body = html! {
        h1 { (trial.id) ": audit trail" }
        p.muted { "Every entry of the roster, the record and the doses' preparation: nothing is changed in place; a correction or void is a new entry with its reason." }
        (filter_form(&trial.id, &q, &FieldErrors::default()))
        p { (t.entries.len()) " entries. " a href=(csv_link) { "Download as CSV" } }
        @if t.entries.len() > PAGE_ROWS {
            p.notice { "The first " (PAGE_ROWS) " are shown: narrow by patient or date, or download the CSV for all." }
        }
        (table(&trial, &t))
    };
    Ok(page::page("Audit trail", &user, Some(&trial.id), body).into_response())
}
