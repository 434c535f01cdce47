//! Calls of one kind that arrive together, run together.
//!
//! A daemon taking or ending a job is a short write whose cost is mostly round trips and a
//! commit, not work. When several daemons ask at once, one of the calling threads runs all of
//! their requests as one write (one transaction, one commit, statements over sets of rows), and
//! the others wait for their answers. A call that finds nobody running goes at once, alone, so a
//! quiet server adds no delay; a call that arrives while a batch runs joins the next one.
//!
//! Each request gets its own answer: one refused or not found does not fail the rest. When the
//! batch's write itself fails, every request in it is told so.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// At most this many requests share a write, so one write's locks and statements stay small.
const MOST_PER_BATCH: usize = 32;

/// Gathers requests of type `Q` into batches; each is answered with an `A`.
pub(crate) struct Batcher<Q, A> {
    waiting: Mutex<Waiting<Q, A>>,
    /// Signalled when a batch has been answered.
    answered: Condvar,
    /// Batches run so far, and the requests they held.
    batches: AtomicU64,
    batched: AtomicU64,
}

struct Waiting<Q, A> {
    queued: VecDeque<(u64, Q)>,
    answers: HashMap<u64, A>,
    /// Whether a thread is running a batch.
    running: bool,
    next_ticket: u64,
}

impl<Q, A> Default for Batcher<Q, A> {
    fn default() -> Self {
        Self {
            waiting: Mutex::new(Waiting {
                queued: VecDeque::new(),
                answers: HashMap::new(),
                running: false,
                next_ticket: 0,
            }),
            answered: Condvar::new(),
            batches: AtomicU64::new(0),
            batched: AtomicU64::new(0),
        }
    }
}

impl<Q, A> Batcher<Q, A> {
    /// Answers `request`, running it with whatever else is queued. `run` is given the
    /// requests in the order they came and must answer each, in that order; it runs on this
    /// thread whenever this call, still unanswered, finds no batch running. If it panics, the
    /// batch's other requests are answered `abandoned()` and the panic goes on in this thread.
    ///
    /// One batch runs at a time: letting a second start while the first runs (or commits) was
    /// measured, and made batches smaller and the server slower.
    pub(crate) fn submit(&self, request: Q, run: impl Fn(Vec<Q>) -> Vec<A>, abandoned: impl Fn() -> A) -> A {
        let mut waiting = self.lock();
        let ticket = waiting.next_ticket;
        waiting.next_ticket += 1;
        waiting.queued.push_back((ticket, request));
        loop {
            if let Some(answer) = waiting.answers.remove(&ticket) {
                return answer;
            }
            // The oldest requests go first; with more queued than a batch holds, this one may
            // wait for a later batch, which this thread or another runs.
            if !waiting.running {
                waiting.running = true;
                let count = waiting.queued.len().min(MOST_PER_BATCH);
                let (tickets, requests): (Vec<u64>, Vec<Q>) = waiting.queued.drain(..count).unzip();
                drop(waiting);
                self.batches.fetch_add(1, Ordering::Relaxed);
                self.batched.fetch_add(requests.len() as u64, Ordering::Relaxed);
                let outcome = catch_unwind(AssertUnwindSafe(|| run(requests)));
                waiting = self.lock();
                waiting.running = false;
                let answers = match outcome {
                    Ok(answers) => answers,
                    Err(panic) => {
                        waiting.answers.extend(tickets.iter().filter(|t| **t != ticket).map(|t| (*t, abandoned())));
                        drop(waiting);
                        self.answered.notify_all();
                        resume_unwind(panic);
                    }
                };
                assert_eq!(answers.len(), tickets.len(), "a batch answers each of its requests");
                waiting.answers.extend(tickets.into_iter().zip(answers));
                self.answered.notify_all();
                continue;
            }
            waiting = self.answered.wait(waiting).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Batches run so far, and the requests they held.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.batches.load(Ordering::Relaxed), self.batched.load(Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, Waiting<Q, A>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier, mpsc};
    use std::thread;
    use std::time::Duration;

    use super::{Batcher, MOST_PER_BATCH};

    /// Doubles each request, and records the size of each batch it ran.
    fn doubling(sizes: &Mutex<Vec<usize>>) -> impl Fn(Vec<u32>) -> Vec<u32> + '_ {
        move |batch| {
            sizes.lock().unwrap_or_else(PoisonError::into_inner).push(batch.len());
            batch.into_iter().map(|n| n * 2).collect()
        }
    }

    use std::sync::{Mutex, PoisonError};

    #[test]
    fn a_call_alone_runs_at_once_on_its_own_thread() {
        let batcher = Batcher::<u32, u32>::default();
        let sizes = Mutex::new(Vec::new());
        assert_eq!(batcher.submit(21, doubling(&sizes), || 0), 42);
        assert_eq!(batcher.submit(5, doubling(&sizes), || 0), 10);
        assert_eq!(*sizes.lock().unwrap_or_else(PoisonError::into_inner), vec![1, 1]);
    }

    #[test]
    fn calls_made_while_a_batch_runs_are_answered_together_each_with_its_own_answer() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (started, running) = mpsc::channel::<()>();
        let release = Arc::new(Barrier::new(2));
        // The first call holds its batch open until the others are queued.
        let first = {
            let (batcher, release) = (Arc::clone(&batcher), Arc::clone(&release));
            thread::spawn(move || {
                batcher.submit(
                    1,
                    |batch| {
                        let _ = started.send(());
                        release.wait();
                        batch.into_iter().map(|n| n * 2).collect()
                    },
                    || 0,
                )
            })
        };
        running.recv().unwrap_or_else(|e| panic!("{e}"));
        let later: Vec<_> = (2..=6)
            .map(|n| {
                let (batcher, sizes) = (Arc::clone(&batcher), Arc::clone(&sizes));
                thread::spawn(move || batcher.submit(n, doubling(&sizes), || 0))
            })
            .collect();
        while batcher.lock().queued.len() < 5 {
            thread::sleep(Duration::from_millis(1));
        }
        release.wait();
        assert_eq!(first.join().unwrap_or_else(|_| panic!("first call panicked")), 2);
        let answers: Vec<u32> =
            later.into_iter().map(|t| t.join().unwrap_or_else(|_| panic!("a call panicked"))).collect();
        assert_eq!(answers, vec![4, 6, 8, 10, 12]);
        assert_eq!(*sizes.lock().unwrap_or_else(PoisonError::into_inner), vec![5], "the five waited for one batch");
        assert_eq!(batcher.counts(), (2, 6));
    }

