//! Every Kubernetes manifest under examples/k8s is one the API server takes as written: each
//! document passes `kubernetes-validate --strict` (PyPI: the OpenAPI schemas of Kubernetes' own
//! kinds, bundled; strict refuses a field the schema does not have) against the oldest
//! Kubernetes version its file claims and against the newest one the validator knows.
//!
//! Each file claims its range on a line of its own, `# Kubernetes: 1.NN and later`, which its
//! README repeats. The schemas are not the whole story: a field may exist before its feature is
//! on (a container's `restartPolicy` is in 1.28's schema, behind a gate that is off), so a file
//! with a native sidecar must claim 1.29 or later, the release that turned them on.
//!
//! The kinds of custom resources have no bundled schema: kubernetes-validate prints a warning
//! and exits 0 for them. They are never left at that: [`WITHOUT_SCHEMA`] lists each kind the
//! examples use, the test requires the validator's warning for exactly those documents (any
//! other kind it cannot check fails), and checks them by hand instead against what they point
//! at in the same directory.

use std::collections::BTreeSet;
use std::path::Path;

use podkit_tests::manifests::{
    containers, documents, is_native_sidecar, kubernetes, pod_spec, seq, shown, str_at, yaml_files,
};
use podkit_tests::run::{command, try_run};
use serde_yaml::Value;

const VALIDATOR: &str = "kubernetes-validate";

/// The release that turned native sidecars (init containers with `restartPolicy: Always`) on.
const NATIVE_SIDECARS: u32 = 29;

/// Custom resources: (apiVersion, kind, how this test checks them instead of a schema).
const WITHOUT_SCHEMA: &[(&str, &str, &str)] = &[
    (
        "cert-manager.io/v1",
        "Certificate",
        "cert-manager's CRD: its secretName is a Secret volume of a pod in its directory and \
         namespace, and it names an issuer",
    ),
    (
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        "the Prometheus Operator's CRD: its selector matches a Service of its directory and \
         namespace, and each endpoint's port is a named port of that Service",
    ),
];

fn without_schema(doc: &Value) -> bool {
    let api = str_at(doc, &["apiVersion"]);
    let kind = str_at(doc, &["kind"]);
    WITHOUT_SCHEMA
        .iter()
        .any(|(a, k, _)| api == Some(a) && kind == Some(k))
}

/// The minor version of the file's `# Kubernetes: 1.NN and later` line.
fn claimed_minor(path: &Path) -> Result<u32, String> {
    let text = std::fs::read_to_string(path).expect("a readable manifest");
    let claims: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# Kubernetes: "))
        .collect();
    let [claim] = claims.as_slice() else {
        return Err(format!(
            "{} lines `# Kubernetes: 1.NN and later`, not one",
            claims.len()
        ));
    };
    let (version, rest) = claim.split_once(' ').unwrap_or((claim, ""));
    if !rest.starts_with("and later") {
        return Err(format!("`# Kubernetes: {claim}` does not say `and later`"));
    }
    version
        .strip_prefix("1.")
        .and_then(|minor| minor.parse().ok())
        .ok_or_else(|| format!("`# Kubernetes: {claim}`: {version} is not 1.NN"))
}

fn manifests() -> Vec<std::path::PathBuf> {
    let files = yaml_files(&kubernetes());
    assert!(files.len() >= 14, "too few manifests found: {files:?}");
    files
}

