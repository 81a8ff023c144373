//! The overlay: what a manifest becomes before `podman kube play`, and the part of the cluster
//! around it that podman does not play. The manifest's file is never changed: each rule below
//! rewrites a parsed copy, and names the podman 4.3 limit, seen here, that it works around.
//!
//! 1. **Kinds.** Pods and Deployments are played. ConfigMaps, Secrets and cert-manager's
//!    Certificates (the Secrets they ask for) become the volumes and variables that use them
//!    (rules 7 and 8). Every other kind (Service, ServiceAccount, ServiceMonitor...) is left
//!    out, and named on stderr: podman 4.3 plays Pods, Deployments, ConfigMaps and
//!    PersistentVolumeClaims, and rule 9 stands in for Services.
//! 2. **Images** become local ones (`images.rs`), with `imagePullPolicy: Never`: nothing may be
//!    pulled, and podman 4.3 tries a registry for every `:latest` image even when it has it
//!    (pull policy "newer": `GET https://localhost/v2/` for `localhost/podkit/init:latest`).
//! 3. **One replica.** podman makes each replica of a Deployment a pod of its own (`web-pod-0`,
//!    `web-pod-1`) with no Service to spread requests over them; one pod shows the pattern.
//! 4. **Native sidecars** (init containers with `restartPolicy: Always`) become the first
//!    containers, without the field: `kube play` waits for every init container to exit, and
//!    never returned for a sidecar (still waiting at 60 s, the app container only "Created").
//!    Lost with it: the sidecar no longer starts (nor passes its startup probe) before the app,
//!    and no longer stops after it; the tests wait for the sidecar themselves.
//! 5. **`restartPolicy: Never`** for a pod that keeps init containers: podman 4.3 applies the
//!    pod's `Always` to init containers too, restarts one that has just succeeded, and `kube
//!    play` then waits 20 s for it ("Exceeded conmon timeout waiting for container to exit",
//!    podman issue 16343). With `OnFailure` instead, a failing init container kept `kube play`
//!    waiting until the test's guard (3 minutes); with `Never` it fails at once, the init
//!    container's log kept for the diagnostics. (The kubelet would retry it: here a retry
//!    cannot succeed.) The other containers are not restarted either: a crash shows as
//!    `exited`, which the tests report at once.
//! 6. **`ports` are removed**: podman 4.3 publishes every `containerPort` on the host at the
//!    same number (`0.0.0.0:8080`), which a pod without `hostPort` never does (and which two
//!    tests would fight over), and refuses `--network none` with them ("PortMappings can only
//!    be used with Bridge or slirp4netns networking"). Tests reach the pod's ports from inside
//!    its network namespace, as `kubectl port-forward` does.
//! 7. **Volumes**, each a `hostPath` to a directory of the test's engine:
//!    - `emptyDir`: a new directory, mode 0777 as the kubelet makes it. podman 4.3 makes a
//!      volume named after the volume (not the pod: one per name in the engine), owned by the
//!      first container that mounts it read-write, group root, mode 0755, and ignores
//!      `fsGroup`: a second writer of another user is refused (seen with users 10001 then
//!      20000), where the kubelet's emptyDir lets both write. `sizeLimit` is not enforced.
//!    - `configMap` and `secret`: the keys written the kubelet's way (`kubelet.rs`: a
//!      timestamped directory, `..data`, one link per key), files with `defaultMode` (0644
//!      unless said) and the pod's `fsGroup` as their group, from a ConfigMap of the manifest
//!      (or of another, [`Overlay::config_maps_of`]), a Secret or Certificate (`certs.rs`) of
//!      the manifest, a Secret the test gives ([`Overlay::secret`]) or one a README made (rule 11).
//!      [`Played::update_config_map`] updates it as the kubelet does. podman 4.3 copies a
//!      ConfigMap's keys once into a plain volume (no `..data`, never updated), and crashes on
//!      a secret volume ("panic: runtime error: invalid memory address or nil pointer
//!      dereference" in `kube.VolumeFromSecret`). `items` is not supported here (no manifest
//!      uses it).
//! 8. **`env` from `secretKeyRef`** becomes the value, from the same Secrets: podman 4.3 turns
//!    the Secret into a podman secret and then fails to read it ("cannot set env X: secret s1
//!    is not valid JSON").
//! 9. **Services** the test names ([`Overlay::service`]) become `hostAliases`: the name
//!    resolves (through /etc/hosts) to the serving pod's address on the test's network, as the
//!    cluster's DNS would resolve it to the Service's.
//! 10. **What the examples leave to the user**: podkit-git's `--repo` (or `PODKIT_REPO`,
//!     `GITSYNC_REPO`: a GitHub URL or `git.example.com`, out of reach here) becomes
//!     `file:///src/<name>`, a bare repository the test made with git, mounted read-only at
//!     `/src/<name>` ([`Overlay::repo`]); the user's app's `args` (`my-app:1.0`, played by the
//!     test helper) are the ones the test gives ([`Overlay::app`]); its `command`, if any, stays.
//! 11. **Secrets the README has the user make by hand** (`kubectl create secret generic NAME
//!     --from-file=...`, the certificates made with openssl first): made as the README says,
//!     its commands run for real ([`ReadmeSecrets`], [`Overlay::readme_secrets`]), then mounted
//!     as rule 7 mounts a Secret. Where the README offers cert-manager as well
//!     (`certificates.yaml`), the hand-made way is played: it is the one with no cluster add-on.
//!
//! Left as written, and not checked by these tests: probes (podman 4.3 turns a liveness probe
//! into a healthcheck that needs systemd's timers, absent here, so none runs), lifecycle hooks,
//! `terminationGracePeriodSeconds`. Left as written and applied by podman: `command`, the
//! security contexts (`runAsUser`, `runAsGroup`, `readOnlyRootFilesystem`, capabilities),
//! `shareProcessNamespace`, `resources`.
//!
//! [`Played::update_config_map`]: super::Played::update_config_map

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::{Mapping, Sequence, Value};

