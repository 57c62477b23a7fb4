//! The one place that writes output files. Every file is written to a temporary file in
//! the same folder and renamed over the target, so a failure or a kill never leaves a
//! half-written file beside good ones, and an existing file stays untouched on error.
//! File names inside an output folder come only from validated ids ([`safe_child`]).
//! A target that is not a regular file (/dev/null, a named pipe) is written in place: a
//! rename would replace the device or pipe with a file. A symbolic link is followed, so
//! the file it points to is the one replaced.
//!
//! Every run holds the lock of each folder it writes in ([`lock_folder`], [`lock_out_file`]),
//! so that two runs take turns, a file written into a trial folder waits for a rebuild of
//! it, and whatever a killed run left there is known to be stale and removed by the next.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::error::{InputError, Problem};
use crate::layout::{MANIFEST_FILE, SUBFOLDERS, is_safe_id, is_subfolder};

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
pub fn check_out_file(path: &Path, flag: &str) -> Result<(), Problem> {
    // A link is followed (the file it points to is the one replaced), so it must lead to
    // a file: a dangling or looping link would otherwise be replaced by a file of its own.
    if let Some(p) = broken_link(path, flag) {
        return Err(p);
    }
    let dir = folder_of(path);
    if !dir.is_dir() {
        return Err(Problem::flag(
            flag,
            format!("the folder {} does not exist", dir.display()),
        ));
    }
    if path.is_dir() {
        return Err(Problem::flag(
            flag,
            format!("{} is a folder: name a file", path.display()),
        ));
    }
    Ok(())
}

