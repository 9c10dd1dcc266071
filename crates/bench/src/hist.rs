//! A fixed-size log-linear latency histogram: 32 buckets per power of two (about 3% precision),
//! 16 KiB whatever the number of samples, so recording latencies does not move peak RSS.
//! The Python client implements the same bucketing.

use std::time::Duration;

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values below `2 * SUB` ns have a bucket each.
const LINEAR: usize = 2 * SUB;
const BUCKETS: usize = LINEAR + (64 - SUB_BITS as usize - 1) * SUB;

/// Latencies in nanoseconds, bucketed.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
        }
    }
}

fn index(ns: u64) -> usize {
    if ns < LINEAR as u64 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros(); // >= SUB_BITS + 1
    let sub = ((ns >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    LINEAR + (exp - SUB_BITS - 1) as usize * SUB + sub
}

/// The middle of a bucket, in ns.
fn value(idx: usize) -> f64 {
    if idx < LINEAR {
        return idx as f64;
    }
    let rel = idx - LINEAR;
    let exp = (rel / SUB) as u32 + SUB_BITS + 1;
    let sub = (rel % SUB) as u64;
    let width = 1u64 << (exp - SUB_BITS);
    let low = (SUB as u64 + sub) * width;
    low as f64 + width as f64 / 2.0
}

impl Histogram {
    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(ns)] += 1;
        self.total += 1;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `p`th percentile (0–100), `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_nanos(value(i) as u64));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_3_percent() {
        let mut last = 0;
        for ns in (0..200_000u64).chain([1 << 20, 123_456_789, u64::MAX / 3]) {
            let i = index(ns);
            assert!(i >= last, "{ns}");
            assert!(i < BUCKETS, "{ns}");
            last = i;
            let v = value(i);
            let err = (v - ns as f64).abs() / (ns.max(1) as f64);
            assert!(err <= 0.5 || ns < 2, "{ns} -> {v}");
            if ns > 1000 {
                assert!(err < 0.031, "{ns} -> {v} ({err})");
            }
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        assert!(h.percentile(50.0).is_none());
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.percentile(50.0).expect("samples").as_secs_f64() * 1e6;
        let p99 = h.percentile(99.0).expect("samples").as_secs_f64() * 1e6;
        assert!((p50 - 50.0).abs() < 2.0, "{p50}");
        assert!((p99 - 99.0).abs() < 3.5, "{p99}");
        let mut g = Histogram::default();
        g.merge(&h);
        assert_eq!(g.len(), 100);
        assert!(!g.is_empty());
    }
}
