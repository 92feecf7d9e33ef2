//! Container probes as kubelet runs them: the startup probe first (liveness and
//! readiness wait until it has succeeded), then liveness and readiness, each after its
//! `initialDelaySeconds`, every `periodSeconds`, within `timeoutSeconds`, judged by
//! `successThreshold`/`failureThreshold`. A failed startup or liveness probe asks for
//! the container to be killed (it is then restarted per the pod's restart policy); the
//! readiness probe decides the container's `ready`, and so the pod's Ready condition.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::time::Instant;

use crate::actions::{self, Action, Failure, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }

    fn probe(self, container: &Container) -> Option<&Probe> {
        match self {
            Kind::Startup => container.startup_probe.as_ref(),
            Kind::Liveness => container.liveness_probe.as_ref(),
            Kind::Readiness => container.readiness_probe.as_ref(),
        }
    }
}

/// The action a probe (or a lifecycle hook's handler fields) names.
pub fn action(probe: &Probe) -> Action<'_> {
    if let Some(exec) = &probe.exec {
        Action::Exec(exec)
    } else if let Some(get) = &probe.http_get {
        Action::HttpGet(get)
    } else if let Some(tcp) = &probe.tcp_socket {
        Action::TcpSocket(tcp)
    } else if probe.grpc.is_some() {
        Action::Unsupported("the grpc probe")
    } else {
        Action::Unsupported("a probe without a handler")
    }
}

#[derive(Debug, Default)]
struct Counts {
    successes: u32,
    failures: u32,
    next: Option<Instant>,
}

/// The probes' state of one attempt of a container.
#[derive(Debug, Default)]
pub struct State {
    attempt: Option<u32>,
    started: bool,
    ready: bool,
    counts: HashMap<Kind, Counts>,
}

/// What a round of probing found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Kill the container, with kubelet's `Killing` message.
    pub kill: Option<String>,
    /// `Unhealthy` events to record.
    pub unhealthy: Vec<String>,
    /// When the next probe is due.
    pub wake: Option<Duration>,
}

impl State {
    /// Whether the container has started (its startup probe succeeded, or it has none).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether the container is ready (its readiness probe succeeded, or it has none and started).
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Runs the probes that are due for `attempt`, running since `since`.
    pub async fn tick(&mut self, attempt: u32, since: Instant, target: &Target<'_>) -> Verdict {
        let container = target.container;
        if self.attempt != Some(attempt) {
            *self = State { attempt: Some(attempt), started: container.startup_probe.is_none(), ..State::default() };
            self.ready = self.started && container.readiness_probe.is_none();
        }
        let mut verdict = Verdict::default();
        let now = Instant::now();
        let kinds: &[Kind] = if self.started { &[Kind::Liveness, Kind::Readiness] } else { &[Kind::Startup] };
        for &kind in kinds {
            let Some(probe) = kind.probe(container) else { continue };
            let counts = self.counts.entry(kind).or_default();
            let due = counts.next.unwrap_or(since + secs(probe.initial_delay_seconds, 0));
            if now < due {
                verdict.wake = Some(verdict.wake.map_or(due - now, |w| w.min(due - now)));
                continue;
            }
            let period = secs(probe.period_seconds, 10);
            counts.next = Some(now + period);
            verdict.wake = Some(verdict.wake.map_or(period, |w| w.min(period)));
            let result = actions::run(&action(probe), target, secs(probe.timeout_seconds, 1)).await;
            let counts = self.counts.entry(kind).or_default();
            match result {
                Ok(()) => {
                    counts.successes += 1;
                    counts.failures = 0;
                }
                Err(Failure::Failed(message)) => {
                    counts.failures += 1;
                    counts.successes = 0;
                    verdict.unhealthy.push(format!("{} probe failed: {message}", kind.word()));
                }
                Err(Failure::Errored(message)) => {
                    verdict.unhealthy.push(format!("{} probe errored: {message}", kind.word()));
                    continue;
                }
            }
            let succeeded = counts.successes >= threshold(probe.success_threshold);
            let failed = counts.failures >= threshold(probe.failure_threshold.or(Some(3)));
            match kind {
                Kind::Startup if succeeded => {
                    self.started = true;
                    self.ready = container.readiness_probe.is_none();
                    // Liveness and readiness start now.
                    verdict.wake = Some(Duration::ZERO);
                }
                Kind::Startup | Kind::Liveness if failed => {
                    verdict.kill = Some(format!("Container {} failed {} probe, will be restarted", container.name, kind.word().to_lowercase()));
                    self.counts.clear();
                }
                Kind::Readiness if succeeded => self.ready = true,
                Kind::Readiness if failed => self.ready = false,
                _ => {}
            }
        }
        verdict
    }
}

fn secs(value: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(value.unwrap_or(default).max(0) as u64)
}

fn threshold(value: Option<i32>) -> u32 {
    value.unwrap_or(1).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(container: &Container) -> Target<'_> {
        Target { exe: std::path::Path::new("/bin/false"), runtime_root: Default::default(), id: String::new(), pod_ip: "127.0.0.1".into(), container }
    }

    #[tokio::test]
    async fn without_probes_a_container_is_started_and_ready() {
        let c: Container = serde_json::from_value(serde_json::json!({"name": "c"})).unwrap();
        let mut state = State::default();
        let verdict = state.tick(0, Instant::now(), &target(&c)).await;
        assert!(state.started() && state.ready() && verdict.kill.is_none() && verdict.wake.is_none());
    }

    #[tokio::test]
    async fn a_failing_liveness_probe_kills_after_its_threshold() {
        // Nothing listens on port 1 of loopback: every check fails at once.
        let c: Container = serde_json::from_value(serde_json::json!({"name": "c",
            "livenessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 0, "failureThreshold": 2},
            "readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": 0}})).unwrap();
        let mut state = State::default();
        let first = state.tick(0, Instant::now(), &target(&c)).await;
        assert!(first.kill.is_none() && !state.ready());
        assert_eq!(first.unhealthy[0], "Liveness probe failed: dial tcp 127.0.0.1:1: connect: connection refused");
        let second = state.tick(0, Instant::now(), &target(&c)).await;
        assert_eq!(second.kill.as_deref(), Some("Container c failed liveness probe, will be restarted"));
    }
}
