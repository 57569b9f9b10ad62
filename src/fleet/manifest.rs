//! `vmbench fleet manifest`: the Namespace, ServiceAccount and Indexed Job of a fleet run, and
//! the `docker run` command that starts one of its pods on this host exactly as the pod spec
//! does (same image, command, privileges, mounts and environment).

use crate::UsageError;
use clap::Parser;

/// The manifest template: YAML with a comment on each choice, every value JSON-quoted.
const TEMPLATE: &str = include_str!("manifest.yaml");

/// What a fleet run is made of.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The image that holds vmbench.
    pub image: String,
    /// Pods, one per node.
    pub nodes: u32,
    /// Only nodes with this label (key, value).
    pub selector: Option<(String, String)>,
    /// Namespace.
    pub namespace: String,
    /// Job name.
    pub job: String,
    /// Seconds before the Job is stopped, pending pods included.
    pub deadline: u64,
    /// CPU request (a Kubernetes quantity).
    pub cpu: String,
    /// Memory request and limit (a Kubernetes quantity).
    pub memory: String,
    /// Options of `vmbench run` each pod runs with.
    pub run_args: Vec<String>,
}

impl Fleet {
    /// Checks every value before anything is written: names, quantities, and the run options,
    /// parsed as `vmbench run` would parse them in the pod.
    pub fn validate(&self) -> Result<(), UsageError> {
        let bad = |what: &str, value: &str, rule: &str| {
            Err(UsageError(format!("{what} {value:?}: {rule}")))
        };
        for (what, value) in [("--namespace", &self.namespace), ("--job", &self.job)] {
            if !is_dns_label(value, 50) {
                return bad(what, value, "use a DNS label: up to 50 lowercase letters, digits and '-', starting and ending with a letter or digit");
            }
        }
        if self.image.is_empty() || self.image.chars().any(char::is_whitespace) {
            return bad(
                "--image",
                &self.image,
                "give an image reference such as vmbench:local (see `vmbench image build`)",
            );
        }
        if let Some((key, value)) = &self.selector {
            if !is_label_key(key) || !(value.is_empty() || is_label_part(value)) {
                return bad(
                    "--selector",
                    &format!("{key}={value}"),
                    "use LABEL=VALUE with Kubernetes label syntax, e.g. kubernetes.io/arch=amd64",
                );
            }
        }
        if quantity_bytes(&self.memory).is_none() {
            return bad(
                "--memory",
                &self.memory,
                "use a Kubernetes quantity such as 4Gi or 4096Mi",
            );
        }
        if !is_cpu_quantity(&self.cpu) {
            return bad(
                "--cpus",
                &self.cpu,
                "use a Kubernetes CPU quantity such as 2 or 1500m",
            );
        }
        let mut argv = vec!["vmbench run".to_string()];
        argv.extend(self.run_args.iter().cloned());
        crate::cli::RunOnly::try_parse_from(argv).map_err(|e| {
            UsageError(format!(
                "the run options after -- would fail in every pod: {}",
                crate::cli::one_line(&e.to_string()).trim_start_matches("error: ")
            ))
        })?;
        Ok(())
    }

    /// The container's command: vmbench's node mode with the run options.
    pub fn command(&self) -> Vec<String> {
        let mut words = vec!["vmbench".to_string(), "fleet".into(), "node".into()];
        words.extend(self.run_args.iter().cloned());
        words
    }

    /// The manifests, as one multi-document YAML text.
    pub fn render(&self) -> Result<String, UsageError> {
        self.validate()?;
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // Every value is quoted explicitly with `tojson`; the comments take them as they are.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let fail = |e: minijinja::Error| UsageError(format!("manifest template: {e}"));
        env.add_template("fleet.yaml", TEMPLATE).map_err(fail)?;
        let ctx = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "image": self.image, "nodes": self.nodes, "namespace": self.namespace, "job": self.job,
            "deadline": self.deadline, "cpu": self.cpu, "memory": self.memory,
            "selector": self.selector.as_ref().map(|(k, v)| [k, v]),
            "command": self.command(),
        });
        env.get_template("fleet.yaml")
            .and_then(|t| t.render(ctx))
            .map_err(fail)
    }

    /// The `docker run` arguments (after `docker`) that start pod `index` of this fleet on
    /// this host as the pod spec does: privileged, the host's PID namespace, the host's
    /// cgroup tree at `/sys/fs/cgroup`, a fresh volume at `/var/tmp` (the pod's `emptyDir`),
    /// the memory limit, and the environment the downward API gives, with `node` as the node.
    ///
    /// `unavailable` lists the capabilities this host cannot grant (outside its bounding set):
    /// Docker refuses `--privileged` there, so the command spells out what it means (every
    /// capability but those, no seccomp or AppArmor profile, unmasked `/proc` and `/sys`,
    /// every device).
    pub fn docker_args(
        &self,
        node: &str,
        index: u32,
        unavailable: &[String],
    ) -> Result<Vec<String>, UsageError> {
        self.validate()?;
        let memory = quantity_bytes(&self.memory).expect("validated");
        let mut args: Vec<String> = vec!["run".into(), "--rm".into()];
        if unavailable.is_empty() {
            args.push("--privileged".into());
        } else {
            args.push("--cap-add=ALL".into());
            args.extend(unavailable.iter().map(|c| format!("--cap-drop={c}")));
            args.extend(
                [
                    "--security-opt=seccomp=unconfined",
                    "--security-opt=apparmor=unconfined",
                    "--security-opt=systempaths=unconfined",
                    "--device-cgroup-rule=a *:* rwm",
                ]
                .map(String::from),
            );
            for dev in ["/dev/kvm", "/dev/net/tun", "/dev/vhost-net"] {
                if std::path::Path::new(dev).exists() {
                    args.push(format!("--device={dev}"));
                }
            }
        }
        args.extend(
            [
                "--pid=host",
                "--volume=/sys/fs/cgroup:/sys/fs/cgroup",
                "--volume=/var/tmp",
                "--label=vmbench.dev/job",
            ]
            .map(String::from),
        );
        args.push(format!("--memory={memory}b"));
        for (k, v) in [
            ("VMBENCH_NODE", node.to_string()),
            ("VMBENCH_POD", format!("{}-{index}-docker", self.job)),
            ("VMBENCH_NAMESPACE", self.namespace.clone()),
            ("VMBENCH_IMAGE", self.image.clone()),
            ("JOB_COMPLETION_INDEX", index.to_string()),
        ] {
            args.push(format!("--env={k}={v}"));
        }
        let command = self.command();
        args.push(format!("--entrypoint={}", command[0]));
        args.push(self.image.clone());
        args.extend(command[1..].iter().cloned());
        Ok(args)
    }
}

