//! Executing a search on the SQLite store, in one read transaction: the
//! snapshot (the last committed `seq` for a first page, the cursor's after),
//! the page of matches by keyset over the sort keys and `rid`, the total, and
//! the included resources, all as of the snapshot, so that paging links stay
//! valid and exact while writes go on.

mod include;
mod sql;

use super::{VERSION_COLUMNS, backend, version_row};
use crate::search::query::*;
use crate::search::registry::Kind;
use crate::store::{SearchPage, StoreError, Version};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params_from_iter};
use sql::{Builder, drives, snap, table_of};

/// Runs `search` on `conn` in a read transaction of its own; `pids` are the
/// database numbers of the registry's slots.
pub fn run(conn: &Connection, pids: &[i64], search: &Search) -> Result<SearchPage, StoreError> {
    let tx = conn.unchecked_transaction().map_err(backend)?;
    let page = run_in(&tx, pids, search);
    tx.finish().map_err(backend)?;
    page
}

/// One match of a page: its rid, its version row and its sort keys.
struct Hit {
    rid: i64,
    seq: i64,
    keys: Vec<KeyValue>,
}

/// Runs `search` inside the transaction `conn` is in (the writer's, for a
/// conditional write, so that it sees what the commit wrote before it).
pub fn run_in(conn: &Connection, pids: &[i64], search: &Search) -> Result<SearchPage, StoreError> {
    let snapshot = match &search.page {
        Some(c) => c.snapshot,
        None => conn
            .query_row(
                "SELECT coalesce(max(seq), 0) FROM resource_version",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?,
    };
    let mut b = Builder::new(pids, snapshot);
    let all = matches_sql(&mut b, search);
    let total = match (&search.page, search.total) {
        (Some(c), _) => c.total,
        (None, Total::None) => None,
        (None, _) => {
            let q = format!("SELECT count(*) FROM ({all})");
            Some(
                conn.prepare(&q)
                    .and_then(|mut s| {
                        s.query_row(params_from_iter(b.binds.iter()), |r| r.get::<_, i64>(0))
                    })
                    .map_err(backend)? as u64,
            )
        }
    };
    let mut page = SearchPage {
        matches: Vec::new(),
        included: Vec::new(),
        total,
        next: None,
        previous: None,
    };
    if search.count == 0 {
        return Ok(page);
    }
    let after = search.page.as_ref().and_then(|c| c.after.clone());
    let backwards = after.as_ref().is_some_and(|p| p.backwards);
    let q = page_sql(&mut b, search, &all);
    let nkeys = search.sort.len();
    let mut stmt = conn.prepare(&q).map_err(backend)?;
    let rows = stmt
        .query_map(params_from_iter(b.binds.iter()), |r| {
            let mut keys = Vec::with_capacity(nkeys);
            for k in 0..nkeys {
                keys.push(match r.get::<_, Sql>(2 + k)? {
                    Sql::Integer(i) => KeyValue::Int(i),
                    Sql::Real(f) => KeyValue::Real(f),
                    Sql::Text(s) => KeyValue::Text(s),
                    _ => KeyValue::Int(i64::MIN),
                });
            }
            Ok(Hit {
                rid: r.get(0)?,
                seq: r.get(1)?,
                keys,
            })
        })
        .map_err(backend)?;
    let mut hits: Vec<Hit> = rows.collect::<Result<_, _>>().map_err(backend)?;
    let more = hits.len() > search.count;
    hits.truncate(search.count);
    if backwards {
        hits.reverse();
    }
    let cursor = |after: Option<Position>, includes: Option<Vec<IncludeFrame>>| Cursor {
        snapshot,
        total,
        after,
        includes,
    };
    let position = |h: &Hit, backwards: bool| Position {
        keys: h.keys.clone(),
        rid: h.rid,
        backwards,
    };
    let (has_next, has_previous) = if backwards {
        (true, more)
    } else {
        (more, after.is_some())
    };
    if has_previous {
        page.previous = hits.first().map(|h| cursor(Some(position(h, true)), None));
    }
    let resume = search.page.as_ref().and_then(|c| c.includes.as_deref());
    if resume.is_none() {
        for h in &hits {
            page.matches.push(read_seq(conn, h.seq)?);
        }
    }
    let roots: Vec<i64> = hits.iter().map(|h| h.rid).collect();
    let walk = include::walk(conn, pids, snapshot, search, &roots, resume)?;
    page.included = walk.included;
    page.next = match walk.stopped {
        Some(frames) => Some(cursor(after, Some(frames))),
        None if has_next => hits.last().map(|h| cursor(Some(position(h, false)), None)),
        None => None,
    };
    Ok(page)
}

/// The SQL selecting `rid, seq, k0, k1, …` of every match, as of the snapshot.
fn matches_sql(b: &mut Builder<'_>, search: &Search) -> String {
    let mut selects = Vec::new();
    for (i, branch) in search.branches.iter().enumerate() {
        let t = b.bind(branch.resource_type.clone());
        let mut sql = "SELECT r.rid AS rid, r.seq AS seq".to_string();
        for (k, s) in search.sort.iter().enumerate() {
            let key = sort_key(b, s, i);
            sql.push_str(&format!(", {key} AS k{k}"));
        }
        sql.push_str(&format!(
            " FROM ix_resource r WHERE r.type = {t} AND {}",
            snap("r")
        ));
        // One clause that picks its resources from an index drives the
        // search (`r.rid IN (…)`); every other clause is checked per candidate.
        let driver = branch
            .clauses
            .iter()
            .position(|c| c.0.iter().all(drives))
            .or(if branch.clauses.is_empty() {
                None
            } else {
                Some(0)
            });
        for (ci, clause) in branch.clauses.iter().enumerate() {
            let parts: Vec<String> = clause
                .0
                .iter()
                .map(|c| {
                    if Some(ci) == driver {
                        b.cond(c, &branch.resource_type, "r.rid")
                    } else {
                        b.check(c, &branch.resource_type, "r.rid")
                    }
                })
                .collect();
            if parts.is_empty() {
                sql.push_str(" AND 0");
            } else {
                sql.push_str(&format!(" AND ({})", parts.join(" OR ")));
            }
        }
        selects.push(sql);
    }
    selects.join(" UNION ALL ")
}

/// The SQL of one page (one row more than the page, to tell whether another follows).
fn page_sql(b: &mut Builder<'_>, search: &Search, all: &str) -> String {
    let after = search.page.as_ref().and_then(|c| c.after.as_ref());
    let backwards = after.is_some_and(|p| p.backwards);
    let mut order: Vec<String> = Vec::new();
    for (k, s) in search.sort.iter().enumerate() {
        let desc = s.descending != backwards;
        order.push(format!("k{k} {}", if desc { "DESC" } else { "ASC" }));
    }
    order.push(format!("rid {}", if backwards { "DESC" } else { "ASC" }));
    let keyset = match after {
        Some(p) => keyset(b, &search.sort, p),
        None => "1".to_string(),
    };
    let limit = search.count + 1;
    format!(
        "SELECT * FROM ({all}) WHERE {keyset} ORDER BY {} LIMIT {limit}",
        order.join(", ")
    )
}

/// `EXPLAIN QUERY PLAN` of the statements the first page of `search` runs (the
/// count, then the page): each statement's SQL and the plan's lines.
pub fn explain(
    conn: &Connection,
    pids: &[i64],
    search: &Search,
) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let snapshot: i64 = conn
        .query_row(
            "SELECT coalesce(max(seq), 0) FROM resource_version",
            [],
            |r| r.get(0),
        )
        .map_err(backend)?;
    let mut b = Builder::new(pids, snapshot);
    let all = matches_sql(&mut b, search);
    let count = format!("SELECT count(*) FROM ({all})");
    let page = page_sql(&mut b, search, &all);
    let mut out = Vec::new();
    for sql in [count, page] {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .map_err(backend)?;
        let lines = stmt
            .query_map(params_from_iter(b.binds.iter()), |r| r.get::<_, String>(3))
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        out.push((sql, lines));
    }
    Ok(out)
}

