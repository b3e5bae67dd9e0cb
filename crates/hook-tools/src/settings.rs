//! Reading settings: `key=value` arguments and YAML or JSON maps from a file or standard input,
//! as Juju's `relation-set`, `state-set` and `secret-add` read them; and base64.

use crate::error::UsageError;
use std::collections::BTreeMap;

/// Parses `key=value` arguments as Juju's `keyvalues.Parse` does: split at the first `=`, the
/// key must not be empty, an empty value is kept (it deletes, for `relation-set`), and a key
/// given twice is an error.
pub(crate) fn key_values(args: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    let mut out = BTreeMap::new();
    for kv in args {
        let Some((k, v)) = kv.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(UsageError::Invalid(format!("expected \"key=value\", got {kv:?}")));
        };
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(UsageError::Invalid(format!("key {k:?} specified more than once")));
        }
    }
    Ok(out)
}

/// Reads a settings map as Go's YAML decoder reads one into `map[string]string`: JSON is YAML;
/// every scalar value is kept as written (`port: 5432` gives `"5432"`), `null` gives an empty
/// string (which deletes, for `relation-set`), and a nested map or list is an error. Empty input
/// is an empty map.
pub(crate) fn read_settings(data: &[u8]) -> Result<BTreeMap<String, String>, UsageError> {
    let text = std::str::from_utf8(data)
        .map_err(|_| UsageError::Input("cannot parse settings: input is not valid UTF-8".into()))?;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    // JSON first: it is what ops sends, and serde_json reads it fastest and exactly.
    if let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(not_a_string(&k)),
            };
            out.insert(k, s);
        }
        return Ok(out);
    }
    let map: Option<BTreeMap<String, Option<Scalar>>> = serde_yaml_ng::from_str(text)
        .map_err(|e| UsageError::Input(format!("cannot parse settings: {}", yaml_message(&e))))?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.map(|s| s.0).unwrap_or_default()))
        .collect())
}

fn not_a_string(key: &str) -> UsageError {
    UsageError::Input(format!(
        "cannot parse settings: the value of key {key:?} is not a string"
    ))
}

fn yaml_message(e: &serde_yaml_ng::Error) -> String {
    // The library's message names Rust types; say what Juju's users expect.
    let m = e.to_string();
    if m.contains("invalid type: map") || m.contains("invalid type: sequence") {
        if m.contains("expected a YAML scalar") {
            return format!("a value must be a string, not a map or a list ({m})");
        }
        return format!("expected a map of strings ({m})");
    }
    m
}

/// A YAML scalar as written.
struct Scalar(String);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a YAML scalar")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        // `deserialize_str` hands plain scalars over as written (`0x10` stays `0x10`).
        d.deserialize_str(V)
    }
}

/// Go's `base64.StdEncoding`, which Juju decodes `#base64` values with: the standard alphabet,
/// padding required and canonical (`Zm8=`, never `Zm8` or `Zm8==`), no whitespace. Like Go, it
/// accepts non-zero bits in the last character (`Zm9=` decodes as `Zm8=` does).
const STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    STD.encode(data)
}

/// Decodes standard base64 as Go's `base64.StdEncoding` does: padding is required and must be
/// canonical; whitespace and other characters are refused.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    STD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn key_values_like_juju() {
        let kv = key_values(&s(&["a=1", "b=", "c=x=y"])).unwrap();
        assert_eq!(kv["a"], "1");
        assert_eq!(kv["b"], "");
        assert_eq!(kv["c"], "x=y");
        assert_eq!(
            key_values(&s(&["nope"])).unwrap_err().to_string(),
            "expected \"key=value\", got \"nope\""
        );
        assert!(key_values(&s(&["=v"])).is_err());
        assert_eq!(
            key_values(&s(&["a=1", "a=2"])).unwrap_err().to_string(),
            "key \"a\" specified more than once"
        );
    }

    #[test]
    fn settings_from_json_and_yaml() {
        let j = read_settings(br#"{"a": "x", "gone": null, "n": 5}"#).unwrap();
        assert_eq!(j["a"], "x");
        assert_eq!(j["gone"], "");
        assert_eq!(j["n"], "5");
        let y =
            read_settings(b"a: x\nport: 0x10\nf: 1.50\nyes: no\ngone: ~\nempty:\n'q': \"multi\\nline\"\n")
                .unwrap();
        assert_eq!(y["a"], "x");
        assert_eq!(y["port"], "0x10", "scalars stay as written");
        assert_eq!(y["f"], "1.50");
        assert_eq!(y["yes"], "no");
        assert_eq!(y["gone"], "");
        assert_eq!(y["empty"], "");
        assert_eq!(y["q"], "multi\nline");
        assert!(read_settings(b"").unwrap().is_empty());
        assert!(read_settings(b"\n").unwrap().is_empty());
        assert!(read_settings(b"~").unwrap().is_empty());
    }

    #[test]
    fn bad_settings() {
        for bad in [
            &b"- a\n- b\n"[..],
            b"a: {b: c}\n",
            b"a: [1]\n",
            b"{\"a\": ",
            b"a: b: c\n",
            b"\xff\xfe",
            b"just a string",
            b"{\"a\": {\"b\": \"c\"}}",
        ] {
            let e = read_settings(bad).unwrap_err();
            assert_eq!(e.exit_code(), 1, "{e}");
        }
    }

    #[test]
    fn base64_round_trip() {
        for data in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            &[0, 255, 128, 7],
        ] {
            let e = base64_encode(data);
            assert_eq!(base64_decode(&e).unwrap(), data, "{e}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("Zm9v!").is_none());
        assert!(base64_decode("Z").is_none());
        assert!(base64_decode("Zm8===").is_none());
    }

    #[test]
    fn base64_with_wrong_padding_is_refused() {
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        for wrong in [
            "Zm8",      // padding missing
            "Zg=",      // padding short
            "Zg",       // padding missing
            "Zm8==",    // one pad too many
            "Zm9v=",    // a pad after a full quantum
            "Zm9v====", // a quantum of padding
            "=Zm9v",    // padding first
            "Zm=8",     // padding inside
            "Zm8=Zm8=", // padding in the middle
            "Zm9v\n",   // whitespace
            " Zm9v",
        ] {
            assert!(base64_decode(wrong).is_none(), "{wrong:?} was accepted");
        }
    }
}
