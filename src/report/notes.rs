//! Lecture notes beside each report section, in English and Korean: a short explanation, in
//! the words a teacher would use, tying the measured figure to the mechanism behind it.

use super::format::verdict_words;
use super::model::RunView;
use crate::ids::{Accel, EnvKind, Family};
use crate::stats::Verdict;
use serde::Serialize;
use vmbench_workload::Workload;

pub use super::lang::Lang;

/// The notes of one run, per section.
#[derive(Debug, Clone, Serialize)]
pub struct Notes {
    /// What the comparison is about.
    pub overview: String,
    /// Why startup times differ by orders of magnitude.
    pub startup: String,
    /// Why CPU-bound work costs (almost) nothing in a container, and what a VM adds.
    pub cpu: String,
    /// Why memory and I/O cost more in a VM.
    pub memory_io: String,
    /// Hardware-assisted virtualisation against binary translation.
    pub accel: String,
    /// What an image holds; containers as instances of it.
    pub image: String,
    /// Where a container's start goes: the kernel's part, a runtime's, an engine's.
    pub start_split: String,
    /// The isolation spectrum: who answers the workload's system calls, and what it costs.
    pub spectrum: String,
    /// What each instance saw: the host's kernel or its own, PID 1, its own interfaces and files.
    pub seen: String,
    /// How the figures were measured and how to read the statistics.
    pub method: String,
    /// How quiet the host was, and what that means for the figures.
    pub quiet: String,
    /// Density: image against instance, page-cache sharing, a guest's RAM per VM.
    pub density: String,
    /// The network path: where a packet goes in each environment, with this run's figures.
    pub network: String,
    /// Layers and copy-on-write, with this run's images and writes.
    pub layers: String,
}

fn startup_of(run: &RunView, env: EnvKind) -> Option<f64> {
    run.startup
        .iter()
        .find(|s| s.env == env)
        .map(|s| s.summary.median)
}

/// Where a container's start goes, with this run's medians.
fn start_split(run: &RunView, lang: Lang) -> String {
    let ms = |e: EnvKind| fmt_ms(startup_of(run, e), lang);
    let (native, builtin, crun, runc) = (
        ms(EnvKind::Native),
        ms(EnvKind::Container),
        ms(EnvKind::ContainerCrun),
        ms(EnvKind::ContainerRunc),
    );
    let (podman, docker) = (ms(EnvKind::ContainerPodman), ms(EnvKind::ContainerDocker));
    let gap = startup_of(run, EnvKind::Container)
        .zip(startup_of(run, EnvKind::Native))
        .map(|(c, n)| c - n);
    let gap = fmt_ms(gap, lang);
    match lang {
        Lang::En => format!("Starting the same program took {native} as a plain process and {builtin} in vmbench's own container: the kernel's part of a container (new namespaces, a cgroup, a few mounts, pivot_root) added {gap} here. An OCI runtime adds a process of its own that reads a bundle and sets the same things up: {crun} with crun (C), {runc} with runc (Go). An engine adds its machinery on top: Podman {podman} (the client, conmon and the runtime, no daemon), Docker {docker} (the client asks the daemon, which asks containerd, which starts a shim, which runs runc). What a user waits for in `docker run` is mostly the engine, not the kernel."),
        Lang::Ko => format!("같은 프로그램을 시작하는 데 일반 프로세스로는 {native}, vmbench 자체 컨테이너로는 {builtin} 걸렸습니다. 컨테이너에서 커널이 하는 일(새 네임스페이스, cgroup, 마운트 몇 개, pivot_root)이 여기서 {gap} 더했습니다. OCI 런타임은 번들을 읽고 같은 설정을 하는 자기 프로세스를 더합니다. crun(C)은 {crun}, runc(Go)는 {runc}였습니다. 엔진은 그 위에 자기 구성 요소를 더합니다. Podman은 {podman}(클라이언트, conmon, 런타임, 데몬 없음), Docker는 {docker}(클라이언트가 데몬에, 데몬이 containerd에, containerd가 shim에, shim이 runc에 요청)입니다. `docker run`에서 사용자가 기다리는 시간은 대부분 커널이 아니라 엔진의 몫입니다."),
    }
}

/// Container starts apart from the rounds, after a quiet spell and back to back, and the
/// kernel lock that makes them differ; nothing when the run measured none.
fn spaced_starts(run: &RunView, lang: Lang) -> String {
    let Some(first) = run.spaced_starts.first() else {
        return String::new();
    };
    let n = first.isolated.1;
    let quiet = crate::results::QUIET_SPELL.as_millis();
    let list: Vec<String> = run
        .spaced_starts
        .iter()
        .map(|s| {
            let rounds = s.rounds_ms.map(|r| fmt_ms(Some(r), lang));
            match lang {
                Lang::En => format!(
                    "{} {} isolated, {} back to back{}",
                    s.env,
                    fmt_ms(Some(s.isolated.0), lang),
                    fmt_ms(Some(s.back_to_back.0), lang),
                    rounds.map_or_else(String::new, |r| format!(" ({r} in the rounds)"))
                ),
                Lang::Ko => format!(
                    "{} 조용한 뒤 {}, 연달아 {}{}",
                    s.env,
                    fmt_ms(Some(s.isolated.0), lang),
                    fmt_ms(Some(s.back_to_back.0), lang),
                    rounds.map_or_else(String::new, |r| format!(" (라운드 안에서 {r})"))
                ),
            }
        })
        .collect();
    let list = list.join("; ");
    // The environment whose move into its cgroup differs most between the two spacings.
    let attach = run
        .spaced_starts
        .iter()
        .filter_map(|s| s.attach_ms.map(|a| (s.env, a)))
        .max_by(|a, b| (a.1 .0 - a.1 .1).total_cmp(&(b.1 .0 - b.1 .1)));
    let attach = attach.map_or_else(String::new, |(env, (iso, b2b))| match lang {
        Lang::En => format!(" In {env} the move into the cgroup alone took {} after the quiet spell and {} back to back.", fmt_ms(Some(iso), lang), fmt_ms(Some(b2b), lang)),
        Lang::Ko => format!(" {env}에서는 cgroup으로 옮기는 단계만 조용한 뒤 {}, 연달아 {} 걸렸습니다.", fmt_ms(Some(iso), lang), fmt_ms(Some(b2b), lang)),
    });
    match lang {
        Lang::En => format!(" Apart from the rounds, each container environment also started {n} times after {quiet} ms with nothing started (isolated) and {n} times right after the previous one (back to back), medians: {list}. Writing a process's pid into `cgroup.procs`, as a runtime or a parent does, takes the kernel's `cgroup_threadgroup_rwsem` for writing; the write side of that per-CPU lock waits for an RCU grace period unless it was taken moments before, so a start after a quiet spell can wait milliseconds that a burst of starts does not.{attach} A process cloned straight into its cgroup (`CLONE_INTO_CGROUP`, cgroup v2) or a single thread moving itself (writing 0 to v1's `tasks`, as vmbench's builtin does) does not take that lock. In the rounds, other environments run between two starts of the same one."),
        Lang::Ko => format!(" 라운드와 따로, 각 컨테이너 환경을 아무것도 시작하지 않은 {quiet} ms 뒤에 {n}번(조용한 뒤), 앞의 것이 끝나자마자 {n}번(연달아) 더 시작했습니다. 중앙값: {list}. 런타임이나 부모 프로세스처럼 `cgroup.procs`에 pid를 쓰면 커널은 `cgroup_threadgroup_rwsem`을 쓰기로 잡습니다. 이 CPU별 잠금의 쓰기 쪽은 바로 전에 누가 잡지 않았다면 RCU grace period를 기다리므로, 조용한 뒤의 시작은 연달아 하는 시작에는 없는 몇 밀리초를 기다릴 수 있습니다.{attach} cgroup 안으로 바로 clone된 프로세스(`CLONE_INTO_CGROUP`, cgroup v2)나 스스로 옮겨 가는 단일 스레드(v1의 `tasks`에 0을 씀, vmbench 자체 컨테이너의 방식)는 이 잠금을 잡지 않습니다. 라운드 안에서는 같은 환경의 두 시작 사이에 다른 환경들이 돕니다."),
    }
}

