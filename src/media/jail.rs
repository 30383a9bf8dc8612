//! The media jail: decoders written in C or C++ (libheif's `heif-convert`,
//! `ffmpeg`, `ffprobe`) never run inside porch's own process. Each job is a
//! child process, `porch media-jail …`, that first limits itself and then
//! becomes the decoder (`exec`), so the limits hold before the decoder reads
//! a byte:
//!
//! - address space (`media.max_memory` plus room for the program itself),
//!   CPU time (`media.timeout`), the size of any file it writes (the output,
//!   at most `media.max_input`), 64 open files, no core dumps;
//! - no network: a seccomp filter refuses `socket`, `socketpair`,
//!   `io_uring_setup`, and `ptrace` and `process_vm_*` (no reaching into
//!   porch, which runs as the same user), with `no_new_privs` set;
//! - an empty environment, and an empty private folder as its working
//!   folder, where it writes its output;
//! - its input is a file opened by porch and given as standard input: the
//!   decoder reads `/dev/stdin` and cannot name the blob store.
//!
//! A long job (an H.264 copy of a video) gets a budget of its own: more
//! processor time and a larger output, at the lowest CPU priority (nice 19,
//! set in the child before `exec`), so the family's pages stay quick.
//!
//! porch waits for it with a wall-clock deadline and kills it (and its
//! process group: anything it started) when that passes. A crash, a hang or a hostile file costs that one job, which
//! answers with a [`MediaError`] that says what happened.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{MediaError, MediaLimits};

/// The hidden subcommand of the porch binary that runs a decoder jailed.
pub const SUBCOMMAND: &str = "media-jail";

/// Address space a decoder gets beyond `media.max_memory`: its own code,
/// libraries and thread stacks are mapped before it decodes anything.
const PROGRAM_ROOM: u64 = 768 << 20;

/// The most a decoder may print on standard output (ffprobe's JSON) or
/// standard error (kept for the error message).
const MAX_PRINTED: u64 = 1 << 20;

/// One decoder run.
pub struct Job<'a> {
    /// What the job is, for messages: "reading the HEIC picture".
    pub what: &'a str,
    /// The decoder program (a name looked up in PATH, or a path).
    pub program: &'a Path,
    /// Its arguments; it reads its input as `/dev/stdin`.
    pub args: Vec<OsString>,
    /// What it reads on standard input.
    pub input: File,
    /// The file it writes in its working folder, if any.
    pub output: Option<&'a str>,
}

/// Set when porch stops: every running job is stopped at once, so a long
/// H.264 copy never holds up shutdown (and none outlives porch: the child
/// also asks the kernel to kill it when its parent goes).
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops every running job and refuses new ones (porch is shutting down).
pub fn stop_all() {
    STOPPING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether porch is stopping (jobs are refused and stopped).
pub fn is_stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::SeqCst)
}

/// What one job may use: processor seconds, wall-clock time, the largest
/// file it may write, and its niceness.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub cpu: Duration,
    pub wall: Duration,
    pub file_size: u64,
    pub nice: i32,
}

impl Budget {
    /// A decode or probe: `media.timeout`, output at most `media.max_input`.
    pub fn quick(limits: &MediaLimits) -> Budget {
        Budget { cpu: limits.timeout, wall: limits.timeout, file_size: limits.max_input, nice: 0 }
    }

    /// A transcode: `media.transcode_timeout`, output at most
    /// `media.max_video`, at the lowest priority.
    pub fn background(limits: &MediaLimits) -> Budget {
        Budget { cpu: limits.transcode_timeout, wall: limits.transcode_timeout, file_size: limits.max_video, nice: 19 }
    }
}

/// What a finished decoder left.
#[derive(Debug)]
pub struct Done {
    /// Its standard output (at most 1 MiB).
    pub stdout: Vec<u8>,
    /// The file it wrote, if the job named one.
    pub output: Option<Vec<u8>>,
}

/// Runs `job` in a jailed child under `limits` and waits for it, at most
/// `media.timeout`.
pub fn run(job: Job<'_>, limits: &MediaLimits) -> Result<Done, MediaError> {
    let (what, output) = (job.what, job.output);
    let (folder, stdout) = run_in(job, limits, Budget::quick(limits))?;
    let output = match output {
        Some(name) => Some(read_output(&folder.path().join(name), what, limits)?),
        None => None,
    };
    Ok(Done { stdout, output })
}

