//! Base64 as Juju reads it: `#base64` secret values and the wire protocol refuse wrong padding.

use hook_tools::{parse, UsageError, WireRequest};
use std::collections::BTreeMap;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn secret_values_with_wrong_padding_are_refused() {
    let ok = parse(
        "secret-add",
        &args(&["password#base64=aHVudGVyMg=="]),
        None,
        &BTreeMap::new(),
    );
    assert!(ok.is_ok(), "{ok:?}");
    for wrong in ["aHVudGVyMg", "aHVudGVyMg=", "aHVudGVyMg===", "aHVu=dGVyMg=="] {
        let arg = format!("password#base64={wrong}");
        match parse("secret-add", &args(&[&arg]), None, &BTreeMap::new()) {
            Err(e @ UsageError::Invalid(_)) => {
                assert!(e.to_string().contains("not valid base64"), "{e}");
                assert!(!e.to_string().contains(wrong), "the value is not echoed: {e}");
            }
            other => panic!("{wrong:?}: {other:?}"),
        }
    }
}

#[test]
fn wire_requests_with_wrong_padding_are_refused() {
    let good = r#"{"tool":"relation-set","args":["--file","-"],"stdin":"Zm8="}"#;
    let r: WireRequest = serde_json::from_str(good).unwrap();
    assert_eq!(r.stdin.as_deref(), Some(&b"fo"[..]));
    for stdin in ["Zm8", "Zm8==", "Zm9v="] {
        let text = format!(r#"{{"tool":"relation-set","args":["--file","-"],"stdin":"{stdin}"}}"#);
        assert!(
            serde_json::from_str::<WireRequest>(&text).is_err(),
            "{stdin:?} was accepted"
        );
    }
    let file = r#"{"tool":"secret-add","files":{"/tmp/x":"Zm8"}}"#;
    assert!(serde_json::from_str::<WireRequest>(file).is_err());
}