use super::images::StandIn;
use super::readme::ReadmeSecrets;
use super::volumes::{KubeletVolume, Payload};
use super::Podman;

/// Where a bare repository given with [`Overlay::repo`] is mounted in podkit-git's containers.
const REPO_MOUNT: &str = "/src";

/// The test's side of the overlay: what the manifests leave to the user or the cluster.
#[derive(Default)]
pub struct Overlay {
    repo: Option<PathBuf>,
    apps: BTreeMap<String, Vec<String>>,
    config_maps: BTreeMap<String, Value>,
    secrets: BTreeMap<String, Payload>,
    services: Vec<(String, String)>,
}

impl Overlay {
    pub fn new() -> Overlay {
        Overlay::default()
    }

    /// The bare repository podkit-git's `--repo` points at instead of the manifest's (rule 10).
    pub fn repo(mut self, bare: &Path) -> Overlay {
        self.repo = Some(bare.to_owned());
        self
    }

    /// The `args` of the container `name` of the user's app, played by the test helper under
    /// podkit-init (rule 10): `["/app/server", "serve-http", "127.0.0.1:8080"]`.
    pub fn app(mut self, name: &str, args: &[&str]) -> Overlay {
        let args = args.iter().map(|arg| (*arg).to_owned()).collect();
        self.apps.insert(name.to_owned(), args);
        self
    }

    /// The ConfigMaps of another manifest, as if it had been applied first (`kubectl apply -f
    /// init-container.yaml` for the ConfigMap sidecar.yaml mounts).
    pub fn config_maps_of(mut self, manifest: &Path) -> Overlay {
        for doc in documents(manifest) {
            if kind(&doc) == "ConfigMap" {
                self.config_maps
                    .insert(name(&doc).to_owned(), doc["data"].clone());
            }
        }
        self
    }

    /// A Secret that no manifest makes, with its keys.
    pub fn secret(mut self, name: &str, keys: &[(&str, &[u8])]) -> Overlay {
        let payload = keys.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec()));
        self.secrets.insert(name.to_owned(), payload.collect());
        self
    }

    /// The Secrets a README's commands made, as if the user had created them (rule 11).
    pub fn readme_secrets(mut self, made: &ReadmeSecrets) -> Overlay {
        self.secrets.extend(made.secrets.clone());
        self
    }

    /// The Service `host` (`payments.billing.svc`) resolves to `ip` in every played pod (rule 9).
    pub fn service(mut self, host: &str, ip: &str) -> Overlay {
        self.services.push((host.to_owned(), ip.to_owned()));
        self
    }
}

