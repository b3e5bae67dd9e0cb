//! The charm's metadata: endpoints, config options and actions.
//!
//! A source tree holds everything in `charmcraft.yaml`; a packed charm (what Juju unpacks on the
//! machine) holds `metadata.yaml`, `config.yaml` and `actions.yaml`. [`Metadata::load`] reads
//! either.

use crate::model::ConfigValue;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the metadata could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML or does not have the expected shape.
    #[error("{file}: {reason}")]
    Invalid {
        /// The file (or a description of the text) that is invalid.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Neither charmcraft.yaml (with a name) nor metadata.yaml is present.
    #[error("no charmcraft.yaml or metadata.yaml in {0}")]
    NotACharm(PathBuf),
}

/// Which side of a relation an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `provides`.
    Provides,
    /// `requires`.
    Requires,
    /// `peers`.
    Peers,
}

/// One relation endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// provides, requires or peers.
    pub role: Role,
    /// The interface name, such as `worker-cluster`.
    pub interface: String,
    /// The most relations this endpoint accepts, if limited.
    pub limit: Option<u32>,
    /// Whether the relation is optional.
    pub optional: bool,
}

/// The type of a config option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    /// A string.
    String,
    /// An integer.
    Int,
    /// A floating-point number.
    Float,
    /// A boolean.
    Boolean,
    /// A secret URI.
    Secret,
}

/// One config option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigOption {
    /// Its type.
    pub kind: ConfigType,
    /// Its default, if any.
    pub default: Option<ConfigValue>,
    /// Its description.
    pub description: String,
}

/// One action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    /// Its description.
    pub description: String,
    /// Its parameters' JSON schema (`params` in actions.yaml), as JSON.
    pub params: serde_json::Value,
}

/// A charm's metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// The charm's name.
    pub name: String,
    /// Every endpoint by name.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Every config option by name.
    pub config: BTreeMap<String, ConfigOption>,
    /// Every action by name.
    pub actions: BTreeMap<String, ActionSpec>,
}

/// Where a hook gets the charm's metadata: already parsed, or read from the charm directory the
/// first time something needs it (most hooks never do, and a hook is a fresh process).
pub trait MetadataSource {
    /// The metadata.
    fn metadata(&self) -> Result<&Metadata, &MetadataError>;
}

impl MetadataSource for Metadata {
    fn metadata(&self) -> Result<&Metadata, &MetadataError> {
        Ok(self)
    }
}

/// Metadata read from a charm directory on first use.
#[derive(Debug)]
pub struct LazyMetadata {
    dir: PathBuf,
    cell: std::cell::OnceCell<Result<Metadata, MetadataError>>,
}

impl LazyMetadata {
    /// Metadata to be read from `dir` when first needed.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            cell: std::cell::OnceCell::new(),
        }
    }
}

impl MetadataSource for LazyMetadata {
    fn metadata(&self) -> Result<&Metadata, &MetadataError> {
        self.cell.get_or_init(|| Metadata::load(&self.dir)).as_ref()
    }
}

