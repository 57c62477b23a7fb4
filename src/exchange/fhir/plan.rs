//! The plan: a CarePlan whose activities are a MedicationRequest per cell infusion
//! component, a ServiceRequest per plasma exchange component and an Appointment per visit
//! (background treatment is an activity described in words).
//!
//! A request's Timing lists in `event` every date a dose is to be or was given (after any
//! site-calendar move; not the missed or cancelled ones: pharmacy.csv's dose rows less
//! those), each date numbered by an extension (its occurrence in the regimen, and the date
//! the regimen planned when a move changed it), and in `repeat`: `count` (the dates
//! listed), `period`/`periodUnit` (UnitsOfTime `d`, `wk`, `mo`) only when the dates listed
//! follow the regimen's interval exactly (else the rule is said in words, in the Dosage's
//! text or the ServiceRequest's note, so that a reader expanding `repeat` never gets a
//! missed or moved date), `duration`/`durationUnit` (`min`) for an infusion's length.

use chrono::Days;
use serde_json::{Value, json};

use super::{Cx, Entries, Item, base, ids, mark, number, quantity, reference};
use crate::exchange::is_exposure;
use crate::format::Amount;
use crate::model::{Assumed, Component, ComponentKind, Interval, TimingRule};
use crate::recorded::Status;
use crate::schedule::{Event, EventKind, Origin};

/// Adds the CarePlan, then its requests and appointments.
pub fn add(cx: &Cx, out: &mut Entries) {
    let mut activities: Vec<(String, Value)> = Vec::new();
    for (k, c) in cx.s.arm.components.iter().enumerate() {
        let events = of_component(cx, k);
        let resource = match c.kind {
            ComponentKind::CellInfusion => medication_request(cx, c, &events),
            ComponentKind::PlasmaExchange => service_request(cx, c, &events),
        };
        activities.push((request_id(cx, c), resource));
    }
    for (k, e) in cx.s.events.iter().enumerate() {
        if e.kind == EventKind::Visit {
            activities.push((appointment_id(cx, e), appointment(cx, k, e)));
        }
    }
    out.push(&cx.id(&["careplan"]), care_plan(cx, &activities));
    for (id, resource) in activities {
        out.push(&id, resource);
    }
}

/// The id of a component's MedicationRequest or ServiceRequest.
pub fn request_id(cx: &Cx, c: &Component) -> String {
    match c.kind {
        ComponentKind::CellInfusion => cx.id(&["request", &c.id]),
        ComponentKind::PlasmaExchange => cx.id(&["service", &c.id]),
    }
}

fn appointment_id(cx: &Cx, e: &Event) -> String {
    cx.id(&["appointment", visit_name(cx, e), &e.occurrence.to_string()])
}

fn visit_name<'a>(cx: &Cx<'_, 'a>, e: &Event) -> &'a str {
    match e.origin {
        Origin::Visit(v) => &cx.s.arm.visits[v].id,
        _ => "",
    }
}

/// Every event of component `k`, in date order.
fn of_component<'a>(cx: &Cx<'a, '_>, k: usize) -> Vec<&'a Event> {
    cx.s.events
        .iter()
        .filter(|e| e.origin == Origin::Component(k))
        .collect()
}

/// The plan's amount for a dose: what the plan said of a given one, else its dose.
pub fn planned_amount(e: &Event) -> Option<f64> {
    if e.status == Status::Given {
        e.planned_amount.or(e.dose)
    } else {
        e.dose.or(e.planned_amount)
    }
}

/// A request's status: active while a dose is still to give, else stopped (revoked) by a
/// recorded end, else completed.
fn request_status(cx: &Cx, events: &[&Event], ended: &'static str) -> &'static str {
    let open = events
        .iter()
        .any(|e| matches!(e.status, Status::Planned | Status::Due | Status::Held));
    if open {
        "active"
    } else if cx.s.end.is_some() {
        ended
    } else {
        "completed"
    }
}

/// A component as the owner of assumed values.
pub fn item<'a>(cx: &Cx<'_, 'a>, c: &'a Component) -> Item<'a> {
    Item::Component(&c.id, &cx.trial.products[c.product].id)
}

