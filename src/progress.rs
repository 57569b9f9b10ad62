//! Progress lines while a session runs: a bar with an ETA on a terminal, one line per trial
//! otherwise, nothing when quiet.

use crate::results::Trial;

/// The session's observer for a command run from a shell.
pub struct Progress {
    quiet: bool,
    bar: Option<indicatif::ProgressBar>,
    /// Pairs decided so far, of how many, once an adaptive plan has ratios.
    decided: std::cell::Cell<Option<(usize, usize)>>,
}

impl Progress {
    /// Progress on standard error; `quiet` prints only what must be seen.
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} {prefix} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            quiet,
            bar,
            decided: std::cell::Cell::new(None),
        }
    }

    /// Clears the bar.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

impl crate::session::Observer for Progress {
    fn announce(&self, line: &str) {
        if !self.quiet {
            eprintln!("vmbench: {line}");
        }
    }

    fn warn(&self, line: &str) {
        eprintln!("vmbench: {line}");
    }

    fn decided(&self, decided: usize, pairs: usize) {
        self.decided.set(Some((decided, pairs)));
        if let Some(bar) = &self.bar {
            bar.set_prefix(format!("decided {decided}/{pairs}"));
        }
    }

    fn trial(&self, trial: &Trial, done: usize, total: usize) {
        if self.quiet {
            return;
        }
        let what = match (&trial.error, trial.headline()) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, Some(m)) => format!("{:.4} {}", m.value, m.unit),
            (None, None) => "no result".into(),
        };
        let warm = match (trial.probe, trial.warmup) {
            (true, _) => " (size probe)",
            (false, true) => " (warm-up)",
            (false, false) => "",
        };
        let line = format!(
            "{} {} rep {}{warm}: {what}",
            trial.env, trial.workload, trial.rep
        );
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                if trial.error.is_some() {
                    bar.println(&line);
                }
                bar.set_message(line);
            }
            None => match self.decided.get() {
                Some((d, p)) => eprintln!("[{done}/{total}, decided {d}/{p}] {line}"),
                None => eprintln!("[{done}/{total}] {line}"),
            },
        }
    }
}
