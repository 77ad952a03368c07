//! The HL7 v2 message store and outbox in SQLite (tables `hl7_message` and
//! `hl7_outbox`, migration 3): the writes the writer applies inside a unit of
//! work, and the reads behind the admin API and the outbound sender.

use super::super::StoreError;
use super::super::messages::{
    DeliveryStatus, MessageQuery, MessageWrite, NewMessage, OutboxEntry, OutboxQuery, Status,
    StoredMessage,
};
use crate::fhir::instant::now_micros;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The first receipt of a key. `control_id <> ''` repeats the condition of the
/// partial unique index `hl7_message_key`, which SQLite uses only when the
/// query implies it: without it each receipt scanned the whole table.
const FIRST_RECEIPT: &str = "SELECT id, ack, raw FROM hl7_message WHERE sending_app = ?1 \
     AND sending_facility = ?2 AND control_id = ?3 AND duplicate_of IS NULL AND control_id <> ''";

/// Applies one write; returns the id of the row it added (0 for a change).
pub fn apply(conn: &Connection, write: &MessageWrite) -> Result<i64, StoreError> {
    match write {
        MessageWrite::Receive(m) if m.key.2.is_empty() => insert(conn, m, None),
        MessageWrite::Receive(m) => {
            let kept: Option<(i64, Option<Vec<u8>>, Vec<u8>)> = conn
                .prepare_cached(FIRST_RECEIPT)
                .and_then(|mut s| {
                    s.query_row(params![m.key.0, m.key.1, m.key.2], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .map_err(backend)?;
            if let Some((of, ack, raw)) = kept {
                return Err(StoreError::Duplicate {
                    of,
                    ack,
                    same: raw == m.raw,
                });
            }
            insert(conn, m, None)
        }
        MessageWrite::Duplicate { message, of } => insert(conn, message, Some(*of)),
        MessageWrite::Finish {
            id,
            status,
            resources,
            error,
        } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE hl7_message SET status = ?2, resources = ?3, error = ?4, updated = ?5 \
                     WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id,
                        status.as_str(),
                        json_list(resources),
                        error,
                        now_micros()
                    ])
                })
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Invalid(format!("there is no message {id}")));
            }
            Ok(0)
        }
        MessageWrite::Enqueue {
            destination,
            control_id,
            payload,
            source,
        } => {
            let now = now_micros();
            conn.prepare_cached(
                "INSERT INTO hl7_outbox (destination, control_id, payload, source, status, attempts, \
                 next_attempt, created, updated) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5)",
            )
            .and_then(|mut s| s.execute(params![destination, control_id, payload, source, now]))
            .map_err(backend)?;
            Ok(conn.last_insert_rowid())
        }
        MessageWrite::Delivery {
            id,
            status,
            attempts,
            next_attempt,
            error,
            ack,
        } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE hl7_outbox SET status = ?2, attempts = ?3, next_attempt = ?4, error = ?5, \
                     ack = ?6, updated = ?7 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        id,
                        status.as_str(),
                        attempts,
                        next_attempt,
                        error,
                        ack,
                        now_micros()
                    ])
                })
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::Invalid(format!(
                    "there is no outbox entry {id}"
                )));
            }
            Ok(0)
        }
        MessageWrite::Purge { before } => {
            conn.execute("DELETE FROM hl7_message WHERE received < ?1", [before])
                .map_err(backend)?;
            conn.execute(
                "DELETE FROM hl7_outbox WHERE status = 'sent' AND updated < ?1",
                [before],
            )
            .map_err(backend)?;
            Ok(0)
        }
    }
}

fn insert(conn: &Connection, m: &NewMessage, of: Option<i64>) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO hl7_message (received, updated, listener, peer, sending_app, sending_facility, \
         control_id, message_type, version, raw, status, duplicate_of, ack, resources, error) \
         VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.received,
            m.listener,
            m.peer,
            m.key.0,
            m.key.1,
            m.key.2,
            m.message_type,
            m.version,
            m.raw,
            m.status.as_str(),
            of,
            m.ack,
            json_list(&m.resources),
            m.error,
        ])
    })
    .map_err(backend)?;
    Ok(conn.last_insert_rowid())
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

