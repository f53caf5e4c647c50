//! `orbit cache get|set|del|keys <fleet> <cache> ...`.
//!
//! Reads go through an observer (no node id taken, hit/miss counters left
//! alone); writes join the fleet for the duration of the command (label
//! `orbit-cli`) and leave. Neither creates a fleet or a cache.

use orbit::{CacheStats, Fleet, FleetOptions, OrbitCache, OrbitEpoch};

use crate::args::{Matches, Opt, Spec};
use crate::fail::{CliError, CliResult, Context};
use crate::inventory::Inventory;
use crate::json::Json;
use crate::out::Out;
use crate::render::{self, printable, unhex};

const HEX: Opt = Opt {
    long: "hex",
    value: None,
    help: "the key (and value) arguments are hex, e.g. 0a1b or 0x0a1b",
};
const JSON: Opt = Opt {
    long: "json",
    value: None,
    help: "JSON output",
};

pub static GET: Spec = Spec {
    name: "cache get",
    args: "<fleet> <cache> <key>",
    arity: (3, 3),
    about: "Print the value stored under a key (exit 3 if absent).",
    opts: &[
        HEX,
        JSON,
        Opt {
            long: "raw",
            value: None,
            help: "write the value's bytes exactly, without a newline",
        },
        Opt {
            long: "int",
            value: None,
            help: "print a counter kept by incr/decr (8 bytes, little-endian) as a number",
        },
    ],
    details: "\
Prints the value as text when it is printable UTF-8, else as 0x<hex>. --json gives
{key, key_hex, value (text or null), value_hex, len, counter (8-byte values only),
version, expires_at_ms, ttl_ms}.",
};

pub static SET: Spec = Spec {
    name: "cache set",
    args: "<fleet> <cache> <key> <value>",
    arity: (4, 4),
    about: "Store a value under a key.",
    opts: &[
        HEX,
        Opt {
            long: "ttl",
            value: Some("DURATION"),
            help: "expire after this long (500ms, 30s, 5m; default never)",
        },
        Opt {
            long: "add",
            value: None,
            help: "only if the key is absent (exit 4 if present)",
        },
    ],
    details: "\
Joins the fleet for the duration of the command (label orbit-cli), so the write
carries a node id like any member's. Creates neither the fleet nor the cache.",
};

pub static DEL: Spec = Spec {
    name: "cache del",
    args: "<fleet> <cache> <key>",
    arity: (3, 3),
    about: "Delete a key (exit 3 if absent).",
    opts: &[HEX],
    details: "",
};

pub static KEYS: Spec = Spec {
    name: "cache keys",
    args: "<fleet> <cache>",
    arity: (2, 2),
    about: "List the live keys of a cache, one per line.",
    opts: &[
        JSON,
        Opt {
            long: "limit",
            value: Some("N"),
            help: "at most N keys",
        },
    ],
    details: "\
Keys are printed as text when printable on one line, else as 0x<hex>. The listing is
weakly consistent: a key present throughout is listed once; keys written or removed
meanwhile may or may not be. --json gives [{key (text or null), key_hex}].",
};

/// The subcommands, for `orbit cache --help`.
pub const SUBCOMMANDS: [&Spec; 4] = [&GET, &SET, &DEL, &KEYS];

fn arg_bytes(m: &Matches, i: usize, what: &str) -> CliResult<Vec<u8>> {
    let s = &m.pos[i];
    if m.flag("hex") {
        unhex(s).map_err(|e| CliError::usage(format!("{what} {s:?}: {e}")))
    } else {
        Ok(s.as_bytes().to_vec())
    }
}

/// The cache through an observer; exit 3 if the fleet or cache is missing.
fn observe(m: &Matches) -> CliResult<(Inventory, OrbitCache)> {
    let (fleet, name) = (m.pos[0].as_str(), m.pos[1].as_str());
    crate::fail::check_name("cache", name)?;
    let inv = Inventory::open(fleet)?;
    let cache = OrbitCache::open(inv.require_observer()?, name, None)
        .ctx(format!("cache {name:?} of fleet {fleet:?}"))?;
    Ok((inv, cache))
}

