//! Network-stack work over the environment's own loopback: bulk TCP and 1-byte round trips.

use super::{headline, secondary, Params};
use crate::catalogue::Workload;
use crate::protocol::{Better, Metric};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

fn err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e} (is loopback up in this environment?)")
}

/// Streams `net_mib` MiB to a reader thread, then does `net_round_trips` ping-pongs.
pub(super) fn loopback(p: &Params) -> Result<Vec<Metric>, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(err("bind 127.0.0.1"))?;
    let addr = listener.local_addr().map_err(err("local address"))?;
    let round_trips = p.net_round_trips;
    let server = thread::spawn(move || -> std::io::Result<u64> {
        let (mut bulk, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 17];
        let mut received = 0u64;
        loop {
            let n = bulk.read(&mut buf)?;
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        bulk.write_all(&[1])?;
        let (mut pong, _) = listener.accept()?;
        pong.set_nodelay(true)?;
        let mut byte = [0u8; 1];
        for _ in 0..round_trips {
            pong.read_exact(&mut byte)?;
            pong.write_all(&byte)?;
        }
        Ok(received)
    });

    let bytes = p.net_mib << 20;
    let chunk = vec![0xa5u8; 1 << 17];
    let start = Instant::now();
    let mut bulk = TcpStream::connect(addr).map_err(err("connect"))?;
    let mut sent = 0u64;
    while sent < bytes {
        bulk.write_all(&chunk).map_err(err("send"))?;
        sent += chunk.len() as u64;
    }
    bulk.shutdown(Shutdown::Write).map_err(err("shutdown"))?;
    let mut ack = [0u8; 1];
    bulk.read_exact(&mut ack).map_err(err("ack"))?;
    let stream_secs = start.elapsed().as_secs_f64();

    let mut ping = TcpStream::connect(addr).map_err(err("connect"))?;
    ping.set_nodelay(true).map_err(err("nodelay"))?;
    let mut byte = [7u8; 1];
    let start = Instant::now();
    for _ in 0..round_trips {
        ping.write_all(&byte).map_err(err("ping"))?;
        ping.read_exact(&mut byte).map_err(err("pong"))?;
    }
    let rtt_us = start.elapsed().as_nanos() as f64 / 1e3 / round_trips as f64;
    let received = server
        .join()
        .map_err(|_| "loopback server thread panicked".to_string())?
        .map_err(err("server"))?;
    if received != sent {
        return Err(format!(
            "loopback lost data: sent {sent} bytes, received {received}"
        ));
    }
    Ok(vec![
        headline(Workload::NetLoopback, sent as f64 * 8.0 / stream_secs / 1e9),
        secondary("tcp_rtt", rtt_us, "us", Better::Lower),
    ])
}
