//! What the hub and `coopmux session` do to their own process before anything else
//! (docs/security.md, "Agents inside sessions"): the agents run as the same user, and any
//! process of that user may read `/proc/<pid>/environ` and `/proc/<pid>/mem` of a dumpable
//! process, which would hand it the hub's token or the session's registration token.

/// Variables holding the hub's secrets: read once at start (by clap), then removed from the
/// environment so that nothing this process starts inherits them.
const SECRET_VARS: [&str; 4] = [
    "COOP_MUX_AUTH_TOKEN",
    "COOP_MUX_NATS_TOKEN",
    "COOP_MUX_NATS_PASSWORD",
    "COOP_MUX_NATS_RELAY_TOKEN",
];

/// Marks the process non-dumpable, as ssh-agent does: `/proc/<pid>/environ`, `mem`, `maps`
/// and ptrace are then refused to every process without `CAP_SYS_PTRACE`, the same user's
/// included, and no core dump is written. Children get the flag reset by `execve`, so the
/// agents themselves are unaffected. A failure is logged, not fatal.
pub fn make_undumpable() {
    #[cfg(target_os = "linux")]
    if let Err(err) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("cannot mark the process non-dumpable: {err}");
    }
}

/// Removes the hub's secret variables from this process's environment. Call it before any
/// thread starts (the environment is not thread-safe), after the command line was parsed.
pub fn forget_secret_vars() {
    for name in SECRET_VARS {
        std::env::remove_var(name);
    }
}

/// Hands the allocator's free pages back to the system. glibc keeps what a burst freed (ten
/// thousand registrations' bodies, handshakes and replies) resident until it is trimmed, so an
/// idle hub would carry the peak of its busiest minute (docs/architecture.md, "What a session
/// costs"). The hub calls it after each health sweep; it walks the heap once, a few
/// milliseconds at ten thousand sessions.
#[allow(unsafe_code)]
pub fn trim_heap() {
    // SAFETY: malloc_trim takes and returns plain integers and only releases memory the
    // allocator itself holds free; no pointer of ours is involved.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}
