//! How an adapter describes its domain routes for the gateway's OpenAPI document (`GET /openapi.json`):
//! [`RouteDocs`], what [`crate::Adapter::openapi`] answers.
//!
//! An adapter says only what it alone knows about each route ([`RouteDoc`]: operation id, summary, path and query
//! parameters, the request body's and the answer's schemas, what makes a request invalid, what a vendor 404 is
//! about, whether the caller's `Idempotency-Key` reaches the vendor), and contributes the named schemas those
//! refer to, derived with `utoipa::ToSchema` from the very types its routes read and answer (the kit's
//! [`crate::domain`] types, its own request bodies). The gateway wraps every route with what all domain routes
//! share (the caller key, correlation and rate-limit headers, problem responses, `Idempotency-Key` and
//! `Prefer: respond-async` on mutations, the read model's headers on the read of an entity the adapter declares)
//! and lists it under `/v1/{provider}` for each configured provider the adapter serves.
//!
//! Schema names are one namespace across adapters (two adapters naming one schema must describe it the same) and
//! so are operation ids (a provider not named after its adapter gets its ids qualified by its name); the gateway's
//! tests hold every registered adapter to both, and to [`RouteDocs::problems`].

use std::borrow::Cow;
use std::collections::BTreeSet;

use http::{Method, StatusCode};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use crate::outbound::RouteSpec;

/// What an adapter contributes to the OpenAPI document: one [`RouteDoc`] per route of [`crate::Adapter::routes`],
/// and the named schemas they refer to. Empty for a webhook-only adapter.
#[derive(Clone, Default)]
pub struct RouteDocs {
    /// What the routes are about, for the provider's tag: "Customers, through the Acme CRM adapter".
    pub about: &'static str,
    pub routes: Vec<RouteDoc>,
    /// `(name, schema)`: every schema the routes name, and every schema those refer to (`$ref`) in turn.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

impl RouteDocs {
    pub fn new(about: &'static str) -> Self {
        Self {
            about,
            ..Self::default()
        }
    }

    pub fn route(mut self, route: RouteDoc) -> Self {
        self.routes.push(route);
        self
    }

    /// Adds `T`'s schema under its own name, with the named schemas it refers to (its fields' types).
    pub fn schema<T: ToSchema>(self) -> Self {
        let name = T::name().into_owned();
        self.schema_as::<T>(name)
    }

    /// Adds `T`'s schema under `name` (an instance of a generic type: `Page<Customer>` as `CustomerPage`), with
    /// the named schemas it refers to. A generic type's parameters are not among those: add them too.
    pub fn schema_as<T: ToSchema>(self, name: impl Into<String>) -> Self {
        let mut referred = Vec::new();
        T::schemas(&mut referred);
        self.named(name, T::schema()).extend(referred)
    }

    /// Adds a schema built by hand (or a derived one adjusted), under `name`.
    pub fn named(mut self, name: impl Into<String>, schema: RefOr<Schema>) -> Self {
        let name = name.into();
        if !self.schemas.iter().any(|(known, _)| *known == name) {
            self.schemas.push((name, schema));
        }
        self
    }

    fn extend(self, schemas: Vec<(String, RefOr<Schema>)>) -> Self {
        schemas
            .into_iter()
            .fold(self, |docs, (name, schema)| docs.named(name, schema))
    }

    /// Every schema name the docs refer to: each route's body and answer, and every `$ref` inside the contributed
    /// schemas and query parameters.
    pub fn references(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for route in &self.routes {
            names.extend(route.body.iter().map(|name| name.to_string()));
            names.extend(route.answer.schema.iter().map(|name| name.to_string()));
            for param in &route.query {
                schema_refs(&serde_json::to_value(&param.schema).unwrap_or_default(), &mut names);
            }
        }
        for (_, schema) in &self.schemas {
            schema_refs(&serde_json::to_value(schema).unwrap_or_default(), &mut names);
        }
        names
    }

