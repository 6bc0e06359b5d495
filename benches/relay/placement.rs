//! Where the relay bench's threads run (see `ASSENT_BENCH_RELAY_CORE` in
//! `benches/relay.rs`): which cores the relay and the endpoints get, and
//! moving running threads between them.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::RELAY_THREADS;

/// The relay's core as last set by [`CorePlacement::repin_running_threads`];
/// `usize::MAX` until then.
static CURRENT_RELAY_CORE: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Which cores the relay and the endpoints run on.
#[derive(Debug, Clone, Copy)]
pub enum CorePlacement {
    /// Wherever the scheduler puts them: everything shares every core.
    Shared,
    /// The relay alone on `core`; the endpoints on the other CPUs of
    /// `allowed` (this process's CPUs, bit n = CPU n, read before any
    /// pinning: a pinned thread sees fewer).
    RelayOn { core: usize, allowed: u64 },
}

impl CorePlacement {
    pub fn from_env() -> Self {
        let Ok(value) = std::env::var("ASSENT_BENCH_RELAY_CORE") else {
            return Self::Shared;
        };
        let allowed = allowed_cpus();
        match value.parse::<usize>() {
            Ok(core) if core < 64 && allowed & (1 << core) != 0 && allowed.count_ones() >= 2 => {
                Self::RelayOn { core, allowed }
            }
            _ => panic!(
                "ASSENT_BENCH_RELAY_CORE={value:?}: expected one of this process's CPUs \
                 (mask {allowed:#x}), and at least 2 of them"
            ),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::Shared => "placement: relay, host and viewer share every core".into(),
            Self::RelayOn { core, allowed } => {
                let next = next_cpu(core, allowed);
                format!(
                    "placement: relay threads on core {core} only; host, viewer and both direct \
                     endpoints on the other cores (every other forwarding transfer with the relay \
                     on core {next})"
                )
            }
        }
    }

    /// The same placement with the relay on the next of the allowed CPUs
    /// (with 2 CPUs: the relay's and the endpoints' cores swapped).
    pub fn relay_on_next_cpu(self) -> Self {
        match self {
            Self::Shared => Self::Shared,
            Self::RelayOn { core, allowed } => Self::RelayOn {
                core: next_cpu(core, allowed),
                allowed,
            },
        }
    }

    /// This placement with the relay on the core the summary last moved it
    /// to: threads that start later (tokio's blocking threads) follow it.
    pub fn current(self) -> Self {
        match (self, CURRENT_RELAY_CORE.load(Ordering::Relaxed)) {
            (Self::RelayOn { allowed, .. }, core) if core < 64 => Self::RelayOn { core, allowed },
            (placement, _) => placement,
        }
    }

    /// Moves this process's running threads to this placement: the relay's
    /// (by name) to its core, every other thread to the endpoints' cores.
    pub fn repin_running_threads(self) {
        let Self::RelayOn { core, allowed } = self else {
            return;
        };
        // Before the listing, so a thread starting meanwhile pins itself right.
        CURRENT_RELAY_CORE.store(core, Ordering::Relaxed);
        let tasks = std::fs::read_dir("/proc/self/task").expect("list this process's threads");
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let mask = if comm.trim_end() == RELAY_THREADS {
                1 << core
            } else {
                allowed & !(1 << core)
            };
            // A thread may have ended since the listing (tokio's idle blocking threads do).
            match pin_thread(tid, mask) {
                Err(error) if error.raw_os_error() != Some(libc::ESRCH) => {
                    panic!("sched_setaffinity for thread {tid}: {error}")
                }
                _ => {}
            }
        }
    }

    /// CPUs the whole bench runs on.
    pub fn cores(self) -> usize {
        match self {
            Self::Shared => machine_cores(),
            Self::RelayOn { allowed, .. } => allowed.count_ones() as usize,
        }
    }

    pub fn relay_cores(self) -> usize {
        match self {
            Self::Shared => machine_cores(),
            Self::RelayOn { .. } => 1,
        }
    }

    pub fn endpoint_cores(self) -> usize {
        match self {
            Self::Shared => machine_cores(),
            Self::RelayOn { allowed, .. } => allowed.count_ones() as usize - 1,
        }
    }

    pub fn pin_relay(self) {
        if let Self::RelayOn { core, .. } = self {
            pin_current_thread(1 << core);
        }
    }

    pub fn pin_endpoints(self) {
        if let Self::RelayOn { core, allowed } = self {
            pin_current_thread(allowed & !(1 << core));
        }
    }
}

/// The CPU after `core` in `allowed` (bit n = CPU n), wrapping around.
fn next_cpu(core: usize, allowed: u64) -> usize {
    (1..64)
        .map(|step| (core + step) % 64)
        .find(|&cpu| allowed & (1 << cpu) != 0)
        .unwrap_or(core)
}

/// Cores this process may use (before any pinning).
fn machine_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The calling thread's CPUs as a bit mask (CPUs 0..64).
fn allowed_cpus() -> u64 {
    // SAFETY: `cpu_set_t` is plain bits; sched_getaffinity(0, ..) writes at
    // most its size for the calling thread, CPU_ISSET reads within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let result = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        assert_eq!(
            result,
            0,
            "sched_getaffinity: {}",
            std::io::Error::last_os_error()
        );
        (0..64)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .fold(0, |mask, cpu| mask | 1 << cpu)
    }
}

/// Restricts the calling thread to the CPUs in `mask`.
fn pin_current_thread(mask: u64) {
    if let Err(error) = pin_thread(0, mask) {
        panic!("sched_setaffinity: {error}");
    }
}

/// Restricts thread `tid` of this process (0: the calling one) to the CPUs in `mask`.
fn pin_thread(tid: libc::pid_t, mask: u64) -> std::io::Result<()> {
    // SAFETY: as in `allowed_cpus`; sched_setaffinity(tid, ..) reads the set.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for cpu in (0..64).filter(|&cpu| mask & (1 << cpu) != 0) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
