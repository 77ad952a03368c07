//! The load generator of `hemolink bench`: concurrent clients, each on its own
//! keep-alive connection, sending one kind of request as fast as answers come,
//! with every latency recorded; and the server's `/metrics` read before and
//! after, so commits and fsyncs per acknowledged write are measured, not guessed.

use crate::client::Client;
use axum::http::Method;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a phase sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Read,
    Update,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Read => "read",
            Op::Update => "update",
        }
    }
}

/// What a phase measured.
pub struct PhaseResult {
    op: Op,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    errors: usize,
    units: u64,
    commits: u64,
    syncs: u64,
    /// Ids of the resources a create phase made.
    pub created: Vec<String>,
}

impl PhaseResult {
    /// A row of the report's table.
    pub fn row(&self, store: &str) -> String {
        let ok = self.latencies_us.len();
        let secs = self.elapsed.as_secs_f64();
        let pct = |p: f64| -> f64 {
            super::rank(ok, p).map_or(0.0, |i| self.latencies_us[i] as f64 / 1000.0)
        };
        let writes = if self.op == Op::Read {
            "| - | - | - |".to_string()
        } else {
            format!(
                "| {:.0} | {:.1} | {:.3} |",
                self.commits as f64 / secs,
                self.units as f64 / self.commits.max(1) as f64,
                self.syncs as f64 / self.units.max(1) as f64
            )
        };
        format!(
            "| {store} | {} | {:.0} | {:.2} | {:.2} | {} {writes}",
            self.op.name(),
            ok as f64 / secs,
            pct(0.50),
            pct(0.99),
            self.errors
        )
    }
}

/// A small donor record, different each time.
fn patient(n: u64, id: Option<&str>) -> String {
    let mut p = json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:example:donor", "value": format!("D-{n:08}")}],
        "active": true,
        "name": [{"family": format!("Donor{n}"), "given": ["Ada"]}],
        "gender": if n.is_multiple_of(2) { "female" } else { "male" },
        "birthDate": format!("19{:02}-0{}-1{}", 50 + n % 50, 1 + n % 9, n % 10),
    });
    if let Some(id) = id {
        p["id"] = json!(id);
    }
    p.to_string()
}

/// The store counters of `/metrics`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counters {
    pub units: u64,
    pub commits: u64,
    pub syncs: u64,
    /// Seconds the syncs waited for the disk.
    pub sync_wait: f64,
}

/// Reads the store counters of the server at `addr`.
pub(super) async fn counters(addr: SocketAddr) -> Result<Counters, String> {
    let mut c = Client::connect(addr).await?;
    let text = c.send(Method::GET, "/metrics", &[], "").await?.text();
    let get = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    Ok(Counters {
        units: get("hemolink_store_units_total ") as u64,
        commits: get("hemolink_store_commits_total ") as u64,
        syncs: get("hemolink_store_syncs_total ") as u64,
        sync_wait: get("hemolink_store_sync_wait_seconds_total "),
    })
}

struct Worker {
    latencies_us: Vec<u64>,
    errors: usize,
    created: Vec<String>,
}

async fn worker(
    addr: SocketAddr,
    seed: u64,
    op: Op,
    ids: Arc<Vec<String>>,
    until: Until,
) -> Result<Worker, String> {
    let mut client = Client::connect(addr).await?;
    let mut w = Worker {
        latencies_us: Vec::new(),
        errors: 0,
        created: Vec::new(),
    };
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut n = seed << 32;
    let json = [("content-type", "application/fhir+json")];
    while until.more(w.latencies_us.len() + w.errors) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        n += 1;
        let pick = || {
            ids.get((rng % ids.len().max(1) as u64) as usize)
                .map(String::as_str)
        };
        let started = Instant::now();
        let response = match op {
            Op::Create => {
                client
                    .send(Method::POST, "/Patient", &json, patient(n, None))
                    .await
            }
            Op::Read => {
                let id = pick().ok_or("nothing to read")?;
                client
                    .send(Method::GET, &format!("/Patient/{id}"), &[], "")
                    .await
            }
            Op::Update => {
                let id = pick().ok_or("nothing to update")?;
                client
                    .send(
                        Method::PUT,
                        &format!("/Patient/{id}"),
                        &json,
                        patient(n, Some(id)),
                    )
                    .await
            }
        };
        let elapsed = started.elapsed().as_micros() as u64;
        match response {
            Ok(r) if r.status.is_success() => {
                w.latencies_us.push(elapsed);
                if op == Op::Create
                    && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body)
                    && let Some(id) = v["id"].as_str()
                {
                    w.created.push(id.to_string());
                }
            }
            Ok(_) => w.errors += 1,
            Err(_) => {
                w.errors += 1;
                client = Client::connect(addr).await?;
            }
        }
    }
    Ok(w)
}

/// When a worker stops: at a deadline, or after a number of requests.
#[derive(Clone, Copy)]
enum Until {
    Time(Instant),
    Count(usize),
}

impl Until {
    fn more(self, done: usize) -> bool {
        match self {
            Until::Time(t) => Instant::now() < t,
            Until::Count(n) => done < n,
        }
    }
}

async fn run(
    addr: SocketAddr,
    clients: usize,
    op: Op,
    ids: &[String],
    until: impl Fn(usize) -> Until,
) -> Result<PhaseResult, String> {
    let before = counters(addr).await?;
    let ids = Arc::new(ids.to_vec());
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(worker(
                addr,
                i as u64 + 1 + started.elapsed().as_nanos() as u64,
                op,
                ids.clone(),
                until(i),
            ))
        })
        .collect();
    let mut result = PhaseResult {
        op,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
        errors: 0,
        units: 0,
        commits: 0,
        syncs: 0,
        created: Vec::new(),
    };
    for t in tasks {
        let w = t.await.map_err(|e| e.to_string())??;
        result.latencies_us.extend(w.latencies_us);
        result.errors += w.errors;
        result.created.extend(w.created);
    }
    result.elapsed = started.elapsed();
    let after = counters(addr).await?;
    result.units = after.units - before.units;
    result.commits = after.commits - before.commits;
    result.syncs = after.syncs - before.syncs;
    result.latencies_us.sort_unstable();
    Ok(result)
}

/// One measured phase of `duration`.
pub async fn phase(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    op: Op,
    ids: &[String],
) -> Result<PhaseResult, String> {
    let deadline = Instant::now() + duration;
    run(addr, clients, op, ids, |_| Until::Time(deadline)).await
}

/// Creates `n` resources as fast as the server takes them; returns their ids.
pub async fn fill(addr: SocketAddr, clients: usize, n: usize) -> Result<Vec<String>, String> {
    let per = n.div_ceil(clients.max(1));
    let r = run(addr, clients, Op::Create, &[], |i| {
        Until::Count(per.min(n.saturating_sub(i * per)))
    })
    .await?;
    Ok(r.created)
}
