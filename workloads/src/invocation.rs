//! The workload binary's arguments: what the harness asks one instance to do.

use crate::catalogue::{Size, Workload};
use std::path::PathBuf;

/// A deliberate failure, used by the harness's own tests of containment and cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Abort with SIGABRT.
    Crash,
    /// Sleep forever (a hung workload).
    Hang,
    /// Allocate and touch this many MiB (past a memory limit: OOM).
    Alloc(u64),
    /// Try to keep this many children alive at once (past a pids limit: fork fails).
    Forks(u64),
    /// Allocate and touch this many MiB, hold them this many milliseconds, exit cleanly
    /// (a known footprint for checking the collector).
    Hold(u64, u64),
}

/// One instance's orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The workload to run.
    pub workload: Workload,
    /// How much work.
    pub size: Size,
    /// How many times to run it in this instance (warm repetitions).
    pub runs: u32,
    /// Writable directory for file-io.
    pub data_dir: PathBuf,
    /// A deliberate failure instead of the workload.
    pub fault: Option<Fault>,
    /// Send the executable's SHA-256 in an `identity` event after `ready`.
    pub identity: bool,
    /// Where net-rr and net-stream listen for the host's peer (`address:port`).
    pub bind: String,
    /// Exit as soon as standard input ends: the host holds it open, so an instance whose host
    /// died (a runtime's or an engine's container, which no parent-death signal reaches)
    /// ends with it.
    pub watch_stdin: bool,
}

/// Where a network workload listens unless told otherwise: every address of the instance.
pub fn default_bind() -> String {
    format!("0.0.0.0:{}", crate::kernels::serve::PORT)
}

/// The usage line printed on bad arguments.
pub const USAGE: &str = "usage: vmbench-workload --workload NAME [--size small|default|large] [--runs N] [--data-dir DIR] [--bind ADDR:PORT] [--identity] [--watch-stdin]";

impl Invocation {
    /// Parses arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Invocation, String> {
        let mut workload = None;
        let mut size = Size::Default;
        let mut runs = 1u32;
        let mut data_dir = std::env::temp_dir();
        let mut fault = None;
        let mut identity = false;
        let mut bind = default_bind();
        let mut watch_stdin = false;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))
            };
            match flag.as_str() {
                "--workload" => workload = Some(value()?.parse::<Workload>()?),
                "--size" => size = value()?.parse()?,
                "--runs" => {
                    runs = value()?
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or("--runs must be a positive integer")?
                }
                "--data-dir" => data_dir = PathBuf::from(value()?),
                "--fault" => fault = Some(parse_fault(&value()?)?),
                "--identity" => identity = true,
                "--watch-stdin" => watch_stdin = true,
                "--bind" => bind = value()?,
                other => return Err(format!("unknown argument '{other}'; {USAGE}")),
            }
        }
        let workload = workload.ok_or_else(|| format!("--workload is required; {USAGE}"))?;
        Ok(Invocation {
            workload,
            size,
            runs,
            data_dir,
            fault,
            identity,
            bind,
            watch_stdin,
        })
    }

    /// Renders the invocation back into arguments.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--workload".to_string(),
            self.workload.name().to_string(),
            "--size".to_string(),
            self.size.name().to_string(),
            "--runs".to_string(),
            self.runs.to_string(),
            "--data-dir".to_string(),
            self.data_dir.display().to_string(),
        ];
        if self.identity {
            args.push("--identity".into());
        }
        if self.watch_stdin {
            args.push("--watch-stdin".into());
        }
        if self.workload.crosses_network() {
            args.extend(["--bind".to_string(), self.bind.clone()]);
        }
        if let Some(fault) = &self.fault {
            args.push("--fault".into());
            args.push(match fault {
                Fault::Crash => "crash".into(),
                Fault::Hang => "hang".into(),
                Fault::Alloc(mib) => format!("alloc:{mib}"),
                Fault::Forks(n) => format!("forks:{n}"),
                Fault::Hold(mib, ms) => format!("hold:{mib}:{ms}"),
            });
        }
        args
    }
}

