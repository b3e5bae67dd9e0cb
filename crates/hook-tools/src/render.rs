//! Printing a tool's result as Juju's formatters do (`juju/cmd`'s `FormatSmart`, `FormatJson`,
//! `FormatYaml`), so Python `ops` and charmhelpers parse it as they parse Juju's.

use crate::request::Format;
use serde_json::Value;

/// Renders `value` in `format`, with the trailing newline Juju prints:
///
/// - **json**: one line of JSON (keys sorted), then a newline; `null` prints `null`.
/// - **yaml**: YAML ending in exactly one newline; `null` prints nothing.
/// - **smart**: nothing for `null` or an empty string; a string as is; a list of strings one per
///   line; a boolean as `True` or `False`; a number as written; anything else as YAML.
///
/// ```
/// use hook_tools::{render, Format};
/// use serde_json::json;
/// assert_eq!(render(&json!(["db:3", "db:4"]), Format::Json), "[\"db:3\",\"db:4\"]\n");
/// assert_eq!(render(&json!(["db:3", "db:4"]), Format::Smart), "db:3\ndb:4\n");
/// assert_eq!(render(&json!(true), Format::Smart), "True\n");
/// assert_eq!(render(&json!({"a": "1"}), Format::Yaml), "a: \"1\"\n");
/// assert_eq!(render(&json!(null), Format::Smart), "");
/// ```
pub fn render(value: &Value, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
            s.push('\n');
            s
        }
        Format::Yaml => yaml(value),
        Format::Smart => match value {
            Value::Null => String::new(),
            Value::String(s) if s.is_empty() => String::new(),
            Value::String(s) => format!("{s}\n"),
            Value::Bool(true) => "True\n".into(),
            Value::Bool(false) => "False\n".into(),
            Value::Number(n) => format!("{n}\n"),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                let lines: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                format!("{}\n", lines.join("\n"))
            }
            other => yaml(other),
        },
    }
}

/// YAML as Go's `yaml.v2` writes it: block style, keys sorted, lists not indented under their
/// key. A string is written plain only when every YAML reader (1.1 ones too, like PyYAML and
/// Go's) reads it back as that same string; otherwise it is double-quoted (JSON's escapes are
/// YAML's), so `"yes"`, `"1.0"` or `"null"` never come back as a boolean, a number or nothing.
fn yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Null => return out,
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_list(a, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn yaml_map(m: &serde_json::Map<String, Value>, level: usize, out: &mut String) {
    for (k, v) in m {
        indent(level, out);
        out.push_str(&yaml_string(k));
        out.push(':');
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_map(inner, level + 2, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                yaml_list(items, level, out);
            }
            scalar => {
                out.push(' ');
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_list(items: &[Value], level: usize, out: &mut String) {
    for v in items {
        indent(level, out);
        out.push_str("- ");
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                // The first key on the dash's line, the rest under it.
                let mut nested = String::new();
                yaml_map(inner, level + 2, &mut nested);
                out.push_str(&nested[level + 2..]);
            }
            Value::Array(inner) if !inner.is_empty() => {
                let mut nested = String::new();
                yaml_list(inner, level + 2, &mut nested);
                out.push_str(&nested[level + 2..]);
            }
            scalar => {
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn yaml_string(s: &str) -> String {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _./-+@=(),;:".contains(c))
        && !s.contains(" -")
        && !s.contains(": ")
        && !s.ends_with(':')
        && !WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn smart() {
        assert_eq!(render(&json!(""), Format::Smart), "");
        assert_eq!(render(&json!("x y"), Format::Smart), "x y\n");
        assert_eq!(render(&json!(false), Format::Smart), "False\n");
        assert_eq!(render(&json!(3), Format::Smart), "3\n");
        assert_eq!(render(&json!(1.5), Format::Smart), "1.5\n");
        assert_eq!(render(&json!([]), Format::Smart), "\n");
        assert_eq!(
            render(&json!({"b": "2", "a": "x"}), Format::Smart),
            "a: x\nb: \"2\"\n"
        );
        assert_eq!(render(&json!({}), Format::Smart), "{}\n");
    }

    #[test]
    fn json_and_yaml_parse_back() {
        let v = json!({"k": "v\n\"q\"", "n": 1, "f": 1.5, "b": true, "l": ["x"], "m": {"z": null}});
        let j = render(&v, Format::Json);
        assert!(j.ends_with('\n') && !j[..j.len() - 1].contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&j).unwrap(), v);
        let y = render(&v, Format::Yaml);
        assert_eq!(serde_yaml_ng::from_str::<Value>(&y).unwrap(), v);
        assert_eq!(render(&Value::Null, Format::Json), "null\n");
        assert_eq!(render(&Value::Null, Format::Yaml), "");
    }

    #[test]
    fn yaml_layout_like_go() {
        let v = json!({"b": {"x": ["1", "two"], "e": {}, "l": []}, "a": [{"k": "v", "j": 1}, ["m"]], "c": "plain text"});
        assert_eq!(
            render(&v, Format::Yaml),
            "a:\n- j: 1\n  k: v\n- - m\nb:\n  e: {}\n  l: []\n  x:\n  - \"1\"\n  - two\nc: plain text\n"
        );
        assert_eq!(
            serde_yaml_ng::from_str::<Value>(&render(&v, Format::Yaml)).unwrap(),
            v
        );
    }

    #[test]
    fn yaml_quotes_what_yaml_1_1_would_misread() {
        for s in [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "true",
            "null",
            "~",
            "1.0",
            "0x10",
            "1_000",
            "1:20",
            ".inf",
            "",
            " lead",
            "trail ",
            "a: b",
            "a:",
            "a #c",
            "- x",
            "multi\nline",
            "tab\there",
            "quote\"s",
            "x  y",
            "-1",
            "@x",
            "10.0.0.1",
            "2001-12-14",
            "caf\u{e9}",
        ] {
            let out = render(&json!({ "k": s }), Format::Yaml);
            assert!(out.starts_with("k: \""), "{s:?} -> {out}");
            assert_eq!(
                serde_yaml_ng::from_str::<Value>(&out).unwrap(),
                json!({ "k": s }),
                "{s:?}"
            );
        }
        for s in [
            "abc",
            "postgres",
            "secret:cq0a1b2",
            "http://x:80/y",
            "a b",
            "Hello",
            "/var/lib/x",
            "a=b",
        ] {
            assert_eq!(render(&json!(s), Format::Yaml), format!("{s}\n"), "{s:?}");
        }
    }
}
