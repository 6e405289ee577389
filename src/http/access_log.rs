//! The access log: one `info` line per request on target `gatehouse::access`, written when the response's head is
//! ready: method, route template (never the raw path, which may carry ids or tokens; an unmatched request is
//! [`UNMATCHED`]), status, duration in milliseconds, the provider (when the route names a configured one), the
//! authenticated caller (set by [`record_caller`] from `auth`) and the correlation id. Never a body, query string,
//! header, key or secret.
//!
//! Silence it with `GATEHOUSE_LOG=info,gatehouse::access=off`; when the filter would discard the line, nothing of it
//! is gathered either.

use std::cell::RefCell;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use super::AppState;
use super::correlation::CorrelationId;

/// The log target of access lines.
pub const TARGET: &str = "gatehouse::access";
/// The route logged for a request no route matches.
pub const UNMATCHED: &str = "<unmatched>";

tokio::task_local! {
    /// The caller the request authenticated as, filled by [`record_caller`] while the request runs.
    static CALLER: RefCell<Option<Arc<str>>>;
}

/// Notes the authenticated caller of the request being served, for its access line (a no-op outside one).
pub fn record_caller(name: &Arc<str>) {
    let _ = CALLER.try_with(|caller| *caller.borrow_mut() = Some(Arc::clone(name)));
}

/// The route template of a request, as logged: axum's matched path (a shared string), or [`UNMATCHED`].
pub struct Route(Option<MatchedPath>);

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_ref().map_or(UNMATCHED, MatchedPath::as_str))
    }
}

pub fn route_of(request: &Request) -> Route {
    Route(request.extensions().get::<MatchedPath>().cloned())
}

/// The middleware: runs the request and writes its access line once the response's head is ready.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let route = route_of(&request);
    let correlation_id = request.extensions().get::<CorrelationId>().cloned();
    let (mut parts, body) = request.into_parts();
    let provider = provider_of(&mut parts, &state).await;
    let request = Request::from_parts(parts, body);
    let (response, caller) = CALLER
        .scope(RefCell::new(None), async {
            let response = next.run(request).await;
            let caller = CALLER.with(|caller| caller.borrow_mut().take());
            (response, caller)
        })
        .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: TARGET,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        duration_ms = (duration_ms * 1000.0).round() / 1000.0,
        provider = provider.as_deref(),
        caller = caller.as_deref(),
        correlation_id = correlation_id.as_ref().map(CorrelationId::as_str),
        "request"
    );
    response
}

/// The `{provider}` path parameter, when the route has one and it names a configured provider (anything else a
/// client typed is not logged).
async fn provider_of(parts: &mut axum::http::request::Parts, state: &AppState) -> Option<String> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    let (_, name) = params.iter().find(|(key, _)| *key == "provider")?;
    state.providers.get(name).map(|_| name.to_owned())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    #[test]
    fn unmatched_requests_log_a_placeholder() {
        let request = Request::new(Body::empty());
        assert_eq!(route_of(&request).to_string(), UNMATCHED);
    }

    #[tokio::test]
    async fn the_caller_is_recorded_only_inside_a_request() {
        let name: Arc<str> = Arc::from("billing");
        record_caller(&name);
        let seen = CALLER
            .scope(RefCell::new(None), async {
                record_caller(&name);
                CALLER.with(|caller| caller.borrow().clone())
            })
            .await;
        assert_eq!(seen.as_deref(), Some("billing"));
    }
}
