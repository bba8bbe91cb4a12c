//! JSON request documents. serde's derived structs also accept a JSON array,
//! filling fields by position, so `[]` would pass as an empty config and
//! `["user","pass"]` as credentials; Docker's documents are objects, and
//! anything else is refused.

use serde::de::DeserializeOwned;

/// Parses `bytes` as a JSON object into `T`; the error says what was wrong.
pub(crate) fn object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Some(_) => Err("expected a JSON object".into()),
        None => Err("expected a JSON object, got nothing".into()),
    }
}

/// [`object`] for an already parsed value.
pub(crate) fn object_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    if !value.is_object() {
        return Err(format!("expected a JSON object, got {value}"));
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        a: String,
    }

    #[test]
    fn only_objects_are_documents() {
        assert_eq!(object::<Doc>(b" {\"a\":\"x\"}").unwrap().a, "x");
        for bad in [&b"[]"[..], b"[\"x\"]", b"5", b"\"a\"", b"", b"  "] {
            let err = object::<Doc>(bad).unwrap_err();
            assert!(err.contains("expected a JSON object"), "{err}");
        }
        assert!(object::<Doc>(b"{\"a\":5}")
            .unwrap_err()
            .contains("invalid type"));
        assert!(object_value::<Doc>(serde_json::json!(["x"])).is_err());
        assert_eq!(
            object_value::<Doc>(serde_json::json!({"a": "y"}))
                .unwrap()
                .a,
            "y"
        );
    }
}
