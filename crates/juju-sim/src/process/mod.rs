//! The process driver: a unit's hook runs its charm directory's `dispatch` as a subprocess, as
//! Juju's unit agent runs it, and the hook tools it calls reach the model over a Unix socket.
//!
//! The model core is the simulator's own ([`crate::Sim`]): the same resolver, transactions,
//! faults, trace and metrics. Only how a hook runs differs: the agent side of each tool call is
//! [`hook_tools::run_tool`] against the same per-hook backend that in-process charms use, and
//! time is real (a hook takes what it takes), while the seed still decides every ordering choice.
//!
//! Each unit has a directory under [`ProcessConfig::work_dir`]:
//!
//! ```text
//! <work_dir>/<app>-<n>/
//!     charm/          JUJU_CHARM_DIR: a copy of the application's charm directory
//!     agent.socket    JUJU_AGENT_SOCKET_ADDRESS: the unit agent's socket
//!     hook.log        the last hook's standard output and error
//! <work_dir>/bin/     the hook tools (symlinks to the hook-tools binary), first on PATH
//! ```

mod sys;

use crate::engine::vt;
use charm::{Backend, Event, HookError, HookReport, HookSetup, LogLevel, UnitName};
use hook_tools::{ExecRequest, HookContextInfo, Request, Response, WireRequest};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the process driver runs hooks.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Where the units' directories, sockets and tools go (a fresh directory per model).
    pub work_dir: PathBuf,
    /// The `hook-tools` multi-call binary (see [`ProcessConfig::find_hook_tools`]).
    pub hook_tools: PathBuf,
    /// A hook running longer than this is killed and the unit goes to error.
    pub hook_timeout: Duration,
    /// A hook printing more than this many bytes (standard output and error together) is
    /// killed and the unit goes to error.
    pub max_output: u64,
    /// Give each hook its own UTS namespace with the unit's hostname (needs root). Without
    /// it, hooks see the host's name.
    pub uts_namespaces: bool,
    /// `JUJU_MODEL_UUID`.
    pub model_uuid: String,
    /// Workload programs (such as `microovn`) installed beside the hook tools: a hook that runs
    /// one is served by the simulator's workload (see [`crate::Sim::serve_commands`] and
    /// [`crate::Sim::serve_microcluster`]), as the in-process backend serves
    /// [`charm::Context::run`].
    pub workload_programs: Vec<String>,
    /// Extra variables for every hook (for example `PYTHONPATH`).
    pub extra_env: BTreeMap<String, String>,
    /// What follows the tools directory on `PATH`.
    pub system_path: String,
}

impl ProcessConfig {
    /// Defaults: tools from [`ProcessConfig::find_hook_tools`], 120 s hook timeout, 4 MiB of
    /// output, UTS namespaces when running as root.
    pub fn new(work_dir: impl Into<PathBuf>, hook_tools: impl Into<PathBuf>) -> Self {
        Self {
            work_dir: work_dir.into(),
            hook_tools: hook_tools.into(),
            hook_timeout: Duration::from_secs(120),
            max_output: 4 << 20,
            uts_namespaces: is_root(),
            model_uuid: "ae11cb3c-7c0d-4b5f-8e2a-0e1e5eb1e000".into(),
            workload_programs: Vec::new(),
            extra_env: BTreeMap::new(),
            system_path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        }
    }

    /// Finds the `hook-tools` binary: `$ENSEMBLE_HOOK_TOOLS`, else `hook-tools` beside the
    /// running executable or in its parent directory (where cargo puts binaries when the
    /// running one is a test in `target/<profile>/deps`).
    pub fn find_hook_tools() -> Result<PathBuf, String> {
        find_binary("hook-tools", "ENSEMBLE_HOOK_TOOLS")
    }
}

