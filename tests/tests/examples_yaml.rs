//! The examples' YAML is what it claims to be: every file under examples/ parses, every
//! Kubernetes document names its apiVersion, kind and name, every Compose file has services with
//! images; every container of every Kubernetes manifest runs hardened (non-root, read-only root
//! filesystem, no privilege escalation, no capabilities); every podkit-git container can work
//! (its --root on a volume it may write, its pod's fsGroup 65532); every podkit flag a manifest
//! passes is one the tool's `--help` shows; a resource two files of a pattern both hold is the
//! same in both; and the adapter's mapping and log rules map the example app's lines. No cluster
//! and no Docker: the manifests are never applied here (k8s_manifests.rs validates them against
//! Kubernetes' schemas).

use podkit_tests::bins;
use podkit_tests::manifests::{
    containers, documents, examples, is_native_sidecar, kubernetes, pod_spec, seq, shown, str_at,
    strings, yaml_files,
};
use podkit_tests::run::{command, run};
use podkit_tests::servers::Scratch;
use serde_yaml::Value;

#[test]
fn every_example_yaml_file_parses_and_says_what_it_is() {
    let files = yaml_files(&examples());
    assert!(files.len() >= 10, "too few YAML files found: {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(examples()).unwrap_or(file);
        let shown = relative.display();
        let docs = documents(file);
        if docs.is_empty() {
            problems.push(format!("{shown}: no document"));
        }
        // Under examples/k8s, not anywhere in the path: a checkout may itself live in a k8s/.
        let kubernetes = relative.starts_with("k8s");
        for (index, doc) in docs.iter().enumerate() {
            if kubernetes {
                for key in ["apiVersion", "kind"] {
                    if str_at(doc, &[key]).is_none() {
                        problems.push(format!("{shown}, document {index}: no {key}"));
                    }
                }
                if str_at(doc, &["metadata", "name"]).is_none() {
                    problems.push(format!("{shown}, document {index}: no metadata.name"));
                }
            } else if file.file_name().is_some_and(|n| n == "docker-compose.yml") {
                let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
                    problems.push(format!("{shown}: no services"));
                    continue;
                };
                for (name, service) in services {
                    if str_at(service, &["image"]).is_none() {
                        problems.push(format!("{shown}: service {name:?} has no image"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_resource_two_files_of_a_pattern_both_hold_is_the_same_in_both() {
    // A file that applies on its own repeats what it needs (a namespace, a ConfigMap) from its
    // neighbour; applying both must not have the second undo the first. Workloads are exempt:
    // the native and classic forms are the same Deployment, written two ways, applied one or
    // the other.
    let workloads = ["Pod", "Deployment", "StatefulSet", "DaemonSet"];
    let mut shared = 0;
    let mut problems = Vec::new();
    let mut directories: Vec<_> = yaml_files(&kubernetes())
        .iter()
        .filter_map(|file| file.parent().map(|dir| dir.to_path_buf()))
        .collect();
    directories.dedup();
    for dir in directories {
        let mut seen: Vec<(String, Value)> = Vec::new();
        for file in yaml_files(&dir) {
            for doc in documents(&file) {
                let kind = str_at(&doc, &["kind"]).unwrap_or("?");
                if workloads.contains(&kind) {
                    continue;
                }
                let key = format!(
                    "{kind} {}/{}",
                    str_at(&doc, &["metadata", "namespace"]).unwrap_or("default"),
                    str_at(&doc, &["metadata", "name"]).unwrap_or("?")
                );
                match seen.iter().find(|(k, _)| *k == key) {
                    Some((_, first)) if *first != doc => problems.push(format!(
                        "{}: {key} differs from its neighbour's",
                        shown(&file)
                    )),
                    Some(_) => shared += 1,
                    None => seen.push((key, doc)),
                }
            }
        }
    }
    assert!(shared >= 3, "only {shared} resources shared between files");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every container of every pod under examples/k8s, with the file and pod it is in.
fn every_container(mut each: impl FnMut(&str, &Value, &Value)) {
    for file in yaml_files(&kubernetes()) {
        let shown = shown(&file);
        for doc in documents(&file) {
            let Some(pod) = pod_spec(&doc) else { continue };
            for container in containers(pod) {
                each(&shown, pod, container);
            }
        }
    }
}

/// The security setting `key` of `container`, or else of its pod (where Kubernetes lets the
/// pod's `securityContext` give a default: the user and `runAsNonRoot`).
fn security<'a>(pod: &'a Value, container: &'a Value, key: &str) -> Option<&'a Value> {
    let own = container.get("securityContext").and_then(|s| s.get(key));
    let pod_wide = ["runAsNonRoot", "runAsUser", "runAsGroup"].contains(&key);
    own.or_else(|| {
        pod_wide
            .then(|| pod.get("securityContext").and_then(|s| s.get(key)))
            .flatten()
    })
}

#[test]
fn every_container_runs_non_root_read_only_without_privilege_or_capabilities() {
    let mut checked = 0;
    let mut problems = Vec::new();
    every_container(|shown, pod, container| {
        checked += 1;
        let name = str_at(container, &["name"]).unwrap_or("?");
        let mut fail = |what: &str| problems.push(format!("{shown}, {name}: {what}"));
        let is = |key: &str, want: Value| security(pod, container, key) == Some(&want);
        // runAsNonRoot, or a non-zero runAsUser, which the kubelet then runs as it says.
        let user = security(pod, container, "runAsUser").and_then(Value::as_u64);
        let non_root = is("runAsNonRoot", Value::Bool(true)) || user.is_some_and(|uid| uid != 0);
        if !non_root {
            fail("neither runAsNonRoot: true nor a non-zero runAsUser");
        }
        if !is("readOnlyRootFilesystem", Value::Bool(true)) {
            fail("readOnlyRootFilesystem is not true");
        }
        if !is("allowPrivilegeEscalation", Value::Bool(false)) {
            fail("allowPrivilegeEscalation is not false");
        }
        let capabilities = container
            .get("securityContext")
            .and_then(|s| s.get("capabilities"))
            .unwrap_or(&Value::Null);
        if !seq(capabilities, "drop").contains(&Value::from("ALL")) {
            fail("capabilities.drop is not [ALL]");
        }
        if !seq(capabilities, "add").is_empty() {
            fail("capabilities.add gives some back");
        }
    });
    assert!(checked >= 20, "only {checked} containers found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_podkit_git_container_writes_only_its_volume() {
    let mut checked = 0;
    let mut problems = Vec::new();
    every_container(|shown, pod, container| {
        let image = str_at(container, &["image"]).unwrap_or("");
        if !image.starts_with("podkit/git:") {
            return;
        }
        checked += 1;
        let name = str_at(container, &["name"]).unwrap_or("?");
        let mut fail = |what: &str| problems.push(format!("{shown}, {name}: {what}"));
        if security(pod, container, "runAsUser") != Some(&Value::from(65532)) {
            fail("runAsUser is not 65532, the image's user");
        }
        if pod.get("securityContext").and_then(|s| s.get("fsGroup")) != Some(&Value::from(65532)) {
            fail("the pod's fsGroup is not 65532");
        }
        // --root on a volume mounted read-write in this container: the only place it
        // writes, with the root filesystem read-only.
        let args = strings(container, "args");
        let Some(root) = args.iter().find_map(|a| a.strip_prefix("--root=")) else {
            fail("no --root=DIR in args");
            return;
        };
        let writable = seq(container, "volumeMounts").iter().any(|mount| {
            str_at(mount, &["mountPath"]) == Some(root)
                && mount.get("readOnly") != Some(&Value::Bool(true))
        });
        if !writable {
            fail(&format!("--root={root} is not a read-write volumeMount"));
        }
        // A native sidecar holds the app back until the first publish; an init
        // container publishes once and exits.
        let native_sidecar = is_native_sidecar(pod, container);
        let in_init = seq(pod, "initContainers").contains(container);
        if native_sidecar && container.get("startupProbe").is_none() {
            fail("a native sidecar without a startupProbe on /readyz");
        }
        if in_init && !native_sidecar && !args.contains(&"--one-time") {
            fail("an init container without --one-time never ends");
        }
    });
    assert!(checked >= 4, "only {checked} podkit-git containers found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A podkit command line a manifest runs: the tool, and its argument list.
struct Invocation<'a> {
    tool: String,
    args: Vec<&'a str>,
    place: String,
}

/// The podkit tool `argv` runs, when its first word is `/podkit-<tool>`.
fn invocation<'a>(argv: &[&'a str], place: String) -> Option<Invocation<'a>> {
    let tool = argv.first()?.strip_prefix("/podkit-")?.to_string();
    Some(Invocation {
        tool,
        args: argv[1..].to_vec(),
        place,
    })
}

/// Every podkit command line of `container`: its own (a `podkit/<tool>` image's ENTRYPOINT, or a
/// `command` that starts `/podkit-<tool>`), and those of its exec probes and hooks.
fn invocations<'a>(shown: &str, container: &'a Value) -> Vec<Invocation<'a>> {
    let name = str_at(container, &["name"]).unwrap_or("?");
    let mut found = Vec::new();
    let command = strings(container, "command");
    let args = strings(container, "args");
    let image = str_at(container, &["image"]).unwrap_or("");
    let place = format!("{shown}, {name}");
    if command.is_empty() {
        if let Some(tool) = image
            .strip_prefix("podkit/")
            .and_then(|rest| rest.split(':').next())
        {
            found.push(Invocation {
                tool: tool.to_string(),
                args,
                place,
            });
        }
    } else {
        let argv: Vec<&str> = command.iter().chain(&args).copied().collect();
        found.extend(invocation(&argv, place));
    }
    let probes = ["livenessProbe", "readinessProbe", "startupProbe"];
    let hooks = ["postStart", "preStop"].map(|hook| {
        container
            .get("lifecycle")
            .and_then(|l| l.get(hook))
            .unwrap_or(&Value::Null)
    });
    let handlers = probes
        .iter()
        .map(|probe| (*probe, container.get(*probe).unwrap_or(&Value::Null)))
        .chain(["postStart", "preStop"].into_iter().zip(hooks));
    for (what, handler) in handlers {
        let Some(exec) = handler.get("exec") else {
            continue;
        };
        found.extend(invocation(
            &strings(exec, "command"),
            format!("{shown}, {name}, {what}"),
        ));
    }
    found
}

/// The `--help` of `tool` (of its subcommand `args` names, for a tool that has subcommands).
fn help(tool: &str, args: &[&str]) -> String {
    let binary = bins::path(tool);
    let top = run(command(&binary).arg("--help"));
    let top = top.stdout_of_success().to_string();
    // Subcommands are listed under "Commands:" (`podkit-probe http`, `podkit-ambassador server`);
    // podkit-init has none, and its first word is a command to run: never ask for its help.
    let subcommands: Vec<&str> = top
        .split_once("Commands:\n")
        .map(|(_, rest)| rest.split("\n\n").next().unwrap_or(""))
        .unwrap_or("")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    match args.iter().find(|arg| !arg.starts_with('-')) {
        Some(sub) if subcommands.contains(sub) => run(command(&binary).args([sub, "--help"]))
            .stdout_of_success()
            .to_string(),
        _ => top,
    }
}

/// Whether `help` shows the flag `flag` (`--grace`, `-v`) as a word of its own.
fn shows_flag(help: &str, flag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
    help.match_indices(flag).any(|(at, _)| {
        let before = help[..at].chars().next_back();
        let after = help[at + flag.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[test]
fn every_podkit_flag_in_a_manifest_is_one_the_tool_shows_in_its_help() {
    let mut checked = 0;
    let mut problems = Vec::new();
    every_container(|shown, _pod, container| {
        for call in invocations(shown, container) {
            let help = help(&call.tool, &call.args);
            // Up to a bare `--`: what follows is the command podkit-init or `wait` runs.
            for arg in call.args.iter().take_while(|arg| **arg != "--") {
                if !arg.starts_with('-') {
                    continue;
                }
                let flag = arg.split_once('=').map_or(*arg, |(flag, _)| flag);
                checked += 1;
                if !shows_flag(&help, flag) {
                    problems.push(format!(
                        "{}: podkit-{} has no {flag} (its --help does not show it)",
                        call.place, call.tool
                    ));
                }
            }
        }
    });
    assert!(checked >= 60, "only {checked} podkit flags found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_adapters_mapping_and_log_rules_turn_the_apps_lines_into_its_series() {
    // The ConfigMap's files as podkit-metrics reads them in the pod, checked by the tool itself
    // on the very lines the example app sends and writes.
    let scratch = Scratch::new("adapter-config");
    let mut checked = 0;
    for file in yaml_files(&kubernetes().join("adapter")) {
        for doc in documents(&file) {
            if str_at(&doc, &["kind"]) != Some("ConfigMap") {
                continue;
            }
            checked += 1;
            for name in ["mapping.yml", "log-rules.yml"] {
                let text = str_at(&doc, &["data", name])
                    .unwrap_or_else(|| panic!("{}: no {name} in the ConfigMap", shown(&file)));
                std::fs::write(scratch.join(name), text).expect("write a scratch file");
            }
            let finished = run(command(bins::path("metrics")).args([
                "check",
                "--mapping",
                &scratch.file("mapping.yml"),
                "--log-rules",
                &scratch.file("log-rules.yml"),
                "--line",
                "shop.orders.card:1|c|#region:eu",
                "--line",
                "shop.checkout.duration:120|ms",
                "--line",
                "shop.debug.cache_miss:1|c",
                "--log-line",
                "POST /checkout 503 1.300",
            ]));
            let output = finished.stdout_of_success();
            for series in [
                r#"shop_orders_total{payment="card",region="eu"} counter += 1"#,
                "shop_checkout_seconds{} histogram observes 0.12",
                r#"shop_http_requests_total{code="5xx",method="POST"} counter += 1"#,
                "shop_http_request_seconds{} histogram observes 1.3",
            ] {
                assert!(
                    output.contains(series),
                    "{}: no `{series}` in\n{output}",
                    shown(&file)
                );
            }
        }
    }
    assert!(checked >= 2, "only {checked} adapter ConfigMaps found");
}
