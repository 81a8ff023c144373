//! podkit-ambassador's hot reload, as an operator rotating certificates sees it: files replaced on
//! disk, a kubelet Secret volume update, SIGHUP, a bad new file, rotations under traffic, client
//! mode, and the image with a mounted volume. Which certificate a new handshake presents is read
//! by a real client (`openssl s_client`, curl) and compared with the files: every assertion is
//! about what a peer or a scrape of /metrics observes.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use podkit_tests::ambassador::{
    client_args, metered, reloads_series, server_args, AmbassadorSeries, TlsPki,
};
use podkit_tests::daemon::Daemon;
use podkit_tests::docker::{self, docker_ok, Container};
use podkit_tests::kubelet::AtomicVolume;
use podkit_tests::run::{command, run, Announced, Talking};
use podkit_tests::servers::{HttpServer, Scratch};
use podkit_tests::{bins, pidns, wait};
use rcgen::{
    date_time_ymd, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer,
    KeyPair, KeyUsagePurpose,
};

const IMAGE: &str = "podkit/ambassador:latest";

/// When `rotated` expires (year, month, day): not when `server` does, so that the not-after
/// gauge shows the swap.
const ROTATED_EXPIRY: (i32, u8, u8) = (2034, 6, 30);

fn rotated_not_after() -> f64 {
    let (year, month, day) = ROTATED_EXPIRY;
    date_time_ymd(year, month, day).unix_timestamp() as f64
}

// ---------------------------------------------------------------------------------------------
// Certificates and the files the ambassador reads.
// ---------------------------------------------------------------------------------------------

/// The harness's PKI plus `rotated`: a second server certificate from the same CA, with the same
/// names as `server` but its own subject (CN `server-rotated`) and not-after. Rotations swap it
/// with `server`.
struct Pki {
    tls: TlsPki,
}

