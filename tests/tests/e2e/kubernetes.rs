//! The Kubernetes manifests (`deploy/kubernetes`): each overlay renders with `kubectl
//! kustomize` (current kubectl or Debian's kubernetes-client; `scripts/test` installs the
//! latter when there is no kubectl), `kubernetes-validate --strict` (PyPI, pinned in
//! `tests/kubernetes/requirements.txt`, in the venv `scripts/test` makes) accepts the output
//! offline, and the rendered objects hold what the deployment promises: the original's
//! requests and limits per container, probes on the routes each binary serves (asked of the
//! real servers), a non-root user on a read-only root filesystem with writable volumes where
//! the binaries write, tokens from Secrets, one ConfigMap for all three binaries (which each
//! loads), the hasinit hook Job, and the config-as-code documents acmangkut applies at start.

use has_tests::spawn::{spawn_pageinspect, test_config};
use has_tests::{TestDb, spawn_acmangkut};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// `kubectl kustomize` of an overlay, as documents.
fn render(overlay: &str) -> (String, Vec<Value>) {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join("overlays").join(overlay))
        .output()
        .expect("kubectl: run ./scripts/test, which installs kubernetes-client without one");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubectl kustomize {overlay}: {stderr}"
    );
    let yaml = String::from_utf8(out.stdout).expect("UTF-8");
    let docs = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|d| Value::deserialize(d).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect();
    (yaml, docs)
}

/// `kubernetes-validate --strict` of `yaml`: the error output when it refuses.
fn validate(yaml: &str) -> Result<(), String> {
    let tool = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/kubernetes/.venv/bin/kubernetes-validate"
    );
    assert!(
        Path::new(tool).exists(),
        "{tool} is missing: run ./scripts/test, which installs it"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, yaml).expect("write");
    let out = Command::new(tool)
        .args(["--strict", "--quiet"])
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The original's allocation per container: (CPU, memory).
const RESOURCES: [(&str, &str, &str); 3] = [
    ("acmangkut", "4", "8Gi"),
    ("pageinspect", "2", "4Gi"),
    ("hasinit", "1", "2Gi"),
];

/// The workloads of the rendered overlay: (kind, name, pod spec).
fn workloads(docs: &[Value]) -> Vec<(&str, &str, &Value)> {
    let mut out: Vec<_> = docs
        .iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "Job")))
        .map(|d| {
            let kind = d["kind"].as_str().unwrap_or_default();
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            (kind, name, &d["spec"]["template"]["spec"])
        })
        .collect();
    out.sort_by_key(|(_, name, _)| *name);
    out
}

