//! The walk of `_include` and `_revinclude`: depth first from each match of a
//! page, in page order, through every include (and, below the matches, the
//! `:iterate` ones), each parameter's resources in index order. A resource is
//! taken once per page (the matches count as taken), which also stops cycles.
//!
//! A page takes at most [`Search::max_included`] resources. When more follow,
//! the walk stops and hands back its stack of frames; the next page starts from
//! them, so memory stays bounded by the page whatever the number of referrers,
//! and nothing is dropped. Each frame reads its parameter's rows [`BATCH`] at a
//! time, after the last key it took, with a range scan of the index; the
//! targets of the matches themselves (bounded by the page and the size of a
//! resource) are read for all matches in one query per parameter.

use super::read_seq;
use super::sql::pid_of;
use crate::search::query::{Include, IncludeFrame, IncludeKey, Search};
use crate::store::sqlite::backend;
use crate::store::{StoreError, Version};
use rusqlite::{Connection, params};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};

/// Rows a frame reads at a time.
const BATCH: i64 = 256;

/// The resources a match refers to through one parameter, by type and id.
const TARGETS: &str = "SELECT t.type, t.id, t.rid, x.seq FROM ix_reference f \
     JOIN search_resource t ON t.type = f.target_type AND t.id = f.target_id \
     JOIN ix_resource x ON x.rid = t.rid AND x.seq <= ?1 AND x.until > ?1 \
     WHERE f.rid = ?3 AND f.pid = ?2 AND f.seq <= ?1 AND f.until > ?1 \
     AND (t.type, t.id) > (?4, ?5) AND (?7 IS NULL OR t.type = ?7) \
     ORDER BY t.type, t.id LIMIT ?6";

/// What [`TARGETS`] reads, for many sources at once (`{}`: their rids).
const TARGETS_OF_MANY: &str = "SELECT f.rid, t.type, t.id, t.rid, x.seq FROM ix_reference f \
     JOIN search_resource t ON t.type = f.target_type AND t.id = f.target_id \
     JOIN ix_resource x ON x.rid = t.rid AND x.seq <= ?1 AND x.until > ?1 \
     WHERE f.rid IN ({}) AND f.pid = ?2 AND f.seq <= ?1 AND f.until > ?1 \
     AND (?3 IS NULL OR t.type = ?3) \
     ORDER BY f.rid, t.type, t.id";

/// The resources that refer to a match through one parameter, in the order of
/// the parameter's index (reference text, then rid).
const REFERRERS: &str = "SELECT f.url, f.rid, x.seq FROM search_resource t \
     JOIN ix_reference f ON f.pid = ?2 AND f.target_id = t.id AND f.target_type = t.type \
     JOIN ix_resource x ON x.rid = f.rid AND x.seq <= ?1 AND x.until > ?1 \
     WHERE t.rid = ?3 AND f.seq <= ?1 AND f.until > ?1 \
     AND (f.url, f.rid) > (?4, ?5) AND (?7 IS NULL OR t.type = ?7) \
     ORDER BY f.url, f.rid LIMIT ?6";

/// What a page's walk took, and where it stopped when the page was full.
pub struct Walk {
    pub included: Vec<Version>,
    pub stopped: Option<Vec<IncludeFrame>>,
}

/// One row of a parameter: its key in the walk's order and its version.
struct Row {
    key: IncludeKey,
    rid: i64,
    seq: i64,
}

/// A frame of the walk with the rows read ahead.
struct Frame {
    at: IncludeFrame,
    ahead: VecDeque<Row>,
    /// True once the last read came back short: no rows after `ahead`.
    done: bool,
}

impl Frame {
    fn start(source: i64) -> Frame {
        Frame::resume(IncludeFrame {
            source,
            include: 0,
            param: 0,
            after: None,
        })
    }

    fn resume(at: IncludeFrame) -> Frame {
        Frame {
            at,
            ahead: VecDeque::new(),
            done: false,
        }
    }

    /// On to the next parameter (or the next include after the last one).
    fn next_param(&mut self, params: usize) {
        self.at.param += 1;
        if self.at.param >= params {
            self.at.include += 1;
            self.at.param = 0;
        }
        self.at.after = None;
        self.ahead.clear();
        self.done = false;
    }
}

