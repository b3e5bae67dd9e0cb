//! The wire protocol between the `hook-tools` client and the agent (the simulator's process
//! driver), over a Unix socket: one request line, one reply line, then the connection closes.
//!
//! **Request**, one line of JSON ending in `\n`:
//!
//! ```json
//! {"context_id": "unit-0-42", "tool": "relation-set", "args": ["-r", "db:3", "--file", "-"],
//!  "stdin": "eyJhIjogIngifQ==", "files": {"/tmp/x.yaml": "YTogeAo="}, "cwd": "/var/lib/juju/charm"}
//! ```
//!
//! - `context_id`: `JUJU_CONTEXT_ID` of the hook; absent when the variable is (`juju-exec` run
//!   from outside a hook).
//! - `tool`: the tool's name (`argv[0]`'s file name, or `hook-tools <tool> ...`).
//! - `args`: the arguments after the name, exactly as given (UTF-8).
//! - `stdin`: standard input, **standard base64** (RFC 4648, with padding); present only when an
//!   argument is `--file -` and standard input is not a terminal.
//! - `files`: every file the arguments name (`--file <path>` other than `-`, and
//!   `key#file=<path>` for the `secret-*` tools), keyed by the path exactly as written in the
//!   arguments, content in standard base64; read by the client relative to its working
//!   directory; a file it cannot read is left out (the agent then reports it missing).
//! - `cwd`: the client's working directory.
//!
//! Binary content survives unchanged: nothing is decoded as text on the way.
//!
//! **Reply**, one line of JSON ending in `\n`: `{"code": 0, "stdout": "...", "stderr": "..."}`;
//! the client prints both streams and exits with `code`.

use crate::execute::Response;
use crate::settings::{base64_decode, base64_encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};

/// The largest request line the agent reads (a 16 MiB bag is about 22 MiB in base64).
pub const MAX_REQUEST_BYTES: u64 = 128 * 1024 * 1024;

/// One tool call as the client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WireRequest {
    /// `JUJU_CONTEXT_ID`, naming the running hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    /// The tool's name.
    pub tool: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Standard input, when the tool reads it (`--file -`).
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Vec<u8>>,
    /// The files the arguments name, by path as written.
    #[serde(default, with = "b64_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, Vec<u8>>,
    /// The client's working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

mod b64_opt {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&base64_encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(t) => base64_decode(&t)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("stdin is not valid base64")),
            None => Ok(None),
        }
    }
}

mod b64_map {
    use super::*;
    pub fn serialize<S: Serializer>(v: &BTreeMap<String, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&String, String> = v.iter().map(|(k, b)| (k, base64_encode(b))).collect();
        m.serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(d)?;
        m.into_iter()
            .map(|(k, v)| match base64_decode(&v) {
                Some(b) => Ok((k, b)),
                None => Err(serde::de::Error::custom(format!(
                    "file {k:?} is not valid base64"
                ))),
            })
            .collect()
    }
}

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The request is longer than [`MAX_REQUEST_BYTES`].
    #[error("request larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    /// The request is not the JSON this module describes.
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// Reads one request line.
pub fn read_request<R: Read>(reader: R) -> Result<WireRequest, WireError> {
    let mut line = Vec::new();
    BufReader::new(reader.take(MAX_REQUEST_BYTES + 1)).read_until(b'\n', &mut line)?;
    if line.len() as u64 > MAX_REQUEST_BYTES {
        return Err(WireError::TooLarge);
    }
    serde_json::from_slice(&line).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Writes one reply line.
pub fn write_response<W: Write>(mut writer: W, response: &Response) -> io::Result<()> {
    let mut line = serde_json::to_vec(response).map_err(io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

/// Serves one connection: reads the request, asks `resolve` for the reply (the driver finds the
/// hook's backend from [`WireRequest::context_id`] and calls [`crate::run_tool`]), and writes
/// it. A request that cannot be read gets exit code 1 and an `ERROR` line, and `resolve` is not
/// called.
///
/// ```no_run
/// use hook_tools::{handle_connection, run_tool, HookContextInfo, Response};
/// # fn backend_for(_: Option<&str>) -> Option<(Box<dyn charm::Backend>, HookContextInfo)> { None }
/// let listener = std::os::unix::net::UnixListener::bind("/tmp/agent.sock").unwrap();
/// for stream in listener.incoming() {
///     let mut stream = stream.unwrap();
///     let _ = handle_connection(&mut stream, |req| match backend_for(req.context_id.as_deref()) {
///         Some((mut backend, hook)) => run_tool(&req, backend.as_mut(), &hook),
///         None => Response::error(1, "bad context id"),
///     });
/// }
/// ```
pub fn handle_connection<S: Read + Write>(
    stream: &mut S,
    resolve: impl FnOnce(WireRequest) -> Response,
) -> io::Result<()> {
    let response = match read_request(&mut *stream) {
        Ok(req) => resolve(req),
        Err(WireError::Io(e)) => return Err(e),
        Err(e) => Response::error(1, format!("bad request: {e}")),
    };
    write_response(&mut *stream, &response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_content_round_trips() {
        let req = WireRequest {
            context_id: Some("c-1".into()),
            tool: "secret-add".into(),
            args: vec!["k#file=/x".into()],
            stdin: Some(vec![0, 159, 146, 150, 255, b'\n']),
            files: BTreeMap::from([("/x".to_owned(), vec![0xff, 0, 1])]),
            cwd: Some("/".into()),
        };
        let line = serde_json::to_string(&req).unwrap();
        assert!(!line.contains('\n'));
        let back: WireRequest = serde_json::from_str(&line).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn minimal_request_and_bad_ones() {
        let r = read_request(&b"{\"tool\":\"is-leader\"}\n"[..]).unwrap();
        assert_eq!(r.tool, "is-leader");
        assert!(r.args.is_empty() && r.context_id.is_none() && r.stdin.is_none());
        assert!(matches!(
            read_request(&b"nope\n"[..]),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            read_request(&b"{\"tool\":\"x\",\"stdin\":\"!!\"}\n"[..]),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn handle_connection_replies_to_bad_requests() {
        struct Duplex(io::Cursor<Vec<u8>>, Vec<u8>);
        impl Read for Duplex {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                self.0.read(b)
            }
        }
        impl Write for Duplex {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.1.write(b)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut d = Duplex(io::Cursor::new(b"{]\n".to_vec()), Vec::new());
        handle_connection(&mut d, |_| unreachable!()).unwrap();
        let r: Response = serde_json::from_slice(&d.1).unwrap();
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.starts_with("ERROR bad request: malformed request"),
            "{}",
            r.stderr
        );

        let mut d = Duplex(
            io::Cursor::new(b"{\"tool\":\"is-leader\"}\n".to_vec()),
            Vec::new(),
        );
        handle_connection(&mut d, |req| Response::ok(format!("{}\n", req.tool))).unwrap();
        assert_eq!(d.1, b"{\"code\":0,\"stdout\":\"is-leader\\n\",\"stderr\":\"\"}\n");
    }
}
