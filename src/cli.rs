//! The command line: one struct per subcommand, with examples in the help.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "dosesim",
    version,
    about = "Dosing schedules for UC-MSC cell-therapy trials in liver failure and cirrhosis",
    long_about = "Dosing schedules for UC-MSC cell-therapy trials in liver failure and cirrhosis.\n\n\
        Each trial's regimen is a scenario file (scenarios/*.toml) whose every value quotes the \
        registry record it comes from. dosesim expands an arm, per patient weight and start date, \
        into dated calendars of infusions, plasma exchanges and visits, pharmacy schedules, \
        calendar files, charts and reports.\n\n\
        Exit status: 0 success, 2 bad input or usage, 1 any other failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Warnings and assumed values on stderr as counts only (how many, and where to read
    /// them)
    #[arg(long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Every warning in full on stderr: each assumed value with its reason, every event
    /// left on a closed day, every roster and record warning
    #[arg(long, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// One patient's calendar: dated infusions, exchanges and visits with doses and totals
    #[command(
        after_help = "Examples:\n  dosesim calendar scenarios/nct04822922.toml --arm high --weight 62.5 \\\n      --start 2026-12-30\n  dosesim calendar NCT04822922 --roster scenarios/rosters/NCT04822922.csv \\\n      --patient P2922-004 --out P2922-004.ics --remind-days 2\n  dosesim calendar NCT04822922 --roster scenarios/rosters/NCT04822922.csv \\\n      --patient P2922-004 --out P2922-004.ics --for patient --remind-at 08:00"
    )]
    Calendar(CalendarArgs),
    /// Check scenario files and report every problem found
    #[command(
        after_help = "Example:\n  dosesim validate                  # every file in scenarios/\n  dosesim validate scenarios/nct01724398.toml"
    )]
    Validate(ValidateArgs),
    /// Site calendars (scenarios/calendars/): check them
    #[command(subcommand)]
    Calendars(CalendarsCommand),
    /// Each arm of a scenario: components, doses, counts, totals and assumed values
    #[command(after_help = "Example:\n  dosesim show scenarios/nct01724398.toml")]
    Show(ShowArgs),
    /// A roster of patients: pharmacy and preparation CSVs, per-patient calendars and .ics files
    #[command(
        after_help = "Example:\n  dosesim cohort scenarios/nct04822922.toml --roster scenarios/rosters/NCT04822922.csv --out output"
    )]
    Cohort(CohortArgs),
    /// The pharmacy schedule of a roster alone, in date order, to stdout or a file
    #[command(
        after_help = "Example:\n  dosesim pharmacy scenarios/nct04822922.toml --roster roster.csv > pharmacy.csv"
    )]
    Pharmacy(PharmacyArgs),
    /// The preparation sheet: per date and site, each dose to prepare, its volume, the totals
    #[command(
        after_help = "Examples:\n  dosesim prep NCT04822922 --roster scenarios/rosters/NCT04822922.csv \\\n      --week 2026-W40\n  dosesim prep NCT01724398 --roster scenarios/rosters/NCT01724398.csv \\\n      --log scenarios/logs/NCT01724398.csv --date 2026-11-23 --site GZ-SYSU3 \\\n      --out monday.html\n  dosesim prep NCT04822922 --roster r.csv --from 2027-01-04 --to 2027-01-08 \\\n      --concentration uc_msc=2.5e6\n  dosesim prep NCT04822922 NCT01724398 --site GZ-SYSU3 --week 2026-W37\n  dosesim prep --site GZ-SYSU --date 2026-09-30\n\nSCENARIO is a scenario file or the trial id of one in scenarios/. With no\ndate option the sheet covers every scheduled date. Several trials, or none,\nmake one sheet for the --site across them, each with its roster and record\nin rosters/ and logs/ beside its scenario."
    )]
    Prep(PrepArgs),
    /// The main job: every bundled scenario with its demo roster, writing output/
    #[command(
        after_help = "Example:\n  dosesim run                 # all of scenarios/, into output/\n  dosesim run scenarios/nct04822922.toml --out /tmp/out"
    )]
    Run(RunArgs),
    /// Cumulative dose chart of one patient for chosen arms, as PNG or SVG
    #[command(
        after_help = "Example:\n  dosesim chart scenarios/nct04822922.toml --weight 62.5 --out high.svg"
    )]
    Chart(ChartArgs),
    /// Every arm of every trial on one chart, in cells/kg over study days
    #[command(after_help = "Example:\n  dosesim compare --log --out compare.svg")]
    Compare(CompareArgs),
    /// Regenerate the committed examples (compare chart, one arm chart, one report)
    #[command(after_help = "Example:\n  dosesim examples            # rewrites output/examples/")]
    Examples(ExamplesArgs),
    /// Simulated demand (cells, mL) per week, month and site, with the lots to release,
    /// for manufacturing (Monte Carlo)
    #[command(
        after_help = "Examples:\n  dosesim forecast scenarios/nct02812121.toml \\\n      --plan scenarios/plans/nct02812121.toml\n  dosesim forecast scenarios/nct02812121.toml --replicates 50000 --seed 7 \\\n      --out /tmp/fc\n  dosesim forecast scenarios/nct01724398.toml \\\n      --roster scenarios/rosters/NCT01724398.csv \\\n      --log scenarios/logs/NCT01724398.csv --as-of 2026-11-20\n\nWrites DIR/<trial id>/forecast/: weekly.csv, monthly.csv, summary.csv, lots.csv,\nfan-<product>.svg/.png, forecast.html. With --log the forecast starts at the\nas-of date's week. The same seed and replicates give the same bytes at any\n--threads."
    )]
    Forecast(ForecastArgs),
    /// One trial's arms as lanes over study days
    #[command(
        after_help = "Example:\n  dosesim timeline scenarios/nct01724398.toml --out timeline.svg"
    )]
    Timeline(TimelineArgs),
    /// The administration record kept in the database: import, add, correct, void, list,
    /// history, export, verify, backup
    #[command(
        subcommand,
        after_help = "Examples:\n  dosesim record import NCT01724398 scenarios/logs/NCT01724398.csv\n  dosesim record add NCT01724398 --patient P4398-022 --date 2026-11-26 \\\n      --record given --component uc_msc --occurrence 4\n  dosesim record correct 137 --date 2026-11-19 --reason \"given the day before\"\n  dosesim record void 138 --reason \"entered for the wrong patient\"\n  dosesim record history P4398-002\n  dosesim record verify\n  dosesim record backup dosesim-2026-11-20.db\n\nThe database is --db (a file, or a postgres:// URL), else DOSESIM_DB, else\ndosesim.db in this folder."
    )]
    Record(RecordCommand),
    /// The web application for the pharmacy and the coordinators, on the database
    #[command(
        after_help = "Examples:\n  dosesim user add admin --role admin\n  dosesim serve                              # http://127.0.0.1:8080\n  dosesim serve --db /srv/dosesim/site.db --listen 0.0.0.0:8080\n\nThe database is --db (a file, or a postgres:// URL), else DOSESIM_DB, else\ndosesim.db in this folder; the same one the record and roster commands use."
    )]
    Serve(ServeArgs),
    /// The users of dosesim serve: add one, list them
    #[command(
        subcommand,
        after_help = "Examples:\n  dosesim user add liwei --role pharmacist --full-name \"Li Wei\"\n  dosesim user add chenjing --role coordinator --password-file pw.txt\n  dosesim user list"
    )]
    User(UserCommand),
    /// The schedule and the record for other tools: a NONMEM/nlmixr2 event table, CDISC SDTM
    /// datasets (Dataset-JSON and CSV), FHIR R4 Bundles
    #[command(
        after_help = "Examples:\n  dosesim export nonmem NCT01724398 --roster scenarios/rosters/NCT01724398.csv \\\n      --log scenarios/logs/NCT01724398.csv\n  dosesim export sdtm NCT04822922 --roster scenarios/rosters/NCT04822922.csv --out /tmp/x\n  dosesim export fhir NCT01724398 --db site.db\n  dosesim export nonmem NCT04822922 --roster r.csv --expanded\n\nWrites DIR/<trial id>/<format>/ (nonmem/, sdtm/ or fhir/) with its manifest.json;\ndosesim's README (\"Exports for other tools\") says what each file holds and which\nvalidator checks it."
    )]
    Export(ExchangeArgs),
    /// The roster kept in the database: import a roster file, export it
    #[command(
        subcommand,
        after_help = "Example:\n  dosesim roster import NCT01724398 scenarios/rosters/NCT01724398.csv"
    )]
    Roster(RosterCommand),
}