/// What restoring a snapshot skips and costs, when a snapshot guest ran (else nothing).
fn snapshot(run: &RunView, lang: Lang) -> String {
    let Some(restored) = run.startup.iter().find(|s| s.env.is_snapshot()) else {
        return String::new();
    };
    let booted = run
        .startup
        .iter()
        .find(|s| {
            s.env.family() == Family::Vm
                && !s.env.is_snapshot()
                && s.env.accel() == restored.env.accel()
        })
        .map(|s| s.summary.median);
    let (ms, boot) = (
        fmt_ms(Some(restored.summary.median), lang),
        fmt_ms(booted, lang),
    );
    let size = run.results.snapshot.as_ref().map_or_else(
        || "—".to_string(),
        |s| format!("{:.0} MB", s.bytes as f64 / 1e6),
    );
    match lang {
        Lang::En => format!(" Restoring the same guest from a snapshot took {ms} against {boot} to boot it: the snapshot was saved once, just before the workload starts, so a restore skips the kernel's boot and device probing and only streams the saved memory back ({size} on disk) and resumes. This is the trick serverless platforms use (Firecracker snapshots, Lambda SnapStart). Every clone resumes from the same state, with the same random pool and clock, so vmbench sends each one fresh random bytes and the host's time with its plan."),
        Lang::Ko => format!(" 같은 게스트를 스냅숏에서 복원하는 데는 {ms}가 걸렸고, 부팅은 {boot}였습니다. 스냅숏은 워크로드가 시작되기 직전에 한 번 저장해 두었으므로, 복원은 커널 부팅과 장치 탐색을 건너뛰고 저장된 메모리(디스크에서 {size})를 다시 읽어 이어서 실행할 뿐입니다. 서버리스 플랫폼이 쓰는 방법입니다(Firecracker 스냅숏, Lambda SnapStart). 모든 복제본이 같은 상태, 같은 난수 풀과 시계로 깨어나므로, vmbench는 계획과 함께 새 난수와 호스트 시각을 보내 줍니다."),
    }
}

/// KVM against TCG: the mechanism, then this run's figures for each accelerator that ran,
/// side by side where both did, labelled when KVM was nested; nothing when no guest ran.
fn accel(run: &RunView, lang: Lang) -> String {
    let mechanism = match lang {
        Lang::En => "With KVM the CPU runs the guest's instructions directly and leaves them only for what the hypervisor must handle (an exit: device I/O, some privileged operations, a guest page the host has not backed yet). Under TCG, QEMU translates each block of guest instructions into host instructions in software (binary translation) and emulates the memory unit in software too, so every instruction pays, not only the exits.",
        Lang::Ko => "KVM을 쓰면 CPU가 게스트의 명령어를 직접 실행하고, 하이퍼바이저가 처리해야 할 일(장치 입출력, 일부 특권 명령, 호스트가 아직 메모리를 붙여 주지 않은 게스트 페이지)이 생길 때만 빠져나옵니다(VM exit). TCG에서는 QEMU가 게스트 명령어 블록을 소프트웨어로 호스트 명령어로 번역하고(바이너리 변환) 메모리 관리 장치도 소프트웨어로 흉내 내므로, exit만이 아니라 모든 명령어에 오버헤드가 생깁니다.",
    };
    let figures = |env: EnvKind| {
        let none = || match lang {
            Lang::En => "not measured".to_string(),
            Lang::Ko => "측정 안 함".to_string(),
        };
        let r = |w: Workload| {
            run.row(w, env)
                .and_then(|row| row.ratio)
                .map_or_else(none, |ratio| super::format::ratio_text(&ratio))
        };
        let start = fmt_ms(startup_of(run, env), lang);
        format!(
            "cpu-int {}, syscall {}, mem-bw {}, page-fault {}, {} {start}",
            r(Workload::CpuInt),
            r(Workload::Syscall),
            r(Workload::MemBw),
            r(Workload::PageFault),
            match lang {
                Lang::En => "startup",
                Lang::Ko => "시작",
            }
        )
    };
    let (kvm, tcg) = (run.booted(Accel::Kvm), run.booted(Accel::Tcg));
    let nested = run
        .nested_kvm
        .as_ref()
        .map(|n| format!(" ({})", super::format::nested_kvm_words(n, lang)))
        .unwrap_or_default();
    let measured = match (kvm, tcg, lang) {
        (Some(k), Some(t), Lang::En) => format!(" This run measured both, ratios to native with their intervals: under KVM{nested} {}; under TCG {}. Where KVM's ratio is near 1 the guest computed on the CPU itself; where it is not, the cost is in exits and memory; TCG's ratios are far from 1 everywhere.", figures(k), figures(t)),
        (Some(k), Some(t), Lang::Ko) => format!(" 이번 측정은 둘 다 재었습니다(네이티브 대비 비율과 신뢰구간). KVM{nested}: {}. TCG: {}. KVM의 비율이 1에 가까운 곳은 게스트가 CPU 위에서 직접 계산한 곳이고, 그렇지 않은 곳의 비용은 exit와 메모리에 있습니다. TCG의 비율은 어디서나 1에서 멉니다.", figures(k), figures(t)),
        (Some(k), None, Lang::En) => format!(" This run measured KVM{nested}: {}.", figures(k)),
        (Some(k), None, Lang::Ko) => format!(" 이번 측정은 KVM{nested}만 재었습니다: {}.", figures(k)),
        (None, Some(t), Lang::En) => format!(" This run measured TCG only: {}. Those are emulation's costs, not a KVM guest's; results/sample-kvm-nested/ shows both side by side.", figures(t)),
        (None, Some(t), Lang::Ko) => format!(" 이번 측정은 TCG만 재었습니다: {}. 에뮬레이션의 비용이지 KVM 게스트의 비용이 아닙니다. 둘을 나란히 보려면 results/sample-kvm-nested/를 보세요.", figures(t)),
        // Without a guest the mechanism has nothing of this run to explain.
        (None, None, _) => return String::new(),
    };
    format!("{mechanism}{measured}")
}

/// What the instances saw, read out with this run's views.
fn seen(run: &RunView, lang: Lang) -> String {
    let view =
        |pick: &dyn Fn(EnvKind) -> bool| run.seen.iter().find(|v| pick(v.env)).map(|v| &v.view);
    let host = view(&|e| e == EnvKind::Native);
    let container = view(&|e| e == EnvKind::Container)
        .or_else(|| view(&|e| e.tier() == crate::ids::Tier::Namespaces));
    let vm = view(&|e| e.family() == Family::Vm);
    let none = match lang {
        Lang::En => "not measured in this run".to_string(),
        Lang::Ko => "이번 측정에는 없음".to_string(),
    };
    let kernel = |v: Option<&vmbench_workload::GuestView>| {
        v.map_or_else(|| none.clone(), |v| format!("\"{}\"", v.kernel))
    };
    let (k_host, k_container, k_vm) = (kernel(host), kernel(container), kernel(vm));
    let pid = container.map_or_else(|| none.clone(), |v| v.pid.to_string());
    let nics = container.map_or_else(|| none.clone(), |v| v.net_interfaces.join(", "));
    let procs = container
        .and_then(|v| v.processes_visible)
        .map_or_else(|| none.clone(), |p| p.to_string());
    let files = container.map_or_else(|| none.clone(), |v| v.root_entries.len().to_string());
    let host_procs = host
        .and_then(|v| v.processes_visible)
        .map_or_else(|| none.clone(), |p| p.to_string());
    match lang {
        Lang::En => format!("Each column is what the same program reported about its world when it started. The container reports the host's kernel ({k_container}, the same as natively: {k_host}) because it is a process on that kernel; the VM reports a kernel of its own ({k_vm}), booted just for it. Inside the container the program is PID {pid} and sees {procs} process(es) where the host shows {host_procs}, the interfaces {nics}, and {files} entries in / (only its image's): that is what namespaces do, the same kernel showing a private view. The limits row shows cgroups: the budget the kernel holds the container to, visible from inside."),
        Lang::Ko => format!("각 열은 같은 프로그램이 시작할 때 자기 세상에 대해 보고한 내용입니다. 컨테이너는 호스트의 커널({k_container}, 네이티브와 같은 {k_host})을 보고합니다. 그 커널 위의 프로세스이기 때문입니다. 가상 머신은 자기만을 위해 부팅한 자기 커널({k_vm})을 보고합니다. 컨테이너 안에서 프로그램은 PID {pid}이고, 호스트에서는 {host_procs}개가 보이는 프로세스가 {procs}개만 보이며, 인터페이스는 {nics}, / 에는 이미지의 것만 {files}개 있습니다. 이것이 네임스페이스가 하는 일입니다. 같은 커널이 따로 떼어 낸 모습을 보여 줄 뿐입니다. 한도 행은 cgroup입니다. 커널이 컨테이너에 걸어 둔 자원 예산이 안에서도 보입니다."),
    }
}

