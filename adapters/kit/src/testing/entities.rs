//! The check of an adapter's entity declarations ([`crate::Adapter::entities`]): what the gateway relies on to keep
//! a read model from them alone.

use http::Method;

use crate::adapter::Adapter;

/// Checks every [`crate::entity::EntitySpec`] the adapter declares.
///
/// # Panics
/// When a kind is blank, not lowercase ASCII letters, digits, `-` or `_`, or declared twice; when `read` is not a
/// `GET` route of the adapter with an `{id}` parameter; when an `answers` entry names no route of the adapter;
/// when an event-type pattern is blank or has a `*` anywhere but at its end.
pub fn assert_entities(adapter: &dyn Adapter) {
    let name = adapter.name();
    let routes = adapter.routes();
    let has_route = |method: &Method, path: &str| routes.iter().any(|r| r.method == method && r.path == path);
    let mut kinds = Vec::new();
    for spec in adapter.entities() {
        let kind = spec.kind;
        let named = !kind.is_empty()
            && kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        assert!(
            named,
            "{name} declares an entity kind {kind:?}: use lowercase letters, digits, - or _"
        );
        assert!(!kinds.contains(&kind), "{name} declares the entity kind {kind:?} twice");
        kinds.push(kind);
        assert!(
            has_route(&Method::GET, spec.read) && spec.read.contains("{id}"),
            "{name}'s {kind} read {:?} must be a GET route of the adapter with an {{id}} parameter",
            spec.read
        );
        for answers in spec.answers {
            assert!(
                has_route(&answers.method, answers.path),
                "{name}'s {kind} answers {} {}, which is not one of its routes",
                answers.method,
                answers.path
            );
        }
        for pattern in spec.upserted_by.iter().chain(spec.deleted_by) {
            let star = pattern.find('*');
            assert!(
                !pattern.trim().is_empty() && star.is_none_or(|at| at == pattern.len() - 1),
                "{name}'s {kind} names the event-type pattern {pattern:?}: exact, or a prefix ending in *"
            );
        }
    }
}