fn invalid(file: &str, reason: impl Into<String>) -> MetadataError {
    MetadataError::Invalid {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

fn parse_yaml(file: &str, text: &str) -> Result<Yaml, MetadataError> {
    let v: Yaml = serde_yaml_ng::from_str(text).map_err(|e| invalid(file, e.to_string()))?;
    match v {
        Yaml::Null => Ok(Yaml::Mapping(Default::default())),
        Yaml::Mapping(_) => Ok(v),
        _ => Err(invalid(file, "the top level must be a mapping")),
    }
}

fn str_of(v: Option<&Yaml>) -> String {
    v.and_then(Yaml::as_str).unwrap_or_default().to_owned()
}

impl Metadata {
    /// Reads the metadata from a charm directory: `charmcraft.yaml` if it names the charm,
    /// otherwise the packed form (`metadata.yaml`, optional `config.yaml` and `actions.yaml`).
    pub fn load(dir: &Path) -> Result<Self, MetadataError> {
        let read = |name: &str| -> Result<Option<String>, MetadataError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(MetadataError::Io { path, source }),
            }
        };
        if let Some(meta) = read("metadata.yaml")? {
            return Self::from_packed(
                &meta,
                read("config.yaml")?.as_deref(),
                read("actions.yaml")?.as_deref(),
            );
        }
        if let Some(cc) = read("charmcraft.yaml")? {
            return Self::from_charmcraft_yaml(&cc);
        }
        Err(MetadataError::NotACharm(dir.to_owned()))
    }

    /// Reads a `charmcraft.yaml` that holds the metadata, config and actions together.
    ///
    /// ```
    /// let meta = charm::Metadata::from_charmcraft_yaml(r#"
    /// name: demo
    /// peers: {cluster: {interface: demo-peers}}
    /// requires: {db: {interface: pgsql, limit: 1}}
    /// config: {options: {port: {type: int, default: 8080}}}
    /// actions: {restart: {description: Restart the service}}
    /// "#).unwrap();
    /// assert!(meta.is_peer("cluster"));
    /// assert_eq!(meta.endpoints["db"].limit, Some(1));
    /// assert_eq!(meta.config["port"].default, Some(charm::ConfigValue::Int(8080)));
    /// ```
    pub fn from_charmcraft_yaml(text: &str) -> Result<Self, MetadataError> {
        let doc = parse_yaml("charmcraft.yaml", text)?;
        let mut meta = Self::relations_from("charmcraft.yaml", &doc)?;
        if let Some(opts) = doc.get("config").and_then(|c| c.get("options")) {
            meta.config = parse_options("charmcraft.yaml", opts)?;
        }
        if let Some(actions) = doc.get("actions") {
            meta.actions = parse_actions("charmcraft.yaml", actions)?;
        }
        Ok(meta)
    }

    /// Reads the packed form: `metadata.yaml` plus the optional `config.yaml` and `actions.yaml`.
    pub fn from_packed(
        metadata: &str,
        config: Option<&str>,
        actions: Option<&str>,
    ) -> Result<Self, MetadataError> {
        let doc = parse_yaml("metadata.yaml", metadata)?;
        let mut meta = Self::relations_from("metadata.yaml", &doc)?;
        if let Some(config) = config {
            let c = parse_yaml("config.yaml", config)?;
            if let Some(opts) = c.get("options") {
                meta.config = parse_options("config.yaml", opts)?;
            }
        }
        if let Some(actions) = actions {
            meta.actions = parse_actions("actions.yaml", &parse_yaml("actions.yaml", actions)?)?;
        }
        Ok(meta)
    }

    fn relations_from(file: &str, doc: &Yaml) -> Result<Self, MetadataError> {
        let name = str_of(doc.get("name"));
        if name.is_empty() {
            return Err(invalid(file, "missing `name`"));
        }
        let mut endpoints = BTreeMap::new();
        for (key, role) in [
            ("provides", Role::Provides),
            ("requires", Role::Requires),
            ("peers", Role::Peers),
        ] {
            let Some(section) = doc.get(key) else { continue };
            let map = section
                .as_mapping()
                .ok_or_else(|| invalid(file, format!("`{key}` must be a mapping")))?;
            for (ep, spec) in map {
                let ep = ep
                    .as_str()
                    .ok_or_else(|| invalid(file, format!("`{key}` has a non-string endpoint name")))?;
                let interface = str_of(spec.get("interface"));
                if interface.is_empty() {
                    return Err(invalid(file, format!("endpoint {ep:?} has no interface")));
                }
                let limit = match spec.get("limit") {
                    None | Some(Yaml::Null) => None,
                    Some(v) => Some(
                        v.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| invalid(file, format!("endpoint {ep:?} has a bad limit")))?,
                    ),
                };
                let optional = spec.get("optional").and_then(Yaml::as_bool).unwrap_or(false);
                if endpoints
                    .insert(
                        ep.to_owned(),
                        Endpoint {
                            role,
                            interface,
                            limit,
                            optional,
                        },
                    )
                    .is_some()
                {
                    return Err(invalid(file, format!("endpoint {ep:?} is declared twice")));
                }
            }
        }
        Ok(Self {
            name,
            endpoints,
            ..Default::default()
        })
    }

    /// Whether `endpoint` is a peer endpoint.
    pub fn is_peer(&self, endpoint: &str) -> bool {
        self.endpoints
            .get(endpoint)
            .is_some_and(|e| e.role == Role::Peers)
    }

    /// The first peer endpoint, if the charm has one.
    pub fn peer_endpoint(&self) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|(_, e)| e.role == Role::Peers)
            .map(|(n, _)| n.as_str())
    }

    /// The config options' defaults, as `config-get` reports them before any change.
    pub fn config_defaults(&self) -> BTreeMap<String, ConfigValue> {
        self.config
            .iter()
            .filter_map(|(k, o)| o.default.clone().map(|d| (k.clone(), d)))
            .collect()
    }
}

