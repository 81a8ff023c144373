//! The examples' Kubernetes manifests run for real with Debian's podman (`podman kube play`),
//! each started as written through the overlay that tests/src/podman/overlay.rs documents
//! (image names, and what podman 4.3 cannot play), and checked as a user would check it.
//!
//! Probes, lifecycle hooks and grace periods are not run by podman: the Compose pods and the
//! container tests are their proof, not these.

use serde::Deserialize;

use podkit_tests::git::GitRepo;
use podkit_tests::podman::{manifest, Overlay, Podman, ReadmeSecrets};
use podkit_tests::procs;
use podkit_tests::wait::{self, HANG_GUARD};

// Each pattern's manifests, relative to examples/k8s/.
const INIT_CONTAINER: &str = "initializer/init-container.yaml";
const GIT_SIDECAR: &str = "initializer/sidecar.yaml";
const GIT_SIDECAR_CLASSIC: &str = "initializer/sidecar-classic.yaml";
const RELOAD_NGINX: &str = "config-reload/nginx.yaml";
const RELOAD_PROMETHEUS: &str = "config-reload/prometheus.yaml";
const ADAPTER: &str = "adapter/adapter.yaml";
const AMBASSADOR: &str = "ambassador/ambassador.yaml";
const TERMINATOR: &str = "ambassador/terminator.yaml";
const AMBASSADOR_README: &str = "ambassador/README.md";
const ENTRYPOINT: &str = "entrypoint/pod.yaml";
const PAUSE_POD: &str = "entrypoint/pause-pod.yaml";
const PROBES: &str = "probes/pod.yaml";

/// The site a test's repository holds, as one commit.
fn site_repo(test: &str, page: &str) -> Option<GitRepo> {
    let repo = GitRepo::new(test)?;
    repo.write("index.html", page);
    repo.commit("the site");
    Some(repo)
}

#[test]
fn initializer_clones_the_site_before_nginx_serves_it() {
    let test = "initializer_clones_the_site_before_nginx_serves_it";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    let Some(repo) = site_repo(test, "<h1>cloned by podkit-git</h1>\n") else {
        return;
    };
    let overlay = Overlay::new().repo(&repo.bare_path());
    let pod = podman.play(&manifest(INIT_CONTAINER), &overlay);

    // kube play returns once the init container has exited 0: the site is there from nginx's
    // first request on.
    pod.wait_running("web");
    let first = pod.first_answer("http://127.0.0.1:8080/", "nginx to listen");
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body, "<h1>cloned by podkit-git</h1>\n");
    // Only the published tree is served: nothing of the volume around it.
    let git = pod
        .get("http://127.0.0.1:8080/.git/HEAD")
        .expect("nginx answers");
    assert_eq!(git.status, 404, "{git:?}");
    let link = std::fs::read_link(pod.empty_dir("site", "git").join("site")).expect("the link");
    let head = repo.rev_parse("HEAD");
    assert_eq!(link, std::path::Path::new(".worktrees").join(&head));
}

#[test]
fn config_reload_signals_nginx_after_the_kubelet_updates_its_config_map() {
    let test = "config_reload_signals_nginx_after_the_kubelet_updates_its_config_map";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    let mut pod = podman.play(&manifest(RELOAD_NGINX), &Overlay::new());
    pod.wait_running("nginx");
    pod.wait_running("reload");
    pod.until_body("http://127.0.0.1:8080/", "nginx's first answer", |body| {
        body == "v1\n"
    });
    // Ready once it has taken its first look at the volume: an update from then on is seen.
    pod.until_body(
        "http://127.0.0.1:9091/readyz",
        "podkit-reload to be ready",
        |_| true,
    );

    // `kubectl edit configmap web-nginx`, "v1" changed to "v2", as the kubelet then writes it.
    let edited = "server {\n  listen 8080;\n  location / { return 200 \"v2\\n\"; }\n  \
                  location = /healthz { access_log off; return 200 \"ok\\n\"; }\n}\n";
    pod.update_config_map("web-nginx", &[("default.conf", edited)]);
    pod.until_body("http://127.0.0.1:8080/", "nginx to reload", |body| {
        body == "v2\n"
    });
    let log = pod.logs("reload");
    assert!(log.contains("reloaded"), "{log}");
}