pub use dosesim::export::Format;

#[derive(clap::Args, Debug)]
pub struct CalendarArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Arm id, as listed by `dosesim show`
    #[arg(long, required_unless_present_any = ["roster", "db"])]
    pub arm: Option<String>,
    /// Dosing body weight in kg
    #[arg(long, value_name = "KG", allow_negative_numbers = true, value_parser = parse_kg, required_unless_present_any = ["roster", "db"])]
    pub weight: Option<dosesim::model::Kg>,
    /// Study day 1, as YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, required_unless_present_any = ["roster", "db"])]
    pub start: Option<NaiveDate>,
    /// Take --patient's arm, weight, start date and site from this roster (the CSV that
    /// `cohort` reads) instead of typing them
    #[arg(long, value_name = "CSV", requires = "patient", conflicts_with_all = ["arm", "weight", "start", "site"])]
    pub roster: Option<PathBuf>,
    /// Patient id shown in the outputs (letters, digits, '.', '_', '-'); default
    /// `patient`, except for ics, whose event ids are built from it
    #[arg(long)]
    pub patient: Option<String>,
    /// Output format; default from the --out extension (.csv, .json, .ics, .txt, .md), else table
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to this file (atomically) instead of stdout; its folder must exist
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Schedule on this site's calendar (SITE.toml in --calendars): events on closed days
    /// move by the scenario's rules, or are flagged
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Folder of site calendars (SITE.toml)
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
    /// What was actually given to this patient: the rows of --patient in an
    /// administration record (patient_id,date,record,component,occurrence,amount,note)
    #[arg(long, value_name = "CSV", requires = "patient")]
    pub log: Option<PathBuf>,
    /// The day the record is complete to (default: its latest date)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, requires = "log")]
    pub as_of: Option<NaiveDate>,
    #[command(flatten)]
    pub remind: RemindArgs,
    /// Whom an .ics calendar is for: staff (every figure: doses, the record, assumptions),
    /// or patient (a patient's own phone: plain titles such as "Stem cell infusion 1 of 4",
    /// no cell counts, arm or assumption text)
    #[arg(long = "for", value_enum, value_name = "WHOM", default_value_t = Audience::Staff)]
    pub audience: Audience,
    /// Take --patient's arm, weight, start date, site and record from this database's
    /// roster and record (a SQLite file, or a postgres:// URL)
    #[arg(long, value_name = "PATH|URL", requires = "patient", conflicts_with_all = ["arm", "weight", "start", "site", "roster", "log"])]
    pub db: Option<String>,
}

