//! The examples' YAML files read as their users read them: every `.yaml` and `.yml` file under
//! examples/, each document of it, and in a Kubernetes one the pod specs and their containers.
//! Shared by the tests that check the examples (examples_yaml.rs, k8s_manifests.rs).

use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_yaml::Value;

/// examples/ of the repository.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// examples/k8s: one directory per pattern.
pub fn kubernetes() -> PathBuf {
    examples().join("k8s")
}

/// `path` as shown in a failure: relative to examples/.
pub fn shown(path: &Path) -> String {
    path.strip_prefix(examples())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every `.yaml` and `.yml` file under `dir`, in a stable order.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
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

/// The documents of a YAML file, blank ones (a leading `---`) left out. A duplicate key fails
/// here, which the Kubernetes API server (and kubernetes-validate) would take silently.
pub fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("a readable file");
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|value| !value.is_null())
        .collect()
}

/// The string at `path` of keys under `value`.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))
        .and_then(Value::as_str)
}

/// The sequence at `key` of `value`, empty when there is none.
pub fn seq<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

/// The strings of the sequence at `key` of `value` (a container's `command` or `args`).
pub fn strings<'a>(value: &'a Value, key: &str) -> Vec<&'a str> {
    seq(value, key).iter().filter_map(Value::as_str).collect()
}

/// The pod spec of a Pod, or of a workload's pod template (Deployment, Job...).
pub fn pod_spec(doc: &Value) -> Option<&Value> {
    match str_at(doc, &["kind"])? {
        "Pod" => doc.get("spec"),
        _ => doc.get("spec")?.get("template")?.get("spec"),
    }
}

/// The init containers, then the containers, of a pod spec.
pub fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    seq(pod, "initContainers")
        .iter()
        .chain(seq(pod, "containers"))
}

/// Whether `container` of `pod` is a native sidecar: an init container with
/// `restartPolicy: Always` (Kubernetes 1.29 and later).
pub fn is_native_sidecar(pod: &Value, container: &Value) -> bool {
    str_at(container, &["restartPolicy"]) == Some("Always")
        && seq(pod, "initContainers").contains(container)
}
