//! Configuration: the TOML file, command-line and environment overrides, and
//! the validation that turns them into [`Settings`].
//!
//! What to scan lives in the file; flags and `ORGSCAN_*` variables override
//! it for quick runs and deployments. Every value is checked here, before any
//! AWS call, and an error names the key or value and the fix.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::aws::RetryPolicy;
use crate::controls::CONTROL_IDS;
use crate::output::store::OutputLocation;

/// The member role name used when neither the file nor a flag sets one.
pub const DEFAULT_ROLE_NAME: &str = "OrgScanReadOnly";
/// The output location used when neither the file nor a flag sets one.
pub const DEFAULT_OUTPUT: &str = "./orgscan-data";
/// Accounts read at once, when not configured. It is high enough that the
/// report rate limit sets the pace, not the wait for IAM to generate each
/// report. With reports that took 2 s, 32 accounts in flight kept the
/// limiter busy and 8 did not (BENCHMARKS.md, section 2).
pub const DEFAULT_CONCURRENCY: usize = 32;
/// How long one account's report may take to become ready.
pub const DEFAULT_REPORT_TIMEOUT: Duration = Duration::from_secs(300);
/// The role session name, visible in each member account's CloudTrail.
pub const DEFAULT_SESSION_NAME: &str = "orgscan";
/// Role sessions last one hour, the most AWS allows when the caller is
/// itself a role session (role chaining).
pub const DEFAULT_SESSION_DURATION: Duration = Duration::from_secs(3600);
/// Report calls per second across the organization. It also paces
/// `AssumeRole`, one call per account, which counts against the scanner's own
/// account's STS quota. AWS publishes no number for that quota and does not
/// raise it, so the default stays low. Each account needs two to four report
/// calls.
pub const DEFAULT_REPORT_CALLS_PER_SECOND: u32 = 20;
/// Report calls that may start at once after a quiet period.
pub const DEFAULT_REPORT_CALLS_BURST: u32 = 20;

/// The config file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub scan: ScanSection,
    #[serde(default)]
    pub rate_limit: RateLimitSection,
    #[serde(default)]
    pub retry: RetrySection,
    #[serde(default)]
    pub output: OutputSection,
}

/// `[scan]`: which accounts to read and how.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    /// Name of the role assumed in each member account.
    pub role_name: Option<String>,
    /// External id passed to `AssumeRole`, when the role's trust policy requires one.
    pub external_id: Option<String>,
    /// Role session name, 2 to 64 characters of `[\w+=,.@-]`.
    pub session_name: Option<String>,
    /// Role session duration, as a duration string such as `1h` (15 minutes to 1 hour).
    pub session_duration: Option<String>,
    /// Accounts read at once.
    pub concurrency: Option<usize>,
    /// How long one account's report may take to be ready, such as `5m`.
    pub report_timeout: Option<String>,
    /// Only these account ids are scanned, when not empty.
    #[serde(default)]
    pub include_accounts: Vec<String>,
    /// These account ids are never scanned; they are recorded as skipped.
    #[serde(default)]
    pub exclude_accounts: Vec<String>,
    /// Only accounts under these OUs (or roots), at any depth, are scanned, when not empty.
    #[serde(default)]
    pub include_ous: Vec<String>,
    /// Accounts under these OUs, at any depth, are never scanned; they are recorded as skipped.
    #[serde(default)]
    pub exclude_ous: Vec<String>,
    /// Assume the member role in the scanner's own account too, instead of
    /// reading it with the scanner's own credentials.
    pub assume_role_in_own_account: Option<bool>,
    /// Control ids written for each verdict. They share one evaluation.
    pub controls: Option<Vec<String>>,
    /// Region of the STS endpoint; it must be enabled by default (not opt-in).
    pub sts_region: Option<String>,
}

