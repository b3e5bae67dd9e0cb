//! No secret in `Debug` output: recorded commands, command outputs and secret contents.

use charm::{CommandOutput, SecretContent, WorkloadCommand};
use std::collections::BTreeMap;

const TOKEN: &str = "eyJzZWNyZXQiOiJ0b3Atc2VjcmV0LWpvaW4tdG9rZW4ifQ==";

#[test]
fn workload_command_debug_redacts_secret_arguments() {
    let c = WorkloadCommand::new("microovn", ["cluster", "join"])
        .secret_arg(TOKEN)
        .arg("--verbose")
        .timeout_secs(60);
    let debug = format!("{c:?}");
    let pretty = format!("{c:#?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(!pretty.contains(TOKEN));
    assert!(debug.contains("<redacted>") && debug.contains("--verbose") && debug.contains("microovn"));
    // A list of recorded commands (what the Harness keeps) is printed through the same `Debug`.
    let recorded = vec![c.clone(), WorkloadCommand::new("microovn", ["status"])];
    assert!(!format!("{recorded:?}").contains(TOKEN));
    assert_eq!(c.to_string(), "microovn cluster join <redacted> --verbose");
}

#[test]
fn command_output_debug_shows_no_output_text() {
    let out = CommandOutput::ok(format!("{TOKEN}\n"));
    let debug = format!("{out:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("Some(0)"));
    let failed = CommandOutput::failed(1, format!("Error: bad token {TOKEN}"));
    assert!(!format!("{failed:#?}").contains(TOKEN));
}

#[test]
fn secret_content_debug_shows_keys_only() {
    let c = SecretContent(BTreeMap::from([("token".to_owned(), TOKEN.to_owned())]));
    let debug = format!("{c:?}");
    assert!(!debug.contains(TOKEN) && debug.contains("token"), "{debug}");
}
