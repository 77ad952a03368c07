//! `hemolink bench-search`: the benchmark of FHIR search. For each size (a
//! number of patients) it generates the data into a fresh data directory with
//! `hemolink generate` run as a child process (timed: the write cost with
//! index extraction), starts the real server on it (as `hemolink bench` does),
//! and runs each query of [`QUERIES`] for `--seconds` with `--clients`
//! keep-alive clients. Every request asks about another patient (a fixed
//! permutation of 1..=N) and its answer is checked against what the generator's
//! [`Plan`] predicts (the Bundle's `total`, page sizes, sort order); a mismatch
//! is counted and shown, never fatal. It prints a Markdown table per size
//! (p50, p99, requests/s, matches per request, peak RSS of the server) and a
//! comparison across sizes with the targets of selective queries (≤ 100
//! matches): p50 ≤ 5 ms, and at most 2× growth from the smallest size to the
//! largest.
//!
//! The data directories live under `--work-dir` (`patients-N`); `--keep` keeps
//! them and `--reuse` takes one again when a previous run finished generating
//! it with the same seed and size.

use super::{ServerProcess, proc_status_kb, start_server};
use crate::client::Client;
use crate::generate::{
    ABO_RH, BLOOD_PRESSURE, BODY_TEMPERATURE, BODY_WEIGHT, DEFAULT_SEED, HAEMOGLOBIN, HEART_RATE,
    MRN_SYSTEM, PLATELETS, Plan, RARE_CONDITION,
};
use crate::search::value::normalize::normalize;
use axum::http::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Options of `hemolink bench-search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// Sizes to measure, in patients (about twenty resources each), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000",
        value_name = "N,N,…",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub patients: Vec<u64>,
    /// Referrer counts of the fan-in measurement (one Patient that N
    /// Observations refer to, `_revinclude` walked to the end); 0 skips it.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000",
        value_name = "N,N,…"
    )]
    pub fan_in: Vec<u64>,
    /// Seconds each query runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Run the server with auditing on (an AuditEvent per request).
    #[arg(long)]
    pub with_audit: bool,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Folder of the generated data directories (one `patients-N` per size)
    /// [default: hemolink-bench-search in the system's temp directory].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the data directories this run generates (for a later --reuse).
    #[arg(long)]
    pub keep: bool,
    /// Use a data directory a previous run generated (and kept) for the same size
    /// and seed instead of generating it again; a reused directory is never removed.
    #[arg(long)]
    pub reuse: bool,
}

/// The code systems of the generated codes.
const LOINC: &str = "http://loinc.org";
const SNOMED: &str = "http://snomed.info/sct";
/// The Observation codes the generator uses; `_has:Observation` cycles over them.
const OBSERVATION_CODES: [(&str, &str); 7] = [
    HEART_RATE,
    BODY_TEMPERATURE,
    BODY_WEIGHT,
    BLOOD_PRESSURE,
    HAEMOGLOBIN,
    PLATELETS,
    ABO_RH,
];
/// The lower bound of the `date` search.
const SINCE: &str = "2024-01-01";
/// Estimated disk use: bytes per resource, resources per patient, factor for the index.
const DISK_PER_PATIENT: u64 = 3_000 * 20 * 3;
/// A query that finds at most this many resources is selective.
const SELECTIVE: f64 = 100.0;
/// The targets of selective queries: p50 and growth from the smallest size to the largest.
const TARGET_P50_MS: f64 = 5.0;
const TARGET_GROWTH: f64 = 2.0;
/// A page walk stops after this many pages (a loop of `next` links).
const MAX_PAGES: usize = 10_000;
/// Mismatch and error examples shown per query.
const EXAMPLES: usize = 3;
/// The file that marks a data directory as completely generated: `seed patients`.
const DONE_FILE: &str = "bench-search.done";

/// The queries, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    NamePrefix,
    Identifier,
    SubjectCodeDate,
    CodeInclude,
    Chain,
    HasObservation,
    HasRareCondition,
    Walk50,
    Walk5,
}

const QUERIES: [Query; 9] = [
    Query::NamePrefix,
    Query::Identifier,
    Query::SubjectCodeDate,
    Query::CodeInclude,
    Query::Chain,
    Query::HasObservation,
    Query::HasRareCondition,
    Query::Walk50,
    Query::Walk5,
];

/// A request and what the plan predicts of its answer.
struct Planned {
    path: String,
    /// The Bundle's `total`.
    total: u64,
    /// The page size asked for with `_count`, if any.
    count: Option<u64>,
    /// Included resources on the first page, when known.
    included: Option<usize>,
}

impl Query {
    /// The query as the tables show it.
    fn label(self) -> &'static str {
        match self {
            Query::NamePrefix => "`Patient?name=<4 letters of family>`",
            Query::Identifier => "`Patient?identifier=<MRN system>|<mrn>`",
            Query::SubjectCodeDate => {
                "`Observation?subject=Patient/<id>&code=loinc|8867-4&date=ge2024-01-01`"
            }
            Query::CodeInclude => {
                "`Observation?code=loinc|882-1&_include=Observation:subject&_count=50`"
            }
            Query::Chain => "`Observation?subject:Patient.name=<family>`",
            Query::HasObservation => {
                "`Patient?_has:Observation:patient:code=<loinc code>&_count=50`"
            }
            Query::HasRareCondition => "`Patient?_has:Condition:patient:code=sct|417357006`",
            Query::Walk50 => "`Observation?subject=Patient/<id>&_sort=-date&_count=50`, all pages",
            Query::Walk5 => "`Observation?subject=Patient/<id>&_sort=-date&_count=5`, all pages",
        }
    }

    /// The label as a Markdown table cell (`|` escaped).
    fn cell(self) -> String {
        self.label().replace('|', "\\|")
    }

    /// Whether the request follows `next` links to the last page.
    fn walks(self) -> bool {
        matches!(self, Query::Walk50 | Query::Walk5)
    }

    /// The `k`-th request of this query (from 0) on `facts`.
    fn request(self, facts: &Facts, k: u64) -> Planned {
        let row = facts.row(k);
        let plain = |path: String, total: u64| Planned {
            path,
            total,
            count: None,
            included: None,
        };
        match self {
            Query::NamePrefix => {
                let prefix = family_prefix(row.family);
                let total = facts.name_matches(&prefix);
                plain(format!("/Patient?name={}", encode(&prefix)), total)
            }
            Query::Identifier => plain(
                format!("/Patient?identifier={}", token(MRN_SYSTEM, &row.mrn)),
                1,
            ),
            Query::SubjectCodeDate => plain(
                format!(
                    "/Observation?subject={}&code={}&date=ge{SINCE}",
                    encode(&format!("Patient/{}", row.id)),
                    token(LOINC, HEART_RATE.0)
                ),
                row.heart_rate_since,
            ),
            Query::CodeInclude => {
                let total = facts.has_code[abo_index()];
                Planned {
                    path: format!(
                        "/Observation?code={}&_include=Observation:subject&_count=50",
                        token(LOINC, ABO_RH.0)
                    ),
                    total,
                    count: Some(50),
                    included: Some(total.min(50) as usize),
                }
            }
            Query::Chain => plain(
                format!("/Observation?subject:Patient.name={}", encode(row.family)),
                facts.chain_matches(row.family),
            ),
            Query::HasObservation => {
                let i = (k % OBSERVATION_CODES.len() as u64) as usize;
                Planned {
                    path: format!(
                        "/Patient?_has:Observation:patient:code={}&_count=50",
                        token(LOINC, OBSERVATION_CODES[i].0)
                    ),
                    total: facts.has_code[i],
                    count: Some(50),
                    included: None,
                }
            }
            Query::HasRareCondition => plain(
                format!(
                    "/Patient?_has:Condition:patient:code={}",
                    token(SNOMED, RARE_CONDITION)
                ),
                facts.rare,
            ),
            Query::Walk50 | Query::Walk5 => {
                let count = if self == Query::Walk50 { 50 } else { 5 };
                Planned {
                    path: format!(
                        "/Observation?subject={}&_sort=-date&_count={count}",
                        encode(&format!("Patient/{}", row.id))
                    ),
                    total: row.observations,
                    count: Some(count),
                    included: None,
                }
            }
        }
    }
}

/// The position of the ABO/Rh code in [`OBSERVATION_CODES`].
fn abo_index() -> usize {
    OBSERVATION_CODES.len() - 1
}

/// The first four letters of a family name (fewer if it is shorter).
fn family_prefix(family: &str) -> String {
    family.chars().take(4).collect()
}

/// A percent-encoded query value: everything but unreserved characters encoded.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An encoded token value `system|code`.
fn token(system: &str, code: &str) -> String {
    encode(&format!("{system}|{code}"))
}

// ---------------------------------------------------------------------------
// What the plan predicts

/// What the plan predicts about one patient.
struct Row {
    id: String,
    mrn: String,
    family: &'static str,
    /// Search keys of the family and given names.
    names: Vec<String>,
    observations: u64,
    /// Heart-rate Observations on or after [`SINCE`].
    heart_rate_since: u64,
    /// Bit `i`: an Observation of `OBSERVATION_CODES[i]`.
    codes: u8,
    rare: bool,
    resources: u64,
}

/// What the plan predicts about a size.
struct Facts {
    rows: Vec<Row>,
    /// Patients per name search key (prefixes and whole families).
    names: HashMap<String, u64>,
    /// Observations of the patients per whole-family search key.
    chain: HashMap<String, u64>,
    /// Patients with an Observation of each of [`OBSERVATION_CODES`].
    has_code: [u64; 7],
    /// Patients with the rare condition.
    rare: u64,
    /// All resources, the shared ones included.
    resources: u64,
    /// The step of the permutation of patients.
    stride: u64,
}

impl Facts {
    /// Patient of the `k`-th request: a fixed permutation of 1..=N, so that
    /// consecutive requests ask about patients far apart.
    fn row(&self, k: u64) -> &Row {
        let n = self.rows.len() as u64;
        &self.rows[((k % n) * self.stride % n) as usize]
    }

    fn name_matches(&self, value: &str) -> u64 {
        self.names.get(&normalize(value)).copied().unwrap_or(0)
    }

    fn chain_matches(&self, family: &str) -> u64 {
        self.chain.get(&normalize(family)).copied().unwrap_or(0)
    }
}

/// The facts of patient `n`, rebuilt from the plan.
fn row(plan: &Plan, n: u64) -> Row {
    let set = plan.patient(n);
    let f = &set.facts;
    let mut names = vec![normalize(f.family)];
    names.extend(f.given.iter().map(|g| normalize(g)));
    let mut row = Row {
        id: f.id.clone(),
        mrn: f.mrn.clone(),
        family: f.family,
        names,
        observations: 0,
        heart_rate_since: 0,
        codes: 0,
        rare: f.conditions.contains(&RARE_CONDITION),
        resources: set.resources.len() as u64,
    };
    for r in set
        .resources
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
    {
        let code = r["code"]["coding"][0]["code"].as_str().unwrap_or("");
        let at = r["effectiveDateTime"].as_str().unwrap_or("");
        row.observations += 1;
        if code == HEART_RATE.0 && at >= SINCE {
            row.heart_rate_since += 1;
        }
        if let Some(i) = OBSERVATION_CODES.iter().position(|c| c.0 == code) {
            row.codes |= 1 << i;
        }
    }
    row
}

/// Every patient's facts, on all cores.
fn rows(plan: &Plan) -> Vec<Row> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let per = plan.patients.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let range = t * per + 1..=((t + 1) * per).min(plan.patients);
                s.spawn(move || range.map(|n| row(plan, n)).collect::<Vec<_>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_default())
            .collect()
    })
}

/// A step coprime with `n`, so that `k · step mod n` visits every patient.
fn stride(n: u64) -> u64 {
    [7_919u64, 7_927, 7_933]
        .into_iter()
        .find(|p| !n.is_multiple_of(*p))
        .unwrap_or(1)
}

/// The predictions of a plan.
fn facts(plan: &Plan) -> Facts {
    let rows = rows(plan);
    // Patients with the same names match the same name searches: count groups.
    let mut groups: HashMap<&[String], (u64, u64)> = HashMap::new();
    for r in &rows {
        let g = groups.entry(r.names.as_slice()).or_default();
        g.0 += 1;
        g.1 += r.observations;
    }
    let mut families: Vec<&str> = rows.iter().map(|r| r.family).collect();
    families.sort_unstable();
    families.dedup();
    let matching = |key: &str| -> (u64, u64) {
        groups
            .iter()
            .filter(|(names, _)| names.iter().any(|n| n.starts_with(key)))
            .fold((0, 0), |acc, (_, g)| (acc.0 + g.0, acc.1 + g.1))
    };
    let mut names = HashMap::new();
    let mut chain = HashMap::new();
    for f in families {
        for key in [normalize(&family_prefix(f)), normalize(f)] {
            let (patients, observations) = matching(&key);
            names.insert(key.clone(), patients);
            chain.insert(key, observations);
        }
    }
    let mut has_code = [0u64; 7];
    for (i, slot) in has_code.iter_mut().enumerate() {
        *slot = rows.iter().filter(|r| r.codes & (1 << i) != 0).count() as u64;
    }
    let shared = plan.practitioners() + plan.organizations();
    Facts {
        rare: rows.iter().filter(|r| r.rare).count() as u64,
        resources: shared + rows.iter().map(|r| r.resources).sum::<u64>(),
        stride: stride(plan.patients),
        rows,
        names,
        chain,
        has_code,
    }
}

// ---------------------------------------------------------------------------
// Talking to the server

/// One page of a searchset Bundle.
pub(super) struct Page {
    total: Option<u64>,
    pub(super) matches: usize,
    pub(super) included: usize,
    /// `effectiveDateTime` of the matches, in order.
    dates: Vec<String>,
    /// The path and query of the `next` link.
    pub(super) next: Option<String>,
}

/// The path and query of an absolute URL (`http://host:port/a?b` → `/a?b`).
fn path_of(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map_or("/".to_string(), |i| rest[i..].to_string()),
        None if url.starts_with('/') => url.to_string(),
        None => format!("/{url}"),
    }
}

