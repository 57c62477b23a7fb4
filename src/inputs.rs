//! One way in: a trial's inputs (its scenario, and as a command asks for them a roster,
//! the roster's site calendars, an administration record and a forecast plan), loaded with
//! every problem of every input reported at once.
//!
//! A command says what it reads with a [`Load`] and gets [`Inputs`] back, or every problem
//! found. An input read against another (a roster against the scenario's arms, a record
//! against the roster's patients, a roster's site calendars against its sites) is read when
//! that one was; the others are read whatever else is wrong, so that a bad roster and a
//! bad plan, or a bad scenario and a roster that cannot be opened, are reported together.
//!
//! `Inputs` rather than `Job`: it is what a command works from, not what it does (a
//! `cohort` and a `forecast` of the same inputs are different jobs).

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::db::{Head, Location};
use crate::error::{InputError, Problem};
use crate::forecast::plan::ForecastPlan;
use crate::model::Trial;
use crate::record::Log;
use crate::roster::Roster;
use crate::site::Sites;

/// A trial's inputs, read and checked.
#[derive(Debug)]
pub struct Inputs {
    pub trial: Trial,
    /// The roster, when one was asked for.
    pub roster: Option<RosterFile>,
    /// The site calendars of the roster's patients, by site id.
    pub sites: Sites,
    /// The administration record, when one was asked for (or, with
    /// [`Load::demo_record`], is there).
    pub log: Option<Log>,
    /// The forecast plan, when one was asked for (or, with [`Load::demo_plan`], is there).
    pub plan: Option<PlanFile>,
    /// The database the roster and record were read from ([`Load::database`]), if they
    /// were.
    pub database: Option<FromDb>,
}

/// The database a trial's roster and record were read from.
#[derive(Debug, Clone)]
pub struct FromDb {
    pub location: Location,
    /// How messages and the manifest name it (a server's password hidden).
    pub label: String,
    /// Its last entry when the books were read: what the outputs are made up to.
    pub head: Head,
}

/// A roster and the file it was read from.
#[derive(Debug)]
pub struct RosterFile {
    /// The file, as named on the command line (or the demo roster's path).
    pub path: PathBuf,
    pub roster: Roster,
}

/// A forecast plan and the site calendars its sites name.
#[derive(Debug)]
pub struct PlanFile {
    pub plan: ForecastPlan,
    /// The calendars the plan's sites name, by calendar id.
    pub sites: Sites,
}

/// Where an input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source<'a> {
    /// Not read.
    Unasked,
    /// This file.
    File(&'a Path),
    /// The demo one beside the scenario (`rosters/`, `logs/`, `plans/`): an error when it
    /// is not there.
    Demo,
    /// The demo one, when it is there.
    DemoIfAny,
}

/// A command's own check of its flags against the trial and the roster (when it could
/// be read).
pub type Check<'a> = &'a dyn Fn(&Trial, Option<&Roster>) -> Vec<Problem>;

/// What a command reads: a scenario, and what else it asks for.
pub struct Load<'a> {
    scenario: &'a Path,
    /// A bare trial id names a scenario in scenarios/ ([`crate::scenario::load_named`]).
    named: bool,
    roster: Source<'a>,
    calendars: Option<&'a Path>,
    log: Source<'a>,
    as_of: Option<NaiveDate>,
    plan: Source<'a>,
    flags: Vec<Problem>,
    check: Option<Check<'a>>,
    database: Option<&'a Location>,
    /// Whether a record read from the database is kept as CSV text for a folder's copy.
    record_copy: bool,
}

impl<'a> Load<'a> {
    /// The scenario a command line names: a file, or a bare trial id looked up in
    /// scenarios/.
    pub fn named(scenario: &'a Path) -> Self {
        Load {
            scenario,
            named: true,
            roster: Source::Unasked,
            calendars: None,
            log: Source::Unasked,
            as_of: None,
            plan: Source::Unasked,
            flags: Vec::new(),
            check: None,
            database: None,
            record_copy: true,
        }
    }

    /// The scenario in this very file.
    pub fn file(scenario: &'a Path) -> Self {
        Load {
            named: false,
            ..Load::named(scenario)
        }
    }

