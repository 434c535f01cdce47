use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::closed_set::closed_set;
use crate::validation::FieldError;

closed_set! {
    /// How much a log line matters.
    pub enum LogLevel {
        /// Finest detail.
        Trace => "trace",
        /// Detail.
        Debug => "debug",
        /// Progress.
        Info => "info",
        /// Something to look at.
        Warn => "warn",
        /// Something went wrong.
        Error => "error",
    }
    else |raw| -> FieldError {
        FieldError::new("log_level", "oneof", raw, "must be one of trace, debug, info, warn, error")
    }
}

closed_set! {
    /// Who wrote a log line.
    pub enum LogSource {
        /// The daemon itself.
        ProvisionerDaemon => "provisioner_daemon",
        /// The provisioner the daemon runs (Terraform, echo).
        Provisioner => "provisioner",
    }
    else |raw| -> FieldError {
        FieldError::new("log_source", "oneof", raw, "must be provisioner_daemon or provisioner")
    }
}

/// A stored log line; ids grow with every line written, so `after=<id>` pages forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its id; later lines have larger ids.
    pub id: i64,
    /// The job it belongs to.
    pub job_id: Uuid,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Who wrote it.
    pub source: LogSource,
    /// How much it matters.
    pub level: LogLevel,
    /// The step of the job it belongs to (`plan`, `apply`, ...).
    pub stage: String,
    /// The text.
    pub output: String,
}

/// A log line a daemon sends, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    /// Who wrote it.
    pub source: LogSource,
    /// How much it matters.
    pub level: LogLevel,
    /// The step of the job it belongs to.
    pub stage: String,
    /// The text.
    pub output: String,
}

/// How much log output a job may keep (1 MiB of `output` text by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBudget {
    /// The most `output` text a job keeps, in bytes, over all its lines.
    pub max_bytes: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self { max_bytes: 1 << 20 }
    }
}

impl LogBudget {
    /// How many of `lines`, in order, still fit after `used` bytes; the first line that does
    /// not fit and every line after it are dropped, and the job is marked as overflowed.
    pub fn admit(&self, used: u64, lines: &[NewLogLine]) -> (usize, bool) {
        let mut total = used;
        for (index, line) in lines.iter().enumerate() {
            total += line.output.len() as u64;
            if total > self.max_bytes {
                return (index, true);
            }
        }
        (lines.len(), false)
    }

    /// The bytes `lines` count against a budget: their `output` text only.
    pub fn bytes_of(lines: &[NewLogLine]) -> u64 {
        lines.iter().map(|line| line.output.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(output: &str) -> NewLogLine {
        NewLogLine {
            source: LogSource::Provisioner,
            level: LogLevel::Info,
            stage: "plan".into(),
            output: output.into(),
        }
    }

    #[test]
    fn lines_fit_until_the_budget_is_spent() {
        let budget = LogBudget { max_bytes: 10 };
        assert_eq!(budget.admit(0, &[line("12345"), line("12345")]), (2, false));
        assert_eq!(budget.admit(0, &[line("12345"), line("123456"), line("1")]), (1, true));
        assert_eq!(budget.admit(10, &[line("")]), (1, false));
        assert_eq!(budget.admit(10, &[line("x")]), (0, true));
    }

    #[test]
    fn levels_and_sources_have_coders_names() {
        assert_eq!(LogLevel::parse("warn"), Ok(LogLevel::Warn));
        assert!(LogLevel::parse("fatal").is_err());
        assert_eq!(LogSource::parse("provisioner_daemon"), Ok(LogSource::ProvisionerDaemon));
    }
}