/// `[rate_limit]`: the org-wide limit on credential report calls.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// `GenerateCredentialReport` and `GetCredentialReport` calls per second, org-wide.
    pub report_calls_per_second: Option<u32>,
    /// Calls allowed at once after a quiet period.
    pub burst: Option<u32>,
}

/// `[retry]`: bounds for retrying throttled and transient AWS errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// Attempts per call, the first included.
    pub max_attempts: Option<u32>,
    /// Backoff cap before the first retry, such as `500ms`; it doubles per retry.
    pub base_delay: Option<String>,
    /// Largest backoff for one retry, such as `20s`.
    pub max_delay: Option<String>,
    /// No retry starts after this much time on one call, such as `2m`.
    pub max_elapsed: Option<String>,
}

/// `[output]`: where the tables go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// A local directory or `s3://bucket/prefix`.
    pub location: Option<String>,
}

/// Command-line flags shared by `scan` and `daemon`. Each also reads an
/// `ORGSCAN_*` environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ScanArgs {
    /// Config file (TOML). Flags override its values.
    #[arg(long, env = "ORGSCAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output root: a directory or s3://bucket/prefix [default: ./orgscan-data]
    #[arg(long, env = "ORGSCAN_OUTPUT")]
    pub output: Option<String>,
    /// Role assumed in each member account [default: OrgScanReadOnly]
    #[arg(long, env = "ORGSCAN_ROLE_NAME")]
    pub role_name: Option<String>,
    /// External id for AssumeRole, when the member role requires one.
    #[arg(long, env = "ORGSCAN_EXTERNAL_ID", hide_env_values = true)]
    pub external_id: Option<String>,
    /// Accounts read at once [default: 32]
    #[arg(long, env = "ORGSCAN_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Maximum wait for one account's report, such as 90s or 5m [default: 5m]
    #[arg(long, env = "ORGSCAN_REPORT_TIMEOUT")]
    pub report_timeout: Option<String>,
    /// Scan only shard INDEX of COUNT (0-based), such as 0/4.
    #[arg(long, env = "ORGSCAN_SHARD")]
    pub shard: Option<String>,
}

/// The part of the organization this run scans: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Tells whether an account belongs to this shard.
    ///
    /// Account ids are random 12-digit numbers, so the id modulo the shard
    /// count spreads them evenly, never changes between runs, and is easy
    /// to reproduce in SQL: `CAST(account_id AS BIGINT) % count`.
    pub fn contains(&self, account_id: &str) -> bool {
        match account_id.parse::<u64>() {
            Ok(number) => number % u64::from(self.count) == u64::from(self.index),
            // Ids are validated as 12 digits before this point; anything else goes to shard 0.
            Err(_) => self.index == 0,
        }
    }
}

/// Validated settings for one scan.
#[derive(Clone)]
pub struct Settings {
    pub role_name: String,
    pub external_id: Option<String>,
    pub session_name: String,
    pub session_duration: Duration,
    pub concurrency: usize,
    pub report_timeout: Duration,
    pub include_accounts: BTreeSet<String>,
    pub exclude_accounts: BTreeSet<String>,
    pub include_ous: BTreeSet<String>,
    pub exclude_ous: BTreeSet<String>,
    pub assume_role_in_own_account: bool,
    pub controls: Vec<String>,
    pub sts_region: Option<String>,
    pub report_calls_per_second: NonZeroU32,
    pub report_calls_burst: NonZeroU32,
    pub retry: RetryPolicy,
    pub output: OutputLocation,
    pub shard: Option<Shard>,
}