/// Finds a workspace binary `name`: `$env_var`, else beside the running executable or in its
/// parent directory (`target/<profile>/` when the running one is a test in `deps/`).
pub fn find_binary(name: &str, env_var: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running executable: {e}"))?;
    let mut dir = exe.parent();
    for _ in 0..2 {
        let Some(d) = dir else { break };
        let candidate = d.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    Err(format!(
        "cannot find the {name} binary beside {}: build it (`cargo build --workspace --bins`, \
         with --release for release binaries) or set {env_var}",
        exe.display()
    ))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// What one hook process did: wall time from spawning `dispatch` to its exit (tool calls
/// included), peak memory, and the tool calls it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessHookStat {
    /// The unit.
    pub unit: String,
    /// The hook (`JUJU_DISPATCH_PATH` without `hooks/`).
    pub hook: String,
    /// From spawn to exit.
    pub wall: Duration,
    /// Peak resident memory of `dispatch` and the processes it waited for, in KiB.
    pub max_rss_kib: u64,
    /// Hook-tool calls served (each one a process the hook started).
    pub tool_calls: u32,
    /// The exit code (`None`: killed).
    pub exit_code: Option<i32>,
}

enum Msg {
    Conn(usize, UnixStream),
    Exited(i32, std::io::Result<sys::Exit>, Instant),
}

struct UnitProc {
    name: String,
    dir: PathBuf,
    /// The charm installed in `charm/`: its source and the files it brought.
    installed: Option<(PathBuf, u64, Vec<PathBuf>)>,
}

/// The running hook, as the socket server sees it.
struct HookCtx<'a> {
    slot: usize,
    context_id: &'a str,
    info: &'a HookContextInfo,
    backend: &'a mut dyn Backend,
    tool_calls: u32,
}

pub(crate) struct Driver {
    cfg: ProcessConfig,
    model: String,
    tools_dir: PathBuf,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    stop: Arc<AtomicBool>,
    units: RefCell<Vec<UnitProc>>,
    slot_of: RefCell<HashMap<String, usize>>,
    hooks: Cell<u64>,
    /// `juju-exec` requests received, for the engine to schedule: (unit, hook name).
    execs: RefCell<Vec<(String, String)>>,
    /// Lines for the units' logs: what hooks printed, refused requests.
    logs: RefCell<Vec<(String, LogLevel, String)>>,
    stats: RefCell<Vec<ProcessHookStat>>,
    /// Process groups of finished hooks in which something still runs (a worker), by their
    /// leader's pid. Each leader is kept unreaped (a zombie) while it is listed, so that its pid,
    /// the group's id, cannot be reused: signalling the group can only reach the hook's own
    /// processes. A group is reaped and forgotten once nothing in it runs.
    groups: RefCell<Vec<i32>>,
}

