//! The SQLite store through its API: durability settings on every connection,
//! units of work that commit whole or not at all, immutable versions, and
//! forward migrations.

use hemolink::search::parse::{Limits, parse};
use hemolink::search::query::Search;
use hemolink::search::registry::registry;
use hemolink::store::sqlite::SqliteStore;
use hemolink::store::{Backend, Outcome, Store, StoreError, Write};
use serde_json::json;
use std::sync::Arc;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_connection_is_wal_with_synchronous_full() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let store = Store::new(backend.clone(), "http://localhost");
        store
            .write(Write::Update {
                resource: json!({"resourceType": "Patient", "id": "a"}),
                if_match: None,
            })
            .await
            .unwrap();
        // Open several readers at once so the pool holds more than one.
        let reads = (0..4).map(|_| store.read("Patient", "a"));
        for r in futures_util::future::join_all(reads).await {
            assert!(r.unwrap().is_some());
        }
        let settings = backend.connection_settings().await.unwrap();
        assert!(!settings.is_empty());
        for (sync, mode) in settings {
            assert_eq!(sync, 2, "synchronous=FULL");
            assert_eq!(mode, "wal");
        }
        backend.close().await;
    });
}

#[test]
fn a_unit_of_work_commits_whole_or_not_at_all() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(
            Arc::new(SqliteStore::open(dir.path()).unwrap()),
            "http://localhost",
        );
        let ok = store
            .transact(vec![
                Write::Update {
                    resource: json!({"resourceType": "Patient", "id": "a"}),
                    if_match: None,
                },
                Write::Update {
                    resource: json!({"resourceType": "Patient", "id": "b"}),
                    if_match: None,
                },
            ])
            .await
            .unwrap();
        assert!(matches!(ok[0], Outcome::Created(_)));
        let failed = store
            .transact(vec![
                Write::Update {
                    resource: json!({"resourceType": "Patient", "id": "c"}),
                    if_match: None,
                },
                Write::Update {
                    resource: json!({"resourceType": "Patient", "id": "a"}),
                    if_match: Some(7),
                },
            ])
            .await;
        // The error names the write of the unit that failed.
        let Err(StoreError::Write { index: 1, error }) = failed else {
            panic!("{failed:?}");
        };
        assert_eq!(
            *error,
            StoreError::VersionConflict {
                expected: 7,
                current: Some(1)
            }
        );
        assert!(
            store.read("Patient", "c").await.unwrap().is_none(),
            "the first write was rolled back"
        );
        let dup = store
            .transact(vec![Write::Create {
                id: "a".into(),
                resource: json!({"resourceType": "Patient"}),
                if_none_exist: None,
            }])
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))));
        let found = store
            .write(Write::Create {
                id: "z".into(),
                resource: json!({"resourceType": "Patient"}),
                if_none_exist: Some(condition("Patient", "_id", "b")),
            })
            .await
            .unwrap();
        assert!(matches!(found, Outcome::Existing(v) if v.id == "b"));
        store.close().await;
        assert!(
            store.read("Patient", "a").await.is_err(),
            "a closed store refuses work"
        );
    });
}

#[test]
fn versions_are_immutable_and_schema_is_versioned() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let store = Store::new(
            Arc::new(SqliteStore::open(dir.path()).unwrap()),
            "http://localhost",
        );
        store
            .write(Write::Update {
                resource: json!({"resourceType": "Patient", "id": "a"}),
                if_match: None,
            })
            .await
            .unwrap();
        store.close().await;
    });
    let conn = rusqlite::Connection::open(dir.path().join("hemolink.db")).unwrap();
    let err = conn
        .execute("UPDATE resource_version SET body = '{}'", [])
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    assert!(conn.execute("DELETE FROM resource_version", []).is_err());
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let refused = SqliteStore::open(dir.path())
        .err()
        .expect("a newer schema is refused");
    assert!(refused.to_string().contains("newer"), "{refused}");
}

/// The search `type?name=value`, as a conditional interaction parses it.
fn condition(t: &str, name: &str, value: &str) -> Search {
    let limits = Limits {
        default_count: 2,
        max_count: 2,
        max_included: 1,
    };
    let params = [(name.to_string(), value.to_string())];
    parse(
        registry(),
        &[t.to_string()],
        &params,
        "http://localhost",
        true,
        limits,
    )
    .expect("a valid condition")
    .search
}

#[test]
fn a_failed_unit_in_a_group_commit_leaves_the_others_committed() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let store = Store::new(backend.clone(), "http://localhost");
        // Sent at once, the units reach the writer together and share commits;
        // every fifth fails on its second write.
        let units = (0..60).map(|i| {
            let mut writes = vec![Write::Update {
                resource: json!({"resourceType": "Patient", "id": format!("p{i}")}),
                if_match: None,
            }];
            if i % 5 == 0 {
                writes.push(Write::Update {
                    resource: json!({"resourceType": "Patient", "id": format!("q{i}")}),
                    if_match: Some(3),
                });
            }
            store.transact(writes)
        });
        let results = futures_util::future::join_all(units).await;
        assert!(
            store.stats().commits < 60,
            "the units shared commits: {:?}",
            store.stats()
        );
        for (i, r) in results.into_iter().enumerate() {
            let stored = store.read("Patient", &format!("p{i}")).await.unwrap();
            if i % 5 == 0 {
                assert!(
                    matches!(r, Err(StoreError::Write { index: 1, .. })),
                    "{i}: {r:?}"
                );
                assert!(stored.is_none(), "{i}: the failed unit was rolled back");
            } else {
                assert!(r.is_ok(), "{i}: {r:?}");
                assert!(stored.is_some(), "{i}: committed");
            }
        }
        store.close().await;
    });
}

