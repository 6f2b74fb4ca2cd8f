//! Property tests of the credential report parser: arbitrary input never
//! panics, generated rows come back typed, and column order does not matter.

use chrono::{DateTime, FixedOffset, Utc};
use orgscan::report::parse::{STANDARD_COLUMNS, parse_report};
use orgscan::report::{EpochMillis, ReportRow};
use proptest::prelude::*;

/// Latest timestamp generated, 9999-12-31T23:59:59Z, because the report's
/// four-digit years end there.
const MAX_MILLIS: EpochMillis = 253_402_300_799_000;

/// One generated field: the text written to the CSV and the value the parser
/// must return for it.
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    value: Value,
}

#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Timestamp(Option<EpochMillis>),
    Boolean(Option<bool>),
    OptionalText(Option<String>),
}

fn no_value_marker() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("N/A"), Just("not_supported"), Just("no_information")]
}

fn timestamp_cell() -> impl Strategy<Value = Cell> {
    let present = (
        0..=MAX_MILLIS / 1000,
        0..1000i64,
        -12 * 60..=14 * 60i32,
        0..4u8,
    )
        .prop_map(|(seconds, extra_millis, offset_minutes, shape)| {
            let (millis, text) = render_timestamp(seconds, extra_millis, offset_minutes, shape);
            Cell {
                text,
                value: Value::Timestamp(Some(millis)),
            }
        });
    let absent = no_value_marker().prop_map(|marker| Cell {
        text: marker.to_owned(),
        value: Value::Timestamp(None),
    });

    prop_oneof![3 => present, 1 => absent]
}

