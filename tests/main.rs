//! The integration tests: one binary (as xsv and ripgrep do), a module per area. Each module
//! runs the real `dosesim` binary or calls the library, and `common` holds what they share.

mod common;

mod architecture;
mod calendar;
mod calendar_sources;
mod calendars;
mod chart;
mod cohort;
mod coordinator;
mod db_commands;
mod db_faults;
mod db_reads;
mod errors;
mod examples;
mod export_cmd;
mod export_fhir;
mod export_nonmem;
mod export_sdtm;
mod forecast;
mod formats;
mod fuzz;
mod fuzz_sources;
mod limits;
mod out_safety;
mod outputs;
mod placement;
mod postgres_harness;
mod prep;
mod print;
mod properties;
mod record;
mod record_rules;
mod report;
mod run;
mod warnings;
mod web_auth;
mod web_browser;
mod web_day;
mod web_feeds;
mod web_patients;
