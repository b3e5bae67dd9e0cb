//! `hook-tools`: Juju's hook tools as one multi-call binary. Installed as symlinks named after
//! the tools (`relation-get`, `relation-set`, ...), or run as `hook-tools <tool> args...`; each
//! call goes to the agent named by `JUJU_AGENT_SOCKET_ADDRESS` (see `hook_tools::wire`).

#![forbid(unsafe_code)]

fn main() {
    std::process::exit(hook_tools::client::main());
}