impl Driver {
    pub(crate) fn new(cfg: ProcessConfig, model: &str) -> Result<Self, String> {
        let tools_dir = cfg.work_dir.join("bin");
        std::fs::create_dir_all(&tools_dir)
            .map_err(|e| format!("cannot create {}: {e}", tools_dir.display()))?;
        if !cfg.hook_tools.is_file() {
            return Err(format!("no hook-tools binary at {}", cfg.hook_tools.display()));
        }
        hook_tools::install_symlinks(&cfg.hook_tools, &tools_dir)
            .map_err(|e| format!("cannot install the hook tools in {}: {e}", tools_dir.display()))?;
        for program in &cfg.workload_programs {
            if program.contains('/') || hook_tools::TOOLS.contains(&program.as_str()) {
                return Err(format!("{program:?} cannot be a workload program"));
            }
            let link = tools_dir.join(program);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&cfg.hook_tools, &link)
                .map_err(|e| format!("cannot install {}: {e}", link.display()))?;
        }
        let (tx, rx) = channel();
        Ok(Self {
            cfg,
            model: model.to_owned(),
            tools_dir,
            tx,
            rx,
            stop: Arc::new(AtomicBool::new(false)),
            units: RefCell::new(Vec::new()),
            slot_of: RefCell::new(HashMap::new()),
            hooks: Cell::new(0),
            execs: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
            stats: RefCell::new(Vec::new()),
            groups: RefCell::new(Vec::new()),
        })
    }

    pub(crate) fn config(&self) -> &ProcessConfig {
        &self.cfg
    }

    /// The unit's directory and socket, created (and its socket served) on first use.
    fn slot(&self, unit: &str) -> Result<usize, String> {
        if let Some(s) = self.slot_of.borrow().get(unit) {
            return Ok(*s);
        }
        let dir = self.cfg.work_dir.join(unit.replace('/', "-"));
        std::fs::create_dir_all(dir.join("charm"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let socket = dir.join("agent.socket");
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&socket).map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
        let slot = self.units.borrow().len();
        let tx = self.tx.clone();
        let stop = self.stop.clone();
        std::thread::Builder::new()
            .name(format!("agent {unit}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(s) = stream {
                        if tx.send(Msg::Conn(slot, s)).is_err() {
                            break;
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the agent thread: {e}"))?;
        self.units.borrow_mut().push(UnitProc {
            name: unit.to_owned(),
            dir,
            installed: None,
        });
        self.slot_of.borrow_mut().insert(unit.to_owned(), slot);
        Ok(slot)
    }

    /// The unit's charm directory (`JUJU_CHARM_DIR`).
    pub(crate) fn charm_dir(&self, unit: &str) -> PathBuf {
        self.cfg.work_dir.join(unit.replace('/', "-")).join("charm")
    }

    /// Installs (or upgrades to) the application's charm revision in the unit's charm
    /// directory: the new charm's files replace the old one's, and files the charm wrote
    /// itself (its state) stay, as Juju's deployer does.
    fn install(&self, slot: usize, source: &Path, rev: u64) -> Result<(), String> {
        let mut units = self.units.borrow_mut();
        let u = &mut units[slot];
        if matches!(&u.installed, Some((s, r, _)) if s == source && *r == rev) {
            return Ok(());
        }
        let target = u.dir.join("charm");
        if let Some((_, _, old)) = u.installed.take() {
            for f in old.iter().rev() {
                let p = target.join(f);
                if p.is_dir() && !p.is_symlink() {
                    let _ = std::fs::remove_dir(&p);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        let mut files = Vec::new();
        copy_tree(source, &target, Path::new(""), &mut files)
            .map_err(|e| format!("cannot install the charm from {}: {e}", source.display()))?;
        u.installed = Some((source.to_owned(), rev, files));
        Ok(())
    }

    /// Runs one hook of `unit` as a process. Tool calls are served against `backend`.
    pub(crate) fn run_hook(
        &self,
        source: &Path,
        rev: u64,
        backend: &mut dyn Backend,
        setup: HookSetup<'_>,
        event: &Event,
    ) -> Result<HookReport, HookError> {
        let unit = setup.unit.to_string();
        let hook = event.hook_name();
        let fail = |message: String| HookError::Handler {
            observer: "unit agent".into(),
            event: hook.clone(),
            message,
        };
        let slot = self.slot(&unit).map_err(fail)?;
        self.install(slot, source, rev).map_err(fail)?;
        let hostname = backend.hostname()?;
        let (dir, charm_dir) = {
            let units = self.units.borrow();
            (units[slot].dir.clone(), units[slot].dir.join("charm"))
        };
        let seq = self.hooks.get() + 1;
        self.hooks.set(seq);
        let context_id = format!("{}-{hook}-{seq}", unit.replace('/', "-"));
        let info = hook_info(setup.unit, event);

        let out_path = dir.join("hook.log");
        // A fresh file: a process an earlier hook left running keeps writing to the old one.
        let _ = std::fs::remove_file(&out_path);
        let out =
            std::fs::File::create(&out_path).map_err(|e| fail(format!("cannot create hook.log: {e}")))?;
        let err = out
            .try_clone()
            .map_err(|e| fail(format!("cannot create hook.log: {e}")))?;
        let mut cmd = Command::new(charm_dir.join("dispatch"));
        cmd.current_dir(&charm_dir)
            .env_clear()
            .envs(self.env(setup, event, &unit, &charm_dir, &dir, &context_id))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        if self.cfg.uts_namespaces {
            sys::in_uts_namespace(&mut cmd, &hostname);
        }
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| {
            fail(format!(
                "cannot run {}: {e}",
                charm_dir.join("dispatch").display()
            ))
        })?;
        let pid = child.id() as i32;
        // Seen to exit by the waiter below, with its resource usage, but reaped only once its
        // group is done with (see `groups`).
        drop(child);
        let tx = self.tx.clone();
        let _ = std::thread::Builder::new()
            .name(format!("wait {unit}"))
            .spawn(move || {
                let r = sys::wait_exit(pid);
                let _ = tx.send(Msg::Exited(pid, r, Instant::now()));
            });

        let deadline = started + self.cfg.hook_timeout;
        let mut ctx = HookCtx {
            slot,
            context_id: &context_id,
            info: &info,
            backend,
            tool_calls: 0,
        };
        let mut killed: Option<String> = None;
        let (exit, ended) = loop {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Conn(s, stream)) => self.serve(s, stream, Some(&mut ctx)),
                Ok(Msg::Exited(p, r, at)) if p == pid => break (r, at),
                Ok(Msg::Exited(..)) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the driver holds a sender"),
                Err(RecvTimeoutError::Timeout) => {
                    if killed.is_some() {
                        continue;
                    }
                    let size = std::fs::metadata(&out_path).map(|m| m.len()).unwrap_or(0);
                    if size > self.cfg.max_output {
                        killed = Some(format!("printed more than {} bytes", self.cfg.max_output));
                    } else if Instant::now() >= deadline {
                        killed = Some(format!(
                            "timed out after {} s",
                            self.cfg.hook_timeout.as_secs_f64()
                        ));
                    }
                    if killed.is_some() {
                        sys::kill_group(pid);
                    }
                }
            }
        };
        let tool_calls = ctx.tool_calls;
        let exit = exit.map_err(|e| fail(format!("cannot wait for the hook process: {e}")))?;
        // The leader has exited and is not reaped yet, so the group is still the hook's own.
        // If something the hook started runs on (a worker), keep the leader unreaped: the group
        // is killed with the model. Otherwise reap it now.
        self.groups.borrow_mut().push(pid);
        self.reap_finished_groups();
        self.stats.borrow_mut().push(ProcessHookStat {
            unit: unit.clone(),
            hook: hook.clone(),
            wall: ended - started,
            max_rss_kib: exit.max_rss_kib,
            tool_calls,
            exit_code: exit.code,
        });
        self.log_output(&unit, &out_path, exit.code == Some(0) && killed.is_none());
        let message = match (killed, exit.code, exit.signal) {
            (Some(why), _, _) => format!("hook process {why}; killed"),
            (None, Some(0), _) => return Ok(HookReport::default()),
            (None, Some(code), _) => format!("exit status {code}"),
            (None, None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None, None) => "ended abnormally".into(),
        };
        Err(HookError::Handler {
            observer: "dispatch".into(),
            event: hook,
            message,
        })
    }

    /// The hook's environment, as Juju's unit agent sets it.
    fn env(
        &self,
        setup: HookSetup<'_>,
        event: &Event,
        unit: &str,
        charm_dir: &Path,
        dir: &Path,
        context_id: &str,
    ) -> Vec<(String, String)> {
        let charm_dir = charm_dir.display().to_string();
        let socket = dir.join("agent.socket").display().to_string();
        let v = setup.juju_version;
        let mut env: Vec<(String, String)> = vec![
            (
                "PATH".into(),
                format!("{}:{}", self.tools_dir.display(), self.cfg.system_path),
            ),
            ("LANG".into(), "C.UTF-8".into()),
            ("HOME".into(), dir.display().to_string()),
            ("JUJU_UNIT_NAME".into(), unit.into()),
            ("JUJU_MODEL_NAME".into(), self.model.clone()),
            ("JUJU_MODEL_UUID".into(), self.cfg.model_uuid.clone()),
            (
                "JUJU_VERSION".into(),
                format!("{}.{}.{}", v.major, v.minor, v.patch),
            ),
            ("JUJU_CHARM_DIR".into(), charm_dir.clone()),
            ("CHARM_DIR".into(), charm_dir),
            ("JUJU_CONTEXT_ID".into(), context_id.into()),
            ("JUJU_AGENT_SOCKET_ADDRESS".into(), socket),
            ("JUJU_AGENT_SOCKET_NETWORK".into(), "unix".into()),
            ("JUJU_HOOK_NAME".into(), event.hook_name()),
            ("JUJU_PRINCIPAL_UNIT".into(), String::new()),
        ];
        env.extend(event.env_vars().into_iter().map(|(k, v)| (k.to_owned(), v)));
        env.extend(self.cfg.extra_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    fn log_output(&self, unit: &str, path: &Path, ok: bool) {
        let Ok(mut f) = std::fs::File::open(path) else {
            return;
        };
        const KEEP: u64 = 64 << 10;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut text = String::new();
        if len > KEEP {
            let _ = f.seek(std::io::SeekFrom::Start(len - KEEP));
            text.push_str(&format!("[{} earlier bytes not kept]\n", len - KEEP));
        }
        let mut buf = Vec::new();
        let _ = f.take(KEEP).read_to_end(&mut buf);
        text.push_str(&String::from_utf8_lossy(&buf));
        let level = if ok { LogLevel::Debug } else { LogLevel::Warning };
        let mut logs = self.logs.borrow_mut();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            logs.push((unit.to_owned(), level, line.to_owned()));
        }
    }

    /// Serves one connection to a unit's socket. `hook` is the running hook, if any.
    fn serve(&self, slot: usize, mut stream: UnixStream, hook: Option<&mut HookCtx<'_>>) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let unit = self.units.borrow()[slot].name.clone();
        let _ = hook_tools::handle_connection(&mut stream, |req| self.resolve(slot, &unit, req, hook));
    }

    fn resolve(&self, slot: usize, unit: &str, req: WireRequest, hook: Option<&mut HookCtx<'_>>) -> Response {
        if req.tool == "juju-exec" {
            return match hook_tools::parse(&req.tool, &req.args, req.stdin.as_deref(), &req.files) {
                Ok(Request::Exec(e)) => self.exec(unit, e),
                Ok(_) => Response::error(2, "juju-exec: unexpected request"),
                Err(e) => e.to_response(),
            };
        }
        let hook = match hook {
            Some(h) if h.slot == slot && req.context_id.as_deref() == Some(h.context_id) => h,
            _ => {
                let why = match &req.context_id {
                    None => "not running in a hook context (JUJU_CONTEXT_ID is not set)".to_owned(),
                    Some(id) => format!("no hook is running with context id {id:?}"),
                };
                self.logs.borrow_mut().push((
                    unit.to_owned(),
                    LogLevel::Warning,
                    format!("{} refused: {why}", req.tool),
                ));
                return Response::error(1, why);
            }
        };
        hook.tool_calls += 1;
        if self.cfg.workload_programs.contains(&req.tool) {
            let command = charm::WorkloadCommand {
                program: req.tool.clone(),
                args: req.args.clone(),
                timeout: None,
                secret_args: Vec::new(),
            };
            return match hook.backend.run_command(&command) {
                Ok(out) => Response {
                    code: out.code.unwrap_or(137),
                    stdout: out.stdout,
                    stderr: out.stderr,
                    exec: None,
                },
                Err(e) => Response::error(1, e.to_string()),
            };
        }
        hook_tools::run_tool(&req, hook.backend, hook.info)
    }

    fn exec(&self, unit: &str, e: ExecRequest) -> Response {
        if e.unit.as_str() != unit {
            return Response::error(1, format!("unit {:?} is not on this machine", e.unit.as_str()));
        }
        let Some(name) = e
            .dispatch_path
            .strip_prefix("hooks/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
        else {
            return Response::error(
                2,
                format!(
                    "cannot dispatch {:?}: only hooks/<name> is supported",
                    e.dispatch_path
                ),
            );
        };
        self.execs.borrow_mut().push((unit.to_owned(), name.to_owned()));
        Response::ok("")
    }

    /// Waits up to `timeout` for a connection from outside a hook (a background process's
    /// `juju-exec`) and serves it. Returns whether one was served.
    pub(crate) fn pump(&self, timeout: Duration) -> bool {
        match self.rx.recv_timeout(timeout) {
            Ok(Msg::Conn(slot, stream)) => {
                self.serve(slot, stream, None);
                true
            }
            Ok(Msg::Exited(..)) | Err(_) => false,
        }
    }

    pub(crate) fn take_execs(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.execs.borrow_mut())
    }

    pub(crate) fn take_logs(&self) -> Vec<(String, LogLevel, String)> {
        std::mem::take(&mut *self.logs.borrow_mut())
    }

    pub(crate) fn stats(&self) -> Vec<ProcessHookStat> {
        self.stats.borrow().clone()
    }
}

impl Driver {
    /// Reaps the leaders of remembered groups in which nothing runs any more (see `groups`).
    /// When `/proc` cannot be read, every group is kept: a zombie too many is better than a
    /// signal to a stranger.
    fn reap_finished_groups(&self) {
        let Some(live) = sys::live_groups() else {
            return;
        };
        self.groups.borrow_mut().retain(|&g| {
            if live.contains(&g) {
                true
            } else {
                sys::reap(g);
                false
            }
        });
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Each leader is still unreaped, so each id is still its hook's group: kill, then reap.
        for g in self.groups.borrow_mut().drain(..) {
            sys::kill_group(g);
            sys::reap(g);
        }
        for u in self.units.borrow().iter() {
            let socket = u.dir.join("agent.socket");
            let _ = UnixStream::connect(&socket); // wakes the acceptor, which sees `stop`
            let _ = std::fs::remove_file(&socket);
        }
    }
}

/// What the tools default to in this hook.
fn hook_info(unit: &UnitName, event: &Event) -> HookContextInfo {
    let mut info = HookContextInfo::new(unit.clone());
    if let Some(r) = event.relation() {
        info = info.with_relation(&r.endpoint, r.relation_id);
        if let Some(a) = &r.remote_app {
            info = info.with_remote_app(a.clone());
        }
        if let Some(u) = &r.remote_unit {
            info = info.with_remote_unit(u.clone());
        }
    }
    if let Event::Action(a) = event {
        info = info.with_action(&a.name);
    }
    info
}

/// Copies `src` into `dst` (symlinks as symlinks, modes kept), listing what it created.
fn copy_tree(src: &Path, dst: &Path, rel: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(src.join(rel))? {
        let entry = entry?;
        let r = rel.join(entry.file_name());
        let from = src.join(&r);
        let to = dst.join(&r);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&from)?;
            let _ = std::fs::remove_file(&to);
            std::os::unix::fs::symlink(target, &to)?;
            files.push(r);
        } else if kind.is_dir() {
            std::fs::create_dir_all(&to)?;
            files.push(r.clone());
            copy_tree(src, dst, &r, files)?;
        } else {
            let _ = std::fs::remove_file(&to);
            std::fs::copy(&from, &to)?;
            files.push(r);
        }
    }
    Ok(())
}

/// Virtual time for a wall-clock instant measured from `origin`.
pub(crate) fn wall_vt(origin: Instant) -> crate::model::VTime {
    vt(origin.elapsed())
}

/// Runs an application's hooks as processes from its charm directory.
pub(crate) struct ProcessRunner {
    pub source: PathBuf,
    pub rev: u64,
    pub driver: std::rc::Rc<Driver>,
}

impl crate::model::CharmRunner for ProcessRunner {
    fn run(
        &self,
        backend: &mut dyn Backend,
        setup: HookSetup<'_>,
        event: &Event,
    ) -> Result<HookReport, HookError> {
        self.driver
            .run_hook(&self.source, self.rev, backend, setup, event)
    }
}