#[test]
fn the_stored_text_is_the_resource_with_its_stamp_first() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(
            Arc::new(SqliteStore::open(dir.path()).unwrap()),
            "http://localhost",
        );
        let resource = json!({
            "resourceType": "Patient",
            "id": "x",
            "meta": {"versionId": "9", "tag": [{"code": "t\"1"}], "lastUpdated": "2000-01-01T00:00:00Z"},
            "name": [{"family": "O\"Brien\\\n"}],
            "active": true
        });
        let Outcome::Created(v) = store
            .write(Write::Update {
                resource,
                if_match: None,
            })
            .await
            .unwrap()
        else {
            panic!("not created");
        };
        let body = v.body.unwrap();
        assert!(body.starts_with(r#"{"resourceType":"Patient","id":"x","meta":{"versionId":"1","lastUpdated":""#));
        let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(stored["meta"]["tag"][0]["code"], "t\"1");
        assert_eq!(stored["name"][0]["family"], "O\"Brien\\\n");
        assert_eq!(stored["active"], true);
        let keys: Vec<&String> = stored.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "name", "active"]);
        let meta: Vec<&String> = stored["meta"].as_object().unwrap().keys().collect();
        assert_eq!(meta, ["versionId", "lastUpdated", "tag"]);
        store.close().await;
    });
}

#[test]
fn server_ids_sort_in_the_order_they_were_made() {
    let ids: Vec<String> = (0..10_000).map(|_| hemolink::store::new_id()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "each id sorts after the one made before it");
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
}

fn hl7(control_id: &str, raw: &[u8]) -> hemolink::store::messages::NewMessage {
    use hemolink::store::messages::{NewMessage, Status};
    NewMessage {
        received: 1_000,
        listener: "127.0.0.1:2575".into(),
        peer: "127.0.0.1:5000".into(),
        key: ("LAB".into(), "SITE".into(), control_id.into()),
        message_type: "ADT^A04".into(),
        version: "2.5.1".into(),
        raw: raw.to_vec(),
        status: Status::Processed,
        ack: Some(b"MSH|^~\\&|ACK".to_vec()),
        resources: vec!["Patient/p1".into()],
        error: None,
    }
}

#[test]
fn a_message_key_is_kept_once_and_a_duplicate_unit_writes_nothing() {
    use hemolink::store::messages::{
        DeliveryStatus, MessageQuery, MessageWrite, OutboxQuery, Status,
    };
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(
            Arc::new(SqliteStore::open(dir.path()).unwrap()),
            "http://localhost",
        );
        let patient = |id: &str| Write::Update {
            resource: json!({"resourceType": "Patient", "id": id}),
            if_match: None,
        };
        let receive = |m| Write::Message(MessageWrite::Receive(Box::new(m)));
        let first = store
            .transact(vec![receive(hl7("M1", b"one")), patient("p1")])
            .await
            .unwrap();
        let Outcome::Message(id) = first[0] else {
            panic!("{first:?}")
        };
        let again = store
            .transact(vec![receive(hl7("M1", b"one")), patient("p2")])
            .await
            .unwrap_err();
        assert_eq!(
            again,
            StoreError::Duplicate {
                of: id,
                ack: Some(b"MSH|^~\\&|ACK".to_vec()),
                same: true
            }
        );
        assert!(store.read("Patient", "p2").await.unwrap().is_none());
        let changed = store
            .transact(vec![receive(hl7("M1", b"two"))])
            .await
            .unwrap_err();
        assert!(matches!(changed, StoreError::Duplicate { same: false, .. }));
        let mut copy = hl7("M1", b"two");
        copy.status = Status::Duplicate;
        store
            .write(Write::Message(MessageWrite::Duplicate {
                message: Box::new(copy),
                of: id,
            }))
            .await
            .unwrap();
        store
            .write(Write::Message(MessageWrite::Finish {
                id,
                status: Status::Error,
                resources: vec![],
                error: Some("mapping failed".into()),
            }))
            .await
            .unwrap();
        let all = store
            .messages(&MessageQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].message.status, Status::Error);
        assert_eq!(all[0].message.error.as_deref(), Some("mapping failed"));
        assert_eq!(all[1].duplicate_of, Some(id));
        let errors = store
            .messages(&MessageQuery {
                status: Some(Status::Duplicate),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(errors.len(), 1);

        let queued = store
            .write(Write::Message(MessageWrite::Enqueue {
                destination: "127.0.0.1:2576".into(),
                control_id: "HL1".into(),
                payload: b"MSH|".to_vec(),
                source: Some(id),
            }))
            .await
            .unwrap();
        let Outcome::Message(entry) = queued else {
            panic!()
        };
        store
            .write(Write::Message(MessageWrite::Delivery {
                id: entry,
                status: DeliveryStatus::Sent,
                attempts: 1,
                next_attempt: 0,
                error: None,
                ack: Some(b"MSA|CA|HL1".to_vec()),
            }))
            .await
            .unwrap();
        let out = store
            .outbox(&OutboxQuery {
                destination: Some("127.0.0.1:2576".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(out[0].status, DeliveryStatus::Sent);
        assert_eq!(out[0].source, Some(id));
        store
            .write(Write::Message(MessageWrite::Purge { before: i64::MAX }))
            .await
            .unwrap();
        let left = store
            .messages(&MessageQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(left.is_empty());
    })
}