/// Reads a searchset Bundle.
fn read_page(body: &[u8]) -> Result<Page, String> {
    let bundle: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if bundle["resourceType"] != "Bundle" {
        return Err("the answer is not a Bundle".to_string());
    }
    let entries = bundle["entry"].as_array().map_or(&[][..], Vec::as_slice);
    let mode = |e: &&Value| e["search"]["mode"].as_str() == Some("match");
    let next = bundle["link"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(path_of);
    Ok(Page {
        total: bundle["total"].as_u64(),
        matches: entries.iter().filter(mode).count(),
        included: entries
            .iter()
            .filter(|e| e["search"]["mode"] == "include")
            .count(),
        dates: entries
            .iter()
            .filter(mode)
            .map(|e| {
                e["resource"]["effectiveDateTime"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect(),
        next,
    })
}

/// What one request (or page walk) saw.
#[derive(Default)]
struct Seen {
    total: Option<u64>,
    /// Matches of all pages read.
    matches: usize,
    /// Matches and included resources of the first page.
    first_matches: usize,
    first_included: usize,
    pages: usize,
    /// Microseconds of each page.
    page_us: Vec<u64>,
    /// Whether the matches' dates never increase.
    descending: bool,
}

/// One GET of a search page.
pub(super) async fn get_page(client: &mut Client, path: &str) -> Result<Page, String> {
    let accept = [("accept", "application/fhir+json")];
    let r = client.send(Method::GET, path, &accept, "").await?;
    if r.status != StatusCode::OK {
        let text = r.text();
        let snippet: String = text.chars().take(300).collect();
        return Err(format!("{} for {path}: {snippet}", r.status));
    }
    read_page(&r.body)
}

/// Sends a search; when `walk`, follows `next` links to the last page.
async fn execute(client: &mut Client, path: &str, walk: bool) -> Result<Seen, String> {
    let mut seen = Seen {
        descending: true,
        ..Seen::default()
    };
    let mut path = path.to_string();
    let mut last_date: Option<String> = None;
    loop {
        let started = Instant::now();
        let page = get_page(client, &path).await?;
        seen.page_us.push(started.elapsed().as_micros() as u64);
        if seen.pages == 0 {
            seen.total = page.total;
            seen.first_matches = page.matches;
            seen.first_included = page.included;
        }
        seen.pages += 1;
        seen.matches += page.matches;
        for d in page.dates {
            if last_date.as_ref().is_some_and(|l| d > *l) {
                seen.descending = false;
            }
            last_date = Some(d);
        }
        match page.next {
            Some(next) if walk && seen.pages < MAX_PAGES => path = next,
            _ => return Ok(seen),
        }
    }
}

/// What is wrong with an answer, measured against the plan.
fn check(query: Query, planned: &Planned, seen: &Seen) -> Option<String> {
    let mut wrong = Vec::new();
    if seen.total != Some(planned.total) {
        let got = seen
            .total
            .map_or("no total".to_string(), |t| format!("total {t}"));
        wrong.push(format!("{got}, expected {}", planned.total));
    }
    if let Some(count) = planned.count {
        let first = planned.total.min(count) as usize;
        if seen.first_matches != first {
            wrong.push(format!(
                "{} matches on the first page, expected {first}",
                seen.first_matches
            ));
        }
    }
    if let Some(included) = planned.included
        && seen.first_included != included
    {
        wrong.push(format!(
            "{} included, expected {included}",
            seen.first_included
        ));
    }
    if query.walks() {
        wrong.extend(check_walk(planned, seen));
    }
    (!wrong.is_empty()).then(|| format!("{}: {}", planned.path, wrong.join("; ")))
}

/// The checks of a page walk: every match seen once, page count, order.
fn check_walk(planned: &Planned, seen: &Seen) -> Vec<String> {
    let mut wrong = Vec::new();
    if seen.matches as u64 != planned.total {
        wrong.push(format!(
            "{} matches over all pages, expected {}",
            seen.matches, planned.total
        ));
    }
    let count = planned.count.unwrap_or(1).max(1);
    let pages = planned.total.div_ceil(count).max(1) as usize;
    if seen.pages != pages {
        wrong.push(format!("{} pages, expected {pages}", seen.pages));
    }
    if !seen.descending {
        wrong.push("dates not in descending order".to_string());
    }
    wrong
}

// ---------------------------------------------------------------------------
// Measuring

/// What one client, or a whole phase, measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    page_us: Vec<u64>,
    pages: u64,
    errors: u64,
    error_examples: Vec<String>,
    mismatches: u64,
    mismatch_examples: Vec<String>,
    sum_total: u64,
    sum_expected: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.latencies_us.extend(o.latencies_us);
        self.page_us.extend(o.page_us);
        self.pages += o.pages;
        self.errors += o.errors;
        self.mismatches += o.mismatches;
        self.sum_total += o.sum_total;
        self.sum_expected += o.sum_expected;
        for (to, from) in [
            (&mut self.error_examples, o.error_examples),
            (&mut self.mismatch_examples, o.mismatch_examples),
        ] {
            let room = EXAMPLES.saturating_sub(to.len());
            to.extend(from.into_iter().take(room));
        }
    }

    /// Keeps `text` as an example unless there are enough or it is known.
    fn note(list: &mut Vec<String>, text: String) {
        if list.len() < EXAMPLES && !list.contains(&text) {
            list.push(text);
        }
    }

    /// Records a request that was answered.
    fn answered(&mut self, query: Query, planned: &Planned, seen: Seen, elapsed: u64) {
        self.latencies_us.push(elapsed);
        self.pages += seen.pages as u64;
        self.sum_total += seen.total.unwrap_or(0);
        self.sum_expected += planned.total;
        if let Some(m) = check(query, planned, &seen) {
            self.mismatches += 1;
            Tally::note(&mut self.mismatch_examples, m);
        }
        self.page_us.extend(seen.page_us);
    }
}

/// One client: requests `k` taken from `next` until the deadline.
async fn client(
    addr: SocketAddr,
    query: Query,
    facts: Arc<Facts>,
    next: Arc<AtomicU64>,
    deadline: Instant,
) -> Result<Tally, String> {
    let mut client = Client::connect(addr).await?;
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let planned = query.request(&facts, k);
        let started = Instant::now();
        match execute(&mut client, &planned.path, query.walks()).await {
            Ok(seen) => {
                let elapsed = started.elapsed().as_micros() as u64;
                tally.answered(query, &planned, seen, elapsed);
            }
            Err(e) => {
                tally.errors += 1;
                Tally::note(&mut tally.error_examples, e);
                client = Client::connect(addr).await?;
            }
        }
    }
    Ok(tally)
}

/// What a query measured on one size.
struct QueryResult {
    query: Query,
    tally: Tally,
    elapsed: Duration,
}

/// Milliseconds at quantile `p` of sorted microseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    super::rank(sorted.len(), p).map_or(f64::NAN, |i| sorted[i] as f64 / 1000.0)
}