impl std::fmt::Debug for Settings {
    /// Prints every setting but the external id, which some teams treat as confidential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("role_name", &self.role_name)
            .field("external_id", &self.external_id.as_ref().map(|_| "(hidden)"))
            .field("session_name", &self.session_name)
            .field("session_duration", &self.session_duration)
            .field("concurrency", &self.concurrency)
            .field("report_timeout", &self.report_timeout)
            .field("include_accounts", &self.include_accounts)
            .field("exclude_accounts", &self.exclude_accounts)
            .field("include_ous", &self.include_ous)
            .field("exclude_ous", &self.exclude_ous)
            .field("assume_role_in_own_account", &self.assume_role_in_own_account)
            .field("controls", &self.controls)
            .field("sts_region", &self.sts_region)
            .field("report_calls_per_second", &self.report_calls_per_second)
            .field("report_calls_burst", &self.report_calls_burst)
            .field("retry", &self.retry)
            .field("output", &self.output)
            .field("shard", &self.shard)
            .finish()
    }
}

/// A configuration problem, found before any AWS call.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
}

fn invalid(key: &'static str, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl ConfigFile {
    /// Reads and parses a config file; unknown keys and wrong types are errors that name the key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })
    }
}

/// Loads the config file named by the flags, if any, and validates it with the flags applied.
pub fn load_settings(args: &ScanArgs) -> Result<Settings, ConfigError> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    validate(file, args)
}

/// Applies the flags over the file and checks every value.
pub fn validate(file: ConfigFile, args: &ScanArgs) -> Result<Settings, ConfigError> {
    let scan = file.scan;

    let role_name = args
        .role_name
        .clone()
        .or(scan.role_name)
        .unwrap_or_else(|| DEFAULT_ROLE_NAME.to_owned());
    check_role_name(&role_name)?;

    let external_id = args.external_id.clone().or(scan.external_id);
    if let Some(id) = &external_id {
        check_external_id(id)?;
    }

    let session_name = scan.session_name.unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned());
    check_session_name(&session_name)?;

    let session_duration = match scan.session_duration {
        Some(text) => parse_duration("scan.session_duration", &text)?,
        None => DEFAULT_SESSION_DURATION,
    };
    if !(Duration::from_secs(900)..=Duration::from_secs(3600)).contains(&session_duration) {
        return Err(invalid(
            "scan.session_duration",
            humantime::format_duration(session_duration),
            "must be between 15m and 1h, the range AWS allows for a chained role session",
        ));
    }

    let concurrency = args.concurrency.or(scan.concurrency).unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=1024).contains(&concurrency) {
        return Err(invalid("scan.concurrency (--concurrency)", concurrency, "must be between 1 and 1024"));
    }

    let report_timeout = match args.report_timeout.as_deref().or(scan.report_timeout.as_deref()) {
        Some(text) => parse_duration("scan.report_timeout (--report-timeout)", text)?,
        None => DEFAULT_REPORT_TIMEOUT,
    };
    if report_timeout < Duration::from_secs(1) {
        return Err(invalid(
            "scan.report_timeout (--report-timeout)",
            humantime::format_duration(report_timeout),
            "must be at least 1s",
        ));
    }

    let include_accounts = check_account_ids("scan.include_accounts", scan.include_accounts)?;
    let exclude_accounts = check_account_ids("scan.exclude_accounts", scan.exclude_accounts)?;
    let include_ous = check_ou_ids("scan.include_ous", scan.include_ous)?;
    let exclude_ous = check_ou_ids("scan.exclude_ous", scan.exclude_ous)?;

    let controls = scan.controls.unwrap_or_else(|| vec![CONTROL_IDS[0].to_owned()]);
    check_controls(&controls)?;

    let report_calls_per_second = nonzero(
        "rate_limit.report_calls_per_second",
        file.rate_limit.report_calls_per_second.unwrap_or(DEFAULT_REPORT_CALLS_PER_SECOND),
    )?;
    let report_calls_burst = nonzero(
        "rate_limit.burst",
        file.rate_limit.burst.unwrap_or(DEFAULT_REPORT_CALLS_BURST),
    )?;

    let retry = check_retry(file.retry)?;

    let sts_region = scan.sts_region;
    if let Some(region) = &sts_region {
        check_sts_region(region)?;
    }

    let output_text = args
        .output
        .clone()
        .or(file.output.location)
        .unwrap_or_else(|| DEFAULT_OUTPUT.to_owned());
    let output = output_text
        .parse::<OutputLocation>()
        .map_err(|err| invalid("output.location (--output)", &output_text, err.to_string()))?;

    let shard = args.shard.as_deref().map(parse_shard).transpose()?;

    Ok(Settings {
        role_name,
        external_id,
        session_name,
        session_duration,
        concurrency,
        report_timeout,
        include_accounts,
        exclude_accounts,
        include_ous,
        exclude_ous,
        assume_role_in_own_account: scan.assume_role_in_own_account.unwrap_or(false),
        controls,
        sts_region,
        report_calls_per_second,
        report_calls_burst,
        retry,
        output,
        shard,
    })
}

