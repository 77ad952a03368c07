//! Acknowledgements: the accept (commit) ACK of enhanced mode, and the
//! application acknowledgement, which is a general `ACK` or, for the blood
//! bank's orders, the message-specific response (ORB^O28, BRP^O30, BRT^O32).
//!
//! A reply is written in the delimiters of the message it answers, echoes
//! its version (MSH-12) and processing id (MSH-11), swaps sender and receiver
//! (MSH-3/4 ↔ MSH-5/6), carries its own control id and answers the original's
//! in MSA-2. An error goes in an ERR segment laid out for the message's
//! version: ERR-1 (segment^sequence^field^code) before 2.5, ERR-2 (location),
//! ERR-3 (code from HL7 table 0357), ERR-4 (severity) and ERR-8 (text) from
//! 2.5 on.

use super::delimiters::Delimiters;
use super::escape;
use super::header::Header;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// MSA-1: the acknowledgement code (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Application accept.
    AA,
    /// Application error.
    AE,
    /// Application reject.
    AR,
    /// Commit accept.
    CA,
    /// Commit error.
    CE,
    /// Commit reject.
    CR,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::AA => "AA",
            Code::AE => "AE",
            Code::AR => "AR",
            Code::CA => "CA",
            Code::CE => "CE",
            Code::CR => "CR",
        }
    }

    /// Whether this code accepts the message.
    pub fn accepts(self) -> bool {
        matches!(self, Code::AA | Code::CA)
    }
}

/// Error conditions of HL7 table 0357 this side reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    SegmentSequence = 100,
    RequiredFieldMissing = 101,
    DataType = 102,
    TableValueNotFound = 103,
    UnsupportedMessageType = 200,
    UnsupportedEvent = 201,
    UnsupportedProcessingId = 202,
    UnsupportedVersion = 203,
    DuplicateKey = 205,
    InternalError = 207,
}

impl Condition {
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Its text in table 0357.
    pub fn text(self) -> &'static str {
        match self {
            Condition::SegmentSequence => "Segment sequence error",
            Condition::RequiredFieldMissing => "Required field missing",
            Condition::DataType => "Data type error",
            Condition::TableValueNotFound => "Table value not found",
            Condition::UnsupportedMessageType => "Unsupported message type",
            Condition::UnsupportedEvent => "Unsupported event code",
            Condition::UnsupportedProcessingId => "Unsupported processing id",
            Condition::UnsupportedVersion => "Unsupported version id",
            Condition::DuplicateKey => "Duplicate key identifier",
            Condition::InternalError => "Application internal error",
        }
    }
}

/// What went wrong and where, for an ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub condition: Condition,
    /// The segment's id (`PID`), empty when the problem is not in one.
    pub segment_id: String,
    /// Which occurrence of that segment, from 1.
    pub sequence: usize,
    /// The field number, 0 for the segment as a whole.
    pub field: usize,
    /// A sentence for the person who reads the log.
    pub text: String,
}

impl Problem {
    /// A problem with the message as a whole.
    pub fn message(condition: Condition, text: impl Into<String>) -> Problem {
        Problem {
            condition,
            segment_id: String::new(),
            sequence: 0,
            field: 0,
            text: text.into(),
        }
    }

    /// A problem at `SEG[sequence]-field`.
    pub fn at(
        condition: Condition,
        segment_id: &str,
        sequence: usize,
        field: usize,
        text: impl Into<String>,
    ) -> Problem {
        Problem {
            condition,
            segment_id: segment_id.to_string(),
            sequence,
            field,
            text: text.into(),
        }
    }

    /// A parse error, located in the raw message: its segment position
    /// becomes the segment's id and occurrence.
    pub fn parse(bytes: &[u8], e: &super::ParseError) -> Problem {
        let lines = bytes
            .split(|&b| b == b'\r' || b == b'\n')
            .filter(|l| !l.is_empty());
        let mut id = String::new();
        let mut sequence = 0;
        for (i, line) in lines.enumerate() {
            let this: String = line.iter().take(3).map(|&b| b as char).collect();
            if i + 1 == e.segment {
                sequence = 1 + bytes_before(bytes, i, &this);
                id = this;
                break;
            }
        }
        let condition = if e.field == 18 && id == "MSH" {
            Condition::DataType
        } else if e.field == 0 {
            Condition::SegmentSequence
        } else {
            Condition::DataType
        };
        Problem::at(condition, &id, sequence.max(1), e.field, e.message.clone())
    }
}

