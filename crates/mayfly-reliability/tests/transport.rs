//! Transport abuse: slowloris (headers dribbled over TLS), half-open connections (TCP only,
//! a partial ClientHello) and ClientHello garbage are all closed by the server within its
//! timeouts, while normal requests keep being served.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use mayfly_reliability::{Ca, Https};
use mayfly_testkit::temp_dir;

/// How long the server may take to drop an abusive connection (its header-read and
/// handshake timeouts are 10 s).
const CLOSE_WITHIN: Duration = Duration::from_secs(25);

/// Reads from `tcp` until the server closes it (EOF or reset); returns how long that took,
/// or `None` when it stayed open past [`CLOSE_WITHIN`].
fn wait_closed(mut tcp: TcpStream, started: Instant) -> Option<Duration> {
    tcp.set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut buf = [0u8; 4096];
    while started.elapsed() < CLOSE_WITHIN {
        match tcp.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

fn raw(port: u16, bytes: &[u8]) -> Option<Duration> {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    // A write may fail once the server has given up: that is a close too.
    if tcp.write_all(bytes).is_err() {
        return Some(started.elapsed());
    }
    wait_closed(tcp, started)
}

/// A TLS connection that sends `GET` headers one byte every 300 ms and never finishes.
fn slowloris(https: &Https) -> Option<Duration> {
    let started = Instant::now();
    let mut tls = https.connect().ok()?;
    let head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for byte in head {
        if started.elapsed() > CLOSE_WITHIN {
            return None;
        }
        if tls.write_all(&[*byte]).and_then(|()| tls.flush()).is_err() {
            return Some(started.elapsed());
        }
        thread::sleep(Duration::from_millis(300));
    }
    let mut buf = [0u8; 1024];
    tls.sock.set_read_timeout(Some(CLOSE_WITHIN)).ok()?;
    match tls.read(&mut buf) {
        Ok(n) if n > 0 && String::from_utf8_lossy(&buf[..n]).contains(" 408 ") => {
            Some(started.elapsed())
        }
        Ok(0) | Err(_) => Some(started.elapsed()),
        Ok(_) => None,
    }
}

/// Inputs that are not a TLS ClientHello (or only the start of one).
fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    let mut hello_start = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello_start.extend_from_slice(&[0x42; 20]);
    vec![
        ("nothing (half-open TCP)", Vec::new()),
        ("partial ClientHello", hello_start),
        (
            "plain HTTP on the TLS port",
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "random bytes",
            (0..2048u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        (
            "SSLv2 ClientHello",
            vec![
                0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
            ],
        ),
        (
            "record of length 0xffff",
            [vec![0x16, 0x03, 0x03, 0xff, 0xff], vec![0; 4096]].concat(),
        ),
        (
            "alert before hello",
            vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        ),
        (
            "handshake type garbage",
            vec![0x16, 0x03, 0x03, 0x00, 0x04, 0xff, 0x00, 0x00, 0x00],
        ),
        ("1 MiB of zeros", vec![0; 1 << 20]),
    ]
}

fn health_ok(https: &Https) {
    let reply = https.call("GET", "/health", b"").expect("health answers");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn abusive_connections_are_closed_and_the_ca_keeps_serving() {
    let dir = temp_dir();
    let mut ca = Ca::init(dir.path());
    let https = ca.https();
    let port = ca.port;

    let slow: Vec<_> = (0..20)
        .map(|_| {
            let h = https.clone();
            thread::spawn(move || slowloris(&h))
        })
        .collect();
    let junk: Vec<_> = garbage()
        .into_iter()
        .flat_map(|(name, bytes)| (0..5).map(move |_| (name, bytes.clone())))
        .map(|(name, bytes)| (name, thread::spawn(move || raw(port, &bytes))))
        .collect();
    // While 20 slowloris and 45 garbage connections are open, the CA serves others.
    for _ in 0..10 {
        health_ok(&https);
        thread::sleep(Duration::from_millis(300));
    }
    let mut slowest = Duration::ZERO;
    for (i, t) in slow.into_iter().enumerate() {
        let closed = t.join().expect("slowloris thread");
        let took = closed.unwrap_or_else(|| panic!("slowloris connection {i} stayed open"));
        slowest = slowest.max(took);
    }
    let mut garbage_closed = 0;
    for (name, t) in junk {
        let took = t
            .join()
            .expect("garbage thread")
            .unwrap_or_else(|| panic!("{name}: the connection stayed open"));
        slowest = slowest.max(took);
        garbage_closed += 1;
    }
    assert!(ca.running(), "mayfly-ca died:\n{}", ca.log());
    assert!(!ca.log().contains("panicked"), "{}", ca.log());
    health_ok(&https);
    println!(
        "transport: 20 slowloris + {garbage_closed} garbage/half-open connections closed (slowest after {slowest:?}); CA served throughout"
    );
}