/// Renders a timestamp in one of the ISO 8601 shapes: `+00:00` as IAM writes
/// it, `Z`, milliseconds with `Z`, or another offset.
fn render_timestamp(
    seconds: i64,
    extra_millis: i64,
    offset_minutes: i32,
    shape: u8,
) -> (EpochMillis, String) {
    let whole = DateTime::<Utc>::from_timestamp(seconds, 0).expect("seconds in range");

    match shape {
        0 => (
            seconds * 1000,
            whole.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        ),
        1 => (
            seconds * 1000,
            whole.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        2 => {
            let millis = seconds * 1000 + extra_millis;
            let precise = DateTime::<Utc>::from_timestamp_millis(millis).expect("millis in range");
            (millis, precise.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        _ => {
            let offset = FixedOffset::east_opt(offset_minutes * 60).expect("offset in range");
            let local = whole.with_timezone(&offset);
            // A shifted year outside 0000..=9999 cannot be written in four digits.
            if !(0..=9999).contains(&chrono::Datelike::year(&local)) {
                return (
                    seconds * 1000,
                    whole.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
                );
            }
            (
                seconds * 1000,
                local.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            )
        }
    }
}

fn boolean_cell() -> impl Strategy<Value = Cell> {
    let present = (any::<bool>(), any::<bool>()).prop_map(|(value, upper)| {
        let text = match (value, upper) {
            (true, false) => "true",
            (true, true) => "TRUE",
            (false, false) => "false",
            (false, true) => "FALSE",
        };
        Cell {
            text: text.to_owned(),
            value: Value::Boolean(Some(value)),
        }
    });
    let absent = no_value_marker().prop_map(|marker| Cell {
        text: marker.to_owned(),
        value: Value::Boolean(None),
    });

    prop_oneof![3 => present, 1 => absent]
}

fn optional_text_cell(pattern: &'static str) -> impl Strategy<Value = Cell> {
    let present = pattern.prop_map(|text| Cell {
        text: text.clone(),
        value: Value::OptionalText(Some(text)),
    });
    let absent = Just(Cell {
        text: "N/A".to_owned(),
        value: Value::OptionalText(None),
    });

    prop_oneof![3 => present, 1 => absent]
}

/// Generates the user and ARN cells together, so the ARN ends with the user
/// name, under an IAM path of zero to two levels.
fn identity_cells() -> impl Strategy<Value = (Cell, Cell)> {
    // IAM user names: letters, digits and `+=,.@_-`, 1 to 64 characters. The
    // comma makes the CSV writer quote the field.
    ("[A-Za-z0-9+=,.@_-]{1,64}", "([a-z]{1,8}/){0,2}").prop_map(|(user, path)| {
        let arn = format!("arn:aws:iam::111122223333:user/{path}{user}");
        (
            Cell {
                text: user.clone(),
                value: Value::Text(user),
            },
            Cell {
                text: arn.clone(),
                value: Value::Text(arn),
            },
        )
    })
}

/// Generates all 22 cells of one row, in [`STANDARD_COLUMNS`] order.
fn row_cells() -> impl Strategy<Value = Vec<Cell>> {
    let typed: Vec<BoxedStrategy<Cell>> = STANDARD_COLUMNS[2..]
        .iter()
        .map(|column| {
            if column.ends_with("_region") {
                optional_text_cell("[a-z]{2}-[a-z]{4,9}-[1-3]").boxed()
            } else if column.ends_with("_service") {
                optional_text_cell("[a-z0-9-]{2,16}").boxed()
            } else if column.ends_with("_active") || *column == "password_enabled" {
                boolean_cell().boxed()
            } else {
                timestamp_cell().boxed()
            }
        })
        .collect();

    (identity_cells(), typed).prop_map(|((user, arn), typed)| {
        let mut cells = vec![user, arn];
        cells.extend(typed);
        cells
    })
}

/// Builds the row the parser must return for `cells` in standard order.
fn expected_row(cells: &[Cell]) -> ReportRow {
    let column = |name: &str| {
        let index = STANDARD_COLUMNS
            .iter()
            .position(|column| *column == name)
            .expect("standard column");
        &cells[index]
    };
    let text = |name: &str| match &column(name).value {
        Value::Text(text) => text.clone(),
        other => panic!("{name} is not text: {other:?}"),
    };
    let timestamp = |name: &str| match &column(name).value {
        Value::Timestamp(millis) => *millis,
        other => panic!("{name} is not a timestamp: {other:?}"),
    };
    let boolean = |name: &str| match &column(name).value {
        Value::Boolean(value) => *value,
        other => panic!("{name} is not a boolean: {other:?}"),
    };
    let optional_text = |name: &str| match &column(name).value {
        Value::OptionalText(text) => text.clone(),
        other => panic!("{name} is not optional text: {other:?}"),
    };

    ReportRow {
        user: text("user"),
        arn: text("arn"),
        user_creation_time: timestamp("user_creation_time"),
        password_enabled_raw: column("password_enabled").text.clone(),
        password_enabled: boolean("password_enabled"),
        password_last_used: timestamp("password_last_used"),
        password_last_changed: timestamp("password_last_changed"),
        password_next_rotation: timestamp("password_next_rotation"),
        mfa_active: boolean("mfa_active"),
        access_key_1_active: boolean("access_key_1_active"),
        access_key_1_last_rotated: timestamp("access_key_1_last_rotated"),
        access_key_1_last_used_date: timestamp("access_key_1_last_used_date"),
        access_key_1_last_used_region: optional_text("access_key_1_last_used_region"),
        access_key_1_last_used_service: optional_text("access_key_1_last_used_service"),
        access_key_2_active: boolean("access_key_2_active"),
        access_key_2_last_rotated: timestamp("access_key_2_last_rotated"),
        access_key_2_last_used_date: timestamp("access_key_2_last_used_date"),
        access_key_2_last_used_region: optional_text("access_key_2_last_used_region"),
        access_key_2_last_used_service: optional_text("access_key_2_last_used_service"),
        cert_1_active: boolean("cert_1_active"),
        cert_1_last_rotated: timestamp("cert_1_last_rotated"),
        cert_2_active: boolean("cert_2_active"),
        cert_2_last_rotated: timestamp("cert_2_last_rotated"),
    }
}

/// Layout choices for writing a generated report.
#[derive(Debug, Clone, Copy)]
struct Layout {
    byte_order_mark: bool,
    crlf: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (any::<bool>(), any::<bool>()).prop_map(|(byte_order_mark, crlf)| Layout {
        byte_order_mark,
        crlf,
    })
}

/// Writes a report whose columns are `order` (indexes into
/// [`STANDARD_COLUMNS`]), plus an unknown `extra` column when given.
fn write_report(
    rows: &[Vec<Cell>],
    order: &[usize],
    extra: Option<&str>,
    layout: Layout,
) -> Vec<u8> {
    let terminator = if layout.crlf {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut writer = csv::WriterBuilder::new()
        .terminator(terminator)
        .from_writer(Vec::new());

    let mut header: Vec<&str> = order.iter().map(|&index| STANDARD_COLUMNS[index]).collect();
    if extra.is_some() {
        header.push("extra_column");
    }
    writer.write_record(&header).expect("header written");

    for cells in rows {
        let mut record: Vec<&str> = order
            .iter()
            .map(|&index| cells[index].text.as_str())
            .collect();
        if let Some(extra) = extra {
            record.push(extra);
        }
        writer.write_record(&record).expect("row written");
    }

    let body = writer.into_inner().expect("writer flushed");
    if layout.byte_order_mark {
        [b"\xEF\xBB\xBF".as_slice(), &body].concat()
    } else {
        body
    }
}

fn parse_all(bytes: &[u8]) -> Vec<ReportRow> {
    parse_report(bytes)
        .expect("report parses")
        .into_iter()
        .map(|row| row.expect("row parses"))
        .collect()
}

fn standard_order() -> Vec<usize> {
    (0..STANDARD_COLUMNS.len()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(rows) = parse_report(&bytes) {
            for row in rows {
                let _ = row.map_err(|err| err.to_string());
            }
        }
    }

    #[test]
    fn arbitrary_rows_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let header = STANDARD_COLUMNS.join(",");
        let bytes = [header.as_bytes(), b"\n", &body].concat();

        let rows = parse_report(&bytes).expect("a standard header parses");
        for row in rows {
            if let Err(err) = row {
                prop_assert!(err.line >= 2, "row error on line {}", err.line);
                prop_assert!(!err.message.is_empty());
            }
        }
    }

    #[test]
    fn generated_rows_round_trip(
        rows in proptest::collection::vec(row_cells(), 0..8),
        layout in layout(),
    ) {
        let bytes = write_report(&rows, &standard_order(), None, layout);
        let parsed = parse_all(&bytes);

        prop_assert_eq!(parsed.len(), rows.len());
        for (parsed_row, cells) in parsed.iter().zip(&rows) {
            prop_assert_eq!(parsed_row, &expected_row(cells));
        }
    }

    #[test]
    fn shuffled_columns_same_rows(
        rows in proptest::collection::vec(row_cells(), 1..6),
        order in Just(standard_order()).prop_shuffle(),
        extra in proptest::option::of("[ -~]{0,12}"),
        layout in layout(),
    ) {
        let standard = parse_all(&write_report(&rows, &standard_order(), None, layout));
        let shuffled = parse_all(&write_report(&rows, &order, extra.as_deref(), layout));

        prop_assert_eq!(shuffled, standard);
    }
}
