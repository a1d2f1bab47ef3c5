//! Fault injection for the sandbox: the `--faults` spec, and the seeded roller that decides, per
//! request, whether to delay it, answer with an error status, drop the connection (before the
//! request is served, or — for a write — after it was applied, losing the response), or let a
//! foreign writer change a live object first.
//!
//! Every decision draws the same number of values from one seeded RNG per platform, so a given
//! seed yields the same sequence of faults for the same sequence of requests.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::SandboxError;

/// The faults of one platform.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Added to every request.
    pub latency: Duration,
    /// A uniform extra delay in `[0, jitter]`.
    pub jitter: Duration,
    pub p500: f64,
    pub p502: f64,
    pub p503: f64,
    pub p408: f64,
    pub p429: f64,
    /// `Retry-After` seconds sent with injected 429s.
    pub retry_after: u64,
    /// Length of a 429 burst: once a 429 is injected, the next `burst429 - 1` requests of the
    /// platform get 429 too (whatever else they would have got), the way a real rate limiter
    /// refuses everything until its window turns. 1 = single 429s.
    pub burst429: u64,
    /// Probability of closing the connection without any response.
    pub drop: f64,
    /// Probability that a write (a request that changes state) is applied and then its
    /// response is lost: the connection closes without an answer, as when a network drops
    /// after the server committed. Reads are served normally.
    pub lost_response: f64,
    /// Probability that a foreign writer changes a random live object before the request.
    pub foreign: f64,
    /// RNG seed; `None` seeds from entropy (not reproducible).
    pub seed: Option<u64>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            p500: 0.0,
            p502: 0.0,
            p503: 0.0,
            p408: 0.0,
            p429: 0.0,
            retry_after: 1,
            burst429: 1,
            drop: 0.0,
            lost_response: 0.0,
            foreign: 0.0,
            seed: None,
        }
    }
}

/// The faults of the whole sandbox, one spec per platform.
///
/// Parsed from a comma-separated spec such as
/// `latency=20ms,jitter=5ms,p500=0.05,p429=0.02,retry_after=1,burst429=3,drop=0.01,foreign=0.2,seed=7`.
/// `burst429=N` (N ≥ 1) makes every injected 429 the first of N in a row; `lostResponse=P`
/// applies a write and then closes the connection without its response. A key prefixed with
/// `atlan.`, `connect.` or `mist.` applies to that platform only and wins over the unprefixed
/// key, whatever the order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub atlan: FaultSpec,
    pub connect: FaultSpec,
    pub mist: FaultSpec,
}

impl Faults {
    /// The same spec for every platform.
    pub fn uniform(spec: FaultSpec) -> Faults {
        Faults {
            atlan: spec.clone(),
            connect: spec.clone(),
            mist: spec,
        }
    }

    /// Parses the JSON form accepted by `PUT /_sandbox/faults`: a JSON string holding a spec,
    /// or an object of key → number/string (`{"p500": 0.1, "atlan.latency": "20ms"}`).
    pub fn from_json(value: &serde_json::Value) -> Result<Faults, SandboxError> {
        match value {
            serde_json::Value::String(s) => s.parse(),
            serde_json::Value::Object(map) => {
                let mut parts = Vec::new();
                for (k, v) in map {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        other => {
                            return Err(SandboxError::Faults(format!(
                                "value of {k} must be a number or a string, got {other}"
                            )));
                        }
                    };
                    parts.push(format!("{k}={v}"));
                }
                parts.join(",").parse()
            }
            other => Err(SandboxError::Faults(format!(
                "faults must be a spec string or an object, got {other}"
            ))),
        }
    }
}

impl FromStr for Faults {
    type Err = SandboxError;

