//! `hemolink bench-ingest`: bulk-ingest throughput, the benchmark of issue 4.
//! The Synthea transaction Bundles of `--data` are replayed with fresh ids
//! (every UUID of a Bundle, fullUrls and identifiers alike, replaced by a new
//! one, so each replay is new patients) until `--resources` resources:
//!
//! 1. **over HTTP**: `--clients` keep-alive clients post the Bundles to a
//!    freshly started server; resources/s, Bundle latency, commits/s and
//!    fsyncs per resource (the server's `/metrics`), the server's peak RSS;
//! 2. **through `hemolink load`**: the same number of Bundles written to files
//!    and loaded by `hemolink load --data-dir` into a fresh store (its own
//!    summary gives commits and fsyncs; its peak RSS is polled from `/proc`);
//! 3. **the SQLite floor**: the index rows of the store `hemolink load` wrote,
//!    replayed by SQLite alone into an empty database with the store's
//!    settings, as many resources a commit as the load had, then as many as
//!    `--clients` whole Bundles (the most the clients can have in one commit)
//!    ([`crate::store::sqlite::floor`]): the fastest any path of this store
//!    could maintain this index;
//! 4. **one large transaction**: `--entries` entries (whole patient Bundles
//!    joined) posted to a fresh server, whose peak RSS is reset before the
//!    request, against the budget of 64 MiB plus twice the body.
//!
//! The disk's fsync rate is measured first, in the same run.

