//! Organizations: listing the accounts and selecting which ones to scan.

use std::collections::BTreeSet;

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
         management account or a delegated administrator account of an organization. Run \
         orgscan with credentials from one of those, or register this account as a delegated \
         administrator (aws organizations register-delegated-administrator). AWS said: {detail}"
    )]
    NotManagementAccount { caller: String, detail: String },
    #[error("failed to list the organization's accounts: {detail}")]
    ListFailed { detail: String },
    #[error("{key} lists {ou_id}, which is not an OU or root of this organization: {detail}")]
    OuNotFound {
        key: &'static str,
        ou_id: String,
        detail: String,
    },
    #[error(
        "scan.include_accounts lists {ids}, and none of them is an account of this organization, \
         so there is nothing to scan; correct the ids (aws organizations list-accounts shows \
         them) or remove the key to scan every account"
    )]
    NoIncludedAccount { ids: String },
    #[error("failed to list the accounts under {ou_id} ({key}): {detail}")]
    OuListFailed {
        key: &'static str,
        ou_id: String,
        detail: String,
    },
}

/// Lists every account of the organization, following every page, and
/// sends each page to `pages` as it arrives, so that scanning can start
/// before the last page is in. Returns the number of accounts listed.
pub async fn send_account_pages(
    client: &OrganizationsClient,
    policy: &RetryPolicy,
    caller_arn: &str,
    pages: tokio::sync::mpsc::Sender<Vec<Account>>,
) -> Result<usize, OrgError> {
    let mut listed = 0;
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

        let mut accounts = Vec::with_capacity(page.accounts().len());
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
        listed += accounts.len();
        tracing::trace!(accounts = listed, "listed a page of accounts");
        if pages.send(accounts).await.is_err() {
            // The receiver stopped early, so the rest of the listing is not needed.
            return Ok(listed);
        }

        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(listed);
        }
    }
}

/// Account ids under the configured OUs, at any depth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OuMembers {
    /// Accounts under `scan.include_ous`; `None` when that list is empty.
    pub included: Option<BTreeSet<String>>,
    /// Accounts under `scan.exclude_ous`.
    pub excluded: BTreeSet<String>,
}

/// Resolves `scan.include_ous` and `scan.exclude_ous` to account ids.
/// Costs two paged calls per OU in the listed subtrees, and none when both lists are empty.
pub async fn resolve_ou_members(
    client: &OrganizationsClient,
    policy: &RetryPolicy,
    settings: &Settings,
) -> Result<OuMembers, OrgError> {
    let mut members = OuMembers::default();
    if !settings.include_ous.is_empty() {
        let mut included = BTreeSet::new();
        for ou_id in &settings.include_ous {
            included.extend(accounts_under(client, policy, "scan.include_ous", ou_id).await?);
        }
        members.included = Some(included);
    }
    for ou_id in &settings.exclude_ous {
        members.excluded.extend(accounts_under(client, policy, "scan.exclude_ous", ou_id).await?);
    }
    Ok(members)
}

/// Lists the account ids under one OU or root, descending into child OUs.
async fn accounts_under(
    client: &OrganizationsClient,
    policy: &RetryPolicy,
    key: &'static str,
    ou_id: &str,
) -> Result<BTreeSet<String>, OrgError> {
    let ou_error = |detail: String, class: ErrorClass| {
        match class {
            ErrorClass::NotFound => OrgError::OuNotFound { key, ou_id: ou_id.to_owned(), detail },
            _ => OrgError::OuListFailed { key, ou_id: ou_id.to_owned(), detail },
        }
    };

    let mut accounts = BTreeSet::new();
    let mut pending = vec![ou_id.to_owned()];
    while let Some(parent) = pending.pop() {
        let mut next_token: Option<String> = None;
        loop {
            let page = with_retry(policy, "organizations:ListAccountsForParent", "", || {
                client
                    .list_accounts_for_parent()
                    .parent_id(&parent)
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.clone())
                    .send()
            })
            .await
            .map_err(|err| ou_error(error_chain(&err), classify(&err)))?;
            accounts.extend(page.accounts().iter().filter_map(|account| account.id().map(str::to_owned)));
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }

        loop {
            let page = with_retry(policy, "organizations:ListOrganizationalUnitsForParent", "", || {
                client
                    .list_organizational_units_for_parent()
                    .parent_id(&parent)
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.clone())
                    .send()
            })
            .await
            .map_err(|err| ou_error(error_chain(&err), classify(&err)))?;
            pending.extend(page.organizational_units().iter().filter_map(|ou| ou.id().map(str::to_owned)));
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
    }
    Ok(accounts)
}

/// The decision for one listed account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Scan,
    /// Recorded in the `accounts` table as skipped, with the reason.
    Skip(AccountError),
    /// Another shard owns the account; this run does not record it.
    OtherShard,
}

/// Decides, for one account, whether this run scans it.
pub fn select(account: &Account, settings: &Settings, ou_members: &OuMembers) -> Selection {
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
    if ou_members.excluded.contains(&account.id) {
        return Selection::Skip(AccountError {
            code: "excluded_by_config",
            message: "under an OU listed in scan.exclude_ous".to_owned(),
        });
    }
    let include_by_id = !settings.include_accounts.is_empty();
    let include_by_ou = ou_members.included.is_some();
    let included = settings.include_accounts.contains(&account.id)
        || ou_members.included.as_ref().is_some_and(|ids| ids.contains(&account.id));
    if (include_by_id || include_by_ou) && !included {
        return Selection::Skip(AccountError {
            code: "excluded_by_config",
            message: "not listed in scan.include_accounts nor under an OU in scan.include_ous".to_owned(),
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

    const NONE: OuMembers = OuMembers {
        included: None,
        excluded: BTreeSet::new(),
    };

    fn settings(toml: &str) -> Settings {
        let file = crate::config::ConfigFile::parse(toml, std::path::Path::new("t.toml")).unwrap();
        validate(file, &ScanArgs::default()).unwrap()
    }

    #[test]
    fn select_active_and_inactive() {
        let settings = settings("");
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings, &NONE), Selection::Scan);
        let Selection::Skip(error) = select(&account("111122223334", "SUSPENDED"), &settings, &NONE) else {
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
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings, &NONE), Selection::Scan);
        for id in ["111122223334", "111122223335"] {
            let Selection::Skip(error) = select(&account(id, "ACTIVE"), &settings, &NONE) else {
                panic!("{id} not skipped");
            };
            assert_eq!(error.code, "excluded_by_config");
        }
    }

    #[test]
    fn select_by_ou_members() {
        let settings = settings("");
        let members = OuMembers {
            included: Some(BTreeSet::from(["111122223333".to_owned(), "111122223334".to_owned()])),
            excluded: BTreeSet::from(["111122223334".to_owned()]),
        };
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings, &members), Selection::Scan);
        for id in ["111122223334", "111122223335"] {
            let Selection::Skip(error) = select(&account(id, "ACTIVE"), &settings, &members) else {
                panic!("{id} not skipped");
            };
            assert_eq!(error.code, "excluded_by_config");
        }
    }

    #[test]
    fn select_other_shard() {
        let mut settings = settings("");
        settings.shard = Some(Shard { index: 1, count: 2 });
        assert_eq!(select(&account("111122223334", "ACTIVE"), &settings, &NONE), Selection::OtherShard);
        assert_eq!(select(&account("111122223333", "ACTIVE"), &settings, &NONE), Selection::Scan);
    }
}
