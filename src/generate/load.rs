//! Writing a plan into the store: the shared resources first, then one unit of
//! work per patient, [`IN_FLIGHT`] of them at a time so that the writer's group
//! commit gathers many into each commit. Progress goes to stderr once a second,
//! the summary to stdout.

use super::{GenerateArgs, Plan, patient_id};
use crate::store::sqlite::SqliteStore;
use crate::store::{Stats, Store, Write};
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Units of work kept in flight.
const IN_FLIGHT: usize = 64;
/// Shared resources per unit of work.
const SHARED_PER_UNIT: usize = 100;

/// Resources written, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub patients: u64,
    pub practitioners: u64,
    pub organizations: u64,
    pub encounters: u64,
    pub conditions: u64,
    pub observations: u64,
}

impl Counts {
    /// The counts of a list of resources.
    pub fn of(resources: &[Value]) -> Counts {
        let mut c = Counts::default();
        for r in resources {
            let slot = match r["resourceType"].as_str() {
                Some("Patient") => &mut c.patients,
                Some("Practitioner") => &mut c.practitioners,
                Some("Organization") => &mut c.organizations,
                Some("Encounter") => &mut c.encounters,
                Some("Condition") => &mut c.conditions,
                Some("Observation") => &mut c.observations,
                _ => continue,
            };
            *slot += 1;
        }
        c
    }

    /// All resources.
    pub fn total(&self) -> u64 {
        self.patients
            + self.practitioners
            + self.organizations
            + self.encounters
            + self.conditions
            + self.observations
    }

    fn add(&mut self, o: Counts) {
        self.patients += o.patients;
        self.practitioners += o.practitioners;
        self.organizations += o.organizations;
        self.encounters += o.encounters;
        self.conditions += o.conditions;
        self.observations += o.observations;
    }
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    pub plan: Plan,
    pub counts: Counts,
    /// Wall-clock seconds of writing.
    pub seconds: f64,
    /// The store's counters at the end: units of work, commits, fsyncs.
    pub stats: Stats,
}

/// `hemolink generate`: writes the plan of `args` into the store in `data_dir`
/// (`base_url` is the server's, for indexing absolute references).
pub fn run(args: &GenerateArgs, data_dir: &Path, base_url: &str) -> Result<Generated, String> {
    let plan = Plan::new(args.seed, args.patients);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let generated = runtime.block_on(async {
        let backend = SqliteStore::open(data_dir).map_err(|e| format!("store: {e}"))?;
        let store = Store::new(Arc::new(backend), base_url);
        let result = write(&store, plan).await;
        store.close().await;
        result
    })?;
    let g = &generated;
    let c = g.counts;
    println!(
        "generated {} patients in {}: {} resources ({} Patient, {} Practitioner, {} Organization, \
         {} Encounter, {} Condition, {} Observation) in {:.1} s, {:.0} resources/s; \
         {} units of work in {} commits, {} fsyncs",
        plan.patients,
        data_dir.display(),
        c.total(),
        c.patients,
        c.practitioners,
        c.organizations,
        c.encounters,
        c.conditions,
        c.observations,
        g.seconds,
        c.total() as f64 / g.seconds.max(1e-9),
        g.stats.units,
        g.stats.commits,
        g.stats.syncs,
    );
    let sample = plan.patient(1).facts;
    println!(
        "sample: Patient/{} family {:?}, identifier {}|{}; seed {}",
        sample.id,
        sample.family,
        super::MRN_SYSTEM,
        sample.mrn,
        plan.seed
    );
    Ok(generated)
}

/// One unit of work of client-assigned ids.
async fn put(store: &Store, resources: Vec<Value>) -> Result<Counts, String> {
    let counts = Counts::of(&resources);
    let writes = resources
        .into_iter()
        .map(|resource| Write::Update {
            resource,
            if_match: None,
        })
        .collect();
    store
        .transact(writes)
        .await
        .map(|_| counts)
        .map_err(|e| e.to_string())
}

async fn write(store: &Store, plan: Plan) -> Result<Generated, String> {
    let started = Instant::now();
    let shared: Vec<Value> = plan.shared().collect();
    let mut units = stream::iter(shared.chunks(SHARED_PER_UNIT))
        .map(|chunk| put(store, chunk.to_vec()))
        .buffer_unordered(IN_FLIGHT);
    let mut counts = Counts::default();
    while let Some(done) = units.next().await {
        counts.add(done?);
    }
    let mut units = stream::iter(1..=plan.patients)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let written = put(&store, plan.patient(n).resources).await;
                written.map_err(|e| format!("Patient/{}: {e}", patient_id(n)))
            })
        })
        .buffer_unordered(IN_FLIGHT);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            done = units.next() => match done {
                Some(joined) => {
                    counts.add(joined.map_err(|e| format!("a unit of work failed: {e}"))??);
                }
                None => break,
            },
            _ = tick.tick() => progress(&plan, &counts, started.elapsed()),
        }
    }
    Ok(Generated {
        plan,
        counts,
        seconds: started.elapsed().as_secs_f64(),
        stats: store.stats(),
    })
}

/// One line of progress: patients and resources done, rate, time left.
fn progress(plan: &Plan, counts: &Counts, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let done = counts.patients;
    let left = plan.patients - done;
    let eta = if done == 0 {
        "?".to_string()
    } else {
        format!("{:.0} s", seconds * left as f64 / done as f64)
    };
    eprintln!(
        "generate: {done}/{} patients ({:.1}%), {} resources, {:.0} resources/s, ETA {eta}",
        plan.patients,
        100.0 * done as f64 / plan.patients as f64,
        counts.total(),
        counts.total() as f64 / seconds,
    );
}