use super::load::counters;
use super::search::say;
use super::{ServerProcess, fsync_probe, proc_status_kb, reset_peak_rss, start_server};
use crate::client::Client;
use axum::http::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Options of `hemolink bench-ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// The folder of Synthea transaction Bundles to replay.
    #[arg(long, default_value = "../shared/data/synthea", value_name = "DIR")]
    pub data: PathBuf,
    /// Resources to ingest in each of the HTTP and `load` phases (0 skips both).
    #[arg(long, default_value_t = 500_000)]
    pub resources: u64,
    /// Concurrent clients (HTTP) and `hemolink load --clients`.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Entries of the single large transaction (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub entries: usize,
    /// Skip the `hemolink load` phase.
    #[arg(long)]
    pub skip_load: bool,
    /// Skip the HTTP phase.
    #[arg(long)]
    pub skip_http: bool,
    /// Seconds of the disk fsync probe.
    #[arg(long, default_value_t = 10)]
    pub fsync_seconds: u64,
    /// Where the stores and the `load` input go (removed afterwards unless --keep).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the work directory.
    #[arg(long)]
    pub keep: bool,
}

/// A Bundle's text cut at its UUIDs, so that a replay with fresh ones is a
/// concatenation.
struct Template {
    /// Text between the UUIDs: one more than `slots`.
    parts: Vec<String>,
    /// For each cut, which of the Bundle's distinct UUIDs goes there.
    slots: Vec<usize>,
    distinct: usize,
    resources: u64,
}

impl Template {
    fn new(text: &str, resources: u64) -> Template {
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut seen: std::collections::HashMap<&str, usize> = Default::default();
        let (mut start, mut i) = (0, 0);
        while i + 36 <= bytes.len() {
            if is_uuid(&bytes[i..i + 36]) {
                let n = seen.len();
                let slot = *seen.entry(&text[i..i + 36]).or_insert(n);
                parts.push(text[start..i].to_string());
                slots.push(slot);
                i += 36;
                start = i;
            } else {
                i += 1;
            }
        }
        parts.push(text[start..].to_string());
        Template {
            parts,
            slots,
            distinct: seen.len(),
            resources,
        }
    }

    /// The Bundle with a fresh UUID for each distinct one.
    fn render(&self) -> String {
        let fresh: Vec<String> = (0..self.distinct)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let mut out = String::with_capacity(self.parts.iter().map(String::len).sum::<usize>());
        for (part, slot) in self.parts.iter().zip(&self.slots) {
            out.push_str(part);
            out.push_str(&fresh[*slot]);
        }
        out.push_str(self.parts.last().map_or("", String::as_str));
        out
    }
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
    })
}

/// The transaction Bundles of `dir`, as templates, in name order.
fn templates(dir: &Path) -> Result<Vec<Template>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let bundle: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        if bundle["resourceType"] == "Bundle" && bundle["type"] == "transaction" {
            let n = bundle["entry"].as_array().map_or(0, Vec::len) as u64;
            out.push(Template::new(&text, n));
        }
    }
    if out.is_empty() {
        return Err(format!("no transaction Bundle in {}", dir.display()));
    }
    Ok(out)
}

/// Runs the benchmark and prints its report (Markdown).
pub fn run(args: &IngestArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ingest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &IngestArgs) -> Result<(), String> {
    let templates = Arc::new(templates(&args.data)?);
    let work = args.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("hemolink-bench-ingest-{}", std::process::id()))
    });
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let per_round: u64 = templates.iter().map(|t| t.resources).sum();
    say(format!(
        "# hemolink bench-ingest: {} Bundles of {} ({per_round} resources a round) replayed to {} resources, {} clients; work in {}",
        templates.len(),
        args.data.display(),
        args.resources,
        args.clients,
        work.display()
    ));
    let fsyncs = fsync_probe(&work, args.fsync_seconds).map_err(|e| format!("fsync probe: {e}"))?;
    say(format!(
        "\ndisk: {fsyncs:.0} fdatasync/s (4 KiB appends, {} s, on the work directory's filesystem)\n",
        args.fsync_seconds
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if args.resources > 0 {
        say(
            "| path | resources | Bundles | seconds | resources/s | Bundle p50 ms | Bundle p99 ms \
             | commits/s | resources per commit | fsyncs per resource | peak RSS MB |",
        );
        say("|---|---|---|---|---|---|---|---|---|---|---|");
        if !args.skip_http {
            let dir = work.join("http");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let (server, _) = start_server(&dir, &[])?;
            let r = rt.block_on(over_http(&server, &templates, args))?;
            say(r);
            drop(server);
            let _ = std::fs::remove_dir_all(&dir);
        }
        if !args.skip_load {
            let (r, per_commit) = through_load(&work, &templates, args)?;
            say(r);
            say(floor(&work, per_commit)?);
            let per_bundle = args.resources / bundles_for(&templates, args.resources).max(1) as u64;
            say(floor(&work, per_bundle * args.clients as u64)?);
            if !args.keep {
                let _ = std::fs::remove_dir_all(work.join("load-store"));
            }
        }
    }
    if args.entries > 0 {
        say(one_transaction(&rt, &work, &templates, args.entries)?);
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// The rounds needed for `resources`: Bundles are taken in turn from the
/// templates until that many resources are reached.
fn bundles_for(templates: &[Template], resources: u64) -> usize {
    let mut n = 0;
    let mut total = 0;
    while total < resources {
        total += templates[n % templates.len()].resources;
        n += 1;
    }
    n
}

async fn over_http(
    server: &ServerProcess,
    templates: &Arc<Vec<Template>>,
    args: &IngestArgs,
) -> Result<String, String> {
    let addr = server.addr;
    let bundles = bundles_for(templates, args.resources);
    let next = Arc::new(AtomicUsize::new(0));
    let resources = Arc::new(AtomicU64::new(0));
    let before = counters(addr).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (next, resources, templates) = (next.clone(), resources.clone(), templates.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await?;
            let mut latencies = Vec::new();
            let json = [("content-type", "application/fhir+json")];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bundles {
                    return Ok::<_, String>(latencies);
                }
                let t = &templates[i % templates.len()];
                let body = t.render();
                let sent = Instant::now();
                let r = client.send(Method::POST, "/", &json, body).await?;
                if !r.status.is_success() {
                    return Err(format!("Bundle {i}: {} {}", r.status, r.text()));
                }
                latencies.push(sent.elapsed());
                resources.fetch_add(t.resources, Ordering::Relaxed);
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    let after = counters(addr).await?;
    latencies.sort_unstable();
    let peak = proc_status_kb(server.child.id(), "VmHWM:").unwrap_or(0);
    Ok(row(
        "HTTP",
        resources.load(Ordering::Relaxed),
        bundles,
        elapsed,
        Some(&latencies),
        (after.commits - before.commits, after.syncs - before.syncs),
        peak,
    ))
}

/// A row of the table.
fn row(
    path: &str,
    resources: u64,
    bundles: usize,
    elapsed: Duration,
    latencies: Option<&[Duration]>,
    store: (u64, u64),
    peak_kb: u64,
) -> String {
    let secs = elapsed.as_secs_f64();
    let pct = |p: f64| match latencies.and_then(|l| Some(l[super::rank(l.len(), p)?])) {
        Some(d) => format!("{:.1}", d.as_secs_f64() * 1000.0),
        None => "-".into(),
    };
    let (commits, syncs) = store;
    format!(
        "| {path} | {resources} | {bundles} | {secs:.1} | {:.0} | {} | {} | {:.1} | {:.1} | {:.4} | {:.1} |",
        resources as f64 / secs,
        pct(0.5),
        pct(0.99),
        commits as f64 / secs,
        resources as f64 / commits.max(1) as f64,
        syncs as f64 / resources.max(1) as f64,
        peak_kb as f64 / 1024.0
    )
}

/// Writes the Bundles to files and times `hemolink load` on them into
/// `load-store` (left for [`floor`]); its row and resources per commit.
fn through_load(
    work: &Path,
    templates: &[Template],
    args: &IngestArgs,
) -> Result<(String, u64), String> {
    let input = work.join("load-input");
    let store = work.join("load-store");
    let _ = std::fs::remove_dir_all(&input);
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&input).map_err(|e| e.to_string())?;
    let bundles = bundles_for(templates, args.resources);
    for i in 0..bundles {
        let body = templates[i % templates.len()].render();
        std::fs::write(input.join(format!("{i:07}.json")), body).map_err(|e| e.to_string())?;
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["load", "--log-level", "warn", "--data-dir"])
        .arg(&store)
        .arg("--clients")
        .arg(args.clients.to_string())
        .arg(&input)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start hemolink load: {e}"))?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = proc_status_kb(pid, "VmHWM:") {
            peak = peak.max(kb);
        }
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let elapsed = started.elapsed();
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    if !status.success() {
        return Err(format!("hemolink load failed: {out}"));
    }
    let number = |after: &str| -> u64 {
        out.split(after)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let resources = number("loaded ");
    let commits = number("store: ");
    let syncs = out
        .split("commits (")
        .nth(1)
        .and_then(|rest| rest.split("), ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let r = row(
        "`hemolink load`",
        resources,
        bundles,
        elapsed,
        None,
        (commits, syncs),
        peak,
    );
    if !args.keep {
        let _ = std::fs::remove_dir_all(&input);
    }
    Ok((r, resources / commits.max(1)))
}

/// The SQLite floor: the index rows of `load-store` replayed, `per_commit`
/// resources a commit, as a row of the table.
fn floor(work: &Path, per_commit: u64) -> Result<String, String> {
    let out = work.join("floor");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let f = crate::store::sqlite::floor::replay_index(
        &work.join("load-store"),
        &out.join(crate::store::sqlite::DB_FILE),
        per_commit,
    )
    .map_err(|e| format!("floor: {e}"))?;
    let _ = std::fs::remove_dir_all(&out);
    let secs = f.elapsed.as_secs_f64();
    Ok(format!(
        "| SQLite floor: the load's {} index rows alone | {} | - | {secs:.1} | {:.0} | - | - | {:.1} | {:.1} | - | - |",
        f.rows,
        f.resources,
        f.resources as f64 / secs,
        f.commits as f64 / secs,
        f.resources as f64 / f.commits.max(1) as f64,
    ))
}

/// One transaction of `entries` entries (patient Bundles joined, each with
/// fresh UUIDs) posted to a fresh server; its peak RSS during the request.
fn one_transaction(
    rt: &tokio::runtime::Runtime,
    work: &Path,
    templates: &[Template],
    entries: usize,
) -> Result<String, String> {
    let mut all = Vec::with_capacity(entries);
    let mut i = 0;
    while all.len() < entries {
        let t = &templates[i % templates.len()];
        i += 1;
        let mut bundle: Value = serde_json::from_str(&t.render()).map_err(|e| e.to_string())?;
        if let Value::Array(list) = bundle["entry"].take() {
            let room = entries - all.len();
            all.extend(list.into_iter().take(room));
        }
    }
    let body = serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": all})
        .to_string();
    let dir = work.join("one-transaction");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (server, _) = start_server(&dir, &[])?;
    let pid = server.child.id();
    reset_peak_rss(pid).map_err(|e| format!("cannot reset the server's peak RSS: {e}"))?;
    let before = proc_status_kb(pid, "VmRSS:").unwrap_or(0);
    let size = body.len();
    let started = Instant::now();
    let status = rt.block_on(async {
        let mut c = Client::connect(server.addr).await?;
        let r = c
            .send(
                Method::POST,
                "/",
                &[
                    ("content-type", "application/fhir+json"),
                    ("prefer", "return=minimal"),
                ],
                body,
            )
            .await?;
        Ok::<_, String>(r.status)
    })?;
    let elapsed = started.elapsed();
    let peak = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    if !status.is_success() {
        return Err(format!(
            "the {entries}-entry transaction was answered {status}"
        ));
    }
    let budget = 64.0 + 2.0 * size as f64 / (1024.0 * 1024.0);
    let peak_mib = peak as f64 / 1024.0;
    Ok(format!(
        "\none transaction of {entries} entries ({:.1} MiB): {:.2} s ({:.0} resources/s); server RSS before {:.1} MiB, peak during {peak_mib:.1} MiB; budget 64 MiB + 2 × body = {budget:.1} MiB: {}",
        size as f64 / (1024.0 * 1024.0),
        elapsed.as_secs_f64(),
        entries as f64 / elapsed.as_secs_f64(),
        before as f64 / 1024.0,
        if peak_mib < budget { "met" } else { "not met" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_changes_every_uuid_consistently() {
        let text = r#"{"a":"urn:uuid:0f0e0d0c-0b0a-4909-8807-060504030201","b":"Patient/0f0e0d0c-0b0a-4909-8807-060504030201","c":"11111111-2222-4333-8444-555555555555"}"#;
        let t = Template::new(text, 1);
        assert_eq!(t.distinct, 2);
        let out: Value = serde_json::from_str(&t.render()).unwrap();
        let a = out["a"].as_str().unwrap().trim_start_matches("urn:uuid:");
        let b = out["b"].as_str().unwrap().trim_start_matches("Patient/");
        assert_eq!(a, b);
        assert_ne!(a, "0f0e0d0c-0b0a-4909-8807-060504030201");
        assert_ne!(out["c"], "11111111-2222-4333-8444-555555555555");
        assert_ne!(out["c"].as_str().unwrap(), a);
    }
}
