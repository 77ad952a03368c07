//! MLLP framing as a `tokio_util` codec. Release 1 wraps each message in a
//! start block (`0x0B`) and an end block (`0x1C`) followed by a carriage
//! return; Release 2 adds commit blocks, a frame whose content is the single
//! byte ACK (`0x06`) or NAK (`0x15`).
//!
//! Decoding is lenient where senders differ and strict where it matters:
//! bytes outside a frame (before a start block, or the CR after an end block)
//! are skipped; a start block inside an unfinished frame starts it again (the
//! sender gave up on the first); a frame may arrive in any number of reads and
//! a read may hold several frames. A frame longer than the limit is not kept:
//! its first bytes are (so the listener can still read the header and
//! answer), the rest is dropped up to its end block.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Start block.
pub const SB: u8 = 0x0B;
/// End block.
pub const EB: u8 = 0x1C;
/// Carriage return, after the end block.
pub const CR: u8 = 0x0D;
/// Release 2 positive commit acknowledgement.
pub const ACK: u8 = 0x06;
/// Release 2 negative commit acknowledgement.
pub const NAK: u8 = 0x15;

/// How much of an oversized frame is kept for its header.
pub const HEAD: usize = 4096;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message (its bytes between the blocks).
    Message(Bytes),
    /// A Release 2 commit block: `true` for ACK, `false` for NAK.
    Commit(bool),
    /// A frame over the limit: its first [`HEAD`] bytes and its full length.
    Oversized { head: Bytes, length: usize },
}

/// What [`Codec`] sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Message(Bytes),
    Commit(bool),
}

/// The MLLP codec; `max_frame` bounds the bytes a frame may hold.
#[derive(Debug)]
pub struct Codec {
    max_frame: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Between frames: skipping to the next start block.
    Outside,
    /// Inside a frame; the content is what is buffered before the end block,
    /// of which the first `searched` bytes hold no block byte.
    Inside { searched: usize },
    /// Inside an oversized frame: its head, and the bytes seen so far.
    Dropping { head: Bytes, length: usize },
}

impl Codec {
    pub fn new(max_frame: usize) -> Codec {
        Codec {
            max_frame,
            state: State::Outside,
        }
    }

    /// Whether a frame has begun and not ended (for the idle timeout, which
    /// drops a half-sent frame).
    pub fn in_frame(&self) -> bool {
        !matches!(self.state, State::Outside)
    }
}

