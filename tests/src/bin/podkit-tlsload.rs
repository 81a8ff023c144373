//! `podkit-tlsload`: the load generator and the backend of `bench/ambassador.py`. Never shipped.
//!
//! Both ends of every measurement are this one binary, so that what differs between runs is only
//! the proxy in the middle (podkit-ambassador, stunnel, haproxy, hitch). Blocking sockets and a
//! thread per connection: the figures it drives are a few thousand connections a second at most,
//! and plain threads keep its own cost per byte and per handshake the same for every proxy.
//!
//! ```text
//! podkit-tlsload backend IP:PORT
//! podkit-tlsload bulk       --connect IP:PORT --bytes N [TLS]
//! podkit-tlsload handshakes --connect IP:PORT --concurrency N --duration SECS [--warmup SECS] TLS
//! podkit-tlsload idle       --connect IP:PORT --conns N [--parallel N] [TLS]
//! TLS: --cacert FILE --server-name NAME [--cert FILE --key FILE]
//! ```
//!
//! # The exchange
//!
//! Every connection carries one request: a 9-byte header (the payload length as a big-endian u64,
//! then a mode byte), the payload, then a 16-byte reply from the backend: the payload length it
//! counted (big-endian u64) and `podkitok`. Mode 0: the backend closes right after its reply, so
//! the backend's side, not the proxy's, ends up in TIME_WAIT and a run of tens of thousands of
//! connections cannot exhaust the proxy's ephemeral ports. Mode 1: the backend holds the
//! connection open until the client closes it (the idle connections).
//!
//! # Commands
//!
//! - `backend`: accepts, a thread per connection, and answers the exchange. Prints
//!   `listening IP:PORT` once bound.
//! - `bulk`: one connection; after the handshake, sends N payload bytes and waits for the reply.
//!   Prints one JSON object: bytes, seconds (from the first byte sent to the reply), MB/s.
//! - `handshakes`: N threads, each in a loop: connect, full TLS handshake (resumption disabled:
//!   no session ID, no ticket), a 32-byte request, the reply, the end of the connection. Prints
//!   one JSON object: connections completed (and during the warm-up), errors, the rate, and each
//!   connection's latency percentiles (connect to the end of the connection).
//! - `idle`: opens N connections, each through the handshake and one exchange in mode 1, prints
//!   `open N`, then holds them all, idle, until its stdin ends.
//!
//! Exit status: 0 on success, 1 when the measurement failed (the reason on stderr), 2 on a bad
//! command line.