/// How many segments before position `i` have the id `id`.
fn bytes_before(bytes: &[u8], i: usize, id: &str) -> usize {
    bytes
        .split(|&b| b == b'\r' || b == b'\n')
        .filter(|l| !l.is_empty())
        .take(i)
        .filter(|l| l.starts_with(id.as_bytes()))
        .count()
}

/// Which kind of reply to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The accept (commit) acknowledgement: always a general `ACK`.
    Accept,
    /// The application acknowledgement, as the reply on the connection
    /// (original mode): the message-specific response where the message has
    /// one, else a general `ACK`.
    Application,
    /// The application acknowledgement of enhanced mode, sent later as a
    /// message of its own: as [`Kind::Application`], asking the peer for an
    /// accept acknowledgement (MSH-15 `AL`, MSH-16 `NE`) so that its delivery
    /// can be confirmed.
    Deferred,
}

/// The message-specific responses (code, event, structure) of the blood
/// bank's messages.
pub fn response_type(
    code: &str,
    event: &str,
) -> Option<(&'static str, &'static str, &'static str)> {
    match (code, event) {
        ("OMB", "O27") => Some(("ORB", "O28", "ORB_O28")),
        ("BPS", "O29") => Some(("BRP", "O30", "BRP_O30")),
        ("BTS", "O31") => Some(("BRT", "O32", "BRT_O32")),
        _ => None,
    }
}

/// A control id unique to this process and to every process before it on
/// this machine's clock: the start time in microseconds plus a counter, in
/// hexadecimal, at most 20 characters (MSH-10 is 20 long before v2.7).
pub fn control_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| crate::fhir::instant::now_micros().max(0) as u64);
    format!("HL{:X}", base + NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `YYYYMMDDHHMMSS+0000` of a time in microseconds since the epoch (UTC).
pub fn timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (y, m, d) = crate::fhir::calendar::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}+0000",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Writes the reply to `header` (segments ended by `\r`), as text to be
/// encoded in the message's character set.
pub fn reply(
    header: &Header,
    kind: Kind,
    code: Code,
    problem: Option<&Problem>,
    control_id: &str,
    at_micros: i64,
) -> String {
    let d = &header.delimiters;
    let f = d.field as char;
    let c = d.component as char;
    let (msg_code, event, _) = header.message_type();
    let (r_code, r_event, r_structure) = match (kind, response_type(msg_code, event)) {
        (Kind::Application | Kind::Deferred, Some(specific)) => specific,
        _ => ("ACK", event, "ACK"),
    };
    let version = header.version_number();
    let modern = version.is_none_or(|v| v >= (2, 5));
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "MSH{f}{enc}{f}{ra}{f}{rf}{f}{sa}{f}{sf}{f}{ts}{f}{f}{r_code}",
        enc = header.field(2),
        ra = header.field(5),
        rf = header.field(6),
        sa = header.field(3),
        sf = header.field(4),
        ts = timestamp(at_micros),
    );
    // The trigger and structure components came with v2.3.1 (event) and 2.4.
    if version.is_none_or(|v| v >= (2, 3)) && !r_event.is_empty() {
        let _ = write!(out, "{c}{r_event}");
        if version.is_none_or(|v| v >= (2, 4)) {
            let _ = write!(out, "{c}{r_structure}");
        }
    }
    let _ = write!(
        out,
        "{f}{control_id}{f}{pid}{f}{ver}",
        pid = header.field(11),
        ver = header.field(12),
    );
    if kind == Kind::Deferred {
        let _ = write!(out, "{f}{f}{f}AL{f}NE");
    }
    if !header.field(18).is_empty() {
        if kind != Kind::Deferred {
            out.push_str(&f.to_string().repeat(4));
        }
        let _ = write!(out, "{f}{f}{}", header.field(18));
    }
    out.push('\r');
    let _ = write!(out, "MSA{f}{}{f}{}", code.as_str(), header.control_id());
    if let (Some(p), false) = (problem, modern) {
        let _ = write!(out, "{f}{}", escape::encode(&p.text, d));
    }
    out.push('\r');
    if let Some(p) = problem {
        out.push_str(&err_segment(p, d, modern));
        out.push('\r');
    }
    out
}

