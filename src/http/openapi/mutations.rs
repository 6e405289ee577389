//! What mutations add to the document: the `Idempotency-Key` and `Prefer: respond-async` headers with their
//! answers (replays, 409, 422, the 202 of a deferred command) on `POST`/`PATCH` domain routes and `/proxy`, and
//! `GET /v1/commands/{id}`.

use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, ObjectBuilder, Type};

use super::CALLER_KEY;
use super::parts::{Problems, header_param, json_response, limited, operation, path_param, response, schema_ref};

const IN_USE: (u16, &str) = (
    409,
    "`idempotency-key-in-use`: a request with this `Idempotency-Key` is still running",
);
const MISMATCH: (u16, &str) = (
    422,
    "`idempotency-key-mismatch`: this `Idempotency-Key` was used with another method, path or body",
);

fn idempotency_key(description: &str) -> utoipa::openapi::path::Parameter {
    // Visible ASCII and inner spaces (header values lose surrounding whitespace on the way).
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]([ -~]*[!-~])?$"));
    header_param("Idempotency-Key", description, key)
}

/// `Idempotency-Key` (and, on domain routes, `Prefer: respond-async`) on a mutating operation; `forwarded` says
/// what the vendor does with the key when the adapter passes it on.
pub(super) fn domain_mutation(operation: OperationBuilder, forwarded: Option<&str>) -> OperationBuilder {
    let key = match forwarded {
        Some(effect) => format!(
            "Makes the call safe to retry: per caller, kept 24 h; the same request again replays the first answer \
             (`Idempotent-Replayed: true`) without the vendor. Forwarded to the vendor as `<caller>:<key>`, so \
             {effect}; also lets the gateway retry the call"
        ),
        None => "Makes the call safe to retry: per caller, kept 24 h; the same request again replays the first \
                 answer (`Idempotent-Replayed: true`) without calling the vendor"
            .to_owned(),
    };
    deferrable(operation.parameter(idempotency_key(&key))).problems(&[IN_USE, MISMATCH], true)
}

/// `Prefer: respond-async` and its 202 on a mutating domain operation (alone on a `DELETE`, which takes no key).
pub(super) fn deferrable(operation: OperationBuilder) -> OperationBuilder {
    let prefer = ObjectBuilder::new()
        .schema_type(Type::String)
        .examples(["respond-async"]);
    operation
        .parameter(header_param(
            "Prefer",
            "`respond-async`: validate and store the request as a deferred command, answer 202 at once, and run \
             it in the background (retried while the vendor fails); `GET /v1/commands/{id}` tells how it went",
            prefer,
        ))
        .response(
            "202",
            limited(response(
                "Stored as a deferred command (`Prefer: respond-async`); `Location` names it",
            ))
            .content("application/json", Content::new(Some(schema_ref("CommandAccepted"))))
            .build(),
        )
}

/// `Idempotency-Key` on `/proxy` (`POST` and `PATCH`).
pub(super) fn proxy_mutation(operation: OperationBuilder) -> OperationBuilder {
    operation
        .parameter(idempotency_key(
            "On `POST` and `PATCH`: per caller, kept 24 h; the same request again replays the vendor's first \
             answer (`Idempotent-Replayed: true`) without calling it. On every method it reaches the vendor as \
             `<caller>:<key>`, so two callers' keys never meet there",
        ))
        .problems(&[IN_USE, MISMATCH], true)
}

pub(super) fn get_command() -> OperationBuilder {
    operation("getCommand", "commands", "How a deferred command went")
        .description(Some(
            "Only the caller that sent the command sees it; for anyone else it does not exist. `response` holds \
             the answer the call would have had (`status` and our JSON `body`, a problem document for a failure) \
             once the command is `succeeded` or `failed`.",
        ))
        .security(SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()))
        .parameter(path_param("id", "The id from the 202 answer"))
        .response("200", json_response("The command", schema_ref("Command")))
        .problems(
            &[
                (401, "`unauthorized`: missing or unknown caller key"),
                (400, "`invalid-request`: the id is not valid UTF-8 once percent-decoded"),
                (404, "`not-found`: no command with this id was sent by this caller"),
                (
                    429,
                    "`rate-limited`: the caller's rate limit is exhausted (polling counts against it)",
                ),
                (503, "`store-unavailable`: the store does not answer"),
            ],
            false,
        )
}