pub use dosesim::export::ics::Audience;

/// Reminders (VALARM) in calendar files: none unless asked for.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemindArgs {
    /// In the .ics files, a reminder (VALARM) N days before each dose and visit still to
    /// come (the lab's lead time to thaw or order, the patient's to get there), at
    /// --remind-at; default 1 when only --remind-at is given; no reminders without either
    #[arg(long, visible_alias = "remind-days-before", value_name = "N", allow_negative_numbers = true, value_parser = parse_remind_days)]
    pub remind_days: Option<u32>,
    /// The time of day the reminders come, HH:MM on the 24-hour clock, local to whoever's
    /// calendar shows them; default 08:00; alone, it asks for reminders the day before
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_of_day)]
    pub remind_at: Option<chrono::NaiveTime>,
}

impl RemindArgs {
    /// The reminders asked for, if any.
    pub fn asked(&self) -> Option<dosesim::export::ics::Remind> {
        dosesim::export::ics::Remind::asked(self.remind_days, self.remind_at)
    }
}

#[derive(Subcommand, Debug)]
pub enum CalendarsCommand {
    /// Check every site calendar in a folder (default scenarios/calendars/) and its holiday files
    #[command(
        after_help = "Example:\n  dosesim calendars check\n  dosesim calendars check my-sites/"
    )]
    Check {
        /// Folder of site calendars (SITE.toml); default scenarios/calendars/
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Scenario files, trial ids or folders of scenarios; default every *.toml in
    /// scenarios/
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
}

