//! A sliding-window request counter, the way Coder's limiter counts: "at most `limit`
//! requests in `window`", where the rate is this window's count plus the previous window's,
//! weighted by how much of it still overlaps the last `window`. Refused requests are not
//! counted. Keys whose windows have passed are swept once per window, so memory follows the
//! number of recent callers.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; one more request would be allowed after this long.
    Limited {
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    window: u64,
    current: u32,
    previous: u32,
}

pub struct SlidingWindow<K> {
    limit: u32,
    window: Duration,
    epoch: Instant,
    state: Mutex<State<K>>,
}

struct State<K> {
    counters: HashMap<K, Counter>,
    swept: u64,
}

impl<K: Hash + Eq> SlidingWindow<K> {
    /// At most `limit` (at least 1) requests per key in `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        let state = State { counters: HashMap::new(), swept: 0 };
        Self { limit: limit.max(1), window, epoch: Instant::now(), state: Mutex::new(state) }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts a request for `key` if the limit allows it.
    pub fn hit(&self, key: K) -> Verdict {
        self.hit_at(key, self.epoch.elapsed())
    }

    /// Whether a request for `key` would be allowed, without counting it.
    pub fn check(&self, key: &K) -> Verdict {
        self.check_at(key, self.epoch.elapsed())
    }

    /// Keys with recent requests.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.counters.len())
    }

    fn hit_at(&self, key: K, now: Duration) -> Verdict {
        let (index, into) = self.position(now);
        let Ok(mut state) = self.state.lock() else { return Verdict::Allowed };
        state.sweep(index);
        let counter = state.counters.get(&key).map_or((0, 0), |counter| counter.at(index));
        let verdict = self.judge(counter, into);
        if verdict == Verdict::Allowed {
            let (current, previous) = counter;
            state.counters.insert(key, Counter { window: index, current: current + 1, previous });
        }
        verdict
    }

    fn check_at(&self, key: &K, now: Duration) -> Verdict {
        let (index, into) = self.position(now);
        let Ok(state) = self.state.lock() else { return Verdict::Allowed };
        let counter = state.counters.get(key).map_or((0, 0), |counter| counter.at(index));
        self.judge(counter, into)
    }

    /// Which window `now` falls in, and how far into it.
    fn position(&self, now: Duration) -> (u64, Duration) {
        let window = self.window.as_nanos().max(1);
        let index = now.as_nanos() / window;
        let into = Duration::from_nanos(u64::try_from(now.as_nanos() % window).unwrap_or(0));
        (u64::try_from(index).unwrap_or(u64::MAX), into)
    }

    fn judge(&self, (current, previous): (u32, u32), into: Duration) -> Verdict {
        let (limit, window) = (f64::from(self.limit), self.window.as_secs_f64());
        let (current, previous, into) = (f64::from(current), f64::from(previous), into.as_secs_f64());
        let rate = previous * (1.0 - into / window) + current;
        if rate + 1.0 <= limit + 1e-9 {
            return Verdict::Allowed;
        }
        // When one more would fit, counting nothing further in the meantime.
        let wait = if current + 1.0 <= limit {
            // Only the previous window's weight is in the way: wait for it to fade enough.
            window * (1.0 - (limit - current - 1.0) / previous) - into
        } else {
            // This window is full: past its end, this window becomes the fading one.
            (window - into) + window * (1.0 - (limit - 1.0) / current)
        };
        Verdict::Limited { retry_after: Duration::from_secs_f64(wait.max(0.0)) }
    }
}

impl Counter {
    /// `(current, previous)` counts as seen from window `index`.
    fn at(self, index: u64) -> (u32, u32) {
        if self.window == index {
            (self.current, self.previous)
        } else if self.window + 1 == index {
            (0, self.current)
        } else {
            (0, 0)
        }
    }
}

impl<K> State<K> {
    /// Once per window: forget keys whose counts no longer weigh anything.
    fn sweep(&mut self, index: u64) {
        if index > self.swept {
            self.counters.retain(|_, counter| counter.window + 1 >= index);
            self.swept = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn seconds(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn limited(verdict: Verdict) -> Duration {
        match verdict {
            Verdict::Limited { retry_after } => retry_after,
            Verdict::Allowed => panic!("expected a refusal"),
        }
    }

    #[test]
    fn the_limit_is_allowed_and_the_next_request_refused() {
        let limiter = SlidingWindow::new(5, MINUTE);
        for n in 0..5 {
            assert_eq!(limiter.hit_at("a", seconds(1.0 + f64::from(n))), Verdict::Allowed);
        }
        let wait = limited(limiter.hit_at("a", seconds(10.0)));
        // The window ends in 50 s; then the full window fades by one request in 12 s.
        assert!((wait.as_secs_f64() - 62.0).abs() < 1e-6, "{wait:?}");
        // Other keys have their own count.
        assert_eq!(limiter.hit_at("b", seconds(10.0)), Verdict::Allowed);
    }

    #[test]
    fn refused_requests_are_not_counted() {
        let limiter = SlidingWindow::new(2, MINUTE);
        limiter.hit_at("a", seconds(0.0));
        limiter.hit_at("a", seconds(0.0));
        for _ in 0..100 {
            assert!(matches!(limiter.hit_at("a", seconds(30.0)), Verdict::Limited { .. }));
        }
        // Early in the next window the previous two weigh almost fully; by its middle, one.
        assert!(matches!(limiter.hit_at("a", seconds(61.0)), Verdict::Limited { .. }));
        assert_eq!(limiter.hit_at("a", seconds(90.0)), Verdict::Allowed);
    }

    #[test]
    fn the_retry_after_is_when_a_request_fits_again() {
        let limiter = SlidingWindow::new(4, MINUTE);
        for _ in 0..4 {
            limiter.hit_at("a", seconds(50.0));
        }
        // 20 s into the next window the four weigh 4 * 2/3 = 2.67: one more fits, not two.
        assert_eq!(limiter.hit_at("a", seconds(80.0)), Verdict::Allowed);
        let wait = limited(limiter.hit_at("a", seconds(80.0)));
        // current 1, previous 4: it fits when 4 * (1 - t/60) <= 2, at t = 30 s, 10 s from now.
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-6, "{wait:?}");
        assert!(matches!(limiter.hit_at("a", seconds(89.0)), Verdict::Limited { .. }));
        assert_eq!(limiter.hit_at("a", seconds(80.0) + wait), Verdict::Allowed);
    }

    #[test]
    fn check_does_not_count() {
        let limiter = SlidingWindow::new(1, MINUTE);
        for _ in 0..10 {
            assert_eq!(limiter.check_at(&"a", seconds(1.0)), Verdict::Allowed);
        }
        assert_eq!(limiter.hit_at("a", seconds(1.0)), Verdict::Allowed);
        assert!(matches!(limiter.check_at(&"a", seconds(2.0)), Verdict::Limited { .. }));
    }

    #[test]
    fn keys_are_forgotten_once_their_windows_have_passed() {
        let limiter = SlidingWindow::new(10, MINUTE);
        for key in 0..1_000 {
            limiter.hit_at(key, seconds(1.0));
        }
        assert_eq!(limiter.len(), 1_000);
        limiter.hit_at(5_000, seconds(61.0));
        assert_eq!(limiter.len(), 1_001, "last window's counts still weigh");
        limiter.hit_at(5_001, seconds(121.0));
        assert_eq!(limiter.len(), 2);
    }
}
