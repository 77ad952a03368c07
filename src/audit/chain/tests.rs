//! Tests of the chain: linking, and every kind of tampering found at its link.

use super::*;

fn events(n: usize) -> Vec<Value> {
    let mut tail = Tail::default();
    (0..n)
        .map(|i| {
            let mut e = json!({"resourceType": "AuditEvent", "recorded": format!("2026-01-01T00:00:0{i}Z"),
                "outcome": "0", "type": {"code": "rest"}});
            tail.link(&mut e);
            // What the store adds does not count.
            e["id"] = json!(format!("e{i}"));
            e["meta"] = json!({"versionId": "1"});
            e
        })
        .collect()
}

#[test]
fn a_linked_chain_verifies_and_member_order_does_not_matter() {
    let chain = events(5);
    let Verdict::Intact(tail) = verify(&chain) else {
        panic!("broken")
    };
    assert_eq!(tail.sequence, 5);
    assert_eq!(extension(&chain[0], PREVIOUS), Some(GENESIS));
    assert_eq!(extension(&chain[1], PREVIOUS), extension(&chain[0], HASH));
    // The same members in another order hash the same.
    let mut reordered = chain.clone();
    let fields: Vec<(String, Value)> = reordered[2]
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    reordered[2] = Value::Object(fields.into_iter().collect());
    assert!(matches!(verify(&reordered), Verdict::Intact(_)));
    assert!(matches!(verify(&[]), Verdict::Intact(t) if t == Tail::default()));
}

#[test]
fn tampering_is_found_at_the_first_broken_link() {
    let chain = events(5);
    let broken_at = |v: Verdict| match v {
        Verdict::Broken { at, sequence, .. } => (at, sequence),
        Verdict::Intact(_) => panic!("not found"),
    };
    let mut changed = chain.clone();
    changed[2]["outcome"] = json!("8");
    assert_eq!(broken_at(verify(&changed)), ("AuditEvent/e2".into(), 3));
    let mut removed = chain.clone();
    removed.remove(1);
    assert_eq!(broken_at(verify(&removed)), ("AuditEvent/e2".into(), 2));
    let mut swapped = chain.clone();
    swapped.swap(3, 4);
    assert_eq!(broken_at(verify(&swapped)), ("AuditEvent/e4".into(), 4));
    // A rehashed change still breaks the next link.
    let mut rehashed = chain.clone();
    rehashed[1]["outcome"] = json!("4");
    let mut tail = Tail {
        sequence: 1,
        hash: extension(&chain[0], HASH).unwrap().to_string(),
    };
    tail.link(&mut rehashed[1]);
    assert_eq!(broken_at(verify(&rehashed)), ("AuditEvent/e2".into(), 3));
    let mut stripped = chain.clone();
    stripped[0]["extension"] = json!([]);
    assert_eq!(broken_at(verify(&stripped)), ("AuditEvent/e0".into(), 1));
}
