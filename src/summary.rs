//! The end-of-scan summary: a small table for people, printed to stdout.

use std::fmt::Write as _;

use crate::controls::Status;
use crate::scan::{Outcome, ScanSummary};

/// How many accounts the "most alarms" list shows.
const TOP_ACCOUNTS: usize = 10;
/// How many failed accounts are listed one by one.
const LISTED_FAILURES: usize = 20;

/// Renders the summary of a finished scan.
pub fn render(summary: &ScanSummary) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "scan {} finished in {:.1}s", summary.scan_id, summary.elapsed.as_secs_f64());
    let _ = writeln!(text);

    let _ = writeln!(text, "{:<10} {:>8}", "accounts", "count");
    for outcome in [Outcome::Scanned, Outcome::Failed, Outcome::Skipped] {
        let _ = writeln!(text, "{:<10} {:>8}", outcome.as_str(), summary.count(outcome));
    }
    let _ = writeln!(text);

    let _ = writeln!(text, "{:<10} {:>8}", "findings", "count");
    for status in Status::ALL {
        let count = summary.findings.get(&status).copied().unwrap_or(0);
        if count > 0 || matches!(status, Status::Ok | Status::Alarm | Status::Error) {
            let _ = writeln!(text, "{:<10} {:>8}", status.as_str(), count);
        }
    }

    if !summary.alarms_by_account.is_empty() {
        let mut ranked: Vec<_> = summary.alarms_by_account.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let _ = writeln!(text);
        let _ = writeln!(text, "accounts with the most alarms");
        let _ = writeln!(text, "{:<14} {:<32} {:>8}", "account_id", "account_name", "alarms");
        for ((id, name), alarms) in ranked.into_iter().take(TOP_ACCOUNTS) {
            let _ = writeln!(text, "{:<14} {:<32} {:>8}", id, truncate(name, 32), alarms);
        }
    }

    if !summary.failures.is_empty() {
        let _ = writeln!(text);
        let _ = writeln!(text, "failed accounts");
        for (id, code, message) in summary.failures.iter().take(LISTED_FAILURES) {
            let _ = writeln!(text, "{id}  {code}  {}", truncate(message, 160));
        }
        if summary.failures.len() > LISTED_FAILURES {
            let more = summary.failures.len() - LISTED_FAILURES;
            let _ = writeln!(text, "... and {more} more; see the accounts table");
        }
    }

    if !summary.files.is_empty() {
        let _ = writeln!(text);
        let _ = writeln!(text, "written:");
        for file in &summary.files {
            let _ = writeln!(text, "  {file}");
        }
    }
    text
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(3)).collect();
    short.push_str("...");
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_counts_and_top_accounts() {
        let mut summary = ScanSummary {
            scan_id: "scan-1".into(),
            ..ScanSummary::default()
        };
        summary.accounts.insert(Outcome::Scanned, 4);
        summary.accounts.insert(Outcome::Failed, 1);
        summary.findings.insert(Status::Alarm, 7);
        summary.alarms_by_account.insert(("111122223333".into(), "prod".into()), 5);
        summary.alarms_by_account.insert(("111122223334".into(), "dev".into()), 2);
        summary.failures.push(("111122223335".into(), "assume_role_denied", "access denied".into()));

        let text = render(&summary);
        assert!(text.contains("scanned           4"), "{text}");
        assert!(text.contains("failed            1"), "{text}");
        assert!(text.contains("alarm             7"), "{text}");
        let prod = text.find("111122223333").unwrap();
        let dev = text.find("111122223334").unwrap();
        assert!(prod < dev, "accounts not ranked by alarms: {text}");
        assert!(text.contains("assume_role_denied"), "{text}");
    }
}