fn parse_options(file: &str, opts: &Yaml) -> Result<BTreeMap<String, ConfigOption>, MetadataError> {
    let map = opts
        .as_mapping()
        .ok_or_else(|| invalid(file, "config options must be a mapping"))?;
    let mut out = BTreeMap::new();
    for (k, spec) in map {
        let name = k
            .as_str()
            .ok_or_else(|| invalid(file, "a config option has a non-string name"))?;
        let kind = match spec.get("type").and_then(Yaml::as_str).unwrap_or("string") {
            "string" => ConfigType::String,
            "int" => ConfigType::Int,
            "float" => ConfigType::Float,
            "boolean" => ConfigType::Boolean,
            "secret" => ConfigType::Secret,
            other => {
                return Err(invalid(
                    file,
                    format!("option {name:?} has unknown type {other:?}"),
                ))
            }
        };
        let default =
            match spec.get("default") {
                None | Some(Yaml::Null) => None,
                Some(v) => Some(ConfigValue::from_yaml(kind, v).ok_or_else(|| {
                    invalid(file, format!("option {name:?}: default does not match its type"))
                })?),
            };
        out.insert(
            name.to_owned(),
            ConfigOption {
                kind,
                default,
                description: str_of(spec.get("description")),
            },
        );
    }
    Ok(out)
}

fn parse_actions(file: &str, actions: &Yaml) -> Result<BTreeMap<String, ActionSpec>, MetadataError> {
    let Some(map) = actions.as_mapping() else {
        return if actions.is_null() {
            Ok(BTreeMap::new())
        } else {
            Err(invalid(file, "actions must be a mapping"))
        };
    };
    let mut out = BTreeMap::new();
    for (k, spec) in map {
        let name = k
            .as_str()
            .ok_or_else(|| invalid(file, "an action has a non-string name"))?;
        let params = match spec.get("params") {
            None => serde_json::Value::Object(Default::default()),
            Some(p) => serde_json::to_value(p).map_err(|e| invalid(file, format!("action {name:?}: {e}")))?,
        };
        out.insert(
            name.to_owned(),
            ActionSpec {
                description: str_of(spec.get("description")),
                params,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_form() {
        let meta = Metadata::from_packed(
            "name: td\nprovides:\n  microcluster-cluster:\n    interface: worker-cluster\npeers:\n  cluster:\n    interface: worker-cluster\n",
            Some("options:\n  log-level:\n    default: info\n    type: string\n  ratio: {type: float, default: 1}\n  on: {type: boolean, default: true}\n"),
            Some("restart:\n  description: go\n  params:\n    delay: {type: integer}\n"),
        )
        .unwrap();
        assert_eq!(meta.name, "td");
        assert_eq!(meta.endpoints["microcluster-cluster"].role, Role::Provides);
        assert_eq!(meta.endpoints["microcluster-cluster"].limit, None);
        assert!(meta.is_peer("cluster"));
        assert_eq!(meta.peer_endpoint(), Some("cluster"));
        assert_eq!(
            meta.config["log-level"].default,
            Some(ConfigValue::String("info".into()))
        );
        assert_eq!(meta.config["ratio"].default, Some(ConfigValue::Float(1.0)));
        assert_eq!(meta.config["on"].default, Some(ConfigValue::Bool(true)));
        assert_eq!(meta.actions["restart"].params["delay"]["type"], "integer");
    }

    #[test]
    fn loads_from_directory_either_form() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Metadata::load(dir.path()),
            Err(MetadataError::NotACharm(_))
        ));
        std::fs::write(
            dir.path().join("charmcraft.yaml"),
            "name: a\nrequires: {x: {interface: y}}\n",
        )
        .unwrap();
        assert_eq!(
            Metadata::load(dir.path()).unwrap().endpoints["x"].role,
            Role::Requires
        );
        std::fs::write(dir.path().join("metadata.yaml"), "name: b\n").unwrap();
        assert_eq!(Metadata::load(dir.path()).unwrap().name, "b");
    }

    #[test]
    fn bad_metadata_is_an_error() {
        for bad in [
            "- a list",
            "summary: no name",
            "name: x\nprovides: 3",
            "name: x\nprovides: {a: {}}",
            "name: x\nprovides: {a: {interface: i, limit: -1}}",
            "name: x\nprovides: {a: {interface: i}}\nrequires: {a: {interface: i}}",
            "name: x\nconfig: {options: {a: {type: int, default: nope}}}",
            "name: x\nconfig: {options: {a: {type: weird}}}",
            "name: [unclosed",
        ] {
            assert!(
                Metadata::from_charmcraft_yaml(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