/// The database a command reads its trials' rosters and records from (see README.md, "The
/// record's database").
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DbArg {
    /// Read the roster and the administration record from this database (a SQLite file,
    /// or a postgres:// URL) instead of CSV files; default: the DOSESIM_DB environment
    /// variable, when it is set and no --roster or --log is given
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
}

/// The administration record: what was actually given (see README.md, "The
/// administration record").
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RecordArgs {
    /// What was actually given, missed or changed: a CSV with
    /// patient_id,date,record,component,occurrence,amount,note
    #[arg(long, value_name = "CSV")]
    pub log: Option<PathBuf>,
    /// The day the record is complete to (default: its latest date); events after it are
    /// re-projected from it
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, requires = "log")]
    pub as_of: Option<NaiveDate>,
}

#[derive(clap::Args, Debug)]
pub struct CohortArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// CSV with patient_id,arm,weight_kg,start_date (more columns allowed); not with
    /// --db, which holds the roster
    #[arg(long, value_name = "CSV")]
    pub roster: Option<PathBuf>,
    /// Output folder; the trial's files go to DIR/<trial id>/
    // The line above is the --help text too, so it stays plain rather than in backticks.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "DIR", default_value = "output")]
    pub out: PathBuf,
    /// Replace a trial folder made from other inputs (another roster, say), or one whose
    /// administration record this run would roll back (rows missing, no record, an earlier
    /// as-of)
    #[arg(long)]
    pub force: bool,
    /// Folder of site calendars (SITE.toml) for the roster's optional `site` column
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub db: DbArg,
    #[command(flatten)]
    pub remind: RemindArgs,
}

#[derive(clap::Args, Debug)]
pub struct PharmacyArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// CSV with patient_id,arm,weight_kg,start_date (more columns allowed); not with
    /// --db, which holds the roster
    #[arg(long, value_name = "CSV")]
    pub roster: Option<PathBuf>,
    /// Write to this file (atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The first date to list (default: the first scheduled)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// The last date to list, included (default: the last scheduled)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// Folder of site calendars (SITE.toml) for the roster's optional `site` column
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub db: DbArg,
}

/// How a preparation sheet is written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    /// A terminal table per date, site and product
    Table,
    /// One row per dose, then one per product and day (`line` = dose or day_total)
    Csv,
    /// A printable page per date and site, with lot, concentration and signature lines
    Html,
}

