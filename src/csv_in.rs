//! One reader for every CSV a user gives: the roster ([`crate::roster`]), the
//! administration record ([`crate::record`]) and a site calendar's holiday CSV
//! ([`crate::site`]). In one place:
//!
//! - the header ([`Header`]): its names matched as a spreadsheet may save them (a
//!   byte-order mark before the first, another letter case, spaces around), a name given
//!   twice, and a file saved with tabs or semicolons between its columns or as UTF-16;
//! - line numbers, counted from each row's byte offset (the header is line 1), so that CRLF
//!   line ends, blank lines and quoted values holding line breaks do not shift them: the
//!   csv crate's own line count is one short after a CRLF line end and after blank lines;
//! - the slicing of a large file without quotes (the usual machine-written kind) at line
//!   ends ([`slices`]), each slice knowing the line it starts on, so that its rows can be
//!   checked in parallel and the slices joined in file order.

use std::path::Path;

use crate::error::{InputError, Problem};

/// A file over this many bytes, without quotes, is read in parallel slices.
const PARALLEL_BYTES: usize = 1 << 20;

/// A CSV file's header: its cells as written, and its names as they are matched.
#[derive(Debug, Clone)]
pub struct Header {
    cells: csv::ByteRecord,
    /// Trimmed, without a spreadsheet's byte-order mark on the first.
    names: Vec<String>,
}

impl Header {
    /// The header of a CSV file (`bytes`, the whole file); `path` names it in messages.
    pub fn read(path: &Path, bytes: &[u8]) -> Result<Header, InputError> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(bytes);
        let cells = rdr
            .byte_headers()
            .map_err(|e| {
                InputError::one(
                    Problem::new(path, format!("cannot read the header: {e}")).at(Some(1)),
                )
            })?
            .clone();
        let names = names(&cells);
        Ok(Header { cells, names })
    }

    /// The names as matched (trimmed, without a byte-order mark), in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many columns the header has: every row must have as many.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the header is empty (an empty file).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether column `k` is `name` (as [`name_is`] compares them).
    pub fn is(&self, k: usize, name: &str) -> bool {
        self.names.get(k).is_some_and(|n| name_is(n, name))
    }

    /// Where column `name` is (the first, if twice).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| name_is(n, name))
    }

    /// Whether the header has a column that is none of `known`.
    pub fn has_other_than(&self, known: &[&str]) -> bool {
        self.names
            .iter()
            .any(|n| !known.iter().any(|k| name_is(n, k)))
    }

    /// Where each of the `required` columns is, and a problem for each one missing.
    pub fn columns<const N: usize>(
        &self,
        path: &Path,
        required: &[&str; N],
    ) -> ([usize; N], Vec<Problem>) {
        let mut col = [usize::MAX; N];
        let mut problems = Vec::new();
        for (k, name) in required.iter().enumerate() {
            match self.find(name) {
                Some(i) => col[k] = i,
                None => problems.push(
                    Problem::new(
                        path,
                        format!(
                            "missing column '{name}' (the header needs {})",
                            required.join(",")
                        ),
                    )
                    .at(Some(1))
                    .field(*name),
                ),
            }
        }
        (col, problems)
    }

    /// Each column of `required` or `optional` that the header names more than once, as a
    /// problem naming every place it is in: dosesim would read one and ignore the other,
    /// whichever the spreadsheet put first.
    pub fn twice(&self, path: &Path, required: &[&str], optional: &[&str]) -> Vec<Problem> {
        let names = &self.names;
        let mut problems = Vec::new();
        for name in required.iter().chain(optional) {
            let at: Vec<usize> = (0..names.len()).filter(|&i| self.is(i, name)).collect();
            if at.len() > 1 {
                let places: Vec<String> = at
                    .iter()
                    .map(|&i| format!("column {} ('{}')", i + 1, names[i]))
                    .collect();
                problems.push(
                    Problem::new(
                        path,
                        format!(
                            "column '{name}' is in the header {} times: {}; dosesim would read one and ignore the other, so keep one (rename or delete the rest)",
                            at.len(),
                            places.join(" and ")
                        ),
                    )
                    .at(Some(1))
                    .field(*name),
                );
            }
        }
        problems
    }

    /// When a header read with commas holds tabs or semicolons between names (a file
    /// saved as tab-separated text, or with a locale's `;`), or is UTF-16, the problem in
    /// words, naming the columns `needed`.
    pub fn other_separator(&self, needed: &[&str]) -> Option<String> {
        let headers = &self.cells;
        // UTF-16 (a spreadsheet's "Unicode Text"): a byte-order mark, or a zero byte
        // beside every letter.
        let utf16 = headers.iter().any(|h| {
            h.starts_with(&[0xFF, 0xFE]) || h.starts_with(&[0xFE, 0xFF]) || h.contains(&0)
        });
        if utf16 {
            return Some(format!(
                "the file looks like UTF-16 text (as a spreadsheet saves \"Unicode Text\"), but dosesim reads CSV in UTF-8: save it as \"CSV UTF-8\", comma-separated (the header needs {})",
                needed.join(",")
            ));
        }
        let has = |sep: u8| {
            headers.iter().any(|h| {
                h.split(|&b| b == sep)
                    .filter(|p| !p.trim_ascii().is_empty())
                    .count()
                    > 1
            })
        };
        let (what, sep) = if has(b'\t') {
            ("tab-separated", "tabs")
        } else if has(b';') {
            ("semicolon-separated", "semicolons")
        } else {
            return None;
        };
        Some(format!(
            "the file looks {what} (there are {sep} between the names in its header), but dosesim reads CSV, with commas between the columns: save it as CSV, comma-separated (the header needs {})",
            needed.join(",")
        ))
    }
}