/// A problem when `path` is a symbolic link that leads nowhere: to a missing file or
/// folder, or round a loop of links.
pub fn broken_link(path: &Path, flag: &str) -> Option<Problem> {
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
    Some(Problem::flag(
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
/// removes what a killed run left there: temporary files and half-built folders. Every
/// dosesim run that writes into a folder holds its lock while its temporary files exist,
/// so whatever of that kind is found under the lock is stale, whichever command left it.
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

/// Locks what writing the file `path` (an `--out FILE`) into place takes, outermost first:
/// the folder each dosesim folder around it (a trial or forecast folder: one with a
/// manifest) is replaced in, so that a file written into a trial folder waits for a run
/// rebuilding it rather than being lost at its swap; then the file's own folder, cleared
/// of the temporary files earlier runs left there. A device or pipe (written in place,
/// with no temporary file) takes none.
pub fn lock_out_file(path: &Path) -> Result<Vec<FolderLock>> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return Ok(Vec::new());
    }
    // A link is followed: the file it points to is the one replaced, in its own folder.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = folder_of(&target);
    let dir =
        std::fs::canonicalize(&dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let mut folders: Vec<PathBuf> = dir
        .ancestors()
        .filter(|a| is_dosesim_folder(a))
        .filter_map(|a| a.parent().map(Path::to_path_buf))
        .collect();
    folders.reverse();
    folders.push(dir);
    folders.dedup();
    folders.iter().map(|f| lock_folder(f)).collect()
}

/// Whether `dir` is a folder dosesim replaces as a whole: a trial folder, a forecast or
/// export folder (with its manifest), or a trial folder that holds only such folders so far.
fn is_dosesim_folder(dir: &Path) -> bool {
    dir.join(MANIFEST_FILE).is_file() || SUBFOLDERS.iter().any(|s| is_subfolder(&dir.join(s)))
}

/// What is to be done about a leftover that could not be removed, for a warning.
fn cannot_remove(path: &Path, e: &io::Error, what: &str) -> String {
    format!(
        "cannot remove {} ({what}): {e}. Nothing in it is needed; a folder in it may be read-only: make it writable and remove it (chmod -R u+w '{p}' && rm -rf '{p}')",
        path.display(),
        p = path.display()
    )
}

/// Removes the folder `path`, or when it cannot be (a read-only folder in it), moves it out
/// of the way under a name of its own (`.dosesim-NAME-N.del`, removed by a later run once
/// it can be) and warns, naming it and what to do: a leftover never stops a run.
fn discard_folder(path: &Path, what: &str) {
    let Err(e) = std::fs::remove_dir_all(path) else {
        return;
    };
    let mut shown = path.to_path_buf();
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
        let name = name.to_string_lossy();
        let stem = name
            .strip_prefix(".dosesim-")
            .and_then(|n| n.strip_suffix(".old").or_else(|| n.strip_suffix(".new")))
            .unwrap_or(&name);
        if !name.ends_with(".del") {
            for k in 1..1000 {
                let aside = parent.join(format!(".dosesim-{stem}-{k}.del"));
                if std::fs::symlink_metadata(&aside).is_err() {
                    if std::fs::rename(path, &aside).is_ok() {
                        shown = aside;
                    }
                    break;
                }
            }
        }
    }
    eprintln!("warning: {}", cannot_remove(&shown, &e, what));
}

/// Temporary files (`.dosesim-*.tmp`) and half-built folders (`.dosesim-*.new`) a killed
/// run left in `dir`, and folders a run could not remove (`.dosesim-*.del`); a folder set
/// aside for a swap that never finished (`.dosesim-NAME.old` without `NAME`) is put back.
/// The caller holds `dir`'s lock. What cannot be removed is named in a warning, and the
/// run goes on.
fn remove_leftovers(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".dosesim-") else {
            continue;
        };
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if rest.ends_with(".tmp") && kind.is_file() {
            if let Err(e) = std::fs::remove_file(&path) {
                eprintln!(
                    "warning: cannot remove {}, a temporary file an earlier dosesim run left: {e}; remove it (rm '{}')",
                    path.display(),
                    path.display()
                );
            }
        } else if rest.ends_with(".new") && kind.is_dir() {
            discard_folder(&path, "a folder an earlier dosesim run left half-built");
        } else if rest.ends_with(".del") && kind.is_dir() {
            discard_folder(&path, "a folder an earlier dosesim run replaced");
        } else if let Some(base) = rest.strip_suffix(".old")
            && kind.is_dir()
        {
            let target = dir.join(base);
            if target.exists() {
                discard_folder(&path, "a folder an earlier dosesim run replaced");
            } else {
                std::fs::rename(&path, &target).with_context(|| {
                    format!(
                        "cannot put back {} as {}, where an interrupted dosesim run set it aside: move it back by hand",
                        path.display(),
                        target.display()
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// Whether a path relative to a folder is a leftover of a dosesim run (a temporary file,
/// a half-built, set-aside or unremovable folder, or something in one), never kept.
fn is_leftover(rel: &str) -> bool {
    rel.split('/').any(|part| {
        part.strip_prefix(".dosesim-").is_some_and(|r| {
            r.ends_with(".tmp") || r.ends_with(".new") || r.ends_with(".old") || r.ends_with(".del")
        })
    })
}

/// The files of the folder `dir` that dosesim did not make there (the user's own, kept by
/// a swap), relative to it: every file but those its manifest lists, the manifest and
/// leftovers of dosesim runs. A folder without a manifest holds none of dosesim's.
fn user_files(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let made = made_files(dir)?;
    Ok(list_files(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .into_iter()
        .filter(|f| f != MANIFEST_FILE && !made.contains(f) && !is_leftover(f))
        .collect())
}

/// The files the manifest of `dir` lists as dosesim's (none without a manifest), read as
/// `manifest::Manifest::read` reads it, whose other fields a swap does not need.
fn made_files(dir: &Path) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Listed {
        files: Vec<String>,
    }
    let path = dir.join(MANIFEST_FILE);
    let problem =
        |message: String| anyhow::anyhow!("{}", InputError::one(Problem::new(&path, message)));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Listed>(&bytes)
            .map(|l| l.files)
            .map_err(|e| {
                problem(format!(
                    "not a dosesim manifest ({e}); move the folder aside or choose another --out"
                ))
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(problem(format!("cannot read: {e}"))),
    }
}

/// Every file under `dir`, relative to it with `/` separators, sorted.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel: PathBuf = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
                out.push(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Replaces the folder `target` as a whole: `fill` builds the new one beside it, the
/// files of the old one that dosesim did not make (`user_files`, a user's own) are
/// linked into it as they stand when it is complete, and two renames swap it in. Until the
/// new folder is complete the old one is untouched; a failure leaves it as it was. The
/// caller holds the lock of `target`'s folder, which every dosesim run writing into
/// `target` takes ([`lock_out_file`]), so that no file of dosesim's is written into the
/// old folder meanwhile; a file a user writes meanwhile is kept.
pub fn swap_folder<T>(target: &Path, fill: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let parent = folder_of(target);
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .context("an output folder needs a name")?;
    let new = parent.join(format!(".dosesim-{name}.new"));
    let old = parent.join(format!(".dosesim-{name}.old"));
    if std::fs::symlink_metadata(&new).is_ok() {
        discard_folder(&new, "a folder an earlier dosesim run left half-built");
        if std::fs::symlink_metadata(&new).is_ok() {
            bail!(
                "cannot remove or move {}, left by an earlier run: remove it by hand, then run again",
                new.display()
            );
        }
    }
    // A replaced folder an earlier run could not remove is moved out of the way.
    if old.exists() && target.exists() {
        discard_folder(&old, "a folder an earlier dosesim run replaced");
    }
    std::fs::create_dir_all(&new).with_context(|| format!("cannot create {}", new.display()))?;
    let built = fill(&new).and_then(|made| {
        // What a killed run left in the old folder goes; what a user put there, as it
        // stands now, comes along.
        if target.is_dir() {
            remove_leftovers(target)?;
        }
        carry(target, &new, &user_files(target)?)?;
        Ok(made)
    });
    let made = match built {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&new);
            return Err(out_of_space(e, target));
        }
    };
    if target.exists() {
        std::fs::rename(target, &old)
            .with_context(|| format!("cannot set {} aside", target.display()))?;
        if let Err(e) = std::fs::rename(&new, target) {
            let _ = std::fs::rename(&old, target);
            return Err(e).with_context(|| format!("cannot move the new {} in", target.display()));
        }
        // A file a user wrote in the moment between the listing and the first rename.
        match keep_late(&old, target) {
            Ok(()) => discard_folder(
                &old,
                &format!(
                    "the folder this run replaced; the new {} is in place",
                    target.display()
                ),
            ),
            // Then the old folder is kept whole, under a name no run removes.
            Err(e) => {
                let kept = (1..1000)
                    .map(|k| parent.join(format!("{name}.replaced-{k}")))
                    .find(|p| std::fs::symlink_metadata(p).is_err())
                    .filter(|p| std::fs::rename(&old, p).is_ok())
                    .unwrap_or(old);
                eprintln!(
                    "warning: {e:#}; the folder {} replaced is kept whole as {}: move what is yours from it, then remove it",
                    target.display(),
                    kept.display()
                );
            }
        }
    } else {
        std::fs::rename(&new, target)
            .with_context(|| format!("cannot move the new {} in", target.display()))?;
    }
    Ok(made)
}

/// Moves into the new folder `target` each file of the user's in the replaced folder `old`
/// that it lacks: one written after the files to keep were listed.
fn keep_late(old: &Path, target: &Path) -> Result<()> {
    for rel in user_files(old)? {
        let (from, to) = (old.join(&rel), target.join(&rel));
        if std::fs::symlink_metadata(&to).is_err() {
            if let Some(p) = to.parent() {
                std::fs::create_dir_all(p)
                    .with_context(|| format!("cannot create {}", p.display()))?;
            }
            std::fs::rename(&from, &to)
                .with_context(|| format!("cannot keep {}", from.display()))?;
        }
    }
    Ok(())
}

/// Links (or copies) each of `files` of `from` into the folder `to` being built; a file of
/// that name made by this run stops it, naming the file.
fn carry(from: &Path, to: &Path, files: &[String]) -> Result<()> {
    for rel in files {
        let (src, dst) = (from.join(rel), to.join(rel));
        if dst.exists() {
            bail!(
                "{} is not dosesim's (the folder's manifest does not list it), and this run would write a file of that name: move it, then run again",
                src.display()
            );
        }
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
        }
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).with_context(|| format!("cannot keep {}", src.display()))?;
        }
    }
    Ok(())
}

/// `e`, and when it is a full disk (or quota), what replacing the folder `target` needs:
/// room for the new folder beside the old one.
fn out_of_space(e: anyhow::Error, target: &Path) -> anyhow::Error {
    let full = e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ) || matches!(io.raw_os_error(), Some(28 | 122))
        })
    });
    if !full {
        return e;
    }
    let advice = if target.is_dir() {
        format!(
            "dosesim builds the new {t} beside the old one and swaps them only when it is complete, so a rerun needs free space for two copies of the folder (it holds {} now): free that much space, or name another --out, and run again; {t} is as it was",
            mb(folder_size(target)),
            t = target.display()
        )
    } else {
        format!(
            "free space, or name another --out, and run again (nothing was written to {})",
            target.display()
        )
    };
    e.context(format!("the disk is full: {advice}"))
}

