//! `vmbench fleet collect`: waits for a fleet Job through the cluster's API (kubectl), fetches
//! each pod's log, takes the results block out of it, checks it, and saves it as
//! `DIR/<node>.json`; every pod that failed, never started or is missing is named with the
//! reason the API gives.

use super::transport;
use crate::results::Results;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Longest a single kubectl call may take.
const CALL_LIMIT: Duration = Duration::from_secs(120);

/// Why collecting could not even start or go on.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// kubectl is not there.
    #[error("kubectl not found ({0}): install it (Debian: apt-get install kubernetes-client) or pass --kubectl PATH")]
    NoKubectl(String),
    /// A kubectl call failed.
    #[error("kubectl {what}: {detail}")]
    Kubectl {
        /// The call.
        what: String,
        /// Its last error line.
        detail: String,
    },
    /// The API answered something that is not the object asked for.
    #[error("kubectl {what}: unexpected answer: {detail}")]
    Answer {
        /// The call.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The user interrupted the wait.
    #[error("interrupted while waiting for job {0}; nothing was collected")]
    Interrupted(String),
    /// The output folder could not be made.
    #[error("cannot create {0}: {1}")]
    Folder(PathBuf, std::io::Error),
}

/// Where and how to collect.
#[derive(Debug, Clone)]
pub struct Request {
    /// kubectl program.
    pub kubectl: PathBuf,
    /// Namespace of the Job.
    pub namespace: String,
    /// Job name.
    pub job: String,
    /// Folder the results go into.
    pub out: PathBuf,
    /// How long to wait for the Job to finish.
    pub timeout: Duration,
    /// How often to ask.
    pub interval: Duration,
}

/// What became of one completion index.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Its results were saved.
    Saved {
        /// The node.
        node: String,
        /// The file written.
        path: PathBuf,
        /// Measured trials in it.
        trials: usize,
        /// Why the pod failed although its results were complete enough to save.
        pod_failed: Option<String>,
    },
    /// Nothing saved, and why.
    Lost(String),
}

/// The collection's summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// One outcome per completion index, in index order.
    pub outcomes: Vec<Outcome>,
    /// The wait ended at the timeout, with the Job still running.
    pub timed_out: bool,
    /// The Job's own failure condition, when it failed.
    pub job_failure: Option<String>,
}

impl Collected {
    /// Whether every pod's results were saved and nothing failed.
    pub fn all_good(&self) -> bool {
        !self.timed_out
            && self.job_failure.is_none()
            && self.outcomes.iter().all(|o| {
                matches!(
                    o,
                    Outcome::Saved {
                        pod_failed: None,
                        ..
                    }
                )
            })
    }

    /// One line per problem.
    pub fn problems(&self, request: &Request) -> Vec<String> {
        let mut lines = Vec::new();
        if self.timed_out {
            let done = self
                .outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Saved { .. }))
                .count();
            lines.push(format!(
                "timed out after {} waiting for job {}/{}: {done} of {} pod(s) finished; wait longer with --timeout",
                crate::report::format::seconds(request.timeout.as_secs_f64()),
                request.namespace,
                request.job,
                self.outcomes.len()
            ));
        }
        if let Some(why) = &self.job_failure {
            lines.push(format!(
                "job {}/{} failed: {why}",
                request.namespace, request.job
            ));
        }
        for o in &self.outcomes {
            match o {
                Outcome::Saved {
                    pod_failed: Some(why),
                    ..
                } => lines.push(why.clone()),
                Outcome::Lost(why) => lines.push(why.clone()),
                Outcome::Saved { .. } => {}
            }
        }
        lines
    }
}

/// kubectl in one namespace.
struct Kubectl<'a>(&'a Request);

impl Kubectl<'_> {
    fn call(&self, args: &[&str]) -> Result<String, CollectError> {
        let what = args.join(" ");
        let mut cmd = Command::new(&self.0.kubectl);
        cmd.arg("--namespace").arg(&self.0.namespace).args(args);
        crate::tool::run_within(&mut cmd, &format!("kubectl {what}"), Some(CALL_LIMIT)).map_err(
            |e| match e {
                crate::tool::ToolError::Start { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    CollectError::NoKubectl(self.0.kubectl.display().to_string())
                }
                crate::tool::ToolError::Failed { detail, .. } => {
                    CollectError::Kubectl { what, detail }
                }
                other => CollectError::Kubectl {
                    what,
                    detail: other.to_string(),
                },
            },
        )
    }

    fn json(&self, args: &[&str], kind: &str) -> Result<Value, CollectError> {
        let text = self.call(args)?;
        let value: Value = serde_json::from_str(&text).map_err(|e| CollectError::Answer {
            what: args.join(" "),
            detail: format!("not JSON ({e})"),
        })?;
        if value["kind"] != kind {
            return Err(CollectError::Answer {
                what: args.join(" "),
                detail: format!("kind {} where {kind} was asked for", value["kind"]),
            });
        }
        Ok(value)
    }
}

