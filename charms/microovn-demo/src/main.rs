//! The charm's `dispatch` binary.
fn main() -> std::process::ExitCode {
    charm::main(microovn_demo::MicroOvnDemo::default)
}
