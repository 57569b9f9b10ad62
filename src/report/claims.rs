//! The claims people make about containers and VMs, each held against this run: the figure
//! that tests it and what that figure says, or that the run did not measure it and what would.

use super::format::ratio_text;
use super::lang::Lang;
use super::model::RunView;
use crate::ids::{Accel, EnvKind, Family, Tier};
use crate::stats::Verdict;
use serde::Serialize;
use vmbench_workload::Workload;

/// What this run says of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// The run's figures support it.
    Supported,
    /// The run's figures contradict it.
    Contradicted,
    /// Part of it was measured; the rest says what would measure it.
    Partly,
    /// The run could not tell (an interval too wide).
    Undecided,
    /// Not measured in this run.
    NotMeasured,
}

/// One claim with its evidence, in the report's language.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimRow {
    /// The claim, as people say it.
    pub claim: &'static str,
    /// The figure of this run that tests it, or what would measure it.
    pub evidence: String,
    /// What the figure says.
    pub finding: Finding,
    /// The finding in words.
    pub finding_words: &'static str,
}

/// The finding in the report's language.
fn words(f: Finding, lang: Lang) -> &'static str {
    match (f, lang) {
        (Finding::Supported, Lang::En) => "supported",
        (Finding::Supported, Lang::Ko) => "뒷받침됨",
        (Finding::Contradicted, Lang::En) => "contradicted",
        (Finding::Contradicted, Lang::Ko) => "반박됨",
        (Finding::Partly, Lang::En) => "partly measured",
        (Finding::Partly, Lang::Ko) => "일부만 측정",
        (Finding::Undecided, Lang::En) => "the run could not tell",
        (Finding::Undecided, Lang::Ko) => "이번 측정으로는 알 수 없음",
        (Finding::NotMeasured, Lang::En) => "not measured in this run",
        (Finding::NotMeasured, Lang::Ko) => "이번 측정에는 없음",
    }
}

/// Every claim, in the order a lecture makes them.
pub fn claims(run: &RunView, lang: Lang) -> Vec<ClaimRow> {
    let rows: [(&'static str, &'static str, (String, Finding)); 9] = [
        (
            "A container runs on the host's kernel.",
            "컨테이너는 호스트의 커널 위에서 돈다.",
            host_kernel(run, lang),
        ),
        (
            "Namespaces isolate what a container sees.",
            "네임스페이스는 컨테이너가 보는 것을 격리한다.",
            namespaces(run, lang),
        ),
        (
            "cgroups limit what a container may use.",
            "cgroup은 컨테이너가 쓸 수 있는 자원을 제한한다.",
            cgroups(run, lang),
        ),
        (
            "A container is lighter than a VM.",
            "컨테이너는 VM보다 가볍다.",
            lighter(run, lang),
        ),
        (
            "A container starts faster than a VM.",
            "컨테이너는 VM보다 빨리 시작한다.",
            faster(run, lang),
        ),
        (
            "A hypervisor sits between a VM's guest and the hardware.",
            "하이퍼바이저는 VM의 게스트와 하드웨어 사이에 있다.",
            hypervisor(run, lang),
        ),
        (
            "An image is the class, a container an instance of it.",
            "이미지는 클래스이고, 컨테이너는 그 인스턴스다.",
            image(run, lang),
        ),
        (
            "Small images are better for production.",
            "운영에는 작은 이미지가 낫다.",
            (
                lang.pick("one image per run: compare runs with --image minimal, busybox and debian and --page-cache cold (the lecture's section 6; results/sample/images.html)", "측정 한 번에 이미지는 하나입니다. --image minimal, busybox, debian과 --page-cache cold로 측정한 결과를 비교하세요(강의안 6절, results/sample/images.ko.html)").into(),
                Finding::NotMeasured,
            ),
        ),
        (
            "Kubernetes runs containers.",
            "쿠버네티스가 컨테이너를 돌린다.",
            (
                lang.pick("vmbench fleet runs this suite as a Kubernetes Job on each node and compares the nodes (README, Fleet runs on Kubernetes)", "vmbench fleet이 이 스위트를 노드마다 쿠버네티스 Job으로 돌리고 노드끼리 비교합니다(README, Fleet runs on Kubernetes)").into(),
                Finding::NotMeasured,
            ),
        ),
    ];
    rows.into_iter()
        .map(|(en, ko, (evidence, finding))| ClaimRow {
            claim: lang.pick(en, ko),
            evidence,
            finding,
            finding_words: words(finding, lang),
        })
        .collect()
}

