//! Control evaluation: the verdict for each credential report row.
//!
//! `cis_v120_1_2` and its renumbered twins in later CIS versions share one
//! evaluation; only the `control_id` written with the finding differs.

use std::fmt;

use crate::report::{ReportRow, ReportRowRef, RowError};

/// A finding's status, from Powerpipe's set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Alarm,
    Info,
    Skip,
    Error,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Ok,
        Status::Alarm,
        Status::Info,
        Status::Skip,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Alarm => "alarm",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finding counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts([u64; Status::ALL.len()]);

impl StatusCounts {
    /// Adds `count` findings of `status`.
    pub fn add(&mut self, status: Status, count: u64) {
        self.0[status as usize] += count;
    }

    /// Returns the number of findings of `status`.
    pub fn get(&self, status: Status) -> u64 {
        self.0[status as usize]
    }

    /// Returns every status with its count, zeros included, in
    /// [`Status::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Status, u64)> + '_ {
        Status::ALL.into_iter().map(|status| (status, self.get(status)))
    }
}

/// The verdict on one report row, before it is tagged with a control id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub reason: String,
}

/// One row of the `findings` table, without the scan and account columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub control_id: String,
    pub resource: String,
    pub user_name: String,
    pub status: Status,
    pub reason: String,
}

/// The control ids that share the console-password-without-MFA evaluation,
/// as Powerpipe's `aws_compliance` mod names them (`cis_v*/section_*.pp` in
/// turbot/steampipe-mod-aws-compliance): CIS AWS Foundations recommendation
/// 1.2 in v1.2.0, 1.10 in v1.3.0 to v4.0.0, 1.9 in v5.0.0 and 2.9 in v6.0.0.
pub const CONTROL_IDS: &[&str] = &[
    "cis_v120_1_2",
    "cis_v130_1_10",
    "cis_v140_1_10",
    "cis_v150_1_10",
    "cis_v200_1_10",
    "cis_v300_1_10",
    "cis_v400_1_10",
    "cis_v500_1_9",
    "cis_v600_2_9",
];

/// The `password_enabled` value IAM writes on the root user's row.
const NOT_SUPPORTED: &str = "not_supported";

/// Evaluates the console-password-without-MFA control for one report row.
///
/// The status is `Alarm` when the user has a console password and MFA is not
/// active, or when MFA cannot be confirmed, and `Ok` otherwise. A
/// `password_enabled` of `not_supported`, which IAM writes on the root row,
/// counts as a console password, as in Powerpipe's AWS plugin
/// (`passwordEnabledToBool` in turbot/steampipe-plugin-aws), so root without
/// MFA alarms. Any other unreadable `password_enabled` counts as no password,
/// again as in that plugin, and the reason states that.
pub fn evaluate(row: &ReportRow) -> Verdict {
    let assessment = assess(&row.as_row_ref());
    Verdict {
        status: assessment.status,
        reason: assessment.reason.to_string(),
    }
}

/// The verdict on one borrowed row, its reason not yet formatted.
#[derive(Debug, Clone, Copy)]
pub struct Assessment<'a> {
    pub status: Status,
    pub reason: Reason<'a>,
}

/// Evaluates one borrowed row as [`evaluate`] does, without allocating: the
/// reason is formatted only when it is written.
pub fn assess<'a>(row: &ReportRowRef<'a>) -> Assessment<'a> {
    let password = match row.password_enabled {
        Some(enabled) => Password::Known(enabled),
        None if row.password_enabled_raw == NOT_SUPPORTED => Password::NotSupported,
        None => Password::Unreadable,
    };

    let (status, case) = match (password, row.mfa_active) {
        (Password::Known(false), _) => (Status::Ok, Case::NoPassword),
        (Password::Unreadable, _) => (Status::Ok, Case::UnreadablePassword),
        (Password::Known(true), Some(true)) => (Status::Ok, Case::PasswordAndMfa),
        (Password::Known(true), Some(false)) => (Status::Alarm, Case::PasswordNoMfa),
        (Password::Known(true), None) => (Status::Alarm, Case::PasswordUnknownMfa),
        (Password::NotSupported, Some(true)) => (Status::Ok, Case::NotSupportedMfa),
        (Password::NotSupported, Some(false)) => (Status::Alarm, Case::NotSupportedNoMfa),
        (Password::NotSupported, None) => (Status::Alarm, Case::NotSupportedUnknownMfa),
    };

    Assessment {
        status,
        reason: Reason {
            subject: if row.is_root() { "root user" } else { row.user },
            password_enabled_raw: row.password_enabled_raw,
            case,
        },
    }
}

