//! What `make release` writes (target/dist/), checked as a user of it would: each archive read by
//! skopeo as one image index of linux/amd64 and linux/arm64 with the OCI labels, the README's one
//! push command run against a real registry (Debian's docker-registry) and the arm64 image pulled
//! from it by Docker and run under qemu; and each binary's SBOM holding every crate the binary
//! shows traces of, and none its tool does not build.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::PathBuf;

use podkit_tests::arm64;
use podkit_tests::bins::{self, TOOLS};
use podkit_tests::docker::{docker, docker_ok, DOCKER_GUARD};
use podkit_tests::run::{command, installed, run_with_guard, Finished, Process};
use podkit_tests::servers::{DeadPort, Scratch};
use podkit_tests::wait;

/// The images `make release` wrote: `PODKIT_RELEASE_IMAGES` (the Makefile's `RELEASE_IMAGES`:
/// one per tool and the toolbox of all six, podkit-init's and the toolbox's for `make test`), else
/// all seven.
fn released() -> Vec<String> {
    match std::env::var("PODKIT_RELEASE_IMAGES") {
        Ok(images) => images.split_whitespace().map(str::to_owned).collect(),
        Err(_) => TOOLS
            .iter()
            .chain(&["toolbox"])
            .map(|s| s.to_string())
            .collect(),
    }
}
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// target/dist, where `make release` writes.
fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/dist")
}

/// `target/dist/podkit-TOOL-VERSION.oci.tar`; panics with the fix when it is not there.
fn archive(tool: &str) -> String {
    let path = dist().join(format!("podkit-{tool}-{VERSION}.oci.tar"));
    assert!(
        path.exists(),
        "{} is missing: run `make release` first",
        path.display()
    );
    path.display().to_string()
}

/// `skopeo ARGS`, to its end.
fn skopeo(args: &[&str]) -> Finished {
    run_with_guard(command("skopeo").args(args), DOCKER_GUARD)
}

/// `skopeo ARGS`'s stdout as JSON; the run must succeed.
fn skopeo_json(args: &[&str]) -> serde_json::Value {
    let done = skopeo(args);
    assert!(done.succeeded(), "skopeo {args:?}: {done:?}");
    serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.stdout))
}

/// The platforms an image index lists, as `os/architecture`, sorted.
fn platforms(index: &serde_json::Value) -> Vec<String> {
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let mut found: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap()
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_release_archive_is_one_index_of_amd64_and_arm64_images_with_the_oci_labels() {
    let test = "every_release_archive_is_one_index_of_amd64_and_arm64_images_with_the_oci_labels";
    if !installed(test, "skopeo", &["--version"], "skopeo") {
        return;
    }
    for tool in released() {
        let tool = tool.as_str();
        let source = format!("oci-archive:{}:{VERSION}", archive(tool));
        let index = skopeo_json(&["inspect", "--raw", &source]);
        assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"], "{tool}");
        assert_eq!(
            index["annotations"]["org.opencontainers.image.version"], VERSION,
            "{index}"
        );
        for arch in ["amd64", "arm64"] {
            let image = skopeo_json(&["inspect", "--override-arch", arch, &source]);
            assert_eq!(image["Architecture"], arch, "{tool}: {image}");
            let labels = &image["Labels"];
            for key in ["source", "version", "revision", "licenses", "title"] {
                assert!(
                    labels[format!("org.opencontainers.image.{key}")].is_string(),
                    "{tool} {arch}: no label {key}: {labels}"
                );
            }
            assert_eq!(labels["org.opencontainers.image.version"], VERSION);
            assert_eq!(
                labels["org.opencontainers.image.title"],
                format!("podkit-{tool}")
            );
        }
    }
}

/// Debian's docker-registry (the CNCF distribution registry) on a loopback port, storing in a
/// scratch directory; killed when dropped.
struct Registry {
    _dir: Scratch,
    _process: Process,
    /// `127.0.0.1:PORT`.
    address: String,
}

impl Registry {
    fn start() -> Registry {
        let dir = Scratch::new("registry");
        let port = DeadPort::for_a_server();
        let config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {}\n",
            dir.file("storage"),
            port.address
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let process = Process::spawn(
            command("docker-registry")
                .args(["serve", &dir.file("config.yml")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        wait::until("the registry to listen", || {
            TcpStream::connect(&port.address).ok()
        });
        Registry {
            _dir: dir,
            _process: process,
            address: port.address.clone(),
        }
    }
}

/// An image pulled into the Docker engine by a test, removed when the test ends.
struct Pulled(String);

impl Drop for Pulled {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "--force", &self.0]);
    }
}

#[test]
fn the_one_push_command_puts_both_architectures_in_a_registry_and_docker_runs_the_arm64_one() {
    let test =
        "the_one_push_command_puts_both_architectures_in_a_registry_and_docker_runs_the_arm64_one";
    if !installed(test, "skopeo", &["--version"], "skopeo")
        || !installed(test, "docker-registry", &["--version"], "docker-registry")
        || !arm64::runs_here(test)
    {
        return;
    }
    let engine = docker(&["info"]).succeeded();
    if !engine {
        podkit_tests::skip(test, "no Docker engine answers (docker info failed)");
        return;
    }
    let registry = Registry::start();
    let name = format!(
        "{}/podkit-test-{}/init:{VERSION}",
        registry.address,
        std::process::id()
    );
    // The README's command, with a registry that speaks plain HTTP on loopback.
    let pushed = skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci-archive:{}", archive("init")),
        &format!("docker://{name}"),
    ]);
    assert!(pushed.succeeded(), "{pushed:?}");
    let index = skopeo_json(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]);
    assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);

    // Docker takes a loopback registry over plain HTTP, and picks the arm64 image of the index.
    let pulled = Pulled(name.clone());
    docker_ok(&["pull", "--quiet", "--platform", "linux/arm64", &pulled.0]);
    assert_eq!(
        docker_ok(&["image", "inspect", "-f", "{{.Architecture}}", &pulled.0]),
        "arm64"
    );
    let version = docker_ok(&[
        "run",
        "--rm",
        "--platform",
        "linux/arm64",
        &pulled.0,
        "--version",
    ]);
    assert_eq!(version, format!("podkit-init {VERSION}"));
}