/// A header's names as they are matched: trimmed, without a spreadsheet's byte-order
/// mark on the first.
pub fn names(headers: &csv::ByteRecord) -> Vec<String> {
    headers
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let s = String::from_utf8_lossy(h);
            let s = if k == 0 {
                s.trim_start_matches('\u{feff}')
            } else {
                &s
            };
            s.trim().to_string()
        })
        .collect()
}

/// Whether a header name (as [`names`] gives it) is column `wanted`: as written, or in
/// another letter case (`Site`, `Patient_ID`), as a spreadsheet may save it.
pub fn name_is(name: &str, wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted)
}

/// Whether every cell of a row is empty or spaces: a blank line, skipped.
pub fn is_blank(row: &csv::ByteRecord) -> bool {
    row.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

/// A piece of a CSV file, with the line its first byte is on.
#[derive(Debug, Clone, Copy)]
pub struct Slice<'a> {
    data: &'a [u8],
    first_line: usize,
    /// Whether the piece starts with the file's header (then skipped).
    header: bool,
}

/// A whole CSV file (header and all), read in one pass.
pub fn whole(bytes: &[u8]) -> Slice<'_> {
    Slice {
        data: bytes,
        first_line: 1,
        header: true,
    }
}

/// The rows of a CSV file (`bytes`, header and all), as slices in file order: a file over
/// 1 MiB without quotes is cut at line ends into a few slices a thread, to be checked in
/// parallel; anything else is one slice ([`whole`]).
pub fn slices(bytes: &[u8]) -> Vec<Slice<'_>> {
    use rayon::prelude::*;
    let header_end = bytes.iter().position(|&b| b == b'\n').map(|i| i + 1);
    let Some(h) = header_end.filter(|_| bytes.len() > PARALLEL_BYTES && !bytes.contains(&b'"'))
    else {
        return vec![whole(bytes)];
    };
    let pieces = split_lines(&bytes[h..], rayon::current_num_threads().max(1) * 8);
    let newlines: Vec<usize> = pieces
        .par_iter()
        .map(|p| p.iter().filter(|&&b| b == b'\n').count())
        .collect();
    let mut first_line = 2;
    pieces
        .into_iter()
        .zip(newlines)
        .map(|(data, n)| {
            let slice = Slice {
                data,
                first_line,
                header: false,
            };
            first_line += n;
            slice
        })
        .collect()
}

/// `data` cut into about `n` pieces, each ending at a line end.
fn split_lines(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(n);
    let target = data.len().div_ceil(n.max(1)).max(1);
    let mut rest = data;
    while !rest.is_empty() {
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            rest[target..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| target + i + 1)
        };
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

impl<'a> Slice<'a> {
    /// The line ends in the slice: about its rows, to size what they fill.
    pub fn line_ends(&self) -> usize {
        self.data.iter().filter(|&&b| b == b'\n').count()
    }

    /// The slice's rows, one by one ([`Rows::read`]).
    pub fn rows(&self) -> Rows<'a> {
        Rows {
            rdr: csv::ReaderBuilder::new()
                .flexible(true)
                .has_headers(self.header)
                .from_reader(self.data),
            lines: LineCounter::new(self.data, self.first_line),
        }
    }
}

/// A row the CSV reader could not read, with the line it stopped on.
#[derive(Debug)]
pub struct Unreadable {
    pub line: Option<usize>,
    pub error: csv::Error,
}

