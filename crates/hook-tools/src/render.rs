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
/// assert_eq!(render(&json!({"a": "1"}), Format::Yaml), "a: '1'\n");
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

fn yaml(value: &Value) -> String {
    if value.is_null() {
        return String::new();
    }
    let mut s = serde_yaml_ng::to_string(value).unwrap_or_default();
    let trimmed = s.trim_end_matches('\n').len();
    s.truncate(trimmed);
    if !s.is_empty() {
        s.push('\n');
    }
    s
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
            "a: x\nb: '2'\n"
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
}