    /// The roster in `path`, when one is given.
    pub fn roster(mut self, path: Option<&'a Path>) -> Self {
        self.roster = path.map_or(Source::Unasked, Source::File);
        self
    }

    /// The scenario's demo roster, `rosters/<trial id>.csv` beside it, which must be there.
    pub fn demo_roster(mut self) -> Self {
        self.roster = Source::Demo;
        self
    }

    /// The folder of site calendars the roster's (and the plan's) sites are read from.
    pub fn calendars(mut self, dir: &'a Path) -> Self {
        self.calendars = Some(dir);
        self
    }

    /// The administration record in `path`, when one is given, complete to `as_of`
    /// (`None`: its latest date). It needs a roster.
    pub fn record(mut self, path: Option<&'a Path>, as_of: Option<NaiveDate>) -> Self {
        self.log = path.map_or(Source::Unasked, Source::File);
        self.as_of = as_of;
        self
    }

    /// The demo roster's record, `logs/<trial id>.csv` beside the roster's folder, when
    /// it is there.
    pub fn demo_record(mut self) -> Self {
        self.log = Source::DemoIfAny;
        self
    }

    /// The forecast plan in `path`, or (`None`) the scenario's bundled plan,
    /// `plans/<trial id>.toml` beside it, which must be there.
    pub fn plan(mut self, path: Option<&'a Path>) -> Self {
        self.plan = path.map_or(Source::Demo, Source::File);
        self
    }

    /// The roster and record from this database (`None`: from the files asked for), in
    /// place of the files: the trial's books as of its last entry, corrections in place and
    /// voids left out, checked as the files are. A demo roster asked for
    /// ([`Load::demo_roster`]) is read from its file as before when the database holds no
    /// roster for the trial ([`Inputs::database`] then says `None`).
    pub fn database(mut self, at: Option<&'a Location>) -> Self {
        self.database = at;
        self
    }

    /// A record read from the database is not kept as CSV text for a folder's copy: for
    /// the commands that write no trial folder (a million patients' record is 100 MB).
    pub fn without_record_copy(mut self) -> Self {
        self.record_copy = false;
        self
    }

    /// The scenario's bundled plan, when it is there.
    pub fn demo_plan(mut self) -> Self {
        self.plan = Source::DemoIfAny;
        self
    }

    /// Problems the command found in its own flags: reported with the inputs', after the
    /// scenario's.
    pub fn flags(mut self, problems: Vec<Problem>) -> Self {
        self.flags.extend(problems);
        self
    }

    /// A check of the command's flags against what was read (a product's concentration,
    /// a site of the roster): its problems are reported with the inputs', after the
    /// roster's.
    pub fn check(mut self, check: Check<'a>) -> Self {
        self.check = Some(check);
        self
    }

    /// Reads and checks everything asked for. `warn` is told each warning of a record as
    /// it is read (weights outside the usual range); a roster's warnings stay on it.
    pub fn load(self, warn: &dyn Fn(&str)) -> Result<Inputs, InputError> {
        let mut problems = Found::default();
        let trial = self.scenario(&mut problems);
        problems.list.extend(self.flags.iter().cloned());
        let Some(trial) = trial else {
            self.unread(&mut problems);
            return Err(problems.into_error());
        };
        let mut books = self.read_books(&trial, &mut problems);
        let roster = match &mut books {
            Some(b) => b.roster(&trial, &mut problems),
            None => self.read_roster(&trial, &mut problems),
        };
        if let Some(check) = self.check {
            problems
                .list
                .extend(check(&trial, roster.as_ref().map(|r| &r.roster)));
        }
        let mut sites = Sites::new();
        let mut log = None;
        if let Some(r) = &roster {
            sites = self.roster_sites(r, &mut problems);
            log = match &mut books {
                Some(b) => b.record(&trial, r, self.as_of, self.record_copy, warn, &mut problems),
                None => self.read_log(&trial, r, warn, &mut problems),
            };
        } else if let Source::File(path) = self.log
            && matches!(self.roster, Source::Unasked)
        {
            let _ = path;
            problems.list.push(Problem::flag(
                "--log",
                "needs --roster: the record is of the roster's patients",
            ));
        }
        let plan = self.read_plan(&trial, &mut problems);
        if !problems.list.is_empty() {
            return Err(problems.into_error());
        }
        Ok(Inputs {
            trial,
            roster,
            sites,
            log,
            plan,
            database: books.map(|b| b.from),
        })
    }

