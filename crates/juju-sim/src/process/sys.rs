//! The few system calls the process driver needs that the standard library does not offer: a
//! UTS namespace with its own hostname for each hook, the exit status and peak memory of a hook
//! process without reaping it (`waitid` with `WNOWAIT`), reaping it later, and killing a hook's
//! process group. This is the crate's only unsafe code.

#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `command` start in a new UTS namespace whose hostname is `hostname`, as a unit on its
/// own machine sees its own name. Needs root (CAP_SYS_ADMIN).
pub(crate) fn in_uts_namespace(command: &mut Command, hostname: &str) {
    let name = hostname.as_bytes().to_vec();
    // SAFETY: between fork and exec the closure calls only unshare(2) and sethostname(2), which
    // are async-signal-safe system calls, and reads a buffer allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWUTS) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::sethostname(name.as_ptr().cast(), name.len()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// How a reaped process ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exit {
    /// The exit code, or `None` if a signal killed it.
    pub code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// Peak resident memory in KiB (`ru_maxrss`), the process and the children it waited for.
    pub max_rss_kib: u64,
}

/// Waits for process `pid` (a child of this process) to exit, WITHOUT reaping it: the exited
/// process stays a zombie, so its pid, which is also its process group's id, cannot be given to
/// another process until [`reap`] is called. The exit status and resource usage come from
/// `waitid(2)` with `WNOWAIT`, called directly because the C library's wrapper has no resource
/// usage argument.
pub(crate) fn wait_exit(pid: i32) -> io::Result<Exit> {
    // SAFETY: siginfo_t and rusage are plain data; zeroed is a valid value of each.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid(idtype, id, infop, options, rusage): both pointers point to live,
        // writable locals of the types the kernel writes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                libc::P_PID,
                pid,
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED | libc::WNOWAIT,
                &mut usage as *mut libc::rusage,
            )
        };
        if r == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // SAFETY: waitid succeeded for a child that exited: `info` holds a SIGCHLD record.
    let status = unsafe { info.si_status() };
    let (code, signal) = match info.si_code {
        libc::CLD_EXITED => (Some(status), None),
        libc::CLD_KILLED | libc::CLD_DUMPED => (None, Some(status)),
        _ => (None, None),
    };
    Ok(Exit {
        code,
        signal,
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

/// Reaps child `pid`, which has exited ([`wait_exit`] saw it): from now on its pid may be reused,
/// so its process group must not be signalled any more.
pub(crate) fn reap(pid: i32) {
    loop {
        // SAFETY: waitpid with a null status pointer writes nothing.
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if r == pid || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// The process groups that have at least one live (not zombie) process, from `/proc`; `None`
/// when `/proc` cannot be read.
pub(crate) fn live_groups() -> Option<std::collections::HashSet<i32>> {
    let mut groups = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may end while the directory is read: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (Some(state), Some(_ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if matches!(state, "Z" | "X" | "x") {
            continue;
        }
        if let Ok(g) = pgrp.parse() {
            groups.insert(g);
        }
    }
    Some(groups)
}

/// Sends SIGKILL to every process in process group `pgid` (a hook and what it started).
pub(crate) fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
