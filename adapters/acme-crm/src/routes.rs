//! The outbound routes under `/v1/acme-crm`: our customer requests translated into Acme CRM's API calls, and its
//! answers back into [`Customer`]s, [`Page`]s of them, or [`OutboundError`]s.
//!
//! | Route                   | Vendor call                          | Answer                  |
//! |-------------------------|--------------------------------------|-------------------------|
//! | `GET /customers/{id}`   | `GET /customers/{cust_id}`           | 200 `Customer`          |
//! | `GET /customers`        | `GET /customers?page=N&per_page=M`   | 200 `Page<Customer>`    |
//! | `POST /customers`       | `POST /customers`                    | 201 `Customer`          |
//! | `PATCH /customers/{id}` | `PATCH /customers/{cust_id}`         | 200 `Customer`          |
//! | `DELETE /customers/{id}`| `DELETE /customers/{cust_id}`        | 204                     |
//!
//! The list hides Acme's page numbers behind an opaque cursor (see [`Cursor`]). Vendor answers map as: 404 on a
//! customer → `NotFound`; 429 → `UpstreamError::RateLimited` with the vendor's `Retry-After`; 401/403 →
//! `VendorFailed` (gatehouse's credentials, not the caller's fault); other 4xx → `VendorRejected` with the
//! vendor's message; anything else that is not 2xx, or a 2xx body that is not the expected shape → `VendorFailed`.
//! Error messages never carry the vendor's body, only its `error`/`message` text, cleaned and shortened.

