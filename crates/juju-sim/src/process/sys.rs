//! The few system calls the process driver needs that the standard library does not offer: a
//! UTS namespace with its own hostname for each hook, the exit status and peak memory of a hook
//! process (`wait4`), and killing a hook's process group. This is the crate's only unsafe code.

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

/// Waits for process `pid` (a child of this process) and reaps it.
pub(crate) fn wait(pid: i32) -> io::Result<Exit> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; zeroed is a valid value and wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers point to live, writable locals of the right types.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(Exit {
        code,
        signal,
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
    })
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

/// Whether any process of group `pgid` is still alive (a hook left something running).
pub(crate) fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks; no memory is involved.
    pgid > 1 && unsafe { libc::kill(-pgid, 0) } == 0
}
