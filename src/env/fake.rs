//! A fake environment that starts nothing: each launch returns an outcome made up from the
//! spec, as if a well-behaved instance had run. The runner's order, warm-ups, warm mode and
//! adaptive stopping are tested against it without root, namespaces or QEMU (as hyperfine
//! tests its scheduler against a mock executor).

use super::process::Instance;
use super::watch::{Observed, RunResult};
use super::{Availability, EnvError, EnvKind, Environment, Footprint, Outcome, Shared, Spec};
use crate::results::{ExitInfo, HostInfo};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use vmbench_workload::{GuestView, Metric, Workload};

/// One launch the fake saw: environment, workload, runs asked for.
pub type Launch = (EnvKind, Workload, u32);

/// Headline value of a fake instance's run: given the environment, the workload and the
/// index of the launch (from 0, over the whole run) and of the run inside it.
pub type ValueFn = dyn Fn(EnvKind, Workload, usize, u32) -> f64;

/// A fake environment of some kind.
pub struct Fake {
    kind: EnvKind,
    sha256: String,
    value: Box<ValueFn>,
    log: Rc<RefCell<Vec<Launch>>>,
    work_at_small: Duration,
}

impl Fake {
    /// A fake `kind` whose runs report `value(...)` as their headline, claiming to have run
    /// the binary with `sha256`; launches are appended to `log`.
    pub fn new(
        kind: EnvKind,
        sha256: &str,
        log: Rc<RefCell<Vec<Launch>>>,
        value: impl Fn(EnvKind, Workload, usize, u32) -> f64 + 'static,
    ) -> Fake {
        Fake {
            kind,
            sha256: sha256.to_string(),
            value: Box::new(value),
            log,
            work_at_small: Duration::ZERO,
        }
    }

    /// The same fake whose instances take `work` at the small size, scaled with the size.
    pub fn working(mut self, work: Duration) -> Fake {
        self.work_at_small = work;
        self
    }
}

/// The outcome of a well-behaved instance: ready after 1 ms, then one result per value, done.
pub fn outcome(workload: Workload, sha256: &str, values: &[f64]) -> Outcome {
    let spec = workload.headline();
    let ms = Duration::from_millis;
    Outcome {
        observed: Observed {
            first_byte: Some(ms(1)),
            ready: Some((ms(1), GuestView::default())),
            sha256: Some(sha256.to_string()),
            results: values
                .iter()
                .enumerate()
                .map(|(i, v)| RunResult {
                    at: ms(2 + i as u64),
                    metrics: vec![Metric {
                        name: spec.name.into(),
                        value: *v,
                        unit: spec.unit.into(),
                        better: spec.better,
                    }],
                    elapsed_ns: 1_000_000,
                    rusage: Default::default(),
                    detail: None,
                })
                .collect(),
            done: Some(ms(2 + values.len() as u64)),
            closed: Some(ms(3 + values.len() as u64)),
            ..Observed::default()
        },
        exit: ExitInfo {
            code: Some(0),
            ..ExitInfo::default()
        },
        lifetime: Some(ms(3 + values.len() as u64)),
        ..Outcome::default()
    }
}

impl Environment for Fake {
    fn kind(&self) -> EnvKind {
        self.kind
    }

    fn availability(&self, _host: &HostInfo) -> Availability {
        Ok("fake: starts nothing".into())
    }

    fn prepare(&mut self, _shared: &mut Shared) -> Result<Option<Footprint>, EnvError> {
        Ok(None)
    }

    fn instance(&self) -> Result<Box<dyn Instance + '_>, EnvError> {
        Err(EnvError::Refused(
            "a fake environment starts no process".into(),
        ))
    }

    fn launch(&self, spec: &Spec) -> Result<Outcome, EnvError> {
        let workload = spec.invocation.workload;
        // This kind's own launch count: a fake's figures follow its own rounds.
        let index = {
            let mut log = self.log.borrow_mut();
            log.push((self.kind, workload, spec.invocation.runs));
            log.iter().filter(|l| l.0 == self.kind).count() - 1
        };
        let values: Vec<f64> = (0..spec.invocation.runs)
            .map(|run| (self.value)(self.kind, workload, index, run))
            .collect();
        let mut outcome = outcome(workload, &self.sha256, &values);
        let small = vmbench_workload::Size::Small.scale(1000) as u32;
        let work = self.work_at_small * spec.invocation.size.scale(1000) as u32 / small;
        // The work happens between ready and done.
        let seen = &mut outcome.observed;
        for at in [&mut seen.done, &mut seen.closed, &mut outcome.lifetime] {
            *at = at.map(|t| t + work);
        }
        Ok(outcome)
    }
}