/// A Timing of `events` (dates with their occurrences) by the component's rule.
fn timing(c: &Component, events: &[&Event], volume: bool) -> Value {
    let mut repeat = serde_json::Map::new();
    if !events.is_empty() {
        repeat.insert("count".into(), json!(events.len()));
    }
    if let Some((n, unit)) = period(&c.timing.rule).filter(|&p| follows(events, p)) {
        repeat.insert("period".into(), json!(n));
        repeat.insert("periodUnit".into(), json!(unit));
    }
    if let Some(d) = &c.duration_min {
        repeat.insert("duration".into(), json!(d.value));
        repeat.insert("durationUnit".into(), json!("min"));
    }
    let mut t = json!({});
    if !events.is_empty() {
        let dates: Vec<String> = events.iter().map(|e| e.date.to_string()).collect();
        let notes: Vec<Value> = events.iter().map(|e| date_note(e, volume)).collect();
        t["event"] = json!(dates);
        t["_event"] = json!(notes);
    }
    if !repeat.is_empty() {
        t["repeat"] = Value::Object(repeat);
    }
    t
}

/// The period of a regimen in UnitsOfTime: its interval, or the gap of a list of study
/// days evenly spaced (days 1, 4, 7, 10: 3 d); none for an uneven list.
pub fn period(rule: &TimingRule) -> Option<(u32, &'static str)> {
    match rule {
        TimingRule::Every { interval, .. } => Some(match *interval {
            Interval::Days(n) => (n, "d"),
            Interval::Weeks(n) => (n, "wk"),
            Interval::Months(n) => (n, "mo"),
        }),
        TimingRule::Days(days) if days.len() >= 2 => {
            let gap = days[1].checked_sub(days[0])?;
            let even = days.windows(2).all(|w| w[1].checked_sub(w[0]) == Some(gap));
            (even && gap > 0).then_some((gap, "d"))
        }
        TimingRule::Days(_) => None,
    }
}

/// Whether the dates of `events` (two or more) follow `period` exactly: every gap equal to
/// it, so that a reader expanding `repeat` from the first date gets the dates listed (not a
/// missed or moved date's). Months count from the first date (its day of the month, or the
/// month's last day).
pub fn follows(events: &[&Event], (n, unit): (u32, &str)) -> bool {
    let Some(first) = events.first().map(|e| e.date) else {
        return false;
    };
    if events.len() < 2 {
        return false;
    }
    events.iter().enumerate().all(|(k, e)| {
        let k = k as u32;
        let want = match unit {
            "d" => first.checked_add_days(Days::new(u64::from(n * k))),
            "wk" => first.checked_add_days(Days::new(u64::from(7 * n * k))),
            "mo" => crate::timing::add_months(first, n * k),
            _ => None,
        };
        want == Some(e.date)
    })
}

/// The regimen's interval rule in words when the dates listed do not follow it (so the
/// Timing has no period): "regimen rule: every 3 d; ...".
fn rule_words(c: &Component, events: &[&Event]) -> Option<String> {
    let p = period(&c.timing.rule)?;
    if follows(events, p) {
        return None;
    }
    let why = if events.len() < 2 {
        "fewer than two dates listed"
    } else {
        "the dates listed differ from it (a dose missed, moved or cancelled)"
    };
    Some(format!(
        "regimen rule: every {} {}; no Timing period, as {why}",
        p.0, p.1
    ))
}

/// What a Timing says of one of its dates: the occurrence, the date planned when a move
/// changed it, and (for an exchange) its volume.
fn date_note(e: &Event, volume: bool) -> Value {
    let mut ext = vec![json!({"url": ids::OCCURRENCE_URL, "valuePositiveInt": e.occurrence})];
    if e.planned != e.date {
        ext.push(json!({"url": ids::PLANNED_DATE_URL, "valueDate": e.planned.to_string()}));
    }
    if volume && let Some(v) = planned_amount(e) {
        ext.push(json!({"url": ids::VOLUME_URL, "valueQuantity":
            quantity(v, crate::model::Unit::Ml)}));
    }
    json!({"extension": ext})
}

