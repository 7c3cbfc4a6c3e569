//! Request bodies: read only once the caller is known, within a size and a time, and JSON
//! read strictly (one value per key: `serde_json` would keep the last of two silently).

use std::fmt;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde::Deserialize as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::Error;

/// Time a client has to send a whole request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The body, at most `limit` bytes, within [`BODY_TIMEOUT`].
pub(crate) async fn read(body: Body, limit: usize) -> Result<Bytes, Error> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(Error::Timeout(format!(
            "the request body did not arrive within {} s",
            BODY_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) if is_too_large(&e) => Err(Error::TooLarge(format!(
            "the request body is over the limit of {limit} bytes"
        ))),
        Ok(Err(e)) => Err(Error::BadRequest(format!(
            "cannot read the request body: {e}"
        ))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The media type of the request, without parameters, in lower case.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// JSON with every object's keys distinct.
pub(crate) fn strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = Strict::deserialize(&mut reader)?.0;
    reader.end()?;
    Ok(value)
}

struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key `{key}` appears twice in one object"
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_key() {
        let err = strict(br#"{"kind": "organisation", "body": {"name": "A", "name": "B"}}"#)
            .expect_err("a key twice");
        assert!(err.to_string().contains("`name` appears twice"), "{err}");
        let v = strict(br#"{"a": [1, 2.5, "x", null, true, {"b": {}}]}"#).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!({"a": [1, 2.5, "x", null, true, {"b": {}}]})
        );
        assert!(strict(b"{} {}").is_err(), "one value only");
    }
}