impl Pki {
    fn generate() -> Pki {
        let tls = TlsPki::generate();
        let pki = Pki { tls };
        let start_of_2025 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600);
        pki.issue_server("rotated", start_of_2025);
        pki
    }

    /// Issues `NAME.crt` and `NAME.key` from the harness's CA: the names of `server`, subject
    /// CN `server-NAME`, valid from `not_before` (to the second) until [`ROTATED_EXPIRY`].
    fn issue_server(&self, name: &str, not_before: SystemTime) {
        let tls = &self.tls;
        let ca_key = KeyPair::from_pem(&read(&tls.file("ca.key"))).expect("the CA's key");
        // The harness's CA subject: a leaf's issuer name must match it byte for byte.
        let mut ca = CertificateParams::default();
        ca.distinguished_name = DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "podkit test ca");
        let issuer = Issuer::new(ca, ca_key);

        let names = ["localhost", "ambassador.test", "127.0.0.1", "::1"].map(String::from);
        let mut leaf = CertificateParams::new(names).expect("valid names");
        leaf.distinguished_name = DistinguishedName::new();
        leaf.distinguished_name
            .push(DnType::CommonName, format!("server-{name}"));
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let since_epoch = not_before.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        leaf.not_before = date_time_ymd(1970, 1, 1) + Duration::from_secs(since_epoch.as_secs());
        let (year, month, day) = ROTATED_EXPIRY;
        leaf.not_after = date_time_ymd(year, month, day);
        let key = KeyPair::generate().expect("a leaf key");
        let certificate = leaf.signed_by(&key, &issuer).expect("a server certificate");
        std::fs::write(tls.file(&format!("{name}.crt")), certificate.pem()).unwrap();
        std::fs::write(tls.file(&format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn file(&self, name: &str) -> String {
        self.tls.file(name)
    }

    /// A CA bundle of the named CAs, one after the other.
    fn bundle(&self, cas: &[&str]) -> String {
        cas.iter()
            .map(|ca| read(&self.file(&format!("{ca}.crt"))))
            .collect()
    }

    /// Which of `server`, `rotated` and `future` (when issued) is the first certificate in
    /// `text` (a client's output).
    fn identify(&self, text: &str) -> Option<&'static str> {
        let served = first_certificate(text)?;
        ["server", "rotated", "future"].into_iter().find(|name| {
            let pem = std::fs::read_to_string(self.file(&format!("{name}.crt")));
            pem.ok().and_then(|pem| first_certificate(&pem)).as_ref() == Some(&served)
        })
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The base64 body of the first PEM certificate in `text`, whitespace removed.
fn first_certificate(text: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    Some(text[start..end].split_whitespace().collect())
}

/// What the ambassador is given as `tls.crt`, `tls.key` and `ca.crt`: `leaf`'s certificate and
/// key, and `bundle`.
fn identity(pki: &Pki, leaf: &str, bundle: &str) -> [(&'static str, String); 3] {
    [
        ("tls.crt", read(&pki.file(&format!("{leaf}.crt")))),
        ("tls.key", read(&pki.file(&format!("{leaf}.key")))),
        ("ca.crt", bundle.to_owned()),
    ]
}

/// The paths of the certificate, key and CA bundle given to the ambassador.
trait TlsFiles {
    fn path(&self, name: &str) -> String;

    fn cert(&self) -> String {
        self.path("tls.crt")
    }
    fn key(&self) -> String {
        self.path("tls.key")
    }
    fn ca(&self) -> String {
        self.path("ca.crt")
    }
}

/// `tls.crt`, `tls.key` and `ca.crt` in a directory of their own, replaced the way careful tools
/// do it: the new content goes to a temporary file in the same directory, renamed over the old.
struct TlsDir {
    dir: Scratch,
}

impl TlsFiles for TlsDir {
    fn path(&self, name: &str) -> String {
        self.dir.file(name)
    }
}

impl TlsDir {
    /// The `leaf` pair with `ca.crt` as the bundle.
    fn new(pki: &Pki, leaf: &str) -> TlsDir {
        let files = TlsDir {
            dir: Scratch::new("ambassador-reload-tls"),
        };
        files.install(pki, leaf, &pki.bundle(&["ca"]));
        files
    }

    /// Writes `content` as `name`, in place: what an editor or `cat > file` does.
    fn overwrite(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).unwrap();
    }

    /// Replaces `tls.crt`, `tls.key` and `ca.crt` with `leaf`'s pair and `bundle`: every new file
    /// is written first, then each renamed over its old one.
    fn install(&self, pki: &Pki, leaf: &str, bundle: &str) {
        let new = identity(pki, leaf, bundle);
        for (name, content) in &new {
            std::fs::write(self.path(&format!(".{name}.new")), content).unwrap();
        }
        for (name, _) in &new {
            std::fs::rename(self.path(&format!(".{name}.new")), self.path(name)).unwrap();
        }
    }

    /// Replaces the pair with `leaf`'s and keeps `ca.crt` as it was.
    fn install_pair(&self, pki: &Pki, leaf: &str) {
        self.install(pki, leaf, &read(&self.ca()));
    }
}

/// A Secret volume as the kubelet lays it out and updates it (its AtomicWriter, see
/// [`AtomicVolume`]): the files in a timestamped directory, `..data` a symlink to that directory,
/// and the names a user sees (`tls.crt`, `tls.key`, `ca.crt`) symlinks through `..data`.
struct SecretVolume {
    volume: AtomicVolume,
    _scratch: Scratch,
}

impl TlsFiles for SecretVolume {
    fn path(&self, name: &str) -> String {
        self.volume.path(name).display().to_string()
    }
}

impl SecretVolume {
    fn new(pki: &Pki, leaf: &str) -> SecretVolume {
        let scratch = Scratch::new("ambassador-reload-secret");
        let files = secret(pki, leaf);
        let volume = AtomicVolume::create(&scratch.path, &files.each_ref().map(as_key));
        SecretVolume {
            volume,
            _scratch: scratch,
        }
    }

    /// An update exactly as the kubelet makes it: a new timestamped directory, `..data_tmp`
    /// pointing to it renamed over `..data`, then the old directory removed.
    fn update(&mut self, pki: &Pki, leaf: &str) {
        let files = secret(pki, leaf);
        let changed = self.volume.update(&files.each_ref().map(as_key));
        assert!(changed, "the update changes the Secret");
    }

    fn dir(&self) -> String {
        self.volume.dir().display().to_string()
    }
}

/// The Secret's keys: `leaf`'s pair as `tls.crt` and `tls.key`, and `ca` as `ca.crt`.
fn secret(pki: &Pki, leaf: &str) -> [(&'static str, String); 3] {
    identity(pki, leaf, &pki.bundle(&["ca"]))
}

/// A file of [`identity`] as a key of a volume's payload.
fn as_key<'a>((name, content): &'a (&'static str, String)) -> (&'a str, &'a [u8]) {
    (name, content.as_bytes())
}

/// A [`SecretVolume`]'s files as a container that mounts the volume at `/tls` sees them.
struct MountedVolume;

impl TlsFiles for MountedVolume {
    fn path(&self, name: &str) -> String {
        format!("/tls/{name}")
    }
}

// ---------------------------------------------------------------------------------------------
// The ambassador, its metrics, and the peers.
// ---------------------------------------------------------------------------------------------

/// Server mode in front of `target`, with mTLS (any client of the CA is admitted).
fn terminator_args(files: &impl TlsFiles, target: &str) -> Vec<String> {
    let ca = files.ca();
    server_args(
        &files.cert(),
        &files.key(),
        target,
        &["--cacert", &ca, "--allow-all"],
    )
}

/// Waits until `count` reloads ended with `result`, and insists there were no more; shows the
/// ambassador's log if they never come.
fn wait_for_reloads(ambassador: &Daemon, result: &str, count: f64) {
    let seen = ambassador.wait_for_count(&reloads_series(result), count);
    assert_eq!(
        seen,
        count,
        "reloads with result {result}; log:\n{}",
        ambassador.log_text()
    );
}

/// `openssl s_client` to `addr`, verifying the server against `ca.crt` and presenting `client`.
fn s_client(pki: &Pki, addr: SocketAddr) -> Command {
    let mut command = command("openssl");
    command
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", "localhost", "-verify_return_error"])
        .args(["-CAfile", &pki.file("ca.crt")])
        .args(["-cert", &pki.file("client.crt")])
        .args(["-key", &pki.file("client.key")]);
    command
}

/// The certificate a new handshake with `addr` presents (`server` or `rotated`), as
/// `openssl s_client` receives it.
fn presented(pki: &Pki, addr: SocketAddr) -> &'static str {
    // Under the hang guard: a handshake that never ends fails the test instead of hanging it.
    let done = run(&mut s_client(pki, addr));
    let stdout = &done.stdout;
    assert!(done.succeeded(), "openssl s_client to {addr}: {done:#?}");
    pki.identify(stdout)
        .unwrap_or_else(|| panic!("an unknown certificate from {addr}:\n{stdout}"))
}

/// Runs curl with `args`: its stdout, or why it failed.
fn curl(args: &[&str]) -> Result<String, String> {
    let done = podkit_tests::run::curl(&[&["--fail"], args].concat());
    match done.succeeded() {
        true => Ok(done.stdout),
        false => Err(format!(
            "curl {args:?}: exit {:?}: {}{}",
            done.code,
            done.stderr.trim(),
            done.stdout
        )),
    }
}

/// `GET /status/200` over mTLS through a terminator, with `client`'s certificate; the body,
/// then the certificate chain the server presented (curl's `%{certs}`).
fn https_request(pki: &Pki, addr: SocketAddr) -> Result<String, String> {
    curl(&[
        "--cacert",
        &pki.file("ca.crt"),
        "--cert",
        &pki.file("client.crt"),
        "--key",
        &pki.file("client.key"),
        "--write-out",
        "\n%{certs}",
        &format!("https://{addr}/status/200"),
    ])
}

/// The fixture server's answer to `/status/200`.
const OK_BODY: &str = "status 200";

/// Asserts that a request over mTLS through the terminator at `addr` gets the backend's answer.
#[track_caller]
fn assert_serves(pki: &Pki, addr: SocketAddr) {
    let answer = https_request(pki, addr);
    assert!(
        answer.as_ref().is_ok_and(|body| body.starts_with(OK_BODY)),
        "{answer:?}"
    );
}

/// The test helper's echo server, killed when the test ends.
fn echo_server() -> Announced {
    Announced::start(
        command(bins::helper())
            .args(["serve-echo", "127.0.0.1:0"])
            .stdin(Stdio::null()),
        "listening ",
    )
}

/// A TLS connection held open through a terminator to the echo server: `openssl s_client`
/// sending the lines written to its stdin and printing their echo.
struct OpenConnection(Talking);

impl OpenConnection {
    fn open(pki: &Pki, addr: SocketAddr) -> OpenConnection {
        OpenConnection(Talking::start(
            s_client(pki, addr).arg("-quiet").stderr(Stdio::null()),
        ))
    }

    /// Sends `line` and waits for its echo.
    fn echo(&mut self, line: &str) {
        self.0.say(line);
        self.0
            .stdout
            .next_satisfying(&format!("the echo of {line:?}"), |l| l == line);
    }
}

// ---------------------------------------------------------------------------------------------
// Rotation: files replaced on disk, a kubelet volume update, SIGHUP.
// ---------------------------------------------------------------------------------------------

#[test]
fn replaced_files_reach_new_handshakes_while_an_open_connection_keeps_going() {
    let pki = Pki::generate();
    let files = TlsDir::new(&pki, "server");
    let echo = echo_server();
    let terminator = metered(&terminator_args(&files, &echo.address)).start();
    assert_eq!(presented(&pki, terminator.addr()), "server");
    let not_after_before = terminator.not_after();
    let mut open = OpenConnection::open(&pki, terminator.addr());
    open.echo("sent before the reload");

    files.install_pair(&pki, "rotated");
    wait_for_reloads(&terminator, "success", 1.0);

    assert_eq!(presented(&pki, terminator.addr()), "rotated");
    assert_ne!(terminator.not_after(), not_after_before);
    assert_eq!(terminator.not_after(), rotated_not_after());
    open.echo("sent after the reload");
}

#[test]
fn a_kubelet_secret_volume_update_reaches_new_handshakes_every_time() {
    let pki = Pki::generate();
    let mut volume = SecretVolume::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&volume, &backend.address)).start();
    assert_eq!(presented(&pki, terminator.addr()), "server");

    volume.update(&pki, "rotated");
    wait_for_reloads(&terminator, "success", 1.0);
    assert_eq!(presented(&pki, terminator.addr()), "rotated");

    // `..data` now points to a directory that did not exist at start: the next update is seen too.
    volume.update(&pki, "server");
    wait_for_reloads(&terminator, "success", 2.0);
    assert_eq!(presented(&pki, terminator.addr()), "server");
    assert_serves(&pki, terminator.addr());
}

