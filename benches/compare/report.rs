//! The comparison's report: medians, ranges, porch/anchor ratios and
//! whether each target of issue 7 holds, printed and written as Markdown to
//! `target/compare/latest.md` (for BENCHMARKS.md).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::Bench;
use crate::anchors::Tools;
use crate::support::median;

/// Which way is better for a metric.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

enum Target {
    /// porch/anchor must be at least (Higher) or at most (Lower) this.
    Ratio(f64),
    /// porch's median must be at most this.
    AtMost(f64),
    /// Shown to explain the others; no target of its own.
    None,
}

/// One measured line of the report.
pub struct Row {
    label: String,
    metric: String,
    better: Better,
    porch: Vec<f64>,
    anchor: Option<(String, Vec<f64>)>,
    target: Target,
}

impl Row {
    /// porch against an anchor, judged by the ratio of medians.
    pub fn ratio(
        label: &str,
        metric: &str,
        better: Better,
        anchor: &str,
        porch: Vec<f64>,
        theirs: Vec<f64>,
        target: f64,
    ) -> Row {
        Row {
            label: label.into(),
            metric: metric.into(),
            better,
            porch,
            anchor: Some((anchor.into(), theirs)),
            target: Target::Ratio(target),
        }
    }

    /// One porch number with an upper limit.
    pub fn absolute(label: &str, unit: &str, value: f64, limit: f64) -> Row {
        Row {
            label: label.into(),
            metric: unit.into(),
            better: Better::Lower,
            porch: vec![value],
            anchor: None,
            target: Target::AtMost(limit),
        }
    }

    /// porch's median with an upper limit, an anchor shown beside it.
    pub fn absolute_vs(label: &str, unit: &str, porch: Vec<f64>, anchor: &str, theirs: Vec<f64>, limit: f64) -> Row {
        Row {
            label: label.into(),
            metric: unit.into(),
            better: Better::Lower,
            porch,
            anchor: Some((anchor.into(), theirs)),
            target: Target::AtMost(limit),
        }
    }

    /// porch beside an anchor with no target: context for the other rows.
    pub fn context(label: &str, metric: &str, anchor: &str, porch: Vec<f64>, theirs: Vec<f64>) -> Row {
        Row {
            label: label.into(),
            metric: metric.into(),
            better: Better::Lower,
            porch,
            anchor: Some((anchor.into(), theirs)),
            target: Target::None,
        }
    }

    fn ratio_of_medians(&self) -> Option<f64> {
        let (_, theirs) = self.anchor.as_ref()?;
        let d = median(theirs);
        (d > 0.0).then(|| median(&self.porch) / d)
    }

    fn target_text(&self) -> String {
        match (&self.target, self.better) {
            (Target::Ratio(t), Better::Higher) => format!("ratio ≥ {t}"),
            (Target::Ratio(t), Better::Lower) => format!("ratio ≤ {t}"),
            (Target::AtMost(v), _) => format!("≤ {v} {}", self.metric),
            (Target::None, _) => "none".into(),
        }
    }

    fn met(&self) -> bool {
        match self.target {
            Target::Ratio(t) => {
                let Some(r) = self.ratio_of_medians() else { return false };
                match self.better {
                    Better::Higher => r >= t,
                    Better::Lower => r <= t,
                }
            }
            Target::AtMost(v) => median(&self.porch) <= v,
            Target::None => true,
        }
    }
}

fn number(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 { String::new() } else { format!(" ({}–{})", number(min), number(max)) }
}

/// Everything measured, and where and with what.
pub struct Report {
    header: String,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    pub fn new(bench: &Bench) -> Report {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "?".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let tools = &bench.tools;
        let mut header = String::new();
        let _ = writeln!(header, "- date: {}", first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])));
        let _ =
            writeln!(header, "- machine: {cpu}, {cores} cores, Linux {}", first_line(Command::new("uname").arg("-r")));
        let _ = writeln!(header, "- porch {} (release build, this checkout)", env!("CARGO_PKG_VERSION"));
        for (name, path, flag) in [
            ("wasmtime", &tools.wasmtime, "--version"),
            ("caddy", &tools.caddy, "version"),
            ("nginx", &tools.nginx, "-v"),
            ("wrk", &tools.wrk, "-v"),
            ("h2load", &tools.h2load, "--version"),
            ("vipsthumbnail", &tools.vipsthumbnail, "--vips-version"),
        ] {
            let _ = writeln!(header, "- {name}: {}", Tools::version(path, flag));
        }
        let _ = writeln!(
            header,
            "- runs: {} rounds per pair, alternating who goes first; {} s per load run, {} connections; \
             the load generator shares the cores with the server",
            bench.rounds, bench.seconds, bench.connections
        );
        Report { header, rows: Vec::new(), notes: Vec::new() }
    }

    pub fn push(&mut self, row: Row) {
        println!("{}", self.line(&row));
        self.rows.push(row);
    }

    pub fn note(&mut self, note: String) {
        println!("  note: {note}");
        self.notes.push(note);
    }

    fn line(&self, row: &Row) -> String {
        let ours = format!("porch {}{}", number(median(&row.porch)), spread(&row.porch));
        let theirs = row
            .anchor
            .as_ref()
            .map_or(String::new(), |(name, v)| format!(", {name} {}{}", number(median(v)), spread(v)));
        let ratio = row.ratio_of_medians().map_or(String::new(), |r| format!(", porch/anchor {r:.2}"));
        let verdict = match row.target {
            Target::None => "(context)",
            _ if row.met() => "met",
            _ => "NOT MET",
        };
        format!("{} [{}]: {ours}{theirs}{ratio}; target {} {verdict}", row.label, row.metric, row.target_text())
    }

    /// Prints the summary and writes it as Markdown.
    pub fn finish(self) {
        let mut md = String::from("| what | metric | porch | anchor | anchor's | porch/anchor | target | |\n");
        md.push_str("|---|---|---|---|---|---|---|---|\n");
        for row in &self.rows {
            let (anchor, theirs) = row
                .anchor
                .as_ref()
                .map_or(("".into(), "".into()), |(n, v)| (n.clone(), format!("{}{}", number(median(v)), spread(v))));
            let _ = writeln!(
                md,
                "| {} | {} | {}{} | {anchor} | {theirs} | {} | {} | {} |",
                row.label,
                row.metric,
                number(median(&row.porch)),
                spread(&row.porch),
                row.ratio_of_medians().map_or(String::new(), |r| format!("{r:.2}")),
                row.target_text(),
                match row.target {
                    Target::None => "",
                    _ if row.met() => "met",
                    _ => "**not met**",
                }
            );
        }
        let notes: String = self.notes.iter().map(|n| format!("- {n}\n")).collect();
        let text = format!("{}\nMedians, with (min–max) over the runs.\n\n{md}\n{notes}", self.header);
        println!("\n== summary\n{text}");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/compare");
        if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(dir.join("latest.md"), &text).is_ok() {
            println!("written to {}", dir.join("latest.md").display());
        }
    }
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
