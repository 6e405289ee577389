//! The orchestration of outbound calls, between the HTTP edge and the adapters: [`admission`] (provider known,
//! caller allowed, caller rate limit), a domain call's [`route`], [`idempotency`] keys, [`deferred`] commands,
//! [`domain`], which runs a `/v1` call through them, and [`fallback`], which answers a single-entity read from the
//! read model when the vendor cannot (or the caller asks it to). HTTP handlers (`http::domain`, `http::proxy`) only parse
//! requests and write responses; the deferred-command executor ([`crate::commands`]) resolves and runs a stored
//! command with the same [`Calls::resolve`] and [`Calls::invoke`]. Failures are classified once, in [`problems`].

pub mod admission;
pub mod deferred;
pub mod domain;
pub mod fallback;
pub mod idempotency;
pub mod problems;
pub mod route;

use std::sync::Arc;

use axum::http::{HeaderValue, Method};
use gatehouse_kit::outbound::{DomainRequest, DomainResponse, OutboundError};
use tokio::sync::Notify;

pub use admission::{Admitted, Caller, Refused};

use crate::config::Config;
use crate::problem::ApiError;
use crate::providers::{Provider, Providers};
use crate::read_model::ReadModel;
use crate::store::{EntitySource, Store};
use crate::upstream::RequestUpstream;
use crate::upstream::rate_limit::CallerLimits;

/// What the orchestration works with, shared by the HTTP handlers and the command executor.
pub struct Calls {
    pub providers: Arc<Providers>,
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub caller_limits: Arc<CallerLimits>,
    /// Wakes the deferred-command executor when a command is stored.
    pub commands_wake: Arc<Notify>,
    /// What successful answers say about entities goes here; fallbacks are answered from it.
    pub read_model: Arc<ReadModel>,
    /// The process's work-stealing runtime: work that must outlive its request (a keyed call, a bulk replay) is
    /// spawned there, never on a per-core runtime, which stops once its connections are done.
    pub background: tokio::runtime::Handle,
}

/// Where a call comes from, as the vendor is told: the correlation id and, from an HTTP caller, its trace context.
#[derive(Debug, Clone)]
pub struct Origin {
    pub correlation_id: HeaderValue,
    pub traceparent: Option<HeaderValue>,
}

impl Calls {
    /// Admits `caller`'s call to provider `name` ([`admission::admit`]).
    pub async fn admit<'a>(&'a self, caller: &'a Caller, name: &str) -> Result<Admitted<'a>, Box<Refused>> {
        admission::admit(&self.providers, &self.caller_limits, caller, name).await
    }

    /// The domain request for `method` on `path_and_query` under `/v1/{provider}` (a stored command's path; an
    /// HTTP request's is resolved piecewise by its handler): its route, decoded path parameters and query.
    pub fn resolve(
        provider: &Provider,
        method: Method,
        path_and_query: &str,
        body: bytes::Bytes,
        idempotency_key: Option<String>,
    ) -> Result<DomainRequest, ApiError> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let (spec, params) = route::match_route(provider, &method, path)?;
        Ok(DomainRequest {
            route: spec.path,
            method,
            params,
            query: route::query_pairs(Some(query))?,
            body,
            idempotency_key,
        })
    }

    /// Runs `request` through `provider`'s adapter and policy stack, and keeps what a successful answer says about
    /// the provider's entities in the read model.
    pub async fn invoke(
        &self,
        provider: &Provider,
        request: DomainRequest,
        origin: Origin,
    ) -> Result<DomainResponse, OutboundError> {
        self.call(provider, request, origin, true).await.0
    }

    /// [`Self::invoke`], keeping the answer in the read model only when `keep` (`Cache-Control: no-store` says
    /// not to; a vendor's 404 to a kept entity's single-entity read marks it deleted); also says whether the read
    /// model holds the answer. The only way a domain request reaches a vendor.
    pub async fn call(
        &self,
        provider: &Provider,
        request: DomainRequest,
        origin: Origin,
        keep: bool,
    ) -> (Result<DomainResponse, OutboundError>, bool) {
        let (method, route) = (request.method.clone(), request.route);
        // A call on a kept entity's own route (its single-entity read): a deletion that went through, or a vendor
        // 404 to a read or a deletion, marks it deleted.
        let entity = (keep && (method == Method::GET || method == Method::DELETE))
            .then(|| crate::read_model::read_kind(provider, route))
            .flatten()
            .and_then(|kind| Some((kind, request.param("id")?.to_owned())));
        let result = self.send(provider, request, origin).await;
        let kept = match (&result, entity) {
            (Ok(_), Some((kind, id))) if method == Method::DELETE => {
                self.read_model.observe_gone(provider, kind, &id, EntitySource::Write);
                false
            }
            (Ok(answer), _) if keep => self.read_model.observe(provider, &method, route, answer),
            (Err(OutboundError::NotFound(_)), Some((kind, id))) => {
                self.read_model.observe_gone(provider, kind, &id, EntitySource::Read);
                false
            }
            _ => false,
        };
        (result, kept)
    }

    async fn send(
        &self,
        provider: &Provider,
        request: DomainRequest,
        origin: Origin,
    ) -> Result<DomainResponse, OutboundError> {
        let Some(client) = provider.outbound.as_ref() else {
            return Err(OutboundError::InvalidRequest(format!(
                "provider {} takes no outbound calls",
                provider.name
            )));
        };
        let upstream = RequestUpstream {
            client,
            correlation_id: origin.correlation_id,
            traceparent: origin.traceparent,
            max_body_bytes: self.config.server.max_body_bytes,
        };
        provider.adapter.call(request, &upstream).await
    }
}
