//! The trial design datasets, from the scenario: TE (elements), TA (arms), TV (planned
//! visits) and TS (trial summary).

use super::dataset::{Column, Dataset, Value, int, key, text};
use super::{CT_VERSION, Row, VisitPlan, When, armcd, code, frequency, route, t};
use crate::exchange::Export;
use crate::model::{ComponentKind, Trial, Unit};

const TE: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(text("ETCD", "Element Code"), 2),
    text("ELEMENT", "Description of Element"),
    text("TESTRL", "Rule for Start of Element"),
    text("TEENRL", "Rule for End of Element"),
];

const TA: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(text("ARMCD", "Planned Arm Code"), 2),
    text("ARM", "Description of Planned Arm"),
    key(int("TAETORD", "Planned Order of Element within Arm"), 3),
    text("ETCD", "Element Code"),
    text("ELEMENT", "Description of Element"),
    text("TABRANCH", "Branch"),
    text("TATRANS", "Transition Rule"),
    text("EPOCH", "Epoch"),
];

const TV: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(int("VISITNUM", "Visit Number"), 2),
    text("VISIT", "Visit Name"),
    int("VISITDY", "Planned Study Day of Visit"),
    key(text("ARMCD", "Planned Arm Code"), 3),
    text("ARM", "Description of Planned Arm"),
    text("TVSTRL", "Visit Start Rule"),
    text("TVENRL", "Visit End Rule"),
];

const TS: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(int("TSSEQ", "Sequence Number"), 3),
    key(text("TSPARMCD", "Trial Summary Parameter Short Name"), 2),
    text("TSPARM", "Trial Summary Parameter"),
    text("TSVAL", "Parameter Value"),
    text("TSVALNF", "Parameter Value Null Flavor"),
    text("TSVALCD", "Parameter Value Code"),
    text("TSVCDREF", "Name of the Reference Terminology"),
    text("TSVCDVER", "Version of the Reference Terminology"),
];

/// TE, TA, TV and TS.
pub fn datasets(export: &Export, plan: &VisitPlan) -> anyhow::Result<Vec<Dataset>> {
    let trial = export.trial;
    Ok(vec![
        elements(trial),
        arms(trial),
        visits(trial, plan),
        summary(export)?,
    ])
}

/// An arm's treatment element code: "TRT1", "TRT2", ... in trial order.
pub fn treatment_etcd(arm: usize) -> String {
    format!("TRT{}", arm + 1)
}

/// The follow-up element, after the last dose of an arm that has doses.
pub const FOLLOW_UP: &str = "FU";

fn has_follow_up(trial: &Trial) -> bool {
    trial.arms.iter().any(|a| !a.components.is_empty())
}

fn elements(trial: &Trial) -> Dataset {
    let mut d = Dataset::new("TE", "Trial Elements", TE);
    for (i, arm) in trial.arms.iter().enumerate() {
        let names: Vec<&str> = arm.components.iter().map(|c| c.name.as_str()).collect();
        let (start, end) = if names.is_empty() {
            (
                "Study day 1 (the patient's start date)".to_string(),
                "The end of the patient's participation".to_string(),
            )
        } else {
            (
                format!(
                    "Study day 1 (the patient's start date): {}",
                    names.join(", ")
                ),
                "The day of the last planned dose of the arm".to_string(),
            )
        };
        d.push(vec![
            t(&trial.id),
            t("TE"),
            t(treatment_etcd(i)),
            t(&arm.name),
            t(start),
            t(end),
        ]);
    }
    if has_follow_up(trial) {
        d.push(vec![
            t(&trial.id),
            t("TE"),
            t(FOLLOW_UP),
            t("Follow-up"),
            t("The day after the last planned dose of the arm"),
            t("The end of the patient's participation"),
        ]);
    }
    d
}

fn arms(trial: &Trial) -> Dataset {
    let mut d = Dataset::new("TA", "Trial Arms", TA);
    for (i, arm) in trial.arms.iter().enumerate() {
        let row = |order: i64, etcd: String, element: &str, epoch: &str| -> Row {
            vec![
                t(&trial.id),
                t("TA"),
                t(armcd(arm)),
                t(&arm.name),
                Value::Int(order),
                t(etcd),
                t(element),
                Value::Null,
                Value::Null,
                t(epoch),
            ]
        };
        let first = row(1, treatment_etcd(i), &arm.name, "TREATMENT");
        let fu = (!arm.components.is_empty())
            .then(|| row(2, FOLLOW_UP.to_string(), "Follow-up", "FOLLOW-UP"));
        d.push(first);
        if let Some(fu) = fu {
            d.push(fu);
        }
    }
    d
}