/// A note on the occurrences not in the Timing: missed, or cancelled by the end.
fn left_out(cx: &Cx, events: &[&Event]) -> Option<Value> {
    let list = |status: Status| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.status == status)
            .map(|e| format!("{} ({})", e.occurrence, e.date))
            .collect()
    };
    let mut parts = Vec::new();
    let missed = list(Status::Missed);
    if !missed.is_empty() {
        parts.push(format!("missed: occurrence {}", missed.join(", ")));
    }
    let cancelled = list(Status::Cancelled);
    if !cancelled.is_empty() {
        let why = ended(cx).map_or_else(String::new, |w| format!(" {w}"));
        parts.push(format!(
            "cancelled{why}: occurrence {}",
            cancelled.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| json!([{"text": parts.join("; ")}]))
}

/// "after the withdrawal recorded on DATE" (or death), when the record ends the patient's
/// course.
fn ended(cx: &Cx) -> Option<String> {
    let (date, kind) = cx.s.end?;
    let what = match kind {
        crate::recorded::RecordKind::Died => "death",
        _ => "withdrawal",
    };
    Some(format!("after the {what} recorded on {date}"))
}

/// The Dosage runs of an infusion: its doses to give or given in date order, a run for
/// each stretch of the same planned amount (one run unless the weight changed).
fn runs<'a>(events: &[&'a Event]) -> Vec<Vec<&'a Event>> {
    let mut runs: Vec<Vec<&Event>> = Vec::new();
    for e in events.iter().filter(|e| is_exposure(e.status)) {
        match runs.last_mut() {
            Some(run) if planned_amount(run[0]) == planned_amount(e) => run.push(e),
            _ => runs.push(vec![e]),
        }
    }
    runs
}

/// A cell infusion component's regimen for the patient.
fn medication_request(cx: &Cx, c: &Component, events: &[&Event]) -> Value {
    let runs = runs(events);
    let mut dosages: Vec<Value> = runs
        .iter()
        .enumerate()
        .map(|(k, run)| dosage(cx, c, run, k + 1))
        .collect();
    if dosages.is_empty() {
        let mut text =
            String::from("no dose left to give: every occurrence was missed or cancelled");
        if let Some(rule) = rule_words(c, &[]) {
            text.push_str(&format!("; {rule}"));
        }
        let mut d = json!({"sequence": 1, "text": text});
        let t = timing(c, &[], false);
        if t.as_object().is_some_and(|m| !m.is_empty()) {
            d["timing"] = t;
        }
        dosages.push(d);
    }
    let mut r = json!({
        "resourceType": "MedicationRequest",
        "identifier": cx.identifier("request", &[&c.id]),
        "status": request_status(cx, events, "stopped"),
        "intent": "plan",
        "medicationReference": reference(&base::medication_id(cx, c.product)),
        "subject": reference(&cx.id(&["patient"])),
        "dosageInstruction": dosages,
    });
    if let Some(note) = left_out(cx, events) {
        r["note"] = note;
    }
    let flags = events.iter().fold(Assumed::NONE, |a, e| a | e.assumed);
    mark(&mut r, cx.assumed(flags, item(cx, c), &[]));
    r
}

/// One run of equal doses: its dates, the dose in the product's unit, and in words the
/// per-kg amount, the weight it was computed at, the route and the length.
fn dosage(cx: &Cx, c: &Component, run: &[&Event], sequence: usize) -> Value {
    let unit = cx.trial.products[c.product].unit;
    let first = run[0];
    let mut words = vec![c.name.clone()];
    if let Some(x) = planned_amount(first) {
        let mut w = Amount { value: x, unit }.readable();
        if let Some(per_kg) = first.dose_per_kg {
            let kg = first.weight.unwrap_or(cx.s.patient.weight_kg).to_string();
            w.push_str(&format!(
                " ({} {}/kg at {kg} kg)",
                number(per_kg),
                unit.as_str()
            ));
        }
        words.push(w);
    }
    if let Some(route) = &c.route {
        words.push(route.value.clone());
    }
    if let Some(d) = &c.duration_min {
        words.push(format!("over {} min", d.value));
    }
    words.extend(rule_words(c, run));
    let mut d = json!({
        "sequence": sequence,
        "text": words.join("; "),
        "timing": timing(c, run, false),
    });
    if let Some(route) = &c.route {
        d["route"] = json!({"text": route.value});
    }
    if let Some(x) = planned_amount(first) {
        d["doseAndRate"] = json!([{"doseQuantity": quantity(x, unit)}]);
    }
    d
}

