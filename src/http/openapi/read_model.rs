//! The read model in the document: a single-entity read's `Cache-Control` request header and its `Age` and
//! `Cache-Status` answers (the `read` route of each entity an adapter declares), and
//! `GET /admin/read-model/{provider}/{kind}/{id}`.

use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::{Content, HeaderBuilder, ObjectBuilder, Type};

use super::admin_events::{STORE, UNAUTHORIZED, admin};
use super::parts::{Problems, header_param, json_response, limited, path_param, response, schema_ref};

const FALLBACK: &str = "When the provider's `fallback` allows it (`fallback = { read_model = true, max_stale = \"24h\" }`) \
and the vendor fails for a vendor-side reason (open breaker, full bulkhead, timeout, connect error, 5xx, 429), the \
last known state of the entity (kept from webhooks and earlier answers) is answered instead, with `Age` and \
`Cache-Status: gatehouse; fwd=stale; detail=<why>`; a copy older than `max_stale`, an unknown entity or a caller \
error (4xx) gets the original answer, and an entity the vendor said was deleted gets 404. Vendor answers carry \
`Cache-Status` too (`gatehouse; fwd=miss`, with `; stored` when the read model kept the answer).";

/// Adds the read model's request header, answer headers and 504 to a single-entity read of `schema`, after the
/// adapter's `description` of the route if it has one.
pub(super) fn single_entity_read(
    operation: OperationBuilder,
    description: Option<&str>,
    what: &str,
    schema: &str,
) -> OperationBuilder {
    let header = |description: &str, schema: ObjectBuilder| {
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(description))
            .build()
    };
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
    let answer = limited(response(what))
        .header(
            "Cache-Status",
            header(
                "RFC 9211: `gatehouse; fwd=miss[; stored]` from the vendor, `gatehouse; fwd=stale; detail=<why>` \
                 from the read model after a vendor-side failure, `gatehouse; hit` for `only-if-cached`",
                text(),
            ),
        )
        .header(
            "Age",
            header(
                "Seconds since the stored copy was seen, when it comes from the read model",
                seconds,
            ),
        )
        .content("application/json", Content::new(Some(schema_ref(schema))))
        .build();
    let description = match description {
        Some(description) => format!("{description}\n\n{FALLBACK}"),
        None => FALLBACK.to_owned(),
    };
    operation
        .description(Some(description))
        .parameter(header_param(
            "Cache-Control",
            "RFC 9111 request directives: `only-if-cached` answers from the read model without calling the vendor \
             (504 `not-cached` when nothing fresh enough is stored), `max-stale=N` and `max-age=N` accept no copy \
             older than N seconds, `no-cache` forbids a stored answer, `no-store` keeps this answer out of the \
             read model",
            text(),
        ))
        .response("200", answer)
        .problems(
            &[(
                504,
                "`upstream-timeout`: the vendor did not answer within the provider's `timeout` (and no stored copy \
                 could answer); `not-cached`: `only-if-cached` and nothing fresh enough is stored",
            )],
            true,
        )
}

pub(super) fn admin_entity() -> OperationBuilder {
    admin(
        "adminReadModelEntity",
        "What the read model holds for one entity: the stored object, its version, source, age and deletion",
    )
    .parameter(path_param("provider", "The provider's name"))
    .parameter(path_param(
        "kind",
        "The entity kind its adapter declares (`EntitySpec::kind`)",
    ))
    .parameter(path_param("id", "The entity's id"))
    .response("200", json_response("The stored entity", schema_ref("ReadModelEntity")))
    .problems(
        &[
            (
                400,
                "`invalid-request`: the path is not valid UTF-8 once percent-decoded",
            ),
            UNAUTHORIZED,
            (
                404,
                "`unknown-provider`: no such provider; `not-found`: its adapter declares no such kind, or nothing \
                 is stored for that id",
            ),
            STORE,
        ],
        false,
    )
}