/// The bytes of the files under `dir`.
fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// "12.3 MB" (decimal megabytes, one decimal).
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
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

    /// A manifest that lists `files` as dosesim's, as a trial folder's does.
    fn manifest_listing(files: &[&str]) -> String {
        let listed: Vec<String> = files.iter().map(|f| format!("\"{f}\"")).collect();
        format!(
            r#"{{"made_by": "dosesim test", "command": ["dosesim"], "inputs": [],
               "contents": {{"trial_id": "T", "trial_title": "t", "condition": "c", "arms": [],
                            "patients": 0, "doses": 0, "summary": ""}},
               "files": [{}]}}"#,
            listed.join(", ")
        )
    }

    /// A trial folder `T` in `out` made by dosesim (pharmacy.csv, its manifest), with a
    /// file of the user's in patients/.
    fn trial_folder(out: &Path) -> PathBuf {
        let target = out.join("T");
        std::fs::create_dir_all(target.join("patients")).unwrap();
        std::fs::write(target.join("pharmacy.csv"), "old").unwrap();
        std::fs::write(
            target.join(crate::manifest::FILE),
            manifest_listing(&["manifest.json", "pharmacy.csv"]),
        )
        .unwrap();
        std::fs::write(target.join("patients/notes.csv"), "mine").unwrap();
        target
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_folder_swap_that_fails_midway_leaves_the_old_folder_whole() {
        let out = tempfile::tempdir().unwrap();
        let target = trial_folder(out.path());
        let _lock = lock_folder(out.path()).unwrap();
        let r: Result<()> = swap_folder(&target, |dir| {
            std::fs::write(dir.join("pharmacy.csv"), "new")?;
            bail!("disk full")
        });
        assert!(r.is_err());
        assert_eq!(
            std::fs::read_to_string(target.join("pharmacy.csv")).unwrap(),
            "old"
        );
        assert_eq!(names_in(out.path()), ["T"], "no half-built folder left");

        // A swap that completes replaces dosesim's files and keeps the user's.
        swap_folder(&target, |dir| {
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
        assert_eq!(names_in(out.path()), ["T"], "no folder left beside it");
    }

    /// Issue 21, item 2: the files to keep are those of the old folder when the new one is
    /// complete, not when the rebuild starts: a file a user writes meanwhile is kept.
    #[test]
    fn a_file_written_into_the_folder_during_its_rebuild_is_kept() {
        let out = tempfile::tempdir().unwrap();
        let target = trial_folder(out.path());
        let _lock = lock_folder(out.path()).unwrap();
        swap_folder(&target, |dir| {
            // The user writes while the new folder is being made.
            std::fs::write(target.join("notes.txt"), "written meanwhile")?;
            std::fs::write(target.join("patients/P1.txt"), "also")?;
            std::fs::write(dir.join("pharmacy.csv"), "new")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("notes.txt")).unwrap(),
            "written meanwhile"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("patients/P1.txt")).unwrap(),
            "also"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("patients/notes.csv")).unwrap(),
            "mine"
        );
    }

    /// A file written in the moment between the listing of the files to keep and the
    /// swap is moved from the replaced folder into the new one, not removed with it.
    #[test]
    fn a_file_written_just_before_the_swap_is_moved_into_the_new_folder() {
        let out = tempfile::tempdir().unwrap();
        let old = trial_folder(out.path());
        std::fs::write(old.join("patients/late.txt"), "late").unwrap();
        let new = out.path().join("new");
        std::fs::create_dir_all(new.join("patients")).unwrap();
        std::fs::write(new.join("patients/notes.csv"), "mine, linked").unwrap();
        keep_late(&old, &new).unwrap();
        assert_eq!(
            std::fs::read_to_string(new.join("patients/late.txt")).unwrap(),
            "late"
        );
        assert_eq!(
            std::fs::read_to_string(new.join("patients/notes.csv")).unwrap(),
            "mine, linked",
            "what the new folder has already is left alone"
        );
        assert!(!new.join("pharmacy.csv").exists(), "dosesim's stay behind");
    }

    /// Issue 21, item 3: a temporary file a killed `prep --out T/x.html` left in a trial
    /// folder is not carried into the new one (it was before: it is not in the manifest).
    #[test]
    fn temporary_files_in_the_old_folder_are_not_kept() {
        let out = tempfile::tempdir().unwrap();
        let target = trial_folder(out.path());
        std::fs::write(target.join(".dosesim-k1ll3d.tmp"), "half a sheet").unwrap();
        std::fs::write(target.join("patients/.dosesim-x.tmp"), "half").unwrap();
        let _lock = lock_folder(out.path()).unwrap();
        swap_folder(&target, |dir| {
            std::fs::write(dir.join("pharmacy.csv"), "new")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            names_in(&target),
            ["patients", "pharmacy.csv"],
            "the manifest is this run's to write; the temporary file is gone"
        );
        assert_eq!(names_in(&target.join("patients")), ["notes.csv"]);
    }

    /// Issue 21, item 14: a swap that runs out of space says that a rerun needs room for
    /// two copies of the folder.
    #[test]
    fn a_full_disk_during_a_swap_says_it_needs_room_for_two_copies() {
        let out = tempfile::tempdir().unwrap();
        let target = trial_folder(out.path());
        let _lock = lock_folder(out.path()).unwrap();
        let r: Result<()> = swap_folder(&target, |dir| {
            atomic_with(&dir.join("pharmacy.csv"), |_| {
                Err(io::Error::from(io::ErrorKind::StorageFull))
            })
        });
        let e = format!("{:#}", r.unwrap_err());
        assert!(
            e.contains("the disk is full") && e.contains("two copies of the folder"),
            "{e}"
        );
        assert!(e.contains(&target.display().to_string()), "{e}");
        assert_eq!(
            std::fs::read_to_string(target.join("pharmacy.csv")).unwrap(),
            "old"
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
