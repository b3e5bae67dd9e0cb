//! juju-sim: a deterministic multi-unit Juju simulator (work in progress on branch `sim`).
#![forbid(unsafe_code)]

pub mod workload;
