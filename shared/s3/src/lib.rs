//! The S3 client as both of its users build it (the S3 connector reads sources, the store
//! writes the archive: two jobs, two clients, one way to make them), and one classification of
//! S3 errors. Credentials always come from the standard AWS chain (environment, profile, web
//! identity, instance role), never from a configuration file. Knows nothing of evidence.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// The region used when neither the settings nor the AWS chain name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// An `endpoint_url` that is not an `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEndpoint(pub String);

impl std::fmt::Display for InvalidEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "endpoint_url {:?} must start with http:// or https://",
            self.0
        )
    }
}

impl std::error::Error for InvalidEndpoint {}

/// How to reach an S3 (or S3-compatible) endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Endpoint of an S3-compatible store (MinIO, Ceph, a test server); `None` is AWS.
    pub endpoint_url: Option<String>,
    /// Region; `None` takes the AWS chain's, else [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// Named profile of the shared AWS config files; `None` is `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`); `None` is on with an `endpoint_url`, off
    /// for AWS.
    pub force_path_style: Option<bool>,
    /// Attempts per request, the first included; the SDK backs off with jitter.
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    /// Longest wait for any single read of a response (a large transfer may take longer).
    pub read_timeout: Duration,
}

impl ClientSettings {
    /// Settings for `endpoint_url`, `region`, `profile` and `force_path_style` with the retry
    /// and timeout defaults (5 attempts, 10 s to connect, 60 s per read).
    pub fn new(
        endpoint_url: Option<String>,
        region: Option<String>,
        profile: Option<String>,
        force_path_style: Option<bool>,
    ) -> Self {
        Self {
            endpoint_url,
            region,
            profile,
            force_path_style,
            max_attempts: 5,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }

    /// Whether requests are path-style.
    pub fn path_style(&self) -> bool {
        self.force_path_style.unwrap_or(self.endpoint_url.is_some())
    }

    /// Refuse an endpoint that is not an `http://` or `https://` URL.
    pub fn check_endpoint(&self) -> Result<(), InvalidEndpoint> {
        match &self.endpoint_url {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(InvalidEndpoint(url.clone()))
            }
            _ => Ok(()),
        }
    }

    /// Load the standard AWS chain (with the profile) and build a client. No request is sent.
    pub async fn connect(&self) -> Client {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        let sdk = loader.load().await;
        self.client(&sdk)
    }

    /// Build a client over an AWS configuration loaded by the caller (credentials, region,
    /// HTTP client); the endpoint, region, path style, retries and timeouts still apply.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> Client {
        Client::from_conf(self.config(sdk))
    }

    /// The client configuration [`ClientSettings::client`] uses.
    pub fn config(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Config {
        let mut b = aws_sdk_s3::config::Builder::from(sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .read_timeout(self.read_timeout)
                    .build(),
            )
            .force_path_style(self.path_style());
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url);
        }
        if let Some(r) = &self.region {
            b = b.region(Region::new(r.clone()));
        } else if sdk.region().is_none() {
            b = b.region(Region::from_static(DEFAULT_REGION));
        }
        b.build()
    }
}

/// What kind of failure an S3 error is; each user maps it to its own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The request or a read of its answer timed out.
    Timeout,
    /// The endpoint could not be reached, or it failed (5xx).
    Unreachable,
    /// The credentials were refused or lack permission.
    Denied,
    /// The bucket or key does not exist.
    NotFound,
    /// S3 asks to slow down (`SlowDown`, 429, 503).
    RateLimited,
    /// A condition of the request did not hold (412, `PreconditionFailed`).
    PreconditionFailed,
    /// Anything else: the answer was not what was asked for.
    Other,
}

/// Classify an S3 error code and HTTP status (either may be missing).
pub fn class_of(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    match (code, status) {
        (
            Some(
                "AccessDenied"
                | "AllAccessDisabled"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken",
            ),
            _,
        )
        | (_, Some(401 | 403)) => ErrorClass::Denied,
        (Some("NoSuchBucket" | "NoSuchKey" | "NotFound"), _) | (_, Some(404)) => {
            ErrorClass::NotFound
        }
        (Some("SlowDown" | "Throttling" | "TooManyRequests"), _) | (_, Some(429 | 503)) => {
            ErrorClass::RateLimited
        }
        (Some("PreconditionFailed"), _) | (_, Some(412)) => ErrorClass::PreconditionFailed,
        (_, Some(s)) if s >= 500 => ErrorClass::Unreachable,
        _ => ErrorClass::Other,
    }
}

/// Classify an SDK error: transport failures by kind, service errors by code and status.
pub fn classify<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> ErrorClass
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::TimeoutError(_) => ErrorClass::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => ErrorClass::Timeout,
        SdkError::DispatchFailure(_) => ErrorClass::Unreachable,
        _ => class_of(e.as_service_error().and_then(|s| s.code()), status_of(e)),
    }
}

/// The HTTP status of the answer, when there was one.
pub fn status_of<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// What went wrong, for a person: the service's error code and message, or the chain of
/// `Display` messages of a transport failure. Never the SDK's `Debug` dump (request ids, raw
/// responses, headers).
pub fn plain_detail<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(service) = e.as_service_error()
        && (service.code().is_some() || service.message().is_some())
    {
        let status = status_of(e)
            .map(|s| format!("HTTP {s} "))
            .unwrap_or_default();
        return format!(
            "{status}{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("(no message)")
        );
    }
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_map_to_classes() {
        assert_eq!(
            class_of(Some("AccessDenied"), Some(403)),
            ErrorClass::Denied
        );
        assert_eq!(class_of(None, Some(401)), ErrorClass::Denied);
        assert_eq!(class_of(Some("NoSuchKey"), None), ErrorClass::NotFound);
        assert_eq!(class_of(Some("NotFound"), None), ErrorClass::NotFound);
        assert_eq!(
            class_of(Some("SlowDown"), Some(503)),
            ErrorClass::RateLimited
        );
        assert_eq!(class_of(None, Some(429)), ErrorClass::RateLimited);
        assert_eq!(
            class_of(Some("PreconditionFailed"), Some(412)),
            ErrorClass::PreconditionFailed
        );
        assert_eq!(class_of(None, Some(500)), ErrorClass::Unreachable);
        assert_eq!(
            class_of(Some("InvalidArgument"), Some(400)),
            ErrorClass::Other
        );
    }

    #[test]
    fn path_style_follows_the_endpoint_unless_set() {
        let aws = ClientSettings::new(None, None, None, None);
        assert!(!aws.path_style());
        let minio = ClientSettings::new(Some("http://127.0.0.1:9000".into()), None, None, None);
        assert!(minio.path_style());
        let forced = ClientSettings::new(Some("http://h".into()), None, None, Some(false));
        assert!(!forced.path_style());
        assert!(minio.check_endpoint().is_ok());
        let err = ClientSettings::new(Some("ftp://h".into()), None, None, None)
            .check_endpoint()
            .unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