    #[test]
    fn more_calls_than_a_batch_holds_are_all_answered() {
        let batcher = Arc::new(Batcher::<usize, usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let calls: Vec<_> = (0..MOST_PER_BATCH * 3)
            .map(|n| {
                let (batcher, runs) = (Arc::clone(&batcher), Arc::clone(&runs));
                thread::spawn(move || {
                    let run = |batch: Vec<usize>| {
                        assert!(batch.len() <= MOST_PER_BATCH);
                        runs.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(2));
                        batch.into_iter().map(|n| n + 1).collect()
                    };
                    (n, batcher.submit(n, run, || 0))
                })
            })
            .collect();
        for call in calls {
            let (asked, answer) = call.join().unwrap_or_else(|_| panic!("a call panicked"));
            assert_eq!(answer, asked + 1);
        }
        assert!(runs.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn a_panic_in_a_batch_answers_its_other_calls_and_goes_on_in_the_thread_that_ran_it() {
        type Answer = Result<u32, &'static str>;
        let batcher = Arc::new(Batcher::<u32, Answer>::default());
        // Any batch holding 2 breaks.
        let run = |batch: Vec<u32>| -> Vec<Answer> {
            assert!(!batch.contains(&2), "the batch broke");
            batch.into_iter().map(Ok).collect()
        };
        let (started, running) = mpsc::channel::<()>();
        let release = Arc::new(Barrier::new(2));
        let first = {
            let (batcher, release) = (Arc::clone(&batcher), Arc::clone(&release));
            thread::spawn(move || {
                let held = |batch: Vec<u32>| {
                    let _ = started.send(());
                    release.wait();
                    run(batch)
                };
                batcher.submit(1, held, || Err("abandoned"))
            })
        };
        running.recv().unwrap_or_else(|e| panic!("{e}"));
        // Both queue behind the first batch, so the next one holds them both.
        let queued: Vec<_> = [2, 3]
            .into_iter()
            .map(|n| {
                let batcher = Arc::clone(&batcher);
                thread::spawn(move || batcher.submit(n, run, || Err("abandoned")))
            })
            .collect();
        while batcher.lock().queued.len() < 2 {
            thread::sleep(Duration::from_millis(1));
        }
        release.wait();
        assert_eq!(first.join().unwrap_or_else(|_| panic!("the first call panicked")), Ok(1));
        let ends: Vec<_> = queued.into_iter().map(thread::JoinHandle::join).collect();
        let panicked = ends.iter().filter(|end| end.is_err()).count();
        let abandoned = ends.iter().filter(|end| matches!(end, Ok(Err("abandoned")))).count();
        assert_eq!((panicked, abandoned), (1, 1), "the thread that ran the batch panics; the other call is told");
        // Still usable afterwards.
        assert_eq!(batcher.submit(4, run, || Err("abandoned")), Ok(4));
    }
}
