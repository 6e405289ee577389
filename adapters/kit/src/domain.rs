//! Our domain model: the only shapes internal callers see. Vendor field names never appear here.

use serde::{Deserialize, Serialize};

/// A customer, whatever CRM holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    /// Lifetime value in the account's currency, as a decimal number.
    pub lifetime_value: f64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// An amount of money in minor units (cents) with its lowercase ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub value: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

/// A payment, whatever processor took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub amount: Money,
    pub status: PaymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

/// One page of a cursor-paginated list, whatever pagination the vendor uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}
