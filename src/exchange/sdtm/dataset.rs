//! One SDTM dataset (a domain's columns and rows) and its two writings: Dataset-JSON v1.1
//! (`<domain>.json`) and CSV (`<domain>.csv`, the same columns and values).

use std::fmt::Write as _;

use chrono::NaiveDateTime;

/// A column's physical type in Dataset-JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    Integer,
    /// A number that may have decimals (mL, cells/kg).
    Double,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Text => "string",
            Type::Integer => "integer",
            Type::Double => "double",
        }
    }
}

/// One variable of a domain.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub label: &'static str,
    pub ty: Type,
    /// Its place among the domain's keys (1, 2, ...), if it is one.
    pub key: Option<u8>,
}

/// A text column.
pub const fn text(name: &'static str, label: &'static str) -> Column {
    Column {
        name,
        label,
        ty: Type::Text,
        key: None,
    }
}

/// An integer column.
pub const fn int(name: &'static str, label: &'static str) -> Column {
    Column {
        name,
        label,
        ty: Type::Integer,
        key: None,
    }
}

/// A decimal number column.
pub const fn num(name: &'static str, label: &'static str) -> Column {
    Column {
        name,
        label,
        ty: Type::Double,
        key: None,
    }
}

/// `c` as the `k`-th key of its domain.
pub const fn key(c: Column, k: u8) -> Column {
    Column { key: Some(k), ..c }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Num(f64),
    /// Missing (SDTM's null): in the JSON, `null` in a numeric column (an empty string is no
    /// number: a reader that checks types refuses it) and an empty string in a text one
    /// (SDTM's blank); in the CSV, an empty cell.
    Null,
}

impl Value {
    /// A text, or null when empty.
    pub fn text(s: impl Into<String>) -> Value {
        let s = s.into();
        if s.is_empty() {
            Value::Null
        } else {
            Value::Text(s)
        }
    }

    /// The value as the CSV writes it (and as the JSON's number text, for numbers).
    pub fn plain(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Num(x) => number(*x),
            Value::Null => String::new(),
        }
    }

    /// The value in a JSON row, in a column of type `ty`.
    fn json(&self, ty: Type) -> String {
        match self {
            Value::Text(s) => serde_json::to_string(s).expect("a string serializes"),
            Value::Int(_) | Value::Num(_) => self.plain(),
            Value::Null if ty == Type::Text => "\"\"".to_string(),
            Value::Null => "null".to_string(),
        }
    }
}

/// A finite number in the shortest digits that read back the same: whole numbers without a
/// decimal point (2000, not 2000.0).
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        (x as i64).to_string()
    } else {
        x.to_string()
    }
}

/// A domain (or supplemental qualifier dataset) with its rows.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// "EX", "SUPPEX", ...
    pub name: String,
    pub label: &'static str,
    pub columns: &'static [Column],
    pub rows: Vec<Vec<Value>>,
}

/// What every file of an export says of where it comes from.
pub struct Header<'a> {
    pub study: &'a str,
    pub created: NaiveDateTime,
}

impl Dataset {
    pub fn new(name: &str, label: &'static str, columns: &'static [Column]) -> Dataset {
        Dataset {
            name: name.to_string(),
            label,
            columns,
            rows: Vec::new(),
        }
    }

    /// Appends a row; its values are in the order of the columns.
    pub fn push(&mut self, row: Vec<Value>) {
        assert_eq!(row.len(), self.columns.len(), "a {} row", self.name);
        self.rows.push(row);
    }

