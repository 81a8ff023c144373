//! The images a played manifest runs, all local, none pulled: podkit's own, loaded from the
//! Docker engine (`make images` builds them), and stand-ins for the images of others that the
//! examples name, built into the engine from Debian's packages and podkit's binaries.
//!
//! | a manifest's image | played as |
//! |---|---|
//! | `podkit/<tool>:<tag>` | `localhost/podkit/<tool>:latest`, `docker save podkit/<tool>:latest` loaded |
//! | `nginxinc/nginx-unprivileged:<tag>` | Debian's nginx laid out as that image: user 101, listens where `conf.d/*.conf` say, pid file and temporary files in /tmp |
//! | `prom/prometheus:<tag>` | Debian's prometheus as `/bin/prometheus`, user nobody (65534), as that image |
//! | `curlimages/curl:<tag>` | Debian's curl, with dash as `/bin/sh` and coreutils' `sleep`: what the manifests' shell loops around curl call |
//! | `python:<tag>` | Debian's python3 (`/usr/bin/python3`) with its standard library, tests and caches left out: the manifests' scripts use nothing else |
//! | anything else (`my-app:1.0`: the user's app) | the test helper as `/app/server`, under podkit-init, beside podkit-probe: what `Dockerfile.app-example` builds; the test gives its arguments ([`Overlay::app`](super::Overlay::app)) |
//!
//! Each stand-in is `FROM scratch` with the program, the shared libraries `ldd` names, and the
//! few files the program reads; the tag stays out of the mapping, as only one version is here.

use std::path::Path;

use crate::run::{command, run};
use crate::{bins, docker, wait};

use super::Podman;

/// The pods' infra image: podkit-init in pause mode (see [`Podman::new`]).
pub(super) const PAUSE: &str = "localhost/podkit/pause:latest";

const NGINX: &str = "localhost/podkit-test/nginx-unprivileged:latest";
const PROMETHEUS: &str = "localhost/podkit-test/prometheus:latest";
const APP: &str = "localhost/podkit-test/app:latest";
const CURL: &str = "localhost/podkit-test/curl:latest";
const PYTHON: &str = "localhost/podkit-test/python:latest";

/// The PATH of the curl and python stand-ins, as their images set it.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What an image a manifest names is played as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StandIn<'a> {
    /// podkit's image of this tool (`git`, `init`...).
    Podkit(&'a str),
    Nginx,
    Prometheus,
    Curl,
    Python,
    /// The user's own app.
    App,
}

impl StandIn<'_> {
    /// What `image` (as a manifest names it) is played as.
    pub(super) fn of(image: &str) -> StandIn<'_> {
        let name = image.split([':', '@']).next().unwrap_or(image);
        let name = name.strip_prefix("docker.io/").unwrap_or(name);
        match name {
            "nginxinc/nginx-unprivileged" => StandIn::Nginx,
            "prom/prometheus" => StandIn::Prometheus,
            "curlimages/curl" => StandIn::Curl,
            "python" => StandIn::Python,
            _ => match name.strip_prefix("podkit/") {
                Some(tool) => StandIn::Podkit(tool),
                None => StandIn::App,
            },
        }
    }
}

impl Podman {
    /// The local name of the image `stand_in` stands for, loaded or built into this engine on
    /// first use.
    pub(super) fn stand_in(&self, stand_in: StandIn<'_>) -> String {
        match stand_in {
            StandIn::Podkit(tool) => self.image(&format!("podkit/{tool}:latest")),
            StandIn::Nginx => self.built(NGINX, nginx),
            StandIn::Prometheus => self.built(PROMETHEUS, prometheus),
            StandIn::Curl => self.built(CURL, curl),
            StandIn::Python => self.built(PYTHON, python),
            StandIn::App => self.built(APP, app),
        }
    }

