//! The audit writer against a real store: events are written within the
//! bound, on close, and the chain goes on across restarts.

use super::chain::Verdict;
use super::*;
use crate::store::Write;
use crate::store::sqlite::SqliteStore;
use serde_json::json;
use std::sync::Arc;

const BASE: &str = "http://h.test";

fn event(i: usize) -> Value {
    json!({"resourceType": "AuditEvent", "recorded": "2026-01-01T00:00:00Z", "outcome": "0",
        "type": {"code": "rest"}, "agent": [{"requestor": true, "who": {"display": format!("n{i}")}}],
        "source": {"observer": {"display": "Hemolink"}}})
}

async fn verdict(store: &Store) -> (Verdict, u64) {
    verify::walk(store, BASE).await.unwrap()
}

#[tokio::test]
async fn events_are_written_chained_and_the_chain_goes_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(Arc::new(SqliteStore::open(dir.path()).unwrap()), BASE);
    let audit = Audit::start(store.clone(), BASE, Duration::from_millis(40))
        .await
        .unwrap();
    for i in 0..50 {
        audit.record(event(i)).await;
    }
    // Within the bound, without closing.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(matches!(verdict(&store).await, (Verdict::Intact(t), 0) if t.sequence == 50));
    for i in 50..70 {
        audit.record(event(i)).await;
    }
    audit.close().await;
    assert!(matches!(verdict(&store).await, (Verdict::Intact(t), 0) if t.sequence == 70));
    // A client's AuditEvent (auditing off then) is outside the chain.
    store
        .write(Write::Create {
            id: "client-written".into(),
            resource: event(99),
            if_none_exist: None,
        })
        .await
        .unwrap();
    let again = Audit::start(store.clone(), BASE, Duration::from_millis(40))
        .await
        .unwrap();
    again.record(event(70)).await;
    again.close().await;
    let (v, others) = verdict(&store).await;
    assert_eq!(others, 1);
    assert!(
        matches!(&v, Verdict::Intact(t) if t.sequence == 71),
        "{v:?}"
    );
    store.close().await;
}
