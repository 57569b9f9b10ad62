//! Lecture notes beside each report section, in English and Korean: a short explanation, in
//! the words a teacher would use, tying the measured figure to the mechanism behind it.

use super::model::RunView;
use crate::ids::Family;
use serde::Serialize;
use vmbench_workload::Workload;

/// Language of the notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// Korean.
    Ko,
}

impl Lang {
    /// Parses `en` or `ko`.
    pub fn parse(s: &str) -> Result<Lang, String> {
        match s {
            "en" => Ok(Lang::En),
            "ko" => Ok(Lang::Ko),
            _ => Err(format!("unknown language '{s}': expected en or ko")),
        }
    }

    /// The `lang` attribute value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }
}

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
    /// How the figures were measured and how to read the statistics.
    pub method: String,
}

fn startup_ms(run: &RunView, family: Family) -> Option<f64> {
    run.startup
        .iter()
        .find(|s| s.env.family() == family)
        .map(|s| s.summary.median)
}

fn ratio(run: &RunView, workload: Workload, family: Family) -> Option<f64> {
    run.workloads
        .iter()
        .find(|w| w.name == workload)?
        .rows
        .iter()
        .find(|r| r.env.family() == family)?
        .ratio
        .map(|r| r.value)
}

fn fmt_ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0} ms"),
        Some(v) => format!("{v:.2} ms"),
        None => "(not measured in this run)".into(),
    }
}

fn fmt_x(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}×"))
        .unwrap_or_else(|| "(not measured in this run)".into())
}

