//! `hemolink bench-mllp`: the benchmark of the HL7 v2 listener. In one run it
//! measures the disk's fsync rate; then, in this process, how fast messages
//! are parsed (MB/s) and mapped (resources/s); then it starts the real server
//! with an MLLP listener and drives it with 1, 8 and 64 stop-and-wait
//! connections, for an ADT^A04 and a 20-OBX ORU^R01, in original mode (AA
//! after the message and its resources commit) and enhanced mode (CA after
//! the message commits; mapping follows), and an ADT^A03, which has no map,
//! to show what receipt alone costs. Every message has its own control
//! id and its own donor, so each one writes new resources. It reports
//! messages/s, ACK latency p50/p99, commits/s and fsyncs per acknowledged
//! message (from `/metrics`), the server's CPU time per message (from
//! `/proc`), and, in enhanced mode, how fast the backlog was mapped.

use super::{fsync_probe, load::counters, proc_status_kb, rank, start_server, wait};
use crate::hl7::charset::Charset;
use crate::hl7::header::Header;
use crate::hl7::message::Message;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Options of `hemolink bench-mllp`.
#[derive(Debug, Clone, clap::Args)]
pub struct MllpArgs {
    /// Concurrent connections of each phase, comma-separated.
    #[arg(long, default_value = "1,8,64")]
    pub connections: String,
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of the disk fsync probe (4 KiB appends, each followed by fdatasync).
    #[arg(long, default_value_t = 10)]
    pub fsync_seconds: u64,
    /// Messages to send, comma-separated: `adt` (ADT^A04), `oru` (ORU^R01
    /// with 20 OBX), `a03` (ADT^A03, which has no map: receipt alone).
    #[arg(long, default_value = "adt,oru,a03")]
    pub messages: String,
    /// Acknowledgement modes, comma-separated: `original`, `enhanced`.
    #[arg(long, default_value = "original,enhanced")]
    pub modes: String,
}

const ADT: &str = include_str!("../../tests/fixtures/hl7/adt_a04.hl7");
const ORU: &str = include_str!("../../tests/fixtures/hl7/oru_r01_20obx.hl7");

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