/// What nothing measured says, with what would measure it.
fn not_measured(lang: Lang, en: &'static str, ko: &'static str) -> (String, Finding) {
    (lang.pick(en, ko).into(), Finding::NotMeasured)
}

/// The kernel release each instance reported.
fn host_kernel(run: &RunView, lang: Lang) -> (String, Finding) {
    let kernel = |env: EnvKind| {
        run.seen
            .iter()
            .find(|v| v.env == env)
            .map(|v| v.view.kernel.clone())
    };
    let Some(native) = kernel(EnvKind::Native) else {
        return not_measured(
            lang,
            "no native view in this run",
            "이번 측정에는 네이티브의 보기가 없음",
        );
    };
    let spaces: Vec<(EnvKind, String)> = run
        .seen
        .iter()
        .filter(|v| v.env.tier() == Tier::Namespaces)
        .map(|v| (v.env, v.view.kernel.clone()))
        .collect();
    if spaces.is_empty() {
        return not_measured(
            lang,
            "no namespace container ran",
            "네임스페이스 컨테이너가 돌지 않음",
        );
    }
    let same = spaces.iter().all(|(_, k)| *k == native);
    let others: Vec<String> = run
        .seen
        .iter()
        .filter(|v| matches!(v.env.tier(), Tier::UserSpaceKernel | Tier::GuestKernel))
        .map(|v| format!("{} {}", v.env, v.view.kernel))
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!("; {}", others.join(", "))
    };
    let evidence = match lang {
        Lang::En => format!(
            "{} of {} namespace containers reported native's kernel {native}{others}",
            spaces.iter().filter(|(_, k)| *k == native).count(),
            spaces.len()
        ),
        Lang::Ko => format!(
            "네임스페이스 컨테이너 {}개 중 {}개가 네이티브와 같은 커널({native})을 보고함{others}",
            spaces.len(),
            spaces.iter().filter(|(_, k)| *k == native).count()
        ),
    };
    let finding = if same {
        Finding::Supported
    } else {
        Finding::Contradicted
    };
    (evidence, finding)
}

/// PID 1, the processes and interfaces a namespace container saw, against native's.
fn namespaces(run: &RunView, lang: Lang) -> (String, Finding) {
    let Some(native) = run.seen.iter().find(|v| v.env == EnvKind::Native) else {
        return not_measured(
            lang,
            "no native view in this run",
            "이번 측정에는 네이티브의 보기가 없음",
        );
    };
    let spaces: Vec<_> = run
        .seen
        .iter()
        .filter(|v| v.env.tier() == Tier::Namespaces)
        .collect();
    let Some(first) = spaces.first() else {
        return not_measured(
            lang,
            "no namespace container ran",
            "네임스페이스 컨테이너가 돌지 않음",
        );
    };
    let seen_fewer = |v: &&super::seen::SeenView| match (
        v.view.processes_visible,
        native.view.processes_visible,
    ) {
        (Some(inside), Some(outside)) => inside < outside,
        _ => false,
    };
    let isolated = spaces.iter().all(|v| v.view.pid == 1 && seen_fewer(v));
    let count = |n: Option<usize>| n.map_or_else(|| "?".into(), |n| n.to_string());
    let evidence = match lang {
        Lang::En => format!(
            "{}: PID {} (native {}), {} process(es) visible (native {}), interfaces {} (native {}); {} of {} namespace containers were PID 1 and saw fewer processes",
            first.env,
            first.view.pid,
            native.view.pid,
            count(first.view.processes_visible),
            count(native.view.processes_visible),
            first.view.net_interfaces.join(" "),
            native.view.net_interfaces.join(" "),
            spaces.iter().filter(|v| v.view.pid == 1 && seen_fewer(v)).count(),
            spaces.len()
        ),
        Lang::Ko => format!(
            "{}: PID {} (네이티브 {}), 보이는 프로세스 {}개 (네이티브 {}), 인터페이스 {} (네이티브 {}); 네임스페이스 컨테이너 {}개 중 {}개가 PID 1이었고 더 적은 프로세스를 봄",
            first.env,
            first.view.pid,
            native.view.pid,
            count(first.view.processes_visible),
            count(native.view.processes_visible),
            first.view.net_interfaces.join(" "),
            native.view.net_interfaces.join(" "),
            spaces.len(),
            spaces.iter().filter(|v| v.view.pid == 1 && seen_fewer(v)).count()
        ),
    };
    let finding = if isolated {
        Finding::Supported
    } else {
        Finding::Contradicted
    };
    (evidence, finding)
}