impl SheetFormat {
    /// The extensions `--out` may end in, and the format each names.
    pub const EXTENSIONS: [(&'static str, SheetFormat); 5] = [
        ("txt", SheetFormat::Table),
        ("md", SheetFormat::Table),
        ("csv", SheetFormat::Csv),
        ("html", SheetFormat::Html),
        ("htm", SheetFormat::Html),
    ];
}

#[derive(clap::Args, Debug)]
pub struct PrepArgs {
    /// A scenario file or a trial id (NCT04822922) of a scenario in scenarios/. Several,
    /// or none (every scenario in scenarios/), with --site: one sheet for the site across
    /// the trials, each with its roster and record in rosters/ and logs/ beside it
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// CSV with patient_id,arm,weight_kg,start_date and optional site (one trial only;
    /// required then)
    #[arg(long, value_name = "CSV")]
    pub roster: Option<PathBuf>,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub db: DbArg,
    /// One date
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, conflicts_with_all = ["from", "to", "week"])]
    pub date: Option<NaiveDate>,
    /// The first date (default: the first scheduled)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, conflicts_with = "week")]
    pub from: Option<NaiveDate>,
    /// The last date, included (default: the last scheduled)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date, conflicts_with = "week")]
    pub to: Option<NaiveDate>,
    /// An ISO week, Monday to Sunday: 2027-W03
    #[arg(long, value_name = "YYYY-Www", value_parser = parse_week)]
    pub week: Option<NaiveDate>,
    /// Only this site's patients (the roster's `site` column)
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Output format; default from the --out extension (.txt, .csv, .html), else table
    #[arg(long, value_enum)]
    pub format: Option<SheetFormat>,
    /// Write to this file (atomically) instead of stdout; its folder must exist
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The concentration of the lot on hand, for the volumes to draw (repeat per product);
    /// it overrides the scenario's
    #[arg(long = "concentration", value_name = "PRODUCT=CELLS_PER_ML")]
    pub concentrations: Vec<String>,
    /// Folder of site calendars (SITE.toml) for the roster's optional `site` column
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario files, trial ids or folders of scenarios; default every *.toml in
    /// scenarios/, each with its demo roster
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    #[arg(long, value_name = "DIR", default_value = "output")]
    pub out: PathBuf,
    /// Replace trial folders made from other inputs (another roster, say), or whose
    /// administration record this run would roll back (rows missing, no record, an earlier
    /// as-of)
    #[arg(long)]
    pub force: bool,
    /// Folder of site calendars (SITE.toml) for the roster's optional `site` column
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
    #[command(flatten)]
    pub remind: RemindArgs,
    /// Each trial whose roster is in this database is made from its roster and record
    /// there; the others from their CSV files
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(clap::Args, Debug)]
pub struct ForecastArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// The forecast plan (enrolment, allocation, weights, mortality, product); default
    /// plans/<trial id>.toml beside the scenario (scenarios/plans/)
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "PLAN.toml")]
    pub plan: Option<PathBuf>,
    /// How many times the trial is simulated
    #[arg(long, value_name = "N", default_value_t = dosesim::forecast::DEFAULT_REPLICATES, allow_negative_numbers = true, value_parser = parse_replicates)]
    pub replicates: u64,
    /// The random seed: the same seed gives the same outputs
    #[arg(long, value_name = "S", default_value_t = 1, allow_negative_numbers = true, value_parser = parse_seed)]
    pub seed: u64,
    /// Output folder; the forecast goes to DIR/<trial id>/forecast/
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "DIR", default_value = "output")]
    pub out: PathBuf,
    /// Threads to run replicates on (default: every core); the outputs do not depend on it
    #[arg(long, value_name = "T", allow_negative_numbers = true, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Patients already enrolled (patient_id,arm,weight_kg,start_date and optional site): in every
    /// replicate as they are, the plan's enrolment adding the rest up to its target; their
    /// planned demand is drawn on the fan chart
    #[arg(long, value_name = "CSV")]
    pub roster: Option<PathBuf>,
    /// Folder of site calendars (SITE.toml) for the plan's sites and the roster's
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
    /// With --roster: what the record shows (doses given, deaths, withdrawals) is a fact
    /// in every replicate, and the forecast starts at the as-of date's week
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub db: DbArg,
    /// Replace a forecast folder made from other inputs (another plan, say)
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExchangeArgs {
    /// The format: nonmem, sdtm or fhir
    #[arg(value_name = "FORMAT")]
    pub format: dosesim::exchange::Format,
    /// A scenario file, or the trial id of one in scenarios/ (NCT01724398)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// CSV with patient_id,arm,weight_kg,start_date (more columns allowed); not with
    /// --db, which holds the roster
    #[arg(long, value_name = "CSV")]
    pub roster: Option<PathBuf>,
    /// What was actually given, missed or changed (doses given replace the planned ones)
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub db: DbArg,
    /// Folder of site calendars (SITE.toml) for the roster's sites
    #[arg(long, value_name = "DIR", default_value = "scenarios/calendars")]
    pub calendars: PathBuf,
    /// Output folder; the export goes to DIR/<trial id>/<format>/
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "DIR", default_value = "output")]
    pub out: PathBuf,
    /// nonmem: every dose on a row of its own, without ADDL and II
    #[arg(long)]
    pub expanded: bool,
    /// Replace an export folder made from other inputs (another roster, say)
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ChartArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Arm to draw (repeat for several); default all arms
    #[arg(long = "arm", value_name = "ARM")]
    pub arms: Vec<String>,
    /// Body weight in kg for per-kg doses
    #[arg(long, value_name = "KG", default_value_t = 60.0, allow_negative_numbers = true, value_parser = parse_weight)]
    pub weight: f64,
    /// Study day 1; with it the x axis shows dates
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub start: Option<NaiveDate>,
    /// Plot cells/kg instead of cells
    #[arg(long)]
    pub per_kg: bool,
    /// Output file, .png or .svg
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Scenario files, trial ids or folders of scenarios; default every *.toml in
    /// scenarios/
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// Reference weight (kg) at which fixed doses are converted to cells/kg
    #[arg(long, value_name = "KG", default_value_t = 60.0, allow_negative_numbers = true, value_parser = parse_weight)]
    pub reference_weight: f64,
    /// Logarithmic y axis
    #[arg(long)]
    pub log: bool,
    /// Output file, .png or .svg
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT04822922)
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,
    /// Body weight in kg used to size the markers
    #[arg(long, value_name = "KG", default_value_t = 60.0, allow_negative_numbers = true, value_parser = parse_weight)]
    pub weight: f64,
    /// Output file, .png or .svg
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ExamplesArgs {
    #[arg(long, value_name = "DIR", default_value = "output/examples")]
    pub out: PathBuf,
}

