//! HL7 v2 over MLLP against the real server: every acknowledgement path,
//! every framing edge case, duplicates, batches, Release 2 commit blocks,
//! enhanced mode with its application acknowledgement delivered through the
//! outbound sender, TLS and mutual TLS, the admin API, independent senders
//! (python-hl7's `mllp_send` and asyncio client, node-hl7-client) and receiver (hl7apy), and
//! durability across SIGKILL. The MLLP client here is our own, a few lines over a socket.

use crate::harness::{Server, start, start_in};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SB: u8 = 0x0B;
const EB: u8 = 0x1C;

fn framed(message: &[u8]) -> Vec<u8> {
    let mut out = vec![SB];
    out.extend_from_slice(message);
    out.extend_from_slice(&[EB, b'\r']);
    out
}

/// One MLLP connection of the test's own.
pub struct Client<S: Read + Write> {
    stream: S,
    buffer: Vec<u8>,
}

impl Client<TcpStream> {
    pub fn connect(addr: &str) -> Client<TcpStream> {
        let stream = TcpStream::connect(addr).expect("connect to MLLP");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    fn timeout(&mut self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).unwrap();
    }
}

impl<S: Read + Write> Client<S> {
    pub fn send(&mut self, message: &str) {
        self.stream
            .write_all(&framed(message.as_bytes()))
            .expect("send");
    }