/// The Job's state: (completions, finished, failure reason).
fn job_state(job: &Value) -> (u32, bool, Option<String>) {
    let completions = job["spec"]["completions"].as_u64().unwrap_or(1) as u32;
    let mut finished = false;
    let mut failure = None;
    for c in job["status"]["conditions"].as_array().into_iter().flatten() {
        if c["status"] != "True" {
            continue;
        }
        match c["type"].as_str() {
            Some("Complete") => finished = true,
            Some("Failed") => {
                finished = true;
                failure = Some(reason_text(&c["reason"], &c["message"]));
            }
            _ => {}
        }
    }
    (completions, finished, failure)
}

/// "Reason: message", or whichever is there.
fn reason_text(reason: &Value, message: &Value) -> String {
    match (reason.as_str(), message.as_str()) {
        (Some(r), Some(m)) if !m.is_empty() => format!("{r}: {m}"),
        (Some(r), _) => r.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => "no reason given".to_string(),
    }
}

/// Why a pod is not running or did not succeed, in the API's words.
fn pod_reason(pod: &Value) -> String {
    let status = &pod["status"];
    let container = status["containerStatuses"]
        .as_array()
        .and_then(|c| c.first())
        .map(|c| &c["state"]);
    if let Some(state) = container {
        let t = &state["terminated"];
        if t.is_object() {
            let code = t["exitCode"].as_i64().unwrap_or(-1);
            return format!(
                "exit code {code}, {}",
                reason_text(&t["reason"], &t["message"])
            );
        }
        if state["waiting"].is_object() {
            return reason_text(&state["waiting"]["reason"], &state["waiting"]["message"]);
        }
    }
    if status["reason"].is_string() {
        return reason_text(&status["reason"], &status["message"]);
    }
    let unscheduled = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False");
    match unscheduled {
        Some(c) => reason_text(&c["reason"], &c["message"]),
        None => "no reason given".to_string(),
    }
}

