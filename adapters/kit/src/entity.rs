//! Entities an adapter declares for the gateway's read model: which domain objects it knows (acme-crm `customer`,
//! stripe `payment`), which webhooks carry an entity's whole state or its deletion, which routes answer with it,
//! the single-entity read a stored copy may answer when the vendor cannot, and how states are ordered. The gateway
//! keeps the newest state of each entity from these declarations alone: a new vendor gets a read model by
//! declaring [`EntitySpec`]s in [`crate::Adapter::entities`], not by code in the gateway.

use http::Method;
use serde_json::Value;

use crate::outbound::DomainResponse;
use crate::webhook::InboundEvent;

/// One kind of entity an adapter knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitySpec {
    /// The kind's name, lowercase (`customer`): `/admin/read-model/{provider}/{kind}/{id}` names it.
    pub kind: &'static str,
    /// The top-level fields of the entity's JSON (our domain type's, such as [`crate::domain::Customer::FIELDS`]):
    /// what a saga template may read of an answer carrying it.
    pub fields: &'static [&'static str],
    /// The route path of the single-entity read (`/customers/{id}`), a `GET` route of the adapter whose `{id}`
    /// parameter is the entity's id: the read a stored copy may answer.
    pub read: &'static str,
    /// Other routes whose successful answer is the entity or a page of it. The read itself needs no entry.
    pub answers: &'static [Answers],
    /// Event types (ours, without the provider prefix) whose `data` is the entity's whole state: exact, or a prefix
    /// ending in `*` (`payment_intent.*`).
    pub upserted_by: &'static [&'static str],
    /// Event types that say the entity is gone (`customer.deleted`), in the same form.
    pub deleted_by: &'static [&'static str],
    pub versioning: Versioning,
}

/// A route whose successful answer carries the entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub method: Method,
    pub path: &'static str,
    pub shape: Shape,
}

impl Answers {
    /// `method path` answers with one entity.
    pub const fn one(method: Method, path: &'static str) -> Self {
        Self {
            method,
            path,
            shape: Shape::One,
        }
    }

    /// `method path` answers with a [`crate::domain::Page`] of entities.
    pub const fn page(method: Method, path: &'static str) -> Self {
        Self {
            method,
            path,
            shape: Shape::Page,
        }
    }
}

/// How an answer carries the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The body is the entity.
    One,
    /// The body is a page: the entities are its `data` array.
    Page,
}

/// How the states of one entity are ordered, so an older state never overwrites a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// By when the gateway saw each state (a webhook's receipt, an answer's arrival): for vendors whose entities
    /// and events carry no time or version of their own.
    Observed,
    /// Webhooks by the vendor's time of the event ([`InboundEvent::occurred_at_ms`], else their receipt), answers by
    /// their arrival: a late retry of an old event cannot undo what a later read saw.
    EventTime,
    /// By a field of the entity (a JSON pointer such as `/version` or `/updated_at`): an integer, or an RFC 3339
    /// time (as unix milliseconds). A state without it is ordered by when the gateway saw it (unix milliseconds),
    /// so declare a field every state carries: a small integer version would lose to any such state.
    Field(&'static str),
}

/// What one event or answer says about one entity (its body borrowed from the event or the answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<'a> {
    pub kind: &'static str,
    pub id: String,
    /// Its version by the spec's [`Versioning`]; `None`: order it by when the gateway saw it.
    pub version: Option<i64>,
    pub deleted: bool,
    /// The entity (our domain JSON).
    pub body: &'a Value,
}

impl EntitySpec {
    /// What `event` says about this kind of entity: its new state, its deletion, or nothing.
    pub fn from_event<'a>(&self, event: &'a InboundEvent) -> Option<Observation<'a>> {
        let deleted = self.deleted_by.iter().any(|p| matches(p, &event.event_type));
        if !deleted && !self.upserted_by.iter().any(|p| matches(p, &event.event_type)) {
            return None;
        }
        let id = entity_id(&event.data).or_else(|| event.subject.clone())?;
        let version = match self.versioning {
            Versioning::Observed => None,
            Versioning::EventTime => event.occurred_at_ms,
            Versioning::Field(pointer) => field_version(&event.data, pointer),
        };
        Some(Observation {
            kind: self.kind,
            id,
            version,
            deleted,
            body: &event.data,
        })
    }

    /// The entities a `200` or `201` answer to `method route` carries (none for other routes or statuses: a
    /// `202`'s body, say, describes work accepted, not the entity).
    pub fn from_answer<'a>(&self, method: &Method, route: &str, answer: &'a DomainResponse) -> Vec<Observation<'a>> {
        if answer.status != http::StatusCode::OK && answer.status != http::StatusCode::CREATED {
            return Vec::new();
        }
        let shape = if *method == Method::GET && route == self.read {
            Some(Shape::One)
        } else {
            self.answers
                .iter()
                .find(|a| a.method == method && a.path == route)
                .map(|a| a.shape)
        };
        let entities: Vec<&Value> = match shape {
            None => return Vec::new(),
            Some(Shape::One) => vec![&answer.body],
            Some(Shape::Page) => answer
                .body
                .get("data")
                .and_then(Value::as_array)
                .map(|data| data.iter().collect())
                .unwrap_or_default(),
        };
        entities
            .into_iter()
            .filter_map(|body| {
                Some(Observation {
                    kind: self.kind,
                    id: entity_id(body)?,
                    version: match self.versioning {
                        Versioning::Field(pointer) => field_version(body, pointer),
                        Versioning::Observed | Versioning::EventTime => None,
                    },
                    deleted: false,
                    body,
                })
            })
            .collect()
    }
}