/// The rows of a [`Slice`], each with its line. Rows may have more or fewer fields than
/// the header: each reader says what that means.
pub struct Rows<'a> {
    rdr: csv::Reader<&'a [u8]>,
    lines: LineCounter<'a>,
}

impl Rows<'_> {
    /// Reads the next row into `row` and gives its line; `None` after the last row.
    #[inline]
    pub fn read(&mut self, row: &mut csv::ByteRecord) -> Option<Result<usize, Unreadable>> {
        match self.rdr.read_byte_record(row) {
            Ok(false) => None,
            Ok(true) => Some(Ok(row
                .position()
                .map_or(0, |p| self.lines.at(p.byte() as usize)))),
            Err(error) => Some(Err(Unreadable {
                line: error.position().map(|p| self.lines.at(p.byte() as usize)),
                error,
            })),
        }
    }
}

/// Line numbers of byte offsets met in increasing order.
struct LineCounter<'a> {
    data: &'a [u8],
    /// Offset counted to, and the line it is on.
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(data: &'a [u8], first_line: usize) -> Self {
        LineCounter {
            data,
            at: 0,
            line: first_line,
        }
    }

    /// The line of the record starting at `offset`: the CSV reader's offset of a record
    /// may stand on the line end of the one before (CRLF) or on blank lines before it,
    /// which are skipped.
    #[inline]
    fn at(&mut self, offset: usize) -> usize {
        let mut start = offset.min(self.data.len());
        while start < self.data.len() && matches!(self.data[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.at {
            self.line += self.data[self.at..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.at = start;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row's line, as [`Rows`] gives it.
    fn lines_of(slice: Slice) -> Vec<(usize, String)> {
        let mut rows = slice.rows();
        let mut row = csv::ByteRecord::new();
        let mut out = Vec::new();
        while let Some(r) = rows.read(&mut row) {
            let line = r.unwrap();
            out.push((line, String::from_utf8_lossy(&row[0]).into_owned()));
        }
        out
    }

    #[test]
    fn lines_are_counted_from_byte_offsets() {
        let want: Vec<(usize, String)> = [(2, "a"), (4, "b"), (7, "c"), (8, "d")]
            .map(|(l, c)| (l, c.to_string()))
            .to_vec();
        for end in ["\n", "\r\n"] {
            // A blank line, a quoted value holding a line break, two blank lines.
            let text = ["x,y", "a,1", "", "b,\"two", "lines\"", "", "c,3", "d,4", ""].join(end);
            assert_eq!(lines_of(whole(text.as_bytes())), want, "{end:?}");
            let bom = format!("\u{feff}{text}");
            assert_eq!(lines_of(whole(bom.as_bytes())), want, "{end:?}");
        }
    }

    #[test]
    fn a_large_file_is_sliced_at_line_ends_and_keeps_its_lines() {
        for end in ["\n", "\r\n"] {
            let mut text = format!("id,n{end}");
            for i in 0..100_000 {
                text.push_str(&format!("r{i},{i}{end}"));
                if i % 1000 == 0 {
                    text.push_str(end);
                }
            }
            let pieces = slices(text.as_bytes());
            assert!(pieces.len() > 1);
            let rows: Vec<(usize, String)> = pieces.into_iter().flat_map(lines_of).collect();
            let whole_rows = lines_of(whole(text.as_bytes()));
            assert_eq!(rows.len(), 100_000);
            assert_eq!(rows, whole_rows);
            // Row i is on line i + 2, plus the blank lines before it.
            for (i, (line, id)) in rows.iter().enumerate() {
                assert_eq!(*id, format!("r{i}"));
                assert_eq!(*line, i + 2 + i.div_ceil(1000), "{end:?} row {i}");
            }
        }
    }

    #[test]
    fn header_names_are_matched_as_a_spreadsheet_saves_them() {
        let h = Header::read(
            Path::new("f.csv"),
            "\u{feff} Patient_ID ,ARM,arm\r\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(h.find("patient_id"), Some(0));
        assert_eq!(h.find("arm"), Some(1));
        assert!(h.is(2, "Arm"));
        assert!(!h.has_other_than(&["patient_id", "arm"]));
        let twice = h.twice(Path::new("f.csv"), &["arm"], &[]);
        assert_eq!(twice.len(), 1);
        assert!(
            twice[0]
                .message
                .contains("column 2 ('ARM') and column 3 ('arm')")
        );
        let (col, missing) = h.columns(Path::new("f.csv"), &["arm", "weight_kg"]);
        assert_eq!(col[0], 1);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].field.as_deref(), Some("weight_kg"));
    }
}
