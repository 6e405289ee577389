//! A domain call answered by the vendor or, for a single-entity read the provider's `fallback` allows, by the read
//! model: when the vendor fails for a vendor-side reason (open breaker, full bulkhead, timeout, connect error,
//! 5xx, 429), or when the caller asks for `Cache-Control: only-if-cached`. A stored copy is labelled with `Age`
//! and RFC 9211 `Cache-Status` (`gatehouse; fwd=stale; detail=<why>`); so is every vendor answer
//! (`gatehouse; fwd=miss`, `; stored` when the read model kept it). Callers steer it with RFC 9111 request
//! directives ([`Directives`]): `only-if-cached` (504 `not-cached` when nothing is fresh enough), `max-stale=N`
//! and `max-age=N` narrow how old a copy may be, `no-cache` forbids a stored answer, `no-store` keeps the answer
//! out of the read model. Caller errors (4xx) never fall back; a copy never crosses providers (the entity's key
//! names the provider the caller was admitted to).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use gatehouse_kit::outbound::DomainRequest;

use super::problems::outbound_problem;
use super::{Calls, Origin};
use crate::config::ReadFallback;
use crate::problem::{ApiError, Problem};
use crate::providers::Provider;
use crate::store::EntityState;

/// Marks an answer the read model gave (in the response's extensions), so metrics tell it from the vendor's.
#[derive(Debug, Clone, Copy)]
pub struct FromReadModel;

/// The request's `Cache-Control` (RFC 9111 §5.2.1) as far as the read model is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    pub only_if_cached: bool,
    pub no_cache: bool,
    pub no_store: bool,
    /// `max-stale=N`: no copy older than this (`max-stale` alone sets no limit).
    pub max_stale: Option<Duration>,
    /// `max-age=N`: no copy older than this either.
    pub max_age: Option<Duration>,
}

impl Directives {
    /// The directives of every `Cache-Control` header (names case-insensitive, values quoted or not; a directive
    /// with an invalid value is ignored), and HTTP/1.0's `Pragma: no-cache` when there is no `Cache-Control`.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut directives = Self::default();
        let mut any = false;
        for value in headers.get_all(header::CACHE_CONTROL) {
            any = true;
            let Ok(text) = value.to_str() else { continue };
            for directive in text.split(',') {
                let (name, argument) = match directive.split_once('=') {
                    Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                let seconds = || argument.and_then(|a| a.parse::<u64>().ok()).map(Duration::from_secs);
                match name.to_ascii_lowercase().as_str() {
                    "only-if-cached" => directives.only_if_cached = true,
                    "no-cache" => directives.no_cache = true,
                    "no-store" => directives.no_store = true,
                    "max-stale" => directives.max_stale = seconds(),
                    "max-age" => directives.max_age = seconds(),
                    _ => {}
                }
            }
        }
        if !any {
            directives.no_cache = headers
                .get_all(header::PRAGMA)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("no-cache")));
        }
        directives
    }

    /// The oldest copy the caller and the route's fallback both accept.
    fn limit(&self, fallback: ReadFallback) -> Duration {
        [Some(fallback.max_stale), self.max_stale, self.max_age]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(fallback.max_stale)
    }
}

/// The read this call is, when its route is answered from the read model: the entity's kind and id, and the
/// route's fallback.
struct Read {
    kind: &'static str,
    id: String,
    fallback: ReadFallback,
}

/// Runs an unkeyed domain call: from the read model (`only-if-cached`), or through the vendor with the read model
/// as its fallback.
pub async fn serve(
    calls: &Calls,
    provider: &Provider,
    request: DomainRequest,
    origin: Origin,
    directives: Directives,
) -> Response {
    let read = (request.method == Method::GET)
        .then(|| crate::read_model::read_fallback(provider, request.route))
        .flatten()
        .and_then(|(kind, fallback)| {
            let id = request.param("id")?.to_owned();
            Some(Read { kind, id, fallback })
        });
    if directives.only_if_cached {
        return match read {
            // `no-cache` forbids a stored answer, `only-if-cached` the vendor: nothing may answer (RFC 9111).
            Some(_) if directives.no_cache => not_cached("only-if-cached and no-cache together: nothing may answer"),
            Some(read) => stored_only(calls, provider, &read, directives).await,
            None => not_cached("this route is not answered from the read model"),
        };
    }
    let forwarded = match (&read, directives.no_cache) {
        (_, true) => "request",
        (None, _) if request.method != Method::GET => "method",
        (None, _) => "bypass",
        (Some(_), false) => "miss",
    };
    let (result, stored) = calls.call(provider, request, origin, !directives.no_store).await;
    let error = match result {
        Ok(answer) => {
            let status = if stored {
                format!("gatehouse; fwd={forwarded}; stored")
            } else {
                format!("gatehouse; fwd={forwarded}")
            };
            return labelled(super::domain::answer(Ok(answer)), &status);
        }
        Err(error) => error,
    };
    // Not the caller's fault, and not final: what the kit tags retryable.
    let vendor_side = error.tags().retryable();
    if let Some(read) = read.filter(|_| vendor_side && !directives.no_cache) {
        let problem = outbound_problem(error);
        let reason = problem.problem().slug();
        return match lookup(calls, provider, &read, directives, reason).await {
            Found::Usable(state) => copy(&state, &format!("gatehouse; fwd=stale; detail={reason}")),
            Found::Deleted => deleted(provider, &read, "gatehouse; fwd=stale; detail=deleted"),
            Found::Nothing => labelled(problem.into_response(), &format!("gatehouse; fwd={forwarded}")),
        };
    }
    labelled(
        outbound_problem(error).into_response(),
        &format!("gatehouse; fwd={forwarded}"),
    )
}

