//! The admin operations on the outbox: list (cursor pagination), one event with its deliveries, replay, and the
//! retranslation of a quarantined event.

use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::schema::{KnownFormat, SchemaFormat};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ObjectBuilder, Type};

use super::ADMIN_TOKEN;
use super::parts::{Problems, json_response, operation, path_param, query_param, schema_ref};

pub(super) const UNAUTHORIZED: (u16, &str) = (
    401,
    "`unauthorized`: missing or wrong admin token, or the admin API is disabled",
);
pub(super) const STORE: (u16, &str) = (503, "`store-unavailable`: the store cannot answer right now");
const BAD_ID: (u16, &str) = (400, "`invalid-request`: the id is not valid UTF-8 once percent-decoded");

pub(super) fn admin(id: &str, summary: &str) -> OperationBuilder {
    operation(id, "admin", summary).security(SecurityRequirement::new(ADMIN_TOKEN, Vec::<String>::new()))
}

pub(super) fn list_events() -> OperationBuilder {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let status = text().enum_values(Some(["pending", "delivered", "dead", "quarantined"]));
    let limit = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(500))
        .default(Some(serde_json::json!(50)));
    let time = || text().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)));
    admin("adminEvents", "Outbox events, filtered, oldest (or newest) first, a page at a time")
        .parameter(query_param(
            "status",
            "Only events in this state; with `subscription`, that subscription's delivery state",
            status,
        ))
        .parameter(query_param("provider", "Only this provider's events", text()))
        .parameter(query_param("type", "Only events of this full type (`<provider>.<event type>`)", text()))
        .parameter(query_param("subscription", "Only events with a delivery to this subscription", text()))
        .parameter(query_param("providereventid", "Only the event with this vendor event id", text()))
        .parameter(query_param("since", "Only events received at or after this time (RFC 3339)", time()))
        .parameter(query_param("until", "Only events received before this time (RFC 3339)", time()))
        .parameter(query_param(
            "order",
            "`asc` (the default: oldest first) or `desc` (newest first)",
            text().enum_values(Some(["asc", "desc"])),
        ))
        .parameter(query_param("limit", "Page size", limit))
        .parameter(query_param(
            "cursor",
            "`next_cursor` of the previous page (same order); empty is the same as absent",
            text(),
        ))
        .response("200", json_response("One page of events", schema_ref("EventPage")))
        .problems(
            &[
                (
                    400,
                    "`invalid-request`: an unknown status, order or query parameter, a time that is not RFC 3339, a limit out of range, or a cursor this API did not issue for this order",
                ),
                UNAUTHORIZED,
                STORE,
            ],
            false,
        )
}

pub(super) fn get_event() -> OperationBuilder {
    admin(
        "adminEvent",
        "An event: its envelope, and its delivery state and attempts per subscription",
    )
    .parameter(path_param("id", "The event's id"))
    .response("200", json_response("The event", schema_ref("EventDetail")))
    .problems(
        &[BAD_ID, UNAUTHORIZED, (404, "`not-found`: no such event"), STORE],
        false,
    )
}

pub(super) fn replay_event() -> OperationBuilder {
    admin(
        "adminReplayEvent",
        "Queue an event again for one subscription, or every subscription that wants it (a delivery in progress is \
         left to it)",
    )
    .parameter(path_param("id", "The event's id"))
    .parameter(query_param(
        "subscription",
        "Only this subscription (it must be configured and take the event's type)",
        ObjectBuilder::new().schema_type(Type::String),
    ))
    .response("202", json_response("Queued", schema_ref("Replayed")))
    .problems(
        &[
            BAD_ID,
            UNAUTHORIZED,
            (404, "`not-found`: no such event, or no subscription of that name"),
            (
                400,
                "`invalid-request`: the subscription does not take events of this type",
            ),
            (
                409,
                "`event-quarantined`: the event is quarantined; retranslate it first",
            ),
            STORE,
        ],
        false,
    )
}

pub(super) fn retranslate_event() -> OperationBuilder {
    admin(
        "adminRetranslateEvent",
        "Run the provider's adapter again on a quarantined event's stored bytes: translated, it becomes an ordinary \
         event under the same id and is delivered; else it stays quarantined with the new error",
    )
    .parameter(path_param("id", "The event's id"))
    .response(
        "200",
        json_response("The event's status now", schema_ref("Retranslated")),
    )
    .problems(
        &[
            BAD_ID,
            UNAUTHORIZED,
            (
                404,
                "`not-found`: no such event; `unknown-provider`: its provider is not configured any more",
            ),
            STORE,
        ],
        false,
    )
}