/// The pods of the Job by completion index (the newest where there are several).
fn pods_by_index(pods: &Value, completions: u32) -> Vec<Option<&Value>> {
    let mut by_index: Vec<Option<&Value>> = vec![None; completions as usize];
    for pod in pods["items"].as_array().into_iter().flatten() {
        let index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            .as_str()
            .or_else(|| {
                pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"].as_str()
            })
            .and_then(|i| i.parse::<usize>().ok());
        let Some(slot) = index.and_then(|i| by_index.get_mut(i)) else {
            continue;
        };
        let created = |p: &Value| {
            p["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        if slot.is_none_or(|old| created(old) <= created(pod)) {
            *slot = Some(pod);
        }
    }
    by_index
}

/// Waits for the Job, then saves each pod's results.
pub fn collect(request: &Request) -> Result<Collected, CollectError> {
    let kubectl = Kubectl(request);
    let job_args = ["get", "job", request.job.as_str(), "--output=json"];
    let deadline = Instant::now() + request.timeout;
    let (completions, timed_out, job_failure) = loop {
        let job = kubectl.json(&job_args, "Job")?;
        let (completions, finished, failure) = job_state(&job);
        if finished {
            break (completions, false, failure);
        }
        if crate::interrupt::interrupted() {
            return Err(CollectError::Interrupted(format!(
                "{}/{}",
                request.namespace, request.job
            )));
        }
        if Instant::now() >= deadline {
            break (completions, true, None);
        }
        std::thread::sleep(
            request
                .interval
                .min(deadline.saturating_duration_since(Instant::now())),
        );
    };
    std::fs::create_dir_all(&request.out)
        .map_err(|e| CollectError::Folder(request.out.clone(), e))?;
    let selector = format!("--selector=job-name={}", request.job);
    let pods = kubectl.json(&["get", "pods", &selector, "--output=json"], "List")?;
    let mut taken: Vec<String> = Vec::new();
    let outcomes = pods_by_index(&pods, completions)
        .into_iter()
        .enumerate()
        .map(|(i, pod)| match pod {
            None => Outcome::Lost(format!(
                "index {i}: no pod (the Job created none{})",
                job_failure
                    .as_ref()
                    .map(|f| format!(" before it failed: {f}"))
                    .unwrap_or_default()
            )),
            Some(pod) => save_pod(&kubectl, request, i, pod, &mut taken),
        })
        .collect();
    Ok(Collected {
        outcomes,
        timed_out,
        job_failure,
    })
}

/// Fetches one finished pod's log and saves its results.
fn save_pod(
    kubectl: &Kubectl,
    request: &Request,
    index: usize,
    pod: &Value,
    taken: &mut Vec<String>,
) -> Outcome {
    let name = pod["metadata"]["name"].as_str().unwrap_or("?");
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    let phase = pod["status"]["phase"].as_str().unwrap_or("Unknown");
    let on = if node.is_empty() {
        "not scheduled".to_string()
    } else {
        format!("on {node}")
    };
    let lost = |why: String| Outcome::Lost(format!("pod {name} (index {index}, {on}): {why}"));
    if !matches!(phase, "Succeeded" | "Failed") {
        return lost(format!("still {phase}: {}", pod_reason(pod)));
    }
    let failed = (phase == "Failed").then(|| {
        format!(
            "pod {name} (index {index}, {on}) failed: {}",
            pod_reason(pod)
        )
    });
    if let Err(e) = super::check_node_name(node) {
        return lost(e.to_string());
    }
    let log = match kubectl.call(&["logs", name, "--container=vmbench"]) {
        Ok(log) => log,
        Err(e) => {
            return lost(format!(
                "{}{e}",
                failed
                    .as_ref()
                    .map(|f| format!("{f}; "))
                    .unwrap_or_default()
            ))
        }
    };
    let block = match transport::decode(&log) {
        Ok(block) => block,
        Err(e) => {
            return lost(match &failed {
                Some(f) => format!("{f}; {e}"),
                None => e.to_string(),
            })
        }
    };
    if block.node != node {
        return lost(format!(
            "its results say node {} where the API says {node}",
            block.node
        ));
    }
    let file = unique_name(node, index, taken);
    let path = request.out.join(&file);
    let results = match Results::from_bytes(&path, &block.json) {
        Ok(r) => r,
        Err(e) => {
            return lost(format!(
                "its results do not load: {}",
                crate::error_chain(&e)
            ))
        }
    };
    if let Err(e) = crate::atomic::write(&path, |w| w.write_all(&block.json)) {
        return lost(crate::error_chain(&e));
    }
    Outcome::Saved {
        node: node.to_string(),
        path,
        trials: results.measured().count(),
        pod_failed: failed,
    }
}

/// `<node>.json`, or `<node>.<index>.json` when two pods ran on one node.
fn unique_name(node: &str, index: usize, taken: &mut Vec<String>) -> String {
    let name = if taken.iter().any(|t| t == node) {
        format!("{node}.{index}.json")
    } else {
        format!("{node}.json")
    };
    taken.push(node.to_string());
    name
}

/// The files saved, for `compare`.
pub fn saved_files(collected: &Collected) -> Vec<&Path> {
    collected
        .outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Saved { path, .. } => Some(path.as_path()),
            Outcome::Lost(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_conditions_and_pod_reasons_are_read_as_the_api_writes_them() {
        let job = json!({"spec": {"completions": 3}, "status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}});
        let (n, finished, failure) = job_state(&job);
        assert_eq!((n, finished), (3, true));
        assert_eq!(
            failure.unwrap(),
            "DeadlineExceeded: Job was active longer than specified deadline"
        );
        let oom = json!({"status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}});
        assert_eq!(pod_reason(&oom), "exit code 137, OOMKilled");
        let pending = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available"}]}});
        assert_eq!(
            pod_reason(&pending),
            "Unschedulable: 0/2 nodes are available"
        );
    }

    #[test]
    fn the_newest_pod_of_an_index_counts_and_strays_are_ignored() {
        let pod = |name: &str, index: &str, at: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": at,
            "annotations": {"batch.kubernetes.io/job-completion-index": index}}})
        };
        let pods = json!({"items": [pod("a", "0", "2026-01-01T00:00:00Z"), pod("b", "0", "2026-01-01T00:01:00Z"), pod("c", "7", "2026-01-01T00:00:00Z")]});
        let by = pods_by_index(&pods, 2);
        assert_eq!(by[0].unwrap()["metadata"]["name"], "b");
        assert!(by[1].is_none());
        let mut taken = Vec::new();
        assert_eq!(unique_name("n", 0, &mut taken), "n.json");
        assert_eq!(unique_name("n", 1, &mut taken), "n.1.json");
    }
}