/// `only-if-cached`: the stored copy if it is fresh enough, without calling the vendor.
async fn stored_only(calls: &Calls, provider: &Provider, read: &Read, directives: Directives) -> Response {
    match lookup(calls, provider, read, directives, "only-if-cached").await {
        Found::Usable(state) => copy(&state, "gatehouse; hit"),
        Found::Deleted => deleted(provider, read, "gatehouse; hit; detail=deleted"),
        Found::Nothing => not_cached(&format!(
            "no stored {} {} is fresh enough (only-if-cached)",
            read.kind, read.id
        )),
    }
}

enum Found {
    Usable(Arc<EntityState>),
    Deleted,
    Nothing,
}

/// The stored state (or deletion), if the caller and the route accept its age; one that will answer is counted
/// under `reason`. A store failure counts as nothing stored: the caller gets the answer it would have had without
/// a read model.
async fn lookup(
    calls: &Calls,
    provider: &Provider,
    read: &Read,
    directives: Directives,
    reason: &'static str,
) -> Found {
    let state = match calls.read_model.lookup(&provider.name, read.kind, &read.id).await {
        Ok(Some(state)) => state,
        Ok(None) => return Found::Nothing,
        Err(error) => {
            tracing::warn!(%error, "cannot read the read model; answering without it");
            return Found::Nothing;
        }
    };
    let limit = u128::from(u64::try_from(directives.limit(read.fallback).as_millis()).unwrap_or(u64::MAX));
    let age = crate::clock::now_ms().saturating_sub(state.observed_at_ms).max(0);
    if u128::from(age.unsigned_abs()) > limit {
        return Found::Nothing;
    }
    metrics::counter!(crate::metrics::FALLBACK_ANSWERS, "provider" => provider.name.clone(), "reason" => reason)
        .increment(1);
    if state.deleted {
        Found::Deleted
    } else {
        Found::Usable(state)
    }
}

/// The stored copy as a 200, with its `Age` and `Cache-Status`.
fn copy(state: &EntityState, status: &str) -> Response {
    let age = crate::clock::now_ms().saturating_sub(state.observed_at_ms).max(0) / 1000;
    let json = HeaderValue::from_static("application/json");
    let mut response = ([(header::CONTENT_TYPE, json)], state.body.clone()).into_response();
    response.headers_mut().insert(header::AGE, HeaderValue::from(age));
    response.extensions_mut().insert(FromReadModel);
    labelled(response, status)
}

fn deleted(provider: &Provider, read: &Read, status: &str) -> Response {
    let detail = format!("{} said {} {} was deleted", provider.name, read.kind, read.id);
    let mut response = ApiError::new(Problem::NotFound, detail).into_response();
    response.extensions_mut().insert(FromReadModel);
    labelled(response, status)
}

fn not_cached(detail: &str) -> Response {
    labelled(
        ApiError::new(Problem::NotCached, detail).into_response(),
        "gatehouse; detail=not-cached",
    )
}

fn labelled(mut response: Response, status: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(status) {
        response.headers_mut().insert("cache-status", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(values: &[(&str, &str)]) -> Directives {
        let mut headers = HeaderMap::new();
        for (name, value) in values {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Directives::parse(&headers)
    }

    #[test]
    fn reads_the_request_directives_of_rfc_9111() {
        assert_eq!(parsed(&[]), Directives::default());
        let all = parsed(&[
            ("cache-control", "Only-If-Cached, max-stale=\"60\""),
            ("cache-control", "no-store"),
        ]);
        assert!(all.only_if_cached && all.no_store && !all.no_cache);
        assert_eq!(all.max_stale, Some(Duration::from_secs(60)));
        assert_eq!(parsed(&[("cache-control", "max-stale")]).max_stale, None);
        assert_eq!(parsed(&[("cache-control", "max-stale=soon")]).max_stale, None);
        assert_eq!(
            parsed(&[("cache-control", "max-age=5")]).max_age,
            Some(Duration::from_secs(5))
        );
        assert!(parsed(&[("pragma", "no-cache")]).no_cache);
        assert!(!parsed(&[("pragma", "no-cache"), ("cache-control", "max-age=5")]).no_cache);
        assert!(!parsed(&[("cache-control", "no-cache-please")]).no_cache);
    }

    #[test]
    fn the_narrowest_limit_wins() {
        let route = ReadFallback {
            enabled: true,
            max_stale: Duration::from_secs(3600),
        };
        assert_eq!(Directives::default().limit(route), route.max_stale);
        let wider = parsed(&[("cache-control", "max-stale=86400")]);
        assert_eq!(
            wider.limit(route),
            route.max_stale,
            "a caller cannot widen the provider's max_stale"
        );
        let narrower = parsed(&[("cache-control", "max-stale=600, max-age=60")]);
        assert_eq!(narrower.limit(route), Duration::from_secs(60));
    }
}
