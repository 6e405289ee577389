//! The pieces operations are made of: every response carries `X-Correlation-Id`, outbound ones the caller's
//! rate-limit headers, problems `application/problem+json` (and `Retry-After` on 429 and 503); and parameters.

use utoipa::openapi::path::{OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::{
    Content, HeaderBuilder, ObjectBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Schema, Type,
};

use super::PROBLEM_JSON;

/// An operation with its id, tag and summary, taking an optional `X-Correlation-Id`.
///
/// The header's rule is stated, not declared as a `pattern`: the server never refuses a request for it (an id that
/// breaks it is replaced), and a schema pattern would promise a refusal.
pub(super) fn operation(id: &str, tag: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .tag(tag)
        .summary(Some(summary))
        .parameter(header_param(
            "X-Correlation-Id",
            "Your correlation id, kept when it is at most 128 characters of `[A-Za-z0-9._:-]`; any other value is \
             replaced by a new UUIDv7 (never refused)",
            ObjectBuilder::new().schema_type(Type::String),
        ))
}

/// Adds problem responses to an operation.
pub(super) trait Problems {
    /// One `application/problem+json` response per status, described by the slugs it can carry; `rate_limited` adds the
    /// caller's rate-limit headers (outbound routes, once the limit has been looked at: not on 401 and 403).
    fn problems(self, list: &[(u16, &str)], rate_limited: bool) -> Self;
}

impl Problems for OperationBuilder {
    fn problems(self, list: &[(u16, &str)], rate_limited: bool) -> Self {
        list.iter().fold(self, |operation, (status, description)| {
            let mut problem = response(description).content(PROBLEM_JSON, Content::new(Some(schema_ref("Problem"))));
            if matches!(status, 429 | 503) {
                let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
                let retry_after = HeaderBuilder::new()
                    .schema(seconds)
                    .description(Some("Seconds to wait before retrying"));
                problem = problem.header("Retry-After", retry_after.build());
            }
            if rate_limited && !matches!(status, 401 | 403) {
                problem = limited(problem);
            }
            operation.response(status.to_string(), problem.build())
        })
    }
}

/// A response carrying `X-Correlation-Id`.
pub(super) fn response(description: &str) -> ResponseBuilder {
    let id = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("The request's correlation id"));
    ResponseBuilder::new()
        .description(description)
        .header("X-Correlation-Id", id.build())
}

/// Adds `RateLimit-Policy` and `RateLimit` (IETF draft), sent when the caller has a rate limit.
pub(super) fn limited(response: ResponseBuilder) -> ResponseBuilder {
    let header = |description: &str| {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(description))
            .build()
    };
    response
        .header(
            "RateLimit-Policy",
            header("The caller's rate limit policy, when it has one"),
        )
        .header(
            "RateLimit",
            header("What is left of the caller's rate limit, when it has one"),
        )
}

pub(super) fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> Response {
    response(description)
        .content("application/json", Content::new(Some(schema)))
        .build()
}

pub(super) fn outbound_json(description: &str, schema: impl Into<RefOr<Schema>>) -> Response {
    limited(response(description))
        .content("application/json", Content::new(Some(schema)))
        .build()
}

pub(super) fn json_body(schema: &str) -> RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content("application/json", Content::new(Some(schema_ref(schema))))
        .build()
}

pub(super) fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

pub(super) fn path_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

pub(super) fn header_param(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

pub(super) fn query_param(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

pub(super) fn traceparent() -> Parameter {
    header_param(
        "traceparent",
        "W3C trace context (`version-traceid-parentid-flags` in hex), passed on to the vendor when well-formed and \
         ignored otherwise (never refused)",
        ObjectBuilder::new().schema_type(Type::String),
    )
}

/// A path parameter that becomes a vendor path segment (an adapter's `{id}`): the kit refuses blank values, `.`
/// and `..`, control characters and more than 255 characters (400).
pub(super) fn id_param(name: &str, description: &str) -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some(r"^(?!\.{1,2}$)(?=.*\S)[^\u0000-\u001F\u007F-\u009F]+$"));
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}
