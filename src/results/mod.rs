//! The results file: a versioned JSON schema, an atomic incremental writer and a loader.
//!
//! JSON is the source of truth; every report is rendered from it. The file is rewritten after
//! every trial through a temporary file and `rename`, so an interrupted run keeps every trial
//! that finished and never leaves a half-written file.

mod adaptive;
mod density;
mod host;
mod image;
mod net;
mod query;
pub mod thin;
mod trial;

use crate::config::RunConfig;
use crate::ids::EnvKind;
pub use adaptive::{AdaptiveRecord, PairRecord};
pub use density::{DensityRecord, DensityStep};
pub use host::{
    EngineInfo, GvisorPlatform, GvisorPlatforms, HostInfo, NestedKvm, RuntimeFacts, EMULATED,
};
pub use image::{EngineImage, ImageLayer, ImageRecord, SnapshotRecord};
pub use net::{NetPathRecord, NetRecord, Placement};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
pub use trial::{
    AttachPath, CgroupUsage, Exceeded, ExitInfo, Noise, Sample, SizeChoice, StartSpacing, Trial,
    TrialSummary, QUIET_SPELL,
};
use vmbench_workload::Workload;

/// Version of the results schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Errors reading or writing results files.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file could not be read.
    #[error("cannot read results file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid results JSON.
    #[error("malformed results file {path}: {source}; re-run `vmbench run` to produce it again")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by an incompatible schema.
    #[error("results file {path} has schema_version {found}, this vmbench reads version {SCHEMA_VERSION}: re-run it with this vmbench")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// The file named is not a regular file of a sane size.
    #[error(transparent)]
    Input(crate::input::InputError),
    /// A value lies outside anything a measurement can be.
    #[error("{path}: {field} is {value}, which no measurement can be: the file is damaged or was not written by vmbench")]
    Implausible {
        /// The file.
        path: PathBuf,
        /// The field, with the trial it is in.
        field: String,
        /// Its value.
        value: String,
    },
    /// The file is JSON but not from vmbench.
    #[error("{0} is not a vmbench results file (it has no schema_version): give a file written by vmbench run or compare")]
    Foreign(PathBuf),
    /// The file could not be written.
    #[error("cannot save the results")]
    Write(#[from] crate::atomic::WriteError),
}

/// The whole results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Schema version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Version of vmbench that wrote the file.
    pub vmbench_version: String,
    /// When the run started (RFC 3339).
    pub created_at: String,
    /// When the file was last written (RFC 3339).
    #[serde(default)]
    pub updated_at: String,
    /// Whether the run finished (false while running or after an interruption).
    #[serde(default)]
    pub complete: bool,
    /// The machine the run measured.
    pub host: HostInfo,
    /// How the run was configured.
    pub config: RunConfig,
    /// The workload binary every environment ran.
    pub workload_binary: BinaryInfo,
    /// Every environment asked for, with whether it could run and why not.
    #[serde(default)]
    pub environments: Vec<EnvStatus>,
    /// One record per measured instance run.
    pub trials: Vec<Trial>,
    /// Warm-up runs, kept for the record and left out of every statistic.
    #[serde(default)]
    pub warmup_trials: Vec<Trial>,
    /// Container starts measured apart from the rounds, isolated and back to back (noop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_trials: Vec<Trial>,
    /// Containers run on purpose past their memory and task limits (their errors are the
    /// point: they show the limits hold), kept out of every statistic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limit_trials: Vec<Trial>,
    /// What the collector cost, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<CollectorInfo>,
    /// The container image, when container environments ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRecord>,
    /// The guest snapshot the `vm-*-snapshot` trials restored, where one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotRecord>,
    /// Pairs the run left out because the environment cannot run the workload, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(EnvKind, Workload, String)>,
    /// A note about the file itself (a committed sample says its samples were thinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The size each workload ran at, where it was chosen by a probe round.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sizes: BTreeMap<Workload, SizeChoice>,
    /// How an adaptive plan spent its budget and which pairs it decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveRecord>,
    /// A density sweep's steps, when the run was one (`vmbench density`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<DensityRecord>,
    /// Where in a fleet the run ran, when a Kubernetes pod ran it (`vmbench fleet node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetRecord>,
}

