//! Reports rendered from results records: they only read, never measure. The model is computed
//! once; one exporter per format (an open set, behind one trait) and the terminal summary
//! render it; charts and lecture notes feed the HTML one.

pub mod charts;
pub mod claims;
pub mod csv;
pub mod density;
pub mod export;
pub mod format;
pub mod html;
pub mod json;
pub mod lang;
pub mod layers;
pub mod markdown;
pub mod model;
pub mod network;
pub mod notes;
pub mod seen;
pub mod slides;
pub mod spectrum;
pub mod terminal;

use export::{Exporter, Format};

/// The exporter for a format.
pub fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Html => Box::new(html::Html),
        Format::Md => Box::new(markdown::Markdown),
        Format::Csv => Box::new(csv::Csv),
        Format::Json => Box::new(json::Json),
    }
}

#[cfg(test)]
mod tests {
    use super::export::Format;
    use super::lang::Lang;
    use super::model::Report;
    use crate::ids::EnvKind;
    use crate::results::{Results, Trial};
    use vmbench_workload::{Metric, Workload};

    /// Results whose container/native ratios sit inside the margin (cpu-int), straddle 1
    /// widely (mem-bw), and lie wholly on the worse side (syscall).
    fn three_verdicts() -> Results {
        let mut r = crate::results::tests::sample_results();
        r.trials.clear();
        r.config.envs = vec![EnvKind::Native, EnvKind::Container];
        r.config.workloads = vec![Workload::CpuInt, Workload::MemBw, Workload::Syscall];
        let values: [(Workload, [f64; 6], [f64; 6]); 3] = [
            (
                Workload::CpuInt,
                [1000.0, 1001.0, 999.0, 1002.0, 998.0, 1000.0],
                [1001.0, 999.0, 1000.0, 1002.0, 998.0, 1001.0],
            ),
            (
                Workload::MemBw,
                [20.0, 22.0, 18.0, 21.0, 19.0, 20.0],
                [16.0, 24.0, 19.0, 22.0, 17.0, 23.0],
            ),
            (
                Workload::Syscall,
                [100.0, 101.0, 99.0, 100.0, 102.0, 98.0],
                [120.0, 121.2, 118.8, 120.0, 122.4, 117.6],
            ),
        ];
        for (w, native, container) in values {
            for (env, xs) in [(EnvKind::Native, native), (EnvKind::Container, container)] {
                for (rep, x) in xs.into_iter().enumerate() {
                    let mut t = Trial::new(env, w, rep as u32, false);
                    let spec = w.headline();
                    t.metrics = vec![Metric {
                        name: spec.name.into(),
                        value: x,
                        unit: spec.unit.into(),
                        better: spec.better,
                    }];
                    r.trials.push(t);
                }
            }
        }
        r
    }