#[test]
fn every_manifest_claims_its_kubernetes_range_and_native_sidecars_claim_1_29() {
    let mut problems = Vec::new();
    for file in manifests() {
        let shown = shown(&file);
        let minor = match claimed_minor(&file) {
            Ok(minor) => minor,
            Err(e) => {
                problems.push(format!("{shown}: {e}"));
                continue;
            }
        };
        for doc in documents(&file) {
            let Some(pod) = pod_spec(&doc) else { continue };
            for container in containers(pod) {
                if is_native_sidecar(pod, container) && minor < NATIVE_SIDECARS {
                    let name = str_at(container, &["name"]).unwrap_or("?");
                    problems.push(format!(
                        "{shown}: {name} is a native sidecar, but the file claims 1.{minor}: \
                         they need 1.{NATIVE_SIDECARS}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One run of the validator on `file`, at `version` (`None`: its newest). Returns the problems
/// found and the version it says it checked against.
fn validate(file: &Path, docs: &[Value], version: Option<&str>) -> (Vec<String>, Option<String>) {
    let shown = shown(file);
    let mut validator = command(VALIDATOR);
    validator.arg("--strict");
    if let Some(version) = version {
        validator.args(["--kubernetes-version", version]);
    }
    let finished = try_run(validator.arg(file)).expect("kubernetes-validate runs");
    let output = format!("{}{}", finished.stdout, finished.stderr);
    let at = version.unwrap_or("its newest version");
    let mut problems = Vec::new();
    if !finished.succeeded() {
        problems.push(format!("{shown} at {at}: exit {:?}", finished.code));
    }
    for line in output
        .lines()
        .filter(|l| !l.starts_with("INFO ") && !l.contains("Couldn't find schema"))
    {
        problems.push(format!("{shown} at {at}: {line}"));
    }
    for doc in docs {
        let kind = str_at(doc, &["kind"]).unwrap_or("?");
        let api = str_at(doc, &["apiVersion"]).unwrap_or("?");
        let name = str_at(doc, &["metadata", "name"]).unwrap_or("?");
        // The validator's own words for a kind it has no schema of, and for a pass.
        let expected = if without_schema(doc) {
            format!("Couldn't find schema for kind {kind} with api version {api}")
        } else {
            format!("passed for resource {}/{name} against", kind.to_lowercase())
        };
        if !output.contains(&expected) {
            problems.push(format!(
                "{shown} at {at}: {kind} {name}: no `{expected}` in\n{output}"
            ));
        }
        if !without_schema(doc) && output.contains(&format!("kind {kind} with api version")) {
            problems.push(format!(
                "{shown}: {api} {kind} has no schema in kubernetes-validate; list it in \
                 WITHOUT_SCHEMA with how it is checked instead"
            ));
        }
    }
    let passed = output.matches("passed for resource").count();
    let core = docs.iter().filter(|doc| !without_schema(doc)).count();
    if passed != core {
        problems.push(format!(
            "{shown} at {at}: {passed} documents passed, not {core}"
        ));
    }
    let checked = output
        .split("against version ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c == ':' || c.is_whitespace()).next())
        .map(str::to_string);
    (problems, checked)
}

#[test]
fn every_manifest_validates_strictly_from_its_oldest_claimed_version_to_the_newest() {
    let test = "every_manifest_validates_strictly_from_its_oldest_claimed_version_to_the_newest";
    // A pyenv shim runs (and exits 127) when the package is not in the current Python.
    let version = try_run(command(VALIDATOR).arg("--version"));
    let Some(version) = version.ok().filter(|v| v.succeeded()) else {
        podkit_tests::skip(
            test,
            "kubernetes-validate is not installed (PyPI: python3 -m pip install kubernetes-validate)",
        );
        return;
    };
    eprintln!("kubernetes-validate {}", version.stdout.trim());
    let mut problems = Vec::new();
    let mut newest = BTreeSet::new();
    for file in manifests() {
        let Ok(minor) = claimed_minor(&file) else {
            // The claim test names the file.
            continue;
        };
        let docs = documents(&file);
        let oldest = format!("1.{minor}");
        let (found, _) = validate(&file, &docs, Some(&oldest));
        problems.extend(found);
        let (found, checked) = validate(&file, &docs, None);
        problems.extend(found);
        match &checked {
            Some(newest) => eprintln!(
                "{}: {} documents, validated at {oldest} and {newest}",
                shown(&file),
                docs.len()
            ),
            None => eprintln!(
                "{}: {} custom resources, no schema in kubernetes-validate: checked by \
                 every_custom_resource_points_at_what_its_directory_holds",
                shown(&file),
                docs.len()
            ),
        }
        newest.extend(checked);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(newest.len(), 1, "one newest version: {newest:?}");
}

/// Every document of the directory `dir`.
fn directory_documents(dir: &Path) -> Vec<Value> {
    yaml_files(dir)
        .iter()
        .filter(|file| file.parent() == Some(dir))
        .flat_map(|file| documents(file))
        .collect()
}

fn namespace(doc: &Value) -> &str {
    str_at(doc, &["metadata", "namespace"]).unwrap_or("default")
}

/// Whether `labels` holds every pair of `selector`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_mapping()
        .is_some_and(|pairs| pairs.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

#[test]
fn every_custom_resource_points_at_what_its_directory_holds() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in manifests() {
        let dir = file.parent().expect("a pattern directory");
        let neighbours = directory_documents(dir);
        for doc in documents(&file) {
            if !without_schema(&doc) {
                continue;
            }
            checked += 1;
            let kind = str_at(&doc, &["kind"]).unwrap_or("?");
            let name = str_at(&doc, &["metadata", "name"]).unwrap_or("?");
            let mut fail =
                |what: String| problems.push(format!("{}: {kind} {name}: {what}", shown(&file)));
            let spec = doc.get("spec").unwrap_or(&Value::Null);
            match kind {
                "Certificate" => {
                    let secret = str_at(spec, &["secretName"]);
                    let mounted = neighbours
                        .iter()
                        .filter(|n| namespace(n) == namespace(&doc))
                        .any(|n| {
                            pod_spec(n).is_some_and(|pod| {
                                seq(pod, "volumes")
                                    .iter()
                                    .any(|v| str_at(v, &["secret", "secretName"]) == secret)
                            })
                        });
                    if secret.is_none() || !mounted {
                        fail(format!(
                            "secretName {secret:?} is no pod's Secret volume here"
                        ));
                    }
                    if str_at(spec, &["issuerRef", "name"]).is_none() {
                        fail("no issuerRef.name".into());
                    }
                }
                "ServiceMonitor" => {
                    let selector = spec.get("selector").and_then(|s| s.get("matchLabels"));
                    let service = neighbours.iter().find(|n| {
                        str_at(n, &["kind"]) == Some("Service")
                            && namespace(n) == namespace(&doc)
                            && selector.is_some_and(|s| {
                                selects(
                                    s,
                                    n.get("metadata")
                                        .and_then(|m| m.get("labels"))
                                        .unwrap_or(&Value::Null),
                                )
                            })
                    });
                    let Some(service) = service else {
                        fail(
                            "its selector matches no Service of its directory and namespace".into(),
                        );
                        continue;
                    };
                    let ports = seq(service.get("spec").unwrap_or(&Value::Null), "ports");
                    let endpoints = seq(spec, "endpoints");
                    if endpoints.is_empty() {
                        fail("no endpoints".into());
                    }
                    for endpoint in endpoints {
                        let port = str_at(endpoint, &["port"]);
                        if !ports.iter().any(|p| str_at(p, &["name"]) == port) {
                            fail(format!(
                                "endpoint port {port:?} is not a named port of the Service"
                            ));
                        }
                    }
                }
                other => fail(format!("{other} is in WITHOUT_SCHEMA but not checked here")),
            }
        }
    }
    assert!(checked >= 2, "only {checked} custom resources found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
