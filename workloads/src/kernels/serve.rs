//! The instance's end of net-rr and net-stream: a TCP server the harness's peer on the host
//! drives across the instance's network path. The host times everything; the instance only
//! answers, so no guest clock enters a figure. Each connection starts with one command byte.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// The port the instance listens on inside its own network namespace or guest.
pub const PORT: u16 = 7399;
/// Command: echo one byte for each byte received, until the peer closes (round trips).
pub const ROUND_TRIPS: u8 = b'R';
/// Command: read an 8-byte little-endian count, receive that many bytes, answer the count
/// received the same way, then discard what else comes until the peer closes (host → instance).
pub const SINK: u8 = b'I';
/// Command: read an 8-byte little-endian count, send that many bytes, close (instance → host).
pub const SOURCE: u8 = b'O';
/// Command: this run is over.
pub const END: u8 = b'Q';
/// The instance's answer to a command's header: it has the connection, the clock may start
/// (a user-space stack accepts on the host at once, before the instance listens, and reaches
/// it later: slirp4netns first resolves its address, which took a second).
pub const GO: u8 = b'G';

fn err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The listener of this process on `bind`, made at its first run and kept for the next ones, so
/// the peer never finds the port closed between two runs of a warm instance.
fn listener(bind: &str) -> Result<&'static TcpListener, String> {
    static LISTENERS: std::sync::Mutex<Vec<(String, &'static TcpListener)>> =
        std::sync::Mutex::new(Vec::new());
    let mut listeners = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, l)) = listeners.iter().find(|(b, _)| b == bind) {
        return Ok(l);
    }
    let l: &'static TcpListener =
        Box::leak(Box::new(TcpListener::bind(bind).map_err(err("listen"))?));
    listeners.push((bind.to_string(), l));
    Ok(l)
}

/// Serves one run's connections on `bind` until the peer sends [`END`]; says what it served.
pub fn serve(bind: &str) -> Result<String, String> {
    let listener = listener(bind)?;
    let (mut trips, mut received, mut sent, mut connections) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let (mut conn, _) = listener.accept().map_err(err("accept"))?;
        connections += 1;
        let mut command = [0u8; 1];
        if conn.read_exact(&mut command).is_err() {
            continue; // a connection probe that closed at once
        }
        match command[0] {
            ROUND_TRIPS => trips += echo(&mut conn).map_err(err("round trips"))?,
            SINK => received += sink(&mut conn).map_err(err("receive"))?,
            SOURCE => sent += source(&mut conn).map_err(err("send"))?,
            END => break,
            other => return Err(format!("unknown peer command byte {other:#x}")),
        }
    }
    Ok(format!(
        "served {trips} round trips, received {received} bytes and sent {sent} bytes on \
         {connections} connections at {bind}"
    ))
}

fn echo(conn: &mut TcpStream) -> std::io::Result<u64> {
    conn.set_nodelay(true)?;
    conn.write_all(&[GO])?;
    let mut byte = [0u8; 1];
    let mut trips = 0;
    while conn.read(&mut byte)? == 1 {
        conn.write_all(&byte)?;
        trips += 1;
    }
    Ok(trips)
}