/// Runs `job` under `budget` and hands back the file it wrote (named by
/// `job.output`) in the job's own folder, which lives as long as the
/// returned `TempDir`: for outputs too large to hold in memory.
pub fn run_to_file(
    job: Job<'_>,
    limits: &MediaLimits,
    budget: Budget,
) -> Result<(tempfile::TempDir, PathBuf), MediaError> {
    let (what, output) = (job.what, job.output.unwrap_or("out"));
    let (folder, _) = run_in(job, limits, budget)?;
    let path = folder.path().join(output);
    if !path.is_file() {
        return Err(MediaError::Invalid(format!("{what} failed: the decoder wrote nothing; the file may be damaged")));
    }
    Ok((folder, path))
}

fn run_in(job: Job<'_>, limits: &MediaLimits, budget: Budget) -> Result<(tempfile::TempDir, Vec<u8>), MediaError> {
    let exe = std::env::current_exe()
        .map_err(|e| MediaError::Unavailable(format!("porch cannot find its own program to start a decoder: {e}")))?;
    let folder = tempfile::Builder::new()
        .prefix("porch-media-")
        .tempdir()
        .map_err(|e| MediaError::Unavailable(format!("porch cannot make a folder for the decoder: {e}")))?;
    let program = resolve(job.program)?;
    let cpu = budget.cpu.as_secs().max(1);
    let mut command = Command::new(exe);
    command
        .arg(SUBCOMMAND)
        .arg(limits.max_memory.saturating_add(PROGRAM_ROOM).to_string())
        .arg(cpu.to_string())
        .arg(budget.file_size.to_string())
        .arg(budget.nice.to_string())
        .arg(&program)
        .args(&job.args)
        .env_clear()
        .current_dir(folder.path())
        .stdin(Stdio::from(job.input))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so whatever it starts is stopped with it.
        .process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| MediaError::Unavailable(format!("porch could not start {}: {e}", program.display())))?;
    let stdout = child.stdout.take().map(|out| std::thread::spawn(move || read_some(out)));
    let stderr = child.stderr.take().map(|err| std::thread::spawn(move || read_some(err)));
    let deadline = Instant::now() + budget.wall;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if is_stopping() => {
                stop_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(MediaError::Unavailable(format!("{} was stopped because porch is stopping", job.what)));
            }
            Ok(None) if Instant::now() >= deadline => {
                stop_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = child.kill();
                return Err(MediaError::Unavailable(format!("porch lost track of the decoder: {e}")));
            }
        }
    };
    // Anything the decoder left running (holding its output pipes open)
    // goes with it.
    stop_group(child.id());
    let stdout = stdout.and_then(|t| t.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let Some(status) = status else {
        return Err(MediaError::TooLarge(format!(
            "{} took longer than {:?}, so porch stopped it",
            job.what, budget.wall
        )));
    };
    check(status, job.what, &stderr, limits, budget)?;
    Ok((folder, stdout))
}

/// Kills the process group a decoder leads (it may have started others).
fn stop_group(leader: u32) {
    let group = i32::try_from(leader).ok().and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// The decoder's path: as configured when it has a slash, else found in
/// PATH (the child has no PATH of its own).
pub fn resolve(program: &Path) -> Result<PathBuf, MediaError> {
    if program.components().count() > 1 {
        return Ok(program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file()).ok_or_else(|| {
        MediaError::Unavailable(format!(
            "the program {} is not installed, so porch cannot read this kind of file (on Debian: {})",
            program.display(),
            install_hint(program)
        ))
    })
}

/// Runs `true` in the jail: proves the limits and the seccomp filter can
/// be set up on this system (`porch doctor`).
pub fn self_test(limits: &MediaLimits) -> Result<(), MediaError> {
    let input = input_file(b"")?;
    let job =
        Job { what: "the media jail's self-test", program: Path::new("true"), args: Vec::new(), input, output: None };
    run(job, limits).map(|_| ())
}

/// The Debian package that has a decoder program.
pub fn install_hint(program: &Path) -> &'static str {
    match program.file_name().and_then(|n| n.to_str()) {
        Some("heif-convert") => "apt install libheif-examples",
        Some("ffmpeg" | "ffprobe") => "apt install ffmpeg",
        _ => "install it, or set the path in porch.toml's [media]",
    }
}

fn read_some(from: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut limited = from.take(MAX_PRINTED);
    let _ = limited.read_to_end(&mut out);
    // Drain the rest so the child never blocks on a full pipe.
    let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
    out
}

fn check(
    status: ExitStatus,
    what: &str,
    stderr: &[u8],
    limits: &MediaLimits,
    budget: Budget,
) -> Result<(), MediaError> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return Ok(());
    }
    if let Some(signal) = status.signal() {
        return Err(match signal {
            libc::SIGXCPU => MediaError::TooLarge(format!(
                "{what} used more than {} s of processor time, so porch stopped it",
                budget.cpu.as_secs().max(1)
            )),
            libc::SIGXFSZ => MediaError::TooLarge(format!(
                "{what} would make a file larger than {} bytes, so porch stopped it",
                budget.file_size
            )),
            _ => MediaError::Invalid(format!(
                "{what} failed: the decoder stopped on this file (signal {signal}); the file may be damaged"
            )),
        });
    }
    let said = last_line(stderr);
    let lower = said.to_ascii_lowercase();
    if lower.contains("cannot allocate") || lower.contains("out of memory") || lower.contains("bad_alloc") {
        return Err(MediaError::TooLarge(format!(
            "{what} needs more memory than media.max_memory ({} bytes) allows",
            limits.max_memory
        )));
    }
    if said.is_empty() {
        Err(MediaError::Invalid(format!("{what} failed; the file may be damaged")))
    } else {
        Err(MediaError::Invalid(format!("{what} failed; the file may be damaged (the decoder said: {said})")))
    }
}

