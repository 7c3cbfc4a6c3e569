//! Deterministic CBOR (RFC 8949 §4.2.1) for the subset records use: unsigned and negative
//! integers, byte and text strings, arrays, maps with text keys, `true`, `false`, `null`.
//!
//! Encoding writes definite lengths, the shortest integer heads and map keys sorted by their
//! encoded bytes. Decoding accepts exactly what encoding produces: any other form of the same
//! data (a long head, an indefinite length, unsorted or repeated keys, trailing bytes, a float,
//! a tag) is an error, so one value has one encoding and a signature covers one byte string.

use std::ops::Range;

use ciborium::Value;

use crate::Error;

/// Deepest nesting a record needs is five (record → body → list → map → text); a little
/// headroom, and a hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

/// Encodes `value` canonically.
pub fn encode(value: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(value, &mut out, 0)?;
    Ok(out)
}

/// Decodes one canonical CBOR item that spans all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        return Err(non_canonical(format!(
            "{} trailing bytes after the item",
            bytes.len() - reader.pos
        )));
    }
    Ok(value)
}

/// A map entry as decoded, and where its bytes lie in the input.
#[derive(Debug)]
pub struct Entry {
    pub key: Value,
    pub value: Value,
    /// The whole entry, key and value.
    pub span: Range<usize>,
    /// Where the value starts.
    pub value_at: usize,
}

/// Decodes one canonical CBOR map that spans all of `bytes`, keeping where each entry lies:
/// dropping entries from a canonical map leaves the others canonical, so a part of the map
/// can be re-encoded by copying bytes.
pub fn decode_map(bytes: &[u8], what: &str) -> Result<Vec<Entry>, Error> {
    let mut reader = Reader { bytes, pos: 0 };
    let (major, _, n) = reader.head()?;
    if major != 5 {
        return Err(Error::Malformed(format!("{what} is a CBOR map")));
    }
    let entries = reader.entries(n, 0, 0)?;
    if reader.pos != bytes.len() {
        return Err(non_canonical(format!(
            "{} trailing bytes after the item",
            bytes.len() - reader.pos
        )));
    }
    Ok(entries)
}

fn non_canonical(why: impl Into<String>) -> Error {
    Error::NotCanonical(why.into())
}

