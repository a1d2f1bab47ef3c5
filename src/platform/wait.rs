//! Waits worth telling a person about: the HTTP policy (and any client that polls) announces
//! each wait here, and whatever display listens shows why a target is quiet — "waiting 41 s
//! for the hourly request limit", "waiting for workflow run …" — instead of a bar that looks
//! hung.
//!
//! The listener is process-wide rather than threaded through every client: waits happen deep
//! in the one HTTP policy shared by all platforms, a process runs one command at a time, and
//! with no listener (the library, tests) an announcement costs one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Why a target waits (typed: displays word it, nothing decides on the words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// warrant's own client-side request budget of the platform: `requests` per `per`.
    RateLimit { per: Duration },
    /// The server asked for the pause (`Retry-After`, typically with 429 or 503).
    RetryAfter,
    /// Backing off before retry `attempt` of a transiently failed request.
    Backoff { attempt: u32 },
    /// A platform job started by a write that has to finish first (Atlan workflow runs).
    WorkflowRun { run: String },
}

/// A wait announced for `target`: how long when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub target: String,
    pub reason: WaitReason,
    pub duration: Option<Duration>,
}

/// A display of waits (`crate::render::progress` has the terminal one).
pub trait WaitListener: Send + Sync {
    fn waiting(&self, wait: &Wait);
    /// The wait of `target` is over.
    fn resumed(&self, target: &str);
}

static LISTENING: AtomicBool = AtomicBool::new(false);
static LISTENER: RwLock<Option<Arc<dyn WaitListener>>> = RwLock::new(None);

/// Makes `listener` the process's listener until the returned guard is dropped.
#[must_use = "the listener stops when the guard is dropped"]
pub fn listen(listener: Arc<dyn WaitListener>) -> Listening {
    if let Ok(mut slot) = LISTENER.write() {
        *slot = Some(listener);
        LISTENING.store(true, Ordering::Release);
    }
    Listening { _private: () }
}

/// Ends the listening when dropped.
pub struct Listening {
    _private: (),
}

impl Drop for Listening {
    fn drop(&mut self) {
        LISTENING.store(false, Ordering::Release);
        if let Ok(mut slot) = LISTENER.write() {
            *slot = None;
        }
    }
}

fn current() -> Option<Arc<dyn WaitListener>> {
    if !LISTENING.load(Ordering::Acquire) {
        return None;
    }
    LISTENER.read().ok()?.clone()
}

/// Announces a wait of `target`; the wait ends when the returned value is dropped (after the
/// sleep or poll it covers).
pub fn announce(target: &str, reason: WaitReason, duration: Option<Duration>) -> Announced {
    let listener = current();
    if let Some(listener) = &listener {
        listener.waiting(&Wait {
            target: target.to_string(),
            reason,
            duration,
        });
    }
    Announced {
        target: listener.map(|l| (l, target.to_string())),
    }
}

/// Tells the listener the wait is over when dropped.
pub struct Announced {
    target: Option<(Arc<dyn WaitListener>, String)>,
}

impl Drop for Announced {
    fn drop(&mut self) {
        if let Some((listener, target)) = &self.target {
            listener.resumed(target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl WaitListener for Seen {
        fn waiting(&self, wait: &Wait) {
            self.0.lock().unwrap().push(format!(
                "{} {:?} {:?}",
                wait.target, wait.reason, wait.duration
            ));
        }
        fn resumed(&self, target: &str) {
            self.0.lock().unwrap().push(format!("{target} resumed"));
        }
    }

    #[test]
    fn a_listener_sees_each_wait_and_its_end_and_nothing_after_the_guard_drops() {
        let seen = Arc::new(Seen::default());
        {
            let _listening = listen(seen.clone());
            let waited = announce(
                "mist-prod",
                WaitReason::RetryAfter,
                Some(Duration::from_secs(3)),
            );
            drop(waited);
        }
        drop(announce(
            "mist-prod",
            WaitReason::Backoff { attempt: 2 },
            None,
        ));
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["mist-prod RetryAfter Some(3s)", "mist-prod resumed"]
        );
    }
}
