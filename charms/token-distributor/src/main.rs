//! The charm's `dispatch` binary.
fn main() -> std::process::ExitCode {
    charm::main(token_distributor::TokenDistributor::default)
}