/// The console password state that a row reports.
#[derive(Debug, Clone, Copy)]
enum Password {
    Known(bool),
    /// `not_supported`, as on the root row.
    NotSupported,
    /// `N/A`, `no_information` or empty.
    Unreadable,
}

/// The outcome of the control that a row reached.
#[derive(Debug, Clone, Copy)]
enum Case {
    NoPassword,
    UnreadablePassword,
    PasswordAndMfa,
    PasswordNoMfa,
    PasswordUnknownMfa,
    NotSupportedMfa,
    NotSupportedNoMfa,
    NotSupportedUnknownMfa,
}

/// The reason of an [`Assessment`], formatted on display.
#[derive(Debug, Clone, Copy)]
pub struct Reason<'a> {
    /// "root user" for the root row, else the user name.
    subject: &'a str,
    password_enabled_raw: &'a str,
    case: Case,
}

impl Reason<'_> {
    /// Writes the reason, the same text as its `Display`, with plain string
    /// writes in the common cases, because a scan writes one per row.
    pub fn write_to<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let predicate = match self.case {
            Case::UnreadablePassword => {
                return write!(
                    out,
                    "{} has no console password according to the report \
                     (password_enabled is {:?})",
                    self.subject, self.password_enabled_raw
                );
            }
            Case::NoPassword => " has no console password",
            Case::PasswordAndMfa => " has a console password and an MFA device",
            Case::PasswordNoMfa => " has a console password and no MFA device",
            Case::PasswordUnknownMfa => {
                " has a console password, and the report does not show whether MFA is active, \
                 so MFA cannot be confirmed"
            }
            Case::NotSupportedMfa => {
                " has an MFA device (password_enabled is not_supported, which counts as a \
                 console password)"
            }
            Case::NotSupportedNoMfa => {
                " has no MFA device (password_enabled is not_supported, which counts as a \
                 console password)"
            }
            Case::NotSupportedUnknownMfa => {
                " has no readable MFA status, so MFA cannot be confirmed (password_enabled is \
                 not_supported, which counts as a console password)"
            }
        };
        out.write_str(self.subject)?;
        out.write_str(predicate)
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// Evaluates one row and returns one finding per control id, all with the
/// same status and reason.
pub fn findings_for_row(row: &ReportRow, control_ids: &[String]) -> Vec<Finding> {
    let verdict = evaluate(row);

    control_ids
        .iter()
        .map(|control_id| Finding {
            control_id: control_id.clone(),
            resource: row.arn.clone(),
            user_name: row.user.clone(),
            status: verdict.status,
            reason: verdict.reason.clone(),
        })
        .collect()
}