    fn from_str(text: &str) -> Result<Faults, SandboxError> {
        let mut pairs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| SandboxError::Faults(format!("`{part}` is not KEY=VALUE")))?;
            pairs.push((key.trim(), value.trim()));
        }
        let mut faults = Faults::default();
        // Unprefixed keys first, so a platform-prefixed key always wins.
        for (key, value) in pairs.iter().filter(|(k, _)| !k.contains('.')) {
            for spec in [&mut faults.atlan, &mut faults.connect, &mut faults.mist] {
                set_key(spec, key, value)?;
            }
        }
        for (key, value) in pairs.iter().filter(|(k, _)| k.contains('.')) {
            let (platform, key) = key.split_once('.').unwrap_or(("", key));
            let spec = match platform {
                "atlan" => &mut faults.atlan,
                "connect" => &mut faults.connect,
                "mist" => &mut faults.mist,
                other => {
                    return Err(SandboxError::Faults(format!(
                        "unknown platform prefix `{other}.` (use atlan., connect. or mist.)"
                    )));
                }
            };
            set_key(spec, key, value)?;
        }
        for (name, spec) in [
            ("atlan", &faults.atlan),
            ("connect", &faults.connect),
            ("mist", &faults.mist),
        ] {
            let total = spec.p500
                + spec.p502
                + spec.p503
                + spec.p408
                + spec.p429
                + spec.drop
                + spec.lost_response;
            if total > 1.0 + 1e-9 {
                return Err(SandboxError::Faults(format!(
                    "{name}: p500+p502+p503+p408+p429+drop+lostResponse = {total} exceeds 1"
                )));
            }
        }
        Ok(faults)
    }
}

fn set_key(spec: &mut FaultSpec, key: &str, value: &str) -> Result<(), SandboxError> {
    let probability = |v: &str| -> Result<f64, SandboxError> {
        match v.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
            _ => Err(SandboxError::Faults(format!(
                "{key}={v}: a probability between 0 and 1 is expected"
            ))),
        }
    };
    let duration = |v: &str| -> Result<Duration, SandboxError> {
        if let Ok(ms) = v.parse::<u64>() {
            return Ok(Duration::from_millis(ms));
        }
        humantime::parse_duration(v).map_err(|e| {
            SandboxError::Faults(format!(
                "{key}={v}: a duration such as 20ms is expected ({e})"
            ))
        })
    };
    let integer = |v: &str| -> Result<u64, SandboxError> {
        v.parse::<u64>().map_err(|_| {
            SandboxError::Faults(format!("{key}={v}: a non-negative integer is expected"))
        })
    };
    match key {
        "latency" => spec.latency = duration(value)?,
        "jitter" => spec.jitter = duration(value)?,
        "p500" => spec.p500 = probability(value)?,
        "p502" => spec.p502 = probability(value)?,
        "p503" => spec.p503 = probability(value)?,
        "p408" => spec.p408 = probability(value)?,
        "p429" => spec.p429 = probability(value)?,
        "retry_after" => spec.retry_after = integer(value)?,
        "burst429" => {
            spec.burst429 = match integer(value)? {
                0 => {
                    return Err(SandboxError::Faults(format!(
                        "{key}={value}: a burst is at least 1 request long"
                    )));
                }
                n => n,
            }
        }
        "drop" => spec.drop = probability(value)?,
        "lostResponse" => spec.lost_response = probability(value)?,
        "foreign" => spec.foreign = probability(value)?,
        "seed" => spec.seed = Some(integer(value)?),
        other => {
            return Err(SandboxError::Faults(format!(
                "unknown fault key `{other}` (known: latency, jitter, p500, p502, p503, p408, \
                 p429, retry_after, burst429, drop, lostResponse, foreign, seed)"
            )));
        }
    }
    Ok(())
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "latency={}ms,jitter={}ms,p500={},p502={},p503={},p408={},p429={},retry_after={},burst429={},drop={},foreign={}",
            self.latency.as_millis(),
            self.jitter.as_millis(),
            self.p500,
            self.p502,
            self.p503,
            self.p408,
            self.p429,
            self.retry_after,
            self.burst429,
            self.drop,
            self.foreign
        )?;
        if self.lost_response > 0.0 {
            write!(f, ",lostResponse={}", self.lost_response)?;
        }
        if let Some(seed) = self.seed {
            write!(f, ",seed={seed}")?;
        }
        Ok(())
    }
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub delay: Duration,
    pub outcome: Outcome,
    /// Seed for the foreign writer's choices, when one writes before this request.
    pub foreign: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    Serve,
    Drop,
    /// Serve a write, then close the connection without the response (a read is served).
    LoseResponse,
    /// An injected error status; `retry_after` only for 429.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
}