/// Where the database is: `--db`, else `DOSESIM_DB`, else `dosesim.db` here.
#[derive(clap::Args, Debug, Clone)]
pub struct DbAt {
    /// The database: a SQLite file, or a postgres://... URL of a shared server (default:
    /// DOSESIM_DB, else dosesim.db in this folder)
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
}

/// Who is entering (kept with every entry written).
#[derive(clap::Args, Debug, Clone)]
pub struct EnteredBy {
    /// Who is entering, kept with every entry (default: your login name)
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where to listen: an address and port (127.0.0.1:8080, this computer only;
    /// 0.0.0.0:8080, every network the computer is on)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The folder of scenario files, with its site calendars in calendars/
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Minutes a signed-in user may leave the application idle before signing in again
    #[arg(long, value_name = "MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub idle_minutes: u64,
    /// The users reach this server through an HTTPS proxy (the hospital's): its cookies
    /// are then sent over HTTPS only
    #[arg(long)]
    pub https: bool,
    #[command(flatten)]
    pub db: DbAt,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user, with the role that says what they may record
    Add(UserAddArgs),
    /// The users and their roles
    List(UserListArgs),
    /// Give a user a new password or role (a correction of their entry, with the reason)
    Change(UserChangeArgs),
    /// Disable a user who may no longer sign in (their entry voided, with the reason)
    Disable(UserDisableArgs),
}

#[derive(clap::Args, Debug)]
pub struct UserChangeArgs {
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The new role
    #[arg(long, value_name = "ROLE", value_parser = ["admin", "pharmacist", "coordinator", "viewer"])]
    pub role: Option<String>,
    /// Set a new password: typed at the terminal, or read from --password-file
    #[arg(long)]
    pub password: bool,
    /// Read the new password from this file's first line
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Why (kept with the change)
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

#[derive(clap::Args, Debug)]
pub struct UserDisableArgs {
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Why (kept with the change)
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

#[derive(clap::Args, Debug)]
pub struct UserAddArgs {
    /// The name the user signs in with (letters, digits, '.', '_', '-')
    #[arg(value_name = "NAME")]
    pub name: String,
    /// admin (everything), pharmacist (preparation, check, administration), coordinator
    /// (patients, visits, weights, withdrawals, deaths) or viewer (reads)
    #[arg(long, value_name = "ROLE", value_parser = ["admin", "pharmacist", "coordinator", "viewer"])]
    pub role: String,
    /// The person's full name, shown beside the user name
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub full_name: String,
    /// Read the password from this file's first line (for scripts) instead of asking
    /// for it at the terminal
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

#[derive(clap::Args, Debug)]
pub struct UserListArgs {
    #[command(flatten)]
    pub db: DbAt,
}

#[derive(Subcommand, Debug)]
pub enum RosterCommand {
    /// Put a roster file's patients in the database (all or nothing; patients already
    /// there are not added again)
    Import(ImportArgs),
    /// The roster in the database, as a roster CSV
    Export(ExportArgs),
}

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Put an administration record file's rows in the database (all or nothing; rows
    /// already there are not added again)
    Import(ImportArgs),
    /// Record one dose given, one missed, a weight, a withdrawal or a death
    Add(AddArgs),
    /// Correct an entry: a new entry takes its place, with the reason
    Correct(CorrectArgs),
    /// Void an entry: a new entry takes it out of the record, with the reason
    Void(VoidArgs),
    /// The record in effect, each row with its entry number, who entered it and when
    List(ListArgs),
    /// Every entry about a patient, corrections and voids included: the audit trail
    History(HistoryArgs),
    /// The record in effect as an administration record CSV (what import takes)
    Export(ExportArgs),
    /// Check the chain of entries: none changed, removed or added behind dosesim's back
    Verify(VerifyArgs),
    /// Copy the database, while others may be using it, to a new SQLite file
    Backup(BackupArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT01724398)
    #[arg(value_name = "TRIAL")]
    pub trial: PathBuf,
    /// The CSV file to import
    #[arg(value_name = "CSV")]
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT01724398)
    #[arg(value_name = "TRIAL")]
    pub trial: PathBuf,
    /// Write to this CSV file (atomically) instead of stdout; its folder must exist
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbAt,
}

/// What a record row says happened.
pub const RECORD_KINDS: [&str; 5] = ["given", "missed", "weight", "withdrawn", "died"];

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// A scenario file, or the trial id of one in scenarios/ (NCT01724398)
    #[arg(value_name = "TRIAL")]
    pub trial: PathBuf,
    /// The patient, as on the roster
    #[arg(long)]
    pub patient: String,
    /// The day it happened (not after today)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: NaiveDate,
    /// What happened
    #[arg(long, value_parser = RECORD_KINDS)]
    pub record: String,
    /// The component (given, missed), as `dosesim show` lists them
    #[arg(long)]
    pub component: Option<String>,
    /// Which dose of the component (1, 2, ...)
    #[arg(long, value_name = "N")]
    pub occurrence: Option<String>,
    /// The amount given when not the planned dose (cells or mL), or the weight in kg
    #[arg(long, value_name = "X")]
    pub amount: Option<String>,
    /// A note kept with the row
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

#[derive(clap::Args, Debug)]
pub struct CorrectArgs {
    /// The entry to correct (its number, as `record list` and `record history` show)
    #[arg(value_name = "ENTRY")]
    pub entry: i64,
    /// Why (required; kept with the correction)
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
    /// A record row's new date
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: Option<NaiveDate>,
    /// A record row's new kind
    #[arg(long, value_parser = RECORD_KINDS)]
    pub record: Option<String>,
    /// A record row's new component
    #[arg(long)]
    pub component: Option<String>,
    /// A record row's new occurrence
    #[arg(long, value_name = "N")]
    pub occurrence: Option<String>,
    /// A record row's new amount (cells or mL; kg for a weight; "" for the planned dose)
    #[arg(long, value_name = "X")]
    pub amount: Option<String>,
    /// A record row's new note
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// A roster patient's new arm
    #[arg(long)]
    pub arm: Option<String>,
    /// A roster patient's new weight in kg
    #[arg(long, value_name = "KG")]
    pub weight_kg: Option<String>,
    /// A roster patient's new start date (study day 1)
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub start_date: Option<NaiveDate>,
    /// A roster patient's new site
    #[arg(long)]
    pub site: Option<String>,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

#[derive(clap::Args, Debug)]
pub struct VoidArgs {
    /// The entry to void (its number, as `record list` and `record history` show)
    #[arg(value_name = "ENTRY")]
    pub entry: i64,
    /// Why (required; kept with the void)
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
    #[command(flatten)]
    pub db: DbAt,
    #[command(flatten)]
    pub by: EnteredBy,
}

/// How `record list` and `record history` print.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// A table to read
    Table,
    /// CSV, every field in its own column
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// A trial (a scenario file, or the trial id of one in scenarios/: NCT01724398), or a
    /// patient as on the roster (P4398-010: their rows in every trial, or in --trial's)
    #[arg(value_name = "TRIAL|PATIENT")]
    pub target: PathBuf,
    /// Only this patient's rows (with a TRIAL)
    #[arg(long)]
    pub patient: Option<String>,
    /// Only this trial's rows (with a PATIENT)
    #[arg(long, value_name = "TRIAL")]
    pub trial: Option<PathBuf>,
    /// Output format (default: table)
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    #[command(flatten)]
    pub db: DbAt,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// The patient, as on the roster
    #[arg(value_name = "PATIENT")]
    pub patient: String,
    /// Only this trial's entries (a scenario file or a trial id)
    #[arg(long, value_name = "TRIAL")]
    pub trial: Option<PathBuf>,
    /// Output format (default: table)
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
    #[command(flatten)]
    pub db: DbAt,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub db: DbAt,
}

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The backup: a new SQLite file (an existing file is never replaced)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbAt,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    dosesim::timing::parse_date(s)
}

/// The Monday of ISO week `YYYY-Www` (2027-W03).
pub(crate) fn parse_week(s: &str) -> Result<NaiveDate, String> {
    let bad = || format!("'{s}' is not an ISO week: write YYYY-Www, as 2027-W03");
    let (y, w) = s.trim().split_once(['-']).ok_or_else(bad)?;
    let w = w.strip_prefix(['W', 'w']).ok_or_else(bad)?;
    if y.len() != 4 || w.is_empty() || w.len() > 2 {
        return Err(bad());
    }
    let (y, w): (i32, u32) = (y.parse().map_err(|_| bad())?, w.parse().map_err(|_| bad())?);
    NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon)
        .ok_or_else(|| format!("'{s}': {y} has no ISO week {w}"))
}

