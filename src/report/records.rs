//! The CSV record reader under the credential report parser.
//!
//! It reads the same records as the `csv` crate with its default settings:
//! comma, double quotes, `\n`, `\r` or `\r\n` line ends, blank lines
//! skipped, a leading byte order mark dropped. `tests/csv_records.rs` checks
//! that on arbitrary input. A line without a double quote, which is every
//! line IAM writes, is split at its commas where it lies, without copying. A
//! line with a quote goes through `csv_core`, which unescapes it into a
//! buffer and reads on past line ends inside quotes.

use csv_core::ReadRecordResult;
use memchr::{memchr, memchr_iter, memchr2};

/// The UTF-8 byte order mark, which some tools put before the header.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads the records of a CSV document one at a time.
pub struct Records<'a> {
    input: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// The 1-based line of `input[pos]`, counting `\n` only, as `csv` does.
    line: u64,
    /// Reads the records that contain a double quote.
    quoted_reader: csv_core::Reader,
    /// The unescaped fields of the last quoted record, and their ends.
    quoted: Vec<u8>,
    quoted_ends: Vec<usize>,
    /// The byte range of each field of the last record, in `input` for an
    /// unquoted record or in `quoted` for a quoted one.
    spans: Vec<(usize, usize)>,
}

/// One record: its fields and the line it starts on.
#[derive(Debug, Clone, Copy)]
pub struct Record<'r> {
    data: &'r [u8],
    spans: &'r [(usize, usize)],
    line: u64,
}

impl<'r> Record<'r> {
    /// Returns the number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Tells whether the record has no field; never true for a record read
    /// from input, which has at least one, possibly empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Returns field `index`, or `None` past the last field.
    pub fn get(&self, index: usize) -> Option<&'r [u8]> {
        self.spans
            .get(index)
            .map(|&(start, end)| &self.data[start..end])
    }

    /// Returns the fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &'r [u8]> + '_ {
        (0..self.len()).filter_map(|index| self.get(index))
    }

    /// Returns the 1-based line on which the record starts.
    pub fn line(&self) -> u64 {
        self.line
    }
}

impl<'a> Records<'a> {
    /// Starts reading `input` on line 1, after a UTF-8 byte order mark if
    /// the input starts with one.
    pub fn new(input: &'a [u8]) -> Self {
        let input = input.strip_prefix(UTF8_BOM).unwrap_or(input);
        let mut quoted_reader = csv_core::Reader::new();
        // `csv_core` strips a byte order mark from the first record it
        // reads. Reading a throwaway record first keeps it from stripping
        // one from a quoted record in the middle of the input, as the `csv`
        // crate never does either.
        let _ = quoted_reader.read_record(b"-\n", &mut [0; 4], &mut [0; 4]);

        Records {
            input,
            pos: 0,
            line: 1,
            quoted_reader,
            quoted: Vec::new(),
            quoted_ends: Vec::new(),
            spans: Vec::new(),
        }
    }

    /// Reads the next record, or returns `None` at the end of the input.
    pub fn next_record(&mut self) -> Option<Record<'_>> {
        // Line ends before a record, blank lines included, belong to no record.
        while let Some(&byte) = self.input.get(self.pos) {
            match byte {
                b'\n' => self.line += 1,
                b'\r' => {}
                _ => break,
            }
            self.pos += 1;
        }
        if self.pos >= self.input.len() {
            return None;
        }

        let rest = &self.input[self.pos..];
        let line_len = memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
        let line = &rest[..line_len];
        if memchr(b'"', line).is_some() {
            return Some(self.read_quoted());
        }

        self.spans.clear();
        let mut start = self.pos;
        for comma in memchr_iter(b',', line) {
            self.spans.push((start, self.pos + comma));
            start = self.pos + comma + 1;
        }
        self.spans.push((start, self.pos + line_len));
        self.pos += line_len;

        Some(Record {
            data: self.input,
            spans: &self.spans,
            line: self.line,
        })
    }

    /// Reads one record that contains a double quote with `csv_core`.
    fn read_quoted(&mut self) -> Record<'_> {
        let start_line = self.line;
        let rest = &self.input[self.pos..];
        if self.quoted.len() < 256 {
            self.quoted.resize(256, 0);
        }
        if self.quoted_ends.len() < 32 {
            self.quoted_ends.resize(32, 0);
        }

        let (mut read, mut written, mut fields) = (0, 0, 0);
        loop {
            // An empty slice tells `csv_core` that the input has ended.
            let (result, nin, nout, nend) = self.quoted_reader.read_record(
                &rest[read..],
                &mut self.quoted[written..],
                &mut self.quoted_ends[fields..],
            );
            let ended = read == rest.len();
            read += nin;
            written += nout;
            fields += nend;
            match result {
                // `csv_core` always ends a record once told the input has
                // ended; stopping here too rules out a loop if that changes.
                ReadRecordResult::InputEmpty if ended => break,
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    let len = self.quoted.len();
                    self.quoted.resize(len * 2, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let len = self.quoted_ends.len();
                    self.quoted_ends.resize(len * 2, 0);
                }
                ReadRecordResult::Record | ReadRecordResult::End => break,
            }
        }

        let consumed = &rest[..read];
        self.line += memchr_iter(b'\n', consumed).count() as u64;
        self.pos += read;

        self.spans.clear();
        let mut start = 0;
        for &end in &self.quoted_ends[..fields] {
            self.spans.push((start, end));
            start = end;
        }

        Record {
            data: &self.quoted,
            spans: &self.spans,
            line: start_line,
        }
    }
}