#[test]
fn adapter_shows_the_apps_statsd_and_access_log_on_metrics() {
    let test = "adapter_shows_the_apps_statsd_and_access_log_on_metrics";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    // The manifest's app as written: its Python loop sends an order, a checkout's duration and
    // a cart's size over StatsD, and appends an access-log line, every second.
    let pod = podman.play(&manifest(ADAPTER), &Overlay::new());
    pod.wait_running("metrics");
    pod.wait_running("app");
    let metrics = pod.until_body(
        "http://127.0.0.1:9102/metrics",
        "the app's series",
        |body| {
            [
                "shop_orders_total{",
                "shop_http_requests_total{",
                "shop_cart_items",
            ]
            .iter()
            .all(|series| body.contains(series))
        },
    );
    // Named and labelled by the mapping and the log rules: the payment method from the StatsD
    // name, the region from its tag, the status class from the log line.
    let samples = |series: &str| -> Vec<&str> {
        let lines = metrics.lines().filter(|line| line.starts_with(series));
        lines.collect()
    };
    for order in samples("shop_orders_total{") {
        let payment = order.contains("payment=\"card\"") || order.contains("payment=\"invoice\"");
        assert!(payment && order.contains("region=\"eu\""), "{metrics}");
    }
    for request in samples("shop_http_requests_total{") {
        let code = request.contains("code=\"2xx\"") || request.contains("code=\"5xx\"");
        assert!(code && request.contains("method=\"POST\""), "{metrics}");
    }
    let count = |series: &str, labels: &[&str]| -> u64 {
        let sample = value(&metrics, series, labels).unwrap_or_else(|| panic!("{metrics}"));
        sample
            .parse()
            .unwrap_or_else(|_| panic!("{series}: {metrics}"))
    };
    // Timers as histograms in seconds, every request the app serves under 5 s.
    assert!(count("shop_checkout_seconds_count", &[]) >= 1, "{metrics}");
    assert!(
        count("shop_http_request_seconds_bucket{", &["le=\"5\""]) >= 1,
        "{metrics}"
    );

    // The mapping drops the debug counters an app sends everywhere (`kubectl exec` into the
    // app: one datagram with a debug counter and an order of a payment method the loop never
    // uses, which shows when the datagram has been taken in).
    let send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(\
                b'shop.debug.cache_miss:1|c\\nshop.orders.test:1|c', ('127.0.0.1', 9125))";
    let sent = pod.exec("app", &["python3", "-c", send]);
    assert!(sent.succeeded(), "{sent:#?}");
    let metrics = pod.until_body(
        "http://127.0.0.1:9102/metrics",
        "the exec'd order",
        |body| body.contains("payment=\"test\""),
    );
    assert!(!metrics.contains("shop_debug"), "{metrics}");
}

#[test]
fn ambassador_carries_the_apps_plain_http_over_mtls_to_the_terminator() {
    let test = "ambassador_carries_the_apps_plain_http_over_mtls_to_the_terminator";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    // The Secrets payments-tls and shop-tls, made with the README's openssl commands (one CA
    // for both sides). Both pods on a network of the test's own; the payments Service's name
    // resolves to the terminator's pod.
    let secrets = ReadmeSecrets::of(&manifest(AMBASSADOR_README));
    let network = podman.network();
    let payments_ip = network.ip(10);
    let terminator = Overlay::new().readme_secrets(&secrets);
    let payments = podman.play_on(&manifest(TERMINATOR), &terminator, &network, &payments_ip);
    let shop_side = Overlay::new()
        .readme_secrets(&secrets)
        .service("payments.billing.svc", &payments_ip);
    let shop = podman.play_on(&manifest(AMBASSADOR), &shop_side, &network, &network.ip(11));
    for (pod, name) in [
        (&payments, "ambassador"),
        (&payments, "app"),
        (&shop, "ambassador"),
        (&shop, "app"),
    ] {
        pod.wait_running(name);
    }

    // `kubectl -n shop logs deploy/shop -c app`: the app's plain HTTP to its loopback reached
    // nginx in the payments pod, over mTLS between the pods, each side checking the other's
    // SPIFFE identity.
    shop.until_log("app", "payments: ok\n");
    payments.until_body(
        "http://127.0.0.1:9090/metrics",
        "the accepted connection",
        |body| {
            let accepted = value(body, "podkit_ambassador_connections_accepted_total ", &[]);
            accepted.and_then(|n| n.parse::<u64>().ok()) >= Some(1)
        },
    );

    // The terminator is the only way in, and only with a client certificate: a TLS client
    // with none (and no check of the server's) is refused.
    let direct = format!("https://{payments_ip}:8443/");
    let refused = shop.curl(&["--insecure", &direct]);
    assert!(
        !refused.succeeded(),
        "a client with no certificate got through: {refused:#?}"
    );
    payments.until_log("ambassador", "reason=no_client_certificate");
}

