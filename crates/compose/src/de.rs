//! A serde `Deserializer` over [`Node`]: plain scalars are typed on demand (a plain `"8080"`
//! reads as a string or a number, `"true"` as a bool), the way Compose casts values after
//! interpolation. Keys starting with `x-` are skipped when reading structs.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use crate::yaml::{Entry, Kind, Node};

/// A deserialization error message; the loader adds the path and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError(pub String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// Deserializes from a borrowed node.
pub struct NodeDe<'de>(pub &'de Node);

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = digits.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        // YAML 1.1 octal (`mode: 0440`), as Compose's YAML parser reads it.
        i128::from_str_radix(&digits[1..], 8).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && s.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        s.parse().ok()
    } else {
        None
    }
}

impl<'de> NodeDe<'de> {
    fn scalar(&self) -> Option<&'de str> {
        match &self.0.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    fn invalid<V>(&self, expected: &str) -> Result<V, DeError> {
        let got = match &self.0.kind {
            Kind::Scalar { value, .. } => format!("{value:?}"),
            _ => self.0.kind_name().to_string(),
        };
        Err(DeError(format!("expected {expected}, got {got}")))
    }

    fn int(&self, expected: &str) -> Result<i128, DeError> {
        match self.scalar().and_then(parse_int) {
            Some(v) => Ok(v),
            None => self.invalid(expected),
        }
    }
}

macro_rules! de_int {
    ($method:ident, $visit:ident, $ty:ty, $name:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let v = self.int($name)?;
            match <$ty>::try_from(v) {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(DeError(format!("{v} is out of range for {}", $name))),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Scalar {
                value,
                quoted: true,
            } => visitor.visit_borrowed_str(value),
            Kind::Scalar {
                value,
                quoted: false,
            } => {
                if let Some(b) = parse_bool(value).filter(|_| value.len() > 1) {
                    visitor.visit_bool(b)
                } else if let Some(i) = parse_int(value) {
                    match i64::try_from(i) {
                        Ok(i) => visitor.visit_i64(i),
                        Err(_) => visitor.visit_borrowed_str(value),
                    }
                } else if let Some(f) = parse_float(value) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_borrowed_str(value)
                }
            }
            Kind::Seq(items) => visitor.visit_seq(Seq { iter: items.iter() }),
            Kind::Map(entries) => visitor.visit_map(Map {
                iter: entries.iter(),
                value: None,
                skip_x: false,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar().and_then(parse_bool) {
            Some(b) => visitor.visit_bool(b),
            None => self.invalid("a boolean"),
        }
    }

    de_int!(deserialize_i8, visit_i8, i8, "an 8-bit integer");
    de_int!(deserialize_i16, visit_i16, i16, "a 16-bit integer");
    de_int!(deserialize_i32, visit_i32, i32, "a 32-bit integer");
    de_int!(deserialize_i64, visit_i64, i64, "an integer");
    de_int!(deserialize_u8, visit_u8, u8, "an 8-bit unsigned integer");
    de_int!(deserialize_u16, visit_u16, u16, "a 16-bit unsigned integer");
    de_int!(deserialize_u32, visit_u32, u32, "a 32-bit unsigned integer");
    de_int!(deserialize_u64, visit_u64, u64, "an unsigned integer");

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar().and_then(|s| s.trim().parse::<f64>().ok()) {
            Some(f) => visitor.visit_f64(f),
            None => self.invalid("a number"),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some(s) => visitor.visit_borrowed_str(s),
            None => self.invalid("a string"),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.kind {
            Kind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.kind {
            Kind::Null => visitor.visit_unit(),
            _ => self.invalid("null"),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            Kind::Seq(items) => visitor.visit_seq(Seq { iter: items.iter() }),
            Kind::Null => visitor.visit_seq(Seq { iter: [].iter() }),
            _ => self.invalid("a sequence"),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.kind {
            Kind::Map(entries) => visitor.visit_map(Map {
                iter: entries.iter(),
                value: None,
                skip_x: false,
            }),
            Kind::Null => visitor.visit_map(Map {
                iter: [].iter(),
                value: None,
                skip_x: false,
            }),
            _ => self.invalid("a mapping"),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.0.kind {
            Kind::Map(entries) => visitor.visit_map(Map {
                iter: entries.iter(),
                value: None,
                skip_x: true,
            }),
            Kind::Null => visitor.visit_map(Map {
                iter: [].iter(),
                value: None,
                skip_x: true,
            }),
            _ => self.invalid("a mapping"),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.scalar() {
            Some(s) => visitor.visit_enum(s.into_deserializer()),
            None => self.invalid("a string"),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'de> {
    iter: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            Some(n) => seed.deserialize(NodeDe(n)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Map<'de> {
    iter: std::slice::Iter<'de, Entry>,
    value: Option<&'de Node>,
    skip_x: bool,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for e in self.iter.by_ref() {
            if self.skip_x && e.key.starts_with("x-") {
                continue;
            }
            self.value = Some(&e.value);
            let key: de::value::BorrowedStrDeserializer<'de, DeError> =
                de::value::BorrowedStrDeserializer::new(&e.key);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(n) => seed.deserialize(NodeDe(n)),
            None => Err(DeError("value requested before key".into())),
        }
    }
}