impl Decoder for Codec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        loop {
            match &mut self.state {
                State::Outside => match src.iter().position(|&b| b == SB) {
                    Some(i) => {
                        src.advance(i + 1);
                        self.state = State::Inside { searched: 0 };
                    }
                    None => {
                        src.clear();
                        return Ok(None);
                    }
                },
                State::Inside { searched } => {
                    let from = (*searched).min(src.len());
                    let end = src[from..]
                        .iter()
                        .position(|&b| b == EB || b == SB)
                        .map(|i| i + from);
                    match end {
                        Some(i) if src[i] == SB => {
                            src.advance(i + 1);
                            *searched = 0;
                        }
                        Some(i) => {
                            let content = src.split_to(i).freeze();
                            src.advance(1);
                            self.state = State::Outside;
                            return Ok(Some(if i > self.max_frame {
                                Frame::Oversized {
                                    head: content.slice(..HEAD.min(i)),
                                    length: i,
                                }
                            } else {
                                match content.as_ref() {
                                    [ACK] => Frame::Commit(true),
                                    [NAK] => Frame::Commit(false),
                                    _ => Frame::Message(content),
                                }
                            }));
                        }
                        None if src.len() > self.max_frame => {
                            let length = src.len();
                            let head = src.split_to(HEAD.min(length)).freeze();
                            src.clear();
                            self.state = State::Dropping { head, length };
                            return Ok(None);
                        }
                        None => {
                            *searched = src.len();
                            return Ok(None);
                        }
                    }
                }
                State::Dropping { head, length } => {
                    match src.iter().position(|&b| b == EB || b == SB) {
                        Some(i) if src[i] == SB => {
                            src.advance(i + 1);
                            self.state = State::Inside { searched: 0 };
                        }
                        Some(i) => {
                            let frame = Frame::Oversized {
                                head: std::mem::take(head),
                                length: *length + i,
                            };
                            src.advance(i + 1);
                            self.state = State::Outside;
                            return Ok(Some(frame));
                        }
                        None => {
                            *length += src.len();
                            src.clear();
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }
}

impl Encoder<Outbound> for Codec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        match item {
            Outbound::Message(content) => {
                dst.reserve(content.len() + 3);
                dst.extend_from_slice(&[SB]);
                dst.extend_from_slice(&content);
                dst.extend_from_slice(&[EB, CR]);
            }
            Outbound::Commit(ok) => {
                dst.extend_from_slice(&[SB, if ok { ACK } else { NAK }, EB, CR])
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut Codec, reads: &[&[u8]]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for read in reads {
            buf.extend_from_slice(read);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        out
    }

    fn message(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn bytes_outside_frames_are_skipped_and_one_read_may_hold_several_frames() {
        let mut c = Codec::new(1024);
        let frames = decode_all(&mut c, &[b"noise\r\n\x0bMSH|a\r\x1c\r\x0bMSH|b\r\x1c\r"]);
        assert_eq!(frames, vec![message("MSH|a\r"), message("MSH|b\r")]);
        assert!(!c.in_frame());
    }

    #[test]
    fn a_frame_may_arrive_one_byte_at_a_time() {
        let mut c = Codec::new(1024);
        let wire = b"\x0bMSH|x\rPID|1\r\x1c\r";
        let reads: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_all(&mut c, &reads), vec![message("MSH|x\rPID|1\r")]);
    }

    #[test]
    fn a_half_sent_frame_is_in_progress_and_a_new_start_block_restarts_it() {
        let mut c = Codec::new(1024);
        let mut buf = BytesMut::from(&b"\x0bMSH|lost"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert!(c.in_frame());
        buf.extend_from_slice(b"\x0bMSH|kept\r\x1c");
        assert_eq!(c.decode(&mut buf).unwrap(), Some(message("MSH|kept\r")));
        assert!(!c.in_frame());
    }

    #[test]
    fn commit_blocks_are_recognised_and_encoded() {
        let mut c = Codec::new(16);
        let frames = decode_all(&mut c, &[b"\x0b\x06\x1c\r\x0b\x15\x1c\r"]);
        assert_eq!(frames, vec![Frame::Commit(true), Frame::Commit(false)]);
        let mut out = BytesMut::new();
        c.encode(Outbound::Commit(true), &mut out).unwrap();
        c.encode(Outbound::Message(Bytes::from_static(b"MSH|\r")), &mut out)
            .unwrap();
        assert_eq!(&out[..], b"\x0b\x06\x1c\r\x0bMSH|\r\x1c\r");
    }

    #[test]
    fn an_oversized_frame_keeps_its_head_and_the_next_frame_still_decodes() {
        let mut c = Codec::new(10);
        let mut big = vec![SB];
        big.extend_from_slice(b"MSH|0123456789abcdef");
        let (first, rest) = big.split_at(8);
        let frames = decode_all(&mut c, &[first, rest, b"ghij\x1c\r\x0bMSH|ok\x1c\r"]);
        assert_eq!(
            frames,
            vec![
                Frame::Oversized {
                    head: Bytes::from_static(b"MSH|0123456789abcdef"),
                    length: 24
                },
                message("MSH|ok")
            ]
        );
    }

    #[test]
    fn never_panics_and_never_holds_more_than_the_limit_plus_a_read() {
        let wire = "junk\x0bMSH|^~\\&|A\rPID|1\r\x1c\r\x0b\x06\x1c\r\x0bMSH|2\x1c";
        let alphabet = [SB, EB, CR, ACK, NAK, b'M', b'|', 0];
        let mut roll = crate::testing::Roll(7);
        for bytes in crate::testing::mutations(wire, &alphabet, 20_000, 0xf4a3e) {
            let mut c = Codec::new(12);
            let mut buf = BytesMut::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (read, tail) = rest.split_at(1 + roll.next(rest.len()));
                rest = tail;
                buf.extend_from_slice(read);
                while let Some(frame) = c.decode(&mut buf).unwrap() {
                    if let Frame::Message(m) = frame {
                        assert!(m.len() <= 12);
                        assert!(!m.contains(&SB) && !m.contains(&EB));
                    }
                }
                assert!(buf.len() <= 12 + read.len());
            }
        }
    }
}
