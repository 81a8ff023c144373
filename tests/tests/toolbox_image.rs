//! The podkit/toolbox image, for amd64 (`latest`) and arm64 (`latest-arm64`, run under qemu): the
//! one binary and a link per tool, each tool reached both ways, and `podkit init` as the
//! container's PID 1 passing `docker stop` on to its app.

use podkit_tests::arm64;
use podkit_tests::bins::TOOLS;
use podkit_tests::docker::{self, docker, docker_ok, DOCKER_GUARD};
use podkit_tests::run::{command, run_with_guard};
use podkit_tests::servers::Scratch;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The toolbox image `make images` tagged for `arch`.
fn image(arch: &str) -> String {
    match arch {
        "amd64" => docker::image("toolbox", "latest"),
        _ => docker::image("toolbox", &format!("latest-{arch}")),
    }
}

/// The architectures whose image can run here: amd64 with a Docker engine, arm64 also with a
/// binfmt_misc handler.
fn runnable(test: &str) -> Vec<&'static str> {
    if !docker::available(test, &image("amd64")) || !docker::available(test, &image("arm64")) {
        return Vec::new();
    }
    match arm64::runs_here(test) {
        true => vec!["amd64", "arm64"],
        false => vec!["amd64"],
    }
}

#[test]
fn the_toolbox_image_holds_podkit_a_link_per_tool_and_the_files_they_need() {
    let test = "the_toolbox_image_holds_podkit_a_link_per_tool_and_the_files_they_need";
    if !docker::available(test, &image("amd64")) {
        return;
    }
    let scratch = Scratch::new("toolbox-image");
    for arch in ["amd64", "arm64"] {
        let image = image(arch);
        let created = docker_ok(&["create", "--platform", &format!("linux/{arch}"), &image]);
        let tarball = scratch.file(&format!("{arch}.tar"));
        let exported = docker(&["export", "--output", &tarball, &created]);
        docker_ok(&["rm", &created]);
        assert!(exported.succeeded(), "{exported:?}");
        let listing = run_with_guard(command("tar").args(["-tvf", &tarball]), DOCKER_GUARD);
        let listing = listing.stdout_of_success();
        for tool in TOOLS {
            assert!(
                listing.contains(&format!("podkit-{tool} -> podkit")),
                "{image}: no link podkit-{tool}:\n{listing}"
            );
        }
        for file in ["podkit", "etc/ssl/certs/ca-certificates.crt", "git/"] {
            assert!(
                listing
                    .lines()
                    .any(|line| line.ends_with(&format!(" {file}"))),
                "{image}: no {file}:\n{listing}"
            );
        }
        assert_eq!(
            docker_ok(&[
                "image",
                "inspect",
                "-f",
                "{{.Architecture}} {{.Config.User}}",
                &image
            ]),
            format!("{arch} 65532:65532")
        );
    }
}

#[test]
fn each_tool_of_the_toolbox_image_answers_as_podkit_tool_and_as_its_link() {
    let test = "each_tool_of_the_toolbox_image_answers_as_podkit_tool_and_as_its_link";
    for arch in runnable(test) {
        let (image, platform) = (image(arch), format!("linux/{arch}"));
        for tool in TOOLS {
            let expected = format!("podkit-{tool} {VERSION}");
            let by_name = docker_ok(&[
                "run",
                "--rm",
                "--platform",
                &platform,
                &image,
                tool,
                "--version",
            ]);
            assert_eq!(by_name, expected, "{image}: podkit {tool}");
            let entrypoint = format!("/podkit-{tool}");
            let by_link = docker_ok(&[
                "run",
                "--rm",
                "--platform",
                &platform,
                "--entrypoint",
                &entrypoint,
                &image,
                "--version",
            ]);
            assert_eq!(by_link, expected, "{image}: {entrypoint}");
        }
    }
}

#[test]
fn podkit_init_of_the_toolbox_image_passes_docker_stops_sigterm_to_its_app_and_exits_143() {
    let test =
        "podkit_init_of_the_toolbox_image_passes_docker_stops_sigterm_to_its_app_and_exits_143";
    for arch in runnable(test) {
        let (image, platform) = (image(arch), format!("linux/{arch}"));
        docker::assert_docker_stop_reaches_the_app(
            &format!("toolbox-init-{arch}"),
            &["--platform", &platform, &image, "init", "--"],
        );
    }
}
