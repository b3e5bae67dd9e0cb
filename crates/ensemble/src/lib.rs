//! The scenarios behind the `ensemble` command: each coordination library's simulated runs and
//! the invariants they must hold, registered for `ensemble check` and used by the tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod charm_dirs;
pub mod formation;
pub mod hook_bench;
pub mod pack;
pub mod rolling;

use juju_sim::scenarios::{self, Scenario};

/// Every registered scenario: the simulator's own, then each library's.
pub fn registry() -> Vec<Scenario> {
    let mut all = scenarios::builtin();
    all.push(Scenario {
        name: "token-distribution",
        about: "20-50 microcluster units (sometimes two applications) and 1-3 distributor units \
                form one cluster under random faults (agent deaths, failed hooks, leader loss, \
                failing or garbage workload commands, scale-up)",
        run: formation::chaos_run,
    });
    all.push(Scenario {
        name: "token-distribution-500",
        about: "500 microcluster units deployed at once form one cluster; the distributor's bag \
                stays under 200 bytes per unit",
        run: formation::large_run,
    });
    all.push(Scenario {
        name: "token-distribution-1000",
        about: "1,000 microcluster units deployed at once form one cluster; the distributor's bag \
                stays under 200 bytes per unit",
        run: formation::thousand_run,
    });
    all.push(Scenario {
        name: "rollingops",
        about: "5-20 units of a rolling-restart charm (10 s restarts) under random faults (agent \
                deaths mid-restart, failed hooks, leader loss, removal of the holder, scaling, \
                clock skew, failing and hanging restarts): never two restarts at once, every \
                request served or dropped after max_retry, requests in the order the leader saw \
                them",
        run: rolling::chaos_run,
    });
    all
}