/// The pod and node a fleet run ran on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// Kubernetes node name.
    pub node: String,
    /// Pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Indexed Job's completion index of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The image the pod ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Whether the harness joined the host's cgroup namespace to use the host's cgroup tree.
    #[serde(default)]
    pub host_cgroupns: bool,
}

/// What the collector cost, for the whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CollectorInfo {
    /// Sample interval.
    pub interval_ms: f64,
    /// Total CPU time of the sampling threads.
    pub cpu_ns: u64,
    /// Total wall time they ran.
    pub wall_ns: u64,
    /// Samples taken.
    pub samples: usize,
    /// CPU time over wall time: the fraction of one core the collector used.
    pub fraction_of_core: f64,
}

/// Identity of the workload binary as the host hashed it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinaryInfo {
    /// Where it was run from.
    pub path: PathBuf,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Whether an environment could run here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnvStatus {
    /// Environment as recorded in trials.
    pub env: EnvKind,
    /// Whether it ran.
    pub available: bool,
    /// Why it could not run, or what it is (e.g. the accelerator verdict).
    pub reason: String,
    /// How to make it run, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// What one instance needs on disk: the container image, or kernel + initramfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint_bytes: Option<u64>,
    /// What the footprint consists of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footprint: Option<String>,
}

impl From<crate::input::InputError> for ResultsError {
    fn from(e: crate::input::InputError) -> ResultsError {
        match e {
            crate::input::InputError::Io(io) => ResultsError::Read {
                path: io.path,
                source: io.source,
            },
            other => ResultsError::Input(other),
        }
    }
}

impl Results {
    /// Reads a results file for a report, streaming it: each trial keeps at most
    /// [`thin::KEPT`]–2×[`thin::KEPT`] of its samples, evenly spaced, so a large file renders in
    /// memory a fraction of its size (the per-trial summaries were computed from every sample).
    pub fn load_for_report(path: &Path) -> Result<Results, ResultsError> {
        let open = || {
            crate::input::open(path)
                .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
                .map_err(ResultsError::from)
        };
        let results = thin::with_limit(thin::KEPT, || Results::load_streaming(path, open))?;
        results.check(path)?;
        Ok(results)
    }