/// A whole number as typed, negatives included (so that `--replicates -1` is refused in
/// words, not taken for a flag).
fn whole(s: &str) -> Result<i128, String> {
    s.trim()
        .parse::<i128>()
        .map_err(|_| format!("'{s}' is not a whole number"))
}

/// How many replicates; the range (1 to the maximum) is checked with the other flags.
fn parse_replicates(s: &str) -> Result<u64, String> {
    let n = whole(s)?;
    u64::try_from(n).map_err(|_| {
        format!(
            "{n} is out of range (1 to {})",
            dosesim::forecast::MAX_REPLICATES
        )
    })
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let n = whole(s)?;
    u64::try_from(n).map_err(|_| {
        format!(
            "{n} is not a seed: give a whole number from 0 to {}",
            u64::MAX
        )
    })
}

/// Threads; the range (1 to 1024) is checked with the other flags.
fn parse_threads(s: &str) -> Result<usize, String> {
    let n = whole(s)?;
    usize::try_from(n).map_err(|_| format!("{n} threads: give 1 to 1024 threads"))
}

/// Days before a dose its reminder comes: 0 (the day itself) to 365.
fn parse_remind_days(s: &str) -> Result<u32, String> {
    let n = whole(s)?;
    u32::try_from(n).ok().filter(|d| *d <= 365).ok_or_else(|| {
        format!("{n} is out of range: a reminder comes 0 (on the day) to 365 days before a dose")
    })
}

/// A time of day as HH:MM on the 24-hour clock: 08:00, 7:30, 18:45.
fn parse_time_of_day(s: &str) -> Result<chrono::NaiveTime, String> {
    let t = s.trim();
    let ok = t.len() <= 5 && t.contains(':');
    ok.then(|| chrono::NaiveTime::parse_from_str(t, "%H:%M").ok())
        .flatten()
        .ok_or_else(|| {
            format!("'{s}' is not a time of day: write it as HH:MM on the 24-hour clock, 00:00 to 23:59 (08:00, 18:30)")
        })
}

fn parse_kg(s: &str) -> Result<dosesim::model::Kg, String> {
    s.parse()
}

fn parse_weight(s: &str) -> Result<f64, String> {
    let w: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of kg"))?;
    if !w.is_finite() {
        return Err(format!("'{s}' is not a number of kg"));
    }
    Ok(w)
}