/// A manifest after the overlay.
pub(super) struct Rewritten {
    /// What `podman kube play` is given.
    pub yaml: String,
    /// The ConfigMap and Secret volumes, kept to be updated.
    pub volumes: Vec<KubeletVolume>,
    /// Each emptyDir's directory, by `POD/VOLUME`.
    pub empty_dirs: BTreeMap<String, PathBuf>,
    /// `Kind/name` of every document left out (rule 1).
    pub left_out: Vec<String>,
}

impl Overlay {
    /// The manifest at `manifest`, rewritten for `podman`'s `kube play` by the rules of this
    /// module.
    pub(super) fn apply(&self, podman: &Podman, manifest: &Path) -> Rewritten {
        let mut config_maps = self.config_maps.clone();
        let mut secrets = self.secrets.clone();
        let mut workloads = Vec::new();
        let mut left_out = Vec::new();
        for doc in documents(manifest) {
            match kind(&doc) {
                "ConfigMap" => {
                    config_maps.insert(name(&doc).to_owned(), doc["data"].clone());
                }
                "Certificate" => {
                    let mut ca = podman.ca.borrow_mut();
                    let ca = ca.get_or_insert_with(super::certs::ClusterCa::new);
                    let (secret, payload) = ca.issue(&doc["spec"]);
                    secrets.insert(secret, payload);
                }
                "Secret" => {
                    secrets.insert(name(&doc).to_owned(), secret_keys(&doc));
                }
                "Pod" | "Deployment" => workloads.push(doc),
                other => left_out.push(format!("{other}/{}", name(&doc))),
            }
        }
        let mut rewritten = Rewritten {
            yaml: String::new(),
            volumes: Vec::new(),
            empty_dirs: BTreeMap::new(),
            left_out,
        };
        let sources = Sources {
            config_maps: &config_maps,
            secrets: &secrets,
        };
        for mut doc in workloads {
            let pod = name(&doc).to_owned();
            let spec = match kind(&doc) {
                "Deployment" => {
                    let deployment = mapping(&mut doc["spec"]);
                    deployment.insert("replicas".into(), 1.into());
                    mapping(&mut doc["spec"]["template"]["spec"])
                }
                _ => mapping(&mut doc["spec"]),
            };
            self.pod(podman, &pod, spec, &sources, &mut rewritten);
            let yaml = serde_yaml::to_string(&doc).expect("a manifest serializes");
            rewritten.yaml.push_str("---\n");
            rewritten.yaml.push_str(&yaml);
        }
        rewritten
    }

    /// Rules 4 to 10 on one pod's spec.
    fn pod(
        &self,
        podman: &Podman,
        pod: &str,
        spec: &mut Mapping,
        sources: &Sources<'_>,
        out: &mut Rewritten,
    ) {
        // Rules 4 and 5: native sidecars first among the containers, the rest of the init
        // containers under Never.
        let (sidecars, init): (Sequence, Sequence) = take_sequence(spec, "initContainers")
            .into_iter()
            .partition(|c| c["restartPolicy"].as_str() == Some("Always"));
        let mut containers = sidecars;
        for sidecar in &mut containers {
            mapping(sidecar).remove("restartPolicy");
        }
        containers.extend(take_sequence(spec, "containers"));
        if !init.is_empty() {
            spec.insert("restartPolicy".into(), "Never".into());
        }

        let mut repo_used = false;
        let mut init = init;
        for container in init.iter_mut().chain(containers.iter_mut()) {
            repo_used |= self.container(podman, mapping(container), sources);
        }
        if !init.is_empty() {
            spec.insert("initContainers".into(), Value::Sequence(init));
        }
        spec.insert("containers".into(), Value::Sequence(containers));

        // Rule 7.
        let group = spec
            .get("securityContext")
            .and_then(|context| context["fsGroup"].as_u64())
            .map(|group| u32::try_from(group).expect("a group id"));
        let mut volumes = take_sequence(spec, "volumes");
        for volume in &mut volumes {
            let volume = mapping(volume);
            self.volume(podman, pod, volume, group, sources, out);
        }
        if let (true, Some(repo)) = (repo_used, &self.repo) {
            volumes.push(host_path("podkit-test-repo", repo));
        }
        if !volumes.is_empty() {
            spec.insert("volumes".into(), Value::Sequence(volumes));
        }

        // Rule 9.
        if !self.services.is_empty() {
            let mut aliases = take_sequence(spec, "hostAliases");
            for (host, ip) in &self.services {
                let mut alias = Mapping::new();
                alias.insert("ip".into(), ip.as_str().into());
                alias.insert("hostnames".into(), vec![host.as_str()].into());
                aliases.push(Value::Mapping(alias));
            }
            spec.insert("hostAliases".into(), Value::Sequence(aliases));
        }
    }