pub fn run(args: &MllpArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-mllp: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The message `template` for sender `n`: its own control id, and its own
/// donor, visit and order numbers, so that it maps to new resources.
fn message(template: &str, n: u64, enhanced: bool) -> String {
    let (msh, rest) = template.split_once('\r').unwrap_or((template, ""));
    let mut fields: Vec<String> = msh.split('|').map(str::to_string).collect();
    fields.resize(fields.len().max(16), String::new());
    fields[9] = format!("B{n}");
    if enhanced {
        fields[14] = "AL".into();
        fields[15] = "NE".into();
    }
    let rest = rest
        .replace("D100234", &format!("D{n}"))
        .replace("H200456", &format!("H{n}"))
        .replace("V26001", &format!("V{n}"))
        .replace("V88001", &format!("V{n}"))
        .replace("HX26120211", &format!("HX{n}"))
        .replace("FB3301", &format!("FB{n}"));
    format!("{}\r{rest}", fields.join("|"))
}

/// Bytes the server has handed to `write` and `pwrite` so far (`wchar` of
/// `/proc/PID/io`): the WAL frames of its commits, the checkpoints, the
/// replies.
fn written_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("wchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Server CPU seconds so far (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS
}

fn run_inner(args: &MllpArgs) -> Result<(), String> {
    let connections: Vec<usize> = args
        .connections
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .map_err(|_| format!("--connections: '{c}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    for (option, list, known) in [
        ("--messages", &args.messages, &["adt", "oru", "a03"][..]),
        ("--modes", &args.modes, &["original", "enhanced"][..]),
    ] {
        if let Some(unknown) = list.split(',').find(|k| !known.contains(&k.trim())) {
            return Err(format!(
                "{option}: '{unknown}' is not one of {}",
                known.join(", ")
            ));
        }
    }
    let data_dir = std::env::temp_dir().join(format!("hemolink-bench-mllp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let fsyncs =
        fsync_probe(&data_dir, args.fsync_seconds).map_err(|e| format!("fsync probe: {e}"))?;
    println!(
        "# hemolink bench-mllp: {} s per phase, data in {}\n\ndisk: {fsyncs:.0} fdatasync/s (4 KiB appends, {} s, on the data directory's filesystem)\n",
        args.seconds,
        data_dir.display(),
        args.fsync_seconds
    );
    println!(
        "| message | bytes | parse MB/s | parse msg/s | map msg/s | resources/message | mapped resources/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, template) in [("ADT^A04", ADT), ("ORU^R01 (20 OBX)", ORU)] {
        parse_and_map(name, template);
    }
    let (server, _) = start_server(&data_dir, &["--mllp-listen", "127.0.0.1:0"])?;
    let mllp = server
        .mllp
        .ok_or("the server did not open its MLLP listener")?;
    let pid = server.child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    println!(
        "\n| message | mode | connections | msg/s | p50 ms | p99 ms | errors | commits/s | fsyncs per ack | server CPU ms per msg | KiB written per msg | mapped msg/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let next = Arc::new(AtomicU64::new(0));
    let stored_only = ADT.replace("ADT^A04^ADT_A01", "ADT^A03^ADT_A03");
    let templates = [
        ("adt", "ADT^A04", Arc::<str>::from(ADT)),
        ("oru", "ORU^R01 20 OBX", Arc::from(ORU)),
        (
            "a03",
            "ADT^A03 (no map: receipt only)",
            Arc::from(stored_only),
        ),
    ];
    let chosen = |list: &str, key: &str| list.split(',').any(|k| k.trim() == key);
    let mut singles = Vec::new();
    for (key, name, template) in templates {
        if !chosen(&args.messages, key) {
            continue;
        }
        for (mode, enhanced) in [("original", false), ("enhanced", true)] {
            if !chosen(&args.modes, mode) {
                continue;
            }
            for &n in &connections {
                let before = rt.block_on(counters(server.addr))?;
                let cpu = cpu_seconds(pid);
                let written = written_bytes(pid);
                let started = Instant::now();
                let Phase {
                    latencies,
                    errors,
                    request,
                    reply,
                } = phase(
                    mllp,
                    n,
                    Duration::from_secs(args.seconds),
                    template.clone(),
                    enhanced,
                    next.clone(),
                )?;
                let secs = started.elapsed().as_secs_f64();
                let after = rt.block_on(counters(server.addr))?;
                let acked = latencies.len() as f64;
                // Enhanced mode: wait until every accepted message is mapped.
                let mapped = if enhanced {
                    let drained = rt.block_on(drain(server.addr))?;
                    format!("{:.0}", acked / (secs + drained))
                } else {
                    "(in the ack)".into()
                };
                let cpu_per = (cpu_seconds(pid) - cpu) / acked.max(1.0) * 1000.0;
                let written_per = (written_bytes(pid) - written) as f64 / acked.max(1.0) / 1024.0;
                let p = |q| {
                    rank(latencies.len(), q).map_or(0.0, |i| latencies[i].as_secs_f64() * 1000.0)
                };
                println!(
                    "| {name} | {} | {n} | {:.0} | {:.2} | {:.2} | {errors} | {:.0} | {:.2} | {cpu_per:.2} | {written_per:.0} | {mapped} |",
                    if enhanced {
                        "enhanced (CA)"
                    } else {
                        "original (AA)"
                    },
                    acked / secs,
                    p(0.5),
                    p(0.99),
                    (after.commits - before.commits) as f64 / secs,
                    (after.syncs - before.syncs) as f64 / acked.max(1.0),
                );
                if n == 1 && !enhanced {
                    singles.push(Single {
                        name,
                        rate: acked / secs,
                        cpu: cpu_per / 1000.0,
                        disk: (after.sync_wait - before.sync_wait) / acked.max(1.0),
                        request,
                        reply,
                    });
                }
            }
        }
    }
    let peak = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    println!("\nserver peak RSS: {:.1} MB", peak as f64 / 1024.0);
    drop(server);
    bounds(&singles, fsyncs)?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

/// A single-connection phase in original mode, for its bound.
struct Single {
    name: &'static str,
    /// Acknowledged messages per second.
    rate: f64,
    /// Server CPU seconds per message.
    cpu: f64,
    /// Seconds per message the server's syncs waited for the disk.
    disk: f64,
    /// Bytes of a message frame and of its reply.
    request: usize,
    reply: usize,
}

/// Prints, for each single-connection phase in original mode, the target's
/// bound (min(fsync rate, 1 / CPU per message)) and the stop-and-wait bound:
/// one message at a time cannot be faster than its CPU time plus the time
/// its commit waited for the disk (the server's own figure for the phase)
/// plus the network's round trip (measured now, with the server stopped).
fn bounds(singles: &[Single], fsyncs: f64) -> Result<(), String> {
    if singles.is_empty() {
        return Ok(());
    }
    println!(
        "\n| message (original, 1 connection) | msg/s | server CPU ms per msg | disk wait ms per msg | round trip wait ms | min(fsync, 1/CPU) msg/s | of it | stop-and-wait bound msg/s | of it |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let window = Duration::from_secs(2);
    for s in singles {
        let net = wait::round_trip_wait(s.request, s.reply, window)
            .map_err(|e| format!("round trip probe: {e}"))?;
        let target = fsyncs.min(1.0 / s.cpu.max(1e-9));
        let serial = 1.0 / (s.cpu + s.disk + net).max(1e-9);
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.3} | {target:.0} | {:.1} % | {serial:.0} | {:.1} % |",
            s.name,
            s.rate,
            s.cpu * 1000.0,
            s.disk * 1000.0,
            net * 1000.0,
            100.0 * s.rate / target,
            100.0 * s.rate / serial,
        );
    }
    Ok(())
}

/// Parses and maps a message in this process for two seconds each.
fn parse_and_map(name: &str, template: &str) {
    let bytes = message(template, 1, false).into_bytes();
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let mut parsed = 0u64;
    while started.elapsed() < window {
        let m = Message::parse(&bytes, Charset::Utf8);
        std::hint::black_box(&m);
        parsed += 1;
    }
    let parse_secs = started.elapsed().as_secs_f64();
    let header = Header::read(&bytes, Charset::Utf8).ok();
    let message = Message::parse(&bytes, Charset::Utf8).ok();
    let (Some(header), Some(message)) = (header, message) else {
        println!("| {name} | the fixture cannot be read | | | | | |");
        return;
    };
    let ctx = crate::map::Context { offset: 0 };
    let started = Instant::now();
    let (mut maps, mut resources) = (0u64, 0u64);
    while started.elapsed() < window {
        if let Ok(Some(plan)) = crate::map::map(&message, &header, ctx) {
            resources += plan.resources.len() as u64;
        }
        maps += 1;
    }
    let map_secs = started.elapsed().as_secs_f64();
    println!(
        "| {name} | {} | {:.1} | {:.0} | {:.0} | {} | {:.0} |",
        bytes.len(),
        parsed as f64 * bytes.len() as f64 / parse_secs / 1e6,
        parsed as f64 / parse_secs,
        maps as f64 / map_secs,
        resources / maps.max(1),
        resources as f64 / map_secs
    );
}

/// `n` connections sending stop-and-wait for `length`: every ACK's latency,
/// and how many answers were not AA/CA. Each connection is a thread with a
/// blocking socket, so that the sender adds as little as it can to each round
/// trip: its message is made before the clock starts.
fn phase(
    addr: SocketAddr,
    n: usize,
    length: Duration,
    template: Arc<str>,
    enhanced: bool,
    next: Arc<AtomicU64>,
) -> Result<Phase, String> {
    let end = Instant::now() + length;
    let senders: Vec<_> = (0..n)
        .map(|_| {
            let (next, template) = (next.clone(), template.clone());
            std::thread::spawn(move || send(addr, end, &template, enhanced, &next))
        })
        .collect();
    let mut all = Phase::default();
    for sender in senders {
        let one = sender
            .join()
            .map_err(|_| "a sender panicked".to_string())??;
        all.latencies.extend(one.latencies);
        all.errors += one.errors;
        all.request = all.request.max(one.request);
        all.reply = all.reply.max(one.reply);
    }
    all.latencies.sort_unstable();
    Ok(all)
}

/// What the senders of a phase saw.
#[derive(Default)]
struct Phase {
    /// Every acknowledgement's latency, sorted.
    latencies: Vec<Duration>,
    /// Answers that were not AA or CA.
    errors: u64,
    /// The bytes of a message frame and of its reply (the largest seen).
    request: usize,
    reply: usize,
}

/// One connection's loop until `end`.
fn send(
    addr: SocketAddr,
    end: Instant,
    template: &str,
    enhanced: bool,
    next: &AtomicU64,
) -> Result<Phase, String> {
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut seen = Phase::default();
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut frame = Vec::with_capacity(template.len() + 64);
    while Instant::now() < end {
        let text = message(template, next.fetch_add(1, Ordering::Relaxed), enhanced);
        frame.clear();
        frame.push(0x0b);
        frame.extend_from_slice(text.as_bytes());
        frame.extend_from_slice(&[0x1c, b'\r']);
        let sent = Instant::now();
        stream.write_all(&frame).map_err(|e| e.to_string())?;
        buffer.clear();
        while !buffer.ends_with(&[0x1c, b'\r']) {
            let got = stream.read(&mut chunk).map_err(|e| e.to_string())?;
            if got == 0 {
                return Err("the server closed the connection".to_string());
            }
            buffer.extend_from_slice(&chunk[..got]);
        }
        seen.latencies.push(sent.elapsed());
        seen.request = seen.request.max(frame.len());
        seen.reply = seen.reply.max(buffer.len());
        if !contains(&buffer, b"MSA|AA|") && !contains(&buffer, b"MSA|CA|") {
            seen.errors += 1;
        }
    }
    Ok(seen)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Waits until no message is left `received` (mapped or failed): the
/// seconds it took.
async fn drain(http: SocketAddr) -> Result<f64, String> {
    let started = Instant::now();
    loop {
        let mut c = crate::client::Client::connect(http).await?;
        let r = c
            .send(
                axum::http::Method::GET,
                "/admin/hl7/messages?status=received&_count=1",
                &[],
                "",
            )
            .await?;
        if !r.text().contains("\"id\"") {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the backlog was not mapped within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
