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
use memchr::{memchr, memchr2, memchr2_iter};

/// A byte with only its high bit set, in every lane of a `u64`.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// A byte with every bit but the high one set, in every lane of a `u64`.
const LOW_BITS: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// The comma, in every lane of a `u64`.
const COMMAS: u64 = 0x2C2C_2C2C_2C2C_2C2C;

/// The UTF-8 byte order mark, which some tools put before the header.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads the records of a CSV document one at a time.
pub struct Records<'a> {
    input: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// The 1-based line of `input[pos]`. `\n`, `\r\n` and a bare `\r` each
    /// end a line, as they each end a record.
    line: u64,
    /// The `csv_core` reader of the records that contain a double quote.
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
    /// The line as text and its offset in `data`, when it is all UTF-8: one
    /// check for the whole line instead of one per field. Its fields are
    /// on character boundaries, because commas are ASCII. Only unquoted
    /// records have it: the fields of a quoted record are unescaped into one
    /// buffer without their commas, where two fields can join into one
    /// character.
    text: Option<(&'r str, usize)>,
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

    /// Returns field `index` as text, or its bytes when they are not UTF-8;
    /// `None` past the last field.
    pub fn get_text(&self, index: usize) -> Option<Result<&'r str, &'r [u8]>> {
        let &(start, end) = self.spans.get(index)?;
        let raw = &self.data[start..end];
        let text = self
            .text
            .and_then(|(text, offset)| text.get(start - offset..end - offset))
            .or_else(|| std::str::from_utf8(raw).ok());
        Some(text.ok_or(raw))
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
        // one from a quoted record in the middle of the input, where the
        // `csv` crate keeps it too.
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
            if byte != b'\n' && byte != b'\r' {
                break;
            }
            self.line += u64::from(ends_line(self.input, self.pos));
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
        push_field_spans(line, self.pos, &mut self.spans);
        self.pos += line_len;

        Some(Record {
            data: self.input,
            spans: &self.spans,
            line: self.line,
            text: std::str::from_utf8(line).ok().map(|text| (text, self.pos - line_len)),
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
            // An empty slice marks the end of the input for `csv_core`.
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
                // `csv_core` ends a record once it is given the empty slice.
                // Stopping here too rules out a loop if that changes.
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

        let line_ends = memchr2_iter(b'\n', b'\r', &rest[..read])
            .filter(|&index| ends_line(self.input, self.pos + index))
            .count();
        self.line += line_ends as u64;
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
            text: None,
        }
    }
}

/// Tells whether the `\n` or `\r` at `input[index]` ends a line: a `\r`
/// followed by `\n` does not, because the `\n` ends that line.
fn ends_line(input: &[u8], index: usize) -> bool {
    input[index] == b'\n' || input.get(index + 1) != Some(&b'\n')
}

/// Appends the span of every comma-separated field of `line`, an unquoted
/// line that starts at `offset` in the input.
///
/// Eight bytes are tested at a time: XOR with commas turns each comma into a
/// zero byte, and the zero-byte test leaves the high bit set in exactly
/// those lanes, without carries from one lane into the next.
fn push_field_spans(line: &[u8], offset: usize, spans: &mut Vec<(usize, usize)>) {
    let mut start = 0;
    let mut words = line.chunks_exact(8);
    let mut word_start = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks_exact yields 8 bytes"));
        let zeros = word ^ COMMAS;
        let mut commas = !(((zeros & LOW_BITS) + LOW_BITS) | zeros | LOW_BITS) & HIGH_BITS;
        while commas != 0 {
            let comma = word_start + commas.trailing_zeros() as usize / 8;
            spans.push((offset + start, offset + comma));
            start = comma + 1;
            commas &= commas - 1;
        }
        word_start += 8;
    }
    for (index, &byte) in words.remainder().iter().enumerate() {
        if byte == b',' {
            let comma = word_start + index;
            spans.push((offset + start, offset + comma));
            start = comma + 1;
        }
    }
    spans.push((offset + start, offset + line.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &[u8]) -> Vec<&[u8]> {
        let mut spans = Vec::new();
        push_field_spans(line, 0, &mut spans);
        spans.iter().map(|&(start, end)| &line[start..end]).collect()
    }

    #[test]
    fn field_spans_match_split() {
        let lines: [&[u8]; 8] = [
            b"",
            b",",
            b"a",
            b"abcdefgh,ijklmnop,",
            b",,,,,,,,,,,,,,,,,",
            b"user,arn:aws:iam::111122223333:user/alice,2024-01-31T09:15:00+00:00,true",
            b"\xFF\xAC,\x2C\xAC\xAD,x",
            b"seven77,eight888,",
        ];
        for line in lines {
            let expected: Vec<&[u8]> = line.split(|&byte| byte == b',').collect();
            assert_eq!(fields(line), expected, "line {:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn field_spans_start_at_offset() {
        let mut spans = Vec::new();
        push_field_spans(b"ab,c", 10, &mut spans);
        assert_eq!(spans, [(10, 12), (13, 14)]);
    }
}