/// The seeded decision maker of one platform.
pub(crate) struct Roller {
    spec: FaultSpec,
    rng: StdRng,
    /// Requests still to be refused with 429 in the current burst.
    burst_left: u64,
}

impl Roller {
    pub fn new(spec: FaultSpec) -> Roller {
        let rng = match spec.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::seed_from_u64(rand::random()),
        };
        Roller {
            spec,
            rng,
            burst_left: 0,
        }
    }

    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    pub fn roll(&mut self) -> Decision {
        // Always draw the same four values so the sequence depends only on the seed and the
        // number of requests, not on which faults fired.
        let fault: f64 = self.rng.random();
        let jitter: f64 = self.rng.random();
        let foreign: f64 = self.rng.random();
        let foreign_seed: u64 = self.rng.random();
        let s = &self.spec;
        let delay = s.latency + s.jitter.mul_f64(jitter);
        let too_many = status(429, Some(s.retry_after));
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return Decision {
                delay,
                outcome: too_many,
                foreign: (foreign < s.foreign).then_some(foreign_seed),
            };
        }
        let mut edge = 0.0;
        let mut outcome = Outcome::Serve;
        for (p, candidate) in [
            (s.drop, Outcome::Drop),
            (s.p500, status(500, None)),
            (s.p502, status(502, None)),
            (s.p503, status(503, None)),
            (s.p408, status(408, None)),
            (s.p429, too_many),
            // Last, so that specs without it roll exactly as before.
            (s.lost_response, Outcome::LoseResponse),
        ] {
            edge += p;
            if p > 0.0 && fault < edge {
                outcome = candidate;
                break;
            }
        }
        if outcome == too_many {
            self.burst_left = s.burst429.saturating_sub(1);
        }
        Decision {
            delay,
            outcome,
            foreign: (foreign < s.foreign).then_some(foreign_seed),
        }
    }
}

