//! The simulated microcluster workload (being written).