/// Capabilities outside this process's bounding set, which no container started from here
/// can have (`CAP_SYS_RESOURCE` on some sandboxed hosts).
pub fn unavailable_caps() -> Vec<String> {
    let Ok(bounding) = caps::read(None, caps::CapSet::Bounding) else {
        return Vec::new();
    };
    let mut missing: Vec<String> = caps::runtime::thread_all_supported()
        .difference(&bounding)
        .map(|c| c.to_string())
        .collect();
    missing.sort();
    missing
}

/// Whether `s` is a DNS-1123 label of at most `max` characters.
fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A label name or value part: up to 63 alphanumerics, '-', '_' and '.', alphanumeric at
/// both ends.
fn is_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key: an optional DNS-subdomain prefix and '/', then a name part.
fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => {
            prefix.len() <= 253
                && prefix.split('.').all(|p| is_dns_label(p, 63))
                && is_label_part(name)
        }
        None => is_label_part(s),
    }
}

/// Bytes of a Kubernetes memory quantity (`4Gi`, `512M`, `1073741824`).
pub fn quantity_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let unit: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(unit).filter(|&b| b >= 64 << 20)
}

/// Whether `s` is a CPU quantity: whole or decimal CPUs, or millicores.
fn is_cpu_quantity(s: &str) -> bool {
    let number = s.strip_suffix('m').unwrap_or(s);
    let ok_digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let valid = match number.split_once('.') {
        Some((a, b)) => !s.ends_with('m') && ok_digits(a) && ok_digits(b),
        None => ok_digits(number),
    };
    valid && number.parse::<f64>().is_ok_and(|v| v > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet {
            image: "vmbench:local".into(),
            nodes: 3,
            selector: None,
            namespace: "vmbench".into(),
            job: "vmbench".into(),
            deadline: 7200,
            cpu: "2".into(),
            memory: "4Gi".into(),
            run_args: vec!["--env".into(), "native,container,vm".into()],
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_option() {
        type Spoil = fn(&mut Fleet);
        let cases: [(&str, Spoil); 6] = [
            ("--namespace", |f| f.namespace = "Bad_NS".into()),
            ("--image", |f| f.image = String::new()),
            ("--selector", |f| {
                f.selector = Some(("a b".into(), "x".into()))
            }),
            ("--memory", |f| f.memory = "lots".into()),
            ("--cpus", |f| f.cpu = "0".into()),
            ("run options", |f| {
                f.run_args = vec!["--env".into(), "mainframe".into()]
            }),
        ];
        for (what, spoil) in cases {
            let mut f = fleet();
            spoil(&mut f);
            let e = f.render().unwrap_err().0;
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn the_manifest_carries_the_values_and_one_pod_per_node() {
        let mut f = fleet();
        f.selector = Some(("kubernetes.io/arch".into(), "amd64".into()));
        let text = f.render().unwrap();
        assert_eq!(text.matches("\n---\n").count(), 3);
        for needle in [
            "completions: 3",
            "parallelism: 3",
            "completionMode: Indexed",
            "backoffLimit: 0",
            "activeDeadlineSeconds: 7200",
            "topologyKey: kubernetes.io/hostname",
            "hostPID: true",
            "privileged: true",
            "\"kubernetes.io/arch\": \"amd64\"",
            "- \"native,container,vm\"",
            "fieldPath: spec.nodeName",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
        assert!(!text.contains("limits:\n              cpu"));
    }

    #[test]
    fn the_docker_command_mirrors_the_pod() {
        let args = fleet().docker_args("host-1", 0, &[]).unwrap();
        for a in [
            "--privileged",
            "--pid=host",
            "--volume=/sys/fs/cgroup:/sys/fs/cgroup",
            "--env=VMBENCH_NODE=host-1",
            "--entrypoint=vmbench",
        ] {
            assert!(args.iter().any(|x| x == a), "{a}: {args:?}");
        }
        let image_at = args.iter().position(|x| x == "vmbench:local").unwrap();
        assert_eq!(
            args[image_at + 1..],
            ["fleet", "node", "--env", "native,container,vm"]
        );
        let spelled = fleet()
            .docker_args("host-1", 0, &["CAP_SYS_RESOURCE".into()])
            .unwrap();
        assert!(!spelled.iter().any(|x| x == "--privileged"));
        assert!(spelled.iter().any(|x| x == "--cap-drop=CAP_SYS_RESOURCE"));
        assert_eq!(quantity_bytes("4Gi"), Some(4 << 30));
        assert!(is_cpu_quantity("1500m") && is_cpu_quantity("0.5") && !is_cpu_quantity("1.5m"));
    }
}
