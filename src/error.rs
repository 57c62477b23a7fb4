//! Errors: bad input (exit 2) is a list of [`Problem`]s, each naming the file and, where
//! there is one, the line and field, so that every problem of an input is reported at once.
//! Anything else (a failed write, say) is an ordinary `anyhow` error and exits 1.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The input file; `None` for a command-line flag (then `field` names the flag).
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// The field (or CSV column) at fault, in the file's own words.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Problem {
            file: Some(file.to_path_buf()),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    /// A problem with a command-line flag such as `--weight`.
    pub fn flag(flag: &str, message: impl Into<String>) -> Self {
        Problem {
            file: None,
            line: None,
            field: Some(flag.to_string()),
            message: message.into(),
        }
    }

    pub fn at(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            sep = ": ";
        }
        if let Some(field) = &self.field {
            write!(f, "{sep}{field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Bad input: the command exits with status 2 and writes nothing.
#[derive(Debug, thiserror::Error)]
pub struct InputError {
    pub problems: Vec<Problem>,
    /// Problems counted but not listed: the last of `problems` then says "... and N more
    /// problems", and the count at the top is of all of them.
    pub unlisted: usize,
}

impl InputError {
    pub fn new(problems: Vec<Problem>) -> Self {
        InputError {
            problems,
            unlisted: 0,
        }
    }

    pub fn one(problem: Problem) -> Self {
        InputError::new(vec![problem])
    }

    /// How many problems there are, listed or not.
    pub fn count(&self) -> usize {
        match self.unlisted {
            0 => self.problems.len(),
            n => self.problems.len() - 1 + n,
        }
    }

    /// `Ok(())` when there are no problems, else all of them as one error.
    pub fn check(problems: Vec<Problem>) -> Result<(), InputError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InputError::new(problems))
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.count();
        if n > 1 {
            writeln!(f, "{n} problems:")?;
        }
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if self.problems.len() > 1 {
                write!(f, "  ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// At most this many problems of one input file are listed; the rest are counted.
pub const MAX_LISTED: usize = 200;

/// The problems of one input, kept to the [`MAX_LISTED`] first by line and the rest
/// counted, so that a file of a million bad rows costs neither memory nor a screenful of
/// megabytes: "... and N more problems" comes last.
#[derive(Debug, Default)]
pub struct Capped {
    problems: Vec<Problem>,
    more: usize,
}

impl Capped {
    pub fn new() -> Self {
        Capped::default()
    }

    pub fn push(&mut self, p: Problem) {
        self.problems.push(p);
        // Trimmed to the first by line whenever twice the listed number are held: the
        // work stays linear in the problems met.
        if self.problems.len() >= 2 * MAX_LISTED {
            self.trim();
        }
    }

    /// Problems beyond those listed, counted elsewhere.
    pub fn count_more(&mut self, n: usize) {
        self.more += n;
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty() && self.more == 0
    }

    fn trim(&mut self) {
        self.problems.sort_by_key(|p| p.line);
        if self.problems.len() > MAX_LISTED {
            self.more += self.problems.len() - MAX_LISTED;
            self.problems.truncate(MAX_LISTED);
        }
    }

    /// The problems in line order (those without a line first), then "... and N more
    /// problems" (said of `path`) when some were left out.
    pub fn into_problems(mut self, path: &Path) -> Vec<Problem> {
        self.trim();
        if self.more > 0 {
            self.problems.push(Problem::new(
                path,
                format!("... and {} more problems", self.more),
            ));
        }
        self.problems
    }

    /// `Ok(())` when there are none, else all of them as one error whose count is of
    /// every problem, listed or not.
    pub fn check(self, path: &Path) -> Result<(), InputError> {
        let more = self.more;
        let problems = self.into_problems(path);
        match problems.is_empty() {
            true => Ok(()),
            false => Err(InputError {
                problems,
                unlisted: more,
            }),
        }
    }
}

impl Extend<Problem> for Capped {
    fn extend<I: IntoIterator<Item = Problem>>(&mut self, iter: I) {
        for p in iter {
            self.push(p);
        }
    }
}

/// 1-based line number of a byte offset in `text`. For one lookup; many lookups in one
/// text take a [`Lines`] index, which keeps them linear in the size of the text.
pub fn line_of(text: &str, offset: usize) -> usize {
    Lines::new(text).of(offset)
}

/// Where each line of a text starts, so that a byte offset's line is a binary search.
#[derive(Debug, Clone)]
pub struct Lines {
    /// Byte offsets of the line ends (`\n`).
    ends: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Self {
        Lines {
            ends: text
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The 1-based line of byte `offset`.
    pub fn of(&self, offset: usize) -> usize {
        self.ends.partition_point(|&e| e < offset) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_names_file_line_and_field() {
        let p = Problem::new(Path::new("s.toml"), "must be positive")
            .at(Some(12))
            .field("dose.cells_per_kg");
        assert_eq!(
            p.to_string(),
            "s.toml:12: dose.cells_per_kg: must be positive"
        );
    }

    #[test]
    fn all_problems_are_listed() {
        let e = InputError {
            unlisted: 0,
            problems: vec![
                Problem::new(Path::new("a"), "one"),
                Problem::new(Path::new("a"), "two"),
            ],
        };
        assert_eq!(e.to_string(), "2 problems:\n  a: one\n  a: two");
    }

    #[test]
    fn flag_problems_name_the_flag() {
        let p = Problem::flag("--weight", "must be a number");
        assert_eq!(p.to_string(), "--weight: must be a number");
    }

    #[test]
    fn many_problems_are_capped_in_line_order_and_counted_last() {
        let mut c = Capped::new();
        for line in (1..=1000).rev() {
            c.push(Problem::new(Path::new("r.csv"), "bad").at(Some(line)));
        }
        c.count_more(5);
        let ps = c.into_problems(Path::new("r.csv"));
        assert_eq!(ps.len(), MAX_LISTED + 1);
        let lines: Vec<Option<usize>> = ps[..MAX_LISTED].iter().map(|p| p.line).collect();
        assert_eq!(lines, (1..=MAX_LISTED).map(Some).collect::<Vec<_>>());
        assert_eq!(
            ps[MAX_LISTED].to_string(),
            format!("r.csv: ... and {} more problems", 1000 - MAX_LISTED + 5)
        );
        // Few problems: all listed, no count.
        let mut c = Capped::new();
        c.push(Problem::new(Path::new("r.csv"), "one").at(Some(3)));
        assert_eq!(c.into_problems(Path::new("r.csv")).len(), 1);
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        // The newline itself belongs to the line it ends.
        assert_eq!(line_of("a\nb\nc", 1), 1);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
