//! Our domain model: the only shapes internal callers see. Vendor field names never appear here. Each type
//! describes itself for the gateway's OpenAPI document (`utoipa::ToSchema`); an adapter lists the ones its routes
//! answer in its [`crate::openapi::RouteDocs`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A customer, whatever CRM holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    /// Lifetime value in the account's currency, as a decimal number.
    pub lifetime_value: f64,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl Customer {
    /// Its JSON's fields.
    pub const FIELDS: &'static [&'static str] = &["id", "name", "email", "lifetime_value", "created_at"];
}

/// An amount of money in minor units (cents) with its lowercase ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Money {
    pub value: i64,
    #[schema(pattern = "^[a-z]{3}$", example = "usd")]
    pub currency: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

/// A payment, whatever processor took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: String,
    pub amount: Money,
    pub status: PaymentStatus,
    /// Absent when the payment has no customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub customer_id: Option<String>,
}

impl Payment {
    /// Its JSON's fields (`customer_id` only when there is one).
    pub const FIELDS: &'static [&'static str] = &["id", "amount", "status", "customer_id"];
}

/// One page of a cursor-paginated list, whatever pagination the vendor uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_json<T: utoipa::PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn the_schemas_describe_the_json() {
        for (schema, fields) in [
            (schema_json::<Customer>(), Customer::FIELDS),
            (schema_json::<Payment>(), Payment::FIELDS),
        ] {
            let mut expected: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            expected.sort();
            assert_eq!(keys(schema["properties"].clone()), expected);
        }
        let payment = schema_json::<Payment>();
        assert_eq!(payment["required"], serde_json::json!(["id", "amount", "status"]));
        assert_eq!(payment["properties"]["customer_id"]["type"], "string");
        let statuses = [
            PaymentStatus::Pending,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
            PaymentStatus::Canceled,
        ];
        assert_eq!(
            schema_json::<PaymentStatus>()["enum"],
            serde_json::to_value(statuses).unwrap()
        );
        let page = schema_json::<Page<Customer>>();
        assert_eq!(
            page["properties"]["data"]["items"]["$ref"],
            "#/components/schemas/Customer"
        );
        assert_eq!(
            page["properties"]["next_cursor"]["type"],
            serde_json::json!(["string", "null"])
        );
    }

    fn keys(value: serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_declared_fields_are_the_json_fields() {
        let customer = Customer {
            id: "c".into(),
            name: "n".into(),
            email: "e".into(),
            lifetime_value: 0.0,
            created_at: "t".into(),
        };
        let mut expected: Vec<String> = Customer::FIELDS.iter().map(|f| (*f).to_owned()).collect();
        expected.sort();
        assert_eq!(keys(serde_json::to_value(customer).unwrap()), expected);
        let payment = Payment {
            id: "p".into(),
            amount: Money {
                value: 1,
                currency: "usd".into(),
            },
            status: PaymentStatus::Pending,
            customer_id: Some("c".into()),
        };
        let mut expected: Vec<String> = Payment::FIELDS.iter().map(|f| (*f).to_owned()).collect();
        expected.sort();
        assert_eq!(keys(serde_json::to_value(payment).unwrap()), expected);
    }
}
