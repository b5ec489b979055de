//! What the user sees while files move: indicatif bars on stderr when it is a terminal, else one
//! plain line per step (logs and CI output stay readable).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Bars (terminal) or plain lines (anything else), for one command.
#[derive(Debug)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

/// Conversion bars count in thousandths.
const CONVERSION_STEPS: u64 = 1000;

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress {
    /// Bars when stderr is a terminal.
    pub fn new() -> Progress {
        Progress {
            multi: std::io::stderr().is_terminal().then(MultiProgress::new),
        }
    }

    fn add(&self, bar: ProgressBar) -> Bar {
        Bar(self.multi.as_ref().map(|m| m.add(bar)))
    }

    /// A byte counter: `verb` (upload, download) and the file's name.
    pub fn transfer(&self, verb: &'static str, name: &str, total: Option<u64>) -> Bar {
        if self.multi.is_none() {
            return Bar(None);
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(style(
                "{prefix:>10} {msg:30!} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
            )),
            None => ProgressBar::no_length().with_style(style(
                "{prefix:>10} {msg:30!} {spinner} {binary_bytes} {binary_bytes_per_sec}",
            )),
        };
        self.add(bar.with_prefix(verb).with_message(name.to_owned()))
    }

    /// A conversion percentage for the file `name`.
    pub fn conversion(&self, name: &str) -> Bar {
        if self.multi.is_none() {
            return Bar(None);
        }
        let bar = ProgressBar::new(CONVERSION_STEPS)
            .with_style(style(
                "{prefix:>10} {msg:30!} [{bar:30}] {percent:>3}% {elapsed}",
            ))
            .with_prefix("convert")
            .with_message(name.to_owned());
        self.add(bar)
    }

    /// A line that stays: printed above the bars, or on its own without them.
    pub fn line(&self, message: impl AsRef<str>) {
        match &self.multi {
            Some(multi) => {
                if multi.println(message.as_ref()).is_err() {
                    eprintln!("{}", message.as_ref());
                }
            }
            None => eprintln!("{}", message.as_ref()),
        }
    }

    /// A step the bars already show: a line only when there are no bars.
    pub fn step(&self, message: impl AsRef<str>) {
        if self.multi.is_none() {
            eprintln!("{}", message.as_ref());
        }
    }
}

/// One bar, or nothing when stderr is not a terminal.
#[derive(Debug, Clone)]
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// No bar.
    #[cfg(test)]
    pub fn none() -> Bar {
        Bar(None)
    }

    /// Back (or forward) to `n` bytes, where a resumed transfer starts again.
    pub fn set_position(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(n);
        }
    }

    /// `n` more bytes.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    /// The fraction done, 0.0–1.0.
    pub fn set_fraction(&self, fraction: f64) {
        if let Some(bar) = &self.0 {
            let steps = bar.length().unwrap_or(CONVERSION_STEPS) as f64;
            bar.set_position((fraction.clamp(0.0, 1.0) * steps) as u64);
        }
    }

    /// Replaces the text beside the bar.
    pub fn set_message(&self, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