use std::io::{self, BufRead as _, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use podkit::tls::rustls::client::Resumption;
use podkit::tls::rustls::{ClientConfig, ClientConnection, StreamOwned};
use podkit::tls::rustls_pki_types::ServerName;
use podkit::tls::ClientTls;

/// Bytes per write and per read on the data path: many whole TLS records per system call.
const CHUNK: usize = 256 * 1024;

/// The request payload of a handshake or an idle connection.
const SMALL_REQUEST: u64 = 32;

/// The backend's threads do little but read and write; a small stack lets thousands of idle
/// connections stay open without the backend's memory mattering.
const BACKEND_STACK: usize = 64 * 1024;

const MODE_CLOSE: u8 = 0;
const MODE_HOLD: u8 = 1;
const REPLY_TAG: &[u8; 8] = b"podkitok";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("backend") => Flags::parse(&args[1..], &[]).and_then(|f| backend(&f)),
        Some("bulk") => Flags::parse(&args[1..], &["--bytes"]).and_then(|f| bulk(&f)),
        Some("handshakes") => {
            Flags::parse(&args[1..], &["--concurrency", "--duration"]).and_then(|f| handshakes(&f))
        }
        Some("idle") => Flags::parse(&args[1..], &["--conns"]).and_then(|f| idle(&f)),
        _ => Err(Failure::Usage(
            "usage: podkit-tlsload backend|bulk|handshakes|idle ... (see the source's header)"
                .to_owned(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(why)) => {
            eprintln!("podkit-tlsload: {why}");
            ExitCode::from(2)
        }
        Err(Failure::Run(why)) => {
            eprintln!("podkit-tlsload: {why}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Run(e.to_string())
    }
}

/// `--flag value` pairs, plus the backend's one positional address.
struct Flags {
    pairs: Vec<(String, String)>,
    positional: Option<String>,
}

impl Flags {
    fn parse(args: &[String], required: &[&str]) -> Result<Flags, Failure> {
        let mut flags = Flags {
            pairs: Vec::new(),
            positional: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg.starts_with("--") {
                let value = args
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("{arg} needs a value")))?;
                flags.pairs.push((arg.clone(), value.clone()));
            } else if flags.positional.is_none() {
                flags.positional = Some(arg.clone());
            } else {
                return Err(Failure::Usage(format!("unexpected argument {arg:?}")));
            }
        }
        for flag in required {
            if flags.get(flag).is_none() {
                return Err(Failure::Usage(format!("{flag} is required")));
            }
        }
        Ok(flags)
    }

    fn get(&self, flag: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    fn number<T: std::str::FromStr>(&self, flag: &str, default: T) -> Result<T, Failure> {
        match self.get(flag) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Failure::Usage(format!("{flag}: not a number: {v:?}"))),
        }
    }

    fn seconds(&self, flag: &str, default: f64) -> Result<Duration, Failure> {
        let secs: f64 = self.number(flag, default)?;
        Duration::try_from_secs_f64(secs)
            .map_err(|_| Failure::Usage(format!("{flag}: not a duration: {secs}")))
    }

    /// Where to connect and, with `--cacert`, how to speak TLS there.
    fn target(&self) -> Result<Target, Failure> {
        let addr: SocketAddr = self
            .get("--connect")
            .ok_or_else(|| Failure::Usage("--connect is required".to_owned()))?
            .parse()
            .map_err(|_| Failure::Usage("--connect: expected IP:PORT".to_owned()))?;
        let Some(ca) = self.get("--cacert") else {
            return Ok(Target { addr, tls: None });
        };
        let identity = match (self.get("--cert"), self.get("--key")) {
            (Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (None, None) => None,
            _ => return Err(Failure::Usage("--cert and --key go together".to_owned())),
        };
        let tls = ClientTls {
            ca: Some(ca.into()),
            identity,
            insecure: false,
        };
        let mut config = tls
            .config(&[])
            .map_err(|e| Failure::Usage(format!("TLS configuration: {e}")))?;
        // Every connection pays for a full handshake, as a new client would: no session ID, no
        // ticket, nothing remembered from the previous connection.
        config.resumption = Resumption::disabled();
        let name = self.get("--server-name").unwrap_or("localhost");
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| Failure::Usage(format!("--server-name: invalid name {name:?}")))?;
        Ok(Target {
            addr,
            tls: Some((Arc::new(config), name)),
        })
    }
}

struct Target {
    addr: SocketAddr,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// A client connection, plain or TLS, with its handshake done.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Target {
    fn connect(&self) -> io::Result<Conn> {
        let tcp = TcpStream::connect(self.addr)?;
        tcp.set_nodelay(true)?;
        let Some((config, name)) = &self.tls else {
            return Ok(Conn::Plain(tcp));
        };
        let session =
            ClientConnection::new(config.clone(), name.clone()).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(session, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Conn::Tls(Box::new(stream)))
    }
}

impl Conn {
    /// What was negotiated, for the report: the same suite for every proxy, or the comparison is
    /// not fair.
    fn describe(&self) -> String {
        match self {
            Conn::Plain(_) => "plain TCP".to_owned(),
            Conn::Tls(stream) => {
                let conn = &stream.conn;
                let version = conn
                    .protocol_version()
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                let suite = conn
                    .negotiated_cipher_suite()
                    .and_then(|s| s.suite().as_str())
                    .unwrap_or("?");
                let group = conn
                    .negotiated_key_exchange_group()
                    .map_or_else(|| "?".to_owned(), |g| format!("{:?}", g.name()));
                format!("{version} {suite} {group}")
            }
        }
    }