#[test]
fn sighup_reloads_a_change_no_watch_can_see_and_the_ambassador_keeps_serving() {
    let test = "sighup_reloads_a_change_no_watch_can_see_and_the_ambassador_keeps_serving";
    if !pidns::available(test) {
        return;
    }
    let pki = Pki::generate();
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&files, &backend.address))
        .as_pid1()
        .start();
    let pid1 = terminator.pid();

    // In the ambassador's own mount namespace, `rotated` is bind-mounted over tls.crt and
    // tls.key: the files it opens by those names change, and no inotify event says so. Only a
    // reload that SIGHUP starts can put `rotated` in use.
    for (file, over) in [("rotated.crt", files.cert()), ("rotated.key", files.key())] {
        let done = run(command("nsenter")
            .args(["--target", &pid1.to_string(), "--mount", "--"])
            .args(["mount", "--bind", &pki.file(file), &over]));
        assert!(done.succeeded(), "bind-mount {file} over {over}: {done:#?}");
    }
    assert_eq!(presented(&pki, terminator.addr()), "server");
    assert_eq!(terminator.reloads("success"), 0.0);

    reloaded_by_sighup(&terminator);
    wait_for_reloads(&terminator, "success", 1.0);
    assert_eq!(presented(&pki, terminator.addr()), "rotated");
    assert_serves(&pki, terminator.addr());
}