/// The limits a namespace container saw; their enforcement is the test suite's.
fn cgroups(run: &RunView, lang: Lang) -> (String, Finding) {
    let limited: Vec<_> = run
        .seen
        .iter()
        .filter(|v| v.env.tier() == Tier::Namespaces)
        .filter(|v| v.view.limits.memory_max_bytes.is_some())
        .collect();
    let Some(first) = limited.first() else {
        return not_measured(
            lang,
            "no namespace container reported its limits",
            "제한을 보고한 네임스페이스 컨테이너가 없음",
        );
    };
    let mib = first.view.limits.memory_max_bytes.unwrap_or(0) >> 20;
    let pids = first
        .view
        .limits
        .pids_max
        .map_or_else(|| "max".to_string(), |p| p.to_string());
    let host = first.view.mem_total_bytes >> 20;
    if !run.results.limit_trials.is_empty() {
        return exceeded(run, lang, mib, &pids);
    }
    let evidence = match lang {
        Lang::En => format!("set and visible inside: {} saw memory.max {mib} MiB and pids.max {pids} in its own cgroup while MemTotal still said {host} MiB, {} CPU(s); this run did not exceed them (the test suite's OOM kill and fork bomb do)", first.env, first.view.cpus),
        Lang::Ko => format!("한도가 걸렸고 안에서 보임: {}의 자기 cgroup에서 memory.max {mib} MiB, pids.max {pids}가 보였고 MemTotal은 여전히 {host} MiB, CPU {}개였음. 이번 측정은 한도를 넘지 않았음(테스트 묶음의 OOM 종료와 포크 폭탄이 확인함)", first.env, first.view.cpus),
    };
    (evidence, Finding::Partly)
}

