//! CPU pinning: the workload gets the CPUs asked for; the harness moves to the others so its
//! reader threads do not compete with the workload (where there are CPUs to spare).

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// Moves the harness to the CPUs it may use that are not in `workload_cpus`.
/// Returns false when no CPU is left over (the harness then shares).
pub fn move_harness_off(workload_cpus: &[usize]) -> bool {
    let Ok(current) = sched_getaffinity(Pid::from_raw(0)) else {
        return false;
    };
    let mut rest = CpuSet::new();
    let mut any = false;
    for cpu in 0..CpuSet::count() {
        if current.is_set(cpu).unwrap_or(false) && !workload_cpus.contains(&cpu) {
            let _ = rest.set(cpu);
            any = true;
        }
    }
    any && sched_setaffinity(Pid::from_raw(0), &rest).is_ok()
}