    /// Reads and validates results without holding their text in memory: `open` gives a
    /// fresh reader over them for each of the two passes (the version, then the records).
    pub fn load_streaming<R: std::io::Read>(
        path: &Path,
        open: impl Fn() -> Result<R, ResultsError>,
    ) -> Result<Results, ResultsError> {
        #[derive(Deserialize)]
        struct Head {
            schema_version: Option<serde_json::Value>,
        }
        let malformed = |source| ResultsError::Malformed {
            path: path.to_path_buf(),
            source,
        };
        // A results file is one JSON object; anything else (an array, a number) is foreign.
        let mut first = [0u8; 1];
        let mut reader = open()?;
        loop {
            match std::io::Read::read(&mut reader, &mut first) {
                Ok(1) if first[0].is_ascii_whitespace() => continue,
                Ok(1) if first[0] == b'{' => break,
                Ok(_) => return Err(ResultsError::Foreign(path.to_path_buf())),
                Err(source) => {
                    return Err(ResultsError::Read {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        }
        let head: Head = serde_json::from_reader(open()?).map_err(malformed)?;
        let Some(found) = head.schema_version else {
            return Err(ResultsError::Foreign(path.to_path_buf()));
        };
        let found = found.as_u64().unwrap_or(0);
        if found != SCHEMA_VERSION as u64 {
            return Err(ResultsError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_reader(open()?).map_err(malformed)
    }

    /// Refuses values no measurement can be (a negative or infinite figure, a time longer
    /// than a month), naming the field: a damaged file must not render as 300-digit figures.
    pub fn check(&self, path: &Path) -> Result<(), ResultsError> {
        const MONTH_NS: u64 = 31 * 24 * 3600 * 1_000_000_000;
        let implausible = |field: String, value: String| ResultsError::Implausible {
            path: path.to_path_buf(),
            field,
            value,
        };
        for t in self.trials.iter().chain(&self.warmup_trials) {
            let at = |field: &str| format!("{field} of {} {} rep {}", t.env, t.workload, t.rep);
            for m in &t.metrics {
                if !m.value.is_finite() || m.value < 0.0 || m.value > 1e15 {
                    return Err(implausible(
                        at(&format!("metric {}", m.name)),
                        m.value.to_string(),
                    ));
                }
            }
            let times = [
                ("startup_ns", t.startup_ns),
                ("lifetime_ns", t.lifetime_ns),
                ("teardown_ns", t.teardown_ns),
            ];
            for (field, ns) in times
                .into_iter()
                .chain(t.phases.values().map(|v| ("phases", Some(*v))))
            {
                if let Some(ns) = ns.filter(|ns| *ns > MONTH_NS) {
                    return Err(implausible(at(field), ns.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Everything but the trials (the few run past their limits stay): what a report shows
    /// of the run itself.
    pub fn header(&self) -> Results {
        Results {
            schema_version: self.schema_version,
            vmbench_version: self.vmbench_version.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            complete: self.complete,
            host: self.host.clone(),
            config: self.config.clone(),
            workload_binary: self.workload_binary.clone(),
            environments: self.environments.clone(),
            trials: Vec::new(),
            warmup_trials: Vec::new(),
            start_trials: Vec::new(),
            limit_trials: self.limit_trials.clone(),
            collector: self.collector.clone(),
            image: self.image.clone(),
            sizes: self.sizes.clone(),
            note: self.note.clone(),
            skipped: self.skipped.clone(),
            snapshot: self.snapshot.clone(),
            fleet: self.fleet.clone(),
            density: self.density.clone(),
            adaptive: self.adaptive.clone(),
        }
    }

    /// Reads and validates a results file.
    pub fn load(path: &Path) -> Result<Results, ResultsError> {
        let bytes = crate::input::read(path)?;
        let results = Results::from_bytes(path, &bytes)?;
        results.check(path)?;
        Ok(results)
    }

    /// Validates and reads results from bytes; `path` names them in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Results, ResultsError> {
        let raw: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|source| ResultsError::Malformed {
                path: path.to_path_buf(),
                source,
            })?;
        let Some(found) = raw.get("schema_version") else {
            return Err(ResultsError::Foreign(path.to_path_buf()));
        };
        let found = found.as_u64().unwrap_or(0);
        if found != SCHEMA_VERSION as u64 {
            return Err(ResultsError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(raw).map_err(|source| ResultsError::Malformed {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the file atomically (see [`crate::atomic`]), compact: it is rewritten after every
    /// trial, and the pretty form took 1.7 times as long to save (37 against 22 ms, results_save).
    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        crate::atomic::write(path, |out| {
            serde_json::to_writer(&mut *out, self)?;
            out.write_all(b"\n")
        })?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vmbench_workload::{Better, GuestView, Metric};

    pub(crate) fn sample_results() -> Results {
        Results {
            schema_version: SCHEMA_VERSION,
            vmbench_version: "0.1.0".into(),
            created_at: "2026-11-27T00:00:00Z".into(),
            updated_at: String::new(),
            complete: true,
            host: HostInfo::default(),
            config: crate::config::tests::config(),
            workload_binary: BinaryInfo {
                path: "/bin/w".into(),
                sha256: "ab".repeat(32),
                bytes: 10,
            },
            environments: vec![],
            collector: None,
            image: None,
            note: None,
            skipped: Vec::new(),
            snapshot: None,
            fleet: None,
            density: None,
            adaptive: None,
            sizes: BTreeMap::new(),
            trials: vec![Trial {
                env: EnvKind::Native,
                workload: Workload::Syscall,
                rep: 0,
                warmup: false,
                probe: false,
                size: None,
                startup_ns: Some(1_000_000),
                lifetime_ns: Some(2_000_000),
                teardown_ns: None,
                phases: BTreeMap::from([(crate::ids::Phase::Exec, 5u64)]),
                metrics: vec![Metric {
                    name: "syscall_time".into(),
                    value: 80.0,
                    unit: "ns/call".into(),
                    better: Better::Lower,
                }],
                guest_view: Some(GuestView::default()),
                rusage: None,
                detail: None,
                io_path: None,
                samples: vec![Sample::default()],
                summary: None,
                cgroup: None,
                cgroup_attach: None,
                noise: None,
                host_rusage: None,
                evicted_bytes: None,
                host_uid: None,
                net: None,
                spacing: None,
                exceeded: None,
                exit: ExitInfo {
                    code: Some(0),
                    ..ExitInfo::default()
                },
                error: None,
            }],
            warmup_trials: vec![],
            start_trials: vec![],
            limit_trials: Vec::new(),
        }
    }

    #[test]
    fn results_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let results = sample_results();
        results.save(&path).unwrap();
        let back = Results::load(&path).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&results).unwrap()
        );
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn malformed_and_foreign_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{ not json").unwrap();
        let err = Results::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("malformed results file") && err.contains("bad.json"),
            "{err}"
        );
        let old = dir.path().join("old.json");
        std::fs::write(&old, r#"{"schema_version": 99}"#).unwrap();
        let err = Results::load(&old).unwrap_err().to_string();
        assert!(err.contains("schema_version 99"), "{err}");
        let foreign = dir.path().join("foreign.json");
        std::fs::write(&foreign, r#"{"name": "something else"}"#).unwrap();
        let err = Results::load(&foreign).unwrap_err().to_string();
        assert!(err.contains("not a vmbench results file"), "{err}");
        let missing = Results::load(&dir.path().join("none.json")).unwrap_err();
        assert!(matches!(missing, ResultsError::Read { .. }), "{missing:?}");
        assert!(
            missing.to_string().contains("cannot read results file"),
            "{missing}"
        );
        // A JSON array is not a results file, however it starts.
        let array = dir.path().join("array.json");
        std::fs::write(&array, "[1, 2]").unwrap();
        for load in [Results::load, Results::load_for_report] {
            let err = load(&array).unwrap_err().to_string();
            assert!(err.contains("not a vmbench results file"), "{err}");
        }
    }

    #[test]
    fn values_no_measurement_can_be_are_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        for (value, field) in [
            (f64::MAX, "metric syscall_time"),
            (-5.0, "metric syscall_time"),
        ] {
            let mut r = sample_results();
            r.trials[0].metrics[0].value = value;
            let path = dir.path().join("r.json");
            r.save(&path).unwrap();
            let err = Results::load_for_report(&path).unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("no measurement can be"),
                "{err}"
            );
        }
        let mut r = sample_results();
        r.trials[0].startup_ns = Some(u64::MAX);
        let path = dir.path().join("r.json");
        r.save(&path).unwrap();
        let err = Results::load(&path).unwrap_err().to_string();
        assert!(err.contains("startup_ns of native syscall rep 0"), "{err}");
    }

    #[test]
    fn reports_read_samples_thinned_and_evenly_spaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let mut results = sample_results();
        results.trials[0].samples = (0..10_000)
            .map(|i| Sample {
                t_ns: i,
                ..Sample::default()
            })
            .collect();
        results.save(&path).unwrap();
        let full = Results::load(&path).unwrap();
        assert_eq!(full.trials[0].samples.len(), 10_000);
        let thin = Results::load_for_report(&path).unwrap();
        let kept = &thin.trials[0].samples;
        assert!(
            (thin::KEPT..2 * thin::KEPT).contains(&kept.len()),
            "{}",
            kept.len()
        );
        let gaps: Vec<u64> = kept.windows(2).map(|w| w[1].t_ns - w[0].t_ns).collect();
        assert!(gaps.iter().all(|g| *g == gaps[0]), "evenly spaced");
        assert_eq!(kept[0].t_ns, 0);
        // Loading for a report leaves later loads of the thread unthinned.
        assert_eq!(
            Results::load(&path).unwrap().trials[0].samples.len(),
            10_000
        );
    }

    #[test]
    fn an_older_results_file_still_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results-v1-before-env-trait.json");
        let r = Results::load(&path).unwrap();
        assert_eq!(r.trials.len(), 40);
        assert!(r.trials.iter().any(|t| t.env == EnvKind::VmTcg));
        assert_eq!(r.config.envs.len(), 5);
    }
}