/// The crates (`name@version`) whose sources left a path in `binary` (panic locations, file
/// names in messages): `.../index.crates.io-HASH/NAME-VERSION/...`.
fn traced_crates(binary: &[u8]) -> BTreeSet<String> {
    const MARK: &[u8] = b"/index.crates.io-";
    let mut found = BTreeSet::new();
    let mut at = 0;
    while let Some(offset) = binary[at..].windows(MARK.len()).position(|w| w == MARK) {
        let start = at + offset + MARK.len();
        at = start;
        let rest = &binary[start..binary.len().min(start + 200)];
        let mut parts = rest.split(|&b| b == b'/');
        let (Some(_hash), Some(dir)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(dir) = std::str::from_utf8(dir) else {
            continue;
        };
        // NAME-VERSION: the first `-` followed by MAJOR.MINOR.PATCH splits them.
        let split = dir.match_indices('-').map(|(i, _)| i).find(|&i| {
            let version: Vec<&str> = dir[i + 1..].splitn(3, '.').collect();
            version.len() == 3
                && version[..2].iter().all(|n| n.parse::<u64>().is_ok())
                && version[2].starts_with(|c: char| c.is_ascii_digit())
        });
        if let Some(i) = split {
            found.insert(format!("{}@{}", &dir[..i], &dir[i + 1..]));
        }
    }
    found
}

#[test]
fn each_binarys_sbom_lists_every_crate_it_holds_and_none_its_tool_does_not_build() {
    for tool in released() {
        let tool = tool.as_str();
        let binaries = match tool {
            "toolbox" => [bins::toolbox(), arm64::toolbox()],
            tool => [bins::path(tool), arm64::path(tool)],
        };
        for (arch, binary) in ["amd64", "arm64"].into_iter().zip(binaries) {
            let path = dist().join(format!("sbom/podkit-{tool}-{VERSION}-{arch}.cdx.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}: run `make release` first", path.display()));
            let sbom: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(sbom["bomFormat"], "CycloneDX");
            assert_eq!(
                sbom["metadata"]["component"]["name"],
                format!("podkit-{tool}")
            );
            let linked: BTreeSet<String> = sbom["components"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c.get("properties").is_none())
                .map(|c| {
                    format!(
                        "{}@{}",
                        c["name"].as_str().unwrap(),
                        c["version"].as_str().unwrap()
                    )
                })
                .collect();
            let traced = traced_crates(&std::fs::read(&binary).unwrap());
            assert!(!traced.is_empty(), "{}: no crate traced", binary.display());
            let missing: Vec<&String> = traced.difference(&linked).collect();
            assert!(
                missing.is_empty(),
                "{}: {missing:?} are in the binary but not in its SBOM",
                path.display()
            );
        }
    }
    // podkit-init is built alone, without what the other tools bring to the workspace.
    let init =
        std::fs::read_to_string(dist().join(format!("sbom/podkit-init-{VERSION}-arm64.cdx.json")))
            .unwrap();
    for absent in ["\"tokio\"", "\"rustls\"", "\"ring\"", "\"aws-lc-sys\""] {
        assert!(!init.contains(absent), "podkit-init's SBOM lists {absent}");
    }
}
