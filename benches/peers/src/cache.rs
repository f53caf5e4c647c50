//! Key/value: orbit's cache against Redis on loopback (one connection,
//! unpipelined and with a pipeline of 16) and LMDB (heed), 16-byte keys,
//! 64-byte values, 4096 keys cycled in order, one thread.

use std::hint::black_box;

use serde_json::{Value, json};

use crate::ctl::{now_ns, run_name};
use crate::redis::{Client, Server, encode};
use crate::stats::round1;

const KEYS: usize = 4096;
const VALUE: [u8; 64] = [0x5A; 64];

#[derive(Clone)]
pub struct Ops {
    pub orbit: u64,
    pub redis: u64,
    pub lmdb: u64,
}

fn key(tag: u8, i: usize) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[0] = tag;
    k[1..4].copy_from_slice(b"key");
    k[4..].copy_from_slice(format!("{i:012}").as_bytes());
    k
}

fn keys(tag: u8) -> Vec<[u8; 16]> {
    (0..KEYS).map(|i| key(tag, i)).collect()
}

fn row(system: &str, op: &str, mode: &str, ops: u64, ns: u64) -> Value {
    let per = ns as f64 / ops as f64;
    println!(
        "  {system:<8} {op:<5} {mode:<34} {:>10.1} ns/op {:>14.0} ops/s",
        per,
        1e9 / per
    );
    json!({
        "system": system, "op": op, "mode": mode, "ops": ops,
        "ns_per_op": round1(per), "ops_per_s": (1e9 / per).round(),
    })
}

/// Times `ops` calls of `f(i)`.
fn timed(ops: u64, mut f: impl FnMut(usize)) -> u64 {
    for i in 0..(ops / 10).max(KEYS as u64) {
        f(i as usize); // warm-up
    }
    let t0 = now_ns();
    for i in 0..ops {
        f(i as usize);
    }
    now_ns() - t0
}

pub fn orbit(ops: u64) -> Vec<Value> {
    let run = run_name("cache");
    let fleet = orbit::Fleet::join(&run, &orbit::FleetOptions::default()).unwrap();
    let opts = orbit::CacheOptions {
        capacity: 1 << 16,
        max_key: 16,
        max_value: 64,
        mode: 0,
    };
    let cache = orbit::OrbitCache::open(&fleet, "kv", Some(&opts)).unwrap();
    let (ks, cs) = (keys(b'k'), keys(b'c'));
    for k in &ks {
        cache.set(k, &VALUE, 0).unwrap();
    }
    let mut buf = [0u8; 64];
    let mut rows = Vec::new();
    let ns = timed(ops, |i| {
        let m = cache.get_into(&ks[i & (KEYS - 1)], &mut buf).unwrap();
        assert!(m.is_some(), "orbit get missed");
        black_box(&buf);
    });
    rows.push(row("orbit", "get", "in-process, shared memory", ops, ns));
    let ns = timed(ops, |i| {
        black_box(cache.set(&ks[i & (KEYS - 1)], &VALUE, 0).unwrap());
    });
    rows.push(row("orbit", "set", "in-process, shared memory", ops, ns));
    let ns = timed(ops, |i| {
        black_box(cache.incr(&cs[i & (KEYS - 1)], 1, 0).unwrap());
    });
    rows.push(row("orbit", "incr", "in-process, shared memory", ops, ns));
    drop(cache);
    let _ = orbit::OrbitCache::unlink(&run, "kv");
    drop(fleet);
    let _ = orbit::fleet::unlink(&run);
    rows
}

