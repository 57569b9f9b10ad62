//! One guest instance: QEMU started with the guest's command line (or waiting for the
//! snapshot's state, then resumed and sent its plan on the console), its console watched, the
//! guest's own phases placed on the host's timeline.

use super::{guest_nics, qemu, qemu_config, snapshot, snapshot_args, VmSettings};
use crate::collector::Target;
use crate::env::process::{self, Instance, Program, Started};
use crate::env::{Accel, EnvError, Outcome, Spec};
use crate::ids::Phase;
use std::path::PathBuf;
use std::time::Duration;
use vmbench_workload::agent::Plan;

/// One guest: booted, or restored from the run's snapshot.
pub(super) struct VmInstance<'a> {
    vm: &'a VmSettings,
    accel: Accel,
    io_path: Option<String>,
    snapshot: Option<&'a snapshot::Snapshot>,
    /// A restore under way: its socket, the console's write end and the plan to send.
    restore: Option<(snapshot::Restore, std::fs::File, String, Duration)>,
}

impl<'a> VmInstance<'a> {
    /// An instance of the prepared guest, restoring `snapshot` when given.
    pub(super) fn new(
        vm: &'a VmSettings,
        accel: Accel,
        snapshot: Option<&'a snapshot::Snapshot>,
    ) -> VmInstance<'a> {
        VmInstance {
            vm,
            accel,
            io_path: None,
            snapshot,
            restore: None,
        }
    }
}

/// A started QEMU: its threads' CPU clock sampled (a perf read per thread would cost an
/// interrupt each), its console on `output`.
fn qemu_started(spawned: process::Spawned, output: std::os::fd::OwnedFd) -> Started {
    let target = Target {
        cheap_cpu: true,
        ..Target::process(spawned.pid.as_raw())
    };
    Started::from_spawned(spawned, output.into(), target, true, Phase::QemuExec)
}

/// Restores numbered in this process, for their socket names.
static RESTORES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl VmInstance<'_> {
    /// Starts QEMU waiting for the snapshot's state, with a pipe on its console input.
    fn start_restore(
        &mut self,
        spec: &Spec,
        snap: &snapshot::Snapshot,
    ) -> Result<Started, EnvError> {
        let vm = self.vm;
        if spec.invocation.workload.needs_data_dir() {
            return Err(EnvError::Refused(format!(
                "a snapshot guest has no data disk, so {} runs only in vm-{}",
                spec.invocation.workload,
                self.accel.name()
            )));
        }
        let cpus = spec.cpus.map_or(1, <[usize]>::len);
        let mut args = snapshot_args(vm, self.accel, cpus, spec.memory_mib);
        // The QEMU version was checked when the snapshot was prepared: no `--version` per trial.
        if snapshot::key(&args, &snap.record.qemu_version) != snap.record.key {
            return Err(EnvError::Refused(
                "the snapshot was saved for another guest configuration (memory, CPUs or QEMU)"
                    .into(),
            ));
        }
        let n = RESTORES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let restore = snapshot::Restore::new(spec.data_dir, n);
        args.extend(restore.args());
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/tmp".into();
        let seed: [u8; 32] = rand::random();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let plan = Plan {
            args: invocation.to_args(),
            seed: Some(seed.iter().map(|b| format!("{b:02x}")).collect()),
            time_ns: Some(now.as_nanos() as u64),
            ..Plan::default()
        };
        self.io_path = Some("guest tmpfs (no disk attached)".into());
        let (input_read, input_write) = process::pipe()?;
        let exe = vm.qemu.display().to_string();
        let (output, output_write) = process::pipe()?;
        let spawned = process::spawn(
            Program {
                input: Some(std::os::fd::AsRawFd::as_raw_fd(&input_read)),
                ..Program::host(&exe, &args, spec.cpus)
            },
            output_write,
        )?;
        drop(input_read);
        self.restore = Some((
            restore,
            std::fs::File::from(input_write),
            plan.to_cmdline(),
            spec.timeout,
        ));
        Ok(qemu_started(spawned, output))
    }
}