fn status(status: u16, retry_after: Option<u64>) -> Outcome {
    Outcome::Status {
        status,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_keys_win_over_unprefixed_ones_in_any_order() {
        let f: Faults = "atlan.p500=0.5,p500=0.1,latency=20ms,seed=7"
            .parse()
            .unwrap();
        assert_eq!(f.atlan.p500, 0.5);
        assert_eq!(f.connect.p500, 0.1);
        assert_eq!(f.mist.latency, Duration::from_millis(20));
        assert_eq!(f.mist.seed, Some(7));
    }

    #[test]
    fn bad_specs_are_errors() {
        for bad in [
            "p500",
            "p500=2",
            "nope=1",
            "venus.p500=0.1",
            "p500=0.6,p503=0.6",
        ] {
            assert!(bad.parse::<Faults>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn json_object_form_matches_the_string_form() {
        let json = serde_json::json!({"p429": 0.25, "retry_after": 3, "mist.latency": "5ms"});
        let f = Faults::from_json(&json).unwrap();
        assert_eq!(
            f,
            "p429=0.25,retry_after=3,mist.latency=5ms".parse().unwrap()
        );
    }

    #[test]
    fn rolls_are_reproducible_under_a_seed() {
        let spec: Faults = "p500=0.3,drop=0.2,foreign=0.5,seed=42".parse().unwrap();
        let mut a = Roller::new(spec.atlan.clone());
        let mut b = Roller::new(spec.atlan);
        let xs: Vec<_> = (0..100).map(|_| a.roll()).collect();
        let ys: Vec<_> = (0..100).map(|_| b.roll()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|d| d.outcome == Outcome::Drop));
        assert!(xs.iter().any(|d| d.outcome == Outcome::Serve));
    }

    #[test]
    fn lost_responses_are_rolled_last_and_shown_in_the_spec() {
        let spec: Faults = "drop=0.2,lostResponse=0.3,seed=3".parse().unwrap();
        let without: Faults = "drop=0.2,seed=3".parse().unwrap();
        let mut a = Roller::new(spec.mist.clone());
        let mut b = Roller::new(without.mist);
        let (mut lost, mut dropped) = (0, 0);
        for _ in 0..400 {
            let (x, y) = (a.roll(), b.roll());
            // Adding lostResponse changes no other outcome of the same seed.
            match x.outcome {
                Outcome::LoseResponse => {
                    lost += 1;
                    assert_eq!(y.outcome, Outcome::Serve);
                }
                other => assert_eq!(other, y.outcome),
            }
            dropped += usize::from(x.outcome == Outcome::Drop);
        }
        assert!((80..160).contains(&lost), "{lost}");
        assert!(dropped > 40, "{dropped}");
        let shown = spec.mist.to_string();
        assert!(shown.contains("lostResponse=0.3"), "{shown}");
        assert_eq!(shown.parse::<Faults>().unwrap().mist, spec.mist);
        assert!(!Faults::default().atlan.to_string().contains("lostResponse"));
        assert!("lostResponse=0.6,drop=0.5".parse::<Faults>().is_err());
    }

    #[test]
    fn jitter_adds_a_varying_delay_within_its_bound() {
        let spec: Faults = "latency=10ms,jitter=50ms,seed=11".parse().unwrap();
        let mut roller = Roller::new(spec.connect);
        let delays: Vec<Duration> = (0..200).map(|_| roller.roll().delay).collect();
        let (low, high) = (Duration::from_millis(10), Duration::from_millis(60));
        assert!(
            delays.iter().all(|d| (low..=high).contains(d)),
            "{delays:?}"
        );
        // Spread over the range, not one fixed value.
        assert!(delays.iter().any(|d| *d < Duration::from_millis(20)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(50)));
        let without: Faults = "latency=10ms,seed=11".parse().unwrap();
        let mut fixed = Roller::new(without.connect);
        assert!((0..50).all(|_| fixed.roll().delay == low));
    }

    #[test]
    fn a_429_burst_refuses_the_next_requests_too_then_ends() {
        let spec: Faults = "p429=0.1,retry_after=2,burst429=4,seed=9".parse().unwrap();
        let mut roller = Roller::new(spec.mist);
        let outcomes: Vec<Outcome> = (0..400).map(|_| roller.roll().outcome).collect();
        let too_many = status(429, Some(2));
        let mut runs = Vec::new();
        let mut run = 0;
        for o in &outcomes {
            if *o == too_many {
                run += 1;
            } else {
                if run > 0 {
                    runs.push(run);
                }
                run = 0;
            }
        }
        assert!(runs.len() >= 3, "{runs:?}");
        // Back-to-back bursts join, so a run is a whole number of bursts.
        assert!(runs.iter().all(|r| r % 4 == 0), "{runs:?}");
        assert!(outcomes.contains(&Outcome::Serve));
    }

    #[test]
    fn a_burst_keeps_the_sequence_reproducible_and_shows_in_the_spec() {
        let spec: Faults = "p429=0.2,burst429=3,foreign=0.3,seed=5".parse().unwrap();
        let (mut a, mut b) = (
            Roller::new(spec.atlan.clone()),
            Roller::new(spec.atlan.clone()),
        );
        let xs: Vec<_> = (0..200).map(|_| a.roll()).collect();
        let ys: Vec<_> = (0..200).map(|_| b.roll()).collect();
        assert_eq!(xs, ys);
        // Foreign writes keep being drawn during a burst.
        assert!(
            xs.iter()
                .any(|d| d.outcome != Outcome::Serve && d.foreign.is_some())
        );
        let shown = spec.atlan.to_string();
        assert!(shown.contains("burst429=3"), "{shown}");
        let again: Faults = shown.parse().unwrap();
        assert_eq!(again.atlan, spec.atlan);
        assert!("burst429=0".parse::<Faults>().is_err());
        assert_eq!(Faults::default().mist.burst429, 1);
    }
}