    /// The trial's books in the database asked for, if any: `None` when none was, or when
    /// it holds no roster for the trial and the demo roster is read instead.
    fn read_books(&self, trial: &Trial, problems: &mut Found) -> Option<DbBooks> {
        let at = self.database?;
        let read = || -> anyhow::Result<DbBooks> {
            let mut db = crate::db::Db::open(at, crate::db::Open::Existing)?;
            let label = db.label().to_string();
            let (books, counts) = db.read(|s| {
                let books = crate::db::books::read(s, &label, &trial.id)?;
                let upto = books.head.map_or(0, |h| h.id);
                let counts = crate::db::books::record_entries_not_in_effect(s, &trial.id, upto)?;
                Ok((books, counts))
            })?;
            let head = books.head.expect("an open database has its first entry");
            Ok(DbBooks {
                books,
                counts,
                from: FromDb {
                    location: at.clone(),
                    label,
                    head,
                },
            })
        };
        match read() {
            Ok(b)
                if b.books.patients == 0
                    && matches!(self.roster, Source::Demo | Source::DemoIfAny) =>
            {
                None
            }
            Ok(b) => Some(b),
            Err(e) => {
                problems.list.push(Problem::flag("--db", format!("{e:#}")));
                None
            }
        }
    }

    /// The scenario, or its problems.
    fn scenario(&self, problems: &mut Found) -> Option<Trial> {
        let loaded = if self.named {
            crate::scenario::load_named(self.scenario)
        } else {
            crate::scenario::load(self.scenario)
        };
        loaded.map_err(|e| problems.add(e)).ok()
    }

    /// With no scenario to read them against, the roster and record files named are still
    /// opened: one that cannot be read is said with the scenario's problems.
    fn unread(&self, problems: &mut Found) {
        if let Source::File(path) = self.roster
            && let Err(e) = crate::roster::file_bytes(path)
        {
            problems.add(e);
        }
        if let Source::File(path) = self.log
            && let Err(e) = crate::record::file_bytes(path)
        {
            problems.add(e);
        }
    }

    /// The roster asked for, read against the trial.
    fn read_roster(&self, trial: &Trial, problems: &mut Found) -> Option<RosterFile> {
        let path = match self.roster {
            Source::Unasked => return None,
            Source::File(p) => p.to_path_buf(),
            Source::Demo | Source::DemoIfAny => {
                let path = crate::layout::roster_for(&trial.file, &trial.id);
                if !path.is_file() {
                    if self.roster == Source::Demo {
                        problems.list.push(Problem::new(
                            &path,
                            format!("no demo roster for {} (expected this file)", trial.id),
                        ));
                    }
                    return None;
                }
                path
            }
        };
        let roster = crate::roster::read(&path, trial)
            .map_err(|e| problems.add(e))
            .ok()?;
        Some(RosterFile { path, roster })
    }

    /// The site calendars of the roster's patients: a missing one is said of the first
    /// roster line that names its site.
    fn roster_sites(&self, r: &RosterFile, problems: &mut Found) -> Sites {
        let Some(dir) = self.calendars else {
            return Sites::new();
        };
        crate::roster::calendars(dir, &r.path, &r.roster).unwrap_or_else(|e| {
            problems.add(e);
            Sites::new()
        })
    }

    /// The record asked for, read against the trial and the roster.
    fn read_log(
        &self,
        trial: &Trial,
        r: &RosterFile,
        warn: &dyn Fn(&str),
        problems: &mut Found,
    ) -> Option<Log> {
        let path = match self.log {
            Source::Unasked => return None,
            Source::File(p) => p.to_path_buf(),
            Source::Demo | Source::DemoIfAny => {
                let path = crate::layout::log_for(&r.path, &trial.id);
                if !path.is_file() {
                    return None;
                }
                path
            }
        };
        match crate::record::read(&path, trial, &r.roster, self.as_of) {
            Ok(log) => {
                for w in &log.warnings {
                    warn(w);
                }
                Some(log)
            }
            Err(e) => {
                problems.add(e);
                None
            }
        }
    }