/// The isolation spectrum, with this run's figures.
fn spectrum(run: &RunView, lang: Lang) -> String {
    let row = |e: EnvKind| run.spectrum.iter().find(|r| r.env == e);
    let tier_row = |t: super::spectrum::Tier| run.spectrum.iter().find(|r| r.tier == t);
    let none = match lang {
        Lang::En => "(not measured in this run)",
        Lang::Ko => "(이번 측정에는 없음)",
    };
    let ns = |r: Option<&super::spectrum::SpectrumRow>| {
        r.and_then(|r| r.syscall_ns)
            .map_or_else(|| none.to_string(), |v| format!("{v:.0} ns"))
    };
    let kernel = |r: Option<&super::spectrum::SpectrumRow>| {
        r.and_then(|r| r.kernel.clone())
            .map_or_else(|| none.to_string(), |k| format!("\"{k}\""))
    };
    use super::spectrum::Tier;
    let native = row(EnvKind::Native);
    let spaces = tier_row(Tier::Namespaces);
    let gvisor = row(EnvKind::ContainerGvisor);
    let guest = tier_row(Tier::GuestKernel);
    let times = match (
        gvisor.and_then(|g| g.syscall_ns),
        native.and_then(|n| n.syscall_ns),
    ) {
        (Some(g), Some(n)) if n > 0.0 => match lang {
            Lang::En => format!("{:.0}×", g / n),
            Lang::Ko => format!("{:.0}배", g / n),
        },
        _ => "—".to_string(),
    };
    let start = fmt_ms(gvisor.and_then(|g| g.startup_ms), lang);
    // What the interval supports for gVisor's pure computation, not a hope.
    let cpu = run
        .workloads
        .iter()
        .find(|w| w.name == Workload::CpuInt)
        .and_then(|w| {
            let r = w.rows.iter().find(|r| r.env == EnvKind::ContainerGvisor)?;
            let words = verdict_words(r.verdict?, w.better, lang);
            Some(match lang {
                Lang::En => format!("{:.3}× of native, {words}", r.ratio?.value),
                Lang::Ko => format!("네이티브의 {:.3}배, {words}", r.ratio?.value),
            })
        })
        .unwrap_or_else(|| none.to_string());
    let (ns_native, ns_spaces, ns_gvisor, ns_guest) =
        (ns(native), ns(spaces), ns(gvisor), ns(guest));
    let (k_native, k_gvisor, k_guest) = (kernel(native), kernel(gvisor), kernel(guest));
    match lang {
        Lang::En => format!("Isolation is a question of who answers the program's system calls. Natively and in every namespace container it is the host's own kernel ({k_native}); a system call cost {ns_native} natively and {ns_spaces} in a container, because nothing stands in between: namespaces only change what the kernel shows. gVisor puts a kernel written in user space, the Sentry, between the program and the host: it catches every system call and answers it itself ({k_gvisor} is its own version string), asking the host kernel only for a narrow set of calls. That is a far smaller attack surface, paid on every call: {ns_gvisor} here, {times} the native cost, while pure computation (cpu-int) came out at {cpu} and a sandbox started in {start}. A VM goes one step further and runs a complete guest kernel ({k_guest}) on virtual hardware; its system calls stay inside the guest ({ns_guest} here), and what it pays instead is boot time, memory for a whole guest and every trip to a virtual device."),
        Lang::Ko => format!("격리란 결국 프로그램의 시스템 콜에 누가 답하느냐의 문제입니다. 네이티브와 모든 네임스페이스 컨테이너에서는 호스트 자신의 커널({k_native})이 답합니다. 시스템 콜 한 번은 네이티브에서 {ns_native}, 컨테이너에서 {ns_spaces}였습니다. 네임스페이스는 커널이 보여 주는 것만 바꿀 뿐 사이에 아무것도 두지 않기 때문입니다. gVisor는 프로그램과 호스트 사이에 사용자 공간에서 도는 커널인 Sentry를 둡니다. Sentry가 모든 시스템 콜을 가로채 스스로 답하고({k_gvisor}는 Sentry 자신의 버전 문자열입니다), 호스트 커널에는 좁은 범위의 호출만 요청합니다. 공격 표면은 훨씬 작아지지만 호출마다 오버헤드가 생깁니다. 여기서는 시스템 콜 한 번에 {ns_gvisor}, 네이티브의 {times}가 걸렸습니다. 순수 계산(cpu-int)의 결과: {cpu}. 샌드박스 시작: {start}. 가상 머신은 한 걸음 더 나아가 가상 하드웨어 위에서 완전한 게스트 커널({k_guest})을 돌립니다. 시스템 콜은 게스트 안에서 끝나고(여기서는 {ns_guest}), 대신 부팅 시간, 게스트 전체의 메모리, 가상 장치를 오가는 데서 오버헤드가 생깁니다."),
    }
}

