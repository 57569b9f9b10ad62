//! What each instance sees: the workload's own view of its environment (`guest_view`), one
//! column per environment, so a reader can see the container's kernel is the host's and the
//! VM's is its own, and what a container's namespaces and cgroups leave visible.

use super::lang::Lang;
use crate::ids::EnvKind;
use crate::results::Results;
use serde::Serialize;
use vmbench_workload::{GuestView, Workload};

/// One environment's view, as the workload reported it when it started.
#[derive(Debug, Clone, Serialize)]
pub struct SeenView {
    /// The environment.
    pub env: EnvKind,
    /// What the workload saw.
    pub view: GuestView,
    /// The uid its process had on the host (QEMU's, for a VM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_uid: Option<u32>,
}

/// One row of the table: what is seen, then one cell per environment.
#[derive(Debug, Clone, Serialize)]
pub struct SeenRow {
    /// What the row shows.
    pub what: &'static str,
    /// A cell per environment, in the order of the views.
    pub cells: Vec<String>,
}

/// Each environment's view from its first successful measured trial (a noop where there is
/// one: it starts with nothing else running).
pub fn views(results: &Results, envs: &[EnvKind]) -> Vec<SeenView> {
    envs.iter()
        .filter_map(|&env| {
            let ok = || results.succeeded(env);
            let trial = ok()
                .find(|t| t.workload == Workload::Noop)
                .or_else(|| ok().next())?;
            Some(SeenView {
                env,
                view: trial.guest_view.clone()?,
                // A short trial may end before an engine names its workload's pid.
                host_uid: trial.host_uid.or_else(|| ok().find_map(|t| t.host_uid)),
            })
        })
        .collect()
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1048576.0)
}

/// The table's rows, named in the report's language.
pub fn rows(views: &[SeenView], lang: Lang) -> Vec<SeenRow> {
    let row = |names: [&'static str; 2], cell: &dyn Fn(&GuestView) -> String| SeenRow {
        what: match lang {
            Lang::En => names[0],
            Lang::Ko => names[1],
        },
        cells: views.iter().map(|v| cell(&v.view)).collect(),
    };
    let none = || "—".to_string();
    let root = |v: &GuestView| {
        if v.root_entries.is_empty() {
            return none();
        }
        let shown: Vec<&str> = v.root_entries.iter().take(12).map(String::as_str).collect();
        let more = v.root_entries.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" … (+{more})")
        } else {
            String::new()
        };
        format!("{}{tail}", shown.join(" "))
    };
    let mut rows = vec![
        row(
            ["kernel release (uname -r)", "커널 릴리스 (uname -r)"],
            &|v| v.kernel.clone(),
        ),
        row(["its own PID", "자기 PID"], &|v| v.pid.to_string()),
        row(["hostname", "호스트 이름"], &|v| v.hostname.clone()),
        row(["CPUs it may use", "쓸 수 있는 CPU"], &|v| {
            v.cpus.to_string()
        }),
        row(
            ["memory it sees (MemTotal)", "보이는 메모리 (MemTotal)"],
            &|v| mib(v.mem_total_bytes),
        ),
        row(
            ["memory limit (its cgroup)", "메모리 한도 (자기 cgroup)"],
            &|v| v.limits.memory_max_bytes.map_or_else(none, mib),
        ),
        row(
            ["CPU limit (its cgroup)", "CPU 한도 (자기 cgroup)"],
            &|v| v.limits.cpu_max.clone().unwrap_or_else(none),
        ),
        row(
            [
                "process limit (its cgroup)",
                "프로세스 수 한도 (자기 cgroup)",
            ],
            &|v| v.limits.pids_max.map_or_else(none, |p| p.to_string()),
        ),
        row(
            ["network interfaces", "네트워크 인터페이스"],
            &|v| {
                if v.net_interfaces.is_empty() {
                    none()
                } else {
                    v.net_interfaces.join(" ")
                }
            },
        ),
        row(
            ["processes it can see", "보이는 프로세스 수"],
            &|v| v.processes_visible.map_or_else(none, |p| p.to_string()),
        ),
        row(["entries of /", "/ 의 항목"], &root),
    ];
    rows.splice(2..2, uid_rows(views, lang));
    rows
}

/// The uid the workload believes it has and the uid it is on the host; none for runs recorded
/// before the uids were (no rows of dashes).
fn uid_rows(views: &[SeenView], lang: Lang) -> Vec<SeenRow> {
    if !views
        .iter()
        .any(|v| v.view.uid.is_some() || v.host_uid.is_some())
    {
        return Vec::new();
    }
    let uid = |u: Option<u32>| u.map_or_else(|| "—".to_string(), |u| u.to_string());
    vec![
        SeenRow {
            what: lang.pick("the uid it believes it has", "스스로 보는 uid"),
            cells: views.iter().map(|v| uid(v.view.uid)).collect(),
        },
        SeenRow {
            what: lang.pick(
                "its uid on the host (QEMU's for a VM)",
                "호스트에서의 실제 uid (VM은 QEMU의 uid)",
            ),
            cells: views.iter().map(|v| uid(v.host_uid)).collect(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_per_environment_from_its_noop() {
        let mut r = crate::results::tests::sample_results();
        let mut noop = r.trials[0].clone();
        noop.workload = Workload::Noop;
        noop.env = EnvKind::Container;
        let v = noop.guest_view.as_mut().unwrap();
        v.kernel = "6.1-host".into();
        v.pid = 1;
        v.net_interfaces = vec!["lo".into()];
        v.limits.memory_max_bytes = Some(512 << 20);
        v.root_entries = (0..15).map(|i| format!("e{i:02}")).collect();
        r.trials.push(noop);
        let views = views(&r, &[EnvKind::Native, EnvKind::Container]);
        assert_eq!(views.len(), 2);
        let rows = rows(&views, Lang::En);
        let cell = |what: &str| {
            rows.iter()
                .find(|r| r.what.starts_with(what))
                .unwrap()
                .cells
                .clone()
        };
        assert_eq!(cell("kernel")[1], "6.1-host");
        assert_eq!(cell("its own PID")[1], "1");
        assert_eq!(cell("memory limit"), vec!["—", "512 MiB"]);
        assert_eq!(cell("network")[1], "lo");
        assert!(
            cell("entries")[1].ends_with("… (+3)"),
            "{:?}",
            cell("entries")
        );
        assert!(
            !rows.iter().any(|r| r.what.contains("uid")),
            "no uid rows for a run that recorded none"
        );
    }

    #[test]
    fn root_inside_and_the_user_outside_sit_side_by_side() {
        let mut r = crate::results::tests::sample_results();
        r.trials[0].guest_view.as_mut().unwrap().uid = Some(1001);
        r.trials[0].host_uid = Some(1001);
        let mut rootless = r.trials[0].clone();
        rootless.env = EnvKind::ContainerRootless;
        rootless.guest_view.as_mut().unwrap().uid = Some(0);
        r.trials.push(rootless);
        let views = views(&r, &[EnvKind::Native, EnvKind::ContainerRootless]);
        let rows = rows(&views, Lang::En);
        let cells = |what: &str| {
            &rows
                .iter()
                .find(|r| r.what.starts_with(what))
                .unwrap()
                .cells
        };
        assert_eq!(cells("the uid it believes"), &["1001", "0"]);
        assert_eq!(cells("its uid on the host"), &["1001", "1001"]);
    }
}