impl QueryResult {
    fn requests(&self) -> usize {
        self.tally.latencies_us.len()
    }

    fn p50(&self) -> f64 {
        percentile_ms(&self.tally.latencies_us, 0.5)
    }

    fn average(&self, sum: u64) -> f64 {
        sum as f64 / self.requests().max(1) as f64
    }

    /// Matches per request the plan predicts.
    fn expected(&self) -> f64 {
        self.average(self.tally.sum_expected)
    }

    fn row(&self) -> String {
        let t = &self.tally;
        format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {} | {} |",
            self.query.cell(),
            if self.expected() <= SELECTIVE {
                "yes"
            } else {
                "no"
            },
            self.requests() as f64 / self.elapsed.as_secs_f64(),
            self.p50(),
            percentile_ms(&t.latencies_us, 0.99),
            self.average(t.sum_total),
            self.expected(),
            t.mismatches,
            t.errors
        )
    }

    /// The page detail of a walk.
    fn pages_line(&self) -> String {
        let t = &self.tally;
        format!(
            "{}: {:.2} pages per walk; per page p50 {:.2} ms, p99 {:.2} ms",
            self.query.label(),
            t.pages as f64 / self.requests().max(1) as f64,
            percentile_ms(&t.page_us, 0.5),
            percentile_ms(&t.page_us, 0.99)
        )
    }
}