#[test]
fn initializer_sidecar_publishes_a_pushed_commit_to_the_served_site() {
    let test = "initializer_sidecar_publishes_a_pushed_commit_to_the_served_site";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    let Some(repo) = site_repo(test, "<h1>first</h1>\n") else {
        return;
    };
    // The README's order: init-container.yaml applied first, for its ConfigMap site-nginx.
    let overlay = Overlay::new()
        .repo(&repo.bare_path())
        .config_maps_of(&manifest(INIT_CONTAINER));
    let pod = podman.play(&manifest(GIT_SIDECAR), &overlay);
    pod.wait_running("sync");
    pod.wait_running("web");
    // The sidecar's startup probe would have held nginx back until the first publish; here
    // nginx may answer 404 before it.
    let first = pod.until_body("http://127.0.0.1:8080/", "the first commit", |_| true);
    assert_eq!(first, "<h1>first</h1>\n");

    repo.write("index.html", "<h1>second</h1>\n");
    let second = repo.commit("the second version");
    // The manifest's --period=30s: the next fetch comes within a period of the push.
    let served = pod.until_body_within(
        SYNC_PERIOD + HANG_GUARD,
        "http://127.0.0.1:8080/",
        "the pushed commit",
        |body| body == "<h1>second</h1>\n",
    );
    assert_eq!(served, "<h1>second</h1>\n");
    let log = pod.logs("sync");
    assert!(log.contains(&format!("published commit={second}")), "{log}");
}

/// The value of the first sample of `metrics` whose line starts with `series` and holds every
/// one of `labels`.
fn value<'a>(metrics: &'a str, series: &str, labels: &[&str]) -> Option<&'a str> {
    let line = metrics
        .lines()
        .find(|line| line.starts_with(series) && labels.iter().all(|l| line.contains(l)))?;
    line.rsplit(' ').next()
}

/// sidecar.yaml's `--period`.
const SYNC_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

#[test]
fn initializer_loads_prometheus_rules_from_the_cloned_repository() {
    let test = "initializer_loads_prometheus_rules_from_the_cloned_repository";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    let Some(repo) = GitRepo::new(test) else {
        return;
    };
    repo.write(
        "alerts/podkit.yml",
        "groups:\n  - name: from-git\n    rules:\n      - alert: PodkitTestAlways\n        expr: vector(1)\n",
    );
    repo.commit("an alerting rule");
    let overlay = Overlay::new().repo(&repo.bare_path());
    let pod = podman.play(&manifest(GIT_SIDECAR_CLASSIC), &overlay);
    pod.wait_running("prometheus");
    pod.wait_running("sync");
    // Prometheus started after the clone: the repository's rule file is loaded.
    pod.until_body(
        "http://127.0.0.1:9090/api/v1/rules",
        "the rules from git",
        |body| body.contains("\"name\":\"from-git\"") && body.contains("PodkitTestAlways"),
    );
    // The sidecar found the clone's publish at its first look: ready, nothing to reload.
    pod.until_body(
        "http://127.0.0.1:9091/readyz",
        "the sync sidecar to be ready",
        |_| true,
    );
}

#[test]
fn config_reload_calls_prometheus_reload_webhook_after_the_kubelet_updates_its_config_map() {
    let test =
        "config_reload_calls_prometheus_reload_webhook_after_the_kubelet_updates_its_config_map";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    let config = manifest(RELOAD_PROMETHEUS);
    let mut pod = podman.play(&config, &Overlay::new());
    pod.wait_running("prometheus");
    pod.wait_running("reload");
    let status = "http://127.0.0.1:9090/api/v1/status/config";
    pod.until_body(status, "Prometheus' configuration", |body| {
        body.contains("job_name: podkit-reload")
    });
    pod.until_body(
        "http://127.0.0.1:9091/readyz",
        "podkit-reload to be ready",
        |_| true,
    );

    // `kubectl edit configmap prometheus-config`: one more scrape job, the rules unchanged.
    let rules = config_map_key(&config, "prometheus-config", "reload.rules.yml");
    let edited = "global:\n  scrape_interval: 30s\nrule_files:\n  - /etc/prometheus/*.rules.yml\n\
                  scrape_configs:\n  - job_name: added-by-an-edit\n    static_configs:\n      \
                  - targets: [\"127.0.0.1:9091\"]\n";
    pod.update_config_map(
        "prometheus-config",
        &[("prometheus.yml", edited), ("reload.rules.yml", &rules)],
    );
    pod.until_body(status, "Prometheus to reload", |body| {
        body.contains("job_name: added-by-an-edit")
    });
    let log = pod.logs("reload");
    assert!(log.contains("reloaded"), "{log}");
}

/// The value of `key` in the ConfigMap `name` of `manifest`.
fn config_map_key(manifest: &std::path::Path, name: &str, key: &str) -> String {
    let text = std::fs::read_to_string(manifest).expect("read the manifest");
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc = serde_yaml::Value::deserialize(doc).expect("a YAML document");
        if doc["kind"] == "ConfigMap" && doc["metadata"]["name"] == name {
            return doc["data"][key]
                .as_str()
                .expect("a key of the ConfigMap")
                .to_owned();
        }
    }
    panic!("no ConfigMap {name} in {}", manifest.display());
}

