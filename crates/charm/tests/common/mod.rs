//! Fake hook tools for conformance tests.
//!
//! Every fake tool is a symlink, named after the tool, to one shell script that the test process
//! writes once (before any test spawns a process, so no test ever executes a file that another
//! thread still has open for writing). Each test gets its own directory:
//!
//! - `bin/<tool>`: the symlinks (remove one to make a tool "missing");
//! - `out/<tool>`, `err/<tool>`, `code/<tool>`: the canned stdout, stderr and exit code;
//! - `calls/NNNNNN/`: one directory per call, in call order: `tool`, `arg0`..`argN-1`, `nargs`,
//!   `stdin` (only when standard input is a pipe, that is when the backend passes stdin), and for
//!   every `k#file=PATH` argument `fileI` (a copy of PATH), `fmodeI` (its mode) and `dmodeI` (the
//!   mode of its directory). One file per argument keeps every byte of every argument exact.
//!
//! The backend runs the tools from `bin/` through `HookTools::with_tool_dir`, so the process
//! `PATH` is never touched and tests run in parallel.

#![allow(dead_code)]

use charm::{HookTools, JujuEnv};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Every hook tool `HookTools` runs.
pub const TOOLS: &[&str] = &[
    "relation-get",
    "storage-list",
    "storage-get",
    "storage-add",
    "relation-set",
    "relation-ids",
    "relation-list",
    "is-leader",
    "leader-get",
    "leader-set",
    "status-set",
    "status-get",
    "juju-log",
    "config-get",
    "state-get",
    "state-set",
    "state-delete",
    "secret-add",
    "secret-get",
    "secret-set",
    "secret-grant",
    "secret-revoke",
    "secret-remove",
    "secret-info-get",
    "secret-ids",
    "action-get",
    "action-set",
    "action-fail",
    "action-log",
    "application-version-set",
    "goal-state",
];

const FAKE_TOOL: &str = r#"#!/bin/sh
# A fake Juju hook tool: records its call, then replies as the test asked.
bin=${0%/*}
D=${bin%/*}
tool=${0##*/}
n=0
if [ -f "$D/count" ]; then read n < "$D/count"; fi
echo $((n + 1)) > "$D/count"
c="$D/calls/$(printf '%06d' "$n")"
mkdir -p "$c"
printf '%s' "$tool" > "$c/tool"
i=0
for a in "$@"; do
  printf '%s' "$a" > "$c/arg$i"
  case $a in
    *'#file='*)
      p=${a#*'#file='}
      cat "$p" > "$c/file$i"
      stat -c %a "$p" > "$c/fmode$i"
      stat -c %a "${p%/*}" > "$c/dmode$i"
      ;;
  esac
  i=$((i + 1))
done
echo "$i" > "$c/nargs"
if [ -p /dev/stdin ]; then cat > "$c/stdin"; fi
if [ -f "$D/out/$tool" ]; then cat "$D/out/$tool"; fi
if [ -f "$D/err/$tool" ]; then cat "$D/err/$tool" >&2; fi
code=0
if [ -f "$D/code/$tool" ]; then read code < "$D/code/$tool"; fi
exit "$code"
"#;

/// The one fake-tool script, shared by every test (and every test process: it is only ever
/// replaced by a rename, never rewritten in place, so no process runs a half-written file).
fn fake_tool_script() -> &'static Path {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fake-hook-tools");
        std::fs::create_dir_all(&dir).expect("create the fake tool directory");
        let path = dir.join("fake-tool");
        let current = std::fs::read_to_string(&path).ok();
        let executable = std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o111 == 0o111);
        if current.as_deref() != Some(FAKE_TOOL) || !executable {
            let tmp = dir.join(format!("fake-tool.{}.tmp", std::process::id()));
            std::fs::write(&tmp, FAKE_TOOL).expect("write the fake tool");
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            std::fs::rename(&tmp, &path).expect("install the fake tool");
        }
        path
    })
}

/// A `k#file=PATH` argument as the fake tool saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The file's content.
    pub content: String,
    /// Its mode, octal, as `stat -c %a` prints it.
    pub mode: String,
    /// Its directory's mode.
    pub dir_mode: String,
}

/// One recorded tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The tool name then its arguments.
    pub argv: Vec<String>,
    /// Its standard input, if it was given a pipe.
    pub stdin: Option<String>,
    /// The `k#file=` arguments, by argument index (0 = first argument after the tool name).
    pub files: BTreeMap<usize, SecretFile>,
}

/// A directory of fake hook tools and what they recorded.
pub struct FakeTools {
    root: tempfile::TempDir,
}

impl Default for FakeTools {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeTools {
    /// A fresh directory with every tool present, printing nothing and exiting 0.
    pub fn new() -> Self {
        let script = fake_tool_script();
        let root = tempfile::Builder::new()
            .prefix("hook-tools-test-")
            .tempdir()
            .expect("tempdir");
        for sub in ["bin", "out", "err", "code", "calls", "charm"] {
            std::fs::create_dir(root.path().join(sub)).expect("mkdir");
        }
        for tool in TOOLS {
            std::os::unix::fs::symlink(script, root.path().join("bin").join(tool)).expect("symlink");
        }
        Self { root }
    }

    /// The tool directory.
    pub fn bin(&self) -> PathBuf {
        self.root.path().join("bin")
    }