    /// The longest text of a text column (at least 1), Dataset-JSON's `length`.
    fn length(&self, i: usize) -> usize {
        self.rows
            .iter()
            .map(|r| r[i].plain().chars().count())
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// The Dataset-JSON v1.1 text: the metadata, a column per line, a row per line.
    pub fn json(&self, h: &Header) -> Vec<u8> {
        let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut o = String::from("{\n");
        let created = h.created.format("%Y-%m-%dT%H:%M:%S").to_string();
        let _ = writeln!(o, "  \"datasetJSONCreationDateTime\": {},", q(&created));
        o.push_str("  \"datasetJSONVersion\": \"1.1.0\",\n");
        let _ = writeln!(
            o,
            "  \"fileOID\": {},",
            q(&format!("{}.SDTM.{}", h.study, self.name))
        );
        o.push_str("  \"originator\": \"dosesim\",\n");
        let _ = writeln!(
            o,
            "  \"sourceSystem\": {{\"name\": \"dosesim\", \"version\": {}}},",
            q(env!("CARGO_PKG_VERSION"))
        );
        let _ = writeln!(o, "  \"studyOID\": {},", q(h.study));
        let _ = writeln!(
            o,
            "  \"itemGroupOID\": {},",
            q(&format!("IG.{}", self.name))
        );
        let _ = writeln!(o, "  \"records\": {},", self.rows.len());
        let _ = writeln!(o, "  \"name\": {},", q(&self.name));
        let _ = writeln!(o, "  \"label\": {},", q(self.label));
        o.push_str("  \"columns\": [\n");
        for (i, c) in self.columns.iter().enumerate() {
            let _ = write!(
                o,
                "    {{\"itemOID\": {}, \"name\": {}, \"label\": {}, \"dataType\": \"{}\"",
                q(&format!("IT.{}.{}", self.name, c.name)),
                q(c.name),
                q(c.label),
                c.ty.as_str()
            );
            if c.ty == Type::Text {
                let _ = write!(o, ", \"length\": {}", self.length(i));
            }
            if let Some(k) = c.key {
                let _ = write!(o, ", \"keySequence\": {k}");
            }
            o.push('}');
            o.push_str(if i + 1 < self.columns.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        o.push_str("  ],\n  \"rows\": [");
        for (i, r) in self.rows.iter().enumerate() {
            o.push_str(if i == 0 { "\n    [" } else { ",\n    [" });
            let vals: Vec<String> = r
                .iter()
                .zip(self.columns)
                .map(|(v, c)| v.json(c.ty))
                .collect();
            o.push_str(&vals.join(", "));
            o.push(']');
        }
        o.push_str(if self.rows.is_empty() {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        });
        o.into_bytes()
    }

    /// The CSV text: a header of the variable names, then the rows.
    pub fn csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.columns.iter().map(|c| c.name))?;
        for r in &self.rows {
            w.write_record(r.iter().map(Value::plain))?;
        }
        Ok(w.into_inner()?)
    }

    /// The index of a column by name.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[Column] = &[
        key(text("A", "A text"), 1),
        int("B", "A count"),
        num("C", "An amount"),
    ];

    fn sample() -> Dataset {
        let mut d = Dataset::new("XX", "Sample", COLS);
        d.push(vec![Value::text("a\"b"), Value::Int(3), Value::Num(2000.0)]);
        d.push(vec![Value::Null, Value::Null, Value::Num(0.5)]);
        d
    }

    #[test]
    fn the_json_parses_and_holds_the_rows_as_arrays() {
        let h = Header {
            study: "NCT1",
            created: chrono::NaiveDate::from_ymd_opt(2026, 11, 20)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
        };
        let v: serde_json::Value = serde_json::from_slice(&sample().json(&h)).unwrap();
        assert_eq!(v["datasetJSONCreationDateTime"], "2026-11-20T00:00:00");
        assert_eq!(v["records"], 2);
        assert_eq!(v["columns"][0]["length"], 3);
        assert_eq!(v["columns"][0]["keySequence"], 1);
        assert_eq!(v["columns"][0]["itemOID"], "IT.XX.A");
        assert_eq!(v["rows"][0], serde_json::json!(["a\"b", 3, 2000]));
        // A missing text is blank, a missing number null.
        assert_eq!(v["rows"][1], serde_json::json!(["", null, 0.5]));
    }

    #[test]
    fn the_csv_has_the_same_values() {
        let csv = String::from_utf8(sample().csv().unwrap()).unwrap();
        assert_eq!(csv, "A,B,C\n\"a\"\"b\",3,2000\n,,0.5\n");
    }
}
