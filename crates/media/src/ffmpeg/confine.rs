//! Confines the ffmpeg/ffprobe child beyond its rlimits: an empty environment, a Landlock
//! domain that lets it read only its input and the system's program directories and write only
//! its own temporary directory and its output, and a network namespace of its own.
//!
//! Everything that allocates (opening the allowed paths, building the Landlock ruleset) happens
//! in the parent, before `fork`. The child, between `fork` and `exec`, only makes raw system
//! calls on values prepared for it: `unshare(2)`, `prctl(2)`, `landlock_restrict_self(2)` and
//! `write(2)`, all async-signal-safe. That is why the ruleset is handed over as a file
//! descriptor and enforced with the raw system call rather than with the `landlock` crate's
//! `restrict_self` (which is allocation-free today but does not promise to stay so).
//!
//! Where the kernel lacks Landlock, or a network namespace cannot be made (non-root in a
//! container without user namespaces), the child runs without that layer and one warning is
//! logged for the life of the process. The format and protocol whitelists on ffmpeg's command
//! line remain; this is the second wall behind them.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Once;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope,
};

/// The Landlock ABI whose rights are requested (Linux 6.12): files, truncation, device ioctls,
/// TCP bind/connect, abstract UNIX sockets and signals. Older kernels enforce what they know.
const TARGET_ABI: ABI = ABI::V6;

/// Directories the child may read and execute from: programs, shared libraries, the locale and
/// codec data ffmpeg's libraries load. Nothing of the service's own (data dir, config, keys).
const SYSTEM_READ_DIRS: [&str; 7] = [
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin",
];
/// Single files and small trees the dynamic loader and libc read at start, and CPU topology
/// (used to size codec thread pools). `/proc` is left out: `/proc/<pid>/environ` of the parent
/// would hand back the secrets the empty environment keeps away.
const SYSTEM_READ_FILES: [&str; 6] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/sys/devices/system/cpu",
    "/dev/urandom",
];
/// The environment of the child, in full.
pub(super) const CHILD_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What the child may touch, resolved before the fork.
#[derive(Debug)]
pub(super) struct Confinement {
    /// The Landlock ruleset to enforce; `None` where the kernel has no Landlock.
    landlock: Option<OwnedFd>,
    /// Reports back which network isolation the child got (one byte, see [`NetIsolation`]).
    status: Option<io::PipeWriter>,
}

/// The network isolation a child got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NetIsolation {
    /// Its own network namespace (no interface but a down loopback).
    Namespace,
    /// Its own user and network namespaces (how a non-root service gets one).
    UserNamespace,
    /// None could be made: only Landlock's TCP rules (kernels with ABI ≥ 4) keep it off the net.
    Unavailable,
}

impl NetIsolation {
    fn byte(self) -> u8 {
        match self {
            NetIsolation::Namespace => b'n',
            NetIsolation::UserNamespace => b'u',
            NetIsolation::Unavailable => b'-',
        }
    }

    fn from_byte(b: u8) -> Self {
        match b {
            b'n' => NetIsolation::Namespace,
            b'u' => NetIsolation::UserNamespace,
            _ => NetIsolation::Unavailable,
        }
    }
}

/// Reads the child's report of its network isolation (after a successful spawn).
#[derive(Debug)]
pub(super) struct StatusReader(io::PipeReader);

impl StatusReader {
    /// The isolation the child reported; logs one warning per process when there was none.
    pub fn read(mut self) -> NetIsolation {
        let mut byte = [0u8; 1];
        let isolation = match self.0.read(&mut byte) {
            Ok(1) => NetIsolation::from_byte(byte[0]),
            _ => NetIsolation::Unavailable,
        };
        if isolation == NetIsolation::Unavailable {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "ffmpeg runs without a network namespace of its own (unshare failed; \
                     run as root or allow unprivileged user namespaces); only Landlock's TCP \
                     rules, where the kernel has them, keep it off the network"
                );
            });
        }
        isolation
    }
}