/// A `WHERE … ORDER BY id LIMIT` clause built from optional conditions,
/// with its arguments.
struct Filter {
    sql: String,
    args: Vec<Sql>,
}

impl Filter {
    fn new(select: &str) -> Filter {
        Filter {
            sql: format!("{select} WHERE 1 = 1"),
            args: Vec::new(),
        }
    }

    /// Adds ` AND {column} {op} ?` when `value` is given.
    fn and(&mut self, column: &str, op: &str, value: Option<Sql>) {
        if let Some(v) = value {
            self.args.push(v);
            self.sql
                .push_str(&format!(" AND {column} {op} ?{}", self.args.len()));
        }
    }

    /// Ends it with the order and the page size.
    fn page(mut self, limit: usize) -> (String, Vec<Sql>) {
        self.args
            .push(Sql::Integer(limit.min(i64::MAX as usize) as i64));
        self.sql
            .push_str(&format!(" ORDER BY id LIMIT ?{}", self.args.len()));
        (self.sql, self.args)
    }
}

/// The messages a query selects, oldest first.
pub fn list(conn: &Connection, q: &MessageQuery) -> Result<Vec<StoredMessage>, StoreError> {
    let mut f = Filter::new(
        "SELECT id, received, updated, listener, peer, sending_app, sending_facility, control_id, \
         message_type, version, raw, status, duplicate_of, ack, resources, error FROM hl7_message",
    );
    f.and("id", "=", q.id.map(Sql::Integer));
    f.and(
        "status",
        "=",
        q.status.map(|s| Sql::Text(s.as_str().into())),
    );
    f.and("received", ">=", q.since.map(Sql::Integer));
    f.and("id", ">", q.after.map(Sql::Integer));
    let (sql, args) = f.page(q.limit);
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            let status: String = r.get(11)?;
            let resources: String = r.get(14)?;
            Ok(StoredMessage {
                id: r.get(0)?,
                updated: r.get(2)?,
                duplicate_of: r.get(12)?,
                message: NewMessage {
                    received: r.get(1)?,
                    listener: r.get(3)?,
                    peer: r.get(4)?,
                    key: (r.get(5)?, r.get(6)?, r.get(7)?),
                    message_type: r.get(8)?,
                    version: r.get(9)?,
                    raw: r.get(10)?,
                    status: Status::parse(&status).unwrap_or(Status::Error),
                    ack: r.get(13)?,
                    resources: serde_json::from_str(&resources).unwrap_or_default(),
                    error: r.get(15)?,
                },
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

/// The outbox entries a query selects, oldest first.
pub fn outbox(conn: &Connection, q: &OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut f = Filter::new(
        "SELECT id, destination, control_id, payload, source, status, attempts, next_attempt, \
         error, ack, created, updated FROM hl7_outbox",
    );
    f.and("id", "=", q.id.map(Sql::Integer));
    f.and("destination", "=", q.destination.clone().map(Sql::Text));
    f.and(
        "status",
        "=",
        q.status.map(|s| Sql::Text(s.as_str().into())),
    );
    f.and("id", ">", q.after.map(Sql::Integer));
    let (sql, args) = f.page(q.limit);
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            let status: String = r.get(5)?;
            Ok(OutboxEntry {
                id: r.get(0)?,
                destination: r.get(1)?,
                control_id: r.get(2)?,
                payload: r.get(3)?,
                source: r.get(4)?,
                status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Errored),
                attempts: r.get(6)?,
                next_attempt: r.get(7)?,
                error: r.get(8)?,
                ack: r.get(9)?,
                created: r.get(10)?,
                updated: r.get(11)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_a_first_receipt_uses_the_key_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {FIRST_RECEIPT}"))
            .unwrap()
            .query_map(params!["A", "F", "1"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("USING INDEX hl7_message_key")),
            "{plan:?}"
        );
    }
}