use bytes::Bytes;
use gatehouse_kit::domain::{Customer, Page};
use gatehouse_kit::outbound::{
    self, DomainRequest, DomainResponse, OutboundError, RouteSpec, Upstream, VendorError, VendorRequest,
    VendorResponse, caller_json, clean_message, deserialize_caller, invalid, non_empty, path_param, path_segment,
    to_json, vendor_domain, vendor_json,
};
use gatehouse_kit::route_handler;
use http::{HeaderMap, HeaderValue, Method, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cursor::{Cursor, limit};
use crate::dto::{VendorCustomer, VendorCustomerChanges, VendorCustomerPage, VendorNewCustomer};

/// Our name for the vendor in error messages.
const VENDOR: &str = "acme-crm";
pub(crate) const CUSTOMER: &str = "/customers/{id}";
pub(crate) const CUSTOMERS: &str = "/customers";
/// Acme's header for deduplicating creations.
const IDEMPOTENCY_KEY: header::HeaderName = header::HeaderName::from_static("idempotency-key");

/// The routes [`crate::AcmeCrm`] serves.
pub(crate) static ROUTES: [RouteSpec; 5] = [
    RouteSpec::new(Method::GET, CUSTOMER, route_handler!(get_customer)),
    RouteSpec::new(Method::GET, CUSTOMERS, route_handler!(list_customers)),
    RouteSpec::new(Method::POST, CUSTOMERS, route_handler!(create_customer)),
    RouteSpec::new(Method::PATCH, CUSTOMER, route_handler!(update_customer)),
    RouteSpec::new(Method::DELETE, CUSTOMER, route_handler!(delete_customer)),
];

/// `GET /customers/{id}` → `GET /customers/{cust_id}` → 200 `Customer`.
async fn get_customer(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let id = path_param(request, "id")?;
    let response = upstream
        .send(vendor_request(Method::GET, customer_path(id), None))
        .await?;
    check_status(&response, Some(id))?;
    Ok(DomainResponse::ok(to_json(VENDOR, &customer(&response)?)?))
}

/// `GET /customers?limit=&cursor=` → `GET /customers?page=N&per_page=M` → 200 `Page<Customer>`.
///
/// Without a `cursor`, answers the first page of `limit` customers (default 20, 1 to 100). With one, answers the
/// page it points to; a cursor carries its page size, so `limit` is then ignored (not even validated): a caller
/// pages through a list at the size it started with. `next_cursor` is present iff Acme has more pages.
async fn list_customers(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let position = match request.query("cursor") {
        Some(cursor) => Cursor::decode(cursor)?,
        None => Cursor {
            page: 1,
            per_page: limit(request.query("limit"))?,
        },
    };
    let path = format!("{CUSTOMERS}?page={}&per_page={}", position.page, position.per_page);
    let response = upstream.send(vendor_request(Method::GET, path, None)).await?;
    check_status(&response, None)?;
    let list: VendorCustomerPage = vendor_json(VENDOR, &response, "a customer page")?;
    if list.page != position.page {
        return Err(OutboundError::VendorFailed(format!(
            "{VENDOR} answered page {} when asked for page {}",
            list.page, position.page
        )));
    }
    let data = list
        .results
        .into_iter()
        .enumerate()
        .map(|(index, vendor)| {
            Customer::try_from(vendor).map_err(|e| {
                OutboundError::VendorFailed(format!(
                    "{VENDOR} answered a customer page whose `results.{index}` is not a valid customer: {e}"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // `page < total_pages` leaves room for `page + 1` in a u32.
    let next_cursor = (position.page < list.total_pages).then(|| {
        Cursor {
            page: position.page + 1,
            per_page: position.per_page,
        }
        .encode()
    });
    Ok(DomainResponse::ok(to_json(VENDOR, &Page { data, next_cursor })?))
}

/// `POST /customers` `{"name","email"}` → `POST /customers` `{"full_name","email_address"}` → 201 `Customer`, with
/// the caller's `Idempotency-Key` (Acme creates one customer per key; a saga's step sends one on every attempt).
async fn create_customer(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let new: NewCustomer = caller_body(request, "`name` and `email`")?;
    let body = VendorNewCustomer {
        full_name: non_empty("name", &new.name)?,
        email_address: non_empty("email", &new.email)?,
    };
    let mut creation = vendor_request(Method::POST, CUSTOMERS.to_owned(), Some(encode_body(&body)?));
    if let Some(key) = &request.idempotency_key {
        let value = HeaderValue::from_str(key).map_err(|_| invalid("header Idempotency-Key is not visible ASCII"))?;
        creation.headers.insert(IDEMPOTENCY_KEY, value);
    }
    let response = upstream.send(creation).await?;
    check_status(&response, None)?;
    Ok(DomainResponse::created(to_json(VENDOR, &customer(&response)?)?))
}

/// `PATCH /customers/{id}` with any of `name`, `email` → `PATCH /customers/{cust_id}` with only those vendor
/// fields → 200 `Customer`.
async fn update_customer(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let id = path_param(request, "id")?;
    let changes: CustomerChanges = caller_body(request, "at least one of `name`, `email`")?;
    let body = VendorCustomerChanges {
        full_name: changes
            .name
            .as_deref()
            .map(|name| non_empty("name", name))
            .transpose()?,
        email_address: changes
            .email
            .as_deref()
            .map(|email| non_empty("email", email))
            .transpose()?,
    };
    if body.full_name.is_none() && body.email_address.is_none() {
        return Err(invalid("body must set at least one of `name`, `email`"));
    }
    let response = upstream
        .send(vendor_request(
            Method::PATCH,
            customer_path(id),
            Some(encode_body(&body)?),
        ))
        .await?;
    check_status(&response, Some(id))?;
    Ok(DomainResponse::ok(to_json(VENDOR, &customer(&response)?)?))
}

/// `DELETE /customers/{id}` (no body) → `DELETE /customers/{cust_id}` → 204. A customer Acme does not have is 404
/// `not-found` (after a deletion that went through but whose answer was lost, a retry finds it gone).
async fn delete_customer(request: &DomainRequest, upstream: &dyn Upstream) -> Result<DomainResponse, OutboundError> {
    let id = path_param(request, "id")?;
    if !request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("DELETE /customers/{id} takes no body"));
    }
    let response = upstream
        .send(vendor_request(Method::DELETE, customer_path(id), None))
        .await?;
    check_status(&response, Some(id))?;
    Ok(DomainResponse::no_content())
}

/// The body of `POST /v1/{provider}/customers`: the new customer's name and email.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCustomer {
    #[schema(min_length = 1)]
    name: String,
    #[schema(min_length = 1)]
    email: String,
}

/// The body of `PATCH /v1/{provider}/customers/{id}`: the fields that change, at least one, none null.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerChanges {
    #[schema(nullable = false, min_length = 1)]
    name: Option<String>,
    #[schema(nullable = false, min_length = 1)]
    email: Option<String>,
}

fn customer_path(id: &str) -> String {
    format!("{CUSTOMERS}/{}", path_segment(id))
}

/// The caller's JSON object body as `T` ([`outbound::caller_body`]), and no field of it null: only known fields are
/// left after `T` accepted them, and an explicit null would otherwise read as "unchanged".
fn caller_body<T: DeserializeOwned>(request: &DomainRequest, expected: &str) -> Result<T, OutboundError> {
    let body = caller_json(request, expected)?;
    let parsed = deserialize_caller(&body)?;
    if let Some((name, _)) = body
        .as_object()
        .and_then(|fields| fields.iter().find(|(_, value)| value.is_null()))
    {
        return Err(invalid(format!("field `{name}` is null")));
    }
    Ok(parsed)
}

fn encode_body<T: Serialize>(body: &T) -> Result<Bytes, OutboundError> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| OutboundError::VendorFailed(format!("cannot encode the request to {VENDOR}: {e}")))
}

/// A request to Acme; JSON bodies are labelled as such.
fn vendor_request(method: Method, path_and_query: String, json: Option<Bytes>) -> VendorRequest {
    let mut headers = HeaderMap::new();
    if json.is_some() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    VendorRequest {
        method,
        path_and_query,
        headers,
        body: json.unwrap_or_default(),
    }
}

/// `Ok` for a 2xx; otherwise the error the status means ([`outbound::check_status`]). `customer_id` is the customer
/// a 404 is about; without one (the collection endpoints) a 404 means a misconfigured `base_url`.
fn check_status(response: &VendorResponse, customer_id: Option<&str>) -> Result<(), OutboundError> {
    let read_error = |body: &[u8]| {
        vendor_message(body).map(|message| VendorError {
            code: None,
            message: Some(message),
        })
    };
    outbound::check_status(VENDOR, response, read_error, |_| {
        customer_id.map(|id| format!("no customer {id}"))
    })
}

/// The vendor's `{"message": ...}` or `{"error": ...}` text, without control characters and shortened.
fn vendor_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["message", "error"]
        .iter()
        .find_map(|key| value.get(key).and_then(Value::as_str).and_then(clean_message))
}

/// A 2xx body as our `Customer`.
fn customer(response: &VendorResponse) -> Result<Customer, OutboundError> {
    vendor_domain::<VendorCustomer, _>(VENDOR, response, "a customer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_messages_are_cleaned_and_shortened() {
        assert_eq!(
            vendor_message(br#"{"message":" bad\nemail "}"#).as_deref(),
            Some("bad email")
        );
        assert_eq!(
            vendor_message(br#"{"error":"taken","message":"email taken"}"#).as_deref(),
            Some("email taken")
        );
        assert_eq!(
            vendor_message(br#"{"error":"taken","message":""}"#).as_deref(),
            Some("taken")
        );
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(500));
        let message = vendor_message(long.as_bytes()).unwrap();
        assert_eq!(message.chars().count(), outbound::MAX_MESSAGE_CHARS + 1);
        for none in [
            &b""[..],
            b"oops",
            b"[]",
            br#"{"error":{"code":1}}"#,
            br#"{"detail":"x"}"#,
        ] {
            assert_eq!(vendor_message(none), None);
        }
    }
}
