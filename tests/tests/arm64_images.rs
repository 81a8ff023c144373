//! The arm64 images (`make images` tags them `podkit/<tool>:latest-arm64`; `make test` builds
//! podkit/init's and podkit/toolbox's: [`arm64::images`]) as a user on an arm64 node gets them, run here by the Docker engine under qemu-user (binfmt_misc): what they hold,
//! their labels, and podkit-init and podkit-probe at work in them.

use podkit_tests::arm64;
use podkit_tests::bins::TOOLS;
use podkit_tests::docker::{self, docker, docker_ok, image};
use podkit_tests::servers::{HttpServer, Scratch};

/// The arm64 image of `tool`.
fn arm64_image(tool: &str) -> String {
    image(tool, "latest-arm64")
}

/// Whether the arm64 images can run here: a Docker engine with the image, and a binfmt_misc
/// handler for aarch64 (the engine's containers use the host kernel's).
fn available(test: &str, tool: &str) -> bool {
    docker::available(test, &arm64_image(tool)) && arm64::runs_here(test)
}

/// `docker image inspect -f FORMAT IMAGE`.
fn inspect(image: &str, format: &str) -> String {
    docker_ok(&["image", "inspect", "-f", format, image])
}

#[test]
fn every_arm64_image_holds_the_arm64_build_and_runs_under_qemu() {
    let test = "every_arm64_image_holds_the_arm64_build_and_runs_under_qemu";
    if !available(test, "init") {
        return;
    }
    let scratch = Scratch::new("arm64-images");
    for name in arm64::images() {
        let image = arm64_image(&name);
        assert_eq!(inspect(&image, "{{.Os}}/{{.Architecture}}"), "linux/arm64");
        assert_eq!(inspect(&image, "{{.Config.User}}"), "65532:65532");
        let (binary, build, program) = match name.as_str() {
            "toolbox" => ("podkit".to_owned(), arm64::toolbox(), "podkit".to_owned()),
            tool => (
                format!("podkit-{tool}"),
                arm64::path(tool),
                format!("podkit-{tool}"),
            ),
        };

        // The binary in the image is the arm64 build, byte for byte.
        let created = docker_ok(&["create", "--platform", "linux/arm64", &image]);
        let shipped = scratch.join(&binary);
        let copied = docker(&[
            "cp",
            &format!("{created}:/{binary}"),
            shipped.to_str().unwrap(),
        ]);
        docker_ok(&["rm", &created]);
        assert!(copied.succeeded(), "docker cp: {copied:?}");
        assert!(
            std::fs::read(&shipped).unwrap() == std::fs::read(&build).unwrap(),
            "{image} holds another build than {}",
            build.display()
        );

        let version = docker_ok(&[
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            &image,
            "--version",
        ]);
        assert_eq!(version, format!("{program} {}", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn every_image_of_both_architectures_carries_the_oci_labels() {
    let test = "every_image_of_both_architectures_carries_the_oci_labels";
    if !docker::available(test, &arm64_image("init")) {
        return;
    }
    let arm64 = arm64::images();
    for tool in TOOLS.iter().chain(&["toolbox"]) {
        let mut images = vec![image(tool, "latest")];
        if arm64.iter().any(|built| built == tool) {
            images.push(arm64_image(tool));
        }
        for image in images {
            let labels: serde_json::Value =
                serde_json::from_str(&inspect(&image, "{{json .Config.Labels}}")).unwrap();
            let label = |key: &str| {
                labels[format!("org.opencontainers.image.{key}")]
                    .as_str()
                    .unwrap_or_else(|| panic!("{image}: no label {key} in {labels}"))
                    .to_owned()
            };
            assert_eq!(label("version"), env!("CARGO_PKG_VERSION"), "{image}");
            assert_eq!(label("licenses"), "Apache-2.0", "{image}");
            assert!(label("source").starts_with("https://"), "{image}");
            let revision = label("revision");
            let sha = revision.strip_suffix("-dirty").unwrap_or(&revision);
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{image}: revision {revision:?} is not a git commit"
            );
            assert_eq!(label("title"), format!("podkit-{tool}"), "{image}");
        }
    }
}

#[test]
fn the_arm64_init_image_passes_docker_stops_sigterm_to_its_app_and_exits_143() {
    let test = "the_arm64_init_image_passes_docker_stops_sigterm_to_its_app_and_exits_143";
    if !available(test, "init") {
        return;
    }
    // podkit-init (arm64, under qemu) as the container's PID 1, the app the amd64 test helper.
    let image = arm64_image("init");
    docker::assert_docker_stop_reaches_the_app(
        "arm64-init",
        &["--platform", "linux/arm64", &image, "--"],
    );
}

#[test]
fn the_arm64_probe_image_tells_a_healthy_server_from_an_unhealthy_one() {
    let test = "the_arm64_probe_image_tells_a_healthy_server_from_an_unhealthy_one";
    // podkit/probe's own arm64 image when `make` built it, else podkit/toolbox's with its
    // /podkit-probe as the entrypoint, as a user of the toolbox runs it.
    let image = match arm64::images().iter().any(|built| built == "probe") {
        true => arm64_image("probe"),
        false => arm64_image("toolbox"),
    };
    if !docker::available(test, &image) || !arm64::runs_here(test) {
        return;
    }
    let server = HttpServer::local();
    for (status, code) in [(200, 0), (503, 1)] {
        let url = server.url(&format!("/status/{status}"));
        let done = docker(&[
            "run",
            "--rm",
            "--platform",
            "linux/arm64",
            "--network",
            "host",
            "--entrypoint",
            "/podkit-probe",
            &image,
            "http",
            &url,
        ]);
        assert_eq!(done.code, Some(code), "{image}: {url}: {done:?}");
    }
}
