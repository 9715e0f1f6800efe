//! The shipped deployment examples (`deploy/`) hold together: the agent config and the one in
//! the Kubernetes ConfigMap pass `evidence-agent check`'s validation, the CronJob gives the agent
//! every secret its config names (from a Secret, never inline) and never runs twice at once, and
//! the systemd units pass `systemd-analyze verify`.

use std::path::Path;

use evidence_tests::{bin, cmd, repo_root, run, text};
use serde_yaml_ng::Value;

/// `evidence-agent check`: the config must be valid (status 2 is a config error); the sources'
/// probes may fail here, where nothing of the deployment exists.
fn assert_valid_config(config: &Path) {
    let mut c = cmd("evidence-agent");
    c.args(["check", "--quiet", "--config"])
        .arg(config)
        .env_remove("EVIDENCE_JIRA_EMAIL")
        .env_remove("EVIDENCE_JIRA_TOKEN");
    let o = run(&mut c);
    assert_ne!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("is valid"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_shipped_agent_config_is_valid() {
    assert_valid_config(&repo_root().join("deploy/agent.toml"));
}

#[test]
fn the_kubernetes_cronjob_runs_one_valid_config_at_a_time_with_secrets_from_a_secret() {
    let text = std::fs::read_to_string(repo_root().join("deploy/kubernetes/cronjob.yaml")).unwrap();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let of_kind = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"].as_str() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} in cronjob.yaml"))
    };
    let config_map = of_kind("ConfigMap");
    let cron_job = of_kind("CronJob");

    // The embedded config is valid.
    let toml_text = config_map["data"]["agent.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, toml_text).unwrap();
    assert_valid_config(&config);

    let spec = &cron_job["spec"];
    assert_eq!(spec["concurrencyPolicy"].as_str(), Some("Forbid"));
    let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args[..3],
        ["collect", "--config", "/etc/evidence-agent/agent.toml"]
    );
    let mount = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("config"))
        .unwrap();
    assert_eq!(mount["mountPath"].as_str(), Some("/etc/evidence-agent"));

    // Every environment variable the config reads a secret from comes from a Secret.
    let env = container["env"].as_sequence().unwrap();
    let config: toml::Value = toml::from_str(toml_text).unwrap();
    let wanted: Vec<&str> = config["source"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s.as_table().unwrap().iter())
        .filter(|(k, _)| k.ends_with("_env"))
        .map(|(_, v)| v.as_str().unwrap())
        .collect();
    assert!(!wanted.is_empty());
    for name in wanted {
        let var = env
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("the CronJob does not set {name}"));
        assert!(var.get("value").is_none(), "{name} is inline");
        assert!(
            var["valueFrom"]["secretKeyRef"]["name"].as_str().is_some(),
            "{name} is not from a Secret"
        );
    }

    // The agent's shutdown deadline leaves time to seal before Kubernetes kills the pod.
    let deadline = config["agent"]["shutdown_deadline_secs"]
        .as_integer()
        .unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        deadline + 20 <= grace,
        "deadline {deadline}s, grace {grace}s"
    );
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    // The units name the installed path; point them at the built binary for the check.
    let dir = tempfile::tempdir().unwrap();
    let agent = bin("evidence-agent");
    for entry in std::fs::read_dir(repo_root().join("deploy/systemd")).unwrap() {
        let path = entry.unwrap().path();
        let unit = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/evidence-agent", agent.to_str().unwrap());
        std::fs::write(dir.path().join(path.file_name().unwrap()), unit).unwrap();
    }
    let timer = std::fs::read_to_string(dir.path().join("evidence-agent-collect.timer")).unwrap();
    assert!(timer.contains("\nPersistent=true\n"), "{timer}");
    let units: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let o = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze runs (scripts/test requires it)");
    assert!(o.status.success(), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
}
