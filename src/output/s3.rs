//! The `object_store` S3 client, configured from the AWS SDK's config so
//! that output uses the same credentials, region and endpoint as the scan.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use tokio::sync::Mutex;

use super::OutputError;

/// How long before its expiry a cached credential is replaced. Five minutes
/// covers the signing and the longest single request of an upload part.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Builds the S3 client for `bucket` from the SDK config.
///
/// The endpoint is, in order: `AWS_ENDPOINT_URL_S3`, the SDK config's
/// endpoint URL (which `aws-config` reads from `AWS_ENDPOINT_URL` or the
/// profile), then `AWS_ENDPOINT_URL`. A custom endpoint is addressed
/// path-style, and plain `http://` is allowed only when the endpoint uses it.
pub(crate) fn build_client(sdk_config: &SdkConfig, bucket: &str) -> Result<AmazonS3, OutputError> {
    let region = sdk_config
        .region()
        .ok_or_else(|| OutputError::MissingRegion {
            bucket: bucket.to_owned(),
        })?;
    let provider =
        sdk_config
            .credentials_provider()
            .ok_or_else(|| OutputError::MissingCredentials {
                bucket: bucket.to_owned(),
            })?;

    // NOTE: requests are signed for the SDK's region; a bucket in another
    // region fails with S3's AuthorizationHeaderMalformed error, which names
    // the bucket's region.
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region.as_ref())
        .with_credentials(Arc::new(SdkCredentials::new(provider)));

    if let Some(endpoint) = s3_endpoint(sdk_config) {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .with_endpoint(endpoint);
    }

    builder.build().map_err(|source| OutputError::S3Config {
        bucket: bucket.to_owned(),
        source: Box::new(source),
    })
}

fn s3_endpoint(sdk_config: &SdkConfig) -> Option<String> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());

    from_env("AWS_ENDPOINT_URL_S3")
        .or_else(|| sdk_config.endpoint_url().map(str::to_owned))
        .or_else(|| from_env("AWS_ENDPOINT_URL"))
}

/// An `object_store` credential provider over the AWS SDK's provider chain
/// (environment, profile, web identity, container and instance metadata).
///
/// The SDK caches credentials inside its clients, not in the provider, so
/// this keeps the last credential until it is about to expire.
pub(crate) struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<CachedCredential>>,
}

struct CachedCredential {
    credential: Arc<AwsCredential>,
    expires_at: Option<SystemTime>,
}

impl CachedCredential {
    fn is_fresh(&self, now: SystemTime) -> bool {
        match self.expires_at {
            None => true,
            Some(expires_at) => now + REFRESH_BEFORE_EXPIRY < expires_at,
        }
    }
}

impl SdkCredentials {
    pub(crate) fn new(provider: SharedCredentialsProvider) -> Self {
        SdkCredentials {
            provider,
            cached: Mutex::new(None),
        }
    }
}

/// Shows no key, token or provider detail, so the secret never reaches a log.
impl fmt::Debug for SdkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkCredentials").finish_non_exhaustive()
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some(cached) = cached.as_ref()
            && cached.is_fresh(SystemTime::now())
        {
            return Ok(Arc::clone(&cached.credential));
        }

        let credentials = self.provider.provide_credentials().await.map_err(|error| {
            object_store::Error::Generic {
                store: "S3",
                source: Box::new(error),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });

        *cached = Some(CachedCredential {
            credential: Arc::clone(&credential),
            expires_at: credentials.expiry(),
        });
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::Credentials;
    use aws_credential_types::provider::future;

    use super::*;

    /// Hands out a new credential on every call and counts the calls.
    #[derive(Debug)]
    struct CountingProvider {
        calls: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
    }

    impl ProvideCredentials for CountingProvider {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let expiry = self.lifetime.map(|lifetime| SystemTime::now() + lifetime);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKIDTESTING{call}"),
                "super-secret-key",
                Some("super-secret-token".to_owned()),
                expiry,
                "test",
            )))
        }
    }

    fn provider(lifetime: Option<Duration>) -> (SdkCredentials, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counting = CountingProvider {
            calls: Arc::clone(&calls),
            lifetime,
        };
        (
            SdkCredentials::new(SharedCredentialsProvider::new(counting)),
            calls,
        )
    }

    #[tokio::test]
    async fn sdk_credentials_copy_keys_and_token() {
        let (credentials, _) = provider(None);

        let credential = credentials.get_credential().await.unwrap();

        assert_eq!(credential.key_id, "AKIDTESTING0");
        assert_eq!(credential.secret_key, "super-secret-key");
        assert_eq!(credential.token.as_deref(), Some("super-secret-token"));
    }

    #[tokio::test]
    async fn sdk_credentials_reuse_a_fresh_credential() {
        let (credentials, calls) = provider(Some(Duration::from_secs(3600)));

        credentials.get_credential().await.unwrap();
        credentials.get_credential().await.unwrap();

        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn sdk_credentials_refresh_before_expiry() {
        let (credentials, calls) = provider(Some(Duration::from_secs(60)));

        credentials.get_credential().await.unwrap();
        let second = credentials.get_credential().await.unwrap();

        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(second.key_id, "AKIDTESTING1");
    }

    #[tokio::test]
    async fn sdk_credentials_debug_hides_secrets() {
        let (credentials, _) = provider(None);
        credentials.get_credential().await.unwrap();

        let debug = format!("{credentials:?}");

        assert!(!debug.contains("super-secret"), "{debug}");
        assert!(!debug.contains("AKIDTESTING"), "{debug}");
    }

    #[test]
    fn build_client_rejects_config_without_region() {
        let sdk_config = SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "test",
            )))
            .build();

        let error = build_client(&sdk_config, "output-bucket").unwrap_err();

        assert!(
            matches!(error, OutputError::MissingRegion { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn build_client_rejects_config_without_credentials() {
        let sdk_config = SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();

        let error = build_client(&sdk_config, "output-bucket").unwrap_err();

        assert!(
            matches!(error, OutputError::MissingCredentials { .. }),
            "{error:?}"
        );
    }
}
