//! Percentiles and the CDF points stored for the plots.

use serde_json::{Value, json};

/// The percentile ladder every latency line reports.
pub const LADDER: [(&str, f64); 6] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
    ("p99.99", 99.99),
    ("max", 100.0),
];

/// Nearest-rank percentile of sorted samples.
pub fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summary of samples (`scale` 0.5 turns round trips into one-way times).
pub fn summary(samples: &mut [u64], scale: f64) -> Value {
    samples.sort_unstable();
    let s = &*samples;
    let mut m = serde_json::Map::new();
    for (name, p) in LADDER {
        m.insert(name.into(), json!(round1(pct(s, p) as f64 * scale)));
    }
    let mean = s.iter().map(|&v| v as f64).sum::<f64>() / s.len().max(1) as f64;
    m.insert("mean".into(), json!(round1(mean * scale)));
    m.insert("samples".into(), json!(s.len()));
    // CDF: quantiles dense in the body, then every decade of the tail.
    let mut qs: Vec<f64> = (1..100).map(|i| i as f64).collect();
    qs.extend([99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100.0]);
    let cdf: Vec<Value> = qs
        .iter()
        .map(|&q| json!([q / 100.0, round1(pct(s, q) as f64 * scale)]))
        .collect();
    m.insert("cdf".into(), Value::Array(cdf));
    Value::Object(m)
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