    /// The charm directory the default environment names.
    pub fn charm_dir(&self) -> PathBuf {
        self.root.path().join("charm")
    }

    /// The test's root directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Makes `tool` print `text` on standard output.
    pub fn set_output(&self, tool: &str, text: &str) {
        self.set_output_bytes(tool, text.as_bytes());
    }

    /// Makes `tool` print these bytes on standard output.
    pub fn set_output_bytes(&self, tool: &str, bytes: &[u8]) {
        std::fs::write(self.root.path().join("out").join(tool), bytes).expect("write output");
    }

    /// Makes `tool` exit with `code`, printing `stderr`.
    pub fn set_failure(&self, tool: &str, code: i32, stderr: &str) {
        std::fs::write(self.root.path().join("code").join(tool), format!("{code}\n")).expect("code");
        std::fs::write(self.root.path().join("err").join(tool), stderr).expect("stderr");
    }

    /// Removes `tool` from the tool directory.
    pub fn remove_tool(&self, tool: &str) {
        std::fs::remove_file(self.bin().join(tool)).expect("remove tool");
    }

    /// The environment of a hook of unit `demo/0` (dispatch path `hooks/install`, charm dir
    /// `charm/`), with `vars` added or overriding.
    pub fn env(&self, vars: &[(&str, &str)]) -> JujuEnv {
        let mut all: BTreeMap<String, String> = BTreeMap::from([
            ("JUJU_UNIT_NAME".to_owned(), "demo/0".to_owned()),
            ("JUJU_DISPATCH_PATH".to_owned(), "hooks/install".to_owned()),
            ("JUJU_VERSION".to_owned(), "3.6.4".to_owned()),
            (
                "JUJU_CHARM_DIR".to_owned(),
                self.charm_dir().display().to_string(),
            ),
        ]);
        for (k, v) in vars {
            all.insert((*k).to_owned(), (*v).to_owned());
        }
        JujuEnv::from_vars(&all, "./dispatch").expect("a valid environment")
    }

    /// A backend over these tools, for a hook with no relation.
    pub fn backend(&self) -> HookTools {
        self.backend_with(&[])
    }

    /// A backend over these tools, for the hook `vars` describe.
    pub fn backend_with(&self, vars: &[(&str, &str)]) -> HookTools {
        HookTools::from_env(&self.env(vars)).with_tool_dir(self.bin())
    }

    /// Every call recorded since the last [`FakeTools::reset`], in order.
    pub fn calls(&self) -> Vec<Call> {
        let dir = self.root.path().join("calls");
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("calls dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        entries.iter().map(|c| read_call(c)).collect()
    }

    /// The argv (tool, then arguments) of every call.
    pub fn argvs(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().map(|c| c.argv).collect()
    }

    /// Forgets the recorded calls.
    pub fn reset(&self) {
        let dir = self.root.path().join("calls");
        std::fs::remove_dir_all(&dir).expect("rm calls");
        std::fs::create_dir(&dir).expect("mkdir calls");
        let _ = std::fs::remove_file(self.root.path().join("count"));
    }

    /// Asserts that exactly these calls were made, none with standard input, then forgets them.
    #[track_caller]
    pub fn expect(&self, expected: &[&[&str]]) {
        let calls = self.calls();
        let argvs: Vec<Vec<String>> = calls.iter().map(|c| c.argv.clone()).collect();
        assert_eq!(argvs, owned(expected), "tool calls");
        for c in &calls {
            assert_eq!(c.stdin, None, "{:?} must not be given standard input", c.argv);
        }
        self.reset();
    }

    /// Asserts that exactly one call was made, with this argv and this JSON on standard input,
    /// then forgets it. The JSON is compared as a value, and must be one line of compact JSON.
    #[track_caller]
    pub fn expect_with_json_stdin(&self, argv: &[&str], stdin: &serde_json::Value) {
        let calls = self.calls();
        assert_eq!(calls.len(), 1, "expected one call, got {calls:?}");
        assert_eq!(calls[0].argv, owned(&[argv])[0], "tool call");
        let text = calls[0].stdin.as_deref().expect("standard input was given");
        let got: serde_json::Value = serde_json::from_str(text).expect("standard input is JSON");
        assert_eq!(&got, stdin, "standard input");
        assert_eq!(
            text,
            serde_json::to_string(stdin).unwrap(),
            "compact JSON on standard input"
        );
        self.reset();
    }
}

/// Converts a list of argvs to owned strings.
pub fn owned(argvs: &[&[&str]]) -> Vec<Vec<String>> {
    argvs
        .iter()
        .map(|a| a.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

fn read_call(dir: &Path) -> Call {
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    let tool = read("tool").expect("tool name recorded");
    let nargs: usize = read("nargs")
        .expect("nargs")
        .trim()
        .parse()
        .expect("nargs is a number");
    let mut argv = vec![tool];
    let mut files = BTreeMap::new();
    for i in 0..nargs {
        argv.push(read(&format!("arg{i}")).expect("arg recorded"));
        if let Ok(content) = read(&format!("file{i}")) {
            files.insert(
                i,
                SecretFile {
                    content,
                    mode: read(&format!("fmode{i}")).expect("mode").trim().to_owned(),
                    dir_mode: read(&format!("dmode{i}")).expect("dir mode").trim().to_owned(),
                },
            );
        }
    }
    Call {
        argv,
        stdin: read("stdin").ok(),
        files,
    }
}
