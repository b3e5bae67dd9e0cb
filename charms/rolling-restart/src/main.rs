//! The charm's `dispatch` binary.
fn main() -> std::process::ExitCode {
    charm::main(rolling_restart::RollingRestart::default)
}
