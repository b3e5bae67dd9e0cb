//! The client side: what the `hook-tools` binary does for every call. It parses nothing of the
//! tool's meaning: it sends the call to the agent (see [`crate::wire`]) and prints the reply.
//! It runs for every hook-tool call a charm makes, so it does the least it can: no threads, no
//! allocation beyond the request, one connection.

use crate::execute::Response;
use crate::wire::WireRequest;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The variable naming the agent's socket, as Juju names it: a path, or `@name` for Linux's
/// abstract namespace (as Juju's machine agents use).
pub const SOCKET_ENV: &str = "JUJU_AGENT_SOCKET_ADDRESS";
/// The socket's network, as Juju names it; only `unix` (or unset) is supported.
pub const NETWORK_ENV: &str = "JUJU_AGENT_SOCKET_NETWORK";
/// The variable naming the running hook.
pub const CONTEXT_ENV: &str = "JUJU_CONTEXT_ID";
/// The socket used when [`SOCKET_ENV`] is not set.
pub const DEFAULT_SOCKET: &str = "/run/ensemble/agent.socket";
/// The multi-call binary's own name: `hook-tools <tool> args...`.
pub const BINARY_NAME: &str = "hook-tools";

/// Builds the request for a command line (`argv[0]` included). `read_stdin` is called only when
/// the tool reads standard input (`--file -`).
pub fn build_request(
    argv: Vec<OsString>,
    context_id: Option<String>,
    cwd: Option<&Path>,
    read_stdin: impl FnOnce() -> Option<Vec<u8>>,
) -> Result<WireRequest, String> {
    let mut argv = argv.into_iter();
    let argv0 = argv.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut args = Vec::new();
    for a in argv {
        args.push(
            a.into_string()
                .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?,
        );
    }
    let tool = if name.starts_with(BINARY_NAME) {
        if args.is_empty() {
            return Err(format!("usage: {BINARY_NAME} <tool> [args...]"));
        }
        args.remove(0)
    } else {
        name
    };

    let mut wants_stdin = false;
    let mut paths = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            break;
        }
        let file = if a == "--file" {
            i += 1;
            args.get(i).cloned()
        } else {
            a.strip_prefix("--file=").map(str::to_owned)
        };
        match file.as_deref() {
            Some("-") => wants_stdin = true,
            Some(p) => paths.push(p.to_owned()),
            None => {}
        }
        i += 1;
    }
    if tool.starts_with("secret-") {
        for a in &args {
            if let Some((_, p)) = a.split_once("#file=") {
                paths.push(p.to_owned());
            }
        }
    }
    let mut files = BTreeMap::new();
    for p in paths {
        let full = match cwd {
            Some(dir) => dir.join(&p),
            None => p.clone().into(),
        };
        if let Ok(content) = std::fs::read(full) {
            files.insert(p, content);
        }
    }
    Ok(WireRequest {
        context_id,
        tool,
        args,
        stdin: if wants_stdin { read_stdin() } else { None },
        files,
        cwd: cwd.map(|c| c.to_string_lossy().into_owned()),
    })
}

/// Sends `request` to the agent at `address` (a path, or `@name` for the abstract namespace)
/// and reads the reply.
pub fn call(address: &str, request: &WireRequest) -> io::Result<Response> {
    let mut stream = connect(address)?;
    let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reply = Vec::new();
    BufReader::new(stream).read_until(b'\n', &mut reply)?;
    serde_json::from_slice(&reply)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {e}")))
}

fn connect(address: &str) -> io::Result<UnixStream> {
    #[cfg(target_os = "linux")]
    if let Some(name) = address.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        return UnixStream::connect_addr(&addr);
    }
    UnixStream::connect(address)
}

/// The binary's `main`: returns the exit code.
pub fn main() -> i32 {
    let network = std::env::var(NETWORK_ENV).unwrap_or_default();
    if !network.is_empty() && network != "unix" {
        return fail(&format!(
            "{NETWORK_ENV}={network:?} is not supported: only unix sockets"
        ));
    }
    let address = std::env::var(SOCKET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
    let cwd = std::env::current_dir().ok();
    let context = std::env::var(CONTEXT_ENV).ok().filter(|s| !s.is_empty());
    let request = match build_request(std::env::args_os().collect(), context, cwd.as_deref(), || {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            return Some(Vec::new());
        }
        let mut buf = Vec::new();
        stdin.lock().read_to_end(&mut buf).ok().map(|_| buf)
    }) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(io::stderr(), "ERROR {e}");
            return 2;
        }
    };
    let response = match call(&address, &request) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return fail(&format!("the unit agent at {address} sent a {e}"));
        }
        Err(e) => return fail(&format!("cannot reach the unit agent at {address}: {e}")),
    };
    let mut out = io::stdout().lock();
    let _ = out.write_all(response.stdout.as_bytes());
    let _ = out.flush();
    let mut err = io::stderr().lock();
    let _ = err.write_all(response.stderr.as_bytes());
    let _ = err.flush();
    response.code
}

fn fail(message: &str) -> i32 {
    let _ = writeln!(io::stderr(), "ERROR {message}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn tool_from_argv0_or_first_argument() {
        let r = build_request(argv(&["/x/bin/relation-get", "-r", "3"]), None, None, || None).unwrap();
        assert_eq!((r.tool.as_str(), r.args.len()), ("relation-get", 2));
        let r = build_request(
            argv(&["/x/hook-tools", "is-leader", "--format=json"]),
            None,
            None,
            || None,
        )
        .unwrap();
        assert_eq!(r.tool, "is-leader");
        assert_eq!(r.args, ["--format=json"]);
        assert!(build_request(argv(&["hook-tools"]), None, None, || None).is_err());
    }

    #[test]
    fn stdin_only_for_file_dash() {
        let r = build_request(argv(&["relation-set", "a=b"]), None, None, || {
            panic!("read stdin")
        })
        .unwrap();
        assert!(r.stdin.is_none());
        let r = build_request(argv(&["relation-set", "--file", "-"]), None, None, || {
            Some(b"x".to_vec())
        })
        .unwrap();
        assert_eq!(r.stdin.as_deref(), Some(&b"x"[..]));
        let r = build_request(argv(&["state-set", "--file=-"]), None, None, || Some(vec![])).unwrap();
        assert_eq!(r.stdin.as_deref(), Some(&b""[..]));
        // After `--`, `--file -` is a value, not a flag.
        let r = build_request(argv(&["juju-log", "--", "--file", "-"]), None, None, || panic!()).unwrap();
        assert!(r.stdin.is_none());
    }

    #[test]
    fn files_are_read_relative_to_cwd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.yaml"), b"a: b\n").unwrap();
        std::fs::write(dir.path().join("key"), [0u8, 255]).unwrap();
        let r = build_request(
            argv(&[
                "secret-add",
                "--file",
                "s.yaml",
                "tls-key#file=key",
                "other#file=missing",
            ]),
            Some("ctx".into()),
            Some(dir.path()),
            || None,
        )
        .unwrap();
        assert_eq!(r.files["s.yaml"], b"a: b\n");
        assert_eq!(r.files["key"], [0u8, 255]);
        assert!(!r.files.contains_key("missing"));
        assert_eq!(r.context_id.as_deref(), Some("ctx"));
        // `#file=` means a file only for the secret tools.
        let r = build_request(
            argv(&["relation-set", "k#file=key"]),
            None,
            Some(dir.path()),
            || None,
        )
        .unwrap();
        assert!(r.files.is_empty());
    }
}
