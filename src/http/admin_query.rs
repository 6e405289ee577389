//! What the admin routes share when reading a request: empty query values taken as absent, RFC 3339 times,
//! cursors (opaque to clients: base64 of a version tag and a position), limits, and the store-unavailable answer.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::problem::{ApiError, Problem};
use crate::store::StoreError;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// A number, or nothing for an empty value.
pub fn empty_is_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(number) => number.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// `value`, or `None` when it is absent or empty.
pub fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// A query value parsed with `parse` (`None` when absent or empty); a value it refuses is 400, saying `expected`.
pub fn parsed<T>(value: Option<String>, parse: fn(&str) -> Option<T>, expected: &str) -> Result<Option<T>, ApiError> {
    match present(value) {
        None => Ok(None),
        Some(text) => parse(&text)
            .map(Some)
            .ok_or_else(|| ApiError::new(Problem::InvalidRequest, expected.to_owned())),
    }
}

pub fn store_problem(error: StoreError) -> ApiError {
    tracing::error!(%error, "admin: store error");
    ApiError::new(Problem::StoreUnavailable, "the store cannot answer right now").retry_after(1)
}

pub fn limit(asked: Option<usize>) -> Result<usize, ApiError> {
    let limit = asked.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            Problem::InvalidRequest,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// The unix-ms instant of an RFC 3339 `field` value.
pub fn time(field: &str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    match present(value) {
        None => Ok(None),
        Some(text) => crate::clock::ms_from_rfc3339(&text).map(Some).ok_or_else(|| {
            ApiError::new(
                Problem::InvalidRequest,
                format!("{field} must be an RFC 3339 time such as 2026-11-30T12:00:00Z"),
            )
        }),
    }
}

/// A cursor for the position `seq` of a listing tagged `tag` (`e1` events oldest first, `e2` newest first, `c1`
/// commands).
pub fn cursor(tag: &str, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}:{seq}"))
}

/// The position in a cursor this API issued for a listing tagged `tag`.
pub fn position(tag: &str, cursor: Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(cursor) = present(cursor) else {
        return Ok(None);
    };
    let decoded = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(tag)?.strip_prefix(':')?.parse().ok());
    decoded.map(Some).ok_or_else(|| {
        ApiError::new(
            Problem::InvalidRequest,
            "cursor is not one this API issued for this listing (and order)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_only_for_their_own_listing() {
        let cursor = cursor("e2", 42);
        assert_eq!(position("e2", Some(cursor.clone())).unwrap(), Some(42));
        assert!(
            position("e1", Some(cursor)).is_err(),
            "a newest-first cursor is refused oldest first"
        );
        assert!(position("e1", Some("not-base64!".into())).is_err());
        assert_eq!(position("e1", Some(" ".into())).unwrap(), None);
    }

    #[test]
    fn times_are_rfc3339_with_any_offset() {
        assert_eq!(
            time("since", Some("1970-01-01T01:00:01+01:00".into())).unwrap(),
            Some(1000)
        );
        assert_eq!(time("since", Some(String::new())).unwrap(), None);
        assert!(time("since", Some("yesterday".into())).is_err());
        assert!(limit(Some(0)).is_err() && limit(Some(501)).is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
    }
}
