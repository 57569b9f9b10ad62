//! The isolation spectrum: every environment of a run placed by where its workload's system
//! calls go (the host kernel directly, the host kernel behind namespaces, a kernel in user
//! space, a guest kernel), with what each step costs: startup, a system call, host CPU to
//! start and stop an instance, memory per instance, and the kernel the instance reports.

pub use crate::ids::Tier;
use crate::ids::{EnvKind, MemoryAccounting};
use crate::results::{Results, Trial};
use serde::Serialize;
use std::collections::BTreeMap;
use vmbench_workload::Workload;

/// One environment on the spectrum.
#[derive(Debug, Clone, Serialize)]
pub struct SpectrumRow {
    /// The environment.
    pub env: EnvKind,
    /// Where its system calls go.
    pub tier: Tier,
    /// The kernel release the instance reports (`uname -r` inside).
    pub kernel: Option<String>,
    /// Median startup, launch to ready, milliseconds.
    pub startup_ms: Option<f64>,
    /// Median cost of one system call (the syscall workload), nanoseconds.
    pub syscall_ns: Option<f64>,
    /// Median host CPU one noop instance used, start to end (every process of the instance:
    /// runtime, sandbox, QEMU), milliseconds.
    pub cpu_ms_per_instance: Option<f64>,
    /// Median peak host memory of one instance running the syscall workload (else any),
    /// bytes: see [`instance_memory`].
    pub memory_bytes: Option<u64>,
}

/// The peak host memory of one sampled instance: the sampled process (the workload, gVisor's
/// runtime, QEMU) plus the cgroup's charge when that process is outside the cgroup (gVisor's
/// sandbox); the larger of the two when it is inside (every other container's workload); plus
/// the launcher beside it, where vmbench started one (an OCI runtime, an engine's client).
/// None without samples: `wait4`'s peak of a process started by vfork is the harness's own.
pub fn instance_memory(t: &Trial) -> Option<u64> {
    if !t.memory_sampled() {
        return None;
    }
    let process = t
        .summary
        .as_ref()
        .map(|s| s.peak_rss_bytes)
        .filter(|&b| b > 0)?;
    let cgroup = t
        .cgroup
        .as_ref()
        .and_then(|c| c.memory_peak_bytes)
        .or(t.summary.as_ref().and_then(|s| s.peak_cgroup_memory_bytes))
        .unwrap_or(0);
    let launcher = t
        .summary
        .as_ref()
        .and_then(|s| s.peak_launcher_rss_bytes)
        .unwrap_or(0);
    Some(match t.env.memory_accounting() {
        MemoryAccounting::ProcessInCgroup | MemoryAccounting::WorkloadBesideLauncher => {
            process.max(cgroup) + launcher
        }
        MemoryAccounting::Process | MemoryAccounting::ProcessBesideCgroup => process + cgroup,
    })
}