/// A plasma exchange component's sessions for the patient.
fn service_request(cx: &Cx, c: &Component, events: &[&Event]) -> Value {
    let given: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| is_exposure(e.status))
        .collect();
    let mut r = json!({
        "resourceType": "ServiceRequest",
        "identifier": cx.identifier("service", &[&c.id]),
        "status": request_status(cx, events, "revoked"),
        "intent": "plan",
        "code": {"text": c.name},
        "subject": reference(&cx.id(&["patient"])),
    });
    // FHIR allows no empty object: a regimen with no date left and no period has none.
    let t = timing(c, &given, true);
    if t.as_object().is_some_and(|m| !m.is_empty()) {
        r["occurrenceTiming"] = t;
    }
    let volumes: Vec<Option<f64>> = given.iter().map(|e| planned_amount(e)).collect();
    if let Some(Some(v)) = volumes.first()
        && volumes.iter().all(|x| *x == Some(*v))
    {
        r["quantityQuantity"] = quantity(*v, cx.trial.products[c.product].unit);
    }
    if let Some(loc) = base::location_id(cx) {
        r["locationReference"] = json!([reference(&loc)]);
    }
    let mut notes: Vec<Value> = rule_words(c, &given)
        .map(|t| json!({ "text": t }))
        .into_iter()
        .collect();
    if let Some(Value::Array(more)) = left_out(cx, events) {
        notes.extend(more);
    }
    if !notes.is_empty() {
        r["note"] = json!(notes);
    }
    let flags = events.iter().fold(Assumed::NONE, |a, e| a | e.assumed);
    mark(&mut r, cx.assumed(flags, item(cx, c), &[]));
    r
}

/// A visit: proposed for its date (its window in the comment) while to come; fulfilled
/// when the record says it was held (the site's whole day, for want of a time); cancelled
/// when missed or after the end.
fn appointment(cx: &Cx, k: usize, e: &Event) -> Value {
    let Origin::Visit(v) = e.origin else {
        unreachable!("appointments are made of visits")
    };
    let visit = &cx.s.arm.visits[v];
    let (status, who) = match e.status {
        Status::Given => ("fulfilled", "accepted"),
        Status::Missed | Status::Cancelled => ("cancelled", "declined"),
        _ => ("proposed", "needs-action"),
    };
    let mut participants = vec![json!({"actor": reference(&cx.id(&["patient"])), "status": who})];
    if let Some(loc) = base::location_id(cx) {
        participants.push(json!({"actor": reference(&loc), "status": "accepted"}));
    }
    let day = e.date.to_string();
    let mut a = json!({
        "resourceType": "Appointment",
        "identifier": cx.identifier("appointment", &[&visit.id, &e.occurrence.to_string()]),
        "status": status,
        "description": visit.name,
        "requestedPeriod": [{"start": day, "end": day}],
        "participant": participants,
        "extension": date_note(e, false)["extension"].clone(),
    });
    if let Some((from, to)) = e.window {
        a["comment"] = json!(format!("window {from} to {to}"));
    }
    match e.status {
        Status::Given => {
            let next = e.date + Days::new(1);
            let off = crate::exchange::SITE_UTC_OFFSET;
            a["start"] = json!(format!("{day}T00:00:00{off}"));
            a["end"] = json!(format!("{next}T00:00:00{off}"));
            mark(&mut a, Some(super::assumed_offset("the visit's day")));
        }
        Status::Missed => {
            let why = cx.s.recorded[k].as_ref().and_then(|r| r.note.clone());
            let why = why.map_or_else(|| "missed (recorded)".into(), |n| format!("missed: {n}"));
            a["cancelationReason"] = json!({"text": why});
        }
        Status::Cancelled => {
            let why = ended(cx).unwrap_or_else(|| "cancelled".into());
            a["cancelationReason"] = json!({ "text": why });
        }
        _ => {}
    }
    mark(&mut a, cx.assumed(e.assumed, Item::Visit(&visit.id), &[]));
    a
}