/// The SQL of a sort key of branch `i`, as of the snapshot; a resource with no
/// value sorts as the lowest value.
fn sort_key(b: &mut Builder<'_>, s: &Sort, i: usize) -> String {
    match &s.key {
        SortKey::Id => "(SELECT id FROM search_resource WHERE rid = r.rid)".to_string(),
        SortKey::LastUpdated => "r.last_updated".to_string(),
        SortKey::Param(params) => {
            let p = &params[i.min(params.len() - 1)];
            let agg = if s.descending { "max" } else { "min" };
            let pid = b.pid(p, None);
            let (col, none) = match p.kind {
                Kind::String => ("norm", "''"),
                Kind::Token => ("code", "''"),
                Kind::Date => (
                    if s.descending { "hi" } else { "lo" },
                    "-9223372036854775808",
                ),
                Kind::Number | Kind::Quantity => ("value", "-1e308"),
                Kind::Reference => ("target_type || '/' || target_id || url", "''"),
                Kind::Uri => ("uri", "''"),
                Kind::Composite | Kind::Special => ("rid", "0"),
            };
            let table = table_of(p.kind);
            format!(
                "coalesce((SELECT {agg}({col}) FROM {table} s WHERE s.rid = r.rid AND s.pid = {pid} AND {}), {none})",
                snap("s")
            )
        }
    }
}

/// The keyset condition: rows after the cursor in the sort order (before it
/// when going backwards).
fn keyset(b: &mut Builder<'_>, sort: &[Sort], c: &Position) -> String {
    let mut ors = Vec::new();
    let mut equal: Vec<String> = Vec::new();
    for (k, s) in sort.iter().enumerate() {
        let Some(value) = c.keys.get(k) else {
            return "0".to_string();
        };
        let v = match value {
            KeyValue::Int(i) => b.bind(*i),
            KeyValue::Real(f) => b.bind(*f),
            KeyValue::Text(t) => b.bind(t.clone()),
        };
        let greater = s.descending == c.backwards;
        let op = if greater { ">" } else { "<" };
        let mut cond = equal.clone();
        cond.push(format!("k{k} {op} {v}"));
        ors.push(format!("({})", cond.join(" AND ")));
        equal.push(format!("k{k} = {v}"));
    }
    let rid = b.bind(c.rid);
    let op = if c.backwards { "<" } else { ">" };
    let mut cond = equal;
    cond.push(format!("rid {op} {rid}"));
    ors.push(format!("({})", cond.join(" AND ")));
    format!("({})", ors.join(" OR "))
}

/// The version written as `seq`.
fn read_seq(conn: &Connection, seq: i64) -> Result<Version, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM resource_version v WHERE v.seq = ?1"
    ))
    .and_then(|mut s| s.query_row([seq], version_row))
    .map(|(_, v)| v)
    .map_err(backend)
}