/// The spectrum of a run, ordered from least to most isolated (run order within a tier),
/// given each environment's median startup (ms) and median syscall cost (ns).
pub fn rows(
    results: &Results,
    envs: &[EnvKind],
    startup_ms: &BTreeMap<EnvKind, f64>,
    syscall_ns: &BTreeMap<EnvKind, f64>,
) -> Vec<SpectrumRow> {
    let mut rows: Vec<SpectrumRow> = envs
        .iter()
        .filter(|&&e| results.succeeded(e).next().is_some())
        .map(|&env| {
            let ok = || results.succeeded(env);
            let cpu: Vec<f64> = ok()
                .filter(|t| t.workload == Workload::Noop)
                .filter_map(|t| Some(t.noise.as_ref()?.own_cpu_ns as f64 / 1e6))
                .collect();
            // The syscall workload holds almost nothing itself and runs long enough to be
            // sampled everywhere; a noop may end before the first sample.
            let memory_of = |w: Option<Workload>| -> Vec<f64> {
                ok().filter(|t| w.is_none_or(|w| t.workload == w))
                    .filter_map(|t| Some(instance_memory(t)? as f64))
                    .collect()
            };
            let mut mem = memory_of(Some(Workload::Syscall));
            if mem.is_empty() {
                mem = memory_of(None);
            }
            SpectrumRow {
                env,
                tier: env.tier(),
                kernel: ok().find_map(|t| Some(t.guest_view.as_ref()?.kernel.clone())),
                startup_ms: startup_ms.get(&env).copied(),
                syscall_ns: syscall_ns.get(&env).copied(),
                cpu_ms_per_instance: crate::stats::median(&cpu),
                memory_bytes: crate::stats::median(&mem).map(|m| m as u64),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.tier);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::RunView;
    use vmbench_workload::Size;

    /// Results with native, the builtin container, gVisor and a TCG VM, each reporting its
    /// kernel and a syscall cost.
    fn spectrum_results() -> Results {
        let mut r = crate::results::tests::sample_results();
        let template = r.trials[0].clone();
        r.trials.clear();
        let envs = [
            (EnvKind::VmTcg, "6.1.0-guest", 900.0),
            (EnvKind::ContainerGvisor, "4.4.0", 18000.0),
            (EnvKind::Container, "6.18-host", 180.0),
            (EnvKind::Native, "6.18-host", 175.0),
        ];
        for rep in 0..3 {
            for (env, kernel, ns) in envs {
                let mut t = template.clone();
                t.env = env;
                t.rep = rep;
                t.metrics[0].value = ns + rep as f64;
                t.guest_view.as_mut().unwrap().kernel = kernel.into();
                r.trials.push(t);
            }
        }
        r.config.envs = envs.iter().map(|e| e.0).collect();
        r
    }

    #[test]
    fn the_spectrum_orders_environments_by_who_answers_system_calls() {
        let view = RunView::build("r", &spectrum_results(), None, 0.03);
        let order: Vec<EnvKind> = view.spectrum.iter().map(|r| r.env).collect();
        assert_eq!(
            order,
            [
                EnvKind::Native,
                EnvKind::Container,
                EnvKind::ContainerGvisor,
                EnvKind::VmTcg
            ]
        );
        let gvisor = &view.spectrum[2];
        assert_eq!(gvisor.kernel.as_deref(), Some("4.4.0"));
        assert_eq!(gvisor.syscall_ns, Some(18001.0));
        assert_eq!(gvisor.tier, Tier::UserSpaceKernel);
        let runs = vec![("r".to_string(), spectrum_results())];
        let report = crate::report::model::Report::build(&runs, None, 0.03);
        let html = crate::report::export::Exporter::render(
            &crate::report::html::Html,
            &report,
            crate::report::lang::Lang::Ko,
        )
        .unwrap();
        assert!(html.contains("격리의 스펙트럼") && html.contains("user-space kernel"));
        assert!(html.contains("<svg"), "the picture is drawn");
    }

    #[test]
    fn a_baseline_at_another_size_is_not_compared() {
        let now = spectrum_results();
        let mut old = spectrum_results();
        old.config.size = Size::Small;
        let view = RunView::build("r", &now, Some(&old), 0.03);
        let w = &view.workloads[0];
        assert!(w.rows.iter().all(|r| r.baseline.is_none()));
        let note = w.baseline_note.as_deref().unwrap();
        assert!(note.contains("size small, this run default"), "{note}");
        let same = RunView::build("r", &now, Some(&spectrum_results()), 0.03);
        assert!(same.workloads[0].rows.iter().all(|r| r.baseline.is_some()));
        assert!(same.workloads[0].baseline_note.is_none());
    }

    #[test]
    fn gvisor_sits_between_containers_and_vms() {
        let tiers: Vec<Tier> = EnvKind::ALL.iter().map(|k| k.tier()).collect();
        assert_eq!(EnvKind::Native.tier(), Tier::Native);
        assert_eq!(EnvKind::ContainerDocker.tier(), Tier::Namespaces);
        assert_eq!(EnvKind::ContainerGvisor.tier(), Tier::UserSpaceKernel);
        assert_eq!(EnvKind::VmTcg.tier(), Tier::GuestKernel);
        assert!(
            Tier::Namespaces < Tier::UserSpaceKernel && Tier::UserSpaceKernel < Tier::GuestKernel
        );
        assert_eq!(tiers.len(), EnvKind::ALL.len());
    }
}