/// Parses a duration such as `90s`, `5m` or `1h 30m`.
pub fn parse_duration(key: &'static str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim())
        .map_err(|err| invalid(key, text, format!("{err}; write a duration such as 90s, 5m or 1h")))
}

/// Parses `INDEX/COUNT`, with `0 <= INDEX < COUNT`.
pub fn parse_shard(text: &str) -> Result<Shard, ConfigError> {
    let usage = "write INDEX/COUNT with 0 <= INDEX < COUNT, such as 0/4";
    let (index, count) = text.split_once('/').ok_or_else(|| invalid("--shard", text, usage))?;
    let index: u32 = index.trim().parse().map_err(|_| invalid("--shard", text, usage))?;
    let count: u32 = count.trim().parse().map_err(|_| invalid("--shard", text, usage))?;
    if count == 0 || index >= count {
        return Err(invalid("--shard", text, usage));
    }
    Ok(Shard { index, count })
}

/// Tells whether a value is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit())
}

fn check_account_ids(key: &'static str, ids: Vec<String>) -> Result<BTreeSet<String>, ConfigError> {
    ids.into_iter()
        .map(|id| {
            if is_account_id(&id) {
                Ok(id)
            } else {
                Err(invalid(key, &id, "an account id is exactly 12 digits, quoted as a string"))
            }
        })
        .collect()
}

/// Tells whether a value is an OU id (`ou-` root part, `-`, OU part) or a root id (`r-...`).
pub fn is_ou_id(text: &str) -> bool {
    let lower_alnum = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    if let Some(rest) = text.strip_prefix("ou-") {
        return match rest.split_once('-') {
            Some((root, unit)) => (4..=32).contains(&root.len()) && (8..=32).contains(&unit.len()) && lower_alnum(root) && lower_alnum(unit),
            None => false,
        };
    }
    match text.strip_prefix("r-") {
        Some(root) => (4..=32).contains(&root.len()) && lower_alnum(root),
        None => false,
    }
}

fn check_ou_ids(key: &'static str, ids: Vec<String>) -> Result<BTreeSet<String>, ConfigError> {
    ids.into_iter()
        .map(|id| {
            if is_ou_id(&id) {
                Ok(id)
            } else {
                Err(invalid(key, &id, "an OU id looks like ou-ab12-cdef3456 and a root id like r-ab12"))
            }
        })
        .collect()
}

fn check_role_name(name: &str) -> Result<(), ConfigError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    if name.is_empty() || name.len() > 64 || !valid_chars {
        return Err(invalid(
            "scan.role_name (--role-name)",
            name,
            "a role name is 1 to 64 characters of letters, digits and +=,.@_- (a path may add /)",
        ));
    }
    Ok(())
}

fn check_external_id(id: &str) -> Result<(), ConfigError> {
    let valid_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if !(2..=1224).contains(&id.len()) || !valid_chars {
        // The value itself is left out: some teams treat external ids as confidential.
        return Err(invalid(
            "scan.external_id (--external-id)",
            "(hidden)",
            "an external id is 2 to 1224 characters of letters, digits and +=,.@:/-_",
        ));
    }
    Ok(())
}