/// Runs `query` for `duration` with `clients` clients.
async fn measure(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    query: Query,
    facts: Arc<Facts>,
) -> Result<QueryResult, String> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|_| tokio::spawn(client(addr, query, facts.clone(), next.clone(), deadline)))
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        tally.add(t.await.map_err(|e| e.to_string())??);
    }
    tally.latencies_us.sort_unstable();
    tally.page_us.sort_unstable();
    Ok(QueryResult {
        query,
        tally,
        elapsed: started.elapsed(),
    })
}

// ---------------------------------------------------------------------------
// Data directories

/// Prints a line at once (the run is long; progress should show).
pub(super) fn say(s: impl AsRef<str>) {
    println!("{}", s.as_ref());
    let _ = std::io::stdout().flush();
}

/// Bytes free on the filesystem of `dir`, from `df -B1 --output=avail`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(1)?.trim().parse().ok()
}

/// Bytes of the files directly in `dir` (the database, its WAL and the rest).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The marker of a finished generation of `plan`.
fn done_text(plan: &Plan) -> String {
    format!("{} {}\n", plan.seed, plan.patients)
}

/// Whether `dir` holds a finished generation of `plan`.
fn reusable(dir: &Path, plan: &Plan) -> bool {
    dir.join(crate::store::sqlite::DB_FILE).is_file()
        && std::fs::read_to_string(dir.join(DONE_FILE)).ok() == Some(done_text(plan))
}