#[test]
fn entrypoint_runs_the_app_under_podkit_init_as_pid_1() {
    let test = "entrypoint_runs_the_app_under_podkit_init_as_pid_1";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    // The app's own arguments (`/app/server --listen=:8080`) are the helper's equivalent.
    let overlay = Overlay::new().app("app", &["/app/server", "serve-http", "0.0.0.0:8080"]);
    let pod = podman.play(&manifest(ENTRYPOINT), &overlay);
    pod.wait_running("app");
    let answer = pod.until_body("http://127.0.0.1:8080/", "the app to serve", |_| true);
    assert_eq!(answer, "ok\n");

    // The container's first process is podkit-init with the manifest's flags, and the app
    // its child.
    let init = pod.pid("app");
    let command = procs::cmdline(init).expect("podkit-init's command line");
    assert_eq!(command[0], "/podkit-init", "{command:?}");
    assert!(command.contains(&"--grace=25s".to_owned()), "{command:?}");
    let children = procs::children(init);
    let app: Vec<_> = children
        .iter()
        .filter_map(|c| procs::cmdline(c.pid))
        .collect();
    assert_eq!(
        app,
        [["/app/server", "serve-http", "0.0.0.0:8080"]],
        "{children:?}"
    );
}

#[test]
fn entrypoint_shared_pid_namespace_has_podkit_init_as_the_pause_that_reaps_orphans() {
    let test = "entrypoint_shared_pid_namespace_has_podkit_init_as_the_pause_that_reaps_orphans";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    // busybox (an interactive shell) is played by the helper, sleeping.
    let overlay = Overlay::new()
        .app("app", &["/app/server", "serve-http", "0.0.0.0:8080"])
        .app("debug", &["/app/server", "sleep", "forever"]);
    let pod = podman.play(&manifest(PAUSE_POD), &overlay);
    pod.wait_running("app");
    pod.wait_running("debug");
    pod.until_body("http://127.0.0.1:8080/", "the app to serve", |_| true);

    // PID 1 of the pod's one PID namespace is the pause container: podkit-init --pause.
    let pause = pod.infra_pid();
    let command = procs::cmdline(pause).expect("the pause's command line");
    assert_eq!(command, ["/podkit-init", "--pause"]);
    let namespace = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    assert_eq!(namespace(pod.pid("debug")), namespace(pause));

    // Processes orphaned in a container with no reaper of its own (`kubectl exec` into
    // debug) go to the pod's PID 1, which reaps them: none is left as its child, zombie or not.
    let orphans = pod.exec("debug", &["/app/server", "orphans", "5"]);
    assert!(orphans.succeeded(), "{orphans:#?}");
    wait::until("the pause to reap the orphans", || {
        procs::children(pause).is_empty().then_some(())
    });
}

#[test]
fn probes_wait_init_container_lets_the_app_start_once_its_dependencies_answer() {
    let test = "probes_wait_init_container_lets_the_app_start_once_its_dependencies_answer";
    let Some(podman) = Podman::new(test) else {
        return;
    };
    // The database and the API the init container waits for: a pod of the test's, on the
    // test's network, which their Service names resolve to. (The probes themselves are not
    // run by podman.)
    let network = podman.network();
    let dependencies = podman.dir("dependencies").join("dependencies.yaml");
    std::fs::write(&dependencies, DEPENDENCIES).expect("write the dependencies' pod");
    let services = Overlay::new()
        .app("postgres", &["/app/server", "serve-echo", "0.0.0.0:5432"])
        .app("api", &["/app/server", "serve-http", "0.0.0.0:8080"]);
    let deps = podman.play_on(&dependencies, &services, &network, &network.ip(20));
    deps.wait_running("postgres");
    deps.wait_running("api");

    let overlay = Overlay::new()
        .app("app", &["/app/server", "serve-http", "0.0.0.0:8080"])
        .service("postgres.default.svc", &network.ip(20))
        .service("api.default.svc", &network.ip(20));
    // kube play returns once the init container has exited 0: both answered.
    let pod = podman.play_on(&manifest(PROBES), &overlay, &network, &network.ip(21));
    pod.wait_running("app");
    let answer = pod.until_body("http://127.0.0.1:8080/ready", "the app to serve", |_| true);
    assert_eq!(answer, "ok\n");
}

/// A database's TCP port and an API's HTTP `/healthz`, played by the test helper.
const DEPENDENCIES: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: dependencies
spec:
  containers:
    - name: postgres
      image: postgres-stand-in:1
    - name: api
      image: api-stand-in:1
";
