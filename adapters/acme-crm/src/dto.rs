//! Acme CRM's customer as its API and webhooks send it, and its translation to our [`Customer`]; the page of
//! customers its list endpoint answers; and the request bodies we send it: the anti-corruption layer. Vendor field
//! names stop here.

use chrono::NaiveDateTime;
use gatehouse_kit::domain::Customer;
use gatehouse_kit::webhook::InvalidField;
use serde::{Deserialize, Serialize};

/// A customer in Acme's words: money as a decimal string, a naive UTC timestamp with a space.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct VendorCustomer {
    pub cust_id: String,
    pub full_name: String,
    pub email_address: String,
    /// A decimal string such as `"1234.50"`.
    pub lifetime_value: String,
    /// `YYYY-MM-DD HH:MM:SS`, UTC.
    pub created: String,
}

/// One page of `GET /customers?page=N&per_page=M`: page-numbered, starting at 1.
#[derive(Debug, Deserialize)]
pub(crate) struct VendorCustomerPage {
    pub results: Vec<VendorCustomer>,
    pub page: u32,
    pub total_pages: u32,
}

/// The body of `POST /customers`.
#[derive(Debug, Serialize)]
pub(crate) struct VendorNewCustomer<'a> {
    pub full_name: &'a str,
    pub email_address: &'a str,
}

/// The body of `PATCH /customers/{cust_id}`: only the fields that change.
#[derive(Debug, Serialize)]
pub(crate) struct VendorCustomerChanges<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<&'a str>,
}

impl TryFrom<VendorCustomer> for Customer {
    type Error = InvalidField;

    fn try_from(vendor: VendorCustomer) -> Result<Self, Self::Error> {
        let lifetime_value = parse_decimal(&vendor.lifetime_value).ok_or(InvalidField {
            field: "lifetime_value",
            reason: "is not a finite decimal string such as \"1234.50\"",
        })?;
        let created_at = parse_timestamp(&vendor.created).ok_or(InvalidField {
            field: "created",
            reason: "is not a valid \"YYYY-MM-DD HH:MM:SS\" timestamp",
        })?;
        Ok(Customer {
            id: InvalidField::check_text("cust_id", vendor.cust_id)?,
            name: vendor.full_name,
            email: vendor.email_address,
            lifetime_value,
            created_at,
        })
    }
}

/// A plain decimal: optional `-`, digits, optionally `.` and more digits. No exponent, sign `+`, spaces, `NaN` or
/// `inf`, which Rust's float parser would accept.
fn parse_decimal(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// `YYYY-MM-DD HH:MM:SS` (naive UTC) as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`. The shape is checked byte by byte
/// first because chrono's parser tolerates unpadded fields; chrono then validates the calendar and the clock. Leap
/// seconds (`:60`, which chrono accepts) are refused: no vendor clock produces them.
fn parse_timestamp(text: &str) -> Option<String> {
    const SHAPE: &[u8; 19] = b"dddd-dd-dd dd:dd:dd";
    let well_shaped = text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE.iter()).all(|(b, &s)| match s {
            b'd' => b.is_ascii_digit(),
            _ => b == s,
        });
    if !well_shaped || text.ends_with(":60") {
        return None;
    }
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(parsed.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendor() -> VendorCustomer {
        VendorCustomer {
            cust_id: "c_42".into(),
            full_name: "Ada Lovelace".into(),
            email_address: "ada@example.com".into(),
            lifetime_value: "1234.50".into(),
            created: "2026-01-02 10:00:00".into(),
        }
    }

    #[test]
    fn translates_a_vendor_customer() {
        let customer = Customer::try_from(vendor()).unwrap();
        assert_eq!(
            customer,
            Customer {
                id: "c_42".into(),
                name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                lifetime_value: 1234.5,
                created_at: "2026-01-02T10:00:00Z".into(),
            }
        );
    }

    #[test]
    fn accepts_plain_decimals() {
        for (text, value) in [
            ("0", 0.0),
            ("12", 12.0),
            ("-3.25", -3.25),
            ("0.10", 0.1),
            ("007.5", 7.5),
        ] {
            assert_eq!(parse_decimal(text), Some(value), "{text}");
        }
    }

    #[test]
    fn rejects_anything_but_plain_decimals() {
        let overflow = "9".repeat(400);
        for text in [
            "", "-", ".", "1.", ".5", "+1", "1e3", "1E3", " 1", "1 ", "NaN", "nan", "inf", "-inf", "infinity", "1,5",
            "1.2.3", "0x10", "--1", "١٢", &overflow,
        ] {
            assert_eq!(parse_decimal(text), None, "{text:?}");
        }
    }

    #[test]
    fn accepts_valid_timestamps() {
        for (text, rfc3339) in [
            ("2026-01-02 10:00:00", "2026-01-02T10:00:00Z"),
            ("2024-02-29 23:59:59", "2024-02-29T23:59:59Z"),
            ("1999-12-31 00:00:01", "1999-12-31T00:00:01Z"),
        ] {
            assert_eq!(parse_timestamp(text).as_deref(), Some(rfc3339), "{text}");
        }
    }

    #[test]
    fn rejects_invalid_timestamps() {
        for text in [
            "",
            "2026-01-02",
            "2026-01-02T10:00:00",
            "2026-01-02 10:00:00Z",
            "2026-01-02 10:00:00.5",
            "2026-1-2 10:00:00",
            "2026-01-02  10:00:0",
            " 2026-01-02 10:00:00",
            "2026-13-02 10:00:00",
            "2026-00-02 10:00:00",
            "2026-02-30 10:00:00",
            "2025-02-29 10:00:00",
            "2026-01-32 10:00:00",
            "2026-01-02 24:00:00",
            "2026-01-02 10:60:00",
            "2026-01-02 10:00:61",
            "2026-12-31 23:59:60",
            "２026-01-02 10:00:00",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text:?}");
        }
    }

    #[test]
    fn names_the_bad_field() {
        let mut bad = vendor();
        bad.lifetime_value = "lots".into();
        assert_eq!(Customer::try_from(bad).unwrap_err().field, "lifetime_value");
        let mut bad = vendor();
        bad.created = "yesterday".into();
        assert_eq!(Customer::try_from(bad).unwrap_err().field, "created");
        for id in ["", "  ", "a\nb", &"x".repeat(256)] {
            let mut bad = vendor();
            bad.cust_id = id.into();
            assert_eq!(Customer::try_from(bad).unwrap_err().field, "cust_id", "{id:?}");
        }
    }
}