#[test]
fn a_change_made_as_soon_as_the_ambassador_listens_is_not_lost() {
    let pki = Pki::generate();
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&files, &backend.address)).start();
    // A kubelet update may land at any moment, the first milliseconds included: the files
    // changed after they were first read, so the ambassador must take the new ones.
    files.install_pair(&pki, "rotated");
    wait_for_reloads(&terminator, "success", 1.0);
    assert_eq!(presented(&pki, terminator.addr()), "rotated");
}

#[test]
fn sighup_as_soon_as_the_ambassador_listens_reloads_and_does_not_stop_it() {
    let test = "sighup_as_soon_as_the_ambassador_listens_reloads_and_does_not_stop_it";
    if !pidns::available(test) {
        return;
    }
    let pki = Pki::generate();
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&files, &backend.address))
        .as_pid1()
        .start();
    reloaded_by_sighup(&terminator);
    assert_serves(&pki, terminator.addr());
}

/// Sends SIGHUP to the ambassador, PID 1 of its namespace, and waits for the reload it starts;
/// fails at once, with the log, if the signal ends the ambassador instead (its log ends).
fn reloaded_by_sighup(terminator: &Daemon) {
    terminator.signal(libc::SIGHUP);
    let reloaded = terminator.wait_for_log("TLS material reloaded");
    assert!(reloaded.contains("trigger=SIGHUP"), "{reloaded}");
}

