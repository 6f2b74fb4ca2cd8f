//! Downloading one account's credential report.
//!
//! `GenerateCredentialReport` is called until IAM returns COMPLETE, then
//! `GetCredentialReport` downloads it. IAM builds a new report at most once
//! every four hours and returns COMPLETE at once while the last one is
//! younger, so most scans cost two calls per account. Every call passes the
//! org-wide rate limiter in [`LimitedIam`].

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportOutput;
use aws_sdk_iam::operation::get_credential_report::{GetCredentialReportError, GetCredentialReportOutput};
use aws_sdk_iam::types::ReportStateType;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

use super::EpochMillis;
use crate::aws::{ErrorClass, RetryPolicy, classify, error_chain, with_retry};

/// The first wait for a report that IAM is still generating; it doubles per
/// poll up to [`MAX_POLL_DELAY`]. IAM takes a few seconds for small
/// accounts and longer for accounts with thousands of users.
const FIRST_POLL_DELAY: Duration = Duration::from_secs(1);
const MAX_POLL_DELAY: Duration = Duration::from_secs(8);

/// The org-wide limit on credential report calls, shared by every account.
pub type ReportRateLimiter = DefaultDirectRateLimiter;

/// Builds the org-wide limiter: `per_second` calls a second on average,
/// `burst` at once.
pub fn report_rate_limiter(per_second: std::num::NonZeroU32, burst: std::num::NonZeroU32) -> Arc<ReportRateLimiter> {
    Arc::new(RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)))
}

/// An IAM client whose credential report calls all pass one rate limiter.
#[derive(Clone)]
pub struct LimitedIam {
    client: IamClient,
    limiter: Arc<ReportRateLimiter>,
}

impl LimitedIam {
    pub fn new(client: IamClient, limiter: Arc<ReportRateLimiter>) -> Self {
        LimitedIam { client, limiter }
    }

    async fn generate(
        &self,
    ) -> Result<GenerateCredentialReportOutput, SdkError<aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportError, HttpResponse>> {
        self.limiter.until_ready().await;
        self.client.generate_credential_report().send().await
    }

    async fn get(&self) -> Result<GetCredentialReportOutput, SdkError<GetCredentialReportError, HttpResponse>> {
        self.limiter.until_ready().await;
        self.client.get_credential_report().send().await
    }
}

/// A downloaded report, not yet parsed.
#[derive(Debug, Clone)]
pub struct FetchedReport {
    /// The CSV bytes, already decoded from base64 by the SDK.
    pub content: Vec<u8>,
    /// `GeneratedTime` from the response.
    pub generated_at: Option<EpochMillis>,
}

/// Reading one account's report failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "the credential report of account {account_id} was not ready within {}; \
         raise --report-timeout if the account has many users",
        humantime::format_duration(*waited)
    )]
    Timeout { account_id: String, waited: Duration },
    #[error(
        "access denied on {operation} in account {account_id}: the member role needs \
         iam:GenerateCredentialReport and iam:GetCredentialReport. AWS said: {detail}"
    )]
    AccessDenied {
        account_id: String,
        operation: &'static str,
        detail: String,
    },
    #[error("the credentials for account {account_id} expired during {operation}: {detail}")]
    CredentialsExpired {
        account_id: String,
        operation: &'static str,
        detail: String,
    },
    #[error("{operation} failed in account {account_id}: {detail}")]
    Failed {
        account_id: String,
        operation: &'static str,
        detail: String,
    },
}

impl FetchError {
    /// Returns the stable code written to the `accounts` table.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Timeout { .. } => "report_timeout",
            FetchError::AccessDenied { .. } => "report_access_denied",
            FetchError::CredentialsExpired { .. } => "credentials_expired",
            FetchError::Failed { .. } => "report_failed",
        }
    }
}

/// Downloads credential reports with bounded waits and retries.
#[derive(Debug, Clone)]
pub struct ReportFetcher {
    pub retry: RetryPolicy,
    /// Maximum time one account's report may take, waits and retries included.
    pub timeout: Duration,
}

