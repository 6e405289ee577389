//! Sagas in the document: `POST /v1/sagas/{saga}` (start one) and `GET /v1/sagas/{saga}` (how it goes) for callers,
//! `/admin/sagas` (list, detail, retry) for operators, and their schemas (mirror structs: only their shape is read).
#![allow(dead_code)]

use utoipa::ToSchema;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, ObjectBuilder, Type};

use super::CALLER_KEY;
use super::admin_events::{STORE, UNAUTHORIZED, admin};
use super::parts::{
    Problems, header_param, json_response, limited, operation, path_param, query_param, response, schema_ref,
};

const BAD_ID: (u16, &str) = (400, "`invalid-request`: the id is not valid UTF-8 once percent-decoded");

fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(super) fn start_saga() -> OperationBuilder {
    let key = text().min_length(Some(1)).max_length(Some(255));
    operation("startSaga", "sagas", "Start a saga (`[[sagas]]`) with its input")
        .description(Some(
            "The body is the saga's input, a JSON object; every field its templates read must be there, and each \
             step's request must pass its adapter's checks, or nothing starts (400 naming the field or the step). \
             The saga then runs in the background: each step through its provider's policy stack with a stable \
             vendor idempotency key, transient failures retried, and a step that fails for good undoing the \
             completed ones, last first. `GET /v1/sagas/{id}` tells how it goes; its end is announced as a \
             `gatehouse.saga.completed|compensated|failed` event.",
        ))
        .security(SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()))
        .parameter(path_param("saga", "The saga's name in `[[sagas]]`"))
        .parameter(header_param(
            "Idempotency-Key",
            "Makes the start safe to retry: per caller, kept 24 h; the same input again answers the first 202 \
             (`Idempotent-Replayed: true`) and starts nothing",
            key,
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::Object))),
                )
                .required(Some(utoipa::openapi::Required::True))
                .build(),
        ))
        .response(
            "202",
            limited(response("Started; `Location` names it"))
                .content("application/json", Content::new(Some(schema_ref("SagaAccepted"))))
                .build(),
        )
        .problems(
            &[
                (401, "`unauthorized`: missing or unknown caller key"),
                (
                    400,
                    "`invalid-request`: the input is not a JSON object, lacks a field a template reads, or a step's \
                     request would be refused (the detail names it)",
                ),
                (403, "`forbidden`: the saga's `callers` do not include this caller"),
                (404, "`not-found`: no saga of this name is configured"),
                (
                    409,
                    "`idempotency-key-in-use`: a start with this key is still being stored",
                ),
                (
                    422,
                    "`idempotency-key-mismatch`: this key started the saga with another input",
                ),
                (413, "`payload-too-large`: the body exceeds `server.max_body_bytes`"),
                (503, "`store-unavailable`: the saga cannot be stored right now"),
            ],
            true,
        )
}

pub(super) fn get_saga() -> OperationBuilder {
    operation("getSaga", "sagas", "How a saga goes")
        .description(Some(
            "Only the caller that started the saga sees it; for anyone else it does not exist.",
        ))
        .security(SecurityRequirement::new(CALLER_KEY, Vec::<String>::new()))
        .parameter(path_param("saga", "The id from the 202 answer"))
        .response("200", json_response("The saga", schema_ref("Saga")))
        .problems(
            &[
                (401, "`unauthorized`: missing or unknown caller key"),
                BAD_ID,
                (404, "`not-found`: no saga with this id was started by this caller"),
                (503, "`store-unavailable`: the store does not answer"),
            ],
            true,
        )
}

pub(super) fn list_sagas() -> OperationBuilder {
    let status = text().enum_values(Some(["running", "compensating", "completed", "compensated", "failed"]));
    let limit = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(500))
        .default(Some(serde_json::json!(50)));
    admin("adminSagas", "Sagas of every caller, newest first, a page at a time")
        .parameter(query_param(
            "name",
            "Only sagas of this name (`[[sagas]] name`)",
            text(),
        ))
        .parameter(query_param("status", "Only sagas in this state", status))
        .parameter(query_param("limit", "Page size", limit))
        .parameter(query_param("cursor", "`next_cursor` of the previous page", text()))
        .response("200", json_response("One page of sagas", schema_ref("AdminSagaPage")))
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