/// Redis GET/SET/INCR, unpipelined and 16 at a time. Returns the rows and the
/// server's version line.
pub fn redis(ops: u64) -> Result<(Vec<Value>, String), String> {
    let mut server = Server::start()?;
    let mut c = Client::connect(server.port).map_err(|e| e.to_string())?;
    let (ks, cs) = (keys(b'k'), keys(b'c'));
    let gets: Vec<Vec<u8>> = ks.iter().map(|k| encode(&[b"GET", k])).collect();
    let sets: Vec<Vec<u8>> = ks.iter().map(|k| encode(&[b"SET", k, &VALUE])).collect();
    let incrs: Vec<Vec<u8>> = cs.iter().map(|k| encode(&[b"INCR", k])).collect();
    for s in &sets {
        c.send(s).unwrap();
        c.reply(&mut []);
    }
    let mut buf = [0u8; 64];
    let mut rows = Vec::new();
    for (op, cmds) in [("get", &gets), ("set", &sets), ("incr", &incrs)] {
        let ns = timed(ops, |i| {
            c.send(&cmds[i & (KEYS - 1)]).unwrap();
            let n = c.reply(&mut buf);
            if op == "get" {
                assert_eq!(n, 64, "redis GET missed");
            }
        });
        rows.push(row("redis", op, "loopback TCP, unpipelined", ops, ns));
        // Pipeline of 16: one write of 16 commands, then 16 replies.
        let batches: Vec<Vec<u8>> = (0..KEYS / 16)
            .map(|b| cmds[b * 16..b * 16 + 16].concat())
            .collect();
        let pops = ops * 4;
        let ns = timed(pops / 16, |i| {
            c.send(&batches[i % (KEYS / 16)]).unwrap();
            for _ in 0..16 {
                c.reply(&mut buf);
            }
        });
        rows.push(row("redis", op, "loopback TCP, pipeline 16", pops, ns));
    }
    server.stop();
    Ok((rows, server.version.clone()))
}

/// LMDB through heed: reads in a read transaction per get (each get sees the
/// latest commit, as an orbit get does) and 1024 gets per transaction;
/// writes with a write transaction per put (NO_SYNC, WRITE_MAP: nothing waits
/// for a disk).
pub fn lmdb(ops: u64) -> Result<Vec<Value>, String> {
    use heed::types::Bytes;
    use heed::{CommitOrAbort, Database, EnvFlags, EnvOpenOptions};
    let dir = std::path::PathBuf::from(format!("/dev/shm/orbit-peers-lmdb-{}", run_name("db")));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut o = EnvOpenOptions::new();
    o.map_size(256 << 20).max_dbs(1);
    // SAFETY: flags documented by LMDB; this process is the only user of `dir`.
    unsafe { o.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC | EnvFlags::WRITE_MAP) };
    // SAFETY: the directory is fresh and opened once by this process.
    let env = unsafe { o.open(&dir) }.map_err(|e| e.to_string())?;
    let db: Database<Bytes, Bytes> = env
        .create_databases_and_commit(env.write_txn().unwrap(), |dbo, wtxn| {
            dbo.create_database(wtxn, None)
                .map(CommitOrAbort::<_, ()>::Commit)
        })
        .map_err(|e: heed::Error| e.to_string())?
        .unwrap_commit();
    let mut wtxn = env.write_txn().unwrap();
    let ks = keys(b'k');
    for k in &ks {
        db.put(&mut wtxn, k, &VALUE).unwrap();
    }
    wtxn.commit().unwrap();
    let mut buf = [0u8; 64];
    let mut rows = Vec::new();
    let ns = timed(ops, |i| {
        let rtxn = env.read_txn().unwrap();
        let v = db
            .get(&rtxn, &ks[i & (KEYS - 1)])
            .unwrap()
            .expect("lmdb get missed");
        buf.copy_from_slice(v);
        black_box(&buf);
    });
    rows.push(row("lmdb", "get", "read txn per get", ops, ns));
    let t0 = now_ns();
    let mut done = 0u64;
    while done < ops {
        let rtxn = env.read_txn().unwrap();
        for _ in 0..1024 {
            let v = db
                .get(&rtxn, &ks[done as usize & (KEYS - 1)])
                .unwrap()
                .unwrap();
            buf.copy_from_slice(v);
            black_box(&buf);
            done += 1;
        }
    }
    rows.push(row(
        "lmdb",
        "get",
        "1024 gets per read txn",
        done,
        now_ns() - t0,
    ));
    let wops = (ops / 10).max(10_000);
    let ns = timed(wops, |i| {
        let mut w = env.write_txn().unwrap();
        db.put(&mut w, &ks[i & (KEYS - 1)], &VALUE).unwrap();
        w.commit().unwrap();
    });
    rows.push(row("lmdb", "set", "write txn per put, NO_SYNC", wops, ns));
    drop(env);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
