//! `vmbench-workload`: the one static binary every environment runs.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if vmbench_workload::agent::is_agent(std::process::id(), args.first().map(String::as_str)) {
        vmbench_workload::agent::run();
    }
    let view = vmbench_workload::view::gather();
    std::process::exit(vmbench_workload::run_invocation(&args[1..], view));
}
