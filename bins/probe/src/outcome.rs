//! What a check found, how it prints, and the exit code it maps to.

use std::fmt;
use std::time::Duration;

use crate::cli::Output;

/// The three answers a probe can give, each with its documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// 0: the check passed.
    Healthy,
    /// 1: the check ran and failed (a status, a body, NOT_SERVING, a stale file, an exit code).
    Unhealthy,
    /// 3: the target could not be reached in time, or its answer broke off.
    Unreachable,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Unhealthy => 1,
            Verdict::Unreachable => 3,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Unhealthy => "unhealthy",
            Verdict::Unreachable => "unreachable",
        }
    }
}

/// An attempt's time ran out before it could conclude. Its caller says what that means: a
/// timeout for one check, nothing about the target for a `wait` cut short by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

/// What one attempt at a check found; [`Finding::into_outcome`] names and times it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    /// What the target answered: an HTTP status, a gRPC serving status, an exit code.
    pub status: Option<String>,
    /// Why it is not healthy, or a warning when it is.
    pub detail: Option<String>,
}

impl Finding {
    pub fn healthy(status: Option<String>) -> Finding {
        Finding {
            verdict: Verdict::Healthy,
            status,
            detail: None,
        }
    }

    pub fn unhealthy(status: Option<String>, detail: String) -> Finding {
        Finding {
            verdict: Verdict::Unhealthy,
            status,
            detail: Some(detail),
        }
    }

    pub fn unreachable(detail: String) -> Finding {
        Finding {
            verdict: Verdict::Unreachable,
            status: None,
            detail: Some(detail),
        }
    }

    pub fn into_outcome(self, target: String, latency: Duration) -> Outcome {
        Outcome {
            target,
            verdict: self.verdict,
            status: self.status,
            detail: self.detail,
            latency,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: String,
    pub verdict: Verdict,
    /// What the target answered: an HTTP status, a gRPC serving status, an exit code.
    pub status: Option<String>,
    /// Why it is not healthy, or a warning when it is.
    pub detail: Option<String>,
    pub latency: Duration,
}

impl Outcome {
    /// Prints the outcome as one line on stdout, where the kubelet records a probe's output.
    pub fn print(&self, output: Output) {
        match output {
            Output::Text => println!("{self}"),
            Output::Json => println!("{}", self.json()),
        }
    }

    /// `{"error":..,"latency_ms":..,"result":..,"status":..,"target":..}`: the status a number
    /// when it is one (an HTTP status, an exit code), else a string (a gRPC status) or null.
    fn json(&self) -> String {
        use podkit::log::push_json_string;
        let mut line = String::from("{\"error\":");
        match self
            .detail
            .as_deref()
            .filter(|_| self.verdict != Verdict::Healthy)
        {
            Some(detail) => push_json_string(&mut line, detail),
            None => line.push_str("null"),
        }
        let latency_ms = self.latency.as_secs_f64() * 1e3;
        line.push_str(&format!(",\"latency_ms\":{latency_ms:.3},\"result\":\""));
        line.push_str(self.verdict.word());
        line.push_str("\",\"status\":");
        match self.status.as_deref() {
            Some(code) if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) => {
                line.push_str(code)
            }
            Some(status) => push_json_string(&mut line, status),
            None => line.push_str("null"),
        }
        line.push_str(",\"target\":");
        push_json_string(&mut line, &self.target);
        line.push('}');
        line
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verdict.word(), self.target)?;
        if let Some(status) = &self.status {
            write!(f, " status={status}")?;
        }
        write!(f, " latency={:.1}ms", self.latency.as_secs_f64() * 1e3)?;
        if let Some(detail) = &self.detail {
            let key = if self.verdict == Verdict::Healthy {
                "warning"
            } else {
                "error"
            };
            write!(f, " {key}={detail:?}")?;
        }
        Ok(())
    }
}