fn check_session_name(name: &str) -> Result<(), ConfigError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !(2..=64).contains(&name.len()) || !valid_chars {
        return Err(invalid(
            "scan.session_name",
            name,
            "a role session name is 2 to 64 characters of letters, digits and +=,.@_-",
        ));
    }
    Ok(())
}

fn check_sts_region(region: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts.iter().all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Err(invalid("scan.sts_region", region, "write a region code such as us-east-1"));
    }
    if crate::aws::is_opt_in_region(region) {
        return Err(invalid(
            "scan.sts_region",
            region,
            "this is an opt-in region, which member accounts may not have enabled; use one enabled by default, such as us-east-1",
        ));
    }
    Ok(())
}

fn check_controls(controls: &[String]) -> Result<(), ConfigError> {
    if controls.is_empty() {
        return Err(invalid("scan.controls", "[]", "list at least one control id"));
    }
    for (index, control) in controls.iter().enumerate() {
        if controls[..index].contains(control) {
            return Err(invalid("scan.controls", control, "each control id may appear once"));
        }
    }
    for control in controls {
        if !CONTROL_IDS.contains(&control.as_str()) {
            return Err(invalid(
                "scan.controls",
                control,
                format!("supported control ids: {}", CONTROL_IDS.join(", ")),
            ));
        }
    }
    Ok(())
}

fn nonzero(key: &'static str, value: u32) -> Result<NonZeroU32, ConfigError> {
    NonZeroU32::new(value).ok_or_else(|| invalid(key, value, "must be at least 1"))
}

