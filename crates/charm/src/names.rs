//! Validated names: units, applications and relation ids.
//!
//! Every name that arrives from outside (environment variables, hook-tool output, relation data)
//! is parsed into one of these types, so the rest of the crate never handles a malformed name.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A malformed unit name, application name or relation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A unit name must be `<application>/<number>`.
    #[error("invalid unit name {0:?}: expected <application>/<number>")]
    Unit(String),
    /// An application name must start with a letter and hold lowercase letters, digits and dashes.
    #[error("invalid application name {0:?}")]
    App(String),
    /// A relation id is a number, optionally prefixed by `<endpoint>:`.
    #[error("invalid relation id {0:?}: expected <number> or <endpoint>:<number>")]
    Relation(String),
}

fn valid_app(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// An application name, such as `microovn`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppName(String);

impl AppName {
    /// Parses and validates an application name.
    ///
    /// ```
    /// use charm::AppName;
    /// assert!(AppName::parse("microovn").is_ok());
    /// assert!(AppName::parse("Bad_Name").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if valid_app(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::App(s.to_owned()))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unit of this application with the given number.
    pub fn unit(&self, number: u32) -> UnitName {
        UnitName {
            name: format!("{}/{}", self.0, number),
            slash: self.0.len(),
        }
    }
}

impl TryFrom<String> for AppName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<AppName> for String {
    fn from(a: AppName) -> String {
        a.0
    }
}

impl FromStr for AppName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A unit name, such as `microovn/3`.
///
/// Units order as Juju sorts them: by their name as a string (so `app/10` comes before `app/2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName {
    name: String,
    slash: usize,
}

impl UnitName {
    /// Parses and validates a unit name.
    ///
    /// ```
    /// use charm::UnitName;
    /// let u = UnitName::parse("microovn/3").unwrap();
    /// assert_eq!(u.app().as_str(), "microovn");
    /// assert_eq!(u.number(), 3);
    /// assert!(UnitName::parse("microovn").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let err = || NameError::Unit(s.to_owned());
        let (app, num) = s.split_once('/').ok_or_else(err)?;
        if !valid_app(app) || num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        num.parse::<u32>().map_err(|_| err())?;
        Ok(Self {
            name: s.to_owned(),
            slash: app.len(),
        })
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The application this unit belongs to.
    pub fn app(&self) -> AppName {
        AppName(self.name[..self.slash].to_owned())
    }

    /// The application part of the name, without allocating.
    pub fn app_str(&self) -> &str {
        &self.name[..self.slash]
    }

    /// The unit's number within its application.
    pub fn number(&self) -> u32 {
        // Validated at construction.
        self.name[self.slash + 1..].parse().unwrap_or(0)
    }
}

impl TryFrom<String> for UnitName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<UnitName> for String {
    fn from(u: UnitName) -> String {
        u.name
    }
}

impl FromStr for UnitName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::parse(s)
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A relation id, as Juju numbers relations in a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RelationId(pub u32);

impl RelationId {
    /// Parses `3` or `db:3` (the forms of `JUJU_RELATION_ID` and `relation-ids`).
    ///
    /// ```
    /// use charm::RelationId;
    /// assert_eq!(RelationId::parse("db:3").unwrap(), RelationId(3));
    /// assert_eq!(RelationId::parse("7").unwrap(), RelationId(7));
    /// assert!(RelationId::parse("db:x").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let num = s.rsplit(':').next().unwrap_or(s);
        num.parse::<u32>()
            .map(RelationId)
            .map_err(|_| NameError::Relation(s.to_owned()))
    }
}

impl fmt::Display for RelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        for bad in [
            "",
            "a",
            "a/",
            "/1",
            "A/1",
            "a/1x",
            "a-/1",
            "a/-1",
            "1a/1",
            "a/99999999999",
        ] {
            assert!(UnitName::parse(bad).is_err(), "{bad} should be rejected");
        }
        let u = UnitName::parse("micro-ovn2/12").unwrap();
        assert_eq!(u.app_str(), "micro-ovn2");
        assert_eq!(u.number(), 12);
        assert_eq!(u.app().unit(12), u);
    }

    #[test]
    fn serde_validates() {
        let u: Result<UnitName, _> = serde_json::from_str("\"nope\"");
        assert!(u.is_err());
        let u: UnitName = serde_json::from_str("\"app/1\"").unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"app/1\"");
    }

    #[test]
    fn ordering_is_juju_string_order() {
        let mut v: Vec<UnitName> = ["a/2", "a/10", "a/1"]
            .iter()
            .map(|s| UnitName::parse(s).unwrap())
            .collect();
        v.sort();
        let s: Vec<&str> = v.iter().map(|u| u.as_str()).collect();
        assert_eq!(s, ["a/1", "a/10", "a/2"]);
    }
}
