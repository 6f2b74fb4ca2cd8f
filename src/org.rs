//! Organizations: listing the accounts and selecting which ones to scan.

use aws_sdk_organizations::Client as OrganizationsClient;

use crate::aws::{ErrorClass, RetryPolicy, classify, error_chain, with_retry};
use crate::config::Settings;
use crate::scan::AccountError;

/// `ListAccounts` returns at most 20 accounts a page.
const PAGE_SIZE: i32 = 20;

/// One member account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE`.
    pub status: String,
}

/// Listing the organization failed; nothing can be scanned.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error(
        "{caller} cannot list the organization's accounts: ListAccounts works only in the \
         management account or a delegated administrator account. Run orgscan with credentials \
         from one of those, or register this account as a delegated administrator \
         (aws organizations register-delegated-administrator). AWS said: {detail}"
    )]
    NotManagementAccount { caller: String, detail: String },
    #[error("failed to list the organization's accounts: {detail}")]
    ListFailed { detail: String },
}

/// Lists every account of the organization, following every page.
pub async fn list_accounts(
    client: &OrganizationsClient,
    policy: &RetryPolicy,
    caller_arn: &str,
) -> Result<Vec<Account>, OrgError> {
    let mut accounts = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = with_retry(policy, "organizations:ListAccounts", "", || {
            client
                .list_accounts()
                .max_results(PAGE_SIZE)
                .set_next_token(next_token.clone())
                .send()
        })
        .await
        .map_err(|err| match classify(&err) {
            ErrorClass::AccessDenied => OrgError::NotManagementAccount {
                caller: caller_arn.to_owned(),
                detail: error_chain(&err),
            },
            _ => OrgError::ListFailed {
                detail: error_chain(&err),
            },
        })?;

        for account in page.accounts() {
            accounts.push(Account {
                id: account.id().unwrap_or_default().to_owned(),
                name: account.name().unwrap_or_default().to_owned(),
                status: account
                    .state()
                    .map(|state| state.as_str().to_owned())
                    .or_else(|| account.status().map(|status| status.as_str().to_owned()))
                    .unwrap_or_default(),
            });
        }
        tracing::trace!(accounts = accounts.len(), "listed a page of accounts");

        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(accounts);
        }
    }
}

/// What to do with one listed account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Scan,
    /// Recorded in the `accounts` table as skipped, with the reason.
    Skip(AccountError),
    /// Another shard owns the account; this run does not record it.
    OtherShard,
}

/// Decides, for one account, whether this run scans it.
pub fn select(account: &Account, settings: &Settings) -> Selection {
    if let Some(shard) = settings.shard {
        if !shard.contains(&account.id) {
            return Selection::OtherShard;
        }
    }
    if settings.exclude_accounts.contains(&account.id) {
        return Selection::Skip(AccountError {
            code: "excluded_by_config",
            message: "listed in scan.exclude_accounts".to_owned(),
        });
    }
    if !settings.include_accounts.is_empty() && !settings.include_accounts.contains(&account.id) {
        return Selection::Skip(AccountError {
            code: "excluded_by_config",
            message: "not listed in scan.include_accounts".to_owned(),
        });
    }
    if account.status != "ACTIVE" {
        return Selection::Skip(AccountError {
            code: "account_not_active",
            message: format!("the account's status is {}; only ACTIVE accounts are scanned", account.status),
        });
    }
    Selection::Scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ScanArgs, Shard, validate};

    fn account(id: &str, status: &str) -> Account {
        Account {
            id: id.to_owned(),
            name: format!("name-{id}"),
            status: status.to_owned(),
        }
    }

    fn settings(toml: &str) -> Settings {
        let file = crate::config::ConfigFile::parse(toml, std::path::Path::new("t.toml")).unwrap();
        validate(file, &ScanArgs::default()).unwrap()
    }

    #[test]
    fn select_active_and_inactive() {
        let settings = settings("");
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings), Selection::Scan);
        let Selection::Skip(error) = select(&account("111122223334", "SUSPENDED"), &settings) else {
            panic!("suspended account not skipped");
        };
        assert_eq!(error.code, "account_not_active");
        assert!(error.message.contains("SUSPENDED"));
    }

    #[test]
    fn select_include_and_exclude() {
        let settings = settings(
            "[scan]\ninclude_accounts = [\"111122223333\", \"111122223334\"]\nexclude_accounts = [\"111122223334\"]\n",
        );
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings), Selection::Scan);
        for id in ["111122223334", "111122223335"] {
            let Selection::Skip(error) = select(&account(id, "ACTIVE"), &settings) else {
                panic!("{id} not skipped");
            };
            assert_eq!(error.code, "excluded_by_config");
        }
    }

    #[test]
    fn select_other_shard() {
        let mut settings = settings("");
        settings.shard = Some(Shard { index: 1, count: 2 });
        assert_eq!(select(&account("111122223334", "ACTIVE"), &settings), Selection::OtherShard);
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings), Selection::Scan);
    }
}
