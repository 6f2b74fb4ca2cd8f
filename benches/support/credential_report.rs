//! Synthetic IAM credential reports for the benchmarks.
//!
//! The rows follow the shape IAM writes. There are 22 standard columns, and
//! the root row comes first with `not_supported` password fields. Keys and
//! certificates that were never used read `N/A`, passwords never used since
//! IAM began tracking them read `no_information`, and timestamps end in
//! `+00:00`. A seed fixes the mix of users, so every run reads the same bytes.

use std::fmt::Write as _;

/// The header line of a credential report, as IAM writes it.
pub const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,\
password_last_changed,password_next_rotation,mfa_active,access_key_1_active,\
access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,\
access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,\
access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,\
cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// 2018-01-01T00:00:00Z: no generated timestamp is earlier.
const EARLIEST_SECONDS: i64 = 1_514_764_800;

/// About seven years of seconds, so timestamps spread up to 2025.
const SPAN_SECONDS: u64 = 7 * 365 * 24 * 3600;

const REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"];
const SERVICES: [&str; 6] = ["s3", "sts", "ec2", "iam", "lambda", "dynamodb"];
const PATHS: [&str; 4] = ["", "team/", "team/platform/", "service/"];

/// A SplitMix64 generator: small, fast and the same on every platform.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Returns true with probability `percent` in 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Counts of the kinds of rows that a generated report contains.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReportMix {
    /// Data rows, the root row included.
    pub rows: usize,
    /// Rows the console-MFA control must flag: a password (or root's
    /// `not_supported`) and no MFA.
    pub alarms: usize,
}

/// Appends a timestamp in IAM's format, `2024-01-31T09:15:00+00:00`.
fn push_timestamp(out: &mut String, seconds: i64) {
    let time = chrono::DateTime::from_timestamp(seconds, 0).expect("generated timestamps are in range");
    write!(out, "{}", time.format("%Y-%m-%dT%H:%M:%S+00:00")).expect("writing to a String never fails");
}

fn random_time(rng: &mut SplitMix64) -> i64 {
    EARLIEST_SECONDS + rng.below(SPAN_SECONDS) as i64
}

/// Appends the five columns of one access key: active, last rotated, last
/// used date, region and service.
fn push_access_key(out: &mut String, rng: &mut SplitMix64, has_key: bool) {
    if !has_key {
        out.push_str(",false,N/A,N/A,N/A,N/A");
        return;
    }

    let active = rng.percent(85);
    out.push_str(if active { ",true," } else { ",false," });
    push_timestamp(out, random_time(rng));

    if rng.percent(20) {
        // A key that was never used.
        out.push_str(",N/A,N/A,N/A");
        return;
    }
    out.push(',');
    push_timestamp(out, random_time(rng));
    out.push(',');
    out.push_str(REGIONS[rng.below(REGIONS.len() as u64) as usize]);
    out.push(',');
    out.push_str(SERVICES[rng.below(SERVICES.len() as u64) as usize]);
}

/// Appends the root user's row, with `not_supported` in the password columns.
fn push_root_row(out: &mut String, rng: &mut SplitMix64, account_id: &str, mix: &mut ReportMix) {
    let mfa = rng.percent(80);
    write!(out, "<root_account>,arn:aws:iam::{account_id}:root,").expect("writing to a String never fails");
    push_timestamp(out, random_time(rng));
    out.push_str(",not_supported,");
    push_timestamp(out, random_time(rng));
    out.push_str(",not_supported,not_supported,");
    out.push_str(if mfa { "true" } else { "false" });
    out.push_str(",false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");

    mix.rows += 1;
    mix.alarms += usize::from(!mfa);
}

/// Appends one IAM user's row. About half the users have a console
/// password, most of those with MFA; most users without a password are
/// service users with access keys.
fn push_user_row(out: &mut String, rng: &mut SplitMix64, account_id: &str, index: usize, mix: &mut ReportMix) {
    let password = rng.percent(50);
    let mfa = if password { rng.percent(70) } else { rng.percent(5) };
    let path = PATHS[rng.below(PATHS.len() as u64) as usize];
    let name_prefix = if password { "user" } else { "svc" };

    write!(out, "{name_prefix}-{index:07},arn:aws:iam::{account_id}:user/{path}{name_prefix}-{index:07},")
        .expect("writing to a String never fails");
    let created = random_time(rng);
    push_timestamp(out, created);

    if password {
        out.push_str(",true,");
        if rng.percent(15) {
            out.push_str("no_information");
        } else {
            push_timestamp(out, random_time(rng));
        }
        out.push(',');
        push_timestamp(out, created + rng.below(86_400) as i64);
        out.push(',');
        if rng.percent(10) {
            push_timestamp(out, random_time(rng));
        } else {
            out.push_str("N/A");
        }
    } else {
        out.push_str(",false,N/A,N/A,N/A");
    }
    out.push_str(if mfa { ",true" } else { ",false" });

    let first_key = if password { rng.percent(30) } else { rng.percent(90) };
    let second_key = first_key && rng.percent(20);
    push_access_key(out, rng, first_key);
    push_access_key(out, rng, second_key);

    if rng.percent(2) {
        out.push_str(",true,");
        push_timestamp(out, random_time(rng));
        out.push_str(",false,N/A\n");
    } else {
        out.push_str(",false,N/A,false,N/A\n");
    }

    mix.rows += 1;
    mix.alarms += usize::from(password && !mfa);
}

/// Builds a credential report of account `account_id` with the root row and
/// `users` IAM users, and the counts of what it contains.
pub fn credential_report_csv(account_id: &str, users: usize, seed: u64) -> (String, ReportMix) {
    let mut rng = SplitMix64::new(seed);
    let mut mix = ReportMix::default();
    let mut out = String::with_capacity(256 * (users + 2));

    out.push_str(HEADER);
    out.push('\n');
    push_root_row(&mut out, &mut rng, account_id, &mut mix);
    for index in 1..=users {
        push_user_row(&mut out, &mut rng, account_id, index, &mut mix);
    }
    (out, mix)
}