    /// Loads `docker_name` (`podkit/git:latest`) from the Docker engine, once, and returns its
    /// local name (`localhost/podkit/git:latest`).
    pub(super) fn image(&self, docker_name: &str) -> String {
        let local = format!("localhost/{docker_name}");
        if self.images.borrow().contains(&local) {
            return local;
        }
        let tar = self.dir("image").join("image.tar");
        let tar = tar.display().to_string();
        // `make images` may be retagging the image at this moment (CI builds while tests
        // run): a save that finds no such image is tried again, within the hang guard.
        let saved = wait::within_guard(|| {
            let done = docker::docker(&["save", "--output", &tar, docker_name]);
            if done.succeeded() {
                return Some(());
            }
            let built = docker::docker(&["image", "inspect", docker_name]).succeeded();
            assert!(
                built,
                "image {docker_name} is missing: run `make images` first"
            );
            None
        });
        assert!(saved.is_some(), "docker save {docker_name} kept failing");
        self.ok(&["load", "--quiet", "--input", &tar]);
        let _ = std::fs::remove_file(&tar);
        self.images.borrow_mut().insert(local.clone());
        local
    }

    /// Builds `name` from the build context `fill` makes, once.
    fn built(&self, name: &str, fill: fn(&Path)) -> String {
        if self.images.borrow().contains(name) {
            return name.to_owned();
        }
        let context = self.dir("build");
        fill(&context);
        self.ok(&[
            "build",
            "--quiet",
            "--pull=never",
            "--tag",
            name,
            &context.display().to_string(),
        ]);
        let _ = std::fs::remove_dir_all(&context);
        self.images.borrow_mut().insert(name.to_owned());
        name.to_owned()
    }
}

/// nginxinc/nginx-unprivileged's layout around Debian's nginx.
fn nginx(context: &Path) {
    let root = context.join("rootfs");
    with_libraries(&root, "/usr/sbin/nginx", "/usr/sbin/nginx");
    copy(&root, "/etc/nginx/mime.types", "/etc/nginx/mime.types");
    text(&root, "/etc/nginx/nginx.conf", NGINX_CONF);
    text(&root, "/etc/nginx/conf.d/default.conf", NGINX_DEFAULT);
    users(&root, &[("nginx", 101)]);
    world_writable(&root, "/tmp");
    containerfile(
        context,
        "USER 101:101\nENTRYPOINT [\"/usr/sbin/nginx\", \"-g\", \"daemon off;\"]\n",
    );
}

