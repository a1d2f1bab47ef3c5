//! The displays of progress. For CI logs (no terminal): one plain line per finished object.
//! On a terminal: [`Bars`], one line per target of an apply (done/total, elapsed, ETA, and
//! why it waits), with each finished object printed above them; and [`Spinners`], one per
//! target while `plan` reads. Both show the waits `crate::platform::wait` announces. Lines
//! are `object_line`s, which never hold a key; target names and wait details are escaped.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::report::object_line;
use crate::apply::{ObjectReport, Progress, Status};
use crate::platform::wait::{Wait, WaitListener, WaitReason};
use crate::text::escape;

/// One line per finished object (no-ops are left out: they were never worked on).
pub struct PlainLines<W: Write + Send> {
    out: Mutex<W>,
    /// `--quiet`: failed, stale, refused and skipped objects only.
    failures_only: bool,
}

impl<W: Write + Send> PlainLines<W> {
    pub fn new(out: W) -> PlainLines<W> {
        PlainLines {
            out: Mutex::new(out),
            failures_only: false,
        }
    }

    /// Lines for the objects that did not succeed only (`--quiet`).
    pub fn failures_only(out: W) -> PlainLines<W> {
        PlainLines {
            failures_only: true,
            ..PlainLines::new(out)
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl<W: Write + Send> Progress for PlainLines<W> {
    fn finished(&self, report: &ObjectReport) {
        if report.status == Status::NoOp || (self.failures_only && !is_failure(report.status)) {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout must not abort an apply half way; the report file still records it.
        let _ = writeln!(out, "{}", object_line(report));
        let _ = out.flush();
    }
}

/// Objects that did not end as wanted: shown even under `--quiet` and above a bar.
fn is_failure(status: Status) -> bool {
    matches!(
        status,
        Status::Failed | Status::Stale | Status::Refused | Status::ConflictSkipped
    )
}

/// A wait as a person reads it: "waiting 41 s for the mist hourly request limit".
/// `platform` names the target's platform when known.
pub(crate) fn wait_text(wait: &Wait, platform: Option<&str>) -> String {
    let how_long = wait
        .duration
        .map(|d| format!(" {}", duration_text(d)))
        .unwrap_or_default();
    match &wait.reason {
        WaitReason::RateLimit { per } => {
            let window = match per.as_secs() {
                3600 => "hourly".to_string(),
                60 => "per-minute".to_string(),
                s => format!("{s}-second"),
            };
            let whose = platform.map(|p| format!("{p} ")).unwrap_or_default();
            format!("waiting{how_long} for the {whose}{window} request limit")
        }
        WaitReason::RetryAfter => format!("waiting{how_long}: the server asked (Retry-After)"),
        WaitReason::Backoff { attempt } => {
            format!("waiting{how_long} before retry {attempt} of a failed request")
        }
        WaitReason::WorkflowRun { run } => {
            format!("waiting{how_long} for workflow run {}", escape(run))
        }
    }
}

/// Whole seconds, rounded up, from one second; milliseconds below.
fn duration_text(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_millis().div_ceil(1000))
    } else {
        format!("{} ms", d.as_millis().max(1))
    }
}

/// One indicatif line per target and the words of their waits, shared by [`Bars`] and
/// [`Spinners`] and handed to `crate::platform::wait` as the listener.
#[derive(Clone)]
struct TargetLines {
    multi: MultiProgress,
    lines: Arc<BTreeMap<String, ProgressBar>>,
    /// Target → platform name, for the words of a rate-limit wait.
    platforms: Arc<BTreeMap<String, String>>,
    /// The waits of each target in progress (concurrent requests may each wait).
    waiting: Arc<Mutex<HashMap<String, usize>>>,
    /// The message of a line that is not waiting.
    idle: &'static str,
}

impl TargetLines {
    fn new(
        targets: impl IntoIterator<Item = (String, String, u64)>,
        style: &ProgressStyle,
        idle: &'static str,
        draw: ProgressDrawTarget,
    ) -> TargetLines {
        let multi = MultiProgress::with_draw_target(draw);
        let targets: Vec<(String, String, u64)> = targets.into_iter().collect();
        let width = targets
            .iter()
            .map(|(t, _, _)| escape(t).chars().count())
            .max()
            .unwrap_or(0);
        let mut lines = BTreeMap::new();
        let mut platforms = BTreeMap::new();
        for (target, platform, total) in targets {
            let line = multi.add(ProgressBar::new(total).with_style(style.clone()));
            line.set_prefix(format!("{:<width$}", escape(&target)));
            line.set_message(idle);
            lines.insert(target.clone(), line);
            platforms.insert(target, platform);
        }
        TargetLines {
            multi,
            lines: Arc::new(lines),
            platforms: Arc::new(platforms),
            waiting: Arc::new(Mutex::new(HashMap::new())),
            idle,
        }
    }

    fn tick(&self) {
        for line in self.lines.values() {
            line.enable_steady_tick(Duration::from_millis(120));
        }
    }

    /// A line above the target lines (kept when they are cleared).
    fn say(&self, text: &str) {
        // Only fails when the terminal went away; nothing to say it to then.
        let _ = self.multi.println(text);
    }

    fn clear(&self) {
        for line in self.lines.values() {
            line.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

impl WaitListener for TargetLines {
    fn waiting(&self, wait: &Wait) {
        let Some(line) = self.lines.get(&wait.target) else {
            return;
        };
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting.entry(wait.target.clone()).or_default() += 1;
        }
        let platform = self.platforms.get(&wait.target).map(String::as_str);
        line.set_message(wait_text(wait, platform));
    }

    fn resumed(&self, target: &str) {
        let Some(line) = self.lines.get(target) else {
            return;
        };
        let still = self.waiting.lock().map_or(0, |mut waiting| {
            let n = waiting.entry(target.to_string()).or_default();
            *n = n.saturating_sub(1);
            *n
        });
        if still == 0 {
            line.set_message(self.idle);
        }
    }
}

/// The apply display on a terminal: one line per target with its objects done/total, elapsed
/// time, ETA and the reason of any wait; every finished object printed above the lines, as CI
/// shows it (`applied  AutomationIdentity/x (…): created id=…`).
pub(crate) struct Bars {
    lines: TargetLines,
}

impl Bars {
    /// `targets`: each target of the plan with its platform name and its number of objects
    /// that are not no-ops.
    pub(crate) fn new(
        targets: impl IntoIterator<Item = (String, String, u64)>,
        draw: ProgressDrawTarget,
    ) -> Bars {
        let style = ProgressStyle::with_template(
            "{prefix}  [{bar:24}] {pos}/{len}  {elapsed} elapsed, ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Bars {
            lines: TargetLines::new(targets, &style, "", draw),
        }
    }

    /// The per-target lines as the listener of waits.
    pub(crate) fn waits(&self) -> Arc<dyn WaitListener> {
        Arc::new(self.lines.clone())
    }

    /// A message above the lines (Ctrl-C notices), so no half-drawn line is left behind.
    pub(crate) fn say(&self, text: &str) {
        self.lines.say(text);
    }
}

impl Progress for Bars {
    fn start(&self, _total: usize) {
        self.lines.tick();
    }

    fn finished(&self, report: &ObjectReport) {
        if report.status == Status::NoOp {
            return;
        }
        self.lines.say(&object_line(report));
        if let Some(line) = self.lines.lines.get(&report.address.target) {
            line.inc(1);
        }
    }

    fn done(&self) {
        self.lines.clear();
    }
}

/// `plan` on a terminal: a spinner per target while its live state is read, with the reason
/// of any wait; cleared when the plan is made.
pub(crate) struct Spinners {
    lines: TargetLines,
}

impl Spinners {
    /// `targets`: each target read, with its platform name.
    pub(crate) fn start(
        targets: impl IntoIterator<Item = (String, String)>,
        draw: ProgressDrawTarget,
    ) -> Spinners {
        let style = ProgressStyle::with_template("{spinner} {prefix}  {elapsed}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let lines = TargetLines::new(
            targets.into_iter().map(|(t, p)| (t, p, 0)),
            &style,
            "reading live state",
            draw,
        );
        lines.tick();
        Spinners { lines }
    }

    pub(crate) fn waits(&self) -> Arc<dyn WaitListener> {
        Arc::new(self.lines.clone())
    }

    pub(crate) fn finish(&self) {
        self.lines.clear();
    }
}

/// What `apply` shows while it runs: bars on a terminal, plain lines otherwise. Messages for
/// people (Ctrl-C notices, waits in CI logs) go through [`Display::say`], so they never cut
/// through a bar.
pub(crate) enum Display {
    Bars(Bars),
    Plain(PlainLines<std::io::Stdout>),
}

impl Display {
    pub(crate) fn say(&self, text: &str) {
        match self {
            Display::Bars(bars) => bars.say(text),
            Display::Plain(_) => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}").and_then(|()| err.flush());
            }
        }
    }

    /// The listener of waits: the bars' lines, or in CI a plain stderr line for each wait
    /// long enough to look like a hang.
    pub(crate) fn waits(&self) -> Arc<dyn WaitListener> {
        match self {
            Display::Bars(bars) => bars.waits(),
            Display::Plain(_) => Arc::new(LongWaits),
        }
    }
}

impl Progress for Display {
    fn start(&self, total: usize) {
        match self {
            Display::Bars(b) => b.start(total),
            Display::Plain(p) => p.start(total),
        }
    }

    fn working_on(&self, target: &str) {
        match self {
            Display::Bars(b) => b.working_on(target),
            Display::Plain(p) => p.working_on(target),
        }
    }

    fn finished(&self, report: &ObjectReport) {
        match self {
            Display::Bars(b) => b.finished(report),
            Display::Plain(p) => p.finished(report),
        }
    }

    fn done(&self) {
        match self {
            Display::Bars(b) => b.done(),
            Display::Plain(p) => p.done(),
        }
    }
}

/// In CI logs: one stderr line per wait of five seconds or more (or of unknown length).
struct LongWaits;

impl WaitListener for LongWaits {
    fn waiting(&self, wait: &Wait) {
        if wait.duration.is_some_and(|d| d < Duration::from_secs(5)) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}: {}", escape(&wait.target), wait_text(wait, None))
            .and_then(|()| err.flush());
    }

    fn resumed(&self, _target: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Kind};
    use crate::plan::Action;

    /// A terminal in memory: rows of characters, a cursor, and the automatic wrap at the
    /// right margin that indicatif relies on (it pads each line to the full width).
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<Cells>>);