/// The limits held against containers run past them on purpose: which held, which did not.
fn exceeded(run: &RunView, lang: Lang, mib: u64, pids: &str) -> (String, Finding) {
    use crate::results::Exceeded;
    let trials = &run.results.limit_trials;
    let names = |kind: Exceeded, held: bool| -> String {
        let mut envs: Vec<String> = trials
            .iter()
            .filter(|t| t.exceeded == Some(kind) && t.contained() == held)
            .map(|t| t.env.to_string())
            .collect();
        envs.dedup();
        envs.join(", ")
    };
    let forks = trials
        .iter()
        .filter(|t| t.exceeded == Some(Exceeded::Pids) && t.contained())
        .find_map(|t| {
            let e = t.error.as_deref()?;
            e.strip_prefix(vmbench_workload::invocation::FORK_STOPPED)?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into());
    let all_held = trials.iter().all(|t| t.contained());
    let (mem_held, mem_not) = (
        names(Exceeded::Memory, true),
        names(Exceeded::Memory, false),
    );
    let (pids_held, pids_not) = (names(Exceeded::Pids, true), names(Exceeded::Pids, false));
    let evidence = match lang {
        Lang::En => {
            let mut e = format!("exceeded on purpose: touching twice memory.max ({mib} MiB), {mem_held} were killed by the OOM killer inside their cgroups; forking past pids.max ({pids}), {pids_held} were stopped (fork failed after {forks} children)");
            if !mem_not.is_empty() || !pids_not.is_empty() {
                e += &format!("; not shown held: memory {}, tasks {} (killed or ended without the kernel's OOM record, or never stopped: see limit_trials in the results)", or_none(&mem_not, lang), or_none(&pids_not, lang));
            }
            e
        }
        Lang::Ko => {
            let mut e = format!("일부러 넘겨 봄: memory.max({mib} MiB)의 두 배를 쓰자 {mem_held}는 자기 cgroup 안에서 OOM killer에게 종료됨. pids.max({pids})를 넘겨 fork하자 {pids_held}는 멈춤(자식 {forks}개 뒤 fork 실패)");
            if !mem_not.is_empty() || !pids_not.is_empty() {
                e += &format!(". 한도가 지켜졌다고 보이지 않음: 메모리 {}, 작업 수 {}(커널의 OOM 기록 없이 종료되었거나 멈추지 않음: 결과 파일의 limit_trials 참고)", or_none(&mem_not, lang), or_none(&pids_not, lang));
            }
            e
        }
    };
    (
        evidence,
        if all_held {
            Finding::Supported
        } else {
            Finding::Partly
        },
    )
}

fn or_none(list: &str, lang: Lang) -> String {
    match (list.is_empty(), lang) {
        (false, _) => list.to_string(),
        (true, Lang::En) => "none".into(),
        (true, Lang::Ko) => "없음".into(),
    }
}

/// Host memory per instance: the builtin container's against a VM's.
fn lighter(run: &RunView, lang: Lang) -> (String, Finding) {
    let memory = |f: &dyn Fn(EnvKind) -> bool| {
        run.spectrum
            .iter()
            .find(|r| f(r.env))
            .and_then(|r| Some((r.env, r.memory_bytes?)))
    };
    let container = memory(&|e| e.tier() == Tier::Namespaces);
    let vm = memory(&|e| e.family() == Family::Vm);
    let (Some((c_env, c)), Some((v_env, v))) = (container, vm) else {
        return not_measured(
            lang,
            "needs a container and a VM with their memory sampled in one run",
            "한 측정에서 메모리를 잰 컨테이너와 VM이 모두 있어야 함",
        );
    };
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let evidence = match lang {
        Lang::En => format!("host memory per instance (median): {c_env} {:.1} MiB, {v_env} {:.1} MiB, {:.0}× more for the VM", mib(c), mib(v), v as f64 / c.max(1) as f64),
        Lang::Ko => format!("인스턴스당 호스트 메모리(중앙값): {c_env} {:.1} MiB, {v_env} {:.1} MiB, VM이 {:.0}배 많음", mib(c), mib(v), v as f64 / c.max(1) as f64),
    };
    let finding = if c < v {
        Finding::Supported
    } else {
        Finding::Contradicted
    };
    (evidence, finding)
}

/// noop's start with its interval: the builtin container's against a VM's.
fn faster(run: &RunView, lang: Lang) -> (String, Finding) {
    let Some(noop) = run.workloads.iter().find(|w| w.name == Workload::Noop) else {
        return not_measured(
            lang,
            "noop (the start alone) did not run",
            "noop(시작만 재는 워크로드)이 돌지 않음",
        );
    };
    let row = |f: &dyn Fn(EnvKind) -> bool| noop.rows.iter().find(|r| f(r.env) && r.n > 0);
    let (Some(c), Some(v)) = (
        row(&|e| e.tier() == Tier::Namespaces),
        row(&|e| e.family() == Family::Vm),
    ) else {
        return not_measured(
            lang,
            "needs a container and a VM in one run",
            "한 측정에 컨테이너와 VM이 모두 있어야 함",
        );
    };
    let num = super::format::num;
    let text = |r: &super::model::EnvRow| match r.ci {
        Some(ci) => format!(
            "{} {} ms [{}, {}]",
            r.env,
            num(r.median),
            num(ci.lo),
            num(ci.hi)
        ),
        None => format!("{} {} ms", r.env, num(r.median)),
    };
    let evidence = format!(
        "{}: {}, {}",
        lang.pick(
            "noop start, median [95% CI]",
            "noop 시작, 중앙값 [95% 신뢰구간]"
        ),
        text(c),
        text(v)
    );
    let finding = match (c.ci, v.ci) {
        (Some(a), Some(b)) if a.hi < b.lo => Finding::Supported,
        (Some(a), Some(b)) if b.hi < a.lo => Finding::Contradicted,
        _ => Finding::Undecided,
    };
    (evidence, finding)
}

/// One environment's ratio to native with its verdict, if the run has it.
fn ratio_of(run: &RunView, workload: Workload, env: EnvKind) -> Option<(String, Verdict)> {
    let row = run.row(workload, env)?;
    Some((ratio_text(&row.ratio?), row.verdict?))
}

/// KVM's signature: computation at its host's speed, the hypervisor seen in exits and memory.
fn hypervisor(run: &RunView, lang: Lang) -> (String, Finding) {
    let Some(kvm) = run.booted(Accel::Kvm) else {
        return not_measured(lang, "no KVM guest ran (a TCG guest emulates the CPU, so no hardware sits below its hypervisor to show): results/sample-kvm-nested/ holds a KVM guest beside a TCG one", "KVM 게스트가 돌지 않음(TCG 게스트는 CPU를 흉내 내므로 하이퍼바이저 아래의 하드웨어를 보여 줄 수 없음). results/sample-kvm-nested/에 KVM 게스트와 TCG 게스트가 나란히 있음");
    };
    let Some((cpu, cpu_verdict)) = ratio_of(run, Workload::CpuInt, kvm) else {
        return not_measured(
            lang,
            "cpu-int did not run in the KVM guest",
            "KVM 게스트에서 cpu-int가 돌지 않음",
        );
    };
    let exits: Vec<String> = [Workload::Syscall, Workload::PageFault, Workload::MemBw]
        .into_iter()
        .filter_map(|w| Some(format!("{w} {}", ratio_of(run, w, kvm)?.0)))
        .collect();
    let nested = run
        .nested_kvm
        .as_ref()
        .map(|n| format!(" ({})", super::format::nested_kvm_words(n, lang)))
        .unwrap_or_default();
    let evidence = match lang {
        Lang::En => format!(
            "{kvm}{nested}: cpu-int {cpu}, the guest's instructions on the CPU itself; {}",
            exits.join(", ")
        ),
        Lang::Ko => format!(
            "{kvm}{nested}: cpu-int {cpu}, 게스트의 명령어가 CPU 위에서 직접 실행됨; {}",
            exits.join(", ")
        ),
    };
    // Computation near its host's speed is the signature; a guest far slower contradicts it.
    let finding = match cpu_verdict {
        Verdict::Same { .. } | Verdict::NoDifference { .. } => Finding::Supported,
        Verdict::Worse { ratio } | Verdict::Better { ratio } if (ratio - 1.0).abs() <= 0.2 => {
            Finding::Supported
        }
        Verdict::Worse { .. } | Verdict::Better { .. } => Finding::Contradicted,
        Verdict::Undetermined => Finding::Undecided,
    };
    (evidence, finding)
}

/// One binary, one image, many instances.
fn image(run: &RunView, lang: Lang) -> (String, Finding) {
    let r = &run.results;
    let sha = &r.workload_binary.sha256;
    let containers: Vec<_> = run
        .seen
        .iter()
        .filter(|v| v.env.family() == Family::Container)
        .collect();
    let instances: usize = run
        .quiet
        .iter()
        .filter(|q| q.env.family() == Family::Container)
        .map(|q| q.trials)
        .sum();
    if containers.is_empty() || instances == 0 {
        return not_measured(
            lang,
            "no container instance reported its binary",
            "바이너리를 보고한 컨테이너 인스턴스가 없음",
        );
    }
    let same = containers.iter().all(|v| v.view.sha256 == *sha);
    let short = &sha[..sha.len().min(12)];
    let size = r
        .image
        .as_ref()
        .map(|i| format!("{} ({:.2} MB)", i.kind.name(), i.bytes as f64 / 1e6))
        .unwrap_or_else(|| "minimal".into());
    let evidence = match lang {
        Lang::En => format!("{instances} container instances started from the {size} image, in {} environments; each environment's instance ran the binary with SHA-256 {short}…, the one vmbench hashed before the run", containers.len()),
        Lang::Ko => format!("{size} 이미지에서 컨테이너 인스턴스 {instances}개가 {}개 환경으로 시작됨; 환경마다 인스턴스가 vmbench가 측정 전에 해시한 것과 같은 SHA-256 {short}…인 바이너리를 실행함", containers.len()),
    };
    let finding = if same {
        Finding::Supported
    } else {
        Finding::Contradicted
    };
    (evidence + &own_layers(run, lang), finding)
}

/// Where file-layer ran in a container: every instance copied the image's file up again on
/// its first write, so what one instance wrote stayed in its own layer.
fn own_layers(run: &RunView, lang: Lang) -> String {
    let Some(row) = run
        .layers
        .as_ref()
        .and_then(|v| v.rows.iter().find(|r| r.env.family() == Family::Container))
    else {
        return String::new();
    };
    let (Some(first), Some(again)) = (row.first_write.as_ref(), row.rewrite.as_ref()) else {
        return String::new();
    };
    let (n, env, first, again) = (first.n, row.env, first.median, again.median);
    match lang {
        Lang::En => format!("; each of the {n} file-layer instances of {env} copied the image's file up again on its first write ({first:.2} ms, the second write {again:.2} ms): what one instance writes stays in its own layer, the image is left as it was"),
        Lang::Ko => format!("; {env}의 file-layer 인스턴스 {n}개가 모두 첫 쓰기에서 이미지의 파일을 다시 복사해 올림({first:.2} ms, 두 번째 쓰기 {again:.2} ms): 한 인스턴스가 쓴 것은 자기 레이어에만 남고 이미지는 그대로임"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Report;

    fn sample() -> Report {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/sample/results.json");
        let results = crate::results::Results::load_for_report(&path).unwrap();
        Report::build(&[("sample".into(), results)], None, 0.03)
    }

    #[test]
    fn each_claim_is_held_against_the_runs_figures() {
        let report = sample();
        let run = &report.runs[0];
        let findings: Vec<Finding> = claims(run, Lang::En).iter().map(|c| c.finding).collect();
        use Finding::*;
        assert_eq!(
            findings,
            [
                Supported,
                Supported,
                Partly,
                Supported,
                Supported,
                NotMeasured,
                Supported,
                NotMeasured,
                NotMeasured
            ]
        );
        let ko = claims(run, Lang::Ko);
        assert_eq!(ko[0].finding_words, "뒷받침됨");
        assert!(ko[5].evidence.contains("results/sample-kvm-nested/"));
    }

    #[test]
    fn a_figure_that_disagrees_contradicts_its_claim() {
        let mut report = sample();
        let run = &mut report.runs[0];
        let view = run
            .seen
            .iter_mut()
            .find(|v| v.env == EnvKind::ContainerRunc)
            .unwrap();
        view.view.kernel = "9.9.9-elsewhere".into();
        view.view.pid = 42;
        let rows = claims(run, Lang::En);
        assert_eq!(
            rows[0].finding,
            Finding::Contradicted,
            "{}",
            rows[0].evidence
        );
        assert!(
            rows[0].evidence.starts_with("5 of 6"),
            "{}",
            rows[0].evidence
        );
        assert_eq!(
            rows[1].finding,
            Finding::Contradicted,
            "{}",
            rows[1].evidence
        );
        // A start interval that overlaps the VM's cannot tell.
        let noop = run
            .workloads
            .iter_mut()
            .find(|w| w.name == Workload::Noop)
            .unwrap();
        for r in noop.rows.iter_mut() {
            if let Some(ci) = r.ci.as_mut() {
                ci.lo = 1.0;
                ci.hi = 5000.0;
            }
        }
        assert_eq!(claims(run, Lang::En)[4].finding, Finding::Undecided);
    }
}