pub(crate) fn write_head(major: u8, n: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    if n < 24 {
        out.push(major | n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[major | 24, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(major | 25);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(major | 26);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn write(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(non_canonical("nested deeper than 16 levels"));
    }
    match value {
        Value::Integer(i) => {
            let i = i128::from(*i);
            // ciborium's Integer holds exactly the CBOR range -2^64 ..= 2^64-1.
            if i >= 0 {
                write_head(0, i as u64, out);
            } else {
                write_head(1, (-1 - i) as u64, out);
            }
        }
        Value::Bytes(b) => {
            write_head(2, b.len() as u64, out);
            out.extend_from_slice(b);
        }
        Value::Text(s) => {
            write_head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            write_head(4, items.len() as u64, out);
            for item in items {
                write(item, out, depth + 1)?;
            }
        }
        Value::Map(entries) => {
            let mut encoded = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let Value::Text(_) = k else {
                    return Err(non_canonical("a map key is not text"));
                };
                let mut key = Vec::new();
                write(k, &mut key, depth + 1)?;
                let mut val = Vec::new();
                write(v, &mut val, depth + 1)?;
                encoded.push((key, val));
            }
            encoded.sort_by(|a, b| a.0.cmp(&b.0));
            if encoded.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(non_canonical("a map has the same key twice"));
            }
            write_head(5, encoded.len() as u64, out);
            for (k, v) in encoded {
                out.extend_from_slice(&k);
                out.extend_from_slice(&v);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
        Value::Float(_) => return Err(non_canonical("floats are not allowed")),
        Value::Tag(..) => return Err(non_canonical("tags are not allowed")),
        _ => return Err(non_canonical("unsupported CBOR item")),
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(Error::Malformed(format!(
                "item of {n} bytes at offset {} runs past the end",
                self.pos
            )));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn uint(&mut self, len: u64) -> Result<u64, Error> {
        let mut n = 0u64;
        for b in self.take(len)? {
            n = n << 8 | u64::from(*b);
        }
        Ok(n)
    }

    /// Reads an initial byte and its argument, insisting on the shortest form.
    fn head(&mut self) -> Result<(u8, u8, u64), Error> {
        let at = self.pos;
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let (n, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (self.uint(1)?, 24),
            25 => (self.uint(2)?, 0x100),
            26 => (self.uint(4)?, 0x1_0000),
            27 => (self.uint(8)?, 0x1_0000_0000),
            31 => return Err(non_canonical(format!("indefinite length at offset {at}"))),
            _ => {
                return Err(Error::Malformed(format!(
                    "reserved initial byte at offset {at}"
                )));
            }
        };
        if major != 7 && n < min {
            return Err(non_canonical(format!(
                "integer head longer than needed at offset {at}"
            )));
        }
        Ok((major, info, n))
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(non_canonical("nested deeper than 16 levels"));
        }
        let at = self.pos;
        let (major, info, n) = self.head()?;
        Ok(match major {
            0 => Value::Integer(n.into()),
            1 => Value::Integer((-1 - i128::from(n)).try_into().map_err(|_| {
                Error::Malformed(format!("negative integer out of range at offset {at}"))
            })?),
            2 => Value::Bytes(self.take(n)?.to_vec()),
            3 => Value::Text(
                String::from_utf8(self.take(n)?.to_vec())
                    .map_err(|_| Error::Malformed(format!("text at offset {at} is not UTF-8")))?,
            ),
            4 => {
                // Every item takes at least one byte: a count beyond what is left is a lie
                // we must not allocate for.
                self.check_count(n, at)?;
                let items = (0..n)
                    .map(|_| self.value(depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Array(items)
            }
            5 => Value::Map(
                self.entries(n, at, depth)?
                    .into_iter()
                    .map(|e| (e.key, e.value))
                    .collect(),
            ),
            6 => {
                return Err(non_canonical(format!(
                    "tag at offset {at}: tags are not allowed"
                )));
            }
            _ => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 => Value::Null,
                25..=27 => {
                    return Err(non_canonical(format!(
                        "float at offset {at}: floats are not allowed"
                    )));
                }
                _ => {
                    return Err(non_canonical(format!(
                        "unsupported simple value at offset {at}"
                    )));
                }
            },
        })
    }

    /// The `n` entries of a map whose head was at `at`, each with the span of its bytes.
    fn entries(&mut self, n: u64, at: usize, depth: usize) -> Result<Vec<Entry>, Error> {
        self.check_count(n, at)?;
        let mut entries = Vec::with_capacity(n as usize);
        let mut previous: Option<&[u8]> = None;
        for _ in 0..n {
            let key_at = self.pos;
            let key = self.value(depth + 1)?;
            if !matches!(key, Value::Text(_)) {
                return Err(non_canonical(format!(
                    "map key at offset {key_at} is not text"
                )));
            }
            let key_bytes = &self.bytes[key_at..self.pos];
            if previous.is_some_and(|p| p >= key_bytes) {
                return Err(non_canonical(format!(
                    "map key at offset {key_at} is out of order or repeated"
                )));
            }
            previous = Some(key_bytes);
            let value_at = self.pos;
            let value = self.value(depth + 1)?;
            entries.push(Entry {
                key,
                value,
                span: key_at..self.pos,
                value_at,
            });
        }
        Ok(entries)
    }

    fn check_count(&self, n: u64, at: usize) -> Result<(), Error> {
        if n > (self.bytes.len() - self.pos) as u64 {
            return Err(Error::Malformed(format!(
                "container at offset {at} claims {n} items, more than the bytes left"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn rfc_8949_examples() {
        let cases: &[(Value, &str)] = &[
            (Value::Integer(0.into()), "00"),
            (Value::Integer(23.into()), "17"),
            (Value::Integer(24.into()), "1818"),
            (Value::Integer(1000.into()), "1903e8"),
            (Value::Integer(1_000_000.into()), "1a000f4240"),
            (
                Value::Integer(1_000_000_000_000u64.into()),
                "1b000000e8d4a51000",
            ),
            (Value::Integer(u64::MAX.into()), "1bffffffffffffffff"),
            (Value::Integer((-1).into()), "20"),
            (Value::Integer((-1000).into()), "3903e7"),
            (text("IETF"), "6449455446"),
            (Value::Bool(true), "f5"),
            (Value::Null, "f6"),
            (
                Value::Array(vec![Value::Integer(1.into()), Value::Integer(2.into())]),
                "820102",
            ),
        ];
        for (value, hex) in cases {
            let bytes = encode(value).unwrap();
            assert_eq!(hex::encode(&bytes), *hex);
            assert_eq!(&decode(&bytes).unwrap(), value);
        }
    }

    #[test]
    fn map_keys_sort_by_length_then_bytes() {
        let map = Value::Map(vec![
            (text("author"), Value::Null),
            (text("b"), Value::Null),
            (text("id"), Value::Null),
            (text("a"), Value::Null),
        ]);
        let bytes = encode(&map).unwrap();
        assert_eq!(hex::encode(bytes), "a46161f66162f6626964f666617574686f72f6");
    }

    #[test]
    fn rejects_every_non_canonical_form() {
        let bad = [
            ("1817", "a small integer in a one-byte head"),
            ("190017", "a two-byte head for a small integer"),
            ("5f4101ff", "an indefinite byte string"),
            ("a2616200616100", "keys out of order"),
            ("a2616100616100", "a repeated key"),
            ("0000", "trailing bytes"),
            ("f93c00", "a half float"),
            ("fb3ff0000000000000", "a double"),
            ("c11a514b67b0", "a tag"),
            ("a10100", "an integer key"),
            ("62c328", "invalid UTF-8"),
            ("5a00010000", "a length past the end"),
            ("9bffffffffffffffff", "an array claiming 2^64 items"),
        ];
        for (hex, what) in bad {
            let bytes = hex::decode(hex).unwrap();
            assert!(decode(&bytes).is_err(), "accepted {what}");
        }
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut bytes = vec![0x81; 100];
        bytes.push(0x00);
        assert!(decode(&bytes).is_err());
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<u64>().prop_map(|n| Value::Integer(n.into())),
            any::<i64>().prop_map(|n| Value::Integer(n.into())),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
            ".{0,30}".prop_map(Value::Text),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,12}", inner, 0..8).prop_map(|m| {
                    Value::Map(m.into_iter().map(|(k, v)| (Value::Text(k), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_decode_encode_is_identity(value in arb_value()) {
            let bytes = encode(&value).unwrap();
            let decoded = decode(&bytes).unwrap();
            prop_assert_eq!(encode(&decoded).unwrap(), bytes);
        }

        #[test]
        fn decode_accepts_only_what_encode_writes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(value) = decode(&bytes) {
                prop_assert_eq!(encode(&value).unwrap(), bytes);
            }
        }
    }
}