impl Instance for VmInstance<'_> {
    fn image_files(&self) -> Vec<PathBuf> {
        vec![self.vm.kernel.image.clone(), self.vm.initramfs.clone()]
    }

    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
        if let Some(snap) = self.snapshot {
            return self.start_restore(spec, snap);
        }
        let vm = self.vm;
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = "/tmp".into();
        let disk = vm
            .disk
            .as_ref()
            .filter(|_| spec.invocation.workload.needs_data_dir());
        let net = spec.net.and_then(|w| w.vm.as_ref());
        let plan = Plan {
            args: invocation.to_args(),
            disk: disk.map(|_| "/dev/vda".to_string()),
            nics: net.map(guest_nics).unwrap_or_default(),
            ..Plan::default()
        };
        let config = qemu_config(
            vm,
            self.accel,
            spec.cpus.map_or(1, <[usize]>::len),
            spec.memory_mib,
            &plan,
            disk.map(|d| d.as_ref()),
            net,
        );
        let cache = if vm.disk_direct { "none" } else { "writeback" };
        self.io_path = Some(match disk {
            Some(_) => format!(
                "virtio-blk ({}) + guest ext4, host image on {} with cache={cache}",
                vm.machine.name(),
                crate::env::filesystem_of(spec.data_dir),
            ),
            None => "guest tmpfs (no disk attached)".into(),
        });
        let exe = vm.qemu.display().to_string();
        let (output, output_write) = process::pipe()?;
        let args = qemu::args(&config);
        let spawned = process::spawn(Program::host(&exe, &args, spec.cpus), output_write)?;
        Ok(qemu_started(spawned, output))
    }

    fn after_start(&mut self, started: &Started, outcome: &mut Outcome) -> Result<(), EnvError> {
        let Some((restore, console, plan, timeout)) = self.restore.as_mut() else {
            return Ok(());
        };
        let state = &self.snapshot.expect("restoring").state;
        let deadline = started.t0 + *timeout;
        let (migrated, resumed) = restore
            .resume(state, started.t0, deadline)
            .map_err(EnvError::Restore)?;
        outcome
            .phases
            .insert(Phase::MigrationCompleted, migrated.as_nanos() as u64);
        outcome
            .phases
            .insert(Phase::Resumed, resumed.as_nanos() as u64);
        use std::io::Write;
        writeln!(console, "{plan}").map_err(|source| EnvError::Sys {
            what: "send the plan on the guest's console".into(),
            source: nix::errno::Errno::from_raw(source.raw_os_error().unwrap_or(libc::EIO)),
        })?;
        outcome
            .phases
            .insert(Phase::PlanSent, started.t0.elapsed().as_nanos() as u64);
        Ok(())
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), EnvError> {
        self.restore = None;
        outcome.io_path = self.io_path.take();
        // The guest kernel says so on its console when it runs out of memory or panics (its
        // messages of that level pass `quiet`).
        outcome.exit.oom = outcome.observed.out_of_memory;
        if let Some(why) = outcome.observed.kernel_panic.clone() {
            outcome
                .observed
                .errors
                .push(format!("the guest kernel panicked: {why}"));
        }
        // Guest phases on the host's timeline, estimated from the guest's own clock: the guest
        // kernel started `uptime` before `ready` arrived, `/init` `init_uptime_s` after it.
        // The two clocks differ, so each estimate is held between the phases the host saw
        // (QEMU's exec and the first console byte; the first byte and `ready`), in order.
        if let Some((ready_at, view)) = &outcome.observed.ready {
            let phases = guest_phases(
                outcome.phases.get(&Phase::QemuExec).copied().unwrap_or(0),
                outcome.phases.get(&Phase::FirstOutput).copied(),
                ready_at.as_nanos() as u64,
                view,
            );
            outcome.phases.extend(phases);
        }
        Ok(())
    }
}

/// The guest kernel's start and `/init`'s start on the host's timeline (ns since launch),
/// from the guest clock, each clamped between the host-seen phases around it. None for a
/// restored guest: its clock ran before this launch.
fn guest_phases(
    qemu_exec: u64,
    first_output: Option<u64>,
    ready: u64,
    view: &vmbench_workload::GuestView,
) -> Vec<(crate::ids::Phase, u64)> {
    let kernel_start = ready as i128 - (view.uptime_s * 1e9) as i128;
    if kernel_start <= 0 {
        return Vec::new();
    }
    let first = first_output.unwrap_or(ready).min(ready);
    let kernel = (kernel_start as u64).clamp(qemu_exec, first);
    let mut out = vec![(Phase::GuestKernelStartEst, kernel)];
    if let Some(agent) = &view.agent {
        let init = kernel_start as u64 + (agent.init_uptime_s * 1e9) as u64;
        out.push((Phase::GuestInitEst, init.clamp(first, ready)));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn guest_phase_estimates_stay_in_order_with_what_the_host_saw() {
        let view = vmbench_workload::GuestView {
            uptime_s: 1.2,
            agent: Some(vmbench_workload::protocol::AgentBoot {
                init_uptime_s: 1.1,
                ..Default::default()
            }),
            ..Default::default()
        };
        // ready at 1.5 s, first console byte at 0.9 s: the guest clock puts the kernel's start
        // at 0.3 s and /init at 1.4 s.
        let p = super::guest_phases(270_000, Some(900_000_000), 1_500_000_000, &view);
        assert_eq!(p[0].1, 300_000_000);
        assert_eq!(p[1].1, 1_400_000_000);
        // A guest clock running ahead would put /init before the first byte: held at it.
        let early = vmbench_workload::GuestView {
            uptime_s: 1.45,
            ..view.clone()
        };
        let p = super::guest_phases(270_000, Some(900_000_000), 1_500_000_000, &early);
        assert!(p[0].1 <= 900_000_000 && p[1].1 >= 900_000_000, "{p:?}");
        // A restored guest booted long before this launch: no estimate.
        let restored = vmbench_workload::GuestView {
            uptime_s: 30.0,
            ..view
        };
        assert!(super::guest_phases(270_000, Some(1), 150_000_000, &restored).is_empty());
    }

    #[test]
    fn an_absent_qemu_is_named_with_its_package() {
        let msg = crate::env::vm::VmError::NoQemu.to_string();
        assert!(msg.contains("apt-get install qemu-system-x86") && msg.contains("--qemu"));
    }
}
