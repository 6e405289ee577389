//! The innermost service: one `reqwest` client per provider (rustls, every timeout explicit, no redirects, no
//! retries of its own) that sends a [`Call`] to `base_url` with the provider's credentials and the request's
//! correlation and trace headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use gatehouse_kit::outbound::UpstreamError;
use http::{HeaderName, HeaderValue, header};
use reqwest::Url;
use secrecy::ExposeSecret;

use super::Call;
use crate::config::{ConfigError, Credentials};

/// A resolved credential: the header it goes in, marked sensitive so it never prints.
#[derive(Clone)]
struct Credential {
    name: HeaderName,
    value: HeaderValue,
}

#[derive(Clone)]
pub struct ClientService {
    http: reqwest::Client,
    base: Arc<Url>,
    credential: Option<Credential>,
}

impl ClientService {
    pub fn build(
        key: &str,
        base_url: &str,
        credentials: Option<&Credentials>,
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Self, ConfigError> {
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .filter(|u| u.username().is_empty() && u.password().is_none())
            .ok_or_else(|| {
                ConfigError::invalid(
                    format!("{key}.base_url"),
                    "expected an http(s) URL with a host and no query, fragment or user info",
                )
            })?;
        let credential = credentials
            .map(|c| resolve_credential(&format!("{key}.credentials"), c))
            .transpose()?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .read_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(concurrency)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .build()
            .map_err(|e| ConfigError::invalid(key, format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: Arc::new(base),
            credential,
        })
    }

    /// `base_url` joined with `path_and_query`, refused if the result would leave `base_url`.
    fn url(&self, path_and_query: &str) -> Result<Url, UpstreamError> {
        let base = self.base.as_str().trim_end_matches('/');
        let outside = || UpstreamError::Connect("the path would leave the provider's base_url".into());
        if !path_and_query.starts_with('/') {
            return Err(outside());
        }
        let url = Url::parse(&format!("{base}{path_and_query}")).map_err(|_| outside())?;
        let same_origin = url.scheme() == self.base.scheme()
            && url.host() == self.base.host()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username().is_empty()
            && url.password().is_none();
        let base_path = self.base.path().trim_end_matches('/');
        let inside = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
        if same_origin && inside { Ok(url) } else { Err(outside()) }
    }
}

fn resolve_credential(key: &str, credentials: &Credentials) -> Result<Credential, ConfigError> {
    let (name, value) = match credentials {
        Credentials::Bearer { bearer } => {
            let token = bearer.resolve(&format!("{key}.bearer"))?;
            (header::AUTHORIZATION, format!("Bearer {}", token.expose_secret()))
        }
        Credentials::Header { header, value } => {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| ConfigError::invalid(format!("{key}.header"), "not a valid header name"))?;
            (name, value.resolve(&format!("{key}.value"))?.expose_secret().to_owned())
        }
        Credentials::Basic { basic } => {
            let password = basic.password.resolve(&format!("{key}.basic.password"))?;
            let pair = format!("{}:{}", basic.username, password.expose_secret());
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            (header::AUTHORIZATION, format!("Basic {encoded}"))
        }
    };
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| ConfigError::invalid(key, "the credential contains characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok(Credential { name, value })
}

impl tower::Service<Call> for ClientService {
    type Response = reqwest::Response;
    type Error = UpstreamError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, UpstreamError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), UpstreamError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let url = self.url(&call.path_and_query);
        let http = self.http.clone();
        let credential = self.credential.clone();
        Box::pin(async move {
            let mut headers = call.headers;
            if let Some(credential) = credential {
                headers.insert(credential.name, credential.value);
            }
            if let Ok(id) = HeaderValue::from_str(&call.correlation_id) {
                headers.insert(crate::http::correlation::HEADER, id);
            }
            if let Some(traceparent) = call.traceparent {
                headers.insert("traceparent", traceparent);
            }
            let request = http.request(call.method, url?).headers(headers).body(call.body);
            request.send().await.map_err(|e| {
                if e.is_timeout() {
                    UpstreamError::Timeout
                } else {
                    UpstreamError::Connect(without_url(&e))
                }
            })
        })
    }
}

/// reqwest's message without the URL (which may carry ids the caller sent; keep logs plain).
fn without_url(error: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(error);
    let mut message = String::from(if error.is_connect() {
        "connect error"
    } else {
        "request error"
    });
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