/// Walks the includes of the matches `roots` (in page order), from `resume`
/// when the page goes on with the walk of an earlier one.
pub fn walk(
    conn: &Connection,
    pids: &[i64],
    snapshot: i64,
    search: &Search,
    roots: &[i64],
    resume: Option<&[IncludeFrame]>,
) -> Result<Walk, StoreError> {
    let mut out = Walk {
        included: Vec::new(),
        stopped: None,
    };
    if search.includes.is_empty() {
        return Ok(out);
    }
    let iterate = search.includes.iter().any(|i| i.iterate);
    // The targets of the matches (a page of them, each naming only what fits
    // in one resource) are read for all matches at once, per parameter.
    let mut targets: HashMap<(usize, usize), HashMap<i64, Vec<Row>>> = HashMap::new();
    let mut seen: HashSet<i64> = roots.iter().copied().collect();
    let mut stack: Vec<Frame> = Vec::new();
    let mut next_root = 0;
    if let Some(frames) = resume {
        // Only a cursor this walk wrote fits the page; another one ends it.
        let Some(i) = frames
            .first()
            .and_then(|f| roots.iter().position(|r| *r == f.source))
        else {
            return Ok(out);
        };
        next_root = i + 1;
        seen.extend(frames.iter().map(|f| f.source));
        stack = frames.iter().cloned().map(Frame::resume).collect();
    }
    loop {
        let depth = stack.len().saturating_sub(1);
        let Some(top) = stack.last_mut() else {
            let Some(&root) = roots.get(next_root) else {
                break;
            };
            next_root += 1;
            stack.push(Frame::start(root));
            continue;
        };
        let Some(inc) = search.includes.get(top.at.include) else {
            stack.pop();
            continue;
        };
        if (depth > 0 && !inc.iterate) || top.at.param >= inc.params.len() {
            top.next_param(inc.params.len());
            continue;
        }
        let Some(row) = top.ahead.pop_front() else {
            if top.done {
                top.next_param(inc.params.len());
            } else if depth == 0 && !inc.reverse && top.at.after.is_none() {
                let by_source = match targets.entry((top.at.include, top.at.param)) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => v.insert(targets_of_many(
                        conn,
                        pids,
                        snapshot,
                        inc,
                        top.at.param,
                        roots,
                    )?),
                };
                let rows = by_source.remove(&top.at.source).unwrap_or_default();
                top.ahead.extend(rows);
                top.done = true;
            } else {
                read_ahead(conn, pids, snapshot, inc, top)?;
            }
            continue;
        };
        if seen.contains(&row.rid) {
            top.at.after = Some(row.key);
            continue;
        }
        if out.included.len() >= search.max_included {
            // The frame's key is still the one before `row`: the next page
            // starts with it.
            out.stopped = Some(stack.into_iter().map(|f| f.at).collect());
            break;
        }
        top.at.after = Some(row.key);
        seen.insert(row.rid);
        out.included.push(read_seq(conn, row.seq)?);
        if iterate {
            stack.push(Frame::start(row.rid));
        }
    }
    Ok(out)
}

/// The targets of every source of `sources` through parameter `param` of
/// `inc`, by source, each in the walk's order.
fn targets_of_many(
    conn: &Connection,
    pids: &[i64],
    snapshot: i64,
    inc: &Include,
    param: usize,
    sources: &[i64],
) -> Result<HashMap<i64, Vec<Row>>, StoreError> {
    let pid = pid_of(pids, &inc.params[param], None);
    let target = inc.target_type.as_deref();
    let mut out: HashMap<i64, Vec<Row>> = HashMap::new();
    for chunk in sources.chunks(500) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let sql = TARGETS_OF_MANY.replace("{}", &list.join(", "));
        let mut stmt = conn.prepare(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![snapshot, pid, target], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Row {
                        key: IncludeKey::Target {
                            resource_type: r.get(1)?,
                            id: r.get(2)?,
                        },
                        rid: r.get(3)?,
                        seq: r.get(4)?,
                    },
                ))
            })
            .map_err(backend)?;
        for row in rows {
            let (source, row) = row.map_err(backend)?;
            out.entry(source).or_default().push(row);
        }
    }
    Ok(out)
}

/// Reads the next rows of the frame's parameter, after its last key.
fn read_ahead(
    conn: &Connection,
    pids: &[i64],
    snapshot: i64,
    inc: &Include,
    frame: &mut Frame,
) -> Result<(), StoreError> {
    let param = &inc.params[frame.at.param];
    let pid = pid_of(pids, param, None);
    let source = frame.at.source;
    let target = inc.target_type.as_deref();
    let rows: Vec<Row> = if inc.reverse {
        let (url, rid) = match &frame.at.after {
            Some(IncludeKey::Referrer { url, rid }) => (url.as_str(), *rid),
            _ => ("", i64::MIN),
        };
        let mut stmt = conn.prepare_cached(REFERRERS).map_err(backend)?;
        stmt.query_map(
            params![snapshot, pid, source, url, rid, BATCH, target],
            |r| {
                let rid = r.get(1)?;
                Ok(Row {
                    key: IncludeKey::Referrer {
                        url: r.get(0)?,
                        rid,
                    },
                    rid,
                    seq: r.get(2)?,
                })
            },
        )
        .and_then(|rows| rows.collect())
        .map_err(backend)?
    } else {
        let (t, id) = match &frame.at.after {
            Some(IncludeKey::Target { resource_type, id }) => (resource_type.as_str(), id.as_str()),
            _ => ("", ""),
        };
        let mut stmt = conn.prepare_cached(TARGETS).map_err(backend)?;
        stmt.query_map(params![snapshot, pid, source, t, id, BATCH, target], |r| {
            Ok(Row {
                key: IncludeKey::Target {
                    resource_type: r.get(0)?,
                    id: r.get(1)?,
                },
                rid: r.get(2)?,
                seq: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(backend)?
    };
    frame.done = (rows.len() as i64) < BATCH;
    frame.ahead.extend(rows);
    Ok(())
}
