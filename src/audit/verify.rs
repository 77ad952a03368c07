//! `hemolink audit verify`: walks the AuditEvents of `--data-dir` in the
//! order they were written (oldest first, a page at a time, so memory does
//! not grow with the trail) and checks each link of the hash chain. Not
//! while a server runs on that directory (the store is one process's).

use super::chain::{Verdict, Walk, is_chained};
use crate::config::Config;
use crate::store::Store;
use serde_json::Value;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the AuditEvents; report the first broken link
    /// (exit status 1) or how many events are intact.
    Verify,
}

/// Runs an audit command on the store of `config`.
pub fn run(command: AuditCommand, config: &Config) -> Result<(), String> {
    let AuditCommand::Verify = command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let backend = crate::store::sqlite::SqliteStore::open(&config.data_dir)
            .map_err(|e| format!("store: {e}"))?;
        let store = Store::new(std::sync::Arc::new(backend), &config.base_url);
        let verdict = walk(&store, &config.base_url).await;
        store.close().await;
        match verdict? {
            (Verdict::Intact(tail), others) => {
                println!(
                    "audit chain intact: {} events{}",
                    tail.sequence,
                    if others > 0 {
                        format!(" ({others} AuditEvents outside the chain, written by clients while auditing was off)")
                    } else {
                        String::new()
                    }
                );
                Ok(())
            }
            (Verdict::Broken { at, sequence, why }, _) => Err(format!(
                "audit chain broken at {at} (where event {sequence} should be): {why}"
            )),
        }
    })
}

/// The verdict on the chain, and how many AuditEvents are outside it.
pub(super) async fn walk(store: &Store, base: &str) -> Result<(Verdict, u64), String> {
    let mut search = super::trail_search(base, false, 1000)?;
    let mut walk = Walk::default();
    let mut others = 0;
    loop {
        let page = store.search(&search).await.map_err(|e| e.to_string())?;
        for v in &page.matches {
            let Some(body) = v.body.as_deref() else {
                continue;
            };
            let event: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
            if !is_chained(&event) {
                others += 1;
                continue;
            }
            if let Err(broken) = walk.step(&event) {
                return Ok((broken, others));
            }
        }
        match page.next {
            Some(next) => search.page = Some(next),
            None => return Ok((Verdict::Intact(walk.tail), others)),
        }
    }
}
