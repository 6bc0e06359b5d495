//! Token buckets per key (R14): how unauthenticated work from one source is
//! rationed without refusing the source outright. Pure logic on caller
//! `Instant`s; memory is bounded by forgetting the fullest buckets first (a
//! forgotten bucket comes back full, which is what a quiet key has anyway).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A refill rate and a burst; `per_second == 0` turns the bucket off (every
/// take succeeds), so an operator can disable one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketRate {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn full(rate: BucketRate, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate.burst),
            updated: now,
        }
    }

    fn refill(&mut self, rate: BucketRate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens =
            (self.tokens + elapsed * f64::from(rate.per_second)).min(f64::from(rate.burst));
        self.updated = self.updated.max(now);
    }
}

/// One bucket per key, at most `max_keys` of them.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    rate: BucketRate,
    max_keys: usize,
    buckets: HashMap<K, TokenBucket>,
}

/// No token was left; one is back after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub retry_after: Duration,
}

impl<K: Hash + Eq + Copy> KeyedBuckets<K> {
    pub fn new(rate: BucketRate, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token from `key`'s bucket.
    pub fn take(&mut self, key: K, now: Instant) -> Result<(), Exhausted> {
        let rate = self.rate;
        if rate.per_second == 0 {
            return Ok(());
        }
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_keys {
            self.forget_fullest(now);
        }
        let bucket = self
            .buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::full(rate, now));
        bucket.refill(rate, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
        Err(Exhausted {
            retry_after: Duration::from_secs_f64(missing / f64::from(rate.per_second)),
        })
    }

    /// Keys with a bucket (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Drops the bucket closest to full: it lost least by being forgotten.
    fn forget_fullest(&mut self, now: Instant) {
        let rate = self.rate;
        let fullest = self
            .buckets
            .iter_mut()
            .map(|(key, bucket)| {
                bucket.refill(rate, now);
                (*key, bucket.tokens)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(key, _)| key);
        if let Some(key) = fullest {
            self.buckets.remove(&key);
        }
    }
}
