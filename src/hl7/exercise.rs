//! Everything an untrusted MLLP frame goes through before it is stored,
//! run on arbitrary bytes: the fuzz target (`fuzz/`) calls it, and the
//! committed fuzz corpus is replayed through it by `cargo test`. It must
//! return for every input; a panic is a bug.

use super::ack::{self, Code, Condition, Kind, Problem};
use super::batch::{self, Batch};
use super::charset::Charset;
use super::header::Header;
use super::message::Message;
use crate::mllp::frame::Codec;
use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// Frames `data` with the MLLP codec (as read, and as one frame's content),
/// then reads each frame as the listener does: header, message, batch, and
/// every value, maps it to FHIR, and writes a reply.
pub fn exercise(data: &[u8]) {
    let mut codec = Codec::new(4096);
    let mut buffer = BytesMut::from(data);
    while let Ok(Some(_)) = codec.decode(&mut buffer) {}
    let _ = codec.decode_eof(&mut buffer);
    for charset in [Charset::Utf8, Charset::Latin1, Charset::Ascii] {
        if batch::is_batch(data) {
            if let Ok(b) = Batch::split(data, charset) {
                let _ = b.response(&[String::from("MSH|^~\\&\r")], 0);
            }
            let _ = batch::refusal(data, charset, "x", 0);
        }
        if let Ok(h) = Header::read(data, charset) {
            let problem = match Message::parse(data, charset) {
                Ok(m) => {
                    for s in &m.segments {
                        for n in 0..s.len().min(64) + 1 {
                            for rep in s.repetitions(&m, n).take(4).enumerate() {
                                let _ = s.value(&m, n, rep.0, 1, 1);
                            }
                        }
                    }
                    let _ = crate::map::map(&m, &h, crate::map::Context { offset: 0 });
                    Problem::message(Condition::InternalError, "x")
                }
                Err(e) => Problem::parse(data, &e),
            };
            for kind in [Kind::Accept, Kind::Application, Kind::Deferred] {
                let _ = ack::reply(&h, kind, Code::AE, Some(&problem), "C", 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The fuzz corpus (inputs found by `cargo fuzz run hl7` and the seeds),
    /// replayed on every test run.
    #[test]
    fn the_fuzz_corpus_replays() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/hl7");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).expect("the committed corpus") {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            super::exercise(&bytes);
            count += 1;
        }
        assert!(count >= 10, "{count} corpus files");
    }
}