// ---------------------------------------------------------------------------------------------
// A bad new file.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_garbage_certificate_is_refused_logged_and_counted_and_the_old_one_stays_in_use() {
    let pki = Pki::generate();
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&files, &backend.address)).start();
    assert_eq!(presented(&pki, terminator.addr()), "server");
    files.overwrite("tls.crt", "this is not a certificate\n");
    refused_then_recovered(&pki, &files, &terminator, &files.cert());
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_and_the_old_pair_stays_in_use() {
    let pki = Pki::generate();
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&files, &backend.address)).start();
    assert_eq!(presented(&pki, terminator.addr()), "server");
    files.overwrite("tls.key", &read(&pki.file("client.key")));
    refused_then_recovered(&pki, &files, &terminator, &files.key());
}

/// After a bad file: one failed reload, logged with the file's path; the old certificate still
/// presented and admitting requests; then a good pair is taken as usual.
fn refused_then_recovered(pki: &Pki, files: &TlsDir, terminator: &Daemon, bad: &str) {
    wait_for_reloads(terminator, "failure", 1.0);
    let refused = terminator.wait_for_log("TLS reload refused");
    assert!(refused.contains(bad), "the error names {bad}: {refused}");
    assert_eq!(terminator.reloads("success"), 0.0);
    assert_eq!(presented(pki, terminator.addr()), "server");
    assert_serves(pki, terminator.addr());

    files.install_pair(pki, "rotated");
    wait_for_reloads(terminator, "success", 1.0);
    assert_eq!(presented(pki, terminator.addr()), "rotated");
    assert_eq!(terminator.reloads("failure"), 1.0);
}

#[test]
fn a_rotated_certificate_not_yet_valid_is_retried_at_each_resync_until_it_loads() {
    let pki = Pki::generate();
    // The issuer's clock a few seconds ahead of this one.
    pki.issue_server("future", SystemTime::now() + Duration::from_secs(3));
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let mut args = terminator_args(&files, &backend.address);
    args.extend(["--resync", "1s"].map(String::from));
    let terminator = metered(&args).start();
    assert_eq!(presented(&pki, terminator.addr()), "server");

    files.install_pair(&pki, "future");
    terminator.wait_for_count(&reloads_series("failure"), 1.0);
    let refused = terminator.wait_for_log("TLS reload refused");
    assert!(refused.contains("not yet valid"), "{refused}");
    // Until it loads, every handshake gets the old certificate; then the new one, with no
    // change on disk to trigger it.
    wait::until(
        "the not-yet-valid certificate to be served",
        || match presented(&pki, terminator.addr()) {
            "future" => Some(()),
            served => {
                assert_eq!(served, "server", "only the old certificate until then");
                None
            }
        },
    );
    let loaded = terminator.wait_for_log("TLS material reloaded");
    assert!(loaded.contains("trigger=retry"), "{loaded}");
    assert_serves(&pki, terminator.addr());
}