/// The last non-empty line a decoder printed, cut to 200 characters of
/// plain text.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    line.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn read_output(path: &Path, what: &str, limits: &MediaLimits) -> Result<Vec<u8>, MediaError> {
    let file = File::open(path).map_err(|_| {
        MediaError::Invalid(format!("{what} failed: the decoder wrote nothing; the file may be damaged"))
    })?;
    let mut out = Vec::new();
    file.take(limits.max_input.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| MediaError::Invalid(format!("{what} failed: its output could not be read ({e})")))?;
    if out.len() as u64 > limits.max_input {
        return Err(MediaError::TooLarge(format!("{what} made more than {} bytes", limits.max_input)));
    }
    Ok(out)
}

/// A file holding `bytes`, already unlinked, for a decoder's standard input.
pub fn input_file(bytes: &[u8]) -> Result<File, MediaError> {
    use std::io::{Seek, Write};
    let mut file = tempfile::tempfile()
        .map_err(|e| MediaError::Unavailable(format!("porch cannot make a file for the decoder: {e}")))?;
    file.write_all(bytes)
        .and_then(|()| file.rewind())
        .map_err(|e| MediaError::Unavailable(format!("porch cannot write a file for the decoder: {e}")))?;
    Ok(file)
}

/// The child side, `porch media-jail MEMORY CPU FSIZE NICE PROGRAM ARGS…`:
/// limit this process, then become PROGRAM. Returns only if that failed.
pub fn enter(args: &[OsString]) -> String {
    let number = |i: usize| args.get(i).and_then(|a| a.to_str()).and_then(|a| a.parse::<u64>().ok());
    let nice = args.get(3).and_then(|a| a.to_str()).and_then(|a| a.parse::<i32>().ok());
    let (Some(memory), Some(cpu), Some(fsize), Some(nice), Some(program)) =
        (number(0), number(1), number(2), nice, args.get(4))
    else {
        return "usage: porch media-jail MEMORY CPU-SECONDS FILE-SIZE NICE PROGRAM [ARGS…] (porch runs this itself)"
            .into();
    };
    if let Err(e) = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL)) {
        return format!("cannot tie the decoder to porch: {e}");
    }
    if nice > 0
        && let Err(e) = rustix::process::nice(nice)
    {
        return format!("cannot lower the decoder's priority: {e}");
    }
    use rlimit::Resource;
    let limits = [
        (Resource::AS, memory, memory),
        (Resource::CPU, cpu, cpu.saturating_add(1)),
        (Resource::FSIZE, fsize, fsize),
        (Resource::NOFILE, 64, 64),
        (Resource::CORE, 0, 0),
    ];
    for (resource, soft, hard) in limits {
        if let Err(e) = rlimit::setrlimit(resource, soft, hard) {
            return format!("cannot limit the decoder ({resource:?}): {e}");
        }
    }
    if let Err(e) = no_network() {
        return format!("cannot shut the decoder off from the network: {e}");
    }
    let e = Command::new(program).args(&args[5..]).exec();
    format!("cannot start {}: {e}", Path::new(program).display())
}

/// Installs the seccomp filter (and with it `no_new_privs`).
fn no_network() -> Result<(), String> {
    use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let refused = [
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_io_uring_setup,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
    ];
    let rules = refused.into_iter().map(|call| (call, Vec::new())).collect();
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EACCES as u32), arch)
        .map_err(|e| e.to_string())?;
    let program: seccompiler::BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}
