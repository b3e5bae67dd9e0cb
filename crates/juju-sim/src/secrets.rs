//! Secrets in the simulated model: owned by an application or a unit, granted over relations,
//! revised, tracked by consumers. Changes are buffered in the hook's transaction as
//! [`SecretOp`]s and applied at commit.

use crate::model::{AppId, UnitId};
use charm::{RelationId, RevokeTarget, SecretContent, SecretOptions, UnitName};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub id: String,
    pub owner_app: AppId,
    pub owner_unit: Option<UnitId>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub expire: Option<String>,
    pub rotate: Option<String>,
    /// Revision `n` is at index `n - 1`; a removed revision is `None`.
    pub revisions: Vec<Option<SecretContent>>,
    pub grants: Vec<(RelationId, Option<UnitName>)>,
    /// Consumers: tracked revision and their label.
    pub consumers: BTreeMap<UnitId, (u64, Option<String>)>,
    pub removed: bool,
}

impl Secret {
    pub fn latest(&self) -> u64 {
        self.revisions.len() as u64
    }
}

#[derive(Debug, Clone)]
pub(crate) enum SecretOp {
    Add {
        id: String,
        owner_app: AppId,
        owner_unit: Option<UnitId>,
        content: SecretContent,
        options: SecretOptions,
    },
    Set {
        id: String,
        content: Option<SecretContent>,
        options: SecretOptions,
    },
    Grant {
        id: String,
        relation: RelationId,
        unit: Option<UnitName>,
    },
    Revoke {
        id: String,
        relation: RelationId,
        target: RevokeTarget,
    },
    Remove {
        id: String,
        revision: Option<u64>,
    },
    Track {
        id: String,
        unit: UnitId,
        revision: u64,
        label: Option<String>,
    },
}

impl SecretOp {
    pub fn id(&self) -> &str {
        match self {
            SecretOp::Add { id, .. }
            | SecretOp::Set { id, .. }
            | SecretOp::Grant { id, .. }
            | SecretOp::Revoke { id, .. }
            | SecretOp::Remove { id, .. }
            | SecretOp::Track { id, .. } => id,
        }
    }
}

/// Applies one operation to the store. Returns the id of a secret that got a new revision.
pub(crate) fn apply(store: &mut BTreeMap<String, Secret>, op: &SecretOp) -> Option<String> {
    match op {
        SecretOp::Add {
            id,
            owner_app,
            owner_unit,
            content,
            options,
        } => {
            store.insert(
                id.clone(),
                Secret {
                    id: id.clone(),
                    owner_app: *owner_app,
                    owner_unit: *owner_unit,
                    label: options.label.clone(),
                    description: options.description.clone(),
                    expire: options.expire.clone(),
                    rotate: options.rotate.clone(),
                    revisions: vec![Some(content.clone())],
                    grants: Vec::new(),
                    consumers: BTreeMap::new(),
                    removed: false,
                },
            );
            None
        }
        SecretOp::Set { id, content, options } => {
            let s = store.get_mut(id)?;
            if options.label.is_some() {
                s.label = options.label.clone();
            }
            if options.description.is_some() {
                s.description = options.description.clone();
            }
            if options.expire.is_some() {
                s.expire = options.expire.clone();
            }
            if options.rotate.is_some() {
                s.rotate = options.rotate.clone();
            }
            let c = content.as_ref()?;
            s.revisions.push(Some(c.clone()));
            Some(id.clone())
        }
        SecretOp::Grant { id, relation, unit } => {
            let s = store.get_mut(id)?;
            let g = (*relation, unit.clone());
            if !s.grants.contains(&g) {
                s.grants.push(g);
            }
            None
        }
        SecretOp::Revoke { id, relation, target } => {
            let s = store.get_mut(id)?;
            s.grants.retain(|(r, u)| {
                *r != *relation
                    || match target {
                        RevokeTarget::Relation | RevokeTarget::App(_) => false,
                        RevokeTarget::Unit(t) => u.as_ref() != Some(t),
                    }
            });
            None
        }
        SecretOp::Remove { id, revision } => {
            let s = store.get_mut(id)?;
            match revision {
                None => s.removed = true,
                Some(r) => {
                    if let Some(slot) = r.checked_sub(1).and_then(|i| s.revisions.get_mut(i as usize)) {
                        *slot = None;
                    }
                }
            }
            None
        }
        SecretOp::Track {
            id,
            unit,
            revision,
            label,
        } => {
            let s = store.get_mut(id)?;
            let e = s.consumers.entry(*unit).or_insert((0, None));
            e.0 = *revision;
            if label.is_some() {
                e.1 = label.clone();
            }
            None
        }
    }
}