// ---------------------------------------------------------------------------------------------
// Under traffic.
// ---------------------------------------------------------------------------------------------

/// Requests in a loop on a few threads, each a new curl process (a new TCP connection and a full
/// handshake), until stopped; every outcome is kept: curl's output, or why it failed.
struct Traffic {
    /// How many requests have started: the number of the next one.
    started: Arc<AtomicUsize>,
    /// Each ended request: its number, and its outcome.
    ended: Arc<Mutex<Vec<(usize, Outcome)>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

type Outcome = Result<String, String>;

impl Traffic {
    fn start(threads: usize, request: impl Fn() -> Outcome + Send + Sync + 'static) -> Traffic {
        let started = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let request = Arc::new(request);
        let threads = (0..threads)
            .map(|_| {
                let (started, ended) = (started.clone(), ended.clone());
                let (stop, request) = (stop.clone(), request.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let number = started.fetch_add(1, Ordering::SeqCst);
                        let outcome = request();
                        ended.lock().unwrap().push((number, outcome));
                    }
                })
            })
            .collect();
        Traffic {
            started,
            ended,
            stop,
            threads,
        }
    }

    /// Waits until a request started after this call satisfies `wanted`. One started before
    /// (on another thread, still in its handshake) may show an older state, and does not count.
    /// A failed request ends the wait at once, with its error.
    fn wait_for(&self, what: &str, wanted: impl Fn(&Outcome) -> bool) {
        let mark = self.started.load(Ordering::SeqCst);
        wait::until(what, || {
            let ended = self.ended.lock().unwrap();
            if let Some((number, Err(error))) = ended.iter().find(|(_, o)| o.is_err()) {
                let failure = format!("request {number} of {} failed: {error}", ended.len());
                drop(ended);
                panic!("{failure} (waiting for {what})");
            }
            ended
                .iter()
                .any(|(number, outcome)| *number >= mark && wanted(outcome))
                .then_some(())
        });
    }

    /// Stops the loop and returns every outcome.
    fn finish(mut self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            thread.join().expect("a request thread");
        }
        let ended = std::mem::take(&mut *self.ended.lock().unwrap());
        ended.into_iter().map(|(_, outcome)| outcome).collect()
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn rotating_certificates_and_ca_bundle_under_traffic_fails_no_request() {
    const ROTATIONS: usize = 5;
    const MIN_REQUESTS: usize = 20;
    let pki = Arc::new(Pki::generate());
    let files = TlsDir::new(&pki, "server");
    let backend = HttpServer::local();
    let terminator = metered(&terminator_args(&files, &backend.address)).start();
    let addr = terminator.addr();
    let traffic = {
        let pki = pki.clone();
        Traffic::start(2, move || https_request(&pki, addr))
    };
    let served = |leaf: &'static str| {
        let pki = pki.clone();
        move |outcome: &Outcome| {
            outcome
                .as_ref()
                .is_ok_and(|out| pki.identify(out) == Some(leaf))
        }
    };
    traffic.wait_for("a first request answered", served("server"));

    for rotation in 1..=ROTATIONS {
        // Both leaves come from `ca`; the client CA bundle gains and loses a second CA, and
        // `client`'s issuer is in it all along.
        let (leaf, cas) = match rotation % 2 {
            1 => ("rotated", &["other-ca", "ca"][..]),
            _ => ("server", &["ca"][..]),
        };
        files.install(&pki, leaf, &pki.bundle(cas));
        traffic.wait_for(
            &format!("rotation {rotation} to {leaf} to be served"),
            served(leaf),
        );
    }
    for _ in 0..10 {
        traffic.wait_for("one more request after the last rotation", |_| true);
    }
    let outcomes = traffic.finish();

    let failures: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:#?}",
        failures.len(),
        outcomes.len()
    );
    assert!(
        outcomes.len() >= MIN_REQUESTS,
        "only {} requests",
        outcomes.len()
    );
    for outcome in outcomes.iter().flatten() {
        assert!(
            outcome.starts_with(OK_BODY),
            "a request's answer: {outcome}"
        );
    }
    for leaf in ["server", "rotated"] {
        let count = outcomes.iter().filter(|o| served(leaf)(o)).count();
        assert!(
            count > 0,
            "{leaf} was never served in {} requests",
            outcomes.len()
        );
    }
    let reloads = terminator.reloads("success");
    assert!(
        reloads >= ROTATIONS as f64,
        "{reloads} reloads for {ROTATIONS} rotations"
    );
}

