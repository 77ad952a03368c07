//! `hemolink bench`: the benchmark of the REST core. It starts the real server
//! binary as a child process on a fresh data directory (so its memory and
//! start-up are its own), measures the disk's fsync rate in the same run, then
//! drives create, read and update with concurrent keep-alive clients, first on
//! an empty store and then on one holding `--preload` resources. It reports
//! requests/s, p50/p99 latency, commits/s and fsyncs per acknowledged write
//! (from the server's `/metrics`), start-to-ready time and RSS.

mod fan_in;
pub mod ingest;
mod load;
pub mod mllp;
pub mod search;
mod wait;

use crate::client::Client;
use axum::http::Method;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Options of `hemolink bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Resources in the store for the second round.
    #[arg(long, default_value_t = 100_000)]
    pub preload: usize,
    /// Seconds of the disk fsync probe (4 KiB appends, each followed by fdatasync).
    #[arg(long, default_value_t = 10)]
    pub fsync_seconds: u64,
    /// Run the server with auditing on (an AuditEvent per request).
    #[arg(long)]
    pub with_audit: bool,
}

/// The server arguments of `--audit`.
pub fn audit_args(audit: bool) -> &'static [&'static str] {
    if audit { &["--audit", "on"] } else { &[] }
}

/// The server under test.
struct ServerProcess {
    child: Child,
    addr: std::net::SocketAddr,
    /// The MLLP listener's address, when one was asked for.
    mllp: Option<std::net::SocketAddr>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in kB.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets a process's peak RSS (`VmHWM`) to its current RSS, so that the next
/// reading is the peak of what follows.
fn reset_peak_rss(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

/// The position of the `p` quantile (nearest rank) among `len` sorted values;
/// `None` when there are none.
fn rank(len: usize, p: f64) -> Option<usize> {
    (len > 0).then(|| ((len as f64 * p).ceil() as usize).clamp(1, len) - 1)
}

/// The disk's limit: 4 KiB appends each followed by fdatasync, for `seconds`.
fn fsync_probe(dir: &Path, seconds: u64) -> std::io::Result<f64> {
    use std::os::unix::fs::FileExt;
    let path = dir.join("fsync-probe");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    let block = [0x5au8; 4096];
    let started = Instant::now();
    let mut n: u64 = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        file.write_all_at(&block, n * 4096)?;
        file.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Starts `hemolink serve` on `data_dir` (with `extra` arguments) and waits
/// until it is ready: the process and how long that took.
fn start_server(data_dir: &Path, extra: &[&str]) -> Result<(ServerProcess, Duration), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("listening on http://")
                .nth(1)
                .and_then(|a| a.trim().parse().ok())
        })
        .ok_or("the server did not say where it listens")?;
    let mut mllp = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(a) = line.split("listening on mllp://").nth(1) {
            mllp = a.trim().parse().ok();
        }
        if line.starts_with("data in") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let process = ServerProcess { child, addr, mllp };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        loop {
            if let Ok(mut c) = Client::connect(addr).await
                && let Ok(r) = c.send(Method::GET, "/ready", &[], "").await
                && r.status.is_success()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("the server was not ready within 30 s".to_string());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })?;
    Ok((process, started.elapsed()))
}

/// Runs the benchmark and prints its report (Markdown). The server keeps its
/// data in `data_dir` (`--data-dir`), else in a new folder of the system's temp
/// directory that is removed afterwards.
pub fn run(args: &BenchArgs, data_dir: Option<PathBuf>) -> ExitCode {
    match run_inner(args, data_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &BenchArgs, given: Option<PathBuf>) -> Result<(), String> {
    let keep = given.is_some();
    let data_dir = given.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hemolink-bench-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let say = |s: String| {
        println!("{s}");
        let _ = std::io::stdout().flush();
    };
    say(format!(
        "# hemolink bench: {} clients, {} s per phase, data in {}",
        args.clients,
        args.seconds,
        data_dir.display()
    ));
    let fsyncs =
        fsync_probe(&data_dir, args.fsync_seconds).map_err(|e| format!("fsync probe: {e}"))?;
    say(format!(
        "disk: {fsyncs:.0} fdatasync/s (4 KiB appends, {} s, on the data directory's filesystem)",
        args.fsync_seconds
    ));
    say(format!(
        "auditing: {}",
        if args.with_audit { "on" } else { "off" }
    ));
    let (server, ready) = start_server(&data_dir, audit_args(args.with_audit))?;
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    say(format!(
        "start to ready: {} ms; idle RSS: {:.1} MB",
        ready.as_millis(),
        idle_rss as f64 / 1024.0
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    say("\n| store | operation | requests/s | p50 ms | p99 ms | errors | commits/s | writes per commit | fsyncs per write |".into());
    say("|---|---|---|---|---|---|---|---|---|".into());
    let phase = Duration::from_secs(args.seconds);
    let mut ids = Vec::new();
    for (label, preload) in [("empty", 0usize), ("preloaded", args.preload)] {
        if preload > 0 {
            let t = Instant::now();
            let have = ids.len();
            let more = rt.block_on(load::fill(
                server.addr,
                args.clients,
                preload.saturating_sub(have),
            ))?;
            ids.extend(more);
            say(format!(
                "| | (preload to {} resources: {:.0} creates/s) | | | | | | | |",
                ids.len(),
                (ids.len() - have) as f64 / t.elapsed().as_secs_f64()
            ));
        }
        let label = if preload > 0 {
            format!("{} resources", ids.len())
        } else {
            label.to_string()
        };
        for op in [load::Op::Create, load::Op::Read, load::Op::Update] {
            let r = rt.block_on(load::phase(server.addr, args.clients, phase, op, &ids))?;
            if op == load::Op::Create {
                ids.extend(r.created.iter().cloned());
            }
            say(r.row(&label));
        }
    }
    let peak = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    let now = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    say(format!(
        "\nserver peak RSS: {:.1} MB; RSS at the end: {:.1} MB",
        peak as f64 / 1024.0,
        now as f64 / 1024.0
    ));
    drop(server);
    if !keep {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    Ok(())
}
