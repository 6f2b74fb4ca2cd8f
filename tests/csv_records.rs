//! The report parser's CSV reader against the `csv` crate: on any input,
//! both read the same records, field for field, and each record starts on
//! the line counted from the input with `\n`, `\r\n` and bare `\r` line ends.

use orgscan::report::records::Records;
use proptest::prelude::*;

/// One record as the `csv` crate reads it: its start line and its fields.
type Expected = (u64, Vec<Vec<u8>>);

/// Reads `input` with the `csv` crate: no header handling, records of any
/// length, the default quoting and line ends.
fn read_with_csv_crate(input: &[u8]) -> Vec<Expected> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut records = Vec::new();
    while reader.read_byte_record(&mut record).expect("a byte slice reads without I/O errors") {
        let position = record.position().expect("a record read from input has a position");
        let fields = record.iter().map(<[u8]>::to_vec).collect();
        records.push((start_line(input, position), fields));
    }
    records
}

/// Returns the line a record starts on. The `csv` crate positions a record
/// at the end of the one before it, so the line ends in between are skipped
/// first. Its own line count counts `\n` only, so the lines are counted
/// here: `\n`, `\r\n` and a bare `\r` each end one.
fn start_line(input: &[u8], position: &csv::Position) -> u64 {
    let mut start = usize::try_from(position.byte()).expect("the position fits in memory");
    while matches!(input.get(start), Some(b'\n' | b'\r')) {
        start += 1;
    }
    let line_ends = input[..start]
        .iter()
        .enumerate()
        .filter(|&(index, &byte)| byte == b'\n' || (byte == b'\r' && input.get(index + 1) != Some(&b'\n')))
        .count();
    1 + line_ends as u64
}

fn read_with_records(input: &[u8]) -> Vec<Expected> {
    let mut records = Records::new(input);
    let mut read = Vec::new();
    while let Some(record) = records.next_record() {
        for index in 0..record.len() {
            let raw = record.get(index).expect("the field exists");
            let text = record.get_text(index).expect("the field exists");
            assert_eq!(text, std::str::from_utf8(raw).map_err(|_| raw), "field {index} as text");
        }
        read.push((record.line(), record.iter().map(<[u8]>::to_vec).collect()));
    }
    read
}

/// Bytes that matter to a CSV reader, and a few that do not.
fn csv_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"ab1 ".to_vec()),
        2 => Just(b','),
        2 => Just(b'"'),
        1 => Just(b'\n'),
        1 => Just(b'\r'),
        1 => any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn same_records_as_the_csv_crate(input in proptest::collection::vec(csv_byte(), 0..200)) {
        prop_assert_eq!(read_with_records(&input), read_with_csv_crate(&input));
    }

    #[test]
    fn same_records_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(read_with_records(&input), read_with_csv_crate(&input));
    }
}

#[test]
fn same_records_on_report_shapes() {
    let cases: [&[u8]; 11] = [
        b"user,arn\nalice,arn:aws:iam::111122223333:user/alice\n",
        b"user,arn\r\nalice,x\r\n\r\nbob,y",
        b"user,arn\rcarol,z\r",
        b"\n\nuser,arn\n\"quoted, name\",\"multi\nline\"\nnext,row\n",
        b"a,\"b\"\"c\",d\n\"\"\n,\n",
        b"\"unterminated,field\nstill,inside",
        b"x\"y,z\n",
        b"\xEF\xBB\xBFa,b\n\xEF\xBB\xBF\"c\",d\n",
        b"",
        b"\r\n\n\r",
        // Unescaped, the fields of a quoted record are joined without
        // commas, so `\xC2` and `\x80` from two fields make one character.
        b"aa\"a\"a\xC2,,\x80a",
    ];
    for input in cases {
        assert_eq!(
            read_with_records(input),
            read_with_csv_crate(input),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}