/// What every container of every workload must have, whatever the overlay.
fn assert_common(overlay: &str, docs: &[Value]) {
    let names: Vec<_> = workloads(docs).iter().map(|(k, n, _)| (*k, *n)).collect();
    assert_eq!(
        names,
        [
            ("Deployment", "acmangkut"),
            ("Job", "hasinit"),
            ("Deployment", "pageinspect")
        ],
        "{overlay}"
    );
    let env = find(docs, "ConfigMap", "has-env")["data"].clone();
    for (kind, name, pod) in workloads(docs) {
        let at = format!("{overlay}: {kind} {name}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{at}");
        assert_eq!(pod["securityContext"]["runAsUser"], 10001, "{at}");
        assert_eq!(pod["automountServiceAccountToken"], false, "{at}");
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{at}");
        let c = &containers[0];
        let (_, cpu, memory) = RESOURCES
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{at}: no allocation known"));
        let want = json!({"cpu": cpu, "memory": memory});
        assert_eq!(c["resources"]["limits"], want, "{at}");
        assert_eq!(c["resources"]["requests"], want, "{at}");
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{at}");
        assert_eq!(sc["runAsUser"], 10001, "{at}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{at}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{at}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{at}");
        assert_eq!(c["image"], format!("localhost/has/{name}:0.1.0"), "{at}");
        // A read-only root: every directory a binary writes is a volume.
        let mounts: Vec<&str> = c["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter_map(|m| m["mountPath"].as_str())
            .collect();
        for dir in ["/tmp", "/var/log/has"] {
            assert!(mounts.contains(&dir), "{at}: {dir} is not a volume");
        }
        // One ConfigMap for all three, tokens only from Secrets.
        assert_eq!(c["envFrom"][0]["configMapRef"]["name"], "has-env", "{at}");
        for var in c["env"].as_array().into_iter().flatten() {
            let key = var["name"].as_str().unwrap_or_default();
            if key.ends_with("TOKEN") || key.ends_with("__URL") && key.contains("DATABASE") {
                let secret = &var["valueFrom"]["secretKeyRef"];
                let plain = var["value"]
                    .as_str()
                    .is_some_and(|v| !v.starts_with("sqlite:"));
                assert!(
                    !secret.is_null() || !plain,
                    "{at}: {key} is not from a Secret"
                );
            }
        }
    }
    for (key, _) in env.as_object().expect("data") {
        assert!(
            !key.ends_with("TOKEN"),
            "{overlay}: {key} belongs in a Secret"
        );
    }
    // Each Deployment: probes on its port's /healthz and /readyz, a Service and a budget.
    for (name, port) in [("acmangkut", 8080), ("pageinspect", 8081)] {
        let d = find(docs, "Deployment", name);
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        let at = format!("{overlay}: {name}");
        assert_eq!(c["ports"][0]["containerPort"], port, "{at}");
        let named = c["ports"][0]["name"].clone();
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "{at}: {probe}");
            assert_eq!(c[probe]["httpGet"]["port"], named, "{at}: {probe}");
        }
        let svc = find(docs, "Service", name);
        assert_eq!(svc["spec"]["ports"][0]["port"], port, "{at}");
        let selector = &d["spec"]["selector"]["matchLabels"];
        assert_eq!(
            &svc["spec"]["selector"], selector,
            "{at}: the Service selects its pods"
        );
        let pdb = find(docs, "PodDisruptionBudget", name);
        assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector, "{at}");
    }
    // hasinit: a post-install / post-upgrade hook for Helm and Argo CD, bounded retries.
    let job = find(docs, "Job", "hasinit");
    let notes = &job["metadata"]["annotations"];
    let helm = notes["helm.sh/hook"].as_str().unwrap_or_default();
    assert!(
        helm.contains("post-install") && helm.contains("post-upgrade"),
        "{notes}"
    );
    assert_eq!(notes["argocd.argoproj.io/hook"], "PostSync", "{notes}");
    assert!(job["spec"]["backoffLimit"].as_i64().is_some_and(|n| n > 0));
    assert!(
        job["spec"]["ttlSecondsAfterFinished"]
            .as_i64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    // hasinit reads the bootstrap token from the Secret, mounted where its config says.
    let file = Path::new(
        env["HAS_ACMANGKUT__TOKEN_FILE"]
            .as_str()
            .expect("token file"),
    );
    let pod = &job["spec"]["template"]["spec"];
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            file.parent()
                .is_some_and(|d| m["mountPath"] == d.display().to_string())
        })
        .expect("the token file's directory is mounted");
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("its volume");
    assert_eq!(volume["secret"]["secretName"], "has-tokens", "{volume}");
    let item = &volume["secret"]["items"][0];
    assert_eq!(item["key"], "bootstrap-token");
    assert_eq!(
        file.file_name().and_then(|f| f.to_str()),
        item["path"].as_str()
    );
    // acmangkut mounts the config-as-code documents where its config says to apply them.
    let acm = &find(docs, "Deployment", "acmangkut")["spec"]["template"]["spec"];
    let dir = env["HAS_CONFIG__APPLY_DIR"].as_str().expect("apply dir");
    let mount = acm["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"] == dir)
        .expect("the apply dir is mounted");
    let volume = acm["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("its volume");
    let map = volume["configMap"]["name"].as_str().expect("a ConfigMap");
    let docs_map = find(docs, "ConfigMap", map);
    for (file, text) in docs_map["data"].as_object().expect("documents") {
        let text = text.as_str().unwrap_or_default();
        acmangkut::engine::config::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("{overlay}: {file}: {e}"));
    }
}

/// The environment of container `name` as Kubernetes gives it: the ConfigMap, then its own
/// `env`, Secrets given test values.
fn environment(docs: &[Value], name: &str, db: &TestDb) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = find(docs, "ConfigMap", "has-env")["data"]
        .as_object()
        .expect("data")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let c = &workloads(docs)
        .into_iter()
        .find(|(_, n, _)| *n == name)
        .expect("workload")
        .2["containers"][0];
    for var in c["env"].as_array().into_iter().flatten() {
        let value = match (&var["value"], &var["valueFrom"]["secretKeyRef"]["key"]) {
            (Value::String(v), _) => v.clone(),
            (_, k) if k == "url" => db.url.clone(),
            (_, k) => format!("test-{}-0123456789", k.as_str().unwrap_or_default()),
        };
        env.insert(var["name"].as_str().expect("name").to_string(), value);
    }
    env.into_iter().collect()
}