/// The cache through a member that joined for this command.
fn join(m: &Matches) -> CliResult<(Fleet, OrbitCache)> {
    observe(m)?; // exists? (never create one by a typo)
    let (fleet, name) = (m.pos[0].as_str(), m.pos[1].as_str());
    let f = Fleet::join(
        fleet,
        &FleetOptions {
            label: "orbit-cli".into(),
            ..FleetOptions::default()
        },
    )
    .ctx(format!("joining fleet {fleet:?}"))?;
    let cache = OrbitCache::open(&f, name, None).ctx(format!("cache {name:?}"))?;
    Ok((f, cache))
}

pub fn get(m: &Matches, out: &mut Out) -> CliResult {
    m.exclusive("json", "raw")?;
    m.exclusive("int", "raw")?;
    m.exclusive("int", "json")?;
    let key = arg_bytes(m, 2, "key")?;
    let (_inv, cache) = observe(m)?;
    let st: CacheStats = cache.stats();
    let mut buf = vec![0u8; st.max_value as usize];
    let meta = cache
        .get_into(&key, &mut buf)
        .ctx("get")?
        .ok_or_else(|| CliError::not_found(format!("no key {}", render::key(&key))))?;
    let value = &buf[..meta.len];
    let counter = <[u8; 8]>::try_from(value).ok().map(i64::from_le_bytes);
    if m.flag("int") {
        let n = counter.ok_or_else(|| {
            CliError::failed(format!(
                "--int: the value is {} bytes, a counter is 8",
                value.len()
            ))
        })?;
        out.line(&n.to_string())?;
    } else if m.flag("raw") {
        out.bytes(value)?;
    } else if m.flag("json") {
        let now = OrbitEpoch::now().as_millis();
        let j = render::bytes_json(Json::obj(), "key", &key);
        let j = render::bytes_json(j, "value", value)
            .with("len", meta.len)
            .with("counter", counter)
            .with("version", meta.version.to_string())
            .with(
                "expires_at_ms",
                (meta.expires_at_ms != 0).then_some(meta.expires_at_ms),
            )
            .with(
                "ttl_ms",
                (meta.expires_at_ms != 0).then(|| meta.expires_at_ms.saturating_sub(now)),
            );
        out.line(&j.line())?;
    } else {
        match printable(value) {
            Some(s) => out.line(s)?,
            None => out.line(&format!("0x{}", render::hex(value)))?,
        }
    }
    Ok(())
}

pub fn set(m: &Matches, _out: &mut Out) -> CliResult {
    let key = arg_bytes(m, 2, "key")?;
    let value = arg_bytes(m, 3, "value")?;
    let ttl_ms = match m.duration("ttl")? {
        None => 0,
        Some(d) if d.is_zero() => {
            return Err(CliError::usage(
                "--ttl 0 would expire at once; leave --ttl out for no expiry",
            ));
        }
        Some(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1),
    };
    let (_fleet, cache) = join(m)?;
    if m.flag("add") {
        cache.add(&key, &value, ttl_ms).map_err(|e| match e {
            orbit::Error::Conflict(_) => {
                CliError::refused(format!("key {} is present (--add)", render::key(&key)))
            }
            e => CliError::orbit("add", &e),
        })?;
    } else {
        cache.set(&key, &value, ttl_ms).ctx("set")?;
    }
    Ok(())
}

pub fn del(m: &Matches, _out: &mut Out) -> CliResult {
    let key = arg_bytes(m, 2, "key")?;
    let (_fleet, cache) = join(m)?;
    if !cache.delete(&key).ctx("delete")? {
        return Err(CliError::not_found(format!("no key {}", render::key(&key))));
    }
    Ok(())
}

pub fn keys(m: &Matches, out: &mut Out) -> CliResult {
    let limit = m.count("limit")?.unwrap_or(u64::MAX);
    let (_inv, cache) = observe(m)?;
    let keys = cache
        .keys()
        .take(usize::try_from(limit).unwrap_or(usize::MAX));
    if m.flag("json") {
        let rows: Vec<Json> = keys
            .map(|k| render::bytes_json(Json::obj(), "key", &k))
            .collect();
        out.line(&Json::A(rows).line())?;
    } else {
        for k in keys {
            out.line(&render::key(&k))?;
        }
    }
    Ok(())
}