/// Receives the announced number of bytes, then answers with the count received: the end is
/// the count, not the peer's half-close, whose delivery a user-space stack (slirp4netns,
/// pasta) may hold back or turn into a reset.
fn sink(conn: &mut TcpStream) -> std::io::Result<u64> {
    let mut count = [0u8; 8];
    conn.read_exact(&mut count)?;
    let total = u64::from_le_bytes(count);
    conn.write_all(&[GO])?;
    let mut buf = vec![0u8; 1 << 17];
    let mut received = 0u64;
    while received < total {
        let want = buf.len().min((total - received) as usize);
        let n = conn.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    conn.write_all(&received.to_le_bytes())?;
    // The peer kept sending until the count reached it (a continuous stream): drained, not
    // counted.
    while conn.read(&mut buf)? > 0 {}
    Ok(received)
}

fn source(conn: &mut TcpStream) -> std::io::Result<u64> {
    let mut count = [0u8; 8];
    conn.read_exact(&mut count)?;
    let total = u64::from_le_bytes(count);
    conn.write_all(&[GO])?;
    let chunk = vec![0x5au8; 1 << 17];
    let mut sent = 0u64;
    while sent < total {
        let n = chunk.len().min((total - sent) as usize);
        conn.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    // No half-close: the peer reads exactly what it asked for, and pasta (Debian's 2023
    // build) could lose the tail of a spliced stream behind a FIN. Wait for the peer's close,
    // so the last bytes are not cut by a reset.
    let _ = conn.read(&mut count);
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on a free port of 127.0.0.1, and a way to connect to it once it listens.
    fn server() -> (
        std::thread::JoinHandle<Result<String, String>>,
        impl Fn() -> TcpStream,
    ) {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let server = {
            let bind = bind.clone();
            std::thread::spawn(move || serve(&bind))
        };
        let connect = move || loop {
            if let Ok(s) = TcpStream::connect(&bind) {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        (server, connect)
    }

    #[test]
    fn the_server_answers_each_command_until_the_run_ends() {
        let (server, connect) = server();
        let mut rr = connect();
        rr.write_all(&[ROUND_TRIPS]).unwrap();
        let mut byte = [9u8; 1];
        rr.read_exact(&mut byte).unwrap();
        assert_eq!(byte, [GO]);
        byte = [9u8; 1];
        for _ in 0..3 {
            rr.write_all(&byte).unwrap();
            rr.read_exact(&mut byte).unwrap();
            assert_eq!(byte, [9]);
        }
        drop(rr);
        let mut sink = connect();
        sink.write_all(&[SINK]).unwrap();
        sink.write_all(&1000u64.to_le_bytes()).unwrap();
        // The count answers once the announced bytes are in, without a half-close.
        let mut go = [0u8; 1];
        sink.read_exact(&mut go).unwrap();
        assert_eq!(go, [GO]);
        sink.write_all(&[1u8; 1000]).unwrap();
        let mut count = [0u8; 8];
        sink.read_exact(&mut count).unwrap();
        assert_eq!(u64::from_le_bytes(count), 1000);
        // What comes after the count is discarded until the peer closes.
        sink.write_all(&[2u8; 300]).unwrap();
        drop(sink);
        let mut source = connect();
        source.write_all(&[SOURCE]).unwrap();
        source.write_all(&500u64.to_le_bytes()).unwrap();
        // The go byte, then the stream; no end of file: the instance waits for our close.
        let mut got = vec![0u8; 501];
        source.read_exact(&mut got).unwrap();
        assert_eq!(got[0], GO);
        assert!(got[1..].iter().all(|&b| b == 0x5a));
        drop(source);
        connect().write_all(&[END]).unwrap();
        let said = server.join().unwrap().unwrap();
        assert!(
            said.contains("served 3 round trips, received 1000 bytes and sent 500 bytes"),
            "{said}"
        );
    }

    #[test]
    fn the_port_stays_open_between_two_runs() {
        let (first, connect) = server();
        connect().write_all(&[END]).unwrap();
        let bind = first.join().unwrap().unwrap();
        let bind = bind.rsplit(' ').next().unwrap().to_string();
        // Between two runs of a warm instance nothing serves, yet the peer's next connection
        // is queued, not refused.
        let mut next = TcpStream::connect(&bind).expect("the listener outlives a run");
        next.write_all(&[END]).unwrap();
        assert!(serve(&bind).unwrap().contains("on 1 connections"));
    }

    #[test]
    fn an_unknown_command_is_an_error() {
        let (server, connect) = server();
        let mut s = connect();
        s.write_all(b"X").unwrap();
        let err = server.join().unwrap().unwrap_err();
        assert!(err.contains("unknown peer command"), "{err}");
    }
}
