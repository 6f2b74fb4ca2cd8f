//! Credentials for each member account: `AssumeRole` with the configured
//! role, external id and session name.
//!
//! Each account's role is assumed just before its work starts, and again
//! once if its credentials expire during that work, so long scans never run
//! on old sessions. Credentials are held as `aws_credential_types::Credentials`,
//! whose Debug output masks the secret key and session token; a test below
//! proves it.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::Client as StsClient;

use crate::aws::{ErrorClass, RetryPolicy, classify, error_chain, with_retry};

/// `AssumeRole` failed for one account.
#[derive(Debug, thiserror::Error)]
pub enum AssumeError {
    #[error(
        "access denied assuming {role_arn}. Likely causes: the role does not exist in this \
         account, its trust policy does not trust the scanner's role or requires another \
         external id, or a service control policy denies sts:AssumeRole. AWS said: {detail}"
    )]
    Denied { role_arn: String, detail: String },
    #[error("failed to assume {role_arn}: {detail}")]
    Failed { role_arn: String, detail: String },
}

impl AssumeError {
    /// Returns the stable code written to the `accounts` table.
    pub fn code(&self) -> &'static str {
        match self {
            AssumeError::Denied { .. } => "assume_role_denied",
            AssumeError::Failed { .. } => "assume_role_failed",
        }
    }
}

/// Assumes the member role in one account after another.
#[derive(Debug, Clone)]
pub struct RoleAssumer {
    sts: StsClient,
    partition: String,
    role_name: String,
    external_id: Option<String>,
    session_name: String,
    session_duration: Duration,
    retry: RetryPolicy,
}

impl RoleAssumer {
    pub fn new(
        sts: StsClient,
        partition: &str,
        role_name: &str,
        external_id: Option<String>,
        session_name: &str,
        session_duration: Duration,
        retry: RetryPolicy,
    ) -> Self {
        RoleAssumer {
            sts,
            partition: partition.to_owned(),
            role_name: role_name.to_owned(),
            external_id,
            session_name: session_name.to_owned(),
            session_duration,
            retry,
        }
    }

    /// Returns the ARN of the member role in `account_id`.
    pub fn role_arn(&self, account_id: &str) -> String {
        role_arn(&self.partition, account_id, &self.role_name)
    }

    /// Assumes the member role in `account_id`.
    pub async fn assume(&self, account_id: &str) -> Result<Credentials, AssumeError> {
        let role_arn = self.role_arn(account_id);
        let duration_seconds = self.session_duration.as_secs() as i32;

        let output = with_retry(&self.retry, "sts:AssumeRole", account_id, || {
            self.sts
                .assume_role()
                .role_arn(&role_arn)
                .role_session_name(&self.session_name)
                .set_external_id(self.external_id.clone())
                .duration_seconds(duration_seconds)
                .send()
        })
        .await
        .map_err(|err| {
            let detail = error_chain(&err);
            match classify(&err) {
                ErrorClass::AccessDenied | ErrorClass::NotFound => AssumeError::Denied {
                    role_arn: role_arn.clone(),
                    detail,
                },
                _ => AssumeError::Failed {
                    role_arn: role_arn.clone(),
                    detail,
                },
            }
        })?;

        let Some(credentials) = output.credentials() else {
            return Err(AssumeError::Failed {
                role_arn,
                detail: "the AssumeRole response has no credentials".to_owned(),
            });
        };
        let expiry = SystemTime::try_from(*credentials.expiration()).ok();
        Ok(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            expiry,
            "orgscan-assume-role",
        ))
    }
}

/// Formats the ARN of role `role_name` in `account_id`. A name with a path
/// (`team/Reader`) keeps it.
pub fn role_arn(partition: &str, account_id: &str, role_name: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:role/{role_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arn_per_partition() {
        assert_eq!(
            role_arn("aws", "111122223333", "OrgScanReadOnly"),
            "arn:aws:iam::111122223333:role/OrgScanReadOnly"
        );
        assert_eq!(
            role_arn("aws-us-gov", "111122223333", "team/Reader"),
            "arn:aws-us-gov:iam::111122223333:role/team/Reader"
        );
    }

    #[test]
    fn credentials_debug_masks_secrets() {
        let credentials = Credentials::new(
            "AKIAEXAMPLEKEYID0001",
            "secret-key-value-that-must-not-leak",
            Some("session-token-value-that-must-not-leak".to_owned()),
            None,
            "test",
        );
        let text = format!("{credentials:?}");
        assert!(!text.contains("secret-key-value-that-must-not-leak"), "{text}");
        assert!(!text.contains("session-token-value-that-must-not-leak"), "{text}");
    }
}