    /// Rules 2, 6, 8 and 10 on one container; whether it uses the repository of rule 10.
    fn container(&self, podman: &Podman, container: &mut Mapping, sources: &Sources<'_>) -> bool {
        let name = container["name"].as_str().unwrap_or_default().to_owned();
        let image = container["image"]
            .as_str()
            .expect("a container has an image");
        let image = image.to_owned();
        let stand_in = StandIn::of(&image);
        let local = podman.stand_in(stand_in);
        container.insert("image".into(), local.into());
        container.insert("imagePullPolicy".into(), "Never".into());
        container.remove("ports");
        if stand_in == StandIn::App {
            let args = self.apps.get(&name).unwrap_or_else(|| {
                panic!("container {name} runs the user's app: give its args with Overlay::app")
            });
            container.insert("args".into(), args.clone().into());
        }
        if let Some(env) = container.get_mut("env").and_then(Value::as_sequence_mut) {
            for variable in env {
                secret_env(mapping(variable), sources.secrets);
            }
        }
        stand_in == StandIn::Podkit("git") && self.repoint(container)
    }

    /// Rule 10 for podkit-git: `--repo`, `PODKIT_REPO` and `GITSYNC_REPO` to the test's bare
    /// repository, mounted read-only; whether the container had one.
    fn repoint(&self, container: &mut Mapping) -> bool {
        let Some(bare) = &self.repo else {
            return false;
        };
        let base = bare.file_name().expect("a repository directory's name");
        let mount = Path::new(REPO_MOUNT).join(base);
        let url = format!("file://{}", mount.display());
        let mut found = false;
        if let Some(args) = container.get_mut("args").and_then(Value::as_sequence_mut) {
            for arg in args.iter_mut() {
                if arg.as_str().is_some_and(|a| a.starts_with("--repo=")) {
                    *arg = format!("--repo={url}").into();
                    found = true;
                }
            }
        }
        if let Some(env) = container.get_mut("env").and_then(Value::as_sequence_mut) {
            for variable in env.iter_mut() {
                let repo = matches!(
                    variable["name"].as_str(),
                    Some("PODKIT_REPO" | "GITSYNC_REPO")
                );
                if repo {
                    mapping(variable).insert("value".into(), url.as_str().into());
                    found = true;
                }
            }
        }
        if found {
            let mounts = container
                .entry("volumeMounts".into())
                .or_insert_with(|| Value::Sequence(Sequence::new()));
            let mut entry = Mapping::new();
            entry.insert("name".into(), "podkit-test-repo".into());
            entry.insert("mountPath".into(), mount.display().to_string().into());
            entry.insert("readOnly".into(), true.into());
            mounts
                .as_sequence_mut()
                .expect("volumeMounts is a list")
                .push(Value::Mapping(entry));
        }
        found
    }

    /// Rule 7 on one volume of the pod `pod`.
    fn volume(
        &self,
        podman: &Podman,
        pod: &str,
        volume: &mut Mapping,
        group: Option<u32>,
        sources: &Sources<'_>,
        out: &mut Rewritten,
    ) {
        let name = volume["name"]
            .as_str()
            .expect("a volume has a name")
            .to_owned();
        let dir = || podman.dir(&format!("{pod}-{name}"));
        let replaced = if volume.contains_key("emptyDir") {
            let dir = dir();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .expect("make the emptyDir writable by every user");
            out.empty_dirs.insert(format!("{pod}/{name}"), dir.clone());
            dir
        } else if let Some(source) = volume.get("configMap").or_else(|| volume.get("secret")) {
            let (source_name, payload) = match volume.contains_key("configMap") {
                true => {
                    let map = source["name"].as_str().expect("configMap.name");
                    (map, sources.config_map(map))
                }
                false => {
                    let secret = source["secretName"].as_str().expect("secret.secretName");
                    (secret, sources.secret(secret))
                }
            };
            assert!(
                source.get("items").is_none(),
                "{name}: items are not supported"
            );
            let mode = source["defaultMode"].as_u64().unwrap_or(0o644);
            let mode = u32::try_from(mode).expect("a file mode");
            let dir = dir();
            let kept = KubeletVolume::create(&dir, source_name, &payload, mode, group);
            out.volumes.push(kept);
            dir
        } else if volume.contains_key("hostPath") {
            return;
        } else {
            panic!("volume {name}: only emptyDir, configMap, secret and hostPath are played");
        };
        *volume = as_mapping(host_path(&name, &replaced));
    }
}