    /// The forecast plan asked for, and the site calendars its sites name.
    fn read_plan(&self, trial: &Trial, problems: &mut Found) -> Option<PlanFile> {
        let path = match self.plan {
            Source::Unasked => return None,
            Source::File(p) => p.to_path_buf(),
            Source::Demo | Source::DemoIfAny => {
                let path = crate::layout::plan_for(&trial.file, &trial.id);
                if self.plan == Source::DemoIfAny && !path.is_file() {
                    return None;
                }
                path
            }
        };
        let dir = self.calendars.unwrap_or(Path::new("."));
        let loaded = crate::forecast::plan::load(&path, trial).and_then(|plan| {
            let sites = crate::forecast::plan::calendars(dir, &plan)?;
            Ok(PlanFile { plan, sites })
        });
        loaded.map_err(|e| problems.add(e)).ok()
    }
}

/// A trial's books read from the database, with each patient's count of record entries
/// not in effect (corrected, voided, voids: their rows in effect are the record's).
struct DbBooks {
    books: crate::db::books::Books,
    counts: rustc_hash::FxHashMap<String, u32>,
    from: FromDb,
}

impl DbBooks {
    /// The roster, named by its label ("dosesim.db (roster of NCT01724398)"), its bytes
    /// remembered for the manifest.
    fn roster(&mut self, trial: &Trial, problems: &mut Found) -> Option<RosterFile> {
        crate::digest::remember_input(&self.books.roster_label, &self.books.roster_csv);
        let roster = self
            .books
            .take_roster(trial)
            .map_err(|e| problems.add(e))
            .ok()?;
        Some(RosterFile {
            path: self.books.roster_label.clone(),
            roster,
        })
    }

    /// The record, with each patient's count of record entries; with `copy`, its rows in
    /// effect kept as a CSV log (for the manifest and the folder's copy).
    fn record(
        &mut self,
        trial: &Trial,
        r: &RosterFile,
        as_of: Option<NaiveDate>,
        copy: bool,
        warn: &dyn Fn(&str),
        problems: &mut Found,
    ) -> Option<Log> {
        let compact = copy.then(|| without_blank_lines(self.books.record_csv.clone()));
        // Without the copy, the hash its copy would have (for the guard of --out).
        let sha = (!copy).then(|| sha256_without_blank_lines(&self.books.record_csv));
        let mut log = self
            .books
            .take_record(trial, &r.roster, as_of)
            .map_err(|e| problems.add(e))
            .ok()?;
        for w in &log.warnings {
            warn(w);
        }
        let counts = r
            .roster
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                log.patient(i as u32).records.len() as u32
                    + self.counts.get(&*e.id).copied().unwrap_or(0)
            })
            .collect();
        log.entries = Some(counts);
        match compact {
            Some(compact) => crate::digest::remember_book(&self.books.record_label, compact),
            None => {
                crate::digest::remember_sha256(&self.books.record_label, &sha.unwrap_or_default())
            }
        }
        Some(log)
    }
}

/// The SHA-256 of [`without_blank_lines`]'s text, without making it.
fn sha256_without_blank_lines(csv: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for line in csv.split_inclusive(|&b| b == b'\n') {
        if line != b"\n" {
            h.update(line);
        }
    }
    h.finalize().to_vec()
}

/// A book's CSV without the blank lines that keep each entry on the line of its number.
fn without_blank_lines(mut csv: Vec<u8>) -> Vec<u8> {
    let mut w = 0;
    let mut at_line_start = true;
    for r in 0..csv.len() {
        let b = csv[r];
        if b == b'\n' && at_line_start {
            continue;
        }
        at_line_start = b == b'\n';
        csv[w] = b;
        w += 1;
    }
    csv.truncate(w);
    csv
}

/// Every problem found so far. A reader that lists only the first problems of a large
/// file ends its list with "... and N more problems"; those counted but not listed are
/// kept count of, so that the count at the top is of all of them.
#[derive(Default)]
struct Found {
    list: Vec<Problem>,
    /// As [`InputError::unlisted`] of the joined list: one more than the problems not
    /// listed, less one per capped list.
    unlisted: usize,
}

impl Found {
    fn add(&mut self, e: InputError) {
        if e.unlisted > 0 {
            self.unlisted = match self.unlisted {
                0 => e.unlisted,
                u => u + e.unlisted - 1,
            };
        }
        self.list.extend(e.problems);
    }