/// What an image is, with this run's image.
fn image(run: &RunView, lang: Lang, guest: &str) -> String {
    let record = run.results.image.as_ref();
    let kind = record.map_or("minimal", |r| r.kind.name());
    let size = record.map_or_else(
        || "—".to_string(),
        |r| match lang {
            Lang::En => format!("{:.1} MB, {} files", r.bytes as f64 / 1e6, r.files),
            Lang::Ko => format!("{:.1} MB, 파일 {}개", r.bytes as f64 / 1e6, r.files),
        },
    );
    let imports = record
        .map(|r| {
            r.engines
                .iter()
                .map(|(k, e)| format!("{k} {:.2} s", e.import_ms / 1e3))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty());
    let see = run.layers.is_some();
    match lang {
        Lang::En => {
            let ship = imports.map_or(String::new(), |i| {
                format!(" Importing it into an engine, the stand-in for a pull, took {i}.")
            });
            let see = if see {
                " (see Layers and copy-on-write)"
            } else {
                ""
            };
            format!("An image is a stack of read-only layers, each a tar of files{see}: think of it as the class, and of each container as an instance of it. Every container shares the layers read-only and adds its own mounts and, where it writes, a writable layer of its own (an engine always gives one; vmbench's container only for file-layer), so starting ten containers copies nothing until one writes. This run's {kind} image holds {size}.{ship} A smaller image ships faster and has less to read from disk on a cold start; the program inside is byte for byte the same in every image. A VM instead needs a guest kernel and an initramfs ({guest} here) and its own RAM for each instance.")
        }
        Lang::Ko => {
            let ship = imports.map_or(String::new(), |i| {
                format!(" 엔진으로 가져오는 데(pull 대신) {i} 걸렸습니다.")
            });
            let see = if see {
                "(레이어와 copy-on-write 참고)"
            } else {
                ""
            };
            format!("이미지는 읽기 전용 레이어를 쌓은 것이고, 각 레이어는 파일을 묶은 tar입니다{see}. 이미지를 클래스로, 컨테이너를 그 인스턴스로 생각하면 됩니다. 모든 컨테이너는 레이어를 읽기 전용으로 공유하고, 자기 마운트와, 쓰는 곳에는 자기만의 쓰기 가능한 레이어를 더합니다(엔진은 항상, vmbench의 컨테이너는 file-layer에서만). 그래서 컨테이너 열 개를 띄워도 어느 하나가 쓰기 전까지는 아무것도 복사되지 않습니다. 이번 {kind} 이미지는 {size}입니다.{ship} 작은 이미지일수록 빨리 배포되고, 콜드 스타트에서 디스크에서 읽을 것이 적습니다. 안의 프로그램은 어느 이미지에서나 바이트 단위까지 같습니다. 가상 머신은 인스턴스마다 게스트 커널과 initramfs(여기서는 {guest}), 그리고 자기 RAM이 필요합니다.")
        }
    }
}

fn startup_ms(run: &RunView, family: Family) -> Option<f64> {
    run.startup
        .iter()
        .find(|s| s.env.family() == family)
        .map(|s| s.summary.median)
}

/// A ratio to native with its verdict, for a sentence: `0.166× of native, 6.0× worse`.
fn ratio(run: &RunView, workload: Workload, family: Family, lang: Lang) -> String {
    let found = run
        .workloads
        .iter()
        .find(|w| w.name == workload)
        .and_then(|w| {
            let row = w.rows.iter().find(|r| r.env.family() == family)?;
            Some((row.ratio?, row.verdict?, w.better))
        });
    match (found, lang) {
        (Some((r, v, better)), Lang::En) => format!(
            "{:.3}× of native, {}",
            r.value,
            verdict_words(v, better, lang)
        ),
        (Some((r, v, better)), Lang::Ko) => format!(
            "네이티브의 {:.3}배, {}",
            r.value,
            verdict_words(v, better, lang)
        ),
        (None, Lang::En) => "not measured in this run".into(),
        (None, Lang::Ko) => "이번 측정에는 없음".into(),
    }
}

/// The verdict on a container's CPU-bound work, for choosing the sentence.
fn container_cpu_verdict(run: &RunView) -> Option<Verdict> {
    run.workloads
        .iter()
        .find(|w| w.name == Workload::CpuInt)?
        .rows
        .iter()
        .find(|r| r.env.family() == Family::Container)?
        .verdict
}

/// What the run says of CPU-bound work in a container: only what its interval supports.
fn container_cpu(run: &RunView, lang: Lang) -> String {
    let figure = ratio(run, Workload::CpuInt, Family::Container, lang);
    match (container_cpu_verdict(run), lang) {
        (Some(Verdict::Same { .. }), Lang::En) => format!("CPU-bound work ran at the same speed in a container (cpu-int: {figure}): its instructions run directly on the CPU under the same scheduler, so namespaces and cgroups cost nothing while the program computes."),
        (Some(Verdict::Same { .. }), Lang::Ko) => format!("CPU만 쓰는 작업은 컨테이너에서도 속도가 같았습니다(cpu-int: {figure}). 명령어가 같은 스케줄러 아래에서 CPU 위에서 그대로 실행되므로, 계산하는 동안 네임스페이스와 cgroup은 아무 비용도 들지 않습니다."),
        (Some(Verdict::NoDifference { .. } | Verdict::Undetermined), Lang::En) => format!("This run could not tell whether CPU-bound work runs slower in a container (cpu-int: {figure}): the interval is too wide, because the host was busy or the run too short. Namespaces and cgroups add no instructions to a computation, but only a tighter interval can show it: run again with more repetitions (--target-ci 2) on a quieter host."),
        (Some(Verdict::NoDifference { .. } | Verdict::Undetermined), Lang::Ko) => format!("이번 측정으로는 CPU만 쓰는 작업이 컨테이너에서 더 느린지 판단할 수 없었습니다(cpu-int: {figure}). 호스트가 바빴거나 측정이 짧아 신뢰구간이 넓습니다. 네임스페이스와 cgroup은 계산에 명령어를 더하지 않지만, 그것을 보이려면 더 좁은 신뢰구간이 필요합니다. 더 조용한 호스트에서 반복을 늘려(--target-ci 2) 다시 측정하세요."),
        (Some(Verdict::Worse { .. } | Verdict::Better { .. }), Lang::En) => format!("In this run CPU-bound work measured differently in a container (cpu-int: {figure}). Namespaces and cgroups add no instructions to a computation, so look for the cause on the host first (see how quiet the host was) before drawing a conclusion."),
        (Some(Verdict::Worse { .. } | Verdict::Better { .. }), Lang::Ko) => format!("이번 측정에서는 CPU만 쓰는 작업이 컨테이너에서 다르게 나왔습니다(cpu-int: {figure}). 네임스페이스와 cgroup은 계산에 명령어를 더하지 않으므로, 결론을 내리기 전에 호스트 쪽 원인(호스트가 얼마나 조용했는지)을 먼저 살펴보세요."),
        (None, Lang::En) => "CPU-bound work in a container was not measured in this run.".into(),
        (None, Lang::Ko) => "이번 측정에는 컨테이너의 CPU 작업이 없습니다.".into(),
    }
}

/// The density note, with this run's marginal costs and binary sharing.
fn density(run: &RunView, lang: Lang) -> String {
    let Some(view) = &run.density else {
        return String::new();
    };
    let marginal = |family: Family| {
        view.series
            .iter()
            .filter(|s| s.env.family() == family && s.ksm != Some(true))
            .find_map(|s| s.marginal_pss.map(|m| (s.label.clone(), m)))
    };
    // The slope with its interval, where three counts or more gave one.
    let figure = |f: Option<(String, super::density::Slope)>| {
        f.map_or_else(
            || "—".to_string(),
            |(l, m)| format!("{} ({l})", super::density::slope_text(Some(m))),
        )
    };
    let (c, v) = (
        figure(marginal(Family::Container)),
        figure(marginal(Family::Vm)),
    );
    let sharing = view
        .series
        .iter()
        .find(|s| s.env.family() == Family::Container && s.points.len() > 1)
        .and_then(|s| {
            let (a, b) = (s.points.first()?, s.points.last()?);
            Some((a.binary_pss_kib?, a.count, b.binary_pss_kib?, b.count))
        });
    // The largest guest step without KSM: what its guests committed against what they used.
    let committed = run
        .results
        .density
        .iter()
        .flat_map(|d| &d.steps)
        .filter(|s| s.env.family() == Family::Vm && s.ksm != Some(true))
        .max_by_key(|s| s.count)
        .map(|s| {
            let gib = |b: i64| b as f64 / f64::from(1u32 << 30);
            (
                s.count,
                gib(s.committed.1 as i64 - s.committed.0 as i64),
                gib(s.mem_available.0 as i64 - s.mem_available.1 as i64),
            )
        });
    let committed_en = committed.map_or_else(String::new, |(n, c, a)| {
        format!(" Here {n} guests raised Committed_AS by {c:.1} GiB while MemAvailable fell by {a:.1} GiB.")
    });
    let committed_ko = committed.map_or_else(String::new, |(n, c, a)| {
        format!(" 여기서 게스트 {n}개가 Committed_AS를 {c:.1} GiB 올리는 동안 MemAvailable은 {a:.1} GiB 줄었습니다.")
    });
    match lang {
        Lang::En => format!(
            "An image is a stack of read-only layers of files; an instance is what runs from them. Containers of one image share its files through the host's page cache: here the workload binary's pages cost each container {} — the PSS (proportional set size) splits each shared page among the processes that map it, so the per-instance share falls as 1/N. A VM boots from its own copy: the binary lives in each guest's RAM (its initramfs), with a guest kernel and QEMU beside it. Each guest's RAM is committed in full (the host promises it), but resident only where the guest has touched it.{committed_en} So one more container cost {c} of PSS here, one more VM {v}. KSM (kernel same-page merging) can give some of a VM's memory back by merging identical pages across guests, at the price of a kernel thread scanning memory; the KSM rows show how much it merged.",
            sharing.map_or_else(
                || "less with every container added".to_string(),
                |(a, n1, b, n2)| format!("{a:.0} KiB with {n1} alive and {b:.0} KiB each with {n2}")
            )
        ),
        Lang::Ko => format!(
            "이미지는 읽기 전용 파일 레이어를 쌓은 것이고, 인스턴스는 그 파일로 실행된 것입니다. 같은 이미지의 컨테이너들은 호스트의 페이지 캐시를 통해 그 파일을 공유합니다. 여기서 워크로드 바이너리의 페이지가 컨테이너 하나에 든 비용은 {}입니다. PSS(비례 배분 메모리)는 공유 페이지를 그것을 매핑한 프로세스 수로 나누므로 인스턴스당 몫은 1/N로 줄어듭니다. VM은 자기 사본으로 부팅합니다. 바이너리는 각 게스트의 RAM(initramfs) 안에 있고, 그 옆에 게스트 커널과 QEMU가 있습니다. 게스트마다 RAM 전체가 커밋되지만(호스트가 약속해 두지만), 실제로 메모리를 차지하는 것은 게스트가 건드린 페이지뿐입니다.{committed_ko} 그래서 여기서 컨테이너 하나를 더하면 PSS가 {c}, VM 하나를 더하면 {v} 늘었습니다. KSM(커널 동일 페이지 병합)은 게스트들 사이의 같은 페이지를 합쳐 VM 메모리 일부를 돌려줄 수 있지만, 커널 스레드가 메모리를 훑는 비용이 듭니다. KSM 행이 얼마나 합쳤는지 보여 줍니다.",
            sharing.map_or_else(
                || "컨테이너가 늘수록 줄어듭니다".to_string(),
                |(a, n1, b, n2)| format!("{n1}개일 때 {a:.0} KiB, {n2}개일 때 각각 {b:.0} KiB")
            )
        ),
    }
}

/// A path's median round trip with its ratio to native, in words: `41.2 µs (1.12× native)`.
fn path_rtt(run: &RunView, env: Option<EnvKind>, path: crate::ids::NetPath, lang: Lang) -> String {
    let fig = env
        .and_then(|e| run.network.as_ref()?.row(e, path))
        .and_then(|r| r.rtt.as_ref());
    match (fig, lang) {
        (Some(f), _) => match f.ratio {
            Some(r) => format!("{:.1} µs ({:.2}×)", f.median, r.value),
            None => format!("{:.1} µs", f.median),
        },
        (None, Lang::En) => "(not measured in this run)".into(),
        (None, Lang::Ko) => "(이번 측정에는 없음)".into(),
    }
}

/// Where a packet goes on each path, with this run's round trips; Felter et al.'s KVM figures
/// when this run had no KVM guest.
fn network(run: &RunView, lang: Lang) -> String {
    use crate::ids::NetPath;
    let Some(view) = run.network.as_ref() else {
        return String::new();
    };
    let env_of =
        |pick: &dyn Fn(EnvKind) -> bool| view.rows.iter().map(|r| r.env).find(|e| pick(*e));
    let native = path_rtt(run, Some(EnvKind::Native), NetPath::Loopback, lang);
    let container = view
        .rows
        .iter()
        .find(|r| r.path == NetPath::Veth)
        .map(|r| r.env);
    let veth = path_rtt(run, container, NetPath::Veth, lang);
    let dnat = path_rtt(run, container, NetPath::BridgeDnat, lang);
    let vm = env_of(&|e| e.family() == Family::Vm);
    let tap_path = vm
        .and_then(|e| {
            view.rows
                .iter()
                .find(|r| r.env == e && r.path != NetPath::Slirp)
        })
        .map_or(NetPath::TapVirtio, |r| r.path);
    let tap = path_rtt(run, vm, tap_path, lang);
    let slirp = path_rtt(run, vm, NetPath::Slirp, lang);
    // Felter's KVM figures stand in only for a guest this run emulated.
    let kvm = run.envs.contains(&EnvKind::VmKvm) || vm.is_none();
    match lang {
        Lang::En => {
            let felter = if kvm {
                String::new()
            } else {
                " This host ran its guest without KVM, so the VM rows show emulation, not virtualisation: for a tuned KVM guest, Felter et al. (IBM, 2015) measured TCP request/response at 67.9 µs against 37.6 µs native, that is about 1.8× — the reference to keep in mind.".to_string()
            };
            format!("Here the peer is vmbench on the host, so every packet crosses the instance's boundary the way a client's would. Natively it goes through the host's loopback: one kernel stack, no device ({native} per round trip). A container on a veth pair uses the same kernel: the packet leaves the container's network namespace through one end of a virtual cable and arrives at the other, one extra hop in the same stack ({veth}). Docker's default shape adds a Linux bridge and a DNAT rule that rewrites the destination of every connection's packets ({dnat}). A VM has a network stack of its own: the packet goes down the guest kernel's stack into a virtio queue, QEMU (or the host kernel's vhost-net, where /dev/vhost-net exists) moves it to a tap device, and the host's stack takes it from there ({tap_path}: {tap}). QEMU's user-mode network (slirp) goes further still: a TCP stack inside QEMU terminates the guest's connection and opens a new socket on the host ({slirp}).{felter}{}{}", rootless_network(run, lang), placement_and_mtu(run, lang))
        }
        Lang::Ko => {
            let felter = if kvm {
                String::new()
            } else {
                " 이 호스트는 KVM 없이 게스트를 돌렸으므로 VM 행은 가상화가 아니라 에뮬레이션의 비용입니다. 잘 조정된 KVM 게스트에 대해 Felter 등(IBM, 2015)은 TCP 요청/응답을 네이티브 37.6 µs, KVM 67.9 µs(약 1.8배)로 측정했습니다. 이것이 기준으로 삼을 수치입니다.".to_string()
            };
            format!("여기서 상대편은 호스트의 vmbench이므로, 모든 패킷이 실제 클라이언트의 패킷처럼 인스턴스의 경계를 건넙니다. 네이티브에서는 호스트의 루프백을 지납니다. 커널 스택 하나, 장치 없음({native}/왕복). veth 쌍에 연결된 컨테이너도 같은 커널을 씁니다. 패킷은 가상 케이블의 한쪽 끝으로 컨테이너의 네트워크 네임스페이스를 나와 다른 끝에 도착합니다. 같은 스택 안에서 한 단계가 더해질 뿐입니다({veth}). Docker 기본 네트워크 모양은 여기에 리눅스 브리지와, 연결마다 패킷의 목적지를 바꿔 쓰는 DNAT 규칙을 더합니다({dnat}). VM은 자기 네트워크 스택을 가집니다. 패킷은 게스트 커널의 스택을 내려가 virtio 큐에 들어가고, QEMU(또는 /dev/vhost-net이 있으면 호스트 커널의 vhost-net)가 그것을 tap 장치로 옮기고, 호스트의 스택이 이어받습니다({tap_path}: {tap}). QEMU의 사용자 모드 네트워크(slirp)는 더 멉니다. QEMU 안의 TCP 스택이 게스트의 연결을 끝내고 호스트에서 새 소켓을 엽니다({slirp}).{felter}{}{}", rootless_network(run, lang), placement_and_mtu(run, lang))
        }
    }
}

/// Where the peer ran for the round trips, with this run's same-CPU figures, and the MTU
/// sweep's figures when the run swept it; nothing when it measured neither.
fn placement_and_mtu(run: &RunView, lang: Lang) -> String {
    let Some(view) = run.network.as_ref() else {
        return String::new();
    };
    let same: Vec<String> = view
        .rows
        .iter()
        .filter_map(|r| {
            let (cross, same) = (r.rtt.as_ref()?.median, r.rtt_same_cpu?);
            let mtu = r
                .mtu
                .filter(|_| view.swept())
                .map(|m| format!(" MTU {m}"))
                .unwrap_or_default();
            Some(format!(
                "{} {}{mtu} {cross:.1} → {same:.1} µs",
                r.env, r.path
            ))
        })
        .collect();
    let mut out = String::new();
    if !same.is_empty() {
        let list = same.join("; ");
        out += &match lang {
            Lang::En => format!(" The round trips above have the peer on another CPU than the instance, as a run places them: every trip wakes the other CPU, which on a virtualised host is an interrupt the hypervisor delivers to a vCPU that may first have to be scheduled. Each trial also timed a second set with the peer moved onto the instance's CPU (cross-CPU → same CPU): {list}."),
            Lang::Ko => format!(" 위의 왕복은 실행이 배치하는 대로 피어가 인스턴스와 다른 CPU에서 잰 것입니다. 왕복마다 다른 CPU를 깨우며, 가상화된 호스트에서 이는 하이퍼바이저가 vCPU에 전달하는 인터럽트이고 그 vCPU가 먼저 스케줄되어야 할 수도 있습니다. 각 시행은 피어를 인스턴스의 CPU로 옮겨 한 번 더 쟀습니다(다른 CPU → 같은 CPU): {list}."),
        };
    }
    if view.swept() {
        let rows: Vec<String> = view
            .rows
            .iter()
            .filter(|r| r.path.mtu_settable())
            .map(|r| {
                let stream = r
                    .stream_in
                    .as_ref()
                    .map_or_else(|| "—".to_string(), |f| format!("{:.2} Gbit/s", f.median));
                let rtt = r
                    .rtt
                    .as_ref()
                    .map_or_else(|| "—".to_string(), |f| format!("{:.1} µs", f.median));
                format!(
                    "{} {} MTU {}: {stream}, {rtt}",
                    r.env,
                    r.path,
                    r.mtu.unwrap_or(0)
                )
            })
            .collect();
        let list = rows.join("; ");
        out += &match lang {
            Lang::En => format!(" This run swept the link MTU of the veth, bridge and tap paths (stream host → instance, round trip): {list}. A larger MTU cuts a stream into fewer segments, so fewer packets per byte go through each hop (the bridge, the NAT rule, the tap and, in a guest, the exits); a 1-byte round trip sends one small packet whatever the MTU."),
            Lang::Ko => format!(" 이번 측정은 veth, 브리지, tap 경로의 링크 MTU를 바꿔 가며 쟀습니다(호스트 → 인스턴스 스트림, 왕복): {list}. MTU가 크면 스트림이 더 적은 세그먼트로 잘리므로 바이트당 각 단계(브리지, NAT 규칙, tap, 게스트에서는 VM exit)를 지나는 패킷이 줄어듭니다. 1바이트 왕복은 MTU와 상관없이 작은 패킷 하나를 보냅니다."),
        };
    }
    out
}

/// The rootless container's user-space paths, with this run's figures; nothing when it had
/// none.
fn rootless_network(run: &RunView, lang: Lang) -> String {
    use crate::ids::NetPath;
    let env = Some(EnvKind::ContainerRootless);
    let Some(view) = run.network.as_ref() else {
        return String::new();
    };
    if view
        .row(EnvKind::ContainerRootless, NetPath::Slirp4netns)
        .is_none()
    {
        return String::new();
    }
    let stream = |path| {
        view.row(EnvKind::ContainerRootless, path)
            .and_then(|r| r.stream_in.as_ref())
            .map_or_else(|| "—".to_string(), |f| format!("{:.2}", f.median))
    };
    let (s_rtt, p_rtt) = (
        path_rtt(run, env, NetPath::Slirp4netns, lang),
        path_rtt(run, env, NetPath::Pasta, lang),
    );
    let (s_in, p_in) = (stream(NetPath::Slirp4netns), stream(NetPath::Pasta));
    match lang {
        Lang::En => format!(" Without root a container cannot have a veth (making one needs root in the host's network namespace), so its packets go through a helper process in user space. slirp4netns runs a TCP/IP stack of its own (libslirp): it terminates the host's connection, cuts the bytes into new segments and writes frames into the container's tap ({s_rtt} per round trip, {s_in} Gbit/s into the container). pasta splices a connection from the host's loopback onto one to the container's loopback, with no TCP stack of its own in between ({p_rtt}, {p_in} Gbit/s). Every byte crosses one more process either way: that is what rootless networking costs. RootlessKit's own measurements (docs/port.md, iperf3 from the parent to the child) rank them the same way."),
        Lang::Ko => format!(" root 없이는 컨테이너에 veth를 만들 수 없으므로(호스트 네트워크 네임스페이스의 root 권한이 필요합니다) 패킷은 사용자 공간의 도우미 프로세스를 지납니다. slirp4netns는 자기 TCP/IP 스택(libslirp)을 돌립니다. 호스트 쪽 연결을 끝내고, 바이트를 새 세그먼트로 잘라 컨테이너의 tap에 프레임으로 씁니다(왕복 {s_rtt}, 컨테이너로 {s_in} Gbit/s). pasta는 호스트 루프백의 연결을 컨테이너 루프백의 연결에 그대로 이어 붙이며(splice), 그 사이에 자기 TCP 스택이 없습니다({p_rtt}, {p_in} Gbit/s). 어느 쪽이든 모든 바이트가 프로세스 하나를 더 거칩니다. 이것이 rootless 네트워크의 오버헤드입니다. RootlessKit의 자체 측정(docs/port.md, 부모에서 자식으로 iperf3)도 같은 순서입니다."),
    }
}

/// What a layer is, from this run's engine images: what each layer holds, what a new build
/// of the workload ships, and whether two engines named the base alike.
fn layer_images(view: &super::layers::LayersView, lang: Lang) -> String {
    let Some(image) = view.images.iter().find(|i| i.layers.len() == 2) else {
        return String::new();
    };
    let (base, top) = (&image.layers[0], &image.layers[1]);
    let mb = |b: u64| format!("{:.2} MB", b as f64 / 1e6);
    let share = top.bytes as f64 / (base.bytes + top.bytes) as f64 * 100.0;
    let engines: Vec<&str> = view
        .images
        .iter()
        .filter(|i| i.layers.first().is_some_and(|l| l.digest == base.digest))
        .map(|i| i.engine.as_str())
        .collect();
    let digest = base.digest.trim_start_matches("sha256:");
    let digest = &digest[..digest.len().min(12)];
    let (engine, b, t) = (&image.engine, mb(base.bytes), mb(top.bytes));
    match lang {
        Lang::En => {
            let shared = if engines.len() > 1 {
                format!(" {} computed the same digest for the base (sha256:{digest}…) from the same files: a layer is named by its content, so a host or a registry keeps one copy of it for every image built on it.", engines.join(" and "))
            } else {
                String::new()
            };
            format!("An image is a stack of layers, each a tar of files named by the SHA-256 of its content. This run built its image in two, as a Dockerfile's FROM and COPY would: in {engine} the base layer is {b} and the workload's layer {t}. A new build of the workload changes only the top layer: {t} ({share:.1}% of the image) to ship and store.{shared}")
        }
        Lang::Ko => {
            let shared = if engines.len() > 1 {
                format!(" {} 모두 같은 파일에서 베이스 레이어의 다이제스트를 똑같이 계산했습니다(sha256:{digest}…). 레이어의 이름은 내용에서 나오므로, 호스트나 레지스트리는 그 위에 지은 모든 이미지를 위해 한 벌만 보관합니다.", engines.join(", "))
            } else {
                String::new()
            };
            format!("이미지는 레이어를 쌓은 것이고, 각 레이어는 파일을 묶은 tar이며 내용의 SHA-256으로 이름이 붙습니다. 이번 측정은 Dockerfile의 FROM과 COPY처럼 이미지를 두 레이어로 만들었습니다. {engine}에서 베이스 레이어는 {b}, 워크로드 레이어는 {t}입니다. 워크로드를 새로 빌드하면 맨 위 레이어만 바뀝니다. 보내고 저장할 것은 {t}(이미지의 {share:.1}%)뿐입니다.{shared}")
        }
    }
}

/// Copy-on-write, from this run's file-layer rows: the first write's copy-up, the second
/// write, and new files on the layer against /data.
fn layer_writes(view: &super::layers::LayersView, lang: Lang) -> String {
    use vmbench_workload::Better;
    let Some(native) = view.row(EnvKind::Native) else {
        return String::new();
    };
    let containers: Vec<&super::layers::LayerRow> = view
        .rows
        .iter()
        .filter(|r| r.env != EnvKind::Native)
        .collect();
    if containers.is_empty() {
        return String::new();
    }
    // A figure with its unit after the median: `5.302 ms (44.950× [...], 45.0× worse)`.
    let fig = |f: Option<&super::network::PathFigure>, better, unit: &str| {
        super::format::path_cell(f, better, lang).replacen(' ', &format!(" {unit} "), 1)
    };
    let list = |pick: &dyn Fn(&super::layers::LayerRow) -> String| {
        containers
            .iter()
            .map(|r| format!("{} {}", r.env, pick(r)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let first = list(&|r| fig(r.first_write.as_ref(), Better::Lower, "ms"));
    let again = list(&|r| fig(r.rewrite.as_ref(), Better::Lower, "ms"));
    let new_files = list(&|r| {
        let data = r
            .data_write
            .map_or_else(|| "—".to_string(), |d| format!("{d:.0} MB/s"));
        format!(
            "{} (/data: {data})",
            fig(r.layer_write.as_ref(), Better::Higher, "MB/s")
        )
    });
    let native_first = native
        .first_write
        .as_ref()
        .map_or_else(|| "—".to_string(), |f| format!("{:.2} ms", f.median));
    let l = view.lower_mib;
    match lang {
        Lang::En => format!(" A container's root is the image's layers, read-only, under one writable layer of its own (overlayfs's upper folder). The first write to a file of the image copies the whole file up into that layer. Here the first 4 KiB write + fsync into the image's {l} MiB file took {first}, against {native_first} natively, where the same file is an ordinary one: the cost is the copy of all {l} MiB and its flush, not the 4 KiB written. The second write, to the copy, took {again}. New files written sequentially on the layer, against native's on a host folder, and beside them file-io's writes on /data, a bind mount of a host folder that bypasses the layers: {new_files}. Data a container keeps belongs in a volume like /data: the writable layer goes with the container."),
        Lang::Ko => format!(" 컨테이너의 루트는 읽기 전용인 이미지 레이어들 위에 자기만의 쓰기 가능한 레이어 하나(overlayfs의 upper 폴더)를 얹은 것입니다. 이미지에 있는 파일에 처음 쓰면 파일 전체가 그 레이어로 복사됩니다(copy-up). 이번 측정에서 이미지의 {l} MiB 파일에 4 KiB를 처음 쓰고 fsync하는 데 {first}가 걸렸고, 같은 파일이 평범한 파일인 네이티브에서는 {native_first}였습니다. 비용은 쓴 4 KiB가 아니라 {l} MiB 전체의 복사와 플러시입니다. 복사본에 두 번째로 쓰는 데는 {again}가 걸렸습니다. 레이어 위에 새 파일을 순차로 쓴 속도(네이티브의 호스트 폴더 대비)와, 그 옆에 레이어를 거치지 않는 호스트 폴더의 바인드 마운트 /data에 file-io가 쓴 속도: {new_files}. 컨테이너가 남길 데이터는 /data 같은 볼륨에 두어야 합니다. 쓰기 가능한 레이어는 컨테이너와 함께 사라집니다."),
    }
}

/// Layers and copy-on-write, with this run's figures; nothing when it had neither.
fn layers(run: &RunView, lang: Lang) -> String {
    let Some(view) = run.layers.as_ref() else {
        return String::new();
    };
    (layer_images(view, lang) + &layer_writes(view, lang))
        .trim_start()
        .to_string()
}

fn fmt_ms(v: Option<f64>, lang: Lang) -> String {
    match (v, lang) {
        (Some(v), _) if v >= 100.0 => format!("{v:.0} ms"),
        (Some(v), _) => format!("{v:.2} ms"),
        (None, Lang::En) => "(not measured in this run)".into(),
        (None, Lang::Ko) => "(이번 측정에는 없음)".into(),
    }
}

/// How quiet the host was, and what that means for reading the figures.
fn quiet(run: &RunView, lang: Lang) -> String {
    let total: usize = run.quiet.iter().map(|q| q.trials).sum();
    let noisy: usize = run.quiet.iter().map(|q| q.noisy).sum();
    let vm = run.results.host.nested;
    match lang {
        Lang::En => {
            let mut s = if noisy == 0 {
                format!("No trial of {total} was flagged: other programs and the hypervisor left the workload's CPUs alone while it ran.")
            } else {
                format!("{noisy} of {total} trials ran while other programs used the workload's CPUs or the hypervisor took them away; they are listed above and kept in every statistic, which widens the intervals instead of hiding the disturbance.")
            };
            if vm {
                s.push_str(" This host is itself a virtual machine: its CPUs are shared with other machines, so intervals are wider than on bare metal.");
            }
            s
        }
        Lang::Ko => {
            let mut s = if noisy == 0 {
                format!("{total}번의 시행 중 표시된 것은 없습니다. 실행 중에 다른 프로그램이나 하이퍼바이저가 워크로드의 CPU를 건드리지 않았습니다.")
            } else {
                format!("{total}번 중 {noisy}번의 시행은 다른 프로그램이 워크로드의 CPU를 쓰거나 하이퍼바이저가 CPU를 가져간 동안 실행되었습니다. 위에 목록으로 보이고 모든 통계에 그대로 들어가므로, 방해를 숨기는 대신 신뢰구간이 넓어집니다.")
            };
            if vm {
                s.push_str(" 이 호스트 자체가 가상 머신이라 CPU를 다른 머신과 나눠 쓰므로, 물리 서버보다 신뢰구간이 넓습니다.");
            }
            s
        }
    }
}

/// A sentence naming the environments whose memory this run's file cannot give (recorded when
/// vmbench sampled their launcher in the workload's place), or nothing.
fn unsampled_memory(run: &RunView, lang: Lang) -> String {
    let envs: Vec<&str> = run.memory_unsampled.iter().map(|e| e.name()).collect();
    if envs.is_empty() {
        return String::new();
    }
    let envs = envs.join(", ");
    match lang {
        Lang::En => format!(" No memory is shown for {envs}: this file was recorded by a vmbench that sampled the runtime or engine client in the workload's place; run it again for their figures."),
        Lang::Ko => format!(" {envs}의 메모리는 싣지 않았습니다. 이 파일을 기록한 vmbench는 워크로드 대신 런타임이나 엔진 클라이언트를 샘플링했습니다. 다시 실행하면 수치를 얻을 수 있습니다."),
    }
}

/// Writes the notes for a run, whose verdicts used the margin `margin` (a fraction).
pub fn notes(run: &RunView, lang: Lang, margin: f64) -> Notes {
    let margin = format!("{}", (margin * 1000.0).round() / 10.0);
    let native = fmt_ms(startup_ms(run, Family::Native), lang);
    let container = fmt_ms(startup_ms(run, Family::Container), lang);
    let vm = fmt_ms(startup_ms(run, Family::Vm), lang);
    let vm_kind = run.envs.iter().find(|e| e.family() == Family::Vm);
    let vm_env = vm_kind.map_or("vm", |e| e.name());
    let tcg_vm = vm_kind.and_then(|e| e.accel()) == Some(Accel::Tcg);
    let cpu_c = container_cpu(run, lang);
    let cpu_v = ratio(run, Workload::CpuInt, Family::Vm, lang);
    let sys_v = ratio(run, Workload::Syscall, Family::Vm, lang);
    let io_v = ratio(run, Workload::FileIo, Family::Vm, lang);
    let unsampled = unsampled_memory(run, lang);
    let footprint = |family: Family| {
        run.footprints
            .iter()
            .find(|f| f.0.family() == family)
            .map(|f| f.1)
    };
    let guest = footprint(Family::Vm)
        .map(|b| format!("{:.1} MB", b as f64 / 1e6))
        .unwrap_or_else(|| "—".into());
    let image_note = image(run, lang, &guest);
    let start_split_note = start_split(run, lang) + &spaced_starts(run, lang);
    let spectrum_note = spectrum(run, lang);
    let seen_note = seen(run, lang);
    let density_note = density(run, lang);
    let network_note = network(run, lang);
    match lang {
        Lang::En => Notes {
            overview: "The same program, byte for byte, ran three ways: as an ordinary process, inside a container, and as the only program of a virtual machine. A container is still an ordinary process on the host's one kernel; the kernel just shows it a private view (namespaces) and holds it to a budget (cgroups). A virtual machine runs a second, complete kernel on virtual hardware that a hypervisor provides. Everything in this report follows from that difference.".into(),
            startup: format!("Starting a process took {native} here; a container {container}; a virtual machine {vm}. A container start is a process start plus a few kernel calls: new namespaces, a cgroup, some mounts, pivot_root. There is no second operating system to boot. A VM must start QEMU, load a kernel, let it find its (virtual) hardware and run its init before the program starts.{}", snapshot(run, lang)),
            cpu: if vm_kind.is_none() {
                cpu_c.clone()
            } else if tcg_vm {
                format!("{cpu_c} In the VM ({vm_env}) cpu-int ran at {cpu_v}, and syscall at {sys_v}: under TCG these are the costs of binary translation, not of a VM with KVM (see the note on KVM and TCG).")
            } else {
                format!("{cpu_c} In the VM ({vm_env}) cpu-int ran at {cpu_v}. With hardware virtualisation a guest's instructions run on the CPU itself, and a system call (syscall: {sys_v}) is handled by the guest kernel without leaving the VM.")
            },
            memory_io: format!("Memory and I/O are where a VM pays. With KVM, a TLB miss walks two sets of page tables, the guest's and then the host's (two-level paging), and a guest page the host has not backed yet costs an exit; under TCG every memory access goes through QEMU's software MMU instead. Every disk write crosses the virtual device: the guest kernel queues it on virtio, QEMU performs it on the host, and the host kernel writes it (file-io: {io_v}). Seen from the host, a container costs little more than its process's own memory, while a VM holds its whole guest RAM, a guest kernel and QEMU itself.{unsampled}"),
            accel: accel(run, lang),
            image: image_note,
            start_split: start_split_note,
            spectrum: spectrum_note.clone(),
            seen: seen_note.clone(),
            method: format!("Startup is measured by the host, from just before the instance is launched until its ready line arrives. Each figure is the median of repeated trials, with a 95% bootstrap confidence interval; environments alternate inside each repetition so drift on a shared machine affects all of them. Every verdict follows one rule: an interval within ±{margin}% of 1 reads \"same\"; one that includes 1 but reaches further reads \"no difference detected\" (the run could not tell); only an interval wholly on one side of 1 reads \"worse\" or \"better\". An adaptive run adds repetitions to each environment until its interval is narrow enough or its share of the time budget is spent, and marks the ones that did not get there. Trials during which other programs used the workload's CPU, or the hypervisor stole it, are flagged as noisy and kept. Outliers are flagged, never dropped."),
            quiet: quiet(run, lang),
            density: density_note.clone(),
            network: network_note.clone(),
            layers: layers(run, lang),
        },
        Lang::Ko => Notes {
            overview: "똑같은 프로그램(바이트 단위까지 같은 파일)을 세 가지 방식으로 실행했습니다. 평범한 프로세스로, 컨테이너 안에서, 그리고 가상 머신의 유일한 프로그램으로 말입니다. 컨테이너는 여전히 호스트의 하나뿐인 커널 위에서 도는 평범한 프로세스입니다. 커널이 그 프로세스에게 자기만의 세상(네임스페이스)을 보여 주고 자원 한도(cgroup)를 걸어 둘 뿐입니다. 가상 머신은 하이퍼바이저가 만든 가상 하드웨어 위에서 완전한 커널을 하나 더 돌립니다. 이 보고서의 모든 수치는 이 차이에서 나옵니다.".into(),
            startup: format!("이번 측정에서 프로세스 시작은 {native}, 컨테이너는 {container}, 가상 머신은 {vm} 걸렸습니다. 컨테이너 시작은 프로세스 시작에 몇 번의 커널 호출(새 네임스페이스, cgroup, 마운트 몇 개, pivot_root)을 더한 것일 뿐, 부팅할 두 번째 운영체제가 없습니다. 가상 머신은 프로그램이 시작되기 전에 QEMU를 띄우고, 커널을 올리고, 그 커널이 (가상) 하드웨어를 찾아 init을 실행해야 합니다.{}", snapshot(run, lang)),
            cpu: if vm_kind.is_none() {
                cpu_c.clone()
            } else if tcg_vm {
                format!("{cpu_c} 가상 머신({vm_env})의 결과: cpu-int {cpu_v}, syscall {sys_v}. TCG에서는 이 수치가 바이너리 변환의 비용이지, KVM을 쓰는 가상 머신의 비용이 아닙니다(KVM과 TCG에 관한 노트 참고).")
            } else {
                format!("{cpu_c} 가상 머신({vm_env})의 cpu-int 결과: {cpu_v}. 하드웨어 가상화를 쓰면 게스트의 명령어는 CPU 위에서 직접 실행되고, 시스템 콜(syscall: {sys_v})은 게스트 커널이 VM을 벗어나지 않고 처리합니다.")
            },
            memory_io: format!("가상 머신의 오버헤드가 생기는 곳은 메모리와 입출력입니다. KVM에서는 TLB 미스가 날 때 게스트의 페이지 테이블과 호스트의 페이지 테이블을 차례로 걷고(2단계 페이징), 호스트가 아직 메모리를 붙여 주지 않은 게스트 페이지는 exit 한 번의 비용이 듭니다. TCG에서는 모든 메모리 접근이 QEMU의 소프트웨어 MMU를 거칩니다. 디스크 쓰기는 가상 장치를 건너야 합니다. 게스트 커널이 virtio 큐에 넣으면 QEMU가 호스트에서 실행하고, 호스트 커널이 실제로 씁니다(file-io: {io_v}). 호스트에서 보면 컨테이너는 자기 프로세스의 메모리 정도만 차지하지만, 가상 머신은 게스트 RAM 전체와 게스트 커널, 그리고 QEMU 자신을 붙잡고 있습니다.{unsampled}"),
            accel: accel(run, lang),
            image: image_note,
            start_split: start_split_note,
            spectrum: spectrum_note,
            seen: seen_note,
            method: format!("시작 시간은 호스트가 잽니다. 인스턴스를 띄우기 직전부터 ready 줄이 도착할 때까지입니다. 각 수치는 반복 시행의 중앙값이고, 95% 부트스트랩 신뢰구간을 함께 적었습니다. 반복마다 환경을 번갈아 실행해서 공유 머신의 흔들림이 모든 환경에 고르게 퍼지게 했습니다. 판정은 한 가지 규칙을 따릅니다. 신뢰구간이 1의 ±{margin}% 안에 있으면 \"같음\", 1을 포함하지만 그보다 넓으면 \"차이를 찾지 못함\"(이번 측정으로는 알 수 없음), 구간 전체가 1의 한쪽에 있을 때만 \"느림\" 또는 \"빠름\"입니다. 적응형 측정은 환경마다 신뢰구간이 충분히 좁아지거나 시간 예산의 몫을 다 쓸 때까지 반복을 더하고, 거기에 이르지 못한 환경을 표시합니다. 다른 프로그램이 워크로드의 CPU를 쓰거나 하이퍼바이저가 CPU를 가져간 시행은 시끄러운 시행으로 표시하되 버리지 않습니다. 이상값도 표시만 하고 버리지 않습니다."),
            quiet: quiet(run, lang),
            density: density_note.clone(),
            network: network_note,
            layers: layers(run, lang),
        },
    }
}

/// The note under the side-by-side table of several runs (a fleet's nodes, or runs compared):
/// how to read a cell, and what a disagreement means; `split` counts the rows flagged.
pub fn across(report: &super::model::Report, lang: Lang) -> String {
    let rows = report.across.len();
    let split = report
        .across
        .iter()
        .filter(|r| !r.disagree.is_empty())
        .count();
    match lang {
        Lang::En => format!(
            "Each column is one run; in a fleet, one node. A cell is that run's median, and in \
             brackets its ratio to the same run's native with the 95% CI: the cost of isolation \
             on that machine. Two runs disagree when their intervals do not overlap: for native, \
             the medians' (the machines differ in raw speed); for the other environments, the \
             ratios' (isolation costs differently there: another CPU generation, KVM against \
             TCG, another kernel or runtime). {split} of {rows} rows disagree. Runs that do not \
             disagree are not shown to be equal, only not shown to differ; a TCG column is never \
             a KVM figure."
        ),
        Lang::Ko => format!(
            "각 열은 실행 하나이며, 플릿에서는 노드 하나입니다. 칸의 값은 그 실행의 중앙값이고, 괄호 \
             안은 같은 실행의 네이티브 대비 비율과 95% 신뢰구간으로, 그 기계에서의 격리 비용입니다. \
             두 실행의 구간이 겹치지 않으면 어긋난다고 표시합니다. 네이티브는 중앙값의 구간(기계의 \
             기본 속도 차이), 다른 환경은 비율의 구간(그곳에서 격리 비용이 다름: 다른 CPU 세대, KVM과 \
             TCG, 다른 커널이나 런타임)을 비교합니다. {rows}개 행 중 {split}개가 어긋납니다. 어긋나지 \
             않는 실행은 같다고 보인 것이 아니라 다르다고 보이지 않았을 뿐이며, TCG 열은 KVM 수치가 \
             아닙니다."
        ),
    }
}
