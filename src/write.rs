//! The one place that writes output files. Every file is written to a temporary file in
//! the same folder and renamed over the target, so a failure or a kill never leaves a
//! half-written file beside good ones, and an existing file stays untouched on error.
//! File names inside an output folder come only from validated ids ([`safe_child`]).
//! A target that is not a regular file (/dev/null, a named pipe) is written in place: a
//! rename would replace the device or pipe with a file. A symbolic link is followed, so
//! the file it points to is the one replaced.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::model::is_safe_id;

/// Writes `path` atomically with whatever `fill` writes.
pub fn atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> io::Result<()>,
) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            bail!("{} is a folder, not a file", path.display());
        }
        if !meta.is_file() {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let mut buf = io::BufWriter::with_capacity(1 << 20, file);
            fill(&mut buf).with_context(|| format!("cannot write {}", path.display()))?;
            buf.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            return Ok(());
        }
    }
    let resolved;
    let path = match std::fs::canonicalize(path) {
        Ok(p) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            resolved = p;
            resolved.as_path()
        }
        _ => path,
    };
    let mut file = Pending::create(path)?;
    fill(&mut file.buf).with_context(|| format!("cannot write {}", path.display()))?;
    file.finish()
}

/// The folder a file goes in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks an `--out FILE` before any work: its folder exists (it is not created, so a
/// typo in a path does not scatter folders) and it is not itself a folder.
pub fn check_out_file(path: &Path, flag: &str) -> Result<(), crate::error::Problem> {
    // A link is followed (the file it points to is the one replaced), so it must lead to
    // a file: a dangling or looping link would otherwise be replaced by a file of its own.
    if let Some(p) = broken_link(path, flag) {
        return Err(p);
    }
    let dir = folder_of(path);
    if !dir.is_dir() {
        return Err(crate::error::Problem::flag(
            flag,
            format!("the folder {} does not exist", dir.display()),
        ));
    }
    if path.is_dir() {
        return Err(crate::error::Problem::flag(
            flag,
            format!("{} is a folder: name a file", path.display()),
        ));
    }
    Ok(())
}

/// A problem when `path` is a symbolic link that leads nowhere: to a missing file or
/// folder, or round a loop of links.
pub fn broken_link(path: &Path, flag: &str) -> Option<crate::error::Problem> {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return None;
    }
    let err = std::fs::canonicalize(path).err()?;
    let why = match std::fs::read_link(path) {
        // ELOOP: too many levels of symbolic links.
        _ if err.raw_os_error() == Some(40) => "a loop of links".to_string(),
        Ok(target) => format!("{}, which does not exist", target.display()),
        Err(_) => "nothing that can be read".to_string(),
    };
    Some(crate::error::Problem::flag(
        flag,
        format!(
            "{} is a symbolic link to {why}: name another path, or fix the link",
            path.display()
        ),
    ))
}

/// Writes `bytes` to `path` atomically.
pub fn atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_with(path, |w| w.write_all(bytes))
}

/// A new file written a part at a time (the trial's calendar, patient batch after patient
/// batch), as [`atomic_with`] writes one at once: to a temporary file beside it, renamed
/// into place by [`Pending::finish`]; dropped unfinished, it is removed.
pub struct Pending {
    path: PathBuf,
    buf: io::BufWriter<tempfile::NamedTempFile>,
}

impl Pending {
    pub fn create(path: &Path) -> Result<Self> {
        let dir = folder_of(path);
        let tmp = tempfile::Builder::new()
            .prefix(".dosesim-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(Pending {
            path: path.to_path_buf(),
            buf: io::BufWriter::with_capacity(1 << 20, tmp),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Moves the finished file into place.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let tmp = self
            .buf
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", path.display()))?;
        // Temporary files are created private (0600); a finished output is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("cannot set permissions of {}", path.display()))?;
        }
        tmp.persist(&path)
            .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
        Ok(())
    }
}

/// `dir/<id><ext>`, refusing any id that could name a path outside `dir`.
pub fn safe_child(dir: &Path, id: &str, ext: &str) -> Result<PathBuf> {
    if !is_safe_id(id) {
        bail!("refusing to use '{id}' as a file name");
    }
    Ok(dir.join(format!("{id}{ext}")))
}

/// An exclusive lock on an output folder, held while a run writes into it, so that two
/// runs into one folder take turns instead of mixing their files. Released on drop.
pub struct FolderLock {
    _file: std::fs::File,
}

/// Locks `dir` (created if missing), waiting for another dosesim run that holds it, then
/// removes what a killed run left there: temporary files and half-built folders.
pub fn lock_folder(dir: &Path) -> Result<FolderLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The folder itself is locked (flock on its descriptor), so no lock file is left behind.
    #[cfg(unix)]
    let file =
        std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    #[cfg(not(unix))]
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".dosesim.lock"))
        .with_context(|| format!("cannot open the lock of {}", dir.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting: another dosesim run is writing into {}; this one starts when it ends",
                dir.display()
            );
            file.lock()
                .with_context(|| format!("cannot lock {}", dir.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", dir.display()));
        }
    }
    remove_leftovers(dir)?;
    Ok(FolderLock { _file: file })
}

