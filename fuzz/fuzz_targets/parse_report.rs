//! Feeds arbitrary bytes to the credential report parser and evaluates every
//! row it returns. Any panic is a bug: a report from IAM, or from a user of
//! `orgscan evaluate`, must become rows, row errors or one parse error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orgscan::controls::{self, CONTROL_IDS};
use orgscan::report::parse_report;

fuzz_target!(|data: &[u8]| {
    let control_ids: Vec<String> = CONTROL_IDS.iter().map(|id| id.to_string()).collect();

    let rows = match parse_report(data) {
        Ok(rows) => rows,
        Err(err) => {
            // Error messages quote parts of the input; formatting must not panic.
            let _ = err.to_string();
            return;
        }
    };

    for row in &rows {
        match row {
            Ok(row) => {
                let _ = controls::findings_for_row(row, &control_ids);
            }
            Err(err) => {
                let _ = controls::error_findings_for_row(err, "111122223333", "aws", &control_ids);
            }
        }
    }
});
