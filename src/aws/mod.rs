//! AWS plumbing shared by every stage: the SDK configuration and clients,
//! the one function that classifies SDK errors, and bounded retries.

pub mod error;
pub mod retry;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;

pub use error::{ErrorClass, classify, error_code, error_chain};
pub use retry::{RetryPolicy, with_retry};

/// The region used when neither the environment nor a profile sets one:
/// enabled by default in every commercial account, and the home of the
/// global endpoints.
pub const FALLBACK_REGION: &str = "us-east-1";

/// How long to wait for a TCP connection before the attempt counts as a
/// transient failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one HTTP attempt may take. Credential reports of accounts with
/// thousands of users are a few megabytes, well inside this.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Loads the SDK configuration from the default chain: environment, profile,
/// web identity (IRSA, EKS Pod Identity), container and instance metadata.
///
/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are honoured by the
/// loader itself. The SDK's own retries are turned off because every call
/// goes through [`with_retry`], which logs and bounds them.
pub async fn load_sdk_config(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_https_client())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    let config = loader.load().await;

    if config.region().is_some() {
        return config;
    }
    config
        .into_builder()
        .region(Region::from_static(FALLBACK_REGION))
        .build()
}

/// Regions that an account must enable before use, from AWS's "Enable or
/// disable AWS Regions in your account" page.
/// NOTE: AWS adds opt-in regions over time; this list may miss the newest ones,
/// and `scan.sts_region` overrides the choice.
const OPT_IN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// Tells whether a region is opt-in, so STS calls through it may fail in
/// accounts that have not enabled it.
pub fn is_opt_in_region(region: &str) -> bool {
    OPT_IN_REGIONS.contains(&region)
}

/// Builds one HTTPS client for every SDK client the scan creates, like the SDK's
/// default (rustls with aws-lc, proxy settings from the environment).
///
/// Without it each per-account IAM client builds its own connector, which
/// loads the root certificate store again and opens new connections: about
/// a fifth of the scan's CPU at 10,000 accounts, measured in BENCHMARKS.md.
fn shared_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};

    let client = Builder::new().build_with_connector_fn(|settings, runtime_components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = runtime_components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(ValidatedOnce {
        inner: client,
        validated: std::sync::OnceLock::new(),
    })
}

/// An HTTP client that runs its base-config check only until it first
/// passes.
///
/// Every `Client::from_conf` runs that check. The hyper client's check
/// builds a whole HTTPS connector, parsing every root certificate, and then
/// drops it. With one IAM client per account that was about a tenth of the
/// scan's CPU at 10,000 accounts (BENCHMARKS.md). The check depends only on
/// The hyper client's check ignores the SDK client's configuration, so one
/// pass is enough. Connectors for requests still come from the inner
/// client's cache.
#[derive(Debug)]
struct ValidatedOnce {
    inner: SharedHttpClient,
    validated: std::sync::OnceLock<()>,
}

impl HttpClient for ValidatedOnce {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        if self.validated.get().is_some() {
            return Ok(());
        }
        self.inner.validate_base_client_config(runtime_components, cfg)?;
        let _ = self.validated.set(());
        Ok(())
    }

    fn validate_final_config(&self, runtime_components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

/// Returns the partition (`aws`, `aws-us-gov`, `aws-cn`) of an ARN, or `None` when
/// the value is not an ARN.
pub fn partition_of(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next()) {
        (Some("arn"), Some(partition)) if !partition.is_empty() => Some(partition),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_in_regions() {
        assert!(is_opt_in_region("af-south-1"));
        assert!(is_opt_in_region("me-central-1"));
        assert!(!is_opt_in_region("us-east-1"));
        assert!(!is_opt_in_region("eu-west-1"));
    }

    /// An HTTP client that counts its base-config checks and fails the first `failures` of them.
    #[derive(Debug)]
    struct CountingClient {
        checks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        failures: usize,
    }

    impl HttpClient for CountingClient {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            unreachable!("the test sends no request")
        }

        fn validate_base_client_config(&self, _: &RuntimeComponentsBuilder, _: &ConfigBag) -> Result<(), BoxError> {
            let check = self.checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if check < self.failures {
                return Err("no connector".into());
            }
            Ok(())
        }
    }

    #[test]
    fn base_config_check_runs_until_it_passes() {
        let checks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inner = CountingClient {
            checks: std::sync::Arc::clone(&checks),
            failures: 1,
        };
        let client = ValidatedOnce {
            inner: SharedHttpClient::new(inner),
            validated: std::sync::OnceLock::new(),
        };
        let components = RuntimeComponentsBuilder::new("test");
        let cfg = ConfigBag::base();

        assert!(client.validate_base_client_config(&components, &cfg).is_err());
        assert!(client.validate_base_client_config(&components, &cfg).is_ok());
        assert!(client.validate_base_client_config(&components, &cfg).is_ok());
        assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn partition_of_arns() {
        let cases = [
            ("arn:aws:sts::111122223333:assumed-role/scanner/s", Some("aws")),
            ("arn:aws-us-gov:iam::111122223333:user/alice", Some("aws-us-gov")),
            ("arn:aws-cn:iam::111122223333:root", Some("aws-cn")),
            ("arn::iam::111122223333:root", None),
            ("not-an-arn", None),
        ];
        for (arn, expected) in cases {
            assert_eq!(partition_of(arn), expected, "{arn}");
        }
    }
}

/// The AWS clients a scan needs, built in one place from one SDK
/// configuration so that tests can point all of them at a local endpoint.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub sdk_config: SdkConfig,
    pub sts: aws_sdk_sts::Client,
    pub organizations: aws_sdk_organizations::Client,
}

impl AwsClients {
    /// Builds the clients. `sts_region` overrides the region of the STS
    /// client only. Without it, STS uses the SDK's region unless that is an
    /// opt-in region, which a member account may not have enabled; then it
    /// uses [`FALLBACK_REGION`].
    pub fn new(sdk_config: SdkConfig, sts_region: Option<&str>) -> Self {
        let mut sts_config = aws_sdk_sts::config::Builder::from(&sdk_config);
        let sdk_region = sdk_config.region().map(|region| region.as_ref().to_owned());
        let region = match (sts_region, sdk_region.as_deref()) {
            (Some(region), _) => Some(region),
            (None, Some(region)) if is_opt_in_region(region) => {
                tracing::info!(region, sts_region = FALLBACK_REGION, "the SDK region is an opt-in region; using another for STS");
                Some(FALLBACK_REGION)
            }
            _ => None,
        };
        if let Some(region) = region {
            sts_config = sts_config.region(Region::new(region.to_owned()));
        }
        AwsClients {
            sts: aws_sdk_sts::Client::from_conf(sts_config.build()),
            organizations: aws_sdk_organizations::Client::new(&sdk_config),
            sdk_config,
        }
    }

    /// Builds an IAM client for one account: with the given credentials, or with
    /// the scanner's own when `credentials` is `None`.
    pub fn iam(&self, credentials: Option<aws_credential_types::Credentials>) -> aws_sdk_iam::Client {
        let mut config = aws_sdk_iam::config::Builder::from(&self.sdk_config);
        if let Some(credentials) = credentials {
            config = config.credentials_provider(credentials);
        }
        aws_sdk_iam::Client::from_conf(config.build())
    }
}
