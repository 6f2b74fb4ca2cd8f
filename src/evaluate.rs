//! `orgscan evaluate`: the controls over one saved credential report,
//! without any AWS call.
//!
//! The report is either the raw CSV or the JSON that
//! `aws iam get-credential-report` prints, whose `Content` is base64.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;

use crate::config::is_account_id;
use crate::controls::CONTROL_IDS;
use crate::org::Account;
use crate::output::AccountRows;
use crate::output::store::{OutputLocation, OutputStore};
use crate::output::writer::ScanWriter;
use crate::report::{CredentialReport, EpochMillis, parse_report};
use crate::scan::{AccountScan, Outcome, ScanContext, evaluate_report};

#[derive(Debug, Clone, clap::Args)]
pub struct EvaluateArgs {
    /// The saved report: raw CSV, or the JSON of `aws iam get-credential-report`.
    #[arg(long)]
    pub report: PathBuf,
    /// The account the report belongs to [default: read from the users' ARNs]
    #[arg(long)]
    pub account_id: Option<String>,
    /// Write the findings and the report as Parquet under this root instead of printing them.
    #[arg(long)]
    pub output: Option<String>,
}

/// The report file as `aws iam get-credential-report` prints it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReportJson {
    content: String,
    generated_time: Option<String>,
}

/// Reads a saved report file: the CSV bytes and, from the JSON form, the generation time.
pub fn read_report_file(path: &Path) -> anyhow::Result<(Vec<u8>, Option<EpochMillis>)> {
    let bytes = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"{") {
        return Ok((bytes, None));
    }

    let json: ReportJson = serde_json::from_slice(&bytes).with_context(|| {
        format!("{} looks like JSON but is not the output of aws iam get-credential-report (expected a Content field)", path.display())
    })?;
    let content = base64::engine::general_purpose::STANDARD
        .decode(json.content.trim())
        .with_context(|| format!("the Content field of {} is not valid base64", path.display()))?;
    let generated_at = match json.generated_time {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(&text)
                .with_context(|| format!("invalid GeneratedTime {text:?} in {}", path.display()))?
                .timestamp_millis(),
        ),
        None => None,
    };
    Ok((content, generated_at))
}

/// Runs `orgscan evaluate`.
pub async fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let (content, generated_at) = read_report_file(&args.report)?;
    let rows = parse_report(&content).with_context(|| format!("failed to parse {}", args.report.display()))?;
    let report = CredentialReport { generated_at, rows };

    let account_id = match args.account_id {
        Some(id) if is_account_id(&id) => id,
        Some(id) => bail!("invalid --account-id {id:?}: an account id is exactly 12 digits"),
        None => account_from_arns(&report)
            .context("no --account-id given and no user ARN in the report names the account; pass --account-id")?,
    };
    let partition = report
        .rows
        .iter()
        .flatten()
        .find_map(|row| crate::aws::partition_of(&row.arn).map(str::to_owned))
        .unwrap_or_else(|| "aws".to_owned());
    let control_ids = vec![CONTROL_IDS[0].to_owned()];
    let findings = evaluate_report(&report, &account_id, &partition, &control_ids);

    let Some(output) = args.output else {
        return match print_findings(&findings) {
            // A reader such as `head` that stops early is not an error.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            result => result.context("failed to write the findings to stdout"),
        };
    };

    let location: OutputLocation = output.parse().with_context(|| format!("invalid --output {output:?}"))?;
    let sdk_config = crate::aws::load_sdk_config(None).await;
    let store = OutputStore::open(&location, &sdk_config).await?;
    store.check_writable().await?;
    let context = ScanContext::new(None);
    let now = chrono::Utc::now().timestamp_millis();
    let rows = AccountRows::from_parts(Some(&report), &findings);
    let scan = AccountScan {
        account: Account {
            id: account_id,
            name: String::new(),
            status: "ACTIVE".to_owned(),
        },
        outcome: Outcome::Scanned,
        error: None,
        started_at: now,
        finished_at: now,
        rows,
    };
    let mut writer = ScanWriter::create(&store, &context)?;
    writer.write_account(&scan)?;
    for file in writer.finish().await? {
        println!("{file}");
    }
    Ok(())
}

fn account_from_arns(report: &CredentialReport) -> Option<String> {
    report.rows.iter().flatten().find_map(|row| {
        let account = row.arn.split(':').nth(4)?;
        is_account_id(account).then(|| account.to_owned())
    })
}

fn print_findings(findings: &[crate::controls::Finding]) -> std::io::Result<()> {
    use std::io::Write as _;

    let width = findings.iter().map(|f| f.user_name.len()).max().unwrap_or(4).max(4);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{:<6} {:<width$} {}", "status", "user", "reason")?;
    for finding in findings {
        writeln!(stdout, "{:<6} {:<width$} {}", finding.status.as_str(), finding.user_name, finding.reason)?;
    }
    stdout.flush()
}