/// The CarePlan: the patient's arm, its period, every request and appointment as an
/// activity, and background treatment described.
fn care_plan(cx: &Cx, activities: &[(String, Value)]) -> Value {
    let s = cx.s;
    let open = s.events.iter().any(|e| {
        e.kind != EventKind::Background
            && matches!(e.status, Status::Planned | Status::Due | Status::Held)
    });
    let status = match (s.end, open) {
        (Some(_), _) => "revoked",
        (None, true) => "active",
        (None, false) => "completed",
    };
    // The plan ends with its last event, or with a recorded withdrawal or death.
    let last = s.events.iter().map(|e| e.date).max();
    let last = s
        .end
        .map(|(date, _)| date)
        .or(last)
        .unwrap_or(s.patient.start);
    let mut list: Vec<Value> = activities
        .iter()
        .map(|(id, _)| json!({"reference": reference(id)}))
        .collect();
    list.extend(background(cx));
    let mut p = json!({
        "resourceType": "CarePlan",
        "identifier": cx.identifier("careplan", &[]),
        "status": status,
        "intent": "plan",
        "title": format!("{} arm {}: {}", cx.trial.id, s.arm.id, s.arm.name),
        "subject": reference(&cx.id(&["patient"])),
        "period": {"start": s.patient.start.to_string(), "end": last.to_string()},
    });
    if !list.is_empty() {
        p["activity"] = json!(list);
    }
    if let Some(url) = &cx.trial.registry_url {
        p["instantiatesUri"] = json!([url]);
    }
    // The arm's rules in the record's words (a stopping rule), then the recorded end.
    let mut notes: Vec<Value> = s.arm.notes.iter().map(|n| json!({"text": n})).collect();
    if let Some((date, kind)) = s.end {
        notes.push(json!({"text": format!("{} on {date} (recorded)", kind.as_str())}));
    }
    if !notes.is_empty() {
        p["note"] = json!(notes);
    }
    p
}

/// Background treatment as activities in words (it is not dosed here).
fn background(cx: &Cx) -> Vec<Value> {
    cx.s.events
        .iter()
        .filter(|e| e.kind == EventKind::Background)
        .map(|e| {
            let Origin::Background(b) = e.origin else {
                unreachable!("background events come from the arm's background")
            };
            let b = &cx.s.arm.background[b];
            let mut text = b.name.clone();
            if let Some(d) = &b.detail {
                text.push_str(&format!(": {d}"));
            }
            if let Some(u) = &b.until {
                text.push_str(&format!(" (until {u})"));
            }
            let status = if e.status == Status::Cancelled {
                "cancelled"
            } else {
                "scheduled"
            };
            let mut detail = json!({"status": status, "description": text,
                "scheduledString": format!("from {}", e.date)});
            mark(
                &mut detail,
                cx.assumed(e.assumed, Item::Background(&b.id), &[]),
            );
            json!({"detail": detail})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_the_interval_or_the_gap_of_even_days() {
        let every = |interval| TimingRule::Every {
            start_day: 1,
            interval,
            count: 3,
        };
        assert_eq!(period(&every(Interval::Days(3))), Some((3, "d")));
        assert_eq!(period(&every(Interval::Weeks(1))), Some((1, "wk")));
        assert_eq!(period(&every(Interval::Months(3))), Some((3, "mo")));
        assert_eq!(period(&TimingRule::Days(vec![1, 4, 7, 10])), Some((3, "d")));
        assert_eq!(period(&TimingRule::Days(vec![1, 7, 14, 21])), None);
        assert_eq!(period(&TimingRule::Days(vec![1])), None);
    }
}