impl ReportFetcher {
    /// Generates (when needed) and downloads the report of one account.
    pub async fn fetch(&self, iam: &LimitedIam, account_id: &str) -> Result<FetchedReport, FetchError> {
        match tokio::time::timeout(self.timeout, self.fetch_until_done(iam, account_id)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                account_id: account_id.to_owned(),
                waited: self.timeout,
            }),
        }
    }

    async fn fetch_until_done(&self, iam: &LimitedIam, account_id: &str) -> Result<FetchedReport, FetchError> {
        let mut polls = 0;
        self.generate_until_complete(iam, account_id, &mut polls).await?;

        loop {
            let result = with_retry(&self.retry, "iam:GetCredentialReport", account_id, || iam.get()).await;
            let err = match result {
                Ok(output) => return Ok(fetched_report(output)),
                Err(err) => err,
            };

            match err.as_service_error() {
                Some(GetCredentialReportError::CredentialReportNotPresentException(_))
                | Some(GetCredentialReportError::CredentialReportExpiredException(_)) => {
                    tracing::debug!(account_id, error = %error_chain(&err), "credential report missing or expired; generating a new one");
                    // GenerateCredentialReport can return COMPLETE at once, so
                    // without this wait an account whose report never appears
                    // would call IAM in a tight loop and use up the org-wide
                    // rate limit that the other accounts share.
                    wait_for_report(account_id, &mut polls).await;
                    self.generate_until_complete(iam, account_id, &mut polls).await?;
                }
                Some(GetCredentialReportError::CredentialReportNotReadyException(_)) => {
                    wait_for_report(account_id, &mut polls).await;
                }
                _ => return Err(fetch_error(account_id, "iam:GetCredentialReport", &err)),
            }
        }
    }

    /// Calls `GenerateCredentialReport` until IAM reports COMPLETE. Calls are
    /// sequential, so at most one generate request per account is in flight.
    async fn generate_until_complete(&self, iam: &LimitedIam, account_id: &str, polls: &mut u32) -> Result<(), FetchError> {
        loop {
            let output = with_retry(&self.retry, "iam:GenerateCredentialReport", account_id, || iam.generate())
                .await
                .map_err(|err| fetch_error(account_id, "iam:GenerateCredentialReport", &err))?;

            match output.state() {
                Some(ReportStateType::Complete) => return Ok(()),
                state => {
                    tracing::trace!(account_id, ?state, "credential report not complete yet");
                    wait_for_report(account_id, polls).await;
                }
            }
        }
    }
}

/// Waits before the next poll: the delay doubles from one to eight seconds,
/// with jitter so that accounts started together do not poll together.
async fn wait_for_report(account_id: &str, polls: &mut u32) {
    let cap = FIRST_POLL_DELAY
        .saturating_mul(2u32.saturating_pow((*polls).min(8)))
        .min(MAX_POLL_DELAY);
    let half = cap.as_millis() as u64 / 2;
    let delay = Duration::from_millis(half + rand::rng().random_range(0..=half));
    *polls += 1;
    tracing::debug!(account_id, poll = *polls, delay_ms = delay.as_millis() as u64, "waiting for the credential report");
    tokio::time::sleep_until(Instant::now() + delay).await;
}

fn fetched_report(output: GetCredentialReportOutput) -> FetchedReport {
    let generated_at = output.generated_time().map(|time| time.to_millis().unwrap_or(i64::MAX));
    let content = output.content.map(|blob| blob.into_inner()).unwrap_or_default();
    FetchedReport { content, generated_at }
}

fn fetch_error<E>(account_id: &str, operation: &'static str, err: &SdkError<E, HttpResponse>) -> FetchError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let account_id = account_id.to_owned();
    let detail = error_chain(err);
    match classify(err) {
        ErrorClass::AccessDenied => FetchError::AccessDenied { account_id, operation, detail },
        ErrorClass::ExpiredCredentials => FetchError::CredentialsExpired { account_id, operation, detail },
        _ => FetchError::Failed { account_id, operation, detail },
    }
}