    /// What is wrong with these docs for an adapter serving `routes` (empty when nothing is): a route without a
    /// doc or with two, a doc of no route, path parameters other than the path's, a schema referred to but not
    /// contributed, a schema contributed twice, an operation id that is not an identifier or is used twice, an
    /// answer that is not a success, a method OpenAPI cannot describe.
    pub fn problems(&self, routes: &[RouteSpec]) -> Vec<String> {
        let mut problems = Vec::new();
        for route in routes {
            let docs = self.routes.iter().filter(|doc| doc.describes(route)).count();
            if docs != 1 {
                problems.push(format!("{} {} has {docs} docs", route.method, route.path));
            }
        }
        let mut ids = BTreeSet::new();
        for doc in &self.routes {
            problems.extend(doc.problems(routes));
            if !ids.insert(doc.operation_id) {
                problems.push(format!("operation id {} is used twice", doc.operation_id));
            }
        }
        let contributed: BTreeSet<&str> = self.schemas.iter().map(|(name, _)| name.as_str()).collect();
        if contributed.len() != self.schemas.len() {
            problems.push("a schema name is contributed twice".to_owned());
        }
        for name in self.references() {
            if !contributed.contains(name.as_str()) {
                problems.push(format!("schema {name} is referred to but not contributed"));
            }
        }
        problems
    }
}

/// One domain route, as the adapter describes it. Build it with [`RouteDoc::new`] and its builder methods.
#[derive(Clone)]
pub struct RouteDoc {
    /// The route's method and path, exactly as in its [`RouteSpec`].
    pub method: Method,
    pub path: &'static str,
    /// An identifier (`getCustomer`), unique among every registered adapter's.
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    /// Each `{name}` of `path`, with its description.
    pub path_params: Vec<(&'static str, &'static str)>,
    pub query: Vec<QueryParam>,
    /// The name of the JSON body's schema; `None` when the route takes no body.
    pub body: Option<Cow<'static, str>>,
    pub answer: Answer,
    /// What makes a caller's request invalid (400 `invalid-request`), e.g. "the `id` is not UTF-8 once decoded".
    pub invalid: &'static str,
    /// On a route about one resource, what it is ("customer"): the vendor's 404 is `not-found`.
    pub not_found: Option<&'static str>,
    /// When the adapter forwards the caller's `Idempotency-Key` to the vendor, what the vendor does with it
    /// ("Stripe creates one payment per key").
    pub forwarded_key: Option<&'static str>,
}

/// A route's success answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub description: &'static str,
    /// The name of the JSON body's schema; `None` for an answer without a body (204).
    pub schema: Option<Cow<'static, str>>,
}

/// A query parameter a route reads (never required: an empty value is the same as an absent one).
#[derive(Clone)]
pub struct QueryParam {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: RefOr<Schema>,
}

impl RouteDoc {
    /// The doc of `method path` (as in the route's [`RouteSpec`]), answering `200` with no body until
    /// [`Self::answers`] says otherwise.
    pub fn new(method: Method, path: &'static str, operation_id: &'static str, summary: &'static str) -> Self {
        Self {
            method,
            path,
            operation_id,
            summary,
            description: None,
            path_params: Vec::new(),
            query: Vec::new(),
            body: None,
            answer: Answer {
                status: StatusCode::OK,
                description: "Done",
                schema: None,
            },
            invalid: "the request is not what the route takes",
            not_found: None,
            forwarded_key: None,
        }
    }

    pub fn description(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }

    pub fn path_param(mut self, name: &'static str, description: &'static str) -> Self {
        self.path_params.push((name, description));
        self
    }

    pub fn query(mut self, name: &'static str, description: &'static str, schema: impl Into<RefOr<Schema>>) -> Self {
        self.query.push(QueryParam {
            name,
            description,
            schema: schema.into(),
        });
        self
    }

    /// The route takes a JSON body of the schema named `schema` (`NewCustomer::name()`).
    pub fn body(mut self, schema: impl Into<Cow<'static, str>>) -> Self {
        self.body = Some(schema.into());
        self
    }

    /// The route answers `status` with a JSON body of the schema named `schema`.
    pub fn answers(
        mut self,
        status: StatusCode,
        description: &'static str,
        schema: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.answer = Answer {
            status,
            description,
            schema: Some(schema.into()),
        };
        self
    }

    /// The route answers `status` without a body.
    pub fn answers_empty(mut self, status: StatusCode, description: &'static str) -> Self {
        self.answer = Answer {
            status,
            description,
            schema: None,
        };
        self
    }

    pub fn invalid(mut self, invalid: &'static str) -> Self {
        self.invalid = invalid;
        self
    }

    pub fn not_found(mut self, resource: &'static str) -> Self {
        self.not_found = Some(resource);
        self
    }

    pub fn forwards_key(mut self, effect: &'static str) -> Self {
        self.forwarded_key = Some(effect);
        self
    }

    /// Whether this is the doc of `route`.
    pub fn describes(&self, route: &RouteSpec) -> bool {
        self.method == route.method && self.path == route.path
    }

