//! The charm's `dispatch` binary.
fn main() -> std::process::ExitCode {
    charm::main(hook_bench::HookBench::default)
}
