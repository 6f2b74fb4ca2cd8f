//! The one place that sorts an AWS SDK error into what to do about it.
//!
//! Every retry decision and every per-account error code starts here; no
//! other module matches on AWS error code strings.

use std::error::Error as StdError;
use std::fmt::Write as _;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The kind of an AWS error, which decides whether to retry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The service asked the caller to slow down: retry after a backoff.
    Throttled,
    /// A 5xx, a timeout or a broken connection: retry after a backoff.
    Transient,
    /// The caller lacks permission, or an SCP or trust policy denies it.
    AccessDenied,
    /// The named entity does not exist.
    NotFound,
    /// The session token has expired: new credentials are needed.
    ExpiredCredentials,
    /// Anything else: retrying will not help.
    Fatal,
}

impl ErrorClass {
    /// Tells whether a later attempt of the same call may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorClass::Throttled | ErrorClass::Transient)
    }
}

/// Error codes that mean "slow down", across IAM, STS, Organizations and S3.
const THROTTLED_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "LimitExceeded",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
];

/// Error codes for failures on the service's side that a retry may clear.
const TRANSIENT_CODES: &[&str] = &[
    "ServiceFailure",
    "ServiceFailureException",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
];

const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AccessDeniedForDependencyException",
    "AWSOrganizationsNotInUseException",
    "RegionDisabledException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchEntity",
    "NoSuchBucket",
    "AccountNotFoundException",
    "ParentNotFoundException",
    "ChildNotFoundException",
    "OrganizationalUnitNotFoundException",
];

const EXPIRED_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "RequestExpired"];

/// Sorts an SDK error into an [`ErrorClass`].
///
/// Service errors are sorted by their code first and by HTTP status second
/// (429 is throttling, 5xx transient). Timeouts, I/O failures and responses
/// that could not be read are transient; a request that could not be built
/// is fatal.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorClass
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ConstructionFailure(_) => ErrorClass::Fatal,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorClass::Transient,
        SdkError::DispatchFailure(failure) => {
            if failure.is_user() {
                ErrorClass::Fatal
            } else {
                ErrorClass::Transient
            }
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            classify_code(service.err().code(), status)
        }
        _ => ErrorClass::Fatal,
    }
}

/// Sorts a service error by its code, falling back to the HTTP status.
pub fn classify_code(code: Option<&str>, status: u16) -> ErrorClass {
    if let Some(code) = code {
        let class = [
            (THROTTLED_CODES, ErrorClass::Throttled),
            (TRANSIENT_CODES, ErrorClass::Transient),
            (ACCESS_DENIED_CODES, ErrorClass::AccessDenied),
            (NOT_FOUND_CODES, ErrorClass::NotFound),
            (EXPIRED_CODES, ErrorClass::ExpiredCredentials),
        ]
        .into_iter()
        .find(|(codes, _)| codes.contains(&code));
        if let Some((_, class)) = class {
            return class;
        }
    }

    match status {
        429 => ErrorClass::Throttled,
        500..=599 => ErrorClass::Transient,
        403 => ErrorClass::AccessDenied,
        404 => ErrorClass::NotFound,
        _ => ErrorClass::Fatal,
    }
}

/// Returns the service's error code, when the error came from the service.
pub fn error_code<E>(err: &SdkError<E, HttpResponse>) -> Option<String>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code().map(str::to_owned),
        _ => None,
    }
}

/// Formats an error with its whole chain of causes, `outer: inner: root`.
///
/// SDK errors print only their outermost layer ("service error"), which
/// hides the code and message an operator needs.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_code_table() {
        let cases = [
            (Some("Throttling"), 400, ErrorClass::Throttled),
            (Some("TooManyRequestsException"), 400, ErrorClass::Throttled),
            (Some("LimitExceeded"), 409, ErrorClass::Throttled),
            (Some("RequestLimitExceeded"), 503, ErrorClass::Throttled),
            (None, 429, ErrorClass::Throttled),
            (Some("ServiceFailure"), 500, ErrorClass::Transient),
            (None, 503, ErrorClass::Transient),
            (Some("SomethingNew"), 502, ErrorClass::Transient),
            (Some("AccessDenied"), 403, ErrorClass::AccessDenied),
            (Some("AWSOrganizationsNotInUseException"), 400, ErrorClass::AccessDenied),
            (Some("NoSuchEntity"), 404, ErrorClass::NotFound),
            (Some("ExpiredToken"), 400, ErrorClass::ExpiredCredentials),
            (Some("ValidationError"), 400, ErrorClass::Fatal),
            (None, 400, ErrorClass::Fatal),
        ];
        for (code, status, expected) in cases {
            assert_eq!(classify_code(code, status), expected, "{code:?} {status}");
        }
    }

    #[test]
    fn retryable_classes() {
        assert!(ErrorClass::Throttled.is_retryable());
        assert!(ErrorClass::Transient.is_retryable());
        assert!(!ErrorClass::AccessDenied.is_retryable());
        assert!(!ErrorClass::ExpiredCredentials.is_retryable());
        assert!(!ErrorClass::Fatal.is_retryable());
    }
}
