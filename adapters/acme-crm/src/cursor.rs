//! Acme CRM's page numbers behind an opaque cursor, and the `limit` query parameter of `GET /customers`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_kit::outbound::{OutboundError, invalid};

/// The page size when the caller gives no `limit`.
const DEFAULT_LIMIT: u32 = 20;
/// The largest `limit` (and the largest page size a cursor may carry).
const MAX_LIMIT: u32 = 100;
/// Longer than any cursor [`Cursor::encode`] makes (`v1:4294967295:100` is 36 characters encoded).
const MAX_CURSOR_CHARS: usize = 64;

/// Where a list is: Acme's page number and page size, behind an opaque cursor.
///
/// The cursor is the unpadded base64url encoding of `v1:<page>:<per_page>` (so `djE6MjoyMA` for page 2 of 20).
/// Callers must treat it as opaque; only the canonical encoding of a page ≥ 1 and a size from 1 to 100 is
/// accepted, so the version prefix lets the format change without misreading old cursors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub page: u32,
    pub per_page: u32,
}

impl Cursor {
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", self.page, self.per_page))
    }

    pub fn decode(text: &str) -> Result<Self, OutboundError> {
        Self::parse(text)
            .filter(|cursor| cursor.encode() == text)
            .ok_or_else(|| invalid("query parameter `cursor` is not a cursor this API issued"))
    }

    fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_CURSOR_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (page, per_page) = std::str::from_utf8(&bytes).ok()?.strip_prefix("v1:")?.split_once(':')?;
        let cursor = Self {
            page: page.parse().ok()?,
            per_page: per_page.parse().ok()?,
        };
        (cursor.page >= 1 && (1..=MAX_LIMIT).contains(&cursor.per_page)).then_some(cursor)
    }
}

/// The `limit` query parameter: absent → the default; else an integer from 1 to 100.
pub(crate) fn limit(text: Option<&str>) -> Result<u32, OutboundError> {
    let Some(text) = text else {
        return Ok(DEFAULT_LIMIT);
    };
    text.parse()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            invalid(format!(
                "query parameter `limit` must be an integer from 1 to {MAX_LIMIT}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for (page, per_page) in [(1, 1), (2, 20), (17, 100), (u32::MAX, 100)] {
            let cursor = Cursor { page, per_page };
            let text = cursor.encode();
            assert!(text.len() <= MAX_CURSOR_CHARS, "{text}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text}"
            );
            assert_eq!(Cursor::decode(&text), Ok(cursor));
        }
        assert_eq!(Cursor { page: 2, per_page: 20 }.encode(), "djE6MjoyMA");
    }

    #[test]
    fn refuses_cursors_it_did_not_issue() {
        let forged = |text: &str| URL_SAFE_NO_PAD.encode(text);
        let too_long = "A".repeat(MAX_CURSOR_CHARS + 4);
        for text in [
            String::new(),
            "%%%".into(),
            "djE6MjoyMA==".into(),
            "djE6MjoyMA=".into(),
            too_long,
            forged("v2:2:20"),
            forged("v1:2"),
            forged("v1:0:20"),
            forged("v1:2:0"),
            forged("v1:2:101"),
            forged("v1:02:20"),
            forged("v1:+2:20"),
            forged("v1:2:20:"),
            forged("v1:-1:20"),
            forged("v1:4294967296:20"),
            URL_SAFE_NO_PAD.encode([b'v', b'1', b':', 0xff, b':', b'2']),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("v1:2:20>?"),
        ] {
            let err = Cursor::decode(&text).unwrap_err();
            assert!(err.to_string().contains("`cursor`"), "{text:?}: {err}");
        }
    }

    #[test]
    fn limits_are_integers_from_1_to_100() {
        assert_eq!(limit(None), Ok(20));
        assert_eq!(limit(Some("1")), Ok(1));
        assert_eq!(limit(Some("100")), Ok(100));
        for bad in ["", "0", "101", "-1", "ten", "1.5", " 5", "99999999999"] {
            assert!(limit(Some(bad)).unwrap_err().to_string().contains("`limit`"), "{bad:?}");
        }
    }
}