    #[derive(Debug, Default)]
    struct Cells {
        rows: Vec<Vec<char>>,
        row: usize,
        col: usize,
    }

    const WIDTH: usize = 160;

    impl Cells {
        fn put(&mut self, c: char) {
            match c {
                '\r' => self.col = 0,
                '\n' => {
                    self.row += 1;
                    self.col = 0;
                }
                _ => {
                    if self.col >= WIDTH {
                        self.row += 1;
                        self.col = 0;
                    }
                    let col = self.col;
                    let row = self.line();
                    if row.len() <= col {
                        row.resize(col + 1, ' ');
                    }
                    row[col] = c;
                    self.col += 1;
                }
            }
        }

        fn line(&mut self) -> &mut Vec<char> {
            while self.rows.len() <= self.row {
                self.rows.push(Vec::new());
            }
            &mut self.rows[self.row]
        }
    }

    impl Screen {
        fn rows(&self) -> Vec<String> {
            let cells = self.0.lock().unwrap();
            cells
                .rows
                .iter()
                .map(|r| r.iter().collect::<String>().trim_end().to_string())
                .collect()
        }

        /// The rows once `done` holds of them (the steady tick redraws every 120 ms), or
        /// after five seconds, for the assertions to say what is missing.
        fn settled(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
            let start = std::time::Instant::now();
            loop {
                let rows = self.rows();
                if done(&rows) || start.elapsed() > Duration::from_secs(5) {
                    return rows;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        fn with(&self, f: impl FnOnce(&mut Cells)) {
            f(&mut self.0.lock().unwrap());
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            WIDTH as u16
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.row = s.row.saturating_sub(n));
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.row += n);
            Ok(())
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.col = (s.col + n).min(WIDTH));
            Ok(())
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.col = s.col.saturating_sub(n));
            Ok(())
        }
        fn write_line(&self, text: &str) -> std::io::Result<()> {
            self.with(|s| text.chars().chain(['\n']).for_each(|c| s.put(c)));
            Ok(())
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.with(|s| text.chars().for_each(|c| s.put(c)));
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.with(|s| {
                s.line().clear();
                s.col = 0;
            });
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn report(target: &str, name: &str, status: Status) -> ObjectReport {
        let address = Address {
            kind: Kind::new("AutomationIdentity"),
            name: name.into(),
            target: target.into(),
            remote_key: name.into(),
        };
        let mut report = ObjectReport::new(address, Action::Create, status);
        report.id = Some(format!("id-of-{name}"));
        report
    }

    fn row<'a>(rows: &'a [String], start: &str) -> &'a str {
        rows.iter()
            .find(|r| r.starts_with(start))
            .unwrap_or_else(|| panic!("no row starting {start:?} in {rows:#?}"))
    }

    #[test]
    fn one_line_per_target_with_counts_times_and_the_reason_of_a_wait() {
        let screen = Screen::default();
        let bars = Bars::new(
            [
                ("connect-prod".to_string(), "connect".to_string(), 2),
                ("mist-prod".to_string(), "mist".to_string(), 3),
            ],
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bars.start(5);
        bars.finished(&report("connect-prod", "ci-runner", Status::Applied));
        bars.finished(&report("mist-prod", "installer", Status::Applied));
        bars.finished(&report("mist-prod", "noop", Status::NoOp));
        bars.waits().waiting(&Wait {
            target: "mist-prod".into(),
            reason: WaitReason::RateLimit {
                per: Duration::from_secs(3600),
            },
            duration: Some(Duration::from_millis(40_200)),
        });
        // Position updates are drawn at a bounded rate; the steady tick draws the rest.
        let rows = screen.settled(|rows| rows.iter().any(|r| r.contains("1/2")));
        let connect = row(&rows, "connect-prod");
        assert!(connect.contains("1/2"), "{connect}");
        assert!(connect.contains("elapsed, ETA"), "{connect}");
        let mist = row(&rows, "mist-prod   ");
        assert!(mist.contains("1/3"), "the no-op is not counted: {mist}");
        assert!(
            mist.contains("waiting 41 s for the mist hourly request limit"),
            "{mist}"
        );
        assert!(!connect.contains("waiting"), "{connect}");
        // The successes are printed above the bars, with the created ids.
        let created = row(&rows, "applied");
        assert!(
            created.contains("AutomationIdentity/ci-runner"),
            "{rows:#?}"
        );
        assert!(created.contains("created id-of-ci-runner"), "{rows:#?}");
        let above = rows.iter().position(|r| r.contains("ci-runner")).unwrap();
        let bar = rows
            .iter()
            .position(|r| r.starts_with("connect-prod"))
            .unwrap();
        assert!(above < bar, "{rows:#?}");

        // The wait ends: the reason goes; a message through the display stays above.
        bars.waits().resumed("mist-prod");
        bars.say("interrupted: finishing the writes in flight");
        let rows = screen.rows();
        assert!(!row(&rows, "mist-prod   ").contains("waiting"), "{rows:#?}");
        assert!(
            rows.iter()
                .any(|r| r == "interrupted: finishing the writes in flight")
        );

        // Done: the bars are cleared, no ghost line; the printed lines stay.
        bars.done();
        let rows = screen.rows();
        assert!(
            !rows.iter().any(|r| r.starts_with("connect-prod")),
            "{rows:#?}"
        );
        assert!(
            !rows.iter().any(|r| r.starts_with("mist-prod")),
            "{rows:#?}"
        );
        assert!(rows.iter().any(|r| r.contains("ci-runner")), "{rows:#?}");
    }

    #[test]
    fn plan_spinners_show_each_target_and_its_wait() {
        let screen = Screen::default();
        let spinners = Spinners::start(
            [
                ("atlan-prod".to_string(), "atlan".to_string()),
                ("mist-prod".to_string(), "mist".to_string()),
            ],
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        spinners.waits().waiting(&Wait {
            target: "atlan-prod".into(),
            reason: WaitReason::RetryAfter,
            duration: Some(Duration::from_secs(2)),
        });
        let rows = screen.settled(|rows| rows.iter().any(|r| r.contains("Retry-After")));
        let atlan = rows.iter().find(|r| r.contains("atlan-prod")).unwrap();
        assert!(
            atlan.contains("waiting 2 s: the server asked (Retry-After)"),
            "{rows:#?}"
        );
        let mist = rows.iter().find(|r| r.contains("mist-prod")).unwrap();
        assert!(mist.contains("reading live state"), "{rows:#?}");
        spinners.finish();
        assert!(
            screen.rows().iter().all(|r| r.is_empty()),
            "{:#?}",
            screen.rows()
        );
    }

    #[test]
    fn wait_words() {
        let wait = |reason, duration| Wait {
            target: "t".into(),
            reason,
            duration,
        };
        assert_eq!(
            wait_text(
                &wait(
                    WaitReason::Backoff { attempt: 2 },
                    Some(Duration::from_millis(250))
                ),
                None
            ),
            "waiting 250 ms before retry 2 of a failed request"
        );
        assert_eq!(
            wait_text(
                &wait(
                    WaitReason::WorkflowRun {
                        run: "run\n1".into()
                    },
                    None
                ),
                None
            ),
            "waiting for workflow run run\\n1"
        );
        assert_eq!(
            wait_text(
                &wait(
                    WaitReason::RateLimit {
                        per: Duration::from_secs(60)
                    },
                    Some(Duration::from_secs(1))
                ),
                Some("atlan")
            ),
            "waiting 1 s for the atlan per-minute request limit"
        );
    }
}
