//! The native environment: the workload as a plain child process of the harness, in its own
//! process group (so a timeout kills any children it forked), optionally pinned to CPUs.

use super::process::{self, Instance, Program, Started};
use super::{Availability, EnvError, EnvKind, Environment, Footprint, Outcome, Shared, Spec};
use crate::collector::Target;
use crate::results::HostInfo;

/// The baseline: no isolation.
pub struct Native;

impl Environment for Native {
    fn kind(&self) -> EnvKind {
        EnvKind::Native
    }

    fn availability(&self, _host: &HostInfo) -> Availability {
        Ok("always available".into())
    }

    fn prepare(&mut self, _shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        Ok(None)
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        Ok(Box::new(NativeInstance { io_path: None }))
    }
}

struct NativeInstance {
    io_path: Option<String>,
}

impl Instance for NativeInstance {
    fn start(&mut self, spec: &Spec) -> Result<Started, EnvError> {
        let mut invocation = spec.invocation.clone();
        invocation.data_dir = spec.data_dir.to_path_buf();
        self.io_path = Some(format!(
            "host {} directory",
            super::filesystem_of(spec.data_dir)
        ));
        let exe = spec.binary.to_str().ok_or_else(|| {
            EnvError::Refused(format!(
                "workload path {} is not UTF-8",
                spec.binary.display()
            ))
        })?;
        let (output, output_write) = process::pipe()?;
        let args = invocation.to_args();
        let spawned = process::spawn(Program::host(exe, &args, spec.cpus), output_write)?;
        let target = Target::process(spawned.pid.as_raw());
        Ok(Started::from_spawned(
            spawned,
            output.into(),
            target,
            true,
            crate::ids::Phase::Spawn,
        ))
    }

    fn finish(&mut self, outcome: &mut Outcome) -> Result<(), EnvError> {
        outcome.io_path = self.io_path.take();
        Ok(())
    }
}