fn parse_fault(s: &str) -> Result<Fault, String> {
    let number = |v: &str| {
        v.parse::<u64>()
            .map_err(|_| format!("bad --fault value '{s}'"))
    };
    match s.split_once(':') {
        None if s == "crash" => Ok(Fault::Crash),
        None if s == "hang" => Ok(Fault::Hang),
        Some(("alloc", v)) => Ok(Fault::Alloc(number(v)?)),
        Some(("forks", v)) => Ok(Fault::Forks(number(v)?)),
        Some(("hold", v)) => {
            let (mib, ms) = v
                .split_once(':')
                .ok_or_else(|| format!("bad --fault value '{s}': expected hold:MIB:MS"))?;
            Ok(Fault::Hold(number(mib)?, number(ms)?))
        }
        _ => Err(format!(
            "bad --fault value '{s}': expected crash, hang, alloc:MIB or forks:N"
        )),
    }
}

/// How the forks fault's error begins when `fork` failed, followed by the children it had.
pub const FORK_STOPPED: &str = "fork stopped after";

/// Carries out a fault; returns the exit status if the process survives it.
pub fn inject(fault: &Fault) -> i32 {
    use crate::{emit, protocol::Event};
    match fault {
        Fault::Crash => std::process::abort(),
        Fault::Hang => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        Fault::Hold(mib, ms) => {
            let mut block = vec![0u8; (*mib as usize) << 20];
            block.iter_mut().step_by(4096).for_each(|b| *b = 1);
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            std::hint::black_box(&block);
            emit(&Event::Done);
            0
        }
        Fault::Alloc(mib) => {
            let mut blocks = Vec::new();
            for _ in 0..*mib {
                let mut block = vec![0u8; 1 << 20];
                block.iter_mut().step_by(4096).for_each(|b| *b = 1);
                blocks.push(block);
            }
            emit(&Event::Error {
                message: format!("allocated {mib} MiB without being stopped"),
            });
            1
        }
        Fault::Forks(n) => {
            let mut children = Vec::new();
            let mut failure = None;
            for _ in 0..*n {
                // SAFETY: the child only pauses and is killed below.
                match unsafe { libc::fork() } {
                    -1 => {
                        failure = Some(std::io::Error::last_os_error());
                        break;
                    }
                    0 => loop {
                        // SAFETY: pause is async-signal-safe.
                        unsafe { libc::pause() };
                    },
                    pid => children.push(pid),
                }
            }
            let started = children.len();
            for pid in children {
                // SAFETY: killing and reaping our own children.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
            let message = match failure {
                Some(e) => format!("{FORK_STOPPED} {started} children: {e}"),
                None => format!("forked {started} children without being stopped"),
            };
            emit(&Event::Error { message });
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_and_renders_back() {
        let inv = Invocation::parse(&args(
            "--workload mem-bw --size small --runs 3 --data-dir /data --fault alloc:64 --identity",
        ))
        .unwrap();
        assert_eq!(inv.workload, Workload::MemBw);
        assert_eq!(inv.size, Size::Small);
        assert_eq!(inv.runs, 3);
        assert_eq!(inv.fault, Some(Fault::Alloc(64)));
        assert!(inv.identity);
        assert_eq!(Invocation::parse(&inv.to_args()).unwrap(), inv);
        assert!(!inv.to_args().contains(&"--bind".to_string()));
        let served = Invocation::parse(&args("--workload net-rr --bind 127.0.0.1:4000")).unwrap();
        assert_eq!(served.bind, "127.0.0.1:4000");
        assert_eq!(Invocation::parse(&served.to_args()).unwrap(), served);
        let default = Invocation::parse(&args("--workload net-stream")).unwrap();
        assert_eq!(default.bind, "0.0.0.0:7399");
    }

    #[test]
    fn rejects_bad_arguments_with_a_reason() {
        assert!(Invocation::parse(&args(""))
            .unwrap_err()
            .contains("--workload is required"));
        assert!(Invocation::parse(&args("--workload nope"))
            .unwrap_err()
            .contains("unknown workload"));
        assert!(Invocation::parse(&args("--workload noop --runs 0"))
            .unwrap_err()
            .contains("positive"));
        assert!(Invocation::parse(&args("--workload noop --size"))
            .unwrap_err()
            .contains("needs a value"));
        assert!(Invocation::parse(&args("--workload noop --fault x:1"))
            .unwrap_err()
            .contains("--fault"));
        let hold = Invocation::parse(&args("--workload noop --fault hold:64:500")).unwrap();
        assert_eq!(hold.fault, Some(Fault::Hold(64, 500)));
        assert_eq!(Invocation::parse(&hold.to_args()).unwrap(), hold);
    }
}
