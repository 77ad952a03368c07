//! The network's share of a stop-and-wait exchange, measured so that a
//! benchmark can state its bound in the same run: one loopback round trip of
//! a request and its reply, less the answering side's CPU time, which is
//! already counted in the server's own CPU time per message. (The disk's
//! share is the server's own figure: `hemolink_store_sync_wait_seconds_total`.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The CPU time of the calling thread (the first field of
/// `/proc/thread-self/schedstat`, in nanoseconds).
fn thread_cpu() -> Duration {
    let nanos = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

/// Seconds one loopback round trip keeps a stop-and-wait sender waiting: a
/// `request`-byte message out and a `reply`-byte answer back, between two
/// threads, over `window`; the wall time less the answering thread's CPU time
/// (the server's share, counted in its CPU per message), averaged.
pub fn round_trip_wait(request: usize, reply: usize, window: Duration) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let answerer = std::thread::spawn(move || -> std::io::Result<Duration> {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut inbound = vec![0u8; request];
        let answer = vec![0x41u8; reply];
        let start = thread_cpu();
        while stream.read_exact(&mut inbound).is_ok() {
            stream.write_all(&answer)?;
        }
        Ok(thread_cpu() - start)
    });
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let outbound = vec![0x42u8; request];
    let mut answer = vec![0u8; reply];
    let (mut trips, started) = (0u32, Instant::now());
    while started.elapsed() < window {
        stream.write_all(&outbound)?;
        stream.read_exact(&mut answer)?;
        trips += 1;
    }
    let wall = started.elapsed();
    drop(stream);
    let answering = answerer
        .join()
        .map_err(|_| std::io::Error::other("the answering thread panicked"))??;
    Ok(wall.saturating_sub(answering).as_secs_f64() / f64::from(trips.max(1)))
}