/// The image's nginx.conf, as nginx-unprivileged's: everything an unprivileged master writes
/// is in /tmp, and the server blocks are conf.d's (which the manifests mount). Debian's build
/// already logs errors to stderr; the access log goes to stdout, as the image's symlinks do.
const NGINX_CONF: &str = "\
worker_processes 1;
pid /tmp/nginx.pid;
events { worker_connections 1024; }
http {
    client_body_temp_path /tmp/client_temp;
    proxy_temp_path /tmp/proxy_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    include /etc/nginx/conf.d/*.conf;
}
";

/// The image's own server block, replaced by the manifests' ConfigMaps.
const NGINX_DEFAULT: &str = "server {\n    listen 8080;\n    return 200 \"stand-in\\n\";\n}\n";

/// prom/prometheus's layout around Debian's prometheus.
fn prometheus(context: &Path) {
    let root = context.join("rootfs");
    with_libraries(&root, "/usr/bin/prometheus", "/bin/prometheus");
    text(
        &root,
        "/etc/prometheus/prometheus.yml",
        "scrape_configs: []\n",
    );
    users(&root, &[("nobody", 65534)]);
    world_writable(&root, "/prometheus");
    containerfile(
        context,
        "USER 65534:65534\nWORKDIR /prometheus\nENTRYPOINT [\"/bin/prometheus\"]\n\
         CMD [\"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/prometheus\"]\n",
    );
}

/// curlimages/curl's programs for a manifest's `sh -c` loop: curl, a POSIX shell and `sleep`.
fn curl(context: &Path) {
    let root = context.join("rootfs");
    with_libraries(&root, "/usr/bin/curl", "/usr/bin/curl");
    with_libraries(&root, "/usr/bin/dash", "/bin/sh");
    with_libraries(&root, "/usr/bin/sleep", "/bin/sleep");
    users(&root, &[("curl_user", 100)]);
    containerfile(
        context,
        &format!("ENV PATH={PATH}\nUSER 100:100\nENTRYPOINT [\"/usr/bin/curl\"]\n"),
    );
}

/// The python image's interpreter: Debian's, at the path its standard library is found from.
fn python(context: &Path) {
    let root = context.join("rootfs");
    let version = "python3.11";
    let program = format!("/usr/bin/{version}");
    with_libraries(&root, &program, &program);
    copy(&root, &program, "/usr/bin/python3");
    let library = format!("/usr/lib/{version}");
    copy_tree(
        Path::new(&library),
        &place(&root, &library),
        &PYTHON_LEFT_OUT,
    );
    containerfile(context, &format!("ENV PATH={PATH}\nCMD [\"python3\"]\n"));
}

/// What of the standard library the stand-in leaves out: tests, caches and the packages of the
/// host's own Python programs.
const PYTHON_LEFT_OUT: [&str; 5] = [
    "test",
    "__pycache__",
    "dist-packages",
    "site-packages",
    "idlelib",
];

/// The directory `from` copied to `to`, files by content, symlinks followed, entries named in
/// `left_out` skipped at every depth.
fn copy_tree(from: &Path, to: &Path, left_out: &[&str]) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        if left_out.iter().any(|skip| name == *skip) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if source.is_dir() {
            copy_tree(&source, &target, left_out);
        } else if source.exists() {
            std::fs::copy(&source, &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        }
    }
}

/// The user's app: the test helper as `/app/server` under podkit-init, with podkit-probe for
/// exec probes, as examples' Dockerfile.app-example put them.
fn app(context: &Path) {
    let root = context.join("rootfs");
    for (tool, at) in [
        ("init", "/podkit-init"),
        ("probe", "/podkit-probe"),
        ("testhelper", "/app/server"),
    ] {
        copy(&root, &bins::path(tool).display().to_string(), at);
    }
    containerfile(
        context,
        "USER 65532:65532\nENTRYPOINT [\"/podkit-init\", \"--\"]\n\
         CMD [\"/app/server\", \"serve-http\", \"0.0.0.0:8080\"]\n",
    );
}

/// `FROM scratch`, the context's `rootfs/` as `/`, then `rest`.
fn containerfile(context: &Path, rest: &str) {
    let text = format!("FROM scratch\nCOPY rootfs/ /\n{rest}");
    std::fs::write(context.join("Containerfile"), text).expect("write the Containerfile");
}

/// `program` at `at` in `root`, with every shared library `ldd` says it loads at its own path.
fn with_libraries(root: &Path, program: &str, at: &str) {
    assert!(
        Path::new(program).exists(),
        "{program} is missing: install Debian's package (.ci/run lists it)"
    );
    copy(root, program, at);
    let ldd = run(command("ldd").arg(program));
    for library in ldd.stdout_of_success().split_whitespace() {
        if library.starts_with('/') {
            copy(root, library, library);
        }
    }
}

/// The host's `from` (its content, through symlinks) at `at` in `root`.
fn copy(root: &Path, from: &str, at: &str) {
    let to = place(root, at);
    std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {from} to {}: {e}", to.display()));
}

/// `content` at `at` in `root`.
fn text(root: &Path, at: &str, content: &str) {
    let to = place(root, at);
    std::fs::write(&to, content).unwrap_or_else(|e| panic!("write {}: {e}", to.display()));
}

/// /etc/passwd and /etc/group naming root and `users` (each with a group of its own id).
fn users(root: &Path, users: &[(&str, u32)]) {
    let (mut passwd, mut group) = (
        "root:x:0:0::/:/sbin/nologin\n".to_owned(),
        "root:x:0:\n".to_owned(),
    );
    for (name, id) in users {
        passwd.push_str(&format!("{name}:x:{id}:{id}::/nonexistent:/sbin/nologin\n"));
        group.push_str(&format!("{name}:x:{id}:\n"));
    }
    text(root, "/etc/passwd", &passwd);
    text(root, "/etc/group", &group);
}

/// A directory `at` in `root` that every user may write (mode 1777, as /tmp).
fn world_writable(root: &Path, at: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(at.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).expect("create a directory of the image");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777))
        .expect("make it world-writable");
}

/// The path of `at` in `root`, its parent directories made.
fn place(root: &Path, at: &str) -> std::path::PathBuf {
    let to = root.join(at.trim_start_matches('/'));
    let parent = to.parent().expect("a path in the image has a parent");
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    to
}