impl Confinement {
    /// Prepares the confinement of a child that runs `program`, reads the files `reads`, and
    /// writes the files `writes` and anything in `work_dir`.
    pub fn prepare(
        program: &Path,
        reads: &[&Path],
        writes: &[&Path],
        work_dir: &Path,
    ) -> io::Result<(Confinement, StatusReader)> {
        let (reader, writer) = io::pipe()?;
        let landlock = match ruleset(program, reads, writes, work_dir) {
            Ok(fd) => fd,
            Err(e) => {
                return Err(io::Error::other(format!(
                    "could not build the Landlock ruleset for ffmpeg: {e}"
                )));
            }
        };
        if landlock.is_none() {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "this kernel has no Landlock (Linux ≥ 5.13 with `landlock` in the LSM list): \
                     ffmpeg runs without filesystem confinement, behind its format and protocol \
                     whitelists only"
                );
            });
        }
        Ok((
            Confinement {
                landlock,
                status: Some(writer),
            },
            StatusReader(reader),
        ))
    }

    /// True when a Landlock domain will be enforced on the child.
    pub fn has_landlock(&self) -> bool {
        self.landlock.is_some()
    }

    /// Confines the calling process. Runs in the forked child, before exec: makes only raw
    /// system calls on values prepared by [`Confinement::prepare`], allocates nothing.
    #[allow(unsafe_code)]
    pub fn apply_in_child(&mut self) -> io::Result<()> {
        // SAFETY: unshare(2) takes flags only; it affects only this (single-threaded, forked)
        // process. CLONE_NEWUSER needs a single-threaded caller, which the child is.
        let isolation = if unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0 {
            NetIsolation::Namespace
        } else if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } == 0 {
            NetIsolation::UserNamespace
        } else {
            NetIsolation::Unavailable
        };
        if let Some(mut status) = self.status.take() {
            // write(2) on a pipe; the byte is read by the parent after the spawn succeeded.
            let _ = status.write(&[isolation.byte()]);
        }
        if let Some(fd) = &self.landlock {
            // SAFETY: prctl(2) with integer arguments; landlock_restrict_self(2) with a ruleset
            // file descriptor that this process owns (inherited from the parent, closed at
            // exec) and no flags.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::syscall(libc::SYS_landlock_restrict_self, fd.as_raw_fd(), 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

/// The Landlock ruleset as a file descriptor, or `None` where the kernel has no Landlock.
fn ruleset(
    program: &Path,
    reads: &[&Path],
    writes: &[&Path],
    work_dir: &Path,
) -> Result<Option<OwnedFd>, landlock::RulesetError> {
    let read_exec = AccessFs::from_read(TARGET_ABI);
    let read_file: BitFlags<AccessFs> = AccessFs::ReadFile.into();
    let write_file = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate;
    let mut created = Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET_ABI))?
        .handle_access(AccessNet::from_all(TARGET_ABI))?
        .scope(Scope::from_all(TARGET_ABI))?
        .create()?;
    // Paths that do not exist on this system are skipped (a missing program fails the spawn).
    let mut allow = |path: &Path, access: BitFlags<AccessFs>| -> Result<(), _> {
        match PathFd::new(path) {
            Ok(fd) => created
                .as_mut()
                .add_rule(PathBeneath::new(fd, access))
                .map(|_| ()),
            Err(_) => Ok(()),
        }
    };
    for dir in SYSTEM_READ_DIRS {
        allow(Path::new(dir), read_exec)?;
    }
    for file in SYSTEM_READ_FILES {
        allow(Path::new(file), read_file | AccessFs::ReadDir)?;
    }
    allow(
        Path::new("/dev/null"),
        AccessFs::ReadFile | AccessFs::WriteFile,
    )?;
    // The program itself, wherever it is (a custom ffmpeg build, a test script).
    allow(program, AccessFs::ReadFile | AccessFs::Execute)?;
    for path in reads {
        allow(path, read_file)?;
    }
    for path in writes {
        allow(path, write_file)?;
    }
    allow(work_dir, AccessFs::from_all(TARGET_ABI))?;
    Ok(created.into())
}

/// The environment the child gets, in full: a fixed `PATH`, the C locale, and its temporary
/// directory. Nothing of the service's (secrets, database URLs) reaches it.
pub(super) fn child_env(work_dir: &Path) -> [(&'static str, OsString); 3] {
    [
        ("PATH", CHILD_PATH.into()),
        ("LC_ALL", "C".into()),
        ("TMPDIR", work_dir.as_os_str().to_owned()),
    ]
}

/// Resolves a program name the way a shell would, in this process's `PATH` (the child has its
/// own fixed one), so that the exact file can be allowed by Landlock. Names with a `/` are
/// taken as paths.
pub(super) fn resolve_program(program: &Path) -> PathBuf {
    if program.components().count() > 1 || program.is_absolute() {
        return program.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| CHILD_PATH.into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| program.to_owned())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
