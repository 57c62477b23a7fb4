//! Outputs that would replace an input are refused (exit 2) before anything is written:
//! an `--out` that resolves, after links, to a file the run reads (scenario, roster,
//! administration record, site calendar, holiday file, plan), or that lies in a folder
//! dosesim reads inputs from (scenarios/, the site calendars folder, and the plans/, logs/
//! and calendars/ folders beside a scenario). Every write is atomic, so a replaced input
//! could not be recovered.

use std::path::{Path, PathBuf};

use dosesim::error::Problem;
use dosesim::layout::resolve;
use dosesim::manifest::Input;

/// The files and folders a run reads.
#[derive(Debug, Clone)]
pub struct Reads {
    /// (what the file is to the run, its path)
    files: Vec<(String, PathBuf)>,
    /// (what the folder is, its path)
    folders: Vec<(String, PathBuf)>,
}

impl Default for Reads {
    fn default() -> Self {
        Reads::new()
    }
}

impl Reads {
    /// What every run reads from: the scenarios folder (trial ids are looked up there).
    pub fn new() -> Self {
        Reads {
            files: Vec::new(),
            folders: vec![(
                "the scenarios folder".to_string(),
                PathBuf::from(dosesim::layout::SCENARIO_DIR),
            )],
        }
    }

    /// An input file.
    pub fn file(mut self, role: &str, path: &Path) -> Self {
        self.files.push((role.to_string(), path.to_path_buf()));
        self
    }

    /// An input file, when there is one.
    pub fn maybe(self, role: &str, path: Option<&Path>) -> Self {
        match path {
            Some(p) => self.file(role, p),
            None => self,
        }
    }

    /// A folder of inputs: nothing is written in it.
    pub fn folder(mut self, what: &str, path: &Path) -> Self {
        self.folders.push((what.to_string(), path.to_path_buf()));
        self
    }

    /// A scenario named on the command line, and the folders beside it that runs take
    /// its forecast plan, administration record and site calendars from.
    pub fn scenario(mut self, path: &Path) -> Self {
        if path.is_file() {
            let dir = path.parent().unwrap_or(Path::new("."));
            for (sub, what) in [
                ("plans", "the forecast plans folder"),
                ("logs", "the administration records folder"),
                ("calendars", "the site calendars folder"),
            ] {
                self = self.folder(what, &dir.join(sub));
            }
            self.file("scenario", path)
        } else if path.is_dir() {
            self.folder("a scenarios folder", path)
        } else {
            // A trial id: its scenario is in the scenarios folder.
            self
        }
    }

    /// The folder of site calendars (`--calendars`), their holiday files in it.
    pub fn calendars(self, dir: &Path) -> Self {
        self.folder("the site calendars folder (--calendars)", dir)
    }

    /// The administration record of `--log`, if given.
    pub fn record(self, args: &crate::cli::RecordArgs) -> Self {
        self.maybe("administration record", args.log.as_deref())
    }

    /// Every input of a manifest's list (the files read once the inputs are loaded: the
    /// holiday files a site calendar names, a plan's weight roster).
    pub fn inputs(mut self, inputs: &[Input]) -> Self {
        for i in inputs {
            self = self.file(&i.role, Path::new(&i.path));
        }
        self
    }

    /// Refuses the output file `out` (named by `flag`) when it is one of the inputs, or in
    /// a folder of inputs.
    pub fn check_file(&self, out: &Path, flag: &str) -> Result<(), Problem> {
        let Some(resolved) = resolve_file(out) else {
            // A missing folder or a broken link: `write::check_out_file` says so.
            return Ok(());
        };
        for (role, input) in &self.files {
            if same_file(&resolved, out, input) {
                let which = if input == out {
                    format!("the {role} this run reads")
                } else {
                    format!("{}, the {role} this run reads", input.display())
                };
                return Err(Problem::flag(
                    flag,
                    format!(
                        "{} is {which}: dosesim never writes over its inputs; name another file",
                        out.display()
                    ),
                ));
            }
        }
        self.check_folders(out, &resolved, flag, "a file")
    }

    /// Refuses the output folder `out` (named by `flag`) when it is in a folder of inputs.
    pub fn check_folder(&self, out: &Path, flag: &str) -> Result<(), Problem> {
        self.check_folders(out, &resolve(out), flag, "a folder")
    }

    fn check_folders(
        &self,
        out: &Path,
        resolved: &Path,
        flag: &str,
        what_out: &str,
    ) -> Result<(), Problem> {
        for (what, folder) in &self.folders {
            if resolved.starts_with(resolve(folder)) {
                return Err(Problem::flag(
                    flag,
                    format!(
                        "{} is in {}, {what}: dosesim writes nothing among its inputs, so that none is ever replaced; name {what_out} elsewhere",
                        out.display(),
                        folder.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The file an output path writes: a link's target (the file replaced), else the path in
/// its folder with links resolved. `None` for a broken link or a missing folder.
fn resolve_file(out: &Path) -> Option<PathBuf> {
    if std::fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
        return std::fs::canonicalize(out).ok();
    }
    let name = out.file_name()?;
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(folder).ok()?.join(name))
}

/// Whether the output (resolved, and as given) and the input are one file: one path once
/// links are resolved, or (Unix) one file on disk by any other route.
fn same_file(resolved: &Path, out: &Path, input: &Path) -> bool {
    if resolve(input) == resolved {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(out), std::fs::metadata(input)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    let _ = out;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_an_input_by_any_route_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("r.csv"), "roster").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let reads = Reads::new().file("roster", &d.join("r.csv"));
        let e = reads.check_file(&d.join("r.csv"), "--out").unwrap_err();
        assert!(e.to_string().starts_with("--out: "), "{e}");
        assert!(e.message.contains("the roster this run reads"), "{e}");
        // Through a folder's `..`, a link, a hard link.
        let dotted = d.join("sub/../r.csv");
        assert!(reads.check_file(&dotted, "--out").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.join("r.csv"), d.join("link.csv")).unwrap();
            let e = reads.check_file(&d.join("link.csv"), "--out").unwrap_err();
            assert!(
                e.message.contains("r.csv, the roster this run reads"),
                "{e}"
            );
            std::fs::hard_link(d.join("r.csv"), d.join("hard.csv")).unwrap();
            assert!(reads.check_file(&d.join("hard.csv"), "--out").is_err());
        }
        // Another file beside it is fine, existing or not.
        assert!(reads.check_file(&d.join("sheet.html"), "--out").is_ok());
        std::fs::write(d.join("old.html"), "x").unwrap();
        assert!(reads.check_file(&d.join("old.html"), "--out").is_ok());
    }

    #[test]
    fn nothing_is_written_in_a_folder_of_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("cal/holidays")).unwrap();
        let reads = Reads::new().calendars(&d.join("cal"));
        let e = reads
            .check_file(&d.join("cal/holidays/new.json"), "--out")
            .unwrap_err();
        assert!(e.message.contains("the site calendars folder"), "{e}");
        assert!(reads.check_folder(&d.join("cal/out"), "--out").is_err());
        assert!(
            reads
                .check_folder(&d.join("cal/../cal/x/y"), "--out")
                .is_err()
        );
        assert!(reads.check_folder(&d.join("out"), "--out").is_ok());
        assert!(reads.check_file(&d.join("calendar.csv"), "--out").is_ok());
    }
}
