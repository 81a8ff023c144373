//! The examples' YAML is what it claims to be: every file under examples/ parses, every
//! Kubernetes document names its apiVersion, kind and name, every Compose file has services with
//! images, and every podkit-git container is set up so that it can work: non-root with a
//! read-only root filesystem and no capabilities, its --root on a volume it may write, its pod's
//! fsGroup 65532. No cluster and no Docker: the manifests are never applied here.

use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_yaml::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Every `.yaml` and `.yml` file under `dir`, in a stable order.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("an examples directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The documents of a YAML file, blank ones (a leading `---`) left out.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("a readable file");
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))
        .and_then(Value::as_str)
}

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

/// The pod spec of a Pod, or of a workload's pod template.
fn pod_spec(doc: &Value) -> Option<&Value> {
    match str_at(doc, &["kind"])? {
        "Pod" => doc.get("spec"),
        _ => doc.get("spec")?.get("template")?.get("spec"),
    }
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .filter_map(|key| pod.get(key).and_then(Value::as_sequence))
        .flatten()
}

#[test]
fn every_podkit_git_container_runs_unprivileged_and_writes_only_its_volume() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in yaml_files(&examples().join("k8s")) {
        let shown = file
            .strip_prefix(examples())
            .unwrap_or(&file)
            .display()
            .to_string();
        for doc in documents(&file) {
            let Some(pod) = pod_spec(&doc) else { continue };
            for container in containers(pod) {
                let image = str_at(container, &["image"]).unwrap_or("");
                if !image.starts_with("podkit/git:") {
                    continue;
                }
                checked += 1;
                let name = str_at(container, &["name"]).unwrap_or("?");
                let mut fail = |what: &str| problems.push(format!("{shown}, {name}: {what}"));
                let security = container.get("securityContext").unwrap_or(&Value::Null);
                let is = |key: &str, want: Value| security.get(key) == Some(&want);
                if !is("runAsNonRoot", Value::Bool(true)) {
                    fail("runAsNonRoot is not true");
                }
                if !is("runAsUser", Value::from(65532)) {
                    fail("runAsUser is not 65532, the image's user");
                }
                if !is("readOnlyRootFilesystem", Value::Bool(true)) {
                    fail("readOnlyRootFilesystem is not true");
                }
                if !is("allowPrivilegeEscalation", Value::Bool(false)) {
                    fail("allowPrivilegeEscalation is not false");
                }
                let drops_all = security
                    .get("capabilities")
                    .and_then(|c| c.get("drop"))
                    .and_then(Value::as_sequence)
                    .is_some_and(|drop| drop.contains(&Value::from("ALL")));
                if !drops_all {
                    fail("capabilities.drop is not [ALL]");
                }
                if pod.get("securityContext").and_then(|s| s.get("fsGroup"))
                    != Some(&Value::from(65532))
                {
                    fail("the pod's fsGroup is not 65532");
                }
                // --root on a volume mounted read-write in this container: the only place it
                // writes, with the root filesystem read-only.
                let args: Vec<&str> = container
                    .get("args")
                    .and_then(Value::as_sequence)
                    .map(|args| args.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let Some(root) = args.iter().find_map(|a| a.strip_prefix("--root=")) else {
                    fail("no --root=DIR in args");
                    continue;
                };
                let writable = container
                    .get("volumeMounts")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .any(|mount| {
                        str_at(mount, &["mountPath"]) == Some(root)
                            && mount.get("readOnly") != Some(&Value::Bool(true))
                    });
                if !writable {
                    fail(&format!("--root={root} is not a read-write volumeMount"));
                }
                // A native sidecar holds the app back until the first publish; an init
                // container publishes once and exits.
                let native_sidecar = str_at(container, &["restartPolicy"]) == Some("Always");
                let in_init = pod
                    .get("initContainers")
                    .and_then(Value::as_sequence)
                    .is_some_and(|list| list.contains(container));
                if native_sidecar && container.get("startupProbe").is_none() {
                    fail("a native sidecar without a startupProbe on /readyz");
                }
                if in_init && !native_sidecar && !args.contains(&"--one-time") {
                    fail("an init container without --one-time never ends");
                }
            }
        }
    }
    assert!(checked >= 4, "only {checked} podkit-git containers found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
