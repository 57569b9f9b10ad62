//! `vmbench fleet ...` and `vmbench image build`: fleet runs on Kubernetes.

use super::Ending;
use crate::cli::{CollectArgs, FleetCommand, ImageBuildArgs, ManifestArgs};
use crate::fleet::collect::{self, CollectError, Outcome};
use crate::fleet::manifest::Fleet;
use crate::UsageError;
use anyhow::Result;
use std::time::Duration;

/// Runs a `vmbench fleet` subcommand.
pub fn execute(command: FleetCommand) -> Result<Ending> {
    match command {
        FleetCommand::Manifest(args) => manifest(&args),
        FleetCommand::Node(args) => {
            crate::interrupt::install();
            crate::fleet::node::execute(&args)
        }
        FleetCommand::Collect(args) => {
            crate::interrupt::install();
            collect(&args)
        }
    }
}

/// `vmbench fleet manifest`: the YAML, or with `--docker` one pod's `docker run` line.
fn manifest(args: &ManifestArgs) -> Result<Ending> {
    let fleet = Fleet {
        image: args.image.clone(),
        nodes: args.nodes,
        selector: args.selector.clone(),
        namespace: args.namespace.clone(),
        job: args.job.clone(),
        deadline: args.deadline,
        cpu: args.cpus.clone(),
        memory: args.memory.clone(),
        run_args: args.run_args.clone(),
    };
    if args.docker {
        let node = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().to_lowercase())
            .unwrap_or_else(|_| "localhost".into());
        let unavailable = crate::fleet::manifest::unavailable_caps();
        if !unavailable.is_empty() {
            eprintln!(
                "vmbench: this host cannot grant {} (outside its capability bounding set), so Docker refuses --privileged: the command spells privileged out without {}",
                unavailable.join(", "),
                if unavailable.len() == 1 { "it" } else { "them" }
            );
        }
        let words = fleet.docker_args(&node, 0, &unavailable)?;
        let line: Vec<String> = std::iter::once("docker".to_string())
            .chain(words.iter().map(|w| shell_quote(w)))
            .collect();
        println!("{}", line.join(" "));
    } else {
        print!("{}", fleet.render()?);
    }
    Ok(Ending::Success)
}

/// `word` as one shell word.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:=,@%+-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `vmbench fleet collect`.
fn collect(args: &CollectArgs) -> Result<Ending> {
    let request = collect::Request {
        kubectl: args.kubectl.clone(),
        namespace: args.namespace.clone(),
        job: args.job.clone(),
        out: args.out.clone(),
        timeout: Duration::from_secs_f64(args.timeout),
        interval: Duration::from_secs_f64(args.interval.max(0.05)),
    };
    let collected = collect::collect(&request).map_err(|e| match e {
        CollectError::NoKubectl(_) => anyhow::Error::new(UsageError(e.to_string())),
        other => other.into(),
    })?;
    for o in &collected.outcomes {
        if let Outcome::Saved {
            node, path, trials, ..
        } = o
        {
            eprintln!(
                "vmbench fleet: {node}: {trials} measured trial(s) saved in {}",
                path.display()
            );
        }
    }
    for line in collected.problems(&request) {
        eprintln!("vmbench fleet: {line}");
    }
    let saved = collect::saved_files(&collected);
    if !saved.is_empty() {
        eprintln!(
            "vmbench fleet: render them side by side with: vmbench compare {}/*.json --out fleet.html",
            request.out.display()
        );
    }
    Ok(if collected.all_good() {
        Ending::Success
    } else {
        Ending::Failed
    })
}

/// `vmbench image build`.
pub fn build_image(args: &ImageBuildArgs) -> Result<Ending> {
    crate::interrupt::install();
    eprintln!(
        "vmbench: building the image {} (the first build downloads Debian packages)",
        args.tag
    );
    let built = crate::fleet::image::build(&args.tag, args.save.as_deref())?;
    eprintln!(
        "vmbench: built {} ({}, {:.1} MB) in {:.1} s: {}; guest kernel {}",
        built.tag,
        built.id.chars().take(19).collect::<String>(),
        built.bytes as f64 / 1e6,
        built.build_ms / 1e3,
        built.base,
        built.kernel
    );
    if let Some((path, bytes)) = &built.archive {
        eprintln!(
            "vmbench: wrote {} ({:.1} MB): import it on a node with `ctr -n k8s.io images import {}`",
            path.display(),
            *bytes as f64 / 1e6,
            path.display()
        );
    }
    Ok(Ending::Success)
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn words_with_shell_characters_are_quoted() {
        assert_eq!(shell_quote("--env=native,vm"), "--env=native,vm");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
