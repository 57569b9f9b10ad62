//! Layers and copy-on-write: the engines' images as layers (what each holds, its size and
//! digest), and `file-layer`'s writes on each container's writable layer beside native's and
//! beside `file-io` on the bind-mounted `/data`.

use super::network::{figure, PathFigure};
use crate::ids::EnvKind;
use crate::results::{ImageLayer, Results};
use serde::Serialize;
use vmbench_workload::{Better, Workload};

/// One engine's image as layers.
#[derive(Debug, Clone, Serialize)]
pub struct EngineLayers {
    /// The engine (`docker`, `podman`).
    pub engine: String,
    /// The image's tag.
    pub tag: String,
    /// Its layers, lowest first.
    pub layers: Vec<ImageLayer>,
}

/// One environment's writes on its writable layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    /// The environment.
    pub env: EnvKind,
    /// Where the writes went, as the environment recorded it.
    pub io_path: Option<String>,
    /// The first 4 KiB write + fsync into the image's file (a copy-up on a layer), ms.
    pub first_write: Option<PathFigure>,
    /// The second such write, ms.
    pub rewrite: Option<PathFigure>,
    /// A new file written sequentially + fsync on the layer, MB/s.
    pub layer_write: Option<PathFigure>,
    /// file-io's sequential write on `/data` in the same environment, MB/s (median).
    pub data_write: Option<f64>,
}

/// The section: the engines' layers and every environment that ran `file-layer`.
#[derive(Debug, Clone, Serialize)]
pub struct LayersView {
    /// Each engine's image, where the run recorded its layers.
    pub images: Vec<EngineLayers>,
    /// The rows, native first.
    pub rows: Vec<LayerRow>,
    /// Size of the image's file the first write goes to, MiB.
    pub lower_mib: u64,
}

/// (rep, value) of `metric` in the successful measured trials of `w` in `env`.
fn values(results: &Results, w: Workload, env: EnvKind, metric: &str) -> Vec<(u32, f64)> {
    results
        .succeeded(env)
        .filter(|t| t.workload == w)
        .filter_map(|t| Some((t.rep, t.metrics.iter().find(|m| m.name == metric)?.value)))
        .collect()
}

impl LayersView {
    /// The section of `results`, when it recorded layers or ran `file-layer`.
    pub fn of(results: &Results, envs: &[EnvKind], margin: f64) -> Option<LayersView> {
        let images: Vec<EngineLayers> = results
            .image
            .iter()
            .flat_map(|i| &i.engines)
            .filter(|(_, e)| !e.layers.is_empty())
            .map(|(engine, e)| EngineLayers {
                engine: engine.clone(),
                tag: e.tag.clone(),
                layers: e.layers.clone(),
            })
            .collect();
        let native = |metric| values(results, Workload::FileLayer, EnvKind::Native, metric);
        let (first0, again0, write0) = (
            native("first_write"),
            native("rewrite"),
            native("seq_write"),
        );
        let rows: Vec<LayerRow> = envs
            .iter()
            .filter_map(|&env| {
                let base = |xs: &[(u32, f64)]| {
                    if env == EnvKind::Native {
                        Vec::new()
                    } else {
                        xs.to_vec()
                    }
                };
                let of = |metric| values(results, Workload::FileLayer, env, metric);
                let data: Vec<f64> = values(results, Workload::FileIo, env, "seq_write")
                    .into_iter()
                    .map(|(_, x)| x)
                    .collect();
                let row = LayerRow {
                    env,
                    io_path: results
                        .succeeded(env)
                        .find(|t| t.workload == Workload::FileLayer)
                        .and_then(|t| t.io_path.clone()),
                    first_write: figure(&of("first_write"), &base(&first0), Better::Lower, margin),
                    rewrite: figure(&of("rewrite"), &base(&again0), Better::Lower, margin),
                    layer_write: figure(&of("seq_write"), &base(&write0), Better::Higher, margin),
                    data_write: crate::stats::median(&data),
                };
                row.first_write.is_some().then_some(row)
            })
            .collect();
        (!images.is_empty() || !rows.is_empty()).then_some(LayersView {
            images,
            rows,
            lower_mib: vmbench_workload::catalogue::LOWER_MIB,
        })
    }

    /// The row of `env`, when it ran `file-layer`.
    pub fn row(&self, env: EnvKind) -> Option<&LayerRow> {
        self.rows.iter().find(|r| r.env == env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::lang::Lang;
    use crate::report::model::RunView;
    use crate::results::{EngineImage, ImageRecord, Trial};
    use vmbench_workload::Metric;

    fn metric(name: &str, value: f64) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: String::new(),
            better: Better::Lower,
        }
    }