    fn problems(&self, routes: &[RouteSpec]) -> Vec<String> {
        let at = format!("{} {}", self.method, self.path);
        let mut problems = Vec::new();
        if !routes.iter().any(|route| self.describes(route)) {
            problems.push(format!("{at} is documented but not a route"));
        }
        let declared: Vec<&str> = self.path_params.iter().map(|(name, _)| *name).collect();
        if declared != path_params(self.path) {
            problems.push(format!("{at} documents the path parameters {declared:?}"));
        }
        let identifier = self.operation_id.starts_with(|c: char| c.is_ascii_alphabetic())
            && self.operation_id.chars().all(|c| c.is_ascii_alphanumeric());
        if !identifier {
            problems.push(format!(
                "{at}: operation id {:?} is not an identifier",
                self.operation_id
            ));
        }
        if !self.answer.status.is_success() {
            problems.push(format!("{at} answers {}", self.answer.status));
        }
        if !matches!(
            self.method,
            Method::GET | Method::PUT | Method::POST | Method::DELETE | Method::OPTIONS | Method::HEAD | Method::PATCH
        ) {
            problems.push(format!("{at}: OpenAPI cannot describe the method"));
        }
        problems
    }
}

/// The `{name}`s of a route path, in order.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Adds to `names` the schema name of every `#/components/schemas/<name>` reference in `value`.
fn schema_refs(value: &serde_json::Value, names: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(serde_json::Value::as_str)
                .and_then(|target| target.strip_prefix("#/components/schemas/"))
            {
                names.insert(name.to_owned());
            }
            map.values().for_each(|value| schema_refs(value, names));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|value| schema_refs(value, names)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Customer, Page, Payment};
    use crate::outbound::{BoxFuture, DomainRequest, DomainResponse, OutboundError, Upstream, invalid};

    fn unserved<'a>(_: &'a DomainRequest, _: &'a dyn Upstream) -> BoxFuture<'a, Result<DomainResponse, OutboundError>> {
        Box::pin(async { Err(invalid("unserved")) })
    }

    const ROUTES: [RouteSpec; 2] = [
        RouteSpec::new(Method::GET, "/things/{id}", unserved),
        RouteSpec::new(Method::POST, "/things", unserved),
    ];

    fn complete() -> RouteDocs {
        RouteDocs::new("Things")
            .route(
                RouteDoc::new(Method::GET, "/things/{id}", "getThing", "Get a thing")
                    .path_param("id", "The thing's id")
                    .answers(StatusCode::OK, "The thing", Payment::name())
                    .not_found("thing"),
            )
            .route(
                RouteDoc::new(Method::POST, "/things", "listThings", "Make a thing").answers(
                    StatusCode::CREATED,
                    "A page",
                    "ThingPage",
                ),
            )
            .schema::<Payment>()
            .schema_as::<Page<Customer>>("ThingPage")
            .schema::<Customer>()
    }

    #[test]
    fn complete_docs_have_no_problems() {
        let docs = complete();
        assert_eq!(docs.problems(&ROUTES), Vec::<String>::new());
        let names: Vec<&str> = docs.schemas.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["Payment", "Money", "PaymentStatus", "ThingPage", "Customer"]);
        let expected = ["Customer", "Money", "Payment", "PaymentStatus", "ThingPage"];
        assert_eq!(docs.references(), expected.map(String::from).into());
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        let mut docs = complete();
        docs.schemas.retain(|(name, _)| name != "Money");
        docs.routes[0].path_params.clear();
        docs.routes[1].operation_id = "make-thing";
        docs.routes
            .push(RouteDoc::new(Method::DELETE, "/things/{id}", "getThing", "Gone").path_param("id", "Its id"));
        let problems = docs.problems(&[
            ROUTES[0].clone(),
            ROUTES[1].clone(),
            RouteSpec::new(Method::PUT, "/x", unserved),
        ]);
        assert_eq!(
            problems,
            [
                "PUT /x has 0 docs",
                "GET /things/{id} documents the path parameters []",
                "POST /things: operation id \"make-thing\" is not an identifier",
                "DELETE /things/{id} is documented but not a route",
                "operation id getThing is used twice",
                "schema Money is referred to but not contributed",
            ]
        );
    }

    #[test]
    fn reads_path_parameters() {
        assert_eq!(path_params("/a/{id}/b/{other}"), ["id", "other"]);
        assert!(path_params("/a").is_empty());
    }
}
