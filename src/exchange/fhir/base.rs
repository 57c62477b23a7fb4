//! Who and what a Bundle is about: the Patient (dead on the date of a recorded death),
//! their body weight (on the roster, and each the record gives), the site, the trial
//! (ResearchStudy) and the patient's arm in it (ResearchSubject), and a Medication per
//! cell product of the arm.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{Cx, Entries, Item, UCUM, ids, mark, number, reference};
use crate::model::{Assumed, ComponentKind, Kg, Product, Unit};
use crate::recorded::RecordKind;

/// FHIR's code system of observation categories.
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const LOINC: &str = "http://loinc.org";
/// The identifier system of registry ids (NCT numbers).
const CLINICALTRIALS_GOV: &str = "http://clinicaltrials.gov";

/// Adds the Patient, Observation, Location, ResearchStudy, ResearchSubject and Medications.
pub fn add(cx: &Cx, out: &mut Entries) {
    let p = &cx.s.patient;
    let patient = cx.id(&["patient"]);
    let mut person = json!({
        "resourceType": "Patient",
        "identifier": cx.identifier("patient", &[]),
    });
    // A death the record gives: its date (no time: the record has none).
    if let Some((date, RecordKind::Died)) = cx.s.end {
        person["deceasedDateTime"] = json!(date.to_string());
    }
    out.push(&patient, person);
    let roster = weight(&patient, p.start, p.weight_kg, "body weight on the roster");
    out.push(&cx.id(&["weight"]), roster);
    for (k, (date, kg)) in cx.s.weights.iter().enumerate() {
        let id = cx.id(&[
            "weight",
            "recorded",
            &date.to_string(),
            &(k + 1).to_string(),
        ]);
        let text = "body weight recorded (a weight row of the record)";
        out.push(&id, weight(&patient, *date, *kg, text));
    }
    if let Some(site) = &p.site {
        out.push(
            &cx.trial_id(&["site", site]),
            json!({
                "resourceType": "Location",
                "identifier": [{"system": ids::system(&cx.trial.id, "site"), "value": site}],
                "name": site,
            }),
        );
    }
    out.push(&cx.trial_id(&["study"]), study(cx));
    out.push(&cx.id(&["subject"]), subject(cx, &patient));
    for (k, product) in products(cx) {
        out.push(&medication_id(cx, k), medication(cx, product));
    }
}

/// A body weight of the patient's on `date` (LOINC 29463-7, kg): the roster's at the
/// start, or one the record gives.
fn weight(patient: &str, date: NaiveDate, kg: Kg, text: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs",
            "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}],
            "text": text},
        "subject": reference(patient),
        "effectiveDateTime": date.to_string(),
        "valueQuantity": {"value": number(kg.f64()), "unit": "kg", "system": UCUM,
            "code": "kg"},
    })
}

/// The id of the Medication of product `k` (an index into the trial's products).
pub fn medication_id(cx: &Cx, k: usize) -> String {
    cx.trial_id(&["medication", &cx.trial.products[k].id])
}

/// The id of the patient's site's Location, if they have a site.
pub fn location_id(cx: &Cx) -> Option<String> {
    let site = cx.s.patient.site.as_ref()?;
    Some(cx.trial_id(&["site", site]))
}

/// The trial: its registry id, title, condition, arms and (for this patient) site.
fn study(cx: &Cx) -> Value {
    let t = cx.trial;
    let arms: Vec<Value> = t
        .arms
        .iter()
        .map(|a| json!({"name": a.id, "description": a.name}))
        .collect();
    let mut study = json!({
        "resourceType": "ResearchStudy",
        "identifier": [{"system": CLINICALTRIALS_GOV, "value": t.id}],
        "title": t.title,
        "status": "active",
        "condition": [{"text": t.condition}],
        "arm": arms,
    });
    if let Some(url) = &t.registry_url {
        study["relatedArtifact"] = json!([{"type": "documentation", "url": url}]);
    }
    if let Some(site) = location_id(cx) {
        study["site"] = json!([reference(&site)]);
    }
    study
}

/// The patient in the trial: the arm assigned, the start, and the end the record gives.
fn subject(cx: &Cx, patient: &str) -> Value {
    let s = cx.s;
    let (status, end) = match s.end {
        Some((date, RecordKind::Died)) => ("off-study", Some(date)),
        Some((date, _)) => ("withdrawn", Some(date)),
        None => ("on-study", None),
    };
    let mut period = json!({"start": s.patient.start.to_string()});
    if let Some(end) = end {
        period["end"] = json!(end.to_string());
    }
    let mut subject = json!({
        "resourceType": "ResearchSubject",
        "identifier": cx.identifier("subject", &[]),
        "status": status,
        "period": period,
        "study": reference(&cx.trial_id(&["study"])),
        "individual": reference(patient),
        "assignedArm": s.arm.id,
    });
    if let Some((_, RecordKind::Died)) = s.end {
        subject["extension"] = json!([{"url": format!("{}:end", ids::URN),
            "valueString": "died (recorded)"}]);
    }
    subject
}

/// The products the arm's cell infusions give, each once, in the trial's order.
fn products<'t>(cx: &Cx<'_, 't>) -> Vec<(usize, &'t Product)> {
    let used: Vec<usize> =
        cx.s.arm
            .components
            .iter()
            .filter(|c| c.kind == ComponentKind::CellInfusion)
            .map(|c| c.product)
            .collect();
    cx.trial
        .products
        .iter()
        .enumerate()
        .filter(|(k, _)| used.contains(k))
        .collect()
}

/// A cell product: its name, its form, the unit it is counted in and (when known) its
/// concentration.
fn medication(cx: &Cx, p: &Product) -> Value {
    let form = match p.unit {
        Unit::Cells => "cell suspension for infusion, dosed in cells",
        Unit::Ml => "suspension for infusion, dosed in mL",
    };
    let mut m = json!({
        "resourceType": "Medication",
        "identifier": [{"system": ids::system(&cx.trial.id, "product"), "value": p.id}],
        "code": {"text": p.name},
        "status": "active",
        "form": {"text": form},
    });
    if let Some(c) = p.concentration_cells_per_ml {
        m["ingredient"] = json!([{
            "itemCodeableConcept": {"text": p.name},
            "isActive": true,
            "strength": {
                "numerator": super::quantity(c, Unit::Cells),
                "denominator": super::quantity(1.0, Unit::Ml),
            },
        }]);
    }
    let flag = Assumed::when(p.provenance.is_assumed(), Assumed::PRODUCT);
    mark(&mut m, cx.assumed(flag, Item::Product(&p.id), &[]));
    m
}
