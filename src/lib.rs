//! dosesim: dosing schedules for UC-MSC cell-therapy trials.
//!
//! The pipeline, in the order a newcomer should read it:
//!
//! 1. `scenario`: a TOML file per trial -> a validated [`model::Trial`] (every value with
//!    the registry sentence it came from; every problem reported with file, line, field).
//! 2. `schedule`: (arm, patient weight, start date) -> dated events with doses and running
//!    totals. Pure functions; `timing` holds the study-day and month arithmetic.
//! 3. `roster` and `cohort`: many patients at once, streamed in date order; `sheet`, the
//!    pharmacy's preparation sheet of a cohort for a range of dates.
//! 4. `export`: the events as a table, CSV, JSON or iCalendar (one `Exporter` shape, the
//!    CSV columns named once); `chart` and `report` draw them; `format` prints every number.
//! 5. `bundle`: a cohort's whole set of files and its summary.
//! 6. `forecast`: a plan of enrolment, allocation, weights and deaths, simulated many
//!    times through the same schedule core: the cells a trial needs each week.
//! 7. `write`: the one place that writes files (atomically).
//!
//! The binary (`src/main.rs` with its `cli` and `cmd` modules) wires these to the command
//! line; this library is what the tests, the benchmarks and other programs use.
//! ARCHITECTURE.md has the map: each module's layer, and what each layer may import.

pub mod adherence;
pub mod bundle;
pub mod chart;
pub(crate) mod checker;
pub mod cohort;
pub mod csv_in;
pub mod db;
pub mod describe;
pub mod digest;
pub mod error;
pub mod exchange;
pub mod export;
pub mod forecast;
pub mod format;
pub mod holidays;
pub mod inputs;
pub mod layout;
pub mod limits;
pub mod manifest;
pub mod model;
pub mod moves;
pub mod record;
pub mod recorded;
pub mod report;
pub mod roster;
pub mod scenario;
pub mod schedule;
pub mod sheet;
pub mod site;
pub mod timing;
pub mod web;
pub mod write;

pub use error::{InputError, Problem};
