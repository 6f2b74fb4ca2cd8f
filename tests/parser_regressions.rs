//! Edge inputs for `orgscan::report::parse_report`, which the fuzz target in
//! fuzz/ drives (scripts/fuzz.sh runs it). A crash input that fuzzing finds
//! becomes a case in this table. The other cases cover input shapes that
//! are easy to get wrong: no header, bytes that are not UTF-8, stray quotes,
//! carriage-return line ends and out-of-range timestamps.
//!
//! Each case states what the parser must return: a whole-report error, or
//! rows and row errors. Every case also evaluates the rows, as a scan does,
//! because the fuzz target checks that no step panics.

use orgscan::controls::{self, CONTROL_IDS};
use orgscan::report::{ParseError, parse_report};

const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,\
password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,\
access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,\
access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,\
cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// What the parser must make of one input.
#[derive(Debug)]
enum Expected {
    /// The whole report is rejected with this error variant.
    ReportError(fn(&ParseError) -> bool),
    /// The report parses into this many good rows and this many row errors.
    Rows { good: usize, bad: usize },
}

/// Parses `input`, evaluates every row and checks the outcome against `expected`.
fn check(name: &str, input: &[u8], expected: Expected) {
    let control_ids: Vec<String> = CONTROL_IDS.iter().map(|id| id.to_string()).collect();
    let result = parse_report(input);

    match (result, expected) {
        (Err(err), Expected::ReportError(is_expected)) => {
            assert!(is_expected(&err), "{name}: unexpected error {err:?}");
            assert!(!err.to_string().is_empty(), "{name}: empty error message");
        }
        (Ok(rows), Expected::Rows { good, bad }) => {
            let good_rows = rows.iter().filter(|row| row.is_ok()).count();
            let bad_rows = rows.len() - good_rows;
            assert_eq!(good_rows, good, "{name}: good rows in {rows:?}");
            assert_eq!(bad_rows, bad, "{name}: row errors in {rows:?}");
            for row in &rows {
                match row {
                    Ok(row) => assert!(!controls::findings_for_row(row, &control_ids).is_empty(), "{name}"),
                    Err(err) => {
                        assert!(err.line >= 1, "{name}: row error without a line: {err:?}");
                        let findings = controls::error_findings_for_row(err, "111122223333", "aws", &control_ids);
                        assert_eq!(findings.len(), control_ids.len(), "{name}");
                    }
                }
            }
        }
        (result, expected) => panic!("{name}: expected {expected:?}, got {result:?}"),
    }
}

fn report(rows: &[&str]) -> Vec<u8> {
    let mut text = String::from(HEADER);
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text.into_bytes()
}

const GOOD_ROW: &str = "alice,arn:aws:iam::111122223333:user/alice,2019-10-21T16:22:54+00:00,true,\
2024-05-01T08:30:12+00:00,2023-11-02T10:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,\
false,N/A,false,N/A";

#[test]
fn parser_edge_inputs_table() {
    let lone_bom: &[u8] = b"\xef\xbb\xbf";
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("empty input", Vec::new(), Expected::ReportError(|err| matches!(err, ParseError::Empty))),
        ("byte order mark only", lone_bom.to_vec(), Expected::ReportError(|err| matches!(err, ParseError::Empty))),
        (
            "header of invalid UTF-8",
            b"\xff\xfe,arn\n".to_vec(),
            Expected::ReportError(|err| matches!(err, ParseError::HeaderNotUtf8 { line: 1, column: 1 })),
        ),
        (
            "header without mfa_active",
            b"user,arn,password_enabled\nalice,arn:aws:iam::111122223333:user/alice,true\n".to_vec(),
            Expected::ReportError(|err| matches!(err, ParseError::MissingColumns { line: 1, .. })),
        ),
        (
            "header with a column twice",
            format!("{HEADER},mfa_active\n").into_bytes(),
            Expected::ReportError(|err| matches!(err, ParseError::DuplicateColumn { line: 1, .. })),
        ),
        ("header only", format!("{HEADER}\n").into_bytes(), Expected::Rows { good: 0, bad: 0 }),
        ("one good row", report(&[GOOD_ROW]), Expected::Rows { good: 1, bad: 0 }),
        (
            "carriage returns only",
            report(&[GOOD_ROW, GOOD_ROW]).iter().map(|&byte| if byte == b'\n' { b'\r' } else { byte }).collect(),
            Expected::Rows { good: 2, bad: 0 },
        ),
        ("short row", report(&["alice,arn:aws:iam::111122223333:user/alice"]), Expected::Rows { good: 0, bad: 1 }),
        ("row of one empty field", report(&["\"\""]), Expected::Rows { good: 0, bad: 1 }),
        (
            "row with a NUL byte in the user name",
            report(&[&GOOD_ROW.replacen("alice", "al\0ice", 1)]),
            Expected::Rows { good: 1, bad: 0 },
        ),
        (
            "row of invalid UTF-8 in the user name",
            {
                let mut bytes = report(&[GOOD_ROW]);
                let at = HEADER.len() + 1;
                bytes[at] = 0xff;
                bytes
            },
            Expected::Rows { good: 0, bad: 1 },
        ),
        (
            "unterminated quote runs to the end",
            report(&[GOOD_ROW, "\"bob,arn:aws:iam::111122223333:user/bob"]),
            Expected::Rows { good: 1, bad: 1 },
        ),
        (
            "timestamp with an out-of-range month",
            report(&[&GOOD_ROW.replacen("2019-10-21", "2019-13-21", 1)]),
            Expected::Rows { good: 0, bad: 1 },
        ),
        (
            "timestamp with a huge year",
            report(&[&GOOD_ROW.replacen("2019-10-21T16:22:54+00:00", "999999999-10-21T16:22:54+00:00", 1)]),
            Expected::Rows { good: 0, bad: 1 },
        ),
    ];

    for (name, input, expected) in cases {
        check(name, &input, expected);
    }
}
