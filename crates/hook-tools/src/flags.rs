//! A command-line parser with the rules of `gnuflag`, the parser Juju's tools use: `--name`,
//! `--name=value` and `--name value` for long flags; `-x`, `-x value`, `-xvalue` and combined
//! boolean letters (`-ab`) for one-letter flags; flags and positional arguments in any order;
//! `--` ends the flags; `-` alone is a positional argument; `-h` and `--help` ask for help.

use crate::error::UsageError;
use std::collections::BTreeMap;

/// Whether a flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--app`, `--app=false`.
    Bool,
    /// `--file path`, `--file=path`.
    Value,
}

/// One flag a tool defines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlagDef {
    /// Its names; the first is the one the parsed result is keyed by.
    pub names: &'static [&'static str],
    /// Bool or value.
    pub kind: Kind,
    /// The help line.
    pub help: &'static str,
}

/// A flag with one or more names.
pub(crate) const fn flag(names: &'static [&'static str], kind: Kind, help: &'static str) -> FlagDef {
    FlagDef { names, kind, help }
}

/// What a command line says.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Flag values by canonical name (the last given wins); booleans as `true`/`false`.
    values: BTreeMap<&'static str, String>,
    /// How each flag was typed, for messages.
    typed: BTreeMap<&'static str, String>,
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    /// `-h` or `--help` was given.
    pub help: bool,
}

impl Parsed {
    /// A value flag's value, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether a boolean flag is set (true).
    pub fn flag(&self, name: &str) -> bool {
        self.values.get(name).is_some_and(|v| v == "true")
    }

    /// How the flag was typed (`-r`, `--relation`), for messages.
    pub fn typed(&self, name: &'static str) -> String {
        self.typed
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("--{name}"))
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn find<'d>(defs: &'d [FlagDef], name: &str) -> Option<&'d FlagDef> {
    defs.iter().find(|d| d.names.contains(&name))
}

/// Parses `args` against `defs`.
pub(crate) fn parse(defs: &[FlagDef], args: &[String]) -> Result<Parsed, UsageError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        if arg == "-" || !arg.starts_with('-') {
            out.positional.push(arg.clone());
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let typed = format!("--{name}");
            let Some(def) = find(defs, name) else {
                if name == "help" {
                    out.help = true;
                    return Ok(out);
                }
                return Err(UsageError::UnknownFlag(typed));
            };
            let value = match (def.kind, inline) {
                (Kind::Bool, None) => "true".to_owned(),
                (Kind::Bool, Some(v)) => bool_value(&typed, &v)?,
                (Kind::Value, Some(v)) => v,
                (Kind::Value, None) => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| UsageError::MissingValue(typed.clone()))?;
                    i += 1;
                    v.clone()
                }
            };
            out.values.insert(def.names[0], value);
            out.typed.insert(def.names[0], typed);
            continue;
        }
        // One or more one-letter flags: `-a`, `-ab`, `-r 3`, `-r3`, `-r=3`.
        let letters = &arg[1..];
        let mut rest = letters;
        while let Some(c) = rest.chars().next() {
            let name = &rest[..c.len_utf8()];
            rest = &rest[c.len_utf8()..];
            let typed = format!("-{name}");
            let Some(def) = find(defs, name) else {
                if name == "h" {
                    out.help = true;
                    return Ok(out);
                }
                return Err(UsageError::UnknownFlag(typed));
            };
            match def.kind {
                Kind::Bool => {
                    let value = match rest.strip_prefix('=') {
                        Some(v) => {
                            let b = bool_value(&typed, v)?;
                            rest = "";
                            b
                        }
                        None => "true".to_owned(),
                    };
                    out.values.insert(def.names[0], value);
                    out.typed.insert(def.names[0], typed);
                }
                Kind::Value => {
                    let value = if !rest.is_empty() {
                        rest.strip_prefix('=').unwrap_or(rest).to_owned()
                    } else {
                        let v = args
                            .get(i)
                            .ok_or_else(|| UsageError::MissingValue(typed.clone()))?;
                        i += 1;
                        v.clone()
                    };
                    rest = "";
                    out.values.insert(def.names[0], value);
                    out.typed.insert(def.names[0], typed);
                }
            }
        }
    }
    Ok(out)
}

fn bool_value(typed: &str, v: &str) -> Result<String, UsageError> {
    match parse_go_bool(v) {
        Some(b) => Ok(b.to_string()),
        None => Err(UsageError::InvalidValue {
            option: typed.to_owned(),
            value: v.to_owned(),
            reason: format!("strconv.ParseBool: parsing {v:?}: invalid syntax"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFS: &[FlagDef] = &[
        flag(&["relation", "r"], Kind::Value, "relation"),
        flag(&["app"], Kind::Bool, "app"),
        flag(&["all", "a"], Kind::Bool, "all"),
        flag(&["format"], Kind::Value, "format"),
    ];

    fn p(args: &[&str]) -> Result<Parsed, UsageError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(DEFS, &args)
    }

    #[test]
    fn long_and_short_forms() {
        let r = p(&["--format=json", "-r", "db:3", "--app", "-", "app/1"]).unwrap();
        assert_eq!(r.value("format"), Some("json"));
        assert_eq!(r.value("relation"), Some("db:3"));
        assert!(r.flag("app"));
        assert_eq!(r.positional, ["-", "app/1"]);
        assert_eq!(r.typed("relation"), "-r");

        let r = p(&["ep", "--format", "yaml", "-r3", "-a"]).unwrap();
        assert_eq!(r.value("format"), Some("yaml"));
        assert_eq!(r.value("relation"), Some("3"));
        assert!(r.flag("all"));
        assert_eq!(r.positional, ["ep"]);

        let r = p(&["-r=4", "--relation", "5"]).unwrap();
        assert_eq!(r.value("relation"), Some("5"), "the last one wins");
        assert_eq!(r.typed("relation"), "--relation");
    }

    #[test]
    fn booleans_take_go_values_and_never_the_next_argument() {
        let r = p(&["--app=False", "x"]).unwrap();
        assert!(!r.flag("app"));
        assert_eq!(r.positional, ["x"]);
        assert!(p(&["--app=T"]).unwrap().flag("app"));
        let e = p(&["--app=yes"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .starts_with("invalid value \"yes\" for option --app"),
            "{e}"
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        let r = p(&["--app", "--", "--format", "-r"]).unwrap();
        assert_eq!(r.positional, ["--format", "-r"]);
        assert_eq!(r.value("format"), None);
    }

    #[test]
    fn errors_name_the_flag_as_typed() {
        assert_eq!(
            p(&["--bogus"]).unwrap_err().to_string(),
            "option provided but not defined: --bogus"
        );
        assert_eq!(
            p(&["-x"]).unwrap_err().to_string(),
            "option provided but not defined: -x"
        );
        assert_eq!(
            p(&["--format"]).unwrap_err().to_string(),
            "option needs an argument: --format"
        );
        assert_eq!(
            p(&["-r"]).unwrap_err().to_string(),
            "option needs an argument: -r"
        );
        assert_eq!(p(&["-ax"]).unwrap_err(), UsageError::UnknownFlag("-x".into()));
    }

    #[test]
    fn help() {
        assert!(p(&["--help"]).unwrap().help);
        assert!(p(&["k=v", "-h"]).unwrap().help);
        assert!(!p(&["--", "-h"]).unwrap().help);
    }
}