/// Temporary files (`.dosesim-*.tmp`) and half-built folders (`.dosesim-*.new`) a killed
/// run left in `dir`; a folder set aside for a swap that never finished
/// (`.dosesim-NAME.old` without `NAME`) is put back.
fn remove_leftovers(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".dosesim-") else {
            continue;
        };
        let path = entry.path();
        if rest.ends_with(".tmp") && entry.file_type()?.is_file() {
            std::fs::remove_file(&path)?;
        } else if rest.ends_with(".new") && entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else if let Some(base) = rest.strip_suffix(".old")
            && entry.file_type()?.is_dir()
        {
            let target = dir.join(base);
            if target.exists() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::rename(&path, &target)?;
            }
        }
    }
    Ok(())
}

/// Replaces the folder `target` as a whole: `fill` builds the new one beside it, the
/// files of the old one named in `carry` (the user's own) are linked into it, and two
/// renames swap it in. Until the new folder is complete the old one is untouched; a
/// failure leaves it as it was. The caller holds the parent's [`FolderLock`].
pub fn swap_folder<T>(
    target: &Path,
    carry: &[String],
    fill: impl FnOnce(&Path) -> Result<T>,
) -> Result<T> {
    let parent = folder_of(target);
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .context("an output folder needs a name")?;
    let new = parent.join(format!(".dosesim-{name}.new"));
    let old = parent.join(format!(".dosesim-{name}.old"));
    if new.exists() {
        std::fs::remove_dir_all(&new)?;
    }
    std::fs::create_dir_all(&new).with_context(|| format!("cannot create {}", new.display()))?;
    let made = match fill(&new) {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new);
            return Err(e);
        }
    };
    for rel in carry {
        let (from, to) = (target.join(rel), new.join(rel));
        if to.exists() {
            let _ = std::fs::remove_dir_all(&new);
            bail!(
                "{} is not dosesim's (the folder's manifest does not list it), and this run would write a file of that name: move it, then run again",
                from.display()
            );
        }
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p)?;
        }
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).with_context(|| format!("cannot keep {}", from.display()))?;
        }
    }
    if target.exists() {
        std::fs::rename(target, &old)
            .with_context(|| format!("cannot set {} aside", target.display()))?;
        if let Err(e) = std::fs::rename(&new, target) {
            let _ = std::fs::rename(&old, target);
            return Err(e).with_context(|| format!("cannot move the new {} in", target.display()));
        }
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove the replaced {}", old.display()))?;
    } else {
        std::fs::rename(&new, target)
            .with_context(|| format!("cannot move the new {} in", target.display()))?;
    }
    Ok(made)
}

/// Writes `bytes` to stdout. A closed pipe (`dosesim ... | head`) is not an error.
pub fn stdout(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        atomic(&path, b"good").unwrap();
        let err = atomic_with(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk on fire"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    /// A named pipe stands in for a device such as /dev/null: both are written in place,
    /// and a rename would replace either with a regular file.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .expect("the mkfifo command runs");
        assert!(made.success(), "mkfifo {}", pipe.display());
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = pipe.clone();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::read(reading).unwrap());
        });
        atomic(&pipe, b"written in place").unwrap();
        assert!(
            std::fs::metadata(&pipe).unwrap().file_type().is_fifo(),
            "the pipe was replaced"
        );
        let read = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the reader reads the pipe to the end");
        assert_eq!(read, b"written in place");
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_keeps_pointing_at_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.csv");
        let link = dir.path().join("link.csv");
        std::fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn a_folder_swap_that_fails_midway_leaves_the_old_folder_whole() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("T");
        std::fs::create_dir_all(target.join("patients")).unwrap();
        std::fs::write(target.join("pharmacy.csv"), "old").unwrap();
        std::fs::write(target.join("patients/notes.csv"), "mine").unwrap();
        let _lock = lock_folder(out.path()).unwrap();
        let r: Result<()> = swap_folder(&target, &[], |dir| {
            std::fs::write(dir.join("pharmacy.csv"), "new")?;
            bail!("disk full")
        });
        assert!(r.is_err());
        assert_eq!(
            std::fs::read_to_string(target.join("pharmacy.csv")).unwrap(),
            "old"
        );
        let names: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["T"], "no half-built folder left");

        // A swap that completes replaces dosesim's files and keeps the user's.
        swap_folder(&target, &["patients/notes.csv".to_string()], |dir| {
            std::fs::write(dir.join("pharmacy.csv"), "new")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("pharmacy.csv")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("patients/notes.csv")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn leftovers_of_a_killed_run_are_removed_or_put_back() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join(".dosesim-abc.tmp"), "x").unwrap();
        std::fs::create_dir(out.path().join(".dosesim-T.new")).unwrap();
        std::fs::create_dir(out.path().join(".dosesim-U.old")).unwrap();
        std::fs::write(out.path().join(".dosesim-U.old/pharmacy.csv"), "u").unwrap();
        std::fs::write(out.path().join("mine.tmp"), "kept").unwrap();
        drop(lock_folder(out.path()).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["U", "mine.tmp"]);
        assert_eq!(
            std::fs::read_to_string(out.path().join("U/pharmacy.csv")).unwrap(),
            "u"
        );
    }

    #[test]
    fn ids_cannot_escape_the_folder() {
        let d = Path::new("out");
        assert!(safe_child(d, "../etc/passwd", ".csv").is_err());
        assert!(safe_child(d, "/abs", ".csv").is_err());
        assert!(safe_child(d, "..", ".csv").is_err());
        assert!(safe_child(d, ".hidden", ".csv").is_err());
        assert_eq!(safe_child(d, "P-01", ".csv").unwrap(), d.join("P-01.csv"));
    }
}
