//! The innermost layer: hyper-util connection pools, one per provider and thread (`HttpConnector`, rustls through `hyper-rustls`
//! for `https` base URLs with the platform's verifier, whose roots are loaded only for those, HTTP/1.1 and HTTP/2 by ALPN; a connect timeout, no redirects,
//! no retries of its own, no proxy from the environment) that sends a [`Call`] to `base_url` with the provider's
//! credentials and the request's correlation and trace headers.
//!
//! `base_url` is split once, at build time, into scheme, authority (with its `Host` header) and base path, so a
//! call's `http::Uri` is built from those parts and the call's path without parsing a URL: the origin is fixed by
//! construction, and [`HttpClient::uri`] refuses a path that could climb out of the base path.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use gatehouse_kit::outbound::UpstreamError;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use secrecy::ExposeSecret;
use thread_local::ThreadLocal;

use super::Call;
use crate::config::{ConfigError, Credentials};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A resolved credential: the header it goes in, marked sensitive so it never prints.
#[derive(Clone)]
struct Credential {
    name: HeaderName,
    value: HeaderValue,
}

/// A provider's HTTP client: the pools, the pre-split `base_url` and the credential.
pub struct HttpClient {
    /// The pool of the work-stealing runtime's threads, whose tasks move between them.
    shared: Client<Connector, Full<Bytes>>,
    /// One pool per single-threaded runtime (`server.runtime = "per-core"`), made on its first call: a pooled
    /// connection is driven by a task of the runtime that opened it, so a request and its vendor connection stay
    /// on one thread.
    pools: ThreadLocal<Client<Connector, Full<Bytes>>>,
    connector: Connector,
    concurrency: usize,
    scheme: Scheme,
    authority: Authority,
    /// `Host` as the vendor expects it (no default port), built once.
    host: HeaderValue,
    /// The base URL's path without its trailing `/` (empty for a bare origin).
    base_path: String,
    credential: Option<Credential>,
}

impl HttpClient {
    pub fn build(
        key: &str,
        base_url: &str,
        credentials: Option<&Credentials>,
        timeout: Duration,
        concurrency: usize,
    ) -> Result<Self, ConfigError> {
        let invalid = || {
            ConfigError::invalid(
                format!("{key}.base_url"),
                "expected an http(s) URL with a host and no query, fragment or user info",
            )
        };
        let base = url::Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .filter(|u| u.username().is_empty() && u.password().is_none())
            .ok_or_else(invalid)?;
        // The URL crate's serialisation: lower-cased host, default port dropped, path normalised and encoded.
        let scheme = Scheme::try_from(base.scheme()).map_err(|_| invalid())?;
        let host_text = match (base.host_str(), base.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(invalid()),
        };
        let authority = Authority::try_from(host_text.as_str()).map_err(|_| invalid())?;
        let host = HeaderValue::from_str(&host_text).map_err(|_| invalid())?;
        let base_path = base.path().trim_end_matches('/').to_owned();
        let credential = credentials
            .map(|c| resolve_credential(&format!("{key}.credentials"), c))
            .transpose()?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // TLS (and the platform's roots, which must then exist) only for an https vendor: a gateway whose vendors
        // are all plain http starts without a CA store.
        let transport = if scheme == Scheme::HTTPS {
            let tls = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_platform_verifier(rustls::crypto::aws_lc_rs::default_provider())
                .map_err(|e| ConfigError::invalid(key, format!("cannot set up TLS: {e}")))?
                .https_only()
                .enable_all_versions();
            Transport::Tls(tls.wrap_connector(tcp))
        } else {
            Transport::Plain(tcp)
        };
        let connector = Connector {
            transport,
            timeout: timeout.min(Duration::from_secs(5)),
        };
        Ok(Self {
            shared: pool(&connector, concurrency),
            pools: ThreadLocal::new(),
            connector,
            concurrency,
            scheme,
            authority,
            host,
            base_path,
            credential,
        })
    }