#[test]
fn each_overlay_renders_and_validates_strictly_with_the_promised_specs() {
    for overlay in ["sqlite", "postgres"] {
        let (yaml, docs) = render(overlay);
        if let Err(e) = validate(&yaml) {
            panic!("{overlay}: kubernetes-validate --strict refused:\n{e}");
        }
        assert_common(overlay, &docs);
        let acm = find(&docs, "Deployment", "acmangkut");
        let c = &acm["spec"]["template"]["spec"]["containers"][0];
        let db_url = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == "HAS_DATABASE__URL")
            .expect("HAS_DATABASE__URL");
        let volumes = &acm["spec"]["template"]["spec"]["volumes"];
        let data = volumes
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == "data")
            .expect("data volume");
        match overlay {
            "sqlite" => {
                assert_eq!(acm["spec"]["replicas"], 1);
                assert_eq!(acm["spec"]["strategy"]["type"], "Recreate");
                let url = db_url["value"].as_str().unwrap_or_default();
                assert!(url.starts_with("sqlite:///var/lib/has/"), "{url}");
                let claim = data["persistentVolumeClaim"]["claimName"].as_str();
                let claim = claim.expect("the database on a claim");
                find(&docs, "PersistentVolumeClaim", claim);
                assert!(data.get("emptyDir").is_none(), "{data}");
            }
            _ => {
                assert!(acm["spec"]["replicas"].as_i64().is_some_and(|n| n >= 2));
                let secret = &db_url["valueFrom"]["secretKeyRef"];
                assert_eq!(secret["name"], "has-database", "{db_url}");
                let pdb = find(&docs, "PodDisruptionBudget", "acmangkut");
                assert_eq!(pdb["spec"]["minAvailable"], 1);
            }
        }
    }
}

#[test]
fn the_validation_refuses_what_it_should() {
    let (yaml, _) = render("sqlite");
    let broken = yaml.replacen(
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: yes please",
        1,
    );
    assert_ne!(broken, yaml);
    assert!(validate(&broken).is_err(), "a string for a boolean");
    let unknown = yaml.replacen("backoffLimit:", "backofLimit:", 1);
    assert_ne!(unknown, yaml);
    assert!(validate(&unknown).is_err(), "an unknown field (--strict)");
}

/// The ConfigMap and each container's own variables load in each real binary's configuration,
/// and the probe paths are the routes the binaries serve: asked of running servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_environment_loads_in_each_binary_and_the_probes_answer() {
    let (_, docs) = render("postgres");
    let db = TestDb::new();
    let env = |name| environment(&docs, name, &db);
    let acm = shared::config::load_with_env::<acmangkut::Config, _>(
        &acmangkut::Config::default(),
        None,
        only(shared::config::App::Acmangkut, env("acmangkut")),
    )
    .expect("acmangkut loads the rendered environment");
    acm.validate().expect("valid");
    assert_eq!(acm.config.apply_dir, "/etc/has/config.d");
    assert_eq!(acm.pageinspect.url, "http://pageinspect:8081");
    let pi = shared::config::load_with_env::<pageinspect::config::PageinspectConfig, _>(
        &pageinspect::config::PageinspectConfig::defaults(),
        None,
        only(shared::config::App::Pageinspect, env("pageinspect")),
    )
    .expect("pageinspect loads it");
    pi.validate().expect("valid");
    let token = |t: &Option<shared::secret::Secret>| t.as_ref().map(|s| s.expose().to_string());
    assert!(pi.auth.service_token.is_some());
    assert_eq!(
        token(&acm.pageinspect.token),
        token(&pi.auth.service_token),
        "acmangkut presents the token pageinspect expects"
    );
    let hi = shared::config::load_with_env::<hasinit::config::HasinitConfig, _>(
        &hasinit::config::HasinitConfig::defaults(),
        None,
        only(shared::config::App::Hasinit, env("hasinit")),
    )
    .expect("hasinit loads it");
    hi.validate().expect("valid");
    assert_eq!(hi.acmangkut.url, "http://acmangkut:8080");

    let (pi_url, pi_handle) = spawn_pageinspect(Some("a-service-token-1")).await;
    let app = spawn_acmangkut(test_config(&db, &pi_url)).await;
    for (base, name) in [(app.url(""), "acmangkut"), (pi_url.clone(), "pageinspect")] {
        let c = &find(&docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0];
        for probe in ["livenessProbe", "readinessProbe"] {
            let path = c[probe]["httpGet"]["path"].as_str().expect("path");
            let r = reqwest::get(format!("{base}{path}")).await.expect("probe");
            assert_eq!(r.status(), 200, "{name} {probe} {path}");
        }
    }
    app.handle.stop().await;
    pi_handle.stop(true).await;
}

/// The variables `app` reads, as `shared::config::load` keeps them from a shared environment.
fn only(app: shared::config::App, env: Vec<(String, String)>) -> Vec<(String, String)> {
    let (own, _) = shared::config::split_env(app, env);
    own
}