    /// Sends a request of `len` payload bytes and reads the backend's reply, checking that it
    /// counted them all.
    fn exchange(&mut self, len: u64, mode: u8) -> io::Result<()> {
        let mut header = [0; 9];
        header[..8].copy_from_slice(&len.to_be_bytes());
        header[8] = mode;
        let payload = vec![0x5a; CHUNK.min(len as usize)];
        let mut head = header.to_vec();
        let first = (len as usize).min(CHUNK);
        head.extend_from_slice(&payload[..first]);
        self.write_all(&head)?;
        let mut left = len - first as u64;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            self.write_all(&payload[..n])?;
            left -= n as u64;
        }
        self.flush()?;
        let mut reply = [0; 16];
        self.read_exact(&mut reply)?;
        let counted = u64::from_be_bytes(reply[..8].try_into().unwrap_or_default());
        if &reply[8..] != REPLY_TAG || counted != len {
            return Err(io::Error::other(format!(
                "bad reply: the backend counted {counted} bytes of {len}"
            )));
        }
        Ok(())
    }

    /// Reads until the other side ends the connection. A TLS peer that closes without
    /// close_notify has ended it too.
    fn read_to_end(&mut self) -> io::Result<()> {
        let mut sink = [0; 4096];
        loop {
            match self.read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

// --------------------------------------------------------------------------
// backend

fn backend(flags: &Flags) -> Result<(), Failure> {
    let addr = flags
        .positional
        .as_deref()
        .ok_or_else(|| Failure::Usage("backend needs IP:PORT".to_owned()))?;
    let listener = TcpListener::bind(addr)?;
    println!("listening {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, typically: say so and go on, the client will see it.
                eprintln!("podkit-tlsload: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let spawned = thread::Builder::new()
            .stack_size(BACKEND_STACK)
            .spawn(move || {
                if let Err(e) = answer(stream) {
                    if e.kind() != io::ErrorKind::ConnectionReset {
                        eprintln!("podkit-tlsload: backend: {e}");
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("podkit-tlsload: backend: cannot start a thread: {e}");
        }
    }
}

fn answer(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut header = [0; 9];
    stream.read_exact(&mut header)?;
    let len = u64::from_be_bytes(header[..8].try_into().unwrap_or_default());
    let mut small = [0; 4096];
    let mut large = Vec::new();
    let buffer: &mut [u8] = if len as usize > small.len() {
        large.resize(CHUNK, 0);
        &mut large
    } else {
        &mut small
    };
    let mut counted = 0;
    while counted < len {
        let want = (len - counted).min(buffer.len() as u64) as usize;
        match stream.read(&mut buffer[..want])? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => counted += n as u64,
        }
    }
    let mut reply = [0; 16];
    reply[..8].copy_from_slice(&counted.to_be_bytes());
    reply[8..].copy_from_slice(REPLY_TAG);
    stream.write_all(&reply)?;
    if header[8] == MODE_HOLD {
        io::copy(&mut stream, &mut io::sink())?;
    }
    Ok(())
}

// --------------------------------------------------------------------------
// bulk

fn bulk(flags: &Flags) -> Result<(), Failure> {
    let target = flags.target()?;
    let bytes: u64 = flags.number("--bytes", 0)?;
    let mut conn = target
        .connect()
        .map_err(|e| Failure::Run(format!("connect {}: {e}", target.addr)))?;
    let started = Instant::now();
    conn.exchange(bytes, MODE_CLOSE)
        .map_err(|e| Failure::Run(format!("bulk transfer: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"bytes\": {bytes}, \"seconds\": {seconds:.6}, \"mb_per_s\": {:.1}, \"tls\": \"{}\"}}",
        bytes as f64 / seconds / 1e6,
        conn.describe()
    );
    Ok(())
}

// --------------------------------------------------------------------------
// handshakes

/// What one thread of the handshake loop saw.
#[derive(Default)]
struct Tally {
    /// Microseconds from connect to the end of the connection, one per completed connection.
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    negotiated: Option<String>,
}

fn handshakes(flags: &Flags) -> Result<(), Failure> {
    let target = Arc::new(flags.target()?);
    if target.tls.is_none() {
        return Err(Failure::Usage("handshakes needs --cacert".to_owned()));
    }
    let concurrency: usize = flags.number("--concurrency", 1)?;
    let duration = flags.seconds("--duration", 0.0)?;
    let warmup = flags.seconds("--warmup", 0.0)?;

    // The warm-up lets the proxy start its threads and fill its allocator's caches; its
    // connections are not in the rate, only reported (the caller accounts the proxy's CPU time
    // over both).
    let warmed: usize = hammer(&target, concurrency, warmup)
        .iter()
        .map(|t| t.latencies_us.len())
        .sum();
    let started = Instant::now();
    let tallies = hammer(&target, concurrency, duration);
    let seconds = started.elapsed().as_secs_f64();

    let mut latencies: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let first_error = tallies.iter().find_map(|t| t.first_error.clone());
    let negotiated = tallies.iter().find_map(|t| t.negotiated.clone());
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let at = ((latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(latencies[at]) / 1e3
    };
    println!(
        "{{\"connections\": {}, \"warmup_connections\": {warmed}, \"errors\": {errors}, \
         \"seconds\": {seconds:.3}, \"per_second\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"tls\": {}, \
         \"first_error\": {}}}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        percentile(0.50),
        percentile(0.99),
        json_string(negotiated.as_deref()),
        json_string(first_error.as_deref()),
    );
    Ok(())
}

fn hammer(target: &Arc<Target>, concurrency: usize, duration: Duration) -> Vec<Tally> {
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let target = target.clone();
            thread::spawn(move || {
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    match one_connection(&target, &mut tally) {
                        Ok(()) => {
                            let us = started.elapsed().as_micros();
                            tally
                                .latencies_us
                                .push(u32::try_from(us).unwrap_or(u32::MAX));
                        }
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                tally
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|w| w.join().unwrap_or_default())
        .collect()
}

fn one_connection(target: &Target, tally: &mut Tally) -> io::Result<()> {
    let mut conn = target.connect()?;
    if tally.negotiated.is_none() {
        tally.negotiated = Some(conn.describe());
    }
    conn.exchange(SMALL_REQUEST, MODE_CLOSE)?;
    conn.read_to_end()
}

fn json_string(s: Option<&str>) -> String {
    match s {
        None => "null".to_owned(),
        Some(s) => {
            let escaped: String = s
                .chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', '"'],
                    '\\' => vec!['\\', '\\'],
                    c if c.is_control() => vec![' '],
                    c => vec![c],
                })
                .collect();
            format!("\"{escaped}\"")
        }
    }
}

// --------------------------------------------------------------------------
// idle

fn idle(flags: &Flags) -> Result<(), Failure> {
    let target = Arc::new(flags.target()?);
    let conns: usize = flags.number("--conns", 0)?;
    let parallel: usize = flags.number("--parallel", 4)?.max(1);

    let openers: Vec<_> = (0..parallel)
        .map(|i| {
            let target = target.clone();
            let share = conns / parallel + usize::from(i < conns % parallel);
            thread::spawn(move || -> io::Result<Vec<Conn>> {
                (0..share)
                    .map(|_| {
                        let mut conn = target.connect()?;
                        conn.exchange(SMALL_REQUEST, MODE_HOLD)?;
                        Ok(conn)
                    })
                    .collect()
            })
        })
        .collect();
    let mut open = Vec::with_capacity(conns);
    for opener in openers {
        let opened = opener
            .join()
            .map_err(|_| Failure::Run("an opener thread panicked".to_owned()))?;
        open.extend(opened.map_err(|e| Failure::Run(format!("opening a connection: {e}")))?);
    }
    println!("open {}", open.len());
    io::stdout().flush()?;
    // Hold them, idle, until told to let go.
    for line in io::stdin().lock().lines() {
        line?;
    }
    drop(open);
    Ok(())
}