    fn image(digests: [&str; 2]) -> EngineImage {
        EngineImage {
            tag: "vmbench/minimal:0123".into(),
            id: "sha256:beef".into(),
            size_bytes: 5_900_000,
            import_ms: 500.0,
            layers: digests
                .iter()
                .zip([4_200_000, 1_700_000])
                .zip(["base", "the workload"])
                .map(|((d, bytes), holds)| ImageLayer {
                    digest: d.to_string(),
                    bytes,
                    holds: holds.into(),
                })
                .collect(),
        }
    }

    /// Native and the builtin container: a copy-up far beyond the margin, a second write the
    /// same within it, new files whose interval includes 1 but reaches past the margin.
    fn results(podman_base: &str) -> Results {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r.warmup_trials.clear();
        r.config.envs = vec![EnvKind::Native, EnvKind::Container];
        r.config.workloads = vec![Workload::FileLayer];
        for rep in 0..8 {
            let j = f64::from(rep % 4);
            for (env, first, again, write) in [
                (
                    EnvKind::Native,
                    0.12 + j * 0.001,
                    0.070 + j * 0.0002,
                    1000.0 + j * 10.0,
                ),
                (
                    EnvKind::Container,
                    5.6 + j * 0.1,
                    0.070 + j * 0.0002,
                    1000.0 + (j - 1.5) * 150.0,
                ),
            ] {
                let mut t = Trial::new(env, Workload::FileLayer, rep, false);
                t.metrics = vec![
                    metric("first_write", first),
                    metric("rewrite", again),
                    metric("seq_write", write),
                ];
                r.trials.push(t);
            }
        }
        let mut record: ImageRecord = serde_json::from_value(serde_json::json!({
            "kind": "minimal", "base": "b", "bytes": 5_900_000, "files": 3,
            "build_ms": 10.0, "built_at": "2026-12-06T00:00:00Z"
        }))
        .unwrap();
        record
            .engines
            .insert("docker".into(), image(["sha256:aaaa", "sha256:bbbb"]));
        record
            .engines
            .insert("podman".into(), image([podman_base, "sha256:cccc"]));
        r.image = Some(record);
        r
    }

    #[test]
    fn each_write_is_compared_with_natives_and_read_by_its_interval() {
        let view = LayersView::of(
            &results("sha256:aaaa"),
            &[EnvKind::Native, EnvKind::Container],
            0.03,
        )
        .unwrap();
        let c = view.row(EnvKind::Container).unwrap();
        let verdict = |f: &Option<PathFigure>| f.as_ref().unwrap().verdict.unwrap();
        assert!(
            matches!(verdict(&c.first_write), crate::stats::Verdict::Worse { ratio } if ratio > 40.0)
        );
        assert!(matches!(
            verdict(&c.rewrite),
            crate::stats::Verdict::Same { .. }
        ));
        assert!(matches!(
            verdict(&c.layer_write),
            crate::stats::Verdict::NoDifference { .. }
        ));
        assert!(view
            .row(EnvKind::Native)
            .unwrap()
            .first_write
            .as_ref()
            .unwrap()
            .ratio
            .is_none());
        assert_eq!(view.images.len(), 2);
    }

    #[test]
    fn the_note_says_what_each_interval_supports_and_shares_a_base_only_when_named_alike() {
        let envs = [EnvKind::Native, EnvKind::Container];
        for lang in [Lang::En, Lang::Ko] {
            let shared = RunView::build("r", &results("sha256:aaaa"), None, 0.03);
            let note = crate::report::notes::notes(&shared, lang, 0.03).layers;
            let (worse, same, unsure, share) = match lang {
                Lang::En => (
                    "× worse",
                    "same within ±3%",
                    "no difference detected",
                    "docker and podman computed the same digest",
                ),
                Lang::Ko => (
                    "배 느림",
                    "±3% 안에서 같음",
                    "차이를 찾지 못함",
                    "docker, podman 모두 같은 파일에서",
                ),
            };
            for needle in [worse, same, unsure, share, "1.70 MB", "28.8%"] {
                assert!(note.contains(needle), "{lang:?}: {needle:?} not in {note}");
            }
            let apart = RunView::build("r", &results("sha256:dddd"), None, 0.03);
            let note = crate::report::notes::notes(&apart, lang, 0.03).layers;
            assert!(!note.contains(share), "{note}");
            assert!(LayersView::of(&results("x"), &envs, 0.03).is_some());
        }
    }
}