/// Returns one `Error` finding per control id for a report row that could
/// not be read.
///
/// The resource is the row's ARN when it could be read, else a placeholder
/// `arn:{partition}:iam::{account_id}:user/<unknown line N>` that still names
/// the account and the line.
pub fn error_findings_for_row(
    err: &RowError,
    account_id: &str,
    partition: &str,
    control_ids: &[String],
) -> Vec<Finding> {
    let resource = err.arn.clone().unwrap_or_else(|| {
        format!(
            "arn:{partition}:iam::{account_id}:user/<unknown line {}>",
            err.line
        )
    });
    let user_name = err.user.clone().unwrap_or_default();
    let reason = format!(
        "credential report line {} could not be read, so the control was not evaluated: {}",
        err.line, err.message
    );

    control_ids
        .iter()
        .map(|control_id| Finding {
            control_id: control_id.clone(),
            resource: resource.clone(),
            user_name: user_name.clone(),
            status: Status::Error,
            reason: reason.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ROOT_USER;

    /// Builds a row with every optional column empty.
    fn row(
        user: &str,
        arn: &str,
        password_enabled_raw: &str,
        mfa_active: Option<bool>,
    ) -> ReportRow {
        let password_enabled = match password_enabled_raw {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        ReportRow {
            user: user.to_owned(),
            arn: arn.to_owned(),
            user_creation_time: None,
            password_enabled_raw: password_enabled_raw.to_owned(),
            password_enabled,
            password_last_used: None,
            password_last_changed: None,
            password_next_rotation: None,
            mfa_active,
            access_key_1_active: None,
            access_key_1_last_rotated: None,
            access_key_1_last_used_date: None,
            access_key_1_last_used_region: None,
            access_key_1_last_used_service: None,
            access_key_2_active: None,
            access_key_2_last_rotated: None,
            access_key_2_last_used_date: None,
            access_key_2_last_used_region: None,
            access_key_2_last_used_service: None,
            cert_1_active: None,
            cert_1_last_rotated: None,
            cert_2_active: None,
            cert_2_last_rotated: None,
        }
    }

    fn alice(password_enabled_raw: &str, mfa_active: Option<bool>) -> ReportRow {
        row(
            "alice",
            "arn:aws:iam::111122223333:user/alice",
            password_enabled_raw,
            mfa_active,
        )
    }

    fn root(mfa_active: Option<bool>) -> ReportRow {
        row(
            ROOT_USER,
            "arn:aws:iam::111122223333:root",
            "not_supported",
            mfa_active,
        )
    }

    fn control_ids() -> Vec<String> {
        CONTROL_IDS.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn evaluate_password_and_mfa_combinations() {
        // (password_enabled, mfa_active, status, words the reason must contain)
        let cases: &[(&str, Option<bool>, Status, &str)] = &[
            (
                "true",
                Some(true),
                Status::Ok,
                "has a console password and an MFA device",
            ),
            (
                "true",
                Some(false),
                Status::Alarm,
                "has a console password and no MFA device",
            ),
            ("true", None, Status::Alarm, "MFA cannot be confirmed"),
            ("false", Some(true), Status::Ok, "has no console password"),
            ("false", Some(false), Status::Ok, "has no console password"),
            ("false", None, Status::Ok, "has no console password"),
            ("not_supported", Some(true), Status::Ok, "has an MFA device"),
            (
                "not_supported",
                Some(false),
                Status::Alarm,
                "has no MFA device",
            ),
            (
                "not_supported",
                None,
                Status::Alarm,
                "MFA cannot be confirmed",
            ),
        ];
        for &(password, mfa, status, words) in cases {
            let verdict = evaluate(&alice(password, mfa));

            assert_eq!(verdict.status, status, "password {password}, MFA {mfa:?}");
            assert!(verdict.reason.starts_with("alice "), "{}", verdict.reason);
            assert!(verdict.reason.contains(words), "{}", verdict.reason);
        }
    }

    #[test]
    fn evaluate_reason_exact_text() {
        assert_eq!(
            evaluate(&alice("true", Some(false))).reason,
            "alice has a console password and no MFA device"
        );
        assert_eq!(
            evaluate(&alice("false", Some(false))).reason,
            "alice has no console password"
        );
        assert_eq!(
            evaluate(&alice("true", Some(true))).reason,
            "alice has a console password and an MFA device"
        );
        assert_eq!(
            evaluate(&alice("true", None)).reason,
            "alice has a console password, and the report does not show whether MFA is \
             active, so MFA cannot be confirmed"
        );
        assert_eq!(
            evaluate(&alice("N/A", None)).reason,
            "alice has no console password according to the report (password_enabled is \"N/A\")"
        );
        assert_eq!(
            evaluate(&root(Some(true))).reason,
            "root user has an MFA device (password_enabled is not_supported, which counts as \
             a console password)"
        );
        assert_eq!(
            evaluate(&root(Some(false))).reason,
            "root user has no MFA device (password_enabled is not_supported, which counts as \
             a console password)"
        );
        assert_eq!(
            evaluate(&root(None)).reason,
            "root user has no readable MFA status, so MFA cannot be confirmed \
             (password_enabled is not_supported, which counts as a console password)"
        );
    }

    #[test]
    fn evaluate_not_supported_explained() {
        let verdict = evaluate(&alice("not_supported", Some(false)));

        assert!(
            verdict.reason.contains("not_supported"),
            "{}",
            verdict.reason
        );
        assert!(
            verdict.reason.contains("counts as a console password"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn evaluate_unreadable_password_is_ok() {
        for raw in ["N/A", "no_information", ""] {
            let verdict = evaluate(&alice(raw, Some(false)));

            assert_eq!(verdict.status, Status::Ok, "{raw:?}");
            assert!(
                verdict.reason.contains("has no console password"),
                "{}",
                verdict.reason
            );
            assert!(
                verdict.reason.contains(&format!("{raw:?}")),
                "{}",
                verdict.reason
            );
        }
    }

    #[test]
    fn evaluate_root_without_mfa_alarms() {
        let verdict = evaluate(&root(Some(false)));

        assert_eq!(verdict.status, Status::Alarm);
        assert!(
            verdict.reason.starts_with("root user "),
            "{}",
            verdict.reason
        );
        assert!(
            verdict.reason.contains("no MFA device"),
            "{}",
            verdict.reason
        );
        assert!(!verdict.reason.contains(ROOT_USER), "{}", verdict.reason);
    }

    #[test]
    fn evaluate_root_with_mfa_ok() {
        let verdict = evaluate(&root(Some(true)));

        assert_eq!(verdict.status, Status::Ok);
        assert!(
            verdict.reason.starts_with("root user "),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn evaluate_root_unreadable_mfa_alarms() {
        let verdict = evaluate(&root(None));

        assert_eq!(verdict.status, Status::Alarm);
        assert!(
            verdict.reason.contains("MFA cannot be confirmed"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn findings_user_under_team_path() {
        let team_row = row(
            "alice",
            "arn:aws:iam::111122223333:user/team/alice",
            "true",
            Some(false),
        );
        let findings = findings_for_row(&team_row, &control_ids());

        assert_eq!(findings.len(), CONTROL_IDS.len());
        for (finding, control_id) in findings.iter().zip(CONTROL_IDS) {
            assert_eq!(finding.control_id, *control_id);
            assert_eq!(
                finding.resource,
                "arn:aws:iam::111122223333:user/team/alice"
            );
            assert_eq!(finding.user_name, "alice");
            assert_eq!(finding.status, Status::Alarm);
            assert_eq!(
                finding.reason,
                "alice has a console password and no MFA device"
            );
        }
    }

    #[test]
    fn evaluate_parsed_report_rows() {
        let report = "user,arn,password_enabled,mfa_active\n\
            <root_account>,arn:aws:iam::111122223333:root,not_supported,false\n\
            alice,arn:aws:iam::111122223333:user/team/alice,true,TRUE\n\
            bob,arn:aws:iam::111122223333:user/bob,true,false\n\
            svc-deploy,arn:aws:iam::111122223333:user/svc-deploy,false,false\n";
        let statuses: Vec<(String, Status)> = crate::report::parse_report(report.as_bytes())
            .expect("report parses")
            .into_iter()
            .map(|row| row.expect("row parses"))
            .map(|row| (row.user.clone(), evaluate(&row).status))
            .collect();

        let expected = [
            (ROOT_USER, Status::Alarm),
            ("alice", Status::Ok),
            ("bob", Status::Alarm),
            ("svc-deploy", Status::Ok),
        ];
        assert_eq!(statuses.len(), expected.len());
        for ((user, status), (expected_user, expected_status)) in statuses.iter().zip(expected) {
            assert_eq!(user, expected_user);
            assert_eq!(*status, expected_status, "{user}");
        }
    }

    #[test]
    fn findings_no_control_ids() {
        assert!(findings_for_row(&alice("true", Some(false)), &[]).is_empty());
    }

    #[test]
    fn control_ids_follow_cis_numbering() {
        assert_eq!(CONTROL_IDS[0], "cis_v120_1_2");
        assert!(CONTROL_IDS.contains(&"cis_v400_1_10"));
        assert!(CONTROL_IDS.contains(&"cis_v500_1_9"));
        assert!(CONTROL_IDS.contains(&"cis_v600_2_9"));
        let mut unique = CONTROL_IDS.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), CONTROL_IDS.len());
    }

    #[test]
    fn error_findings_with_known_arn() {
        let err = RowError {
            line: 5,
            user: Some("erin".to_owned()),
            arn: Some("arn:aws-us-gov:iam::111122223333:user/team/erin".to_owned()),
            message: "invalid value \"yes\" in column mfa_active".to_owned(),
        };
        let ids = vec!["cis_v120_1_2".to_owned(), "cis_v600_2_9".to_owned()];
        let findings = error_findings_for_row(&err, "111122223333", "aws-us-gov", &ids);

        assert_eq!(findings.len(), 2);
        assert_eq!(findings[1].control_id, "cis_v600_2_9");
        for finding in &findings {
            assert_eq!(finding.status, Status::Error);
            assert_eq!(
                finding.resource,
                "arn:aws-us-gov:iam::111122223333:user/team/erin"
            );
            assert_eq!(finding.user_name, "erin");
            assert!(finding.reason.contains("line 5"), "{}", finding.reason);
            assert!(finding.reason.contains("mfa_active"), "{}", finding.reason);
        }
    }

    #[test]
    fn error_findings_unknown_arn() {
        let err = RowError {
            line: 12,
            user: None,
            arn: None,
            message: "row has 3 fields but the header has 22".to_owned(),
        };
        let findings = error_findings_for_row(&err, "111122223333", "aws", &control_ids());

        assert_eq!(findings.len(), CONTROL_IDS.len());
        assert_eq!(
            findings[0].resource,
            "arn:aws:iam::111122223333:user/<unknown line 12>"
        );
        assert_eq!(findings[0].user_name, "");
        assert_eq!(findings[0].status, Status::Error);
        assert!(
            findings[0].reason.contains("line 12"),
            "{}",
            findings[0].reason
        );
        assert!(
            findings[0].reason.contains("3 fields"),
            "{}",
            findings[0].reason
        );
    }
}
