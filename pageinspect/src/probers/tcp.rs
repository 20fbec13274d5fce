//! The `tcp` probe: connect, optionally send `body`, optionally read until `expect` appears.

use super::{Outcome, ProbeContext, net};
use crate::failure::Failure;
use shared::probe::{FailureReason, ProbeSpec, split_host_port};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn probe(spec: &ProbeSpec, ctx: &ProbeContext, out: &mut Outcome) -> Result<(), Failure> {
    let (host, port) = split_host_port(spec.target.trim())
        .ok_or_else(|| Failure::new(FailureReason::Internal, "target is not host:port"))?;
    let addr = net::resolve_allowed(host, port, spec.ip_preference, &ctx.egress, out).await?;
    let mut stream = net::connect(addr, out).await?;
    let start = Instant::now();
    if let Some(body) = &spec.body {
        out.stage = "send";
        stream
            .write_all(body.as_bytes())
            .await
            .map_err(|e| net::io_failure("sending the body failed", &e))?;
    }
    if let Some(expect) = &spec.expect {
        out.stage = "read";
        let result = read_until(&mut stream, expect, ctx.max_body_bytes).await;
        out.phases.processing += Outcome::since(start);
        let (seen, matched) = result?;
        out.body = Some(String::from_utf8_lossy(&seen).into_owned());
        if !matched {
            return Err(Failure::new(
                FailureReason::ConditionFailed,
                format!(
                    "the response ({} bytes) does not contain the expected text before {}",
                    seen.len(),
                    if seen.len() >= ctx.max_body_bytes {
                        "the read limit"
                    } else {
                        "the connection closed"
                    }
                ),
            ));
        }
    } else {
        out.phases.processing += Outcome::since(start);
    }
    out.stage = "done";
    Ok(())
}

/// Reads until `expect` appears, the peer closes, or `limit` bytes were read.
async fn read_until(
    stream: &mut tokio::net::TcpStream,
    expect: &str,
    limit: usize,
) -> Result<(Vec<u8>, bool), Failure> {
    let needle = expect.as_bytes();
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| net::io_failure("reading the response failed", &e))?;
        if n == 0 {
            return Ok((seen, false));
        }
        let take = n.min(limit - seen.len());
        seen.extend_from_slice(&chunk[..take]);
        if contains(&seen, needle) {
            return Ok((seen, true));
        }
        if seen.len() >= limit {
            return Ok((seen, false));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn contains_finds_a_substring_anywhere() {
        assert!(contains(b"220 smtp ready", b"ready"));
        assert!(!contains(b"220 smtp", b"ready"));
        assert!(contains(b"x", b""));
    }
}
