//! The two system calls [`crate::run_with_timeout`] needs that the standard library does not
//! offer: seeing that a child has exited without reaping it, and killing a process group. This
//! is the crate's only unsafe code.

#![allow(unsafe_code)]

use std::io;

/// Whether child process `pid` has exited, without reaping it (`waitid` with `WNOWAIT`).
///
/// While the child stays unreaped its pid, which is also its process group's id, cannot be given
/// to another process, so [`kill_group`] cannot reach a stranger's group.
pub(crate) fn has_exited(pid: u32) -> io::Result<bool> {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: siginfo_t is plain data; zeroed is a valid value, and waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a live, writable local of the right type.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                id,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 {
            // With WNOHANG, si_pid stays 0 while the child runs.
            // SAFETY: waitid succeeded, so `info` is initialised for a SIGCHLD-style record.
            return Ok(unsafe { info.si_pid() } != 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Sends SIGKILL to every process of group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}
