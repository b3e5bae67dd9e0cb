//! Simulated workloads that charms drive through `run_command`.
//!
//! An application serves workload commands through [`Workload`]s registered for a command
//! prefix (`microovn cluster`, `systemctl`) with [`crate::Sim::serve_commands`]. One workload
//! instance serves every unit of the application, so it can model a cluster that spans them. A
//! command that no workload serves fails with a `BackendError::Workload`.

pub mod microcluster;

use charm::{CommandOutput, UnitName, WorkloadCommand};
use std::time::Duration;

/// Who runs a command, and when.
#[derive(Debug, Clone)]
pub struct CommandContext<'a> {
    /// The unit running it.
    pub unit: &'a UnitName,
    /// Its machine's hostname.
    pub hostname: &'a str,
    /// Its machine's address.
    pub address: &'a str,
    /// Virtual time since the simulation started.
    pub now: Duration,
    /// 64 bits drawn from the simulation's seed for this command, for workloads that need
    /// randomness (tokens, ids) and must stay deterministic.
    pub random: u64,
}

/// What a simulated command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// Its exit code and output.
    pub output: CommandOutput,
    /// How long it took in virtual time; `None` uses the cost model's default.
    pub duration: Option<Duration>,
}

impl From<CommandOutput> for CommandResult {
    fn from(output: CommandOutput) -> Self {
        Self {
            output,
            duration: None,
        }
    }
}

/// A simulated workload: answers the commands a charm runs.
pub trait Workload {
    /// Runs `command` (its program and arguments, whole) for the unit in `ctx`.
    fn run(&mut self, ctx: &CommandContext<'_>, command: &WorkloadCommand) -> CommandResult;
}

impl<F> Workload for F
where
    F: FnMut(&CommandContext<'_>, &WorkloadCommand) -> CommandResult,
{
    fn run(&mut self, ctx: &CommandContext<'_>, command: &WorkloadCommand) -> CommandResult {
        self(ctx, command)
    }
}
