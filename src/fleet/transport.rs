//! Results carried through a pod's log: the results file gzipped, in base64 lines between two
//! marker lines that name the node, its length and its SHA-256, so that a truncated or
//! interleaved log is detected instead of read as a smaller run.

use base64::Engine;
use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// First words of the line that opens a block.
const BEGIN: &str = "-----BEGIN VMBENCH RESULTS";
/// The line that closes a block.
const END: &str = "-----END VMBENCH RESULTS-----";
/// Characters of base64 per line.
const WIDTH: usize = 76;
/// Largest results file a block may expand to (a full default suite is under 20 MB).
const MAX_BYTES: usize = 512 << 20;

/// Why a log holds no usable results.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    /// No opening marker at all.
    #[error("no results in the log (no '{BEGIN}' line): the run ended before writing them")]
    Missing,
    /// An opening marker without its closing one.
    #[error("the results in the log are cut short (no closing marker): the log was truncated")]
    Truncated,
    /// A marker line that does not parse.
    #[error("malformed results marker: {0}")]
    Marker(String),
    /// The payload does not decode or does not match its marker.
    #[error("corrupt results block: {0}")]
    Corrupt(String),
}

/// One decoded block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The node the block says it came from.
    pub node: String,
    /// The results file's bytes.
    pub json: Vec<u8>,
}

/// The block that carries `json`, labelled with `node`, ending with a newline.
pub fn encode(json: &[u8], node: &str) -> String {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(json).expect("writing to memory");
    let packed = gz.finish().expect("writing to memory");
    let text = base64::engine::general_purpose::STANDARD.encode(packed);
    let sha = hex(&Sha256::digest(json));
    let mut out = format!(
        "{BEGIN} node={node} bytes={} sha256={sha}-----\n",
        json.len()
    );
    for chunk in text.as_bytes().chunks(WIDTH) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// The last complete block in `log`; lines between the markers that are not base64 (another
/// program's output interleaved) are skipped, and the SHA-256 decides.
pub fn decode(log: &str) -> Result<Block, TransportError> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with(BEGIN))
        .ok_or(TransportError::Missing)?;
    let (node, bytes, sha) = parse_marker(lines[start])?;
    let body = &lines[start + 1..];
    let end = body
        .iter()
        .position(|l| l.trim_end() == END)
        .ok_or(TransportError::Truncated)?;
    let text: String = body[..end]
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| is_base64_line(l))
        .collect();
    let packed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| TransportError::Corrupt(format!("base64: {e}")))?;
    let mut json = Vec::new();
    GzDecoder::new(packed.as_slice())
        .take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| TransportError::Corrupt(format!("gzip: {e}")))?;
    if json.len() != bytes {
        return Err(TransportError::Corrupt(format!(
            "{} bytes where the marker says {bytes}",
            json.len()
        )));
    }
    if hex(&Sha256::digest(&json)) != sha {
        return Err(TransportError::Corrupt(
            "its SHA-256 differs from the marker's".into(),
        ));
    }
    Ok(Block { node, json })
}

/// (node, bytes, sha256) of an opening marker line.
fn parse_marker(line: &str) -> Result<(String, usize, String), TransportError> {
    let bad = || TransportError::Marker(line.chars().take(120).collect());
    let inner = line
        .strip_prefix(BEGIN)
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(bad)?;
    let field = |key: &str| {
        inner
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key).map(str::to_string))
    };
    let node = field("node=").ok_or_else(bad)?;
    let bytes: usize = field("bytes=")
        .and_then(|b| b.parse().ok())
        .filter(|&b| b <= MAX_BYTES)
        .ok_or_else(bad)?;
    let sha = field("sha256=")
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(bad)?;
    Ok((node, bytes, sha.to_ascii_lowercase()))
}

/// Whether a line can be part of the payload.
fn is_base64_line(line: &str) -> bool {
    !line.is_empty()
        && line.len() <= WIDTH
        && line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut s = String::from("{\"trials\": [");
        for i in 0..2000 {
            s.push_str(&format!("{{\"rep\": {i}, \"value\": {}}},", i * 7));
        }
        s.push_str("0]}");
        s.into_bytes()
    }

    #[test]
    fn a_block_round_trips_amid_other_output() {
        let json = sample();
        let log = format!(
            "vmbench: starting\n{}vmbench: done\n",
            encode(&json, "node-a")
        );
        let block = decode(&log).unwrap();
        assert_eq!(block.node, "node-a");
        assert_eq!(block.json, json);
    }

    #[test]
    fn interleaved_lines_are_skipped_and_the_last_block_wins() {
        let first = encode(b"{\"old\": 1}", "node-a");
        let mut second: Vec<String> = encode(&sample(), "node-b")
            .lines()
            .map(String::from)
            .collect();
        second.insert(3, "vmbench: a progress line, interleaved".into());
        let log = format!("{first}{}\n", second.join("\n"));
        let block = decode(&log).unwrap();
        assert_eq!(block.node, "node-b");
        assert_eq!(block.json, sample());
    }

    #[test]
    fn truncation_missing_blocks_and_corruption_are_named() {
        assert_eq!(decode("just logs\n"), Err(TransportError::Missing));
        let block = encode(&sample(), "n");
        let cut: String = block.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert_eq!(decode(&cut), Err(TransportError::Truncated));
        let mut lines: Vec<String> = block.lines().map(String::from).collect();
        lines.remove(2);
        assert!(matches!(
            decode(&lines.join("\n")),
            Err(TransportError::Corrupt(_))
        ));
        let forged = block.replacen("bytes=", "bytes=1", 1);
        assert!(matches!(decode(&forged), Err(TransportError::Corrupt(_))));
        let bad = block.replacen("sha256=", "sha256=zz", 1);
        assert!(matches!(decode(&bad), Err(TransportError::Marker(_))));
    }
}