/// Writes the notes for a run.
pub fn notes(run: &RunView, lang: Lang) -> Notes {
    let native = fmt_ms(startup_ms(run, Family::Native));
    let container = fmt_ms(startup_ms(run, Family::Container));
    let vm = fmt_ms(startup_ms(run, Family::Vm));
    let vm_env = run
        .envs
        .iter()
        .find(|e| e.family() == Family::Vm)
        .map_or("vm", |e| e.name());
    let cpu_c = fmt_x(ratio(run, Workload::CpuInt, Family::Container));
    let cpu_v = fmt_x(ratio(run, Workload::CpuInt, Family::Vm));
    let sys_v = fmt_x(ratio(run, Workload::Syscall, Family::Vm));
    let io_v = fmt_x(ratio(run, Workload::FileIo, Family::Vm));
    let footprint = |family: Family| {
        run.footprints
            .iter()
            .find(|f| f.0.family() == family)
            .map(|f| f.1)
    };
    let (image, guest) = (footprint(Family::Container), footprint(Family::Vm));
    let mb = |b: Option<u64>| {
        b.map(|b| format!("{:.1} MB", b as f64 / 1e6))
            .unwrap_or_else(|| "—".into())
    };
    let (image, guest) = (mb(image), mb(guest));
    match lang {
        Lang::En => Notes {
            overview: "The same program, byte for byte, ran three ways: as an ordinary process, inside a container, and as the only program of a virtual machine. A container is still an ordinary process on the host's one kernel; the kernel just shows it a private view (namespaces) and holds it to a budget (cgroups). A virtual machine runs a second, complete kernel on virtual hardware that a hypervisor provides. Everything in this report follows from that difference.".into(),
            startup: format!("Starting a process took {native} here; a container {container}; a virtual machine {vm}. A container start is a process start plus a few kernel calls: new namespaces, a cgroup, some mounts, pivot_root. There is no second operating system to boot. A VM must start QEMU, load a kernel, let it find its (virtual) hardware and run its init, so its start is measured in hundreds of milliseconds with KVM and in seconds under TCG."),
            cpu: format!("CPU-bound work runs at the same speed in a container (cpu-int: {cpu_c} of native) because its instructions run directly on the CPU under the same scheduler: namespaces and cgroups cost nothing while the program computes. In the VM ({vm_env}) cpu-int ran at {cpu_v} of native. With hardware virtualisation that is close to 1; system calls ({sys_v} of native for syscall) stay cheap because the guest kernel handles them without leaving the VM."),
            memory_io: format!("Memory and I/O are where a VM pays. Every guest memory access goes through two levels of address translation, and every disk write crosses the virtual device: the guest kernel queues it on virtio, QEMU performs it on the host, and the host kernel writes it (file-io: {io_v} of native). Seen from the host, a container costs little more than its process's own memory, while a VM holds its whole guest RAM, a guest kernel and QEMU itself."),
            accel: "With KVM the CPU itself runs guest code at full speed and traps only for privileged operations (hardware-assisted virtualisation). Under TCG, QEMU translates each block of guest instructions into host instructions in software (binary translation), which is typically 5–20 times slower for computation and slower still for system calls and page faults. TCG figures show what emulation costs, not what a VM with KVM costs.".into(),
            image: format!("An image is a directory tree: here it holds one static binary and empty mount points ({image} on disk). Every container is an instance of that image, sharing it read-only and adding only its own mounts, so starting ten containers does not copy anything. A VM instead needs a guest kernel and an initramfs ({guest} here) and its own RAM for each instance."),
            method: "Startup is measured by the host, from just before the instance is launched until its ready line arrives. Each figure is the median of repeated trials, with a 95% bootstrap confidence interval; environments alternate inside each repetition so drift on a shared machine affects all of them. Outliers are flagged, never dropped. A ratio whose interval includes 1 means no difference was detected.".into(),
        },
        Lang::Ko => Notes {
            overview: "똑같은 프로그램(바이트 단위까지 같은 파일)을 세 가지 방식으로 실행했습니다. 평범한 프로세스로, 컨테이너 안에서, 그리고 가상 머신의 유일한 프로그램으로 말입니다. 컨테이너는 여전히 호스트의 하나뿐인 커널 위에서 도는 평범한 프로세스입니다. 커널이 그 프로세스에게 자기만의 세상(네임스페이스)을 보여 주고 자원 한도(cgroup)를 걸어 둘 뿐입니다. 가상 머신은 하이퍼바이저가 만든 가상 하드웨어 위에서 완전한 커널을 하나 더 돌립니다. 이 보고서의 모든 수치는 이 차이에서 나옵니다.".into(),
            startup: format!("이번 측정에서 프로세스 시작은 {native}, 컨테이너는 {container}, 가상 머신은 {vm} 걸렸습니다. 컨테이너 시작은 프로세스 시작에 몇 번의 커널 호출(새 네임스페이스, cgroup, 마운트 몇 개, pivot_root)을 더한 것일 뿐, 부팅할 두 번째 운영체제가 없습니다. 가상 머신은 QEMU를 띄우고, 커널을 올리고, 그 커널이 (가상) 하드웨어를 찾아 init을 실행해야 하므로 KVM으로는 수백 밀리초, TCG로는 수 초가 걸립니다."),
            cpu: format!("CPU만 쓰는 작업은 컨테이너에서도 속도가 같습니다(cpu-int: 네이티브의 {cpu_c}). 명령어가 같은 스케줄러 아래에서 CPU 위에서 그대로 실행되기 때문에, 계산하는 동안 네임스페이스와 cgroup은 아무 비용도 들지 않습니다. 가상 머신({vm_env})에서 cpu-int는 네이티브의 {cpu_v}였습니다. 하드웨어 가상화를 쓰면 1에 가깝고, 시스템 콜(syscall: 네이티브의 {sys_v})도 게스트 커널이 VM을 벗어나지 않고 처리하므로 싼 편입니다."),
            memory_io: format!("가상 머신이 비용을 치르는 곳은 메모리와 입출력입니다. 게스트의 메모리 접근은 주소 변환을 두 단계로 거치고, 디스크 쓰기는 가상 장치를 건너야 합니다. 게스트 커널이 virtio 큐에 넣으면 QEMU가 호스트에서 실행하고, 호스트 커널이 실제로 씁니다(file-io: 네이티브의 {io_v}). 호스트에서 보면 컨테이너는 자기 프로세스의 메모리 정도만 차지하지만, 가상 머신은 게스트 RAM 전체와 게스트 커널, 그리고 QEMU 자신을 붙잡고 있습니다."),
            accel: "KVM을 쓰면 CPU가 게스트 코드를 제 속도로 직접 실행하고, 특권 명령을 만날 때만 하이퍼바이저로 빠져나옵니다(하드웨어 지원 가상화). TCG에서는 QEMU가 게스트 명령어 블록을 소프트웨어로 호스트 명령어로 번역합니다(바이너리 변환). 계산은 보통 5~20배 느리고, 시스템 콜과 페이지 폴트는 더 느립니다. TCG 수치는 에뮬레이션의 비용이지, KVM을 쓰는 가상 머신의 비용이 아닙니다.".into(),
            image: format!("이미지는 디렉터리 트리입니다. 여기서는 정적 바이너리 하나와 빈 마운트 지점만 들어 있습니다(디스크에서 {image}). 모든 컨테이너는 이 이미지의 인스턴스로, 이미지를 읽기 전용으로 함께 쓰고 자기 마운트만 더합니다. 그래서 컨테이너 열 개를 띄워도 아무것도 복사되지 않습니다. 가상 머신은 인스턴스마다 게스트 커널과 initramfs(여기서는 {guest}), 그리고 자기 RAM이 필요합니다."),
            method: "시작 시간은 호스트가 잽니다. 인스턴스를 띄우기 직전부터 ready 줄이 도착할 때까지입니다. 각 수치는 반복 시행의 중앙값이고, 95% 부트스트랩 신뢰구간을 함께 적었습니다. 반복마다 환경을 번갈아 실행해서 공유 머신의 흔들림이 모든 환경에 고르게 퍼지게 했습니다. 이상값은 표시만 하고 버리지 않습니다. 비율의 신뢰구간이 1을 포함하면 차이를 찾지 못했다는 뜻입니다.".into(),
        },
    }
}