    #[test]
    fn every_output_says_only_what_the_interval_supports() {
        let report = Report::build(&[("r.json".into(), three_verdicts())], None, 0.03);
        let run = &report.runs[0];
        let verdict = |w: Workload| {
            let row = run
                .workloads
                .iter()
                .find(|x| x.name == w)
                .unwrap()
                .rows
                .iter()
                .find(|r| r.env == EnvKind::Container)
                .unwrap();
            serde_json::to_value(row.verdict.unwrap()).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(verdict(Workload::CpuInt), "same");
        assert_eq!(verdict(Workload::MemBw), "no-difference");
        assert_eq!(verdict(Workload::Syscall), "worse");
        let terminal = super::terminal::render(run);
        let md = super::exporter(Format::Md)
            .render(&report, Lang::En)
            .unwrap();
        let html = super::exporter(Format::Html)
            .render(&report, Lang::En)
            .unwrap();
        let csv = super::exporter(Format::Csv)
            .render(&report, Lang::En)
            .unwrap();
        let json = super::exporter(Format::Json)
            .render(&report, Lang::En)
            .unwrap();
        for (name, text) in [("terminal", &terminal), ("markdown", &md), ("html", &html)] {
            assert!(text.contains("same within ±3%"), "{name}: {text}");
            assert!(text.contains("no difference detected (CI ±"), "{name}");
            assert!(text.contains("20.0% worse"), "{name}");
            // The straddling ratio is never given a direction.
            let line = text
                .lines()
                .find(|l| l.contains("no difference detected"))
                .unwrap();
            assert!(
                !line.contains("% better") && !line.contains("% worse"),
                "{name}: {line}"
            );
        }
        assert!(csv.contains(",no-difference,") && csv.contains(",same,"));
        assert!(json.contains("\"kind\": \"worse\""));
        // The lecture note does not claim "same speed" for cpu-int's equivalence only when
        // the interval allows it: here it does.
        assert!(html.contains("ran at the same speed in a container"));
    }

    #[test]
    fn kvm_figures_from_a_nested_run_say_what_they_are_in_every_output() {
        let nested = |hypervisor: &str, env: EnvKind| {
            let mut r = three_verdicts();
            r.host.nested = true;
            r.host.hypervisor = Some(hypervisor.into());
            for t in r.trials.iter_mut().filter(|t| t.env == EnvKind::Container) {
                t.env = env;
            }
            r.config.envs = vec![EnvKind::Native, env];
            Report::build(&[("r.json".into(), r)], None, 0.03)
        };
        let render = |report: &Report, format: Format, lang: Lang| {
            super::exporter(format).render(report, lang).unwrap()
        };
        let emulated = nested(crate::results::EMULATED, EnvKind::VmKvm);
        let words = "nested KVM inside an emulated guest: ratios to that guest's native, not KVM's absolute speed";
        assert!(super::terminal::render(&emulated.runs[0]).contains(words));
        for format in [Format::Md, Format::Html, Format::Csv] {
            let text = render(&emulated, format, Lang::En);
            assert!(
                text.contains(&words.replace('\'', "&#x27;")) || text.contains(words),
                "{format:?}"
            );
            let ko = render(&emulated, format, Lang::Ko);
            assert!(
                ko.contains("에뮬레이션된 게스트 안의 중첩 KVM"),
                "{format:?} ko"
            );
        }
        // Only the KVM rows carry it in the CSV.
        let csv = render(&emulated, Format::Csv, Lang::En);
        assert!(csv
            .lines()
            .filter(|l| l.contains(",native,"))
            .all(|l| !l.contains("nested")));
        let json = render(&emulated, Format::Json, Lang::En);
        assert!(
            json.contains(&format!("\"nested_kvm\": \"{words}\"")),
            "{json}"
        );
        // A guest of a hardware hypervisor is named as such.
        let on_kvm = nested("KVM", EnvKind::VmKvm);
        let md = render(&on_kvm, Format::Md, Lang::En);
        assert!(md.contains("nested KVM inside a guest of KVM") && md.contains("bare metal"));
        // No KVM guest ran, or the host is bare metal: nothing is said.
        let tcg_only = nested(crate::results::EMULATED, EnvKind::VmTcg);
        assert!(!render(&tcg_only, Format::Md, Lang::En).contains("nested KVM"));
        let mut bare = three_verdicts();
        for t in bare
            .trials
            .iter_mut()
            .filter(|t| t.env == EnvKind::Container)
        {
            t.env = EnvKind::VmKvm;
        }
        let bare = Report::build(&[("r.json".into(), bare)], None, 0.03);
        assert!(!render(&bare, Format::Html, Lang::En).contains("nested KVM"));
    }

    #[test]
    fn the_kvm_and_tcg_note_gives_both_accelerators_figures_from_the_run() {
        let mut r = three_verdicts();
        r.host.nested = true;
        r.host.hypervisor = Some(crate::results::EMULATED.into());
        let tcg: Vec<Trial> = r
            .trials
            .iter()
            .filter(|t| t.env == EnvKind::Container)
            .map(|t| {
                let mut t = t.clone();
                t.env = EnvKind::VmTcg;
                t.metrics[0].value *= 10.0;
                t
            })
            .collect();
        for t in r.trials.iter_mut().filter(|t| t.env == EnvKind::Container) {
            t.env = EnvKind::VmKvm;
        }
        r.trials.extend(tcg);
        r.config.envs = vec![EnvKind::Native, EnvKind::VmKvm, EnvKind::VmTcg];
        let report = Report::build(&[("r.json".into(), r)], None, 0.03);
        let run = &report.runs[0];
        let ratio = |env: EnvKind| {
            let w = run
                .workloads
                .iter()
                .find(|w| w.name == Workload::Syscall)
                .unwrap();
            let row = w.rows.iter().find(|r| r.env == env).unwrap();
            super::format::ratio_text(&row.ratio.unwrap())
        };
        let en = super::notes::notes(run, Lang::En, 0.03);
        assert!(
            en.accel
                .contains(&format!("syscall {}", ratio(EnvKind::VmKvm))),
            "{}",
            en.accel
        );
        assert!(
            en.accel
                .contains(&format!("syscall {}", ratio(EnvKind::VmTcg))),
            "{}",
            en.accel
        );
        assert!(
            en.accel
                .contains("under KVM (nested KVM inside an emulated guest"),
            "{}",
            en.accel
        );
        assert!(en.accel.contains("page-fault not measured"), "{}", en.accel);
        let ko = super::notes::notes(run, Lang::Ko, 0.03);
        assert!(
            ko.accel.contains("이번 측정은 둘 다") && ko.accel.contains("중첩 KVM"),
            "{}",
            ko.accel
        );
        // The VM sentence of the CPU note speaks of KVM only for a KVM guest.
        assert!(en.cpu.contains("In the VM (vm-kvm)") && en.cpu.contains("on the CPU itself"));
    }

    #[test]
    fn a_noisy_cpu_figure_makes_the_note_say_the_run_could_not_tell() {
        let mut results = three_verdicts();
        // Widen cpu-int's container figures so the interval straddles 1 widely.
        for (i, t) in results
            .trials
            .iter_mut()
            .filter(|t| t.workload == Workload::CpuInt && t.env == EnvKind::Container)
            .enumerate()
        {
            t.metrics[0].value = [880.0, 1040.0, 910.0, 1050.0, 900.0, 1000.0][i];
        }
        let report = Report::build(&[("r.json".into(), results)], None, 0.03);
        for lang in [Lang::En, Lang::Ko] {
            let notes = super::notes::notes(&report.runs[0], lang, 0.03);
            match lang {
                Lang::En => {
                    assert!(notes.cpu.contains("could not tell"), "{}", notes.cpu);
                    assert!(!notes.cpu.contains("same speed"), "{}", notes.cpu);
                }
                Lang::Ko => {
                    assert!(notes.cpu.contains("판단할 수 없었습니다"), "{}", notes.cpu);
                    assert!(!notes.cpu.contains("속도가 같았습니다"), "{}", notes.cpu);
                }
            }
        }
    }
}