fn visits(trial: &Trial, plan: &VisitPlan) -> Dataset {
    let mut d = Dataset::new("TV", "Trial Visits", TV);
    for v in &plan.visits {
        let (day, rule) = match v.when {
            When::Day(day) => (
                Value::Int(i64::from(day)),
                format!("Study day {day} (day 1 = the patient's start date)"),
            ),
            When::Months { base, months } => (
                Value::Null,
                format!(
                    "{months} calendar months after study day {base} (clamped to the month's end)"
                ),
            ),
        };
        for &a in &v.arms {
            let arm = &trial.arms[a];
            d.push(vec![
                t(&trial.id),
                t("TV"),
                Value::Int(i64::from(v.num)),
                t(&v.name),
                day.clone(),
                t(armcd(arm)),
                t(&arm.name),
                t(rule.clone()),
                Value::Null,
            ]);
        }
    }
    d
}

/// One TS parameter value: its code and name, the value, and where the value is a coded
/// term, its code, terminology and version.
struct Param {
    code: &'static str,
    name: &'static str,
    value: String,
    term: Option<String>,
    reference: &'static str,
}

impl Param {
    fn plain(code: &'static str, name: &'static str, value: impl Into<String>) -> Param {
        Param {
            code,
            name,
            value: value.into(),
            term: None,
            reference: "",
        }
    }

    /// A value from a CDISC codelist (with its code when the shipped package has it).
    fn coded(codelist: &str, value: &str) -> Param {
        let (cd, name) = match codelist {
            "ROUTE" => ("ROUTE", "Route of Administration"),
            "UNIT" => ("DOSU", "Dose Units"),
            _ => ("DOSFRQ", "Dosing Frequency"),
        };
        let term = code(codelist, value).map(String::from);
        Param {
            reference: if term.is_some() { "CDISC CT" } else { "" },
            term,
            ..Param::plain(cd, name, value)
        }
    }
}

fn summary(export: &Export) -> anyhow::Result<Dataset> {
    let trial = export.trial;
    let mut params = vec![
        Param::plain("TITLE", "Trial Title", &trial.title),
        Param {
            term: Some(trial.id.clone()),
            reference: "ClinicalTrials.gov",
            ..Param::plain("REGID", "Registry Identifier", &trial.id)
        },
        Param::plain(
            "INDIC",
            "Trial Disease/Condition Indication",
            &trial.condition,
        ),
        Param::plain(
            "NARMS",
            "Planned Number of Arms",
            trial.arms.len().to_string(),
        ),
        Param::plain(
            "PLANSUB",
            "Planned Number of Subjects",
            export.subjects.len().to_string(),
        ),
    ];
    if let Some(start) = export.subjects.iter().map(|s| s.patient.start).min() {
        params.push(Param::plain(
            "SSTDTC",
            "Study Start Date",
            start.to_string(),
        ));
    }
    params.extend(regimen(trial)?);
    Ok(ts_rows(trial, params))
}

/// The cell products, routes, dose units and frequencies of the trial's infusions, each
/// once, grouped by parameter.
fn regimen(trial: &Trial) -> anyhow::Result<Vec<Param>> {
    let mut seen: Vec<(&str, String)> = Vec::new();
    let mut add = |list: &'static str, v: &str| {
        if !seen.iter().any(|(l, x)| *l == list && x == v) {
            seen.push((list, v.to_string()));
        }
    };
    for arm in &trial.arms {
        let infusions = arm
            .components
            .iter()
            .filter(|c| c.kind == ComponentKind::CellInfusion);
        for c in infusions {
            let product = &trial.products[c.product];
            add("TRT", &product.name);
            if let Some(r) = &c.route {
                add("ROUTE", route(&r.value)?);
            }
            if product.unit == Unit::Cells {
                add("UNIT", "Therapeutic Cells");
            }
            add("FREQ", frequency(&c.timing.rule));
        }
    }
    let mut out = Vec::new();
    for list in ["TRT", "ROUTE", "UNIT", "FREQ"] {
        for (_, v) in seen.iter().filter(|(l, _)| *l == list) {
            out.push(if list == "TRT" {
                Param::plain("TRT", "Investigational Therapy or Treatment", v)
            } else {
                Param::coded(list, v)
            });
        }
    }
    Ok(out)
}

fn ts_rows(trial: &Trial, params: Vec<Param>) -> Dataset {
    let mut d = Dataset::new("TS", "Trial Summary", TS);
    let mut seq: Vec<(&str, i64)> = Vec::new();
    for p in params {
        let cd = p.code;
        let n = match seq.iter_mut().find(|(c, _)| *c == cd) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seq.push((cd, 1));
                1
            }
        };
        d.push(vec![
            t(&trial.id),
            t("TS"),
            Value::Int(n),
            t(cd),
            t(p.name),
            t(p.value),
            Value::Null,
            t(p.term.unwrap_or_default()),
            t(p.reference),
            t(if p.reference == "CDISC CT" {
                CT_VERSION
            } else {
                ""
            }),
        ]);
    }
    d
}
