//! Response bodies in the wire formats of the real services, as described
//! by the service models that botocore 1.43 ships (`sts/2011-06-15`,
//! `iam/2010-05-08`, `organizations/2016-11-28`).
//!
//! STS and IAM use the query protocol: a form-encoded request and an XML
//! response `<{Op}Response xmlns=...><{Op}Result>...</{Op}Result>
//! <ResponseMetadata>...` whose timestamps are ISO 8601. Organizations uses
//! JSON 1.1, where timestamps are epoch seconds.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// Escapes text for an XML element.
pub fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Builds a successful query-protocol response, where `result` is the inner
/// XML of the `{operation}Result` element.
pub fn query_response(namespace: &str, operation: &str, result: &str, request_id: &str) -> Response {
    let body = format!(
        "<{operation}Response xmlns=\"{namespace}\">\n\
         <{operation}Result>{result}</{operation}Result>\n\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\n\
         </{operation}Response>\n"
    );
    with_headers(StatusCode::OK, "text/xml", body, request_id)
}

/// The error code of an error response, kept in the response's extensions
/// so that the stats can count errors by code.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// Builds a query-protocol error, as STS and IAM return it.
pub fn query_error(status: StatusCode, namespace: &str, code: &'static str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{namespace}\">\n\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\n\
         <RequestId>{request_id}</RequestId>\n\
         </ErrorResponse>\n",
        xml_escape(message)
    );
    let mut response = with_headers(status, "text/xml", body, request_id);
    response.extensions_mut().insert(ErrorCode(code));
    response
}

/// Builds a successful JSON 1.1 response.
pub fn json_response(body: &serde_json::Value, request_id: &str) -> Response {
    with_headers(StatusCode::OK, "application/x-amz-json-1.1", body.to_string(), request_id)
}

/// Builds a JSON 1.1 error, with the error shape's name in `__type`.
pub fn json_error(status: StatusCode, error_type: &'static str, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({ "__type": error_type, "Message": message });
    let mut response = with_headers(status, "application/x-amz-json-1.1", body.to_string(), request_id);
    response.extensions_mut().insert(ErrorCode(error_type));
    response
}

fn with_headers(status: StatusCode, content_type: &'static str, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", value);
    }
    response
}

/// Builds the `GetCallerIdentityResult` contents.
pub fn caller_identity_result(account_id: &str, arn: &str, user_id: &str) -> String {
    format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{account_id}</Account>",
        xml_escape(arn),
        xml_escape(user_id)
    )
}

/// Temporary credentials handed out by `AssumeRole`.
pub struct AssumedCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    /// ISO 8601, UTC.
    pub expiration: &'a str,
}

/// Builds the `AssumeRoleResult` contents.
pub fn assume_role_result(assumed_role_arn: &str, role_id: &str, credentials: &AssumedCredentials) -> String {
    format!(
        "<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>\
         <PackedPolicySize>6</PackedPolicySize>",
        xml_escape(role_id),
        xml_escape(assumed_role_arn),
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        credentials.expiration,
    )
}

/// The `State` that `GenerateCredentialReport` returns (`ReportStateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    /// The call started generating a report, because none was under way.
    Started,
    /// A report is being generated and is not ready yet.
    InProgress,
    /// A report is ready for `GetCredentialReport`.
    Complete,
}

/// Builds the `GenerateCredentialReportResult` contents. A call that starts a
/// new report also gets a `Description`, like the sample response in IAM's
/// API reference for `GenerateCredentialReport`.
pub fn generate_report_result(state: ReportState) -> String {
    match state {
        ReportState::Started => {
            "<State>STARTED</State><Description>No report exists; generating a new one</Description>".to_owned()
        }
        ReportState::InProgress => "<State>INPROGRESS</State>".to_owned(),
        ReportState::Complete => "<State>COMPLETE</State>".to_owned(),
    }
}

/// Builds the `GetCredentialReportResult` contents: the CSV, base64-encoded as IAM sends it.
pub fn get_report_result(content_base64: &str, generated_time: &str) -> String {
    format!(
        "<Content>{content_base64}</Content><ReportFormat>text/csv</ReportFormat>\
         <GeneratedTime>{generated_time}</GeneratedTime>"
    )
}
