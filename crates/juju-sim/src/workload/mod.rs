//! Simulated workloads that charms drive through `run_command`.

pub mod microcluster;
