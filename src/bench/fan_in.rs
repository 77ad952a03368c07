//! The fan-in part of `hemolink bench-search`: one Patient that N Observations
//! refer to, and `Patient?_id=hub&_revinclude=Observation:subject` walked to
//! its last page, for each N of `--fan-in`. The Observations are created over
//! HTTP by `--clients` keep-alive clients, and each walk checks that it saw
//! the one match and all N referrers.
//!
//! Each N is walked twice, each time on a freshly started server (not the one
//! that wrote the Observations): with the
//! default page budget (`--max-included` 1000), and with a budget above N, so
//! that every referrer lands on one page, as on a server that does not page
//! its includes (up to [`ONE_PAGE_UP_TO`] referrers). Before a walk the server's peak RSS is reset (`5` written to
//! `/proc/PID/clear_refs`), so the VmHWM read after it is the walk's own peak.

use super::search::{get_page, say};
use super::{ServerProcess, proc_status_kb, reset_peak_rss, start_server};
use crate::client::Client;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The largest N also walked with every referrer on one page (a million would
/// take gigabytes, which is the point, but not one to prove on every run).
const ONE_PAGE_UP_TO: u64 = 100_000;

/// The search walked.
const WALK: &str = "/Patient?_id=hub&_revinclude=Observation:subject";

/// Runs the fan-in measurement in `work/fan-in` (removed afterwards unless
/// `keep`); `Ok(false)` when a walk did not see what was written.
pub(super) fn run(
    rt: &tokio::runtime::Runtime,
    work: &Path,
    sizes: &[u64],
    clients: usize,
    keep: bool,
) -> Result<bool, String> {
    let mut sizes: Vec<u64> = sizes.iter().copied().filter(|n| *n > 0).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return Ok(true);
    }
    let dir = work.join("fan-in");
    let _ = std::fs::remove_dir_all(&dir);
    say("\n## Fan-in: one Patient that N Observations refer to\n");
    say(format!(
        "`{WALK}` followed to its last page with one client; the Observations are created \
         over HTTP by {clients} clients. Peak RSS is the server's during the walk alone."
    ));
    say("");
    say(
        "| referrers | included per page | pages | walk s | included/s | server RSS before MB \
         | server peak RSS MB | created/s |",
    );
    say("|---|---|---|---|---|---|---|---|");
    let mut written = 0;
    let mut ok = true;
    for n in sizes {
        let (server, _) = start_server(&dir, &[])?;
        let started = Instant::now();
        rt.block_on(create(server.addr, written, n, clients))?;
        let created = (n - written) as f64 / started.elapsed().as_secs_f64();
        written = n;
        drop(server);
        let everything = (n + 1).to_string();
        let mut budgets = vec![("1000", created)];
        if n <= ONE_PAGE_UP_TO {
            budgets.push((everything.as_str(), f64::NAN));
        }
        for (budget, created) in budgets {
            let (server, _) = start_server(&dir, &["--max-included", budget])?;
            ok &= walk(rt, &server, n, budget, created)?;
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ok)
}

/// Creates the hub Patient (when `from` is 0) and Observations `from..to`
/// referring to it.
async fn create(addr: SocketAddr, from: u64, to: u64, clients: usize) -> Result<(), String> {
    let json_type = [("content-type", "application/fhir+json")];
    if from == 0 {
        let mut c = Client::connect(addr).await?;
        let hub = json!({"resourceType": "Patient", "id": "hub", "name": [{"family": "Hub"}]});
        let r = c
            .send(Method::PUT, "/Patient/hub", &json_type, hub.to_string())
            .await?;
        if !r.status.is_success() {
            return Err(format!("PUT Patient/hub: {} {}", r.status, r.text()));
        }
    }
    let next = Arc::new(AtomicU64::new(from));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return Ok::<(), String>(());
                }
                let body = json!({
                    "resourceType": "Observation", "status": "final",
                    "code": {"text": format!("reading {i}")},
                    "subject": {"reference": "Patient/hub"},
                    "valueQuantity": {"value": i % 500, "unit": "mmol/L"}
                });
                let r = c
                    .send(Method::POST, "/Observation", &json_type, body.to_string())
                    .await?;
                if r.status != StatusCode::CREATED {
                    return Err(format!("POST Observation: {} {}", r.status, r.text()));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Walks [`WALK`] to the end and prints its row; false when it did not see
/// the hub and all `n` referrers.
fn walk(
    rt: &tokio::runtime::Runtime,
    server: &ServerProcess,
    n: u64,
    budget: &str,
    created: f64,
) -> Result<bool, String> {
    let pid = server.child.id();
    let before = proc_status_kb(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
    let reset = reset_peak_rss(pid).is_ok();
    let started = Instant::now();
    let (matches, included, pages) = rt.block_on(async {
        let mut c = Client::connect(server.addr).await?;
        let (mut matches, mut included, mut pages) = (0, 0, 0);
        let mut path = WALK.to_string();
        loop {
            let page = get_page(&mut c, &path).await?;
            pages += 1;
            matches += page.matches;
            included += page.included;
            match page.next {
                Some(next) => path = next,
                None => return Ok::<_, String>((matches, included, pages)),
            }
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = proc_status_kb(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    say(format!(
        "| {n} | {budget} | {pages} | {seconds:.2} | {:.0} | {before:.1} | {peak:.1}{} | {} |",
        included as f64 / seconds,
        if reset { "" } else { " (since start)" },
        if created.is_nan() {
            "".to_string()
        } else {
            format!("{created:.0}")
        }
    ));
    let ok = matches == 1 && included as u64 == n;
    if !ok {
        say(format!(
            "**wrong**: {matches} matches and {included} included, expected 1 and {n}"
        ));
    }
    Ok(ok)
}
