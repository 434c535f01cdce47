//! The job queue's metrics. Counters and histograms are kept by the server that sees the
//! event; the gauges (pending and running jobs, online daemons) come from the database at
//! scrape time, so that several servers on one database report the same truth.

use domain::provisioner::{JobStatus, ProvisionerJob, ReapVerdict};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use storage::observe::{GroupedCommits, QueueGauges};
use storage::{DaemonSignIns, JobStepBatches};

use super::{counter, histogram};

/// Jobs wait and run for seconds to hours.
const JOB_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0];
/// An acquire waits at most a minute.
const ACQUIRE_BUCKETS: &[f64] = &[0.005, 0.05, 0.25, 1.0, 5.0, 15.0, 30.0, 60.0];

pub struct QueueMetrics {
    queue_wait: HistogramVec,
    job_timings: HistogramVec,
    finished: IntCounterVec,
    reaped: IntCounterVec,
    acquired: IntCounterVec,
    acquire_wait: HistogramVec,
}

impl QueueMetrics {
    pub(super) fn new(registry: &Registry) -> Self {
        Self {
            queue_wait: histogram(
                registry,
                "coderd_provisioner_job_queue_wait_seconds",
                "Time from job creation to acquisition by a provisioner daemon.",
                &["job_type", "provisioner_type"],
                JOB_BUCKETS,
            ),
            job_timings: histogram(
                registry,
                "coderd_provisionerd_job_timings_seconds",
                "The provisioner job time duration in seconds.",
                &["provisioner", "status"],
                JOB_BUCKETS,
            ),
            finished: counter(
                registry,
                "coderd_provisionerd_jobs_finished_total",
                "Jobs that reached a final status on this server (succeeded, failed, canceled).",
                &["status"],
            ),
            reaped: counter(
                registry,
                "coderd_provisionerd_jobs_reaped_total",
                "Jobs this server's reaper failed, by what they were (pending or hung).",
                &["reason"],
            ),
            acquired: counter(
                registry,
                "coderd_provisionerd_jobs_acquired_total",
                "Jobs handed to a daemon by this server.",
                &["provisioner"],
            ),
            acquire_wait: histogram(
                registry,
                "coderd_provisionerd_acquire_wait_seconds",
                "How long an acquire request waited before it took a job or gave up.",
                &["result"],
                ACQUIRE_BUCKETS,
            ),
        }
    }

    /// An acquire ended after `seconds`, with `job` if it took one.
    pub fn acquire_ended(&self, seconds: f64, job: Option<&ProvisionerJob>) {
        // `empty`: its time ran out, its daemon hung up, or the server is stopping.
        let result = if job.is_some() { "acquired" } else { "empty" };
        self.acquire_wait.with_label_values(&[result]).observe(seconds);
        let Some(job) = job else { return };
        self.acquired.with_label_values(&[job.provisioner.as_str()]).inc();
        if let Some(started) = job.state.started_at {
            let waited = (started - job.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            self.queue_wait.with_label_values(&[job.job_type.as_str(), job.provisioner.as_str()]).observe(waited);
        }
    }

    /// A job's state changed through this server; counted when that change ended it.
    pub fn job_changed(&self, job: &ProvisionerJob) {
        let status = job.status();
        if !matches!(status, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled) {
            return;
        }
        self.finished.with_label_values(&[status.as_str()]).inc();
        if let (Some(started), Some(completed)) = (job.state.started_at, job.state.completed_at) {
            let ran = (completed - started).num_milliseconds().max(0) as f64 / 1000.0;
            self.job_timings.with_label_values(&[job.provisioner.as_str(), status.as_str()]).observe(ran);
        }
    }

    /// The reaper failed these jobs.
    pub fn reaped(&self, verdicts: &[ReapVerdict]) {
        for verdict in verdicts {
            let reason = match verdict {
                ReapVerdict::Pending(_) => "pending",
                ReapVerdict::Hung(_) => "hung",
            };
            self.reaped.with_label_values(&[reason]).inc();
            self.finished.with_label_values(&[JobStatus::Failed.as_str()]).inc();
        }
    }
}

/// The gauges read from the database, as metric families of this scrape only (an
/// organization that has gone leaves no stale series behind).
pub fn scraped_gauges(gauges: &QueueGauges) -> Vec<MetricFamily> {
    let build = |name: &str, help: &str, labels: &[&str]| IntGaugeVec::new(Opts::new(name, help), labels);
    let (Ok(pending), Ok(current), Ok(daemons)) = (
        build(
            "coderd_provisionerd_jobs_pending",
            "Jobs waiting for a daemon, per organization and provisioner (read from the database).",
            &["organization_name", "provisioner"],
        ),
        build(
            "coderd_provisionerd_jobs_current",
            "The number of currently running provisioner jobs (running or canceling, read from the database).",
            &["organization_name", "provisioner"],
        ),
        build(
            "coderd_provisionerd_num_daemons",
            "The number of online provisioner daemons, per organization (read from the database).",
            &["organization_name"],
        ),
    ) else {
        return Vec::new();
    };
    for jobs in &gauges.jobs {
        let labels = [jobs.organization.as_str(), jobs.provisioner.as_str()];
        match jobs.status {
            JobStatus::Pending => pending.with_label_values(&labels).add(jobs.count),
            _ => current.with_label_values(&labels).add(jobs.count),
        }
    }
    for online in &gauges.daemons {
        daemons.with_label_values(&[online.organization.as_str()]).set(online.count);
    }
    [pending.collect(), current.collect(), daemons.collect()].into_iter().flatten().collect()
}

/// How the store has been grouping its writes, from its own counts (no database read): on
/// PostgreSQL the batches of daemons' steps, on SQLite the commits shared by several writes.
/// Their ratios are the average batch and group sizes.
pub fn store_counters(
    steps: JobStepBatches,
    commits: Option<GroupedCommits>,
    sign_ins: DaemonSignIns,
) -> Vec<MetricFamily> {
    let mut counts = vec![
        (
            "api_store_job_step_batches_total",
            "Batches that ran daemons' job steps (taking or ending a job), each one transaction.",
            steps.batches,
        ),
        ("api_store_job_steps_total", "Daemons' job steps run in those batches.", steps.steps),
        (
            "api_store_job_takes_in_one_statement_total",
            "Of those steps, daemons taking a job in one statement (PostgreSQL).",
            steps.taken_in_one_statement,
        ),
        (
            "api_store_job_ends_in_one_statement_total",
            "Of those steps, daemons ending a job in one statement that commits alone (PostgreSQL).",
            steps.ended_in_one_statement,
        ),
        (
            "api_store_daemon_sign_ins_kept_total",
            "Daemons' sign-ins answered from what this server kept.",
            sign_ins.kept,
        ),
        ("api_store_daemon_sign_ins_read_total", "Daemons' sign-ins read from the database.", sign_ins.read),
    ];
    if let Some(commits) = commits {
        counts.push((
            "api_store_group_commits_total",
            "SQLite commits, each holding one or more writes.",
            commits.commits,
        ));
        counts.push(("api_store_grouped_writes_total", "Writes held by those commits.", commits.writes));
    }
    counts
        .into_iter()
        .filter_map(|(name, help, count)| {
            let counter = IntCounter::new(name, help).ok()?;
            counter.inc_by(count);
            Some(counter.collect())
        })
        .flatten()
        .collect()
}
