//! Child processes: the harness re-executes its own binary with a role.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::ctl::Job;

const ROLE: &str = "ORBIT_PEERS_ROLE";
const JOB: &str = "ORBIT_PEERS_JOB";

/// The role and job this process was started with, if it is a child.
pub fn role() -> Option<(String, Job)> {
    let role = std::env::var(ROLE).ok()?;
    let job = Job::decode(&std::env::var(JOB).expect("job"));
    Some((role, job))
}

pub struct Proc(Child);

pub fn spawn(role: &str, job: &Job) -> Proc {
    let c = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(JOB, job.encode())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    Proc(c)
}

impl Proc {
    /// Waits for the child; returns its `RESULT k=v ...` line as pairs.
    pub fn result(mut self) -> Vec<(String, f64)> {
        let out = self.0.stdout.take().unwrap();
        let mut kv = Vec::new();
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("RESULT ") {
                for pair in rest.split_whitespace() {
                    let (k, v) = pair.split_once('=').unwrap();
                    kv.push((k.to_string(), v.parse().unwrap()));
                }
            }
        }
        let st = self.0.wait().unwrap();
        assert!(st.success(), "child failed: {st}");
        kv
    }
}

pub fn get(kv: &[(String, f64)], k: &str) -> f64 {
    kv.iter()
        .find(|(key, _)| key == k)
        .unwrap_or_else(|| panic!("no {k} in child result"))
        .1
}