fn check_retry(section: RetrySection) -> Result<RetryPolicy, ConfigError> {
    let defaults = RetryPolicy::default();
    let duration_or = |key, text: Option<String>, default| match text {
        Some(text) => parse_duration(key, &text),
        None => Ok(default),
    };
    let policy = RetryPolicy {
        max_attempts: section.max_attempts.unwrap_or(defaults.max_attempts),
        base_delay: duration_or("retry.base_delay", section.base_delay, defaults.base_delay)?,
        max_delay: duration_or("retry.max_delay", section.max_delay, defaults.max_delay)?,
        max_elapsed: duration_or("retry.max_elapsed", section.max_elapsed, defaults.max_elapsed)?,
    };
    if !(1..=20).contains(&policy.max_attempts) {
        return Err(invalid("retry.max_attempts", policy.max_attempts, "must be between 1 and 20"));
    }
    if policy.base_delay > policy.max_delay {
        return Err(invalid(
            "retry.base_delay",
            humantime::format_duration(policy.base_delay),
            format!("must not exceed retry.max_delay ({})", humantime::format_duration(policy.max_delay)),
        ));
    }
    if policy.max_elapsed.is_zero() {
        return Err(invalid("retry.max_elapsed", "0s", "must be more than zero; set retry.max_attempts = 1 to turn retries off"));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        let file = ConfigFile::parse(text, Path::new("test.toml"))?;
        validate(file, &ScanArgs::default())
    }

    #[test]
    fn empty_file_gives_defaults() {
        let settings = parse("").unwrap();
        assert_eq!(settings.role_name, DEFAULT_ROLE_NAME);
        assert_eq!(settings.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(settings.report_timeout, DEFAULT_REPORT_TIMEOUT);
        assert_eq!(settings.controls, ["cis_v120_1_2"]);
        assert_eq!(settings.output, OutputLocation::Local(PathBuf::from(DEFAULT_OUTPUT)));
        assert!(settings.shard.is_none());
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../config/orgscan.toml");
        let settings = parse(text).unwrap();
        assert_eq!(settings.role_name, DEFAULT_ROLE_NAME);
        assert_eq!(settings.retry, RetryPolicy::default());
        assert_eq!(settings.report_calls_per_second.get(), DEFAULT_REPORT_CALLS_PER_SECOND);
    }

    #[test]
    fn settings_debug_hides_external_id() {
        let settings = parse("[scan]\nexternal_id = \"confidential-external-id\"\n").unwrap();
        let text = format!("{settings:?}");
        assert!(!text.contains("confidential-external-id"), "{text}");
    }

    #[test]
    fn unknown_key_named_in_error() {
        let err = parse("[scan]\nrole_nmae = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("role_nmae"), "{err}");
    }

    #[test]
    fn wrong_type_named_in_error() {
        let err = parse("[scan]\nconcurrency = \"eight\"\n").unwrap_err().to_string();
        assert!(err.contains("concurrency"), "{err}");
    }

    #[test]
    fn invalid_values_rejected() {
        let cases = [
            ("[scan]\nreport_timeout = \"5 parsecs\"\n", "report_timeout"),
            ("[scan]\ninclude_accounts = [\"12345\"]\n", "12345"),
            ("[scan]\nexclude_accounts = [\"abcdefghijkl\"]\n", "abcdefghijkl"),
            ("[scan]\nconcurrency = 0\n", "concurrency"),
            ("[scan]\ncontrols = [\"cis_v999\"]\n", "cis_v999"),
            ("[scan]\nrole_name = \"bad role\"\n", "bad role"),
            ("[scan]\nsession_duration = \"2h\"\n", "session_duration"),
            ("[rate_limit]\nburst = 0\n", "rate_limit.burst"),
            ("[scan]\ninclude_ous = [\"ou-bad\"]\n", "ou-bad"),
            ("[scan]\nsts_region = \"af-south-1\"\n", "opt-in"),
            ("[scan]\nsts_region = \"mars\"\n", "mars"),
            ("[scan]\ncontrols = [\"cis_v120_1_2\", \"cis_v120_1_2\"]\n", "once"),
            ("[retry]\nbase_delay = \"30s\"\nmax_delay = \"1s\"\n", "retry.base_delay"),
            ("[retry]\nmax_elapsed = \"0s\"\n", "retry.max_elapsed"),
            ("[output]\nlocation = \"gs://bucket\"\n", "gs://bucket"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn flags_override_file() {
        let file = ConfigFile::parse("[scan]\nrole_name = \"FromFile\"\nconcurrency = 4\n", Path::new("x")).unwrap();
        let args = ScanArgs {
            role_name: Some("FromFlag".into()),
            report_timeout: Some("90s".into()),
            ..ScanArgs::default()
        };
        let settings = validate(file, &args).unwrap();
        assert_eq!(settings.role_name, "FromFlag");
        assert_eq!(settings.concurrency, 4);
        assert_eq!(settings.report_timeout, Duration::from_secs(90));
    }

    #[test]
    fn ou_ids() {
        for valid in ["ou-ab12-cdef3456", "ou-b4zx-waqoajnd", "r-ab12"] {
            assert!(is_ou_id(valid), "{valid}");
        }
        for invalid in ["ou-ab12", "ou-AB12-cdef3456", "r-", "ou-ab1-cdef3456", "111122223333"] {
            assert!(!is_ou_id(invalid), "{invalid}");
        }
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(parse_shard("0/4").unwrap(), Shard { index: 0, count: 4 });
        assert_eq!(parse_shard("3/4").unwrap(), Shard { index: 3, count: 4 });
        for bad in ["4/4", "1/0", "x/2", "2", "-1/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_each_account_once() {
        let ids: Vec<String> = (0..500u64).map(|n| format!("{:012}", 100_000_000_000 + n * 7919)).collect();
        for count in [1u32, 2, 3, 4, 7] {
            for id in &ids {
                let owners = (0..count).filter(|&index| Shard { index, count }.contains(id)).count();
                assert_eq!(owners, 1, "{id} in {count} shards");
            }
        }
    }
}
