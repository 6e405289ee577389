//! The admin operations added for operators: bulk replay, subscription counts, and commands listed, shown and
//! cancelled.

use utoipa::openapi::{ObjectBuilder, Type};

use super::admin_events::{STORE, UNAUTHORIZED, admin};
use super::parts::{Problems, json_body, json_response, path_param, query_param, schema_ref};
use utoipa::openapi::path::OperationBuilder;

const BAD_ID: (u16, &str) = (400, "`invalid-request`: the id is not valid UTF-8 once percent-decoded");

fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(super) fn replay_matching() -> OperationBuilder {
    admin(
        "adminReplayMatching",
        "Queue again every dead (or delivered) delivery matching a filter, for the subscriptions configured now; \
         `dry_run` only counts them",
    )
    .request_body(Some(json_body("ReplayRequest")))
    .response(
        "200",
        json_response("What matched and was queued", schema_ref("BulkReplay")),
    )
    .problems(
        &[
            (
                400,
                "`invalid-request`: an unknown field or status, or a time that is not RFC 3339",
            ),
            UNAUTHORIZED,
            (404, "`not-found`: no subscription of that name is configured"),
            STORE,
        ],
        false,
    )
}

pub(super) fn subscriptions() -> OperationBuilder {
    admin(
        "adminSubscriptions",
        "Each subscription's deliveries by state, and how long its oldest pending one has waited",
    )
    .response(
        "200",
        json_response("Every subscription", schema_ref("SubscriptionList")),
    )
    .problems(&[UNAUTHORIZED, STORE], false)
}

pub(super) fn list_commands() -> OperationBuilder {
    let status = text().enum_values(Some(["pending", "succeeded", "failed", "cancelled"]));
    let limit = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(500))
        .default(Some(serde_json::json!(50)));
    admin(
        "adminCommands",
        "Deferred commands of every caller, newest first, a page at a time",
    )
    .parameter(query_param("status", "Only commands in this state", status))
    .parameter(query_param("provider", "Only this provider's commands", text()))
    .parameter(query_param("caller", "Only this caller's commands", text()))
    .parameter(query_param("limit", "Page size", limit))
    .parameter(query_param("cursor", "`next_cursor` of the previous page", text()))
    .response(
        "200",
        json_response("One page of commands", schema_ref("AdminCommandPage")),
    )
    .problems(
        &[
            (
                400,
                "`invalid-request`: an unknown status or parameter, a limit out of range, or a foreign cursor",
            ),
            UNAUTHORIZED,
            STORE,
        ],
        false,
    )
}

pub(super) fn get_command() -> OperationBuilder {
    admin(
        "adminCommand",
        "A deferred command: its request, attempts, last error and response",
    )
    .parameter(path_param("id", "The command's id"))
    .response("200", json_response("The command", schema_ref("AdminCommandDetail")))
    .problems(
        &[BAD_ID, UNAUTHORIZED, (404, "`not-found`: no such command"), STORE],
        false,
    )
}

pub(super) fn cancel_command() -> OperationBuilder {
    admin(
        "adminCancelCommand",
        "Cancel a pending command (announced as a `gatehouse.command.cancelled` event); it never runs",
    )
    .parameter(path_param("id", "The command's id"))
    .response(
        "200",
        json_response("The cancelled command", schema_ref("AdminCommandDetail")),
    )
    .problems(
        &[
            BAD_ID,
            UNAUTHORIZED,
            (404, "`not-found`: no such command"),
            (
                409,
                "`command-not-pending`: it already succeeded, failed or was cancelled; `command-running`: an \
                 executor is attempting it right now (try again shortly)",
            ),
            STORE,
        ],
        false,
    )
}