/// How the data of a size came to be.
enum Data {
    Reused,
    /// Generated in this many seconds (wall clock of the child process).
    Generated(f64),
}

/// Runs `hemolink generate` into `dir`; returns its wall-clock seconds and
/// prints its summary.
fn generate(dir: &Path, plan: &Plan) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["generate", "--log-level", "warn", "--seed"])
        .arg(plan.seed.to_string())
        .arg("--patients")
        .arg(plan.patients.to_string())
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run generate: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("generate failed ({})", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = text.lines().find(|l| l.starts_with("generated ")) {
        say(format!("generator: {line}"));
    }
    std::fs::write(dir.join(DONE_FILE), done_text(plan)).map_err(|e| e.to_string())?;
    Ok(seconds)
}

/// Makes the data of `plan` ready in `dir`: reused, or generated afresh when
/// the disk has room. `None` when the size is skipped.
fn prepare(args: &SearchArgs, dir: &Path, plan: &Plan) -> Result<Option<Data>, String> {
    if args.reuse && reusable(dir, plan) {
        say(format!("data: reusing {}", dir.display()));
        return Ok(Some(Data::Reused));
    }
    if args.reuse {
        say(format!(
            "data: nothing finished to reuse in {}; generating",
            dir.display()
        ));
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let need = plan.patients * DISK_PER_PATIENT;
    if let Some(free) = free_bytes(dir)
        && free < need
    {
        say(format!(
            "**skipped**: {} patients need about {:.1} GB (3 KB × 20 resources × 3 for the index), \
             the disk has {:.1} GB free",
            plan.patients,
            need as f64 / 1e9,
            free as f64 / 1e9
        ));
        let _ = std::fs::remove_dir_all(dir);
        return Ok(None);
    }
    generate(dir, plan).map(|s| Some(Data::Generated(s)))
}

// ---------------------------------------------------------------------------
// One size

/// What a size measured.
struct SizeReport {
    patients: u64,
    resources: u64,
    generate_seconds: Option<f64>,
    db_bytes: u64,
    peak_rss_kb: u64,
    results: Vec<QueryResult>,
}

/// Prints how the data came to be and how big it is.
fn data_line(data: &Data, facts: &Facts, db_bytes: u64) {
    let n = facts.resources;
    let made = match data {
        Data::Reused => "reused".to_string(),
        Data::Generated(s) => format!(
            "generated in {s:.1} s wall clock, {:.0} resources/s (write with index extraction)",
            n as f64 / s.max(1e-9)
        ),
    };
    say(format!(
        "data: {n} resources, {made}; data directory {:.1} MB ({:.0} bytes per resource)",
        db_bytes as f64 / 1e6,
        db_bytes as f64 / n.max(1) as f64
    ));
}

/// Runs every query against a started server.
fn run_queries(
    rt: &tokio::runtime::Runtime,
    args: &SearchArgs,
    addr: SocketAddr,
    facts: &Arc<Facts>,
) -> Result<Vec<QueryResult>, String> {
    say(
        "\n| query | selective | requests/s | p50 ms | p99 ms | matches/request | predicted | mismatches | errors |",
    );
    say("|---|---|---|---|---|---|---|---|---|");
    let duration = Duration::from_secs(args.seconds);
    let mut results = Vec::new();
    for query in QUERIES {
        let r = rt.block_on(measure(addr, args.clients, duration, query, facts.clone()))?;
        say(r.row());
        results.push(r);
    }
    say("");
    for r in results.iter().filter(|r| r.query.walks()) {
        say(format!("- {}", r.pages_line()));
    }
    for r in &results {
        for e in &r.tally.mismatch_examples {
            say(format!("- mismatch, {}: {e}", r.query.label()));
        }
        for e in &r.tally.error_examples {
            say(format!("- error, {}: {e}", r.query.label()));
        }
    }
    Ok(results)
}

/// The note on query plans (see the module's report).
fn plans_note(dir: &Path) {
    let queries = [
        (
            "Patient",
            vec![(
                "identifier".to_string(),
                format!(
                    "{}|{}",
                    crate::generate::MRN_SYSTEM,
                    crate::generate::mrn(1)
                ),
            )],
        ),
        (
            "Observation",
            vec![
                ("subject".to_string(), crate::generate::patient_id(1)),
                (
                    "code".to_string(),
                    format!("http://loinc.org|{}", crate::generate::HEART_RATE.0),
                ),
                ("date".to_string(), "ge2024-01-01".to_string()),
            ],
        ),
        (
            "Patient",
            vec![(
                "_has:Condition:patient:code".to_string(),
                crate::generate::RARE_CONDITION.to_string(),
            )],
        ),
    ];
    let limits = crate::search::parse::Limits {
        default_count: 50,
        max_count: 1000,
        max_included: 1000,
    };
    for (t, pairs) in queries {
        let parsed = crate::search::parse::parse(
            crate::search::registry::registry(),
            &[t.to_string()],
            &pairs,
            "http://localhost",
            true,
            limits,
        );
        let Ok(parsed) = parsed else {
            say(format!(
                "- query plan of {t}?{pairs:?}: the query does not parse"
            ));
            continue;
        };
        match crate::store::sqlite::explain_search(dir, &parsed.search) {
            Ok(plans) => {
                let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                say(format!("\nquery plan of `{t}?{}`:\n", query.join("&")));
                for (i, (_, lines)) in plans.iter().enumerate() {
                    let what = if i == 0 { "count" } else { "page" };
                    say(format!("- {what}:"));
                    for l in lines {
                        say(format!("  - `{l}`"));
                    }
                }
            }
            Err(e) => say(format!("- query plan of {t}: {e}")),
        }
    }
}

/// Generates (or reuses), serves and measures one size.
fn run_size(
    rt: &tokio::runtime::Runtime,
    args: &SearchArgs,
    work: &Path,
    patients: u64,
) -> Result<Option<SizeReport>, String> {
    say(format!("\n## {patients} patients\n"));
    let plan = Plan::new(DEFAULT_SEED, patients);
    let dir = work.join(format!("patients-{patients}"));
    let Some(data) = prepare(args, &dir, &plan)? else {
        return Ok(None);
    };
    let started = Instant::now();
    let facts = Arc::new(facts(&plan));
    say(format!(
        "plan: predictions for {patients} patients rebuilt in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let db_bytes = dir_bytes(&dir);
    data_line(&data, &facts, db_bytes);
    let (server, ready): (ServerProcess, Duration) =
        start_server(&dir, super::audit_args(args.with_audit))?;
    say(format!("server: ready in {} ms", ready.as_millis()));
    let results = run_queries(rt, args, server.addr, &facts);
    let peak_rss_kb = proc_status_kb(server.child.id(), "VmHWM:").unwrap_or(0);
    drop(server);
    let results = results?;
    say(format!(
        "- server peak RSS (VmHWM): {:.1} MB",
        peak_rss_kb as f64 / 1024.0
    ));
    plans_note(&dir);
    if !args.keep && matches!(data, Data::Generated(_)) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(Some(SizeReport {
        patients,
        resources: facts.resources,
        generate_seconds: match data {
            Data::Generated(s) => Some(s),
            Data::Reused => None,
        },
        db_bytes,
        peak_rss_kb,
        results,
    }))
}

// ---------------------------------------------------------------------------
// The report

/// The machine: cores, CPU model, memory.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    format!(
        "{cores} cores (nproc), {model}, {:.1} GB memory",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

/// The command line as typed (quoted where a shell would need it).
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn header(args: &SearchArgs, work: &Path) {
    say(format!(
        "# hemolink bench-search (auditing {})\n",
        if args.with_audit { "on" } else { "off" }
    ));
    say(format!("- command: `{}`", command_line()));
    say(format!("- machine: {}", machine()));
    say(format!(
        "- build: {}",
        if cfg!(debug_assertions) {
            "debug (figures are not representative; use --release)"
        } else {
            "release"
        }
    ));
    say(format!(
        "- {} clients, {} s per query, seed {DEFAULT_SEED}, data under {}",
        args.clients,
        args.seconds,
        work.display()
    ));
}

/// The sizes in one table.
fn sizes_table(reports: &[SizeReport]) {
    say("\n## Sizes\n");
    say("| patients | resources | generate s | generate resources/s | data MB | peak RSS MB |");
    say("|---|---|---|---|---|---|");
    for r in reports {
        let (secs, rate) = match r.generate_seconds {
            Some(s) => (
                format!("{s:.1}"),
                format!("{:.0}", r.resources as f64 / s.max(1e-9)),
            ),
            None => ("reused".to_string(), "-".to_string()),
        };
        say(format!(
            "| {} | {} | {secs} | {rate} | {:.1} | {:.1} |",
            r.patients,
            r.resources,
            r.db_bytes as f64 / 1e6,
            r.peak_rss_kb as f64 / 1024.0
        ));
    }
}

/// Whether a query is selective at every size (by the plan's prediction).
fn selective(reports: &[SizeReport], i: usize) -> bool {
    reports.iter().all(|r| r.results[i].expected() <= SELECTIVE)
}

/// The verdicts of a selective query: p50 at every size, growth.
fn verdicts(p50s: &[f64], ratio: Option<f64>) -> (String, String) {
    let fast = p50s.iter().all(|p| *p <= TARGET_P50_MS);
    let growth = match ratio {
        Some(r) if r <= TARGET_GROWTH => "yes".to_string(),
        Some(_) => "**no**".to_string(),
        None => "- (one size)".to_string(),
    };
    (if fast { "yes" } else { "**no**" }.to_string(), growth)
}

/// p50 per query across sizes, with the ratio largest/smallest and the targets.
fn comparison(reports: &[SizeReport]) {
    if reports.is_empty() {
        return;
    }
    say("\n## p50 (ms) across sizes\n");
    let sizes: Vec<String> = reports
        .iter()
        .map(|r| format!("{} patients", r.patients))
        .collect();
    say(format!(
        "| query | {} | largest/smallest | selective | p50 ≤ {TARGET_P50_MS} ms | growth ≤ {TARGET_GROWTH}× |",
        sizes.join(" | ")
    ));
    say(format!(
        "|---|{}---|---|---|---|",
        "---|".repeat(sizes.len())
    ));
    let smallest = (0..reports.len())
        .min_by_key(|&i| reports[i].patients)
        .unwrap_or(0);
    let largest = (0..reports.len())
        .max_by_key(|&i| reports[i].patients)
        .unwrap_or(0);
    for (i, q) in QUERIES.iter().enumerate() {
        let p50s: Vec<f64> = reports.iter().map(|r| r.results[i].p50()).collect();
        let ratio = (smallest != largest).then(|| p50s[largest] / p50s[smallest]);
        let cells: Vec<String> = p50s.iter().map(|p| format!("{p:.2}")).collect();
        let (fast, growth) = if selective(reports, i) {
            verdicts(&p50s, ratio)
        } else {
            ("-".to_string(), "-".to_string())
        };
        say(format!(
            "| {} | {} | {} | {} | {fast} | {growth} |",
            q.cell(),
            cells.join(" | "),
            ratio.map_or("-".to_string(), |r| format!("{r:.2}×")),
            if selective(reports, i) { "yes" } else { "no" },
        ));
    }
    let mismatches: u64 = reports
        .iter()
        .flat_map(|r| &r.results)
        .map(|q| q.tally.mismatches)
        .sum();
    say(format!(
        "\nSelective: at most {SELECTIVE} matches per request at every size, as the generator's plan \
         predicts. Answers that differ from the prediction: {mismatches}."
    ));
}

/// Runs the benchmark and prints its report (Markdown).
pub fn run(args: &SearchArgs) -> ExitCode {
    match run_inner(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench-search: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The cost of index extraction alone, in this process on one thread: every
/// resource of 200 generated patients, extracted 5 times; microseconds per
/// resource by type, and index entries per resource.
fn extraction_cost() {
    let plan = Plan::new(DEFAULT_SEED, 200);
    let resources: Vec<serde_json::Value> =
        (1..=200).flat_map(|n| plan.patient(n).resources).collect();
    let registry = crate::search::registry::registry();
    let mut by_type: std::collections::BTreeMap<String, (u64, f64, usize)> = Default::default();
    for _ in 0..5 {
        for r in &resources {
            let t = r["resourceType"].as_str().unwrap_or("").to_string();
            let started = Instant::now();
            let entries = crate::search::extract::extract(registry, &t, r, "http://localhost");
            let micros = started.elapsed().as_secs_f64() * 1e6;
            let slot = by_type.entry(t).or_default();
            slot.0 += 1;
            slot.1 += micros;
            slot.2 += entries.len();
        }
    }
    say("\n## Index extraction (one thread, in process)\n");
    say("| type | resources | µs per resource | entries per resource |");
    say("|---|---|---|---|");
    let (mut n, mut micros) = (0u64, 0f64);
    for (t, (count, total, entries)) in &by_type {
        say(format!(
            "| {t} | {} | {:.1} | {:.1} |",
            count / 5,
            total / *count as f64,
            *entries as f64 / *count as f64
        ));
        n += count;
        micros += total;
    }
    say(format!(
        "| all | {} | {:.1} | |",
        n / 5,
        micros / n.max(1) as f64
    ));
}

/// The whole run; `Ok(false)` when a size failed.
fn run_inner(args: &SearchArgs) -> Result<bool, String> {
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("hemolink-bench-search"));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    header(args, &work);
    extraction_cost();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    let mut ok = true;
    for &patients in &args.patients {
        match run_size(&rt, args, &work, patients) {
            Ok(Some(r)) => reports.push(r),
            Ok(None) => {}
            Err(e) => {
                ok = false;
                say(format!("**failed**: {e}"));
            }
        }
    }
    sizes_table(&reports);
    comparison(&reports);
    match super::fan_in::run(&rt, &work, &args.fan_in, args.clients, args.keep) {
        Ok(walks_ok) => ok &= walks_ok,
        Err(e) => {
            ok = false;
            say(format!("**fan-in failed**: {e}"));
        }
    }
    if !args.keep {
        let _ = std::fs::remove_dir(&work);
    }
    Ok(ok)
}