    fn into_error(self) -> InputError {
        InputError {
            problems: self.list,
            unlisted: self.unlisted,
        }
    }
}

impl Inputs {
    /// The roster and its file.
    ///
    /// # Panics
    /// When no roster was asked for ([`Load::roster`], [`Load::demo_roster`]).
    pub fn roster_file(&self) -> &RosterFile {
        self.roster
            .as_ref()
            .expect("a roster was asked for with Load::roster")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn problems(load: Load) -> Vec<String> {
        load.load(&|_| {})
            .unwrap_err()
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const ROSTER: &str = "patient_id,arm,weight_kg,start_date\nP1,high,60,2027-01-04\n";

    /// A bad scenario and a roster that cannot be read: both said in one go.
    #[test]
    fn a_bad_scenario_and_an_unreadable_roster_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = write(dir.path(), "bad.toml", "[trial]\nid = \n");
        let roster = dir.path().join("no-such-roster.csv");
        let got = problems(Load::file(&scenario).roster(Some(&roster)));
        assert!(got.len() >= 2, "{got:?}");
        assert!(got[0].contains("bad.toml"), "{got:?}");
        assert!(
            got.last().unwrap().contains("no-such-roster.csv"),
            "{got:?}"
        );
    }

    /// A bad roster and a bad forecast plan are both read against the scenario, and both
    /// reported.
    #[test]
    fn a_bad_roster_and_a_bad_plan_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let roster = write(
            dir.path(),
            "r.csv",
            "patient_id,arm,weight_kg,start_date\nP1,no-such-arm,60,2027-01-04\n",
        );
        let plan = write(dir.path(), "plan.toml", "target_patients = \"many\"\n");
        let scenario = Path::new("scenarios/nct04822922.toml");
        let got = problems(
            Load::file(scenario)
                .roster(Some(&roster))
                .plan(Some(&plan))
                .calendars(Path::new("scenarios/calendars")),
        );
        assert!(
            got.iter()
                .any(|p| p.starts_with(&format!("{}:2", roster.display()))),
            "{got:?}"
        );
        assert!(got.iter().any(|p| p.contains("plan.toml")), "{got:?}");
    }

    /// A roster site with no calendar and a bad record: the record is read against the
    /// roster all the same, and both are reported.
    #[test]
    fn a_missing_site_calendar_and_a_bad_record_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        let roster = write(
            dir.path(),
            "r.csv",
            "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2027-01-04,NOWHERE\n",
        );
        let log = write(dir.path(), "log.csv", "not,a,record\n1,2,3\n");
        let scenario = Path::new("scenarios/nct04822922.toml");
        let got = problems(
            Load::file(scenario)
                .roster(Some(&roster))
                .calendars(dir.path())
                .record(Some(&log), None),
        );
        assert!(got.iter().any(|p| p.contains("NOWHERE")), "{got:?}");
        assert!(got.iter().any(|p| p.contains("log.csv")), "{got:?}");
    }

    /// What was asked for is what is loaded, and nothing else.
    #[test]
    fn what_is_asked_for_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let roster = write(dir.path(), "r.csv", ROSTER);
        let inputs = Load::file(Path::new("scenarios/nct04822922.toml"))
            .roster(Some(&roster))
            .load(&|_| {})
            .unwrap();
        assert_eq!(inputs.trial.id, "NCT04822922");
        assert_eq!(inputs.roster_file().roster.entries.len(), 1);
        assert!(inputs.log.is_none() && inputs.plan.is_none() && inputs.sites.is_empty());
    }

    /// Lists that name only their first problems keep the count of all of them, joined.
    #[test]
    fn problems_counted_but_not_listed_are_kept_count_of() {
        let p = |m: &str| Problem::flag("--x", m);
        let capped = |first: &str, more: usize| InputError {
            problems: vec![p(first), p(&format!("... and {more} more problems"))],
            unlisted: more,
        };
        let mut found = Found::default();
        found.add(capped("a", 5));
        found.add(InputError::one(p("b")));
        found.add(capped("c", 3));
        // 1 + 5, 1, 1 + 3.
        assert_eq!(found.into_error().count(), 11);
    }
}
