//! A domain call's route: the adapter route serving a method on a path under `/v1/{provider}` (matched on the raw
//! path, so an encoded `/` stays inside its segment), its path parameters decoded exactly once, and the query
//! string decoded into pairs. The HTTP handler and the deferred-command executor (a stored command's path) resolve
//! routes the same way.

use axum::http::Method;
use gatehouse_kit::outbound::RouteSpec;

use crate::problem::{ApiError, Problem};
use crate::providers::Provider;

/// Path parameters by name, decoded.
pub type Params = Vec<(String, String)>;

/// The adapter route serving `method` on `path` (relative to `/v1/{provider}`, still percent-encoded), with its
/// path parameters decoded exactly once, as [`gatehouse_kit::outbound::DomainRequest`] promises.
pub fn match_route(provider: &Provider, method: &Method, path: &str) -> Result<(&'static RouteSpec, Params), ApiError> {
    let Ok(matched) = provider.routes.at(path) else {
        return Err(ApiError::new(
            Problem::UnknownRoute,
            format!("{} has no route {path}", provider.name),
        ));
    };
    let routes = provider.adapter.routes();
    let Some(spec) = matched
        .value
        .iter()
        .filter_map(|i| routes.get(*i))
        .find(|r| r.method == method)
    else {
        let allowed: Vec<&str> = matched
            .value
            .iter()
            .filter_map(|i| routes.get(*i))
            .map(|r| r.method.as_str())
            .collect();
        return Err(
            ApiError::new(Problem::MethodNotAllowed, format!("{path} does not accept {method}"))
                .allow(allowed.join(", ")),
        );
    };
    let params = matched
        .params
        .iter()
        .map(|(k, v)| {
            let value = percent_encoding::percent_decode_str(v).decode_utf8().map_err(|_| {
                ApiError::new(
                    Problem::InvalidRequest,
                    format!("path parameter `{k}` is not UTF-8 once decoded"),
                )
            })?;
            Ok((k.to_owned(), value.into_owned()))
        })
        .collect::<Result<Params, ApiError>>()?;
    Ok((spec, params))
}

/// The query string decoded into pairs, or 400.
pub fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::new(Problem::InvalidRequest, format!("the query string is invalid: {e}")))
}
