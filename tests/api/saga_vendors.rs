//! Stateful fake vendors for sagas on the real binary: Acme's customers and Stripe's payment intents on one axum
//! server, each creation deduplicated by its `Idempotency-Key` as the real vendors do (a repeated key answers the
//! first creation again and acts no more), deletions that answer 404 once done, and switches that make a route slow
//! (it acts, then waits before answering: a gateway killed meanwhile loses the answer, not the effect), failing
//! (503) or declining (402).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde_json::json;

#[derive(Default)]
pub struct Vendors {
    /// Effects per idempotency key (creations) or per path (deletions): must never exceed 1.
    pub effects: Mutex<HashMap<String, usize>>,
    /// Every request's path and key, in order.
    pub requests: Mutex<Vec<(String, Option<String>)>>,
    answers: Mutex<HashMap<String, serde_json::Value>>,
    deleted: Mutex<Vec<String>>,
    pub slow_customers: AtomicBool,
    pub slow_payments: AtomicBool,
    pub slow_deletes: AtomicBool,
    pub failing_payments: AtomicBool,
    pub declining_payments: AtomicBool,
}

impl Vendors {
    /// Serves the fake vendors on a port of their own; their base URL.
    pub async fn start(self: &Arc<Self>) -> String {
        let app = axum::Router::new()
            .route("/customers", post(create_customer))
            .route("/customers/{id}", delete(delete_customer))
            .route("/v1/payment_intents", post(create_payment))
            .with_state(Arc::clone(self));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// Whether a request to `path` has arrived.
    pub fn received(&self, path: &str) -> bool {
        self.requests.lock().unwrap().iter().any(|(p, _)| p == path)
    }

    pub fn keys_of(&self, path: &str) -> Vec<Option<String>> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The largest number of effects any key or deletion had.
    pub fn most_effects(&self) -> usize {
        self.effects.lock().unwrap().values().copied().max().unwrap_or(0)
    }

    fn record(&self, path: &str, headers: &HeaderMap) -> Option<String> {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.requests.lock().unwrap().push((path.to_owned(), key.clone()));
        key
    }

    /// The answer already given for `key`, or `make`'s, counted as an effect.
    fn once(&self, key: Option<String>, make: impl FnOnce(usize) -> serde_json::Value) -> serde_json::Value {
        let key = key.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let mut answers = self.answers.lock().unwrap();
        if let Some(answer) = answers.get(&key) {
            return answer.clone();
        }
        let answer = make(answers.len() + 1);
        answers.insert(key.clone(), answer.clone());
        *self.effects.lock().unwrap().entry(key).or_default() += 1;
        answer
    }
}

async fn pause_if(flag: &AtomicBool) {
    if flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
}

async fn create_customer(State(vendors): State<Arc<Vendors>>, headers: HeaderMap) -> Response {
    let key = vendors.record("/customers", &headers);
    let answer = vendors.once(key, |n| {
        json!({"cust_id": format!("cus_{n}"), "full_name": "Ada", "email_address": "ada@example.com",
               "lifetime_value": "0.00", "created": "2026-01-02 10:00:00"})
    });
    pause_if(&vendors.slow_customers).await;
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn create_payment(State(vendors): State<Arc<Vendors>>, headers: HeaderMap) -> Response {
    let key = vendors.record("/v1/payment_intents", &headers);
    if vendors.failing_payments.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if vendors.declining_payments.load(Ordering::SeqCst) {
        let error = json!({"error": {"type": "card_error", "message": "Your card was declined."}});
        return (StatusCode::PAYMENT_REQUIRED, axum::Json(error)).into_response();
    }
    let answer = vendors.once(
        key,
        |n| json!({"id": format!("pi_{n}"), "amount": 2000, "currency": "usd", "status": "succeeded"}),
    );
    pause_if(&vendors.slow_payments).await;
    axum::Json(answer).into_response()
}

async fn delete_customer(State(vendors): State<Arc<Vendors>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/customers/{id}");
    vendors.record(&path, &headers);
    let gone = {
        let mut deleted = vendors.deleted.lock().unwrap();
        let gone = deleted.contains(&id);
        if !gone {
            deleted.push(id);
            *vendors.effects.lock().unwrap().entry(path).or_default() += 1;
        }
        gone
    };
    if gone {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no such customer"}))).into_response();
    }
    pause_if(&vendors.slow_deletes).await;
    StatusCode::NO_CONTENT.into_response()
}