/// The ConfigMaps and Secrets the volumes and variables of the played pods take their keys from.
struct Sources<'a> {
    config_maps: &'a BTreeMap<String, Value>,
    secrets: &'a BTreeMap<String, Payload>,
}

impl Sources<'_> {
    fn config_map(&self, name: &str) -> Payload {
        let data = self.config_maps.get(name).unwrap_or_else(|| {
            panic!("ConfigMap {name} is in no manifest given (Overlay::config_maps_of)")
        });
        let data = data.as_mapping().cloned().unwrap_or_default();
        data.into_iter()
            .map(|(key, value)| {
                let key = key.as_str().expect("a ConfigMap key").to_owned();
                let value = value
                    .as_str()
                    .expect("a ConfigMap value")
                    .as_bytes()
                    .to_vec();
                (key, value)
            })
            .collect()
    }

    fn secret(&self, name: &str) -> Payload {
        let payload = self.secrets.get(name).unwrap_or_else(|| {
            panic!("Secret {name}: no Secret or Certificate of the manifest makes it (Overlay::secret, Overlay::readme_secrets)")
        });
        payload.clone()
    }
}

/// A Secret document's keys: `data` (base64) and `stringData`, which wins, as the API server
/// merges them.
fn secret_keys(doc: &Value) -> Payload {
    use base64::Engine;
    let mut keys = Payload::new();
    let pairs = |field: &str| doc[field].as_mapping().cloned().unwrap_or_default();
    for (key, value) in pairs("data") {
        let (key, value) = (key.as_str(), value.as_str());
        let (key, value) = (key.expect("a Secret key"), value.expect("base64 data"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap_or_else(|e| panic!("Secret {}: {key} is not base64: {e}", name(doc)));
        keys.insert(key.to_owned(), bytes);
    }
    for (key, value) in pairs("stringData") {
        let (key, value) = (key.as_str(), value.as_str());
        let (key, value) = (key.expect("a Secret key"), value.expect("a string"));
        keys.insert(key.to_owned(), value.as_bytes().to_vec());
    }
    keys
}

/// Rule 8 on one variable of `env`.
fn secret_env(variable: &mut Mapping, secrets: &BTreeMap<String, Payload>) {
    let Some(reference) = variable
        .get("valueFrom")
        .and_then(|from| from.get("secretKeyRef"))
    else {
        return;
    };
    let (secret, key) = (reference["name"].as_str(), reference["key"].as_str());
    let (secret, key) = (
        secret.expect("secretKeyRef.name"),
        key.expect("secretKeyRef.key"),
    );
    let value = secrets
        .get(secret)
        .and_then(|payload| payload.get(key))
        .unwrap_or_else(|| {
            panic!("secretKeyRef {secret}/{key}: no such Secret key (Overlay::secret)")
        });
    let value = String::from_utf8(value.clone()).expect("a variable's value is text");
    variable.remove("valueFrom");
    variable.insert("value".into(), value.into());
}

/// `{name: NAME, hostPath: {path: DIR, type: Directory}}`.
fn host_path(name: &str, dir: &Path) -> Value {
    let mut host = Mapping::new();
    host.insert("path".into(), dir.display().to_string().into());
    host.insert("type".into(), "Directory".into());
    let mut volume = Mapping::new();
    volume.insert("name".into(), name.into());
    volume.insert("hostPath".into(), Value::Mapping(host));
    Value::Mapping(volume)
}

/// Every document of the manifest at `path`, empty ones left out.
pub(super) fn documents(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

/// The mapping `value` is, made one if it was null.
fn mapping(value: &mut Value) -> &mut Mapping {
    if value.is_null() {
        *value = Value::Mapping(Mapping::new());
    }
    value.as_mapping_mut().expect("a mapping")
}

fn as_mapping(value: Value) -> Mapping {
    match value {
        Value::Mapping(mapping) => mapping,
        _ => unreachable!("host_path makes a mapping"),
    }
}

/// Removes the list under `key` and returns it (empty when there was none).
fn take_sequence(spec: &mut Mapping, key: &str) -> Sequence {
    match spec.remove(key) {
        Some(Value::Sequence(items)) => items,
        _ => Sequence::new(),
    }
}