    /// The next frame's content, `None` when the connection closed or the
    /// read timed out.
    fn frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(start) = self.buffer.iter().position(|&b| b == SB)
                && let Some(end) = self.buffer[start..].iter().position(|&b| b == EB)
            {
                let content = self.buffer[start + 1..start + end].to_vec();
                let mut rest = start + end + 1;
                if self.buffer.get(rest) == Some(&b'\r') {
                    rest += 1;
                }
                self.buffer.drain(..rest);
                return Some(content);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub fn reply(&mut self) -> String {
        String::from_utf8_lossy(&self.frame().expect("a reply")).into_owned()
    }

    pub fn exchange(&mut self, message: &str) -> String {
        self.send(message);
        self.reply()
    }
}

/// The value of `SEG-field` (first segment with that id) of a reply.
pub fn field(reply: &str, segment: &str, n: usize) -> String {
    reply
        .split(['\r', '\n'])
        .find(|l| l.starts_with(segment))
        .and_then(|l| {
            let fields: Vec<&str> = l.split('|').collect();
            let index = if segment == "MSH" { n - 1 } else { n };
            fields.get(index).map(|s| s.to_string())
        })
        .unwrap_or_default()
}

fn msh(control: &str, kind: &str, version: &str, rest: &str) -> String {
    format!("MSH|^~\\&|LAB|SITE|HEMOLINK|HUB|20261121101500||{kind}|{control}|P|{version}{rest}\r")
}

fn a04(control: &str) -> String {
    msh(control, "ADT^A04^ADT_A01", "2.5.1", "")
        + "EVN|A04|20261121101500\rPID|1||D123^^^SITE^MR||Smith^Ann||19800101|F\r"
}

pub fn mllp_server(extra: &[&str]) -> Server {
    let mut args = vec!["--mllp-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    start(&args)
}

pub fn messages(s: &Server, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/admin/hl7/messages?_count=1000{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["messages"].as_array().unwrap().clone()
}

#[test]
fn original_mode_answers_aa_ae_and_ar_and_keeps_every_message() {
    let s = mllp_server(&[]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let ok = c.exchange(&a04("OK1"));
    assert_eq!(field(&ok, "MSA", 1), "AA", "{ok}");
    assert_eq!(field(&ok, "MSA", 2), "OK1");
    assert_eq!(field(&ok, "MSH", 3), "HEMOLINK");
    assert_eq!(field(&ok, "MSH", 5), "LAB");
    assert_eq!(field(&ok, "MSH", 9), "ACK^A04^ACK");
    assert_eq!(field(&ok, "MSH", 12), "2.5.1");
    let second = c.exchange(&a04("OK2"));
    assert_ne!(field(&second, "MSH", 10), field(&ok, "MSH", 10));

    let cases: Vec<(String, &str, &str)> = vec![
        (
            msh("BAD1", "ADT^A04", "2.5.1", "") + "pid|1\r",
            "AE",
            "|pid^1|",
        ),
        (msh("BAD2", "ADT^A04", "3.0", ""), "AR", "203"),
        (
            "MSH|^~\\&|LAB|SITE|HEMOLINK|HUB|1||ADT^A04|BAD3|X|2.5\r".into(),
            "AR",
            "202",
        ),
        (msh("", "ADT^A04", "2.5", ""), "AE", "101"),
        (msh("BAD6", "ADT^A04", "2.5", "||||||KLINGON"), "AE", "102"),
    ];
    for (message, code, hint) in &cases {
        let reply = c.exchange(message);
        assert_eq!(&field(&reply, "MSA", 1), code, "{message:?} → {reply}");
        assert!(reply.contains("\rERR|"), "{reply}");
        assert!(reply.contains(hint), "{hint} in {reply}");
    }
    // Invalid UTF-8 under MSH-18 UNICODE UTF-8, and Latin-1 with no MSH-18
    // (the default set is UTF-8): both AE at MSH-18.
    for raw in [
        b"MSH|^~\\&|LAB|SITE|H|H|1||ADT^A04|BAD7|P|2.5||||||UNICODE UTF-8\rPID|1||X||M\xfcller\r"
            .to_vec(),
        b"MSH|^~\\&|LAB|SITE|H|H|1||ADT^A04|BAD8|P|2.5\rPID|1||X||M\xfcller\r".to_vec(),
    ] {
        c.stream.write_all(&framed(&raw)).unwrap();
        let reply = c.reply();
        assert_eq!(field(&reply, "MSA", 1), "AE", "{reply}");
        assert!(reply.contains("ERR||MSH^1^18|102^"), "{reply}");
    }
    // 10,000 repetitions in one field are read, kept and accepted.
    let reps = vec!["X^Y"; 10_000].join("~");
    let reply = c.exchange(&(msh("BIG", "ADT^A08", "2.5", "") + &format!("PID|1||{reps}\r")));
    assert_eq!(field(&reply, "MSA", 1), "AA");

    let all = messages(&s, "");
    assert_eq!(all.len(), 10, "{all:?}");
    let errors = messages(&s, "&status=error");
    assert_eq!(errors.len(), 7);
    assert!(errors.iter().all(|m| m["error"].is_string()));
    let one = s.get(&format!("/admin/hl7/messages/{}", all[0]["id"]));
    let one = one.json();
    assert_eq!(one["status"], "processed");
    assert!(one["raw"].as_str().unwrap().starts_with("MSH|^~\\&|LAB"));
    assert!(one["ack"].as_str().unwrap().contains("MSA|AA|OK1"));
    assert_eq!(s.get("/admin/hl7/messages?status=lost").status, 400);
    assert_eq!(s.get("/admin/hl7/messages/999").status, 404);
}

#[test]
fn every_acknowledged_message_was_committed_and_synced_first() {
    let s = mllp_server(&[]);
    let commits = s.metric("hemolink_store_commits_total");
    let syncs = s.metric("hemolink_store_syncs_total");
    let waited = s.seconds("hemolink_store_sync_wait_seconds_total");
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let started = std::time::Instant::now();
    for i in 0..20 {
        assert_eq!(field(&c.exchange(&a04(&format!("S{i}"))), "MSA", 1), "AA");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let commits = s.metric("hemolink_store_commits_total") - commits;
    let syncs = s.metric("hemolink_store_syncs_total") - syncs;
    // The disk's share of those syncs is a part of the time they took.
    let waited = s.seconds("hemolink_store_sync_wait_seconds_total") - waited;
    assert!(
        (0.0..=elapsed).contains(&waited),
        "the syncs of {elapsed:.3} s of exchanges waited {waited:.6} s"
    );
    // One connection waits for each answer, so each message is its own commit.
    assert!(commits >= 20, "{commits} commits for 20 messages");
    // (A commit that changed nothing, such as an empty purge, syncs nothing.)
    assert!(syncs >= 20, "{syncs} syncs for 20 acknowledged messages");
}

#[test]
fn duplicates_replay_the_first_answer_and_other_content_gets_205() {
    let s = mllp_server(&[]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let first = c.exchange(&a04("D1"));
    let again = c.exchange(&a04("D1"));
    assert_eq!(first, again, "the stored ACK is replayed byte for byte");
    let other = c.exchange(&(msh("D1", "ADT^A04", "2.5.1", "") + "PID|1||OTHER\r"));
    assert_eq!(field(&other, "MSA", 1), "AE");
    assert!(
        other.contains("|205^Duplicate key identifier^HL70357|"),
        "{other}"
    );
    // Another sender may reuse the control id: the key includes MSH-3/4.
    let elsewhere = c.exchange(&a04("D1").replace("|LAB|SITE|", "|LAB2|SITE|"));
    assert_eq!(field(&elsewhere, "MSA", 1), "AA");
    let dups = messages(&s, "&status=duplicate");
    assert_eq!(dups.len(), 2);
    assert_eq!(dups[0]["duplicateOf"], messages(&s, "")[0]["id"]);
}

#[test]
fn framing_edge_cases_are_all_handled() {
    let s = mllp_server(&[]);
    let addr = s.mllp.clone().unwrap();
    let mut c = Client::connect(&addr);
    // Bytes before the start block are ignored.
    let mut bytes = b"GARBAGE\r\n".to_vec();
    bytes.extend(framed(a04("F1").as_bytes()));
    c.stream.write_all(&bytes).unwrap();
    assert_eq!(field(&c.reply(), "MSA", 2), "F1");
    // A frame split over many writes.
    let whole = framed(a04("F2").as_bytes());
    for piece in whole.chunks(7) {
        c.stream.write_all(piece).unwrap();
        c.stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(field(&c.reply(), "MSA", 2), "F2");
    // Several frames in one write, answered in order.
    let mut two = framed(a04("F3").as_bytes());
    two.extend(framed(a04("F4").as_bytes()));
    c.stream.write_all(&two).unwrap();
    assert_eq!(field(&c.reply(), "MSA", 2), "F3");
    assert_eq!(field(&c.reply(), "MSA", 2), "F4");
    // \n and \r\n segment separators.
    let lf = a04("F5").replace('\r', "\n");
    assert_eq!(field(&c.exchange(&lf), "MSA", 1), "AA");
    let crlf = a04("F6").replace('\r', "\r\n");
    assert_eq!(field(&c.exchange(&crlf), "MSA", 1), "AA");
    // A 50 MB frame: over the 16 MiB limit, refused from its header with AR.
    let mut huge = a04("HUGE").into_bytes();
    huge.extend(std::iter::repeat_n(b'X', 50 << 20));
    c.stream.write_all(&framed(&huge)).unwrap();
    let reply = c.reply();
    assert_eq!(field(&reply, "MSA", 1), "AR", "{reply}");
    assert_eq!(field(&reply, "MSA", 2), "HUGE");
    // The connection still serves.
    assert_eq!(field(&c.exchange(&a04("F7")), "MSA", 1), "AA");
    let kept = messages(&s, "&status=error");
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0]["error"]
            .as_str()
            .unwrap()
            .contains("over the limit")
    );
}

#[test]
fn a_half_sent_frame_is_dropped_after_the_idle_timeout() {
    let s = mllp_server(&["--mllp-idle-timeout", "1"]);
    let addr = s.mllp.clone().unwrap();
    let mut stalled = Client::connect(&addr);
    let whole = framed(a04("HALF").as_bytes());
    stalled.stream.write_all(&whole[..40]).unwrap();
    let mut other = Client::connect(&addr);
    assert_eq!(field(&other.exchange(&a04("OTHER")), "MSA", 1), "AA");
    let started = Instant::now();
    assert!(
        stalled.frame().is_none(),
        "the stalled connection is closed"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // An idle connection between frames stays open.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(field(&other.exchange(&a04("LATER")), "MSA", 1), "AA");
    let all = messages(&s, "");
    assert!(all.iter().all(|m| m["controlId"] != "HALF"));
}

#[test]
fn bytes_that_are_not_hl7_close_the_connection_and_are_kept() {
    let s = mllp_server(&[]);
    let addr = s.mllp.clone().unwrap();
    for junk in [
        &b"\x00\x01 hello there"[..],
        b"MSH",
        b"MSH|\x01\x02|A",
        b"PID|1||X\r",
    ] {
        let mut c = Client::connect(&addr);
        c.stream.write_all(&framed(junk)).unwrap();
        assert!(c.frame().is_none(), "{junk:?} gets a clean close");
    }
    let mut c = Client::connect(&addr);
    assert_eq!(field(&c.exchange(&a04("AFTER")), "MSA", 1), "AA");
    assert_eq!(messages(&s, "&status=error").len(), 4);
}

#[test]
fn a_batch_is_answered_with_a_response_batch() {
    let s = mllp_server(&[]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let batch = format!(
        "BHS|^~\\&|LAB|SITE|HEMOLINK|HUB|20261121||||B1\r{}{}BTS|2\r",
        a04("B1M1"),
        msh("B1M2", "ADT^A04", "9.9", "")
    );
    let reply = c.exchange(&batch);
    let lines: Vec<&str> = reply.split('\r').filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("BHS|^~\\&|HEMOLINK|HUB|LAB|SITE|"),
        "{reply}"
    );
    assert!(lines[0].ends_with("|B1"), "{reply}");
    assert!(reply.contains("MSA|AA|B1M1"), "{reply}");
    assert!(reply.contains("MSA|AR|B1M2"), "{reply}");
    assert_eq!(*lines.last().unwrap(), "BTS|2");
    let wrong = c.exchange("BHS|^~\\&|LAB|SITE|HEMOLINK|HUB|1||||B2\rPID|1\rBTS|1\r");
    assert!(wrong.contains("BTS|0|"), "{wrong}");
    assert_eq!(messages(&s, "").len(), 3);
}

#[test]
fn release2_sends_a_commit_block_before_the_reply() {
    let s = mllp_server(&["--mllp-release2"]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    c.send(&a04("R2"));
    assert_eq!(c.frame().unwrap(), vec![0x06]);
    assert_eq!(field(&c.reply(), "MSA", 1), "AA");
    // A commit block from the sender (for our reply) is skipped.
    c.stream.write_all(&framed(&[0x06])).unwrap();
    c.send(&a04("R2b"));
    assert_eq!(c.frame().unwrap(), vec![0x06]);
    assert_eq!(field(&c.reply(), "MSA", 2), "R2b");
}

/// A destination of our own: acknowledges each frame with `answers(message)`
/// (every frame it may answer with several, to test stray ACKs), and records
/// what it received.
fn destination(
    answers: impl Fn(&str) -> Vec<String> + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut c = Client {
                stream,
                buffer: Vec::new(),
            };
            while let Some(frame) = c.frame() {
                let text = String::from_utf8_lossy(&frame).into_owned();
                seen.lock().unwrap().push(text.clone());
                for answer in answers(&text) {
                    if c.stream.write_all(&framed(answer.as_bytes())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    (addr, got)
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn enhanced_mode_commits_first_then_delivers_the_application_ack() {
    let (dest, got) = destination(|m| {
        let id = field(m, "MSH", 10);
        vec![
            // A stray acknowledgement of something else comes first: it must
            // be dropped, not credited.
            "MSH|^~\\&|LAB|SITE|HEMOLINK|HUB|1||ACK|X1|P|2.6\rMSA|CA|SOMETHING-ELSE\r".into(),
            format!("MSH|^~\\&|LAB|SITE|HEMOLINK|HUB|1||ACK|X2|P|2.6\rMSA|CA|{id}\r"),
        ]
    });
    let s = mllp_server(&["--mllp-app-ack-to", &format!("mllp://{dest}")]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let order = msh("E1", "OMB^O27^OMB_O27", "2.6", "|||AL|AL")
        + "PID|1||D123^^^SITE^MR||Smith^Ann\rORC|NW|ORD1\rBPO|1|RBC^Red cells|2\r";
    let accept = c.exchange(&order);
    assert_eq!(field(&accept, "MSA", 1), "CA", "{accept}");
    assert_eq!(field(&accept, "MSH", 9), "ACK^O27^ACK");
    wait_for("the application acknowledgement", || {
        !got.lock().unwrap().is_empty()
    });
    let app = got.lock().unwrap()[0].clone();
    assert_eq!(field(&app, "MSH", 9), "ORB^O28^ORB_O28", "{app}");
    assert_eq!(field(&app, "MSA", 1), "AA");
    assert_eq!(field(&app, "MSA", 2), "E1");
    assert_eq!(field(&app, "MSH", 15), "AL");
    wait_for("delivery recorded", || {
        let r = s.get("/admin/hl7/outbox?status=sent");
        r.json()["entries"].as_array().unwrap().len() == 1
    });
    let entry = &s.get("/admin/hl7/outbox").json()["entries"][0];
    assert_eq!(entry["attempts"], 1);
    assert!(
        entry["ack"]
            .as_str()
            .unwrap()
            .contains(&field(&app, "MSH", 10))
    );
    wait_for("processed", || messages(&s, "&status=processed").len() == 1);

    // CE for content, CR for version; MSH-15 NE sends nothing, ER only errors.
    let bad = msh("E2", "ADT^A04", "2.6", "|||AL|AL") + "pid|1\r";
    assert_eq!(field(&c.exchange(&bad), "MSA", 1), "CE");
    let old = msh("E3", "ADT^A04", "4.0", "|||AL|AL");
    assert_eq!(field(&c.exchange(&old), "MSA", 1), "CR");
    c.send(&(msh("E4", "ADT^A04", "2.6", "|||NE|NE")));
    c.send(&(msh("E5", "ADT^A04", "2.6", "|||ER|NE")));
    c.send(&(msh("E6", "ADT^A04", "2.6", "|||ER|NE") + "pid|\r"));
    let reply = c.reply();
    assert_eq!(field(&reply, "MSA", 2), "E6", "only the error is answered");
    assert_eq!(field(&reply, "MSA", 1), "CE");
    // Only E1 asked for an application acknowledgement and was accepted.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[test]
fn an_unanswered_application_ack_is_retried_then_set_aside_and_resent() {
    let answer_now = Arc::new(Mutex::new(false));
    let flag = answer_now.clone();
    let (dest, got) = destination(move |m| {
        if *flag.lock().unwrap() {
            vec![format!(
                "MSH|^~\\&|A|B|C|D|1||ACK|Z|P|2.5\rMSA|AA|{}\r",
                field(m, "MSH", 10)
            )]
        } else {
            Vec::new()
        }
    });
    let s = mllp_server(&[
        "--mllp-app-ack-to",
        &format!("mllp://{dest}"),
        "--mllp-ack-timeout",
        "1",
        "--mllp-max-attempts",
        "2",
    ]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let accept = c.exchange(&msh("T1", "ADT^A04", "2.5", "|||AL|AL"));
    assert_eq!(field(&accept, "MSA", 1), "CA");
    wait_for("errored after two attempts", || {
        let r = s.get("/admin/hl7/outbox?status=errored");
        r.json()["entries"].as_array().unwrap().len() == 1
    });
    assert_eq!(got.lock().unwrap().len(), 2, "sent twice");
    let entry = s.get("/admin/hl7/outbox").json()["entries"][0].clone();
    assert!(
        entry["error"]
            .as_str()
            .unwrap()
            .contains("no acknowledgement")
    );
    *answer_now.lock().unwrap() = true;
    let r = s.request(
        "POST",
        &format!("/admin/hl7/outbox/{}/resend", entry["id"]),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for("sent after the resend", || {
        let r = s.get("/admin/hl7/outbox?status=sent");
        r.json()["entries"].as_array().unwrap().len() == 1
    });
}

#[test]
fn reprocess_records_the_outcome_again_without_a_new_acknowledgement() {
    let s = mllp_server(&[]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    c.exchange(&a04("P1"));
    c.exchange(&(msh("P2", "ADT^A04", "2.5", "") + "pid|1\r"));
    let all = messages(&s, "");
    let r = s.request(
        "POST",
        &format!("/admin/hl7/messages/{}/reprocess", all[0]["id"]),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "processed");
    let r = s.request(
        "POST",
        &format!("/admin/hl7/messages/{}/reprocess", all[1]["id"]),
        &[],
        b"",
    );
    assert_eq!(r.status, 422, "an unreadable message stays an error");
    assert_eq!(
        s.request("POST", "/admin/hl7/messages/77/reprocess", &[], b"")
            .status,
        404
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in
/// PEM files of a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_params: rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Hemolink test CA");
        let ca = params.clone().self_signed(&ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki {
            dir,
            ca,
            ca_params: params,
            ca_key,
        }
    }

    fn issue(&self, name: &str, sans: &[&str]) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).to_string_lossy().into_owned()
    }

    fn client(&self, identity: Option<&str>) -> rustls::ClientConfig {
        use rustls_pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        match identity {
            None => builder.with_no_client_auth(),
            Some(name) => {
                let chain = rustls_pki_types::CertificateDer::pem_file_iter(
                    self.path(&format!("{name}.pem")),
                )
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
                let key = rustls_pki_types::PrivateKeyDer::from_pem_file(
                    self.path(&format!("{name}.key")),
                )
                .unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        }
    }
}

fn tls_client(
    addr: &str,
    config: rustls::ClientConfig,
) -> Client<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    Client {
        stream: rustls::StreamOwned::new(conn, tcp),
        buffer: Vec::new(),
    }
}

#[test]
fn tls_and_mutual_tls() {
    let pki = Pki::new();
    pki.issue("server", &["127.0.0.1"]);
    pki.issue("client", &["client.example"]);
    let s = mllp_server(&[
        "--mllp-tls-cert",
        &pki.path("server.pem"),
        "--mllp-tls-key",
        &pki.path("server.key"),
        "--mllp-client-ca",
        &pki.path("ca.pem"),
    ]);
    assert!(
        s.stdout
            .iter()
            .any(|l| l.starts_with("MLLP listening on mllps://"))
    );
    let addr = s.mllp.clone().unwrap();
    let mut c = tls_client(&addr, pki.client(Some("client")));
    assert_eq!(field(&c.exchange(&a04("TLS1")), "MSA", 1), "AA");
    // Without a client certificate the handshake fails: no reply.
    let mut anonymous = tls_client(&addr, pki.client(None));
    let _ = anonymous.stream.write_all(&framed(a04("TLS2").as_bytes()));
    assert!(anonymous.frame().is_none());
    // Plain MLLP on the TLS port gets nothing either.
    let mut plain = Client::connect(&addr);
    plain.timeout(Duration::from_secs(3));
    plain.send(&a04("TLS3"));
    assert!(plain.frame().is_none());
    assert_eq!(messages(&s, "").len(), 1);
}

#[test]
fn a_non_loopback_listener_needs_tls_or_insecure() {
    let out = Command::new(env!("CARGO_BIN_EXE_hemolink"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mllp-listen",
            "0.0.0.0:0",
        ])
        .env_remove("HEMOLINK_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without TLS"), "{err}");
}

pub fn python_with(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {module} (.ci/run installs it)"
        );
        eprintln!("skipped: python3 with {module} is not installed (pip install hl7 hl7apy)");
    }
    ok
}

#[test]
fn python_hl7_mllp_send_gets_acknowledgements() {
    if !python_with("hl7") {
        return;
    }
    let s = mllp_server(&[]);
    let (host, port) = s.mllp.as_ref().unwrap().rsplit_once(':').unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("messages.hl7");
    // --loose reads plain ER7 with \n separators; messages are split at MSH.
    std::fs::write(
        &file,
        format!("{}{}", a04("PY1"), a04("PY2")).replace('\r', "\n"),
    )
    .unwrap();
    let out = Command::new("python3")
        .args(["-m", "hl7.client", "--loose", "-p", port, "-f"])
        .arg(&file)
        .arg(host)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // mllp_send exits 0 even without an answer: read what it printed.
    assert!(stdout.contains("MSA|AA|PY1"), "{stdout}");
    assert!(stdout.contains("MSA|AA|PY2"), "{stdout}");
}

/// The folder of the npm-installed node-hl7-client sender, when `node` and
/// the package are there (`npm ci --prefix tests/clients/node`); in CI they
/// must be (.ci/run installs them).
fn node_client() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let package = dir.join("node_modules/node-hl7-client").is_dir();
    if node && package {
        return Some(dir);
    }
    let missing = if node {
        "node-hl7-client is not installed (npm ci --prefix tests/clients/node)"
    } else {
        "node is not installed"
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have node and node-hl7-client (.ci/run installs them): {missing}"
    );
    eprintln!("skipped: {missing}");
    None
}

#[test]
fn node_hl7_client_sends_and_gets_acknowledgements() {
    let Some(dir) = node_client() else {
        return;
    };
    let s = mllp_server(&[]);
    let (host, port) = s.mllp.as_ref().unwrap().rsplit_once(':').unwrap();
    let ids = ["NODE1", "NODE2", "NODE3"];
    // One connection, each message sent after the previous one's ACK.
    let out = Command::new("node")
        .arg(dir.join("send.mjs"))
        .args([host, port])
        .args(ids)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), ids.len(), "{stdout}");
    let mut ack_ids = std::collections::HashSet::new();
    for (line, id) in lines.iter().zip(ids) {
        assert_eq!(line.len(), 4, "{stdout}");
        assert_eq!(line[..3], ["ack", "AA", id], "{stdout}");
        assert!(
            ack_ids.insert(line[3]),
            "ACK MSH-10s are distinct: {stdout}"
        );
    }
    let stored = messages(&s, "");
    assert_eq!(stored.len(), ids.len(), "{stored:?}");
    for (m, id) in stored.iter().zip(ids) {
        assert_eq!(m["controlId"], id, "{m}");
        assert_eq!(m["status"], "processed", "{m}");
        assert_eq!(m["sendingApplication"], "NODEHL7", "{m}");
        assert_eq!(m["messageType"], "ADT^A04^ADT_A01", "{m}");
        assert_eq!(m["version"], "2.5.1", "{m}");
    }
    let peers: std::collections::HashSet<_> = stored.iter().map(|m| &m["peer"]).collect();
    assert_eq!(peers.len(), 1, "all came on one connection: {stored:?}");
    let one = s
        .get(&format!("/admin/hl7/messages/{}", stored[0]["id"]))
        .json();
    assert!(
        one["ack"].as_str().unwrap().contains("MSA|AA|NODE1"),
        "{one}"
    );
}

#[test]
fn python_hl7_asyncio_client_gets_acknowledgements_on_one_connection() {
    if !python_with("hl7") {
        return;
    }
    let s = mllp_server(&[]);
    let (host, port) = s.mllp.as_ref().unwrap().rsplit_once(':').unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/pyhl7_async_sender.py"
    );
    let out = Command::new("python3")
        .args([script, host, port, "PA1", "PA2", "PA3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acks: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(acks.len(), 3, "{stdout}");
    for (ack, id) in acks.iter().zip(["PA1", "PA2", "PA3"]) {
        assert_eq!(ack[..3], ["ack", "AA", id], "{stdout}");
    }
    let stored = messages(&s, "&status=processed");
    assert_eq!(stored.len(), 3);
    assert!(
        stored.iter().all(|m| m["peer"] == stored[0]["peer"]),
        "one connection: {stored:?}"
    );
}

#[test]
fn hl7apy_receives_the_application_ack_and_validates_it() {
    if !python_with("hl7apy") {
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/hl7apy_receiver.py"
    );
    let mut receiver = Command::new("python3")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = receiver.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let port = String::from_utf8(line).unwrap().trim().to_string();
    let s = mllp_server(&["--mllp-app-ack-to", &format!("mllp://127.0.0.1:{port}")]);
    let mut c = Client::connect(s.mllp.as_ref().unwrap());
    let accept = c.exchange(&(msh("HA1", "ADT^A04^ADT_A01", "2.5", "|||AL|AL") + "PID|1||D1\r"));
    assert_eq!(field(&accept, "MSA", 1), "CA");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = receiver.wait().unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("valid ACK AA HA1"), "{rest}");
    wait_for("delivery recorded", || {
        let r = s.get("/admin/hl7/outbox?status=sent");
        r.json()["entries"].as_array().unwrap().len() == 1
    });
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--mllp-listen", "127.0.0.1:0"];
    let mut s = start_in(&data, &args);
    let addr = s.mllp.clone().unwrap();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = (0..6)
        .map(|w| {
            let addr = addr.clone();
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&addr);
                for i in 0.. {
                    let id = format!("K{w}-{i}");
                    // Half of the senders use enhanced mode (CA on receipt).
                    let message = if w % 2 == 0 {
                        a04(&id)
                    } else {
                        msh(&id, "ADT^A04", "2.5", "|||AL|NE") + "PID|1||X\r"
                    };
                    c.send(&message);
                    match c.frame() {
                        Some(reply) => {
                            let reply = String::from_utf8_lossy(&reply).into_owned();
                            let code = field(&reply, "MSA", 1);
                            assert!(code == "AA" || code == "CA", "{reply}");
                            acked.lock().unwrap().push(id);
                        }
                        None => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    for t in senders {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the load ran ({} messages)", acked.len());
    let s = start_in(&data, &args);
    let mut stored: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .get(&format!("/admin/hl7/messages?_count=1000&after={after}"))
            .json();
        let list = page["messages"].as_array().unwrap().clone();
        stored.extend(list.iter().cloned());
        match page["after"].as_i64() {
            Some(a) => after = a,
            None => break,
        }
    }
    let mut seen = std::collections::HashMap::new();
    for m in &stored {
        assert_ne!(m["status"], "error", "{m}");
        *seen
            .entry(m["controlId"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    for id in &acked {
        assert_eq!(seen.get(id), Some(&1), "{id} acknowledged, stored once");
    }
    // Enhanced-mode messages received before the kill are processed at start.
    assert!(
        stored.iter().all(|m| m["status"] == "processed"),
        "nothing is left half-done"
    );
}
