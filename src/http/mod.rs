//! The HTTP API: one file per route family (webhooks, outbound `/v1`, `/proxy`, admin, health, the operator
//! console's static files), plus what they share: correlation ids, the access log, problem answers, bearer auth,
//! body limits. What happens to an outbound call between parsing and answering is [`crate::calls`]'s. The routes
//! are split in two ([`public_routes`], [`admin_routes`]) so `server.admin_listen` can serve the admin part (the
//! console included) alone.

mod access_log;
mod admin;
mod admin_commands;
mod admin_events;
mod admin_query;
mod admin_read_model;
mod admin_replays;
mod admin_sagas;
pub mod auth;
mod body;
pub(crate) mod commands;
mod console;
pub mod correlation;
pub mod domain;
mod extract;
mod health;
mod openapi;
pub mod outbound;
pub mod problem;
pub(crate) mod proxy;
mod sagas;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, post};

use crate::config::Config;
use crate::providers::Providers;
use crate::store::Store;
use crate::upstream::rate_limit::CallerLimits;
use problem::{ApiError, Problem};

/// What every handler shares, behind one `Arc`: handlers extract it per request, so a copy is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state itself: configuration, providers, the store, callers and their limits, the admin token, and the
/// orchestration of outbound calls.
pub struct Shared {
    pub config: Arc<Config>,
    pub providers: Arc<Providers>,
    pub store: Arc<dyn Store>,
    pub callers: Arc<auth::Callers>,
    pub caller_limits: Arc<CallerLimits>,
    pub admin: Arc<auth::AdminToken>,
    /// Wakes the deferred-command executor when a command is stored.
    pub commands_wake: Arc<tokio::sync::Notify>,
    /// Wakes the relay when an event with deliveries is stored.
    pub relay_wake: Arc<tokio::sync::Notify>,
    /// Outbound calls' orchestration (admission, idempotency, deferred commands, the adapter call).
    pub calls: Arc<crate::calls::Calls>,
    /// The configured sagas, compiled.
    pub sagas: Arc<crate::sagas::Definitions>,
    /// Wakes the saga executor when a saga is started or retried.
    pub sagas_wake: Arc<tokio::sync::Notify>,
}

impl Shared {
    /// The webhook path over this state's store, subscriptions and relay.
    pub fn ingest(&self) -> crate::ingest::Ingest<'_> {
        crate::ingest::Ingest {
            store: self.store.as_ref(),
            subscriptions: &self.config.subscriptions,
            relay_wake: Some(&self.relay_wake),
            read_model: Some(&self.calls.read_model),
        }
    }
}

/// Every route on one listener (`server.admin_listen` unset): the public routes and the admin routes.
pub fn router(state: AppState) -> Router {
    let routes = public_routes(&state).merge(admin_routes(&state));
    finish(routes, state)
}

/// The public listener's routes when `server.admin_listen` is set: webhooks, `/v1`, `/proxy`, health and the
/// OpenAPI document; the admin routes answer 404 there.
pub fn public_router(state: AppState) -> Router {
    finish(public_routes(&state), state)
}

/// The admin listener's routes (`server.admin_listen`): the admin routes, plus health and the OpenAPI document so
/// probes and operators can use either listener.
pub fn admin_router(state: AppState) -> Router {
    let routes = admin_routes(&state)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", openapi::route(&state.providers));
    finish(routes, state)
}

/// What vendors and internal callers reach: webhooks, the outbound routes, health, and the OpenAPI document (of
/// the state's providers).
fn public_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", openapi::route(&state.providers))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .route("/v1/commands/{id}", get(commands::get))
        .route("/v1/sagas/{saga}", post(sagas::start).get(sagas::get))
        .route("/v1/{provider}/{*rest}", any(domain::domain))
        .route("/proxy/{provider}/{*rest}", any(proxy::proxy))
}

/// The operator's routes, served on `server.admin_listen` when it is set (else on `listen` with the rest): every
/// `/admin/*` route (behind the admin token), the console and `/metrics`. A route added here goes to the right
/// listener by itself.
fn admin_routes(state: &AppState) -> Router<AppState> {
    // The admin token is checked before anything of an admin route runs, its extractors included.
    let token_gated = Router::new()
        .route("/admin/providers", get(admin::providers))
        .route("/admin/events", get(admin_events::list))
        .route("/admin/events/{id}", get(admin_events::detail))
        .route("/admin/events/{id}/replay", post(admin_events::replay))
        .route("/admin/events/{id}/retranslate", post(admin_events::retranslate))
        .route("/admin/replays", post(admin_replays::replay))
        .route("/admin/subscriptions", get(admin_replays::subscriptions))
        .route("/admin/commands", get(admin_commands::list))
        .route("/admin/commands/{id}", get(admin_commands::detail))
        .route("/admin/commands/{id}/cancel", post(admin_commands::cancel))
        .route("/admin/sagas", get(admin_sagas::list))
        .route("/admin/sagas/{id}", get(admin_sagas::detail))
        .route("/admin/sagas/{id}/retry", post(admin_sagas::retry))
        .route(
            "/admin/read-model/{provider}/{kind}/{id}",
            get(admin_read_model::entity),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ))
        // The operator console: static files only, no token (its data comes from the routes above, with one).
        .route("/console", get(console::index))
        .route("/console/", get(console::index))
        .route("/console/assets/{name}", get(console::asset));
    Router::new()
        .route("/metrics", get(crate::metrics::render))
        .merge(token_gated)
}

/// The layers every listener shares: problem answers for unknown routes and methods, the access log, and the
/// correlation id (outermost, so the access log line is in the request's span and quotes its id).
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), access_log::layer))
        .layer(axum::middleware::from_fn(correlation::layer))
        .with_state(state)
}

async fn unknown_route() -> ApiError {
    ApiError::new(Problem::UnknownRoute, "no route matches this path")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(Problem::MethodNotAllowed, "this route does not accept that method")
}