pub(super) fn get_admin_saga() -> OperationBuilder {
    admin("adminSaga", "A saga with its input, steps and retries")
        .parameter(path_param("id", "The saga's id"))
        .response("200", json_response("The saga", schema_ref("AdminSagaDetail")))
        .problems(
            &[BAD_ID, UNAUTHORIZED, (404, "`not-found`: no such saga"), STORE],
            false,
        )
}

pub(super) fn retry_saga() -> OperationBuilder {
    admin(
        "adminRetrySaga",
        "Compensate a failed saga again, from the step whose compensation failed (once its vendor can undo it)",
    )
    .parameter(path_param("id", "The saga's id"))
    .response(
        "200",
        json_response("The saga, compensating", schema_ref("AdminSagaDetail")),
    )
    .problems(
        &[
            BAD_ID,
            UNAUTHORIZED,
            (404, "`not-found`: no such saga"),
            (409, "`saga-not-failed`: only a `failed` saga can be retried"),
            STORE,
        ],
        false,
    )
}

/// A saga, started (`202`).
#[derive(ToSchema)]
pub struct SagaAccepted {
    #[schema(format = "uuid")]
    pub id: String,
    pub status: SagaStatus,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SagaStatus {
    Running,
    Compensating,
    Completed,
    Compensated,
    Failed,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum SagaStepStatus {
    Pending,
    Completed,
    Failed,
    Compensated,
    CompensationFailed,
}

/// One step of a saga.
#[derive(ToSchema)]
pub struct SagaStep {
    pub name: String,
    pub status: SagaStepStatus,
    /// Vendor attempts of its call (waiting on an open breaker spends none).
    pub attempts: u32,
    /// The call's answer (our domain JSON), once completed.
    pub result: Option<serde_json::Value>,
    /// Why the call's last attempt failed.
    pub error: Option<String>,
    pub compensation_attempts: u32,
    /// Why its compensation's last attempt failed.
    pub compensation_error: Option<String>,
}

/// `GET /v1/sagas/{id}`, and a saga as listed for operators.
#[derive(ToSchema)]
pub struct Saga {
    #[schema(format = "uuid")]
    pub id: String,
    /// Its name in `[[sagas]]`.
    pub saga: String,
    pub caller: String,
    pub status: SagaStatus,
    pub steps: Vec<SagaStep>,
    /// The step whose compensation failed (a `failed` saga).
    pub failed_step: Option<String>,
    pub correlationid: String,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
}

/// `GET /admin/sagas`.
#[derive(ToSchema)]
pub struct AdminSagaPage {
    pub data: Vec<Saga>,
    /// Present when there may be more: pass it as `cursor`.
    pub next_cursor: Option<String>,
}

/// `GET /admin/sagas/{id}`: the listed fields, plus the input, retries and the next attempt.
#[derive(ToSchema)]
pub struct AdminSagaDetail {
    #[schema(format = "uuid")]
    pub id: String,
    pub saga: String,
    pub caller: String,
    pub status: SagaStatus,
    pub steps: Vec<SagaStep>,
    pub failed_step: Option<String>,
    pub correlationid: String,
    #[schema(format = "date-time")]
    pub created_at: String,
    #[schema(format = "date-time")]
    pub updated_at: String,
    /// The caller's input.
    pub input: serde_json::Value,
    /// Operators' retries so far.
    pub retries: u32,
    /// When it is next due, while running or compensating.
    #[schema(format = "date-time")]
    pub next_attempt_at: Option<String>,
    /// Whether an executor holds it right now.
    pub running: bool,
}
