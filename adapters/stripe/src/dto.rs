//! Stripe's PaymentIntent as its API and webhooks send it, and its translation to our [`Payment`]; the form we
//! create one with; and Stripe's error body: the anti-corruption layer. Stripe's field names and statuses stop here.

use gatehouse_kit::domain::{Money, Payment, PaymentStatus};
use gatehouse_kit::webhook::InvalidField;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// A PaymentIntent in Stripe's words (only the fields we translate).
#[derive(Debug, Deserialize)]
pub(crate) struct PaymentIntent {
    pub id: String,
    /// Minor units (cents).
    pub amount: i64,
    /// Three-letter ISO 4217 code, lowercase in Stripe's output.
    pub currency: String,
    pub status: String,
    /// A customer id, an expanded customer object, or absent/null.
    #[serde(default)]
    pub customer: Option<CustomerRef>,
    /// Set when the last payment attempt failed; null otherwise.
    #[serde(default)]
    pub last_payment_error: Option<IgnoredAny>,
}

/// The form of `POST /v1/payment_intents` (sent `application/x-www-form-urlencoded`).
#[derive(Debug, Serialize)]
pub(crate) struct NewPaymentIntent<'a> {
    /// Minor units, positive.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<&'a str>,
}

/// Stripe's error body, `{"error":{"type","code","message",...}}` (only the fields we read).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    /// A short machine-readable code such as `card_declined`; absent for some error types.
    #[serde(default)]
    pub code: Option<String>,
    /// A human-readable message, meant to be shown.
    #[serde(default)]
    pub message: Option<String>,
}

/// Stripe's expandable field: the id, or the object with its id when the request expanded it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum CustomerRef {
    Id(String),
    Expanded { id: String },
}

impl TryFrom<PaymentIntent> for Payment {
    type Error = InvalidField;

    fn try_from(intent: PaymentIntent) -> Result<Self, Self::Error> {
        let status = status(&intent.status, intent.last_payment_error.is_some())?;
        if intent.amount < 0 {
            return Err(InvalidField {
                field: "amount",
                reason: "is negative",
            });
        }
        let customer_id = match intent.customer {
            None => None,
            Some(CustomerRef::Id(id) | CustomerRef::Expanded { id }) => Some(InvalidField::check_text("customer", id)?),
        };
        Ok(Payment {
            id: InvalidField::check_text("id", intent.id)?,
            amount: Money {
                value: intent.amount,
                currency: currency(&intent.currency)?,
            },
            status,
            customer_id,
        })
    }
}

/// Stripe's PaymentIntent statuses in ours. A payment whose last attempt failed goes back to
/// `requires_payment_method` with `last_payment_error` set: that is a failure, not a fresh intent.
fn status(status: &str, last_attempt_failed: bool) -> Result<PaymentStatus, InvalidField> {
    Ok(match status {
        // `requires_source*` are the names before API version 2019-02-11.
        "requires_payment_method" | "requires_source" if last_attempt_failed => PaymentStatus::Failed,
        "requires_payment_method"
        | "requires_source"
        | "requires_confirmation"
        | "requires_action"
        | "requires_source_action"
        | "processing"
        | "requires_capture" => PaymentStatus::Pending,
        "succeeded" => PaymentStatus::Succeeded,
        "canceled" => PaymentStatus::Canceled,
        _ => {
            return Err(InvalidField {
                field: "status",
                reason: "is not a known PaymentIntent status",
            });
        }
    })
}

/// Three ASCII letters, lowercased.
fn currency(code: &str) -> Result<String, InvalidField> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_lowercase())
    } else {
        Err(InvalidField {
            field: "currency",
            reason: "is not a three-letter ISO 4217 code",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_status() {
        let cases = [
            ("requires_payment_method", false, PaymentStatus::Pending),
            ("requires_payment_method", true, PaymentStatus::Failed),
            ("requires_source", true, PaymentStatus::Failed),
            ("requires_confirmation", false, PaymentStatus::Pending),
            ("requires_action", false, PaymentStatus::Pending),
            ("processing", false, PaymentStatus::Pending),
            ("requires_capture", false, PaymentStatus::Pending),
            ("succeeded", false, PaymentStatus::Succeeded),
            ("succeeded", true, PaymentStatus::Succeeded),
            ("canceled", false, PaymentStatus::Canceled),
            ("canceled", true, PaymentStatus::Canceled),
        ];
        for (stripe, failed, ours) in cases {
            assert_eq!(status(stripe, failed), Ok(ours), "{stripe} {failed}");
        }
    }

    #[test]
    fn refuses_unknown_statuses() {
        for stripe in ["", "cancelled", "SUCCEEDED", "failed", "requires_"] {
            assert_eq!(status(stripe, false).unwrap_err().field, "status", "{stripe}");
        }
    }

    #[test]
    fn lowercases_three_letter_currencies_only() {
        assert_eq!(currency("USD").as_deref(), Ok("usd"));
        assert_eq!(currency("eur").as_deref(), Ok("eur"));
        for bad in ["", "us", "usdt", "u$d", "ü s", "123"] {
            assert!(currency(bad).is_err(), "{bad}");
        }
    }
}