/// The ERR segment of a problem, in the layout of the version.
fn err_segment(p: &Problem, d: &Delimiters, modern: bool) -> String {
    let f = d.field as char;
    let c = d.component as char;
    let s = d.subcomponent.unwrap_or(d.component) as char;
    let text = escape::encode(p.text.as_str(), d);
    let code = p.condition.code();
    let name = p.condition.text();
    if modern {
        let location = if p.segment_id.is_empty() {
            String::new()
        } else if p.field == 0 {
            format!("{}{c}{}", p.segment_id, p.sequence)
        } else {
            format!("{}{c}{}{c}{}", p.segment_id, p.sequence, p.field)
        };
        format!("ERR{f}{f}{location}{f}{code}{c}{name}{c}HL70357{f}E{f}{f}{f}{f}{text}")
    } else {
        let field = if p.field == 0 {
            String::new()
        } else {
            p.field.to_string()
        };
        format!(
            "ERR{f}{}{c}{}{c}{field}{c}{code}{s}{name}{s}HL70357",
            p.segment_id,
            if p.segment_id.is_empty() {
                String::new()
            } else {
                p.sequence.to_string()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::charset::Charset;

    fn header(text: &str) -> Header {
        Header::read(text.as_bytes(), Charset::Utf8).unwrap()
    }

    #[test]
    fn an_ack_swaps_the_parties_and_answers_the_control_id() {
        let h = header("MSH|^~\\&|LAB^1.2^ISO|SITE|HUB|HQ|20260101||ADT^A04^ADT_A01|M1|P|2.5.1");
        let text = reply(&h, Kind::Application, Code::AA, None, "HL1", 0);
        assert_eq!(
            text,
            "MSH|^~\\&|HUB|HQ|LAB^1.2^ISO|SITE|19700101000000+0000||ACK^A04^ACK|HL1|P|2.5.1\rMSA|AA|M1\r"
        );
    }

    #[test]
    fn errors_are_laid_out_by_version() {
        let p = Problem::at(Condition::DataType, "PID", 1, 7, "'20241301' is not a date");
        let modern = header("MSH|^~\\&|A|B|C|D|1||ADT^A01|M2|P|2.5");
        let text = reply(&modern, Kind::Accept, Code::CE, Some(&p), "X", 0);
        assert!(
            text.ends_with("MSA|CE|M2\rERR||PID^1^7|102^Data type error^HL70357|E||||'20241301' is not a date\r"),
            "{text}"
        );
        let old = header("MSH|^~\\&|A|B|C|D|1||ADT^A01|M3|P|2.3");
        let text = reply(&old, Kind::Application, Code::AE, Some(&p), "X", 0);
        assert!(text.contains("|ACK^A01|X|P|2.3\r"), "{text}");
        assert!(
            text.ends_with(
                "MSA|AE|M3|'20241301' is not a date\rERR|PID^1^7^102&Data type error&HL70357\r"
            ),
            "{text}"
        );
    }

    #[test]
    fn replies_use_the_senders_delimiters_and_blood_bank_responses() {
        let h = header("MSH#$*@%#A#B#C#D#1##OMB$O27$OMB_O27#M4#T#2.6###AL#AL##UNICODE UTF-8");
        let p = Problem::message(Condition::InternalError, "a#b");
        let text = reply(&h, Kind::Deferred, Code::AE, Some(&p), "Y", 0);
        assert!(text.starts_with("MSH#$*@%#C#D#A#B#"), "{text}");
        assert!(
            text.contains("#ORB$O28$ORB_O28#Y#T#2.6###AL#NE##UNICODE UTF-8\r"),
            "{text}"
        );
        assert!(
            text.ends_with("ERR###207$Application internal error$HL70357#E####a@F@b\r"),
            "{text}"
        );
        let accept = reply(&h, Kind::Accept, Code::CA, None, "Z", 0);
        assert!(
            accept.contains("#ACK$O27$ACK#Z#T#2.6######UNICODE UTF-8\r"),
            "{accept}"
        );
    }

    #[test]
    fn a_parse_error_is_located_by_segment_and_occurrence() {
        let raw = b"MSH|^~\\&|A\rOBX|1\rOBX|2\rOBX|3\r";
        let e = crate::hl7::ParseError::at(3, 5, "bad");
        let p = Problem::parse(raw, &e);
        assert_eq!((p.segment_id.as_str(), p.sequence, p.field), ("OBX", 2, 5));
    }

    #[test]
    fn control_ids_are_unique_and_short() {
        let a = control_id();
        let b = control_id();
        assert_ne!(a, b);
        assert!(a.len() <= 20, "{a}");
        assert_eq!(timestamp(1_700_000_000_000_000), "20231114221320+0000");
    }
}