    /// `base_url` joined with `path_and_query`; refused when the path does not start with `/`, could climb out of
    /// the base path (a `.` or `..` segment, plain or percent-encoded, or a backslash) or is not a valid URI path.
    /// The scheme and authority are the base URL's own, so the call cannot reach another origin.
    pub fn uri(&self, path_and_query: String) -> Result<Uri, UpstreamError> {
        let outside = || UpstreamError::Connect("the path would leave the provider's base_url".into());
        if !path_and_query.starts_with('/') {
            return Err(outside());
        }
        let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
        let climbs = path.contains('\\')
            || path.split('/').any(|segment| {
                let segment = segment.as_bytes();
                segment.len() <= 6 && {
                    let lower = segment.to_ascii_lowercase();
                    matches!(lower.as_slice(), b"." | b".." | b"%2e" | b".%2e" | b"%2e." | b"%2e%2e")
                }
            });
        if climbs {
            return Err(outside());
        }
        let joined = if self.base_path.is_empty() {
            path_and_query
        } else {
            format!("{}{path_and_query}", self.base_path)
        };
        let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(joined)).map_err(|_| outside())?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|_| outside())
    }

    /// Sends `call` as it is (one attempt; the retry layer decides about others).
    pub async fn send(&self, call: Call) -> Result<Response<Incoming>, UpstreamError> {
        let Call {
            method,
            path_and_query,
            headers,
            body,
            correlation_id,
            traceparent,
            ..
        } = call;
        let request = self.request(method, path_and_query, headers, body, correlation_id, traceparent)?;
        self.execute(request).await
    }

    /// Sends a copy of `call`, which stays available for another attempt.
    pub async fn send_copy(&self, call: &Call) -> Result<Response<Incoming>, UpstreamError> {
        let request = self.request(
            call.method.clone(),
            call.path_and_query.clone(),
            call.headers.clone(),
            call.body.clone(),
            call.correlation_id.clone(),
            call.traceparent.clone(),
        )?;
        self.execute(request).await
    }

    fn request(
        &self,
        method: http::Method,
        path_and_query: String,
        mut headers: HeaderMap,
        body: Bytes,
        correlation_id: Option<HeaderValue>,
        traceparent: Option<HeaderValue>,
    ) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let uri = self.uri(path_and_query)?;
        if let Some(credential) = &self.credential {
            headers.insert(credential.name.clone(), credential.value.clone());
        }
        if let Some(id) = correlation_id {
            headers.insert(crate::correlation::HEADER_NAME, id);
        }
        if let Some(traceparent) = traceparent {
            headers.insert(crate::http::outbound::TRACEPARENT, traceparent);
        }
        headers.insert(header::HOST, self.host.clone());
        headers.entry(header::ACCEPT).or_insert(HeaderValue::from_static("*/*"));
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// The pool for a call from this thread: its own on a single-threaded runtime, else the shared one.
    fn pool(&self) -> &Client<Connector, Full<Bytes>> {
        let single = tokio::runtime::Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        if single {
            self.pools.get_or(|| pool(&self.connector, self.concurrency))
        } else {
            &self.shared
        }
    }

    async fn execute(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, UpstreamError> {
        self.pool().request(request).await.map_err(|e| {
            if timed_out(&e) {
                UpstreamError::Timeout
            } else {
                UpstreamError::Connect(without_url(&e))
            }
        })
    }
}

/// A connection pool over `connector`, keeping up to `concurrency` idle connections for 90 s.
fn pool(connector: &Connector, concurrency: usize) -> Client<Connector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(concurrency)
        .build(connector.clone())
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

/// Whether a timeout (the connect timeout, or the OS's) caused `error`.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The client's message without the URL (which may carry ids the caller sent; keep logs plain): what failed and
/// the chain of causes.
fn without_url(error: &hyper_util::client::legacy::Error) -> String {
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

/// The connector for the provider's scheme, with a deadline on the whole connection set-up (TCP and TLS handshake).
#[derive(Clone)]
struct Connector {
    transport: Transport,
    timeout: Duration,
}

/// Plain TCP for an `http` base URL, rustls over it for `https`.
#[derive(Clone)]
enum Transport {
    Plain(HttpConnector),
    Tls(HttpsConnector<HttpConnector>),
}

type Connection = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

impl tower::Service<Uri> for Connector {
    type Response = Connection;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Connection, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match &mut self.transport {
            Transport::Plain(tcp) => tcp.poll_ready(cx).map_err(Into::into),
            Transport::Tls(tls) => tls.poll_ready(cx),
        }
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting: Self::Future = match &mut self.transport {
            Transport::Plain(tcp) => {
                let connecting = tcp.call(uri);
                Box::pin(async move { Ok(MaybeHttpsStream::Http(connecting.await?)) })
            }
            Transport::Tls(tls) => Box::pin(tls.call(uri)),
        };
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out").into()),
            }
        })
    }
}