/// A vendor's event time given in whole seconds, as [`InboundEvent::occurred_at_ms`]: the second's last
/// millisecond, so an event in the same second as a read answered before it is not taken for older than that
/// read (the order within the second is unknown; the event's state is the vendor's word for it).
pub fn event_second_ms(seconds: i64) -> Option<i64> {
    seconds.checked_mul(1000)?.checked_add(999)
}

/// Whether `event_type` matches `pattern`: equal, or starting with what precedes a final `*`.
pub fn matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// The entity's `id`: a non-blank string of at most 255 characters without control characters.
fn entity_id(body: &Value) -> Option<String> {
    let id = body.get("id")?.as_str()?;
    let storable = !id.trim().is_empty() && id.chars().count() <= crate::webhook::MAX_ID_CHARS;
    (storable && !id.chars().any(char::is_control)).then(|| id.to_owned())
}

/// The version at `pointer`: an integer, or an RFC 3339 time as unix milliseconds.
fn field_version(body: &Value, pointer: &str) -> Option<i64> {
    match body.pointer(pointer)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.timestamp_millis()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use serde_json::json;

    const CUSTOMER: EntitySpec = EntitySpec {
        kind: "customer",
        fields: &["id", "name", "updated_at"],
        read: "/customers/{id}",
        answers: &[
            Answers::one(Method::PATCH, "/customers/{id}"),
            Answers::page(Method::GET, "/customers"),
        ],
        upserted_by: &["customer.created", "customer.updated"],
        deleted_by: &["customer.deleted"],
        versioning: Versioning::Field("/updated_at"),
    };

    fn event(event_type: &str, data: Value) -> InboundEvent {
        InboundEvent {
            provider_event_id: "evt".into(),
            event_type: event_type.into(),
            subject: Some("c_1".into()),
            data,
            occurred_at_ms: Some(5),
        }
    }

    #[test]
    fn events_carry_states_and_deletions() {
        let data = json!({"id": "c_1", "updated_at": "2026-01-02T10:00:00.5Z"});
        let updated = event("customer.updated", data.clone());
        let seen = CUSTOMER.from_event(&updated).unwrap();
        assert_eq!((seen.id.as_str(), seen.deleted), ("c_1", false));
        assert_eq!(seen.version, Some(1_767_348_000_500));
        let deleted = event("customer.deleted", json!({}));
        let gone = CUSTOMER.from_event(&deleted).unwrap();
        assert_eq!((gone.id.as_str(), gone.deleted, gone.version), ("c_1", true, None));
        assert!(CUSTOMER.from_event(&event("customer.merged", data)).is_none());
        assert!(matches("payment_intent.*", "payment_intent.succeeded"));
        assert!(!matches("payment_intent.*", "charge.succeeded"));
    }

    #[test]
    fn answers_carry_one_entity_or_a_page() {
        let ok = |body| DomainResponse::ok(body);
        let customer = ok(json!({"id": "c_1"}));
        let one = CUSTOMER.from_answer(&Method::GET, "/customers/{id}", &customer);
        assert_eq!(one.len(), 1);
        let page = json!({"data": [{"id": "a"}, {"id": ""}, {"id": "b"}], "next_cursor": null});
        let ids: Vec<_> = CUSTOMER
            .from_answer(&Method::GET, "/customers", &ok(page))
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(
            CUSTOMER
                .from_answer(&Method::POST, "/customers", &ok(json!({"id": "c"})))
                .is_empty()
        );
        let accepted = DomainResponse {
            status: StatusCode::ACCEPTED,
            body: json!({"id": "job_1"}),
        };
        assert!(
            CUSTOMER
                .from_answer(&Method::PATCH, "/customers/{id}", &accepted)
                .is_empty()
        );
        let patched = ok(json!({"id": "c"}));
        assert_eq!(
            CUSTOMER.from_answer(&Method::PATCH, "/customers/{id}", &patched).len(),
            1
        );
    }

    #[test]
    fn field_versions_are_integers_or_utc_times() {
        assert_eq!(field_version(&json!({"v": 7}), "/v"), Some(7));
        assert_eq!(field_version(&json!({"v": "1970-01-01T00:00:01Z"}), "/v"), Some(1000));
        for bad in [
            json!({"v": "yesterday"}),
            json!({"v": 1.5}),
            json!({}),
            json!({"v": "2026-13-01T00:00:00Z"}),
        ] {
            assert_eq!(field_version(&bad, "/v"), None, "{bad}");
        }
    }
}