// ---------------------------------------------------------------------------------------------
// Client mode.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_rotated_client_certificate_is_presented_on_new_connections() {
    let pki = Pki::generate();
    let backend = HttpServer::local();
    let (cert, key) = pki.tls.pair("server");
    let ca = pki.file("ca.crt");
    let terminator = metered(&server_args(
        &cert,
        &key,
        &backend.address,
        &["--cacert", &ca, "--allow-cn", "other"],
    ))
    .start();
    let files = TlsDir::new(&pki, "client");
    let ambassador = metered(&client_args(
        &terminator.addr().to_string(),
        &files.ca(),
        &["--cert", &files.cert(), "--key", &files.key()],
    ))
    .start();
    let url = format!("http://{}/status/200", ambassador.addr());

    let before = curl(&[&url]);
    assert!(before.is_err(), "`client` was admitted: {before:?}");
    terminator.wait_for_log("reason=not_allowed");
    assert_eq!(terminator.refused("not_allowed"), 1.0);

    files.install_pair(&pki, "other");
    wait_for_reloads(&ambassador, "success", 1.0);
    let after = curl(&[&url]);
    assert!(
        after.as_ref().is_ok_and(|body| body.starts_with(OK_BODY)),
        "{after:?}"
    );
    assert_eq!(terminator.refused("not_allowed"), 1.0);
}

// ---------------------------------------------------------------------------------------------
// The image, with a mounted volume.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_image_reloads_when_its_mounted_secret_volume_is_updated() {
    let test = "the_image_reloads_when_its_mounted_secret_volume_is_updated";
    if !docker::available(test, IMAGE) {
        return;
    }
    let pki = Pki::generate();
    let mut volume = SecretVolume::new(&pki, "server");
    let backend = HttpServer::local();
    let mount = format!("{}:/tls:ro", volume.dir());
    // On the host's network, so that it reaches the backend and the test reaches it.
    let mut args = vec!["--network", "host", "-v", &mount, IMAGE];
    let command = terminator_args(&MountedVolume, &backend.address);
    args.extend(command.iter().map(String::as_str));
    args.extend(["--listen", "127.0.0.1:0"]);
    let container = Container::run("ambassador-reload", &args);
    let addr = listening_in(&container);
    assert_eq!(presented(&pki, addr), "server");

    volume.update(&pki, "rotated");
    wait::until("the container to present the rotated certificate", || {
        (presented(&pki, addr) == "rotated").then_some(())
    });
    assert!(
        container.logs().contains("TLS material reloaded"),
        "{}",
        container.logs()
    );
    assert_serves(&pki, addr);
}

/// The address the ambassador in `container` listens on (host network), from its log.
fn listening_in(container: &Container) -> SocketAddr {
    wait::until("the container to listen", || {
        let logs = container.logs();
        if docker_ok(&["inspect", "-f", "{{.State.Running}}", &container.name]) != "true" {
            panic!("the container stopped:\n{logs}");
        }
        logs.lines()
            .filter(|line| line.contains("listening"))
            .flat_map(str::split_whitespace)
            .find_map(|field| field.strip_prefix("listen=")?.parse().ok())
    })
}
