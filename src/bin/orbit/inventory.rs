//! What a fleet holds right now: its segments, its members and the counters of
//! each object, read through an observer (read-only, no node id taken).
//!
//! An [`Inventory`] keeps the objects it opened between samples (`top` samples
//! once per refresh); a segment that was removed and made anew under the same
//! name is opened again. Two samples give rates ([`Rates`]).

use std::collections::BTreeMap;
use std::time::Instant;

use orbit::shm::ObjectKind;
use orbit::shm::scan::{self, HeaderState, SegmentFile};
use orbit::{
    Bus, CacheStats, Contest, ContestStats, Fleet, FleetHeartbeatSnapshot, Holder, Member,
    OrbitCache, OrbitEpoch, Ring, RingInfo, Status,
};

use crate::fail::{CliError, CliResult, Context};

/// The fleet's objects, opened read-only.
pub struct Inventory {
    /// The fleet as given (`jobs`, or `1001:jobs` for another user's).
    pub fleet: String,
    /// The fleet's name without an owner prefix.
    bare: String,
    /// The uid whose segments are listed (the fleet's owner).
    pub uid: u32,
    observer: Option<Fleet>,
    /// (created_at_ms, creator_pid) of the membership table `observer` maps.
    table: Option<(u64, u32)>,
    rings: BTreeMap<String, Opened<Ring>>,
    caches: BTreeMap<String, Opened<OrbitCache>>,
    buses: BTreeMap<String, Opened<Bus>>,
    contests: BTreeMap<String, Opened<Contest>>,
}

/// A handle plus the identity of the segment it maps.
struct Opened<T> {
    handle: T,
    created_at_ms: u64,
    creator_pid: u32,
}

/// A ring's state in a sample.
#[derive(Clone, Debug)]
pub struct RingSample {
    /// Its name.
    pub name: String,
    /// Geometry and counters.
    pub info: RingInfo,
}

impl RingSample {
    /// Frames the ring no longer holds (written more than a lap ago): what a
    /// reader starting at the oldest frame can no longer get.
    pub fn overwritten(&self) -> u64 {
        self.info.head.saturating_sub(self.info.capacity)
    }
}

/// A cache's state in a sample.
#[derive(Clone, Debug)]
pub struct CacheSample {
    /// Its name.
    pub name: String,
    /// Its statistics.
    pub stats: CacheStats,
}

/// A bus's state in a sample.
#[derive(Clone, Debug)]
pub struct BusSample {
    /// Its name.
    pub name: String,
    /// Events it holds.
    pub capacity: u64,
    /// Largest event payload.
    pub max_payload: u32,
    /// Events published so far.
    pub head: u64,
}

impl BusSample {
    /// Events the bus no longer holds (published more than a lap ago).
    pub fn overwritten(&self) -> u64 {
        self.head.saturating_sub(self.capacity)
    }
}

/// The lease table's state in a sample.
#[derive(Clone, Debug)]
pub struct ContestSample {
    /// Its counters.
    pub stats: ContestStats,
    /// Subjects held now, with their holders.
    pub holders: Vec<(String, Holder)>,
}

/// An object whose segment could not be read or opened.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
    /// What is wrong.
    pub what: String,
}

/// One reading of a fleet.
pub struct Sample {
    /// When it was taken (for rates).
    pub at: Instant,
    /// When it was taken, Unix ms.
    pub wall_ms: u64,
    /// The fleet's segment files.
    pub segments: Vec<SegmentFile>,
    /// Members, `None` when the membership table is missing.
    pub members: Option<Vec<Member>>,
    /// Heartbeat history per node, when the table and its history are readable.
    pub heartbeats: Option<FleetHeartbeatSnapshot>,
    /// Rings (the name filter applied).
    pub rings: Vec<RingSample>,
    /// Caches (the name filter applied).
    pub caches: Vec<CacheSample>,
    /// Buses (the name filter applied).
    pub buses: Vec<BusSample>,
    /// The lease table, if the fleet has one (and the filter names it).
    pub contest: Option<ContestSample>,
    /// Objects that could not be read.
    pub problems: Vec<Problem>,
}

impl Inventory {
    /// Attaches to `fleet` as an observer. A missing membership table is not
    /// an error here (its segments are still listed); a fleet with no
    /// segment at all is [`NOT_FOUND`](crate::fail::NOT_FOUND).
    pub fn open(fleet: &str) -> CliResult<Inventory> {
        let (uid, bare) = crate::fail::check_fleet(fleet)?;
        let mut inv = Inventory {
            fleet: fleet.to_string(),
            bare: bare.to_string(),
            uid,
            observer: None,
            table: None,
            rings: BTreeMap::new(),
            caches: BTreeMap::new(),
            buses: BTreeMap::new(),
            contests: BTreeMap::new(),
        };
        let segments = inv.segments()?;
        inv.follow_table(&segments)?;
        if inv.observer.is_none() && segments.is_empty() {
            return Err(inv.no_such_fleet());
        }
        Ok(inv)
    }

    /// Attaches to the membership table listed in `segments`, again when it
    /// was removed or made anew since (handles opened through the old one
    /// are dropped, so they are opened again through the new one).
    fn follow_table(&mut self, segments: &[SegmentFile]) -> CliResult {
        let table = segments
            .iter()
            .find(|s| s.name.kind == ObjectKind::Fleet)
            .and_then(|s| match &s.header {
                HeaderState::Ready(h) => Some((h.created_at_ms, h.creator_pid)),
                _ => None,
            });
        if table == self.table && (self.observer.is_some() || table.is_none()) {
            return Ok(());
        }
        self.observer = None;
        self.table = None;
        self.rings.clear();
        self.caches.clear();
        self.buses.clear();
        self.contests.clear();
        if table.is_none() {
            return Ok(());
        }
        match Fleet::observe(&self.fleet) {
            Ok(f) => {
                self.observer = Some(f);
                self.table = table;
                Ok(())
            }
            Err(e) if e.status() == Status::NotExist => Ok(()),
            Err(e) => Err(CliError::orbit(format!("fleet {:?}", self.fleet), &e)),
        }
    }

    fn no_such_fleet(&self) -> CliError {
        CliError::not_found(format!(
            "no fleet {:?}: nothing named /dev/shm/orbit:{}:{}:* (see `orbit ls`)",
            self.fleet, self.uid, self.bare
        ))
    }

    /// The observer handle, or a clear error saying the table is missing.
    pub fn require_observer(&self) -> CliResult<&Fleet> {
        self.observer.as_ref().ok_or_else(|| {
            CliError::not_found(format!(
                "fleet {:?} has no membership table (/dev/shm/orbit:{}:{}:fleet:members); \
                 its objects cannot be opened (`orbit clean {}` removes what is left)",
                self.fleet, self.uid, self.bare, self.fleet
            ))
        })
    }

    /// The fleet's segment files now.
    pub fn segments(&self) -> CliResult<Vec<SegmentFile>> {
        scan::scan(self.uid, Some(&self.bare)).ctx("listing /dev/shm")
    }

    /// Reads members and every object's counters (objects named `only`, if
    /// given).
    pub fn sample(&mut self, only: Option<&str>) -> CliResult<Sample> {
        let segments = self.segments()?;
        self.follow_table(&segments)?;
        if segments.is_empty() && self.observer.is_none() {
            return Err(self.no_such_fleet());
        }
        let mut sample = Sample {
            at: Instant::now(),
            wall_ms: OrbitEpoch::now().as_millis(),
            members: self.observer.as_ref().map(Fleet::members),
            heartbeats: self
                .observer
                .as_ref()
                .and_then(|f| f.heartbeat_snapshot().ok()),
            rings: Vec::new(),
            caches: Vec::new(),
            buses: Vec::new(),
            contest: None,
            problems: Vec::new(),
            segments: Vec::new(),
        };
        let mut seen_rings = Vec::new();
        let mut seen_caches = Vec::new();
        let mut seen_buses = Vec::new();
        let mut seen_contests = Vec::new();
        for seg in &segments {
            let name = &seg.name.name;
            if only.is_some_and(|o| o != name) || seg.name.kind == ObjectKind::Fleet {
                continue;
            }
            let problem = |what: String| Problem {
                kind: seg.name.kind,
                name: name.clone(),
                what,
            };
            let h = match &seg.header {
                HeaderState::Ready(h) => *h,
                other => {
                    sample.problems.push(problem(header_problem(other)));
                    continue;
                }
            };
            let Some(fleet) = &self.observer else {
                sample
                    .problems
                    .push(problem("the fleet's membership table is missing".into()));
                continue;
            };
            let result = match seg.name.kind {
                ObjectKind::Ring => {
                    seen_rings.push(name.clone());
                    reopen(&mut self.rings, name, &h, || Ring::open(fleet, name, None)).map(|r| {
                        sample.rings.push(RingSample {
                            name: name.clone(),
                            info: r.info(),
                        })
                    })
                }
                ObjectKind::Cache => {
                    seen_caches.push(name.clone());
                    reopen(&mut self.caches, name, &h, || {
                        OrbitCache::open(fleet, name, None)
                    })
                    .map(|c| {
                        sample.caches.push(CacheSample {
                            name: name.clone(),
                            stats: c.stats(),
                        })
                    })
                }
                ObjectKind::Bus => {
                    seen_buses.push(name.clone());
                    reopen(&mut self.buses, name, &h, || Bus::open(fleet, name, None)).map(|b| {
                        sample.buses.push(BusSample {
                            name: name.clone(),
                            capacity: b.capacity(),
                            max_payload: b.max_payload(),
                            head: b.head(),
                        })
                    })
                }
                ObjectKind::Contest => {
                    seen_contests.push(name.clone());
                    reopen(&mut self.contests, name, &h, || Contest::open(fleet, None)).map(|c| {
                        sample.contest = Some(ContestSample {
                            stats: c.stats(),
                            holders: c.holders(),
                        })
                    })
                }
                ObjectKind::Fleet => Ok(()),
            };
            if let Err(e) = result {
                sample.problems.push(problem(e.to_string()));
            }
        }
        self.rings.retain(|n, _| seen_rings.contains(n));
        self.caches.retain(|n, _| seen_caches.contains(n));
        self.buses.retain(|n, _| seen_buses.contains(n));
        self.contests.retain(|n, _| seen_contests.contains(n));
        sample.segments = segments;
        Ok(sample)
    }
}

/// The handle for `name`, opened anew when absent or when the segment under
/// the name is another one than the handle maps.
fn reopen<'a, T>(
    map: &'a mut BTreeMap<String, Opened<T>>,
    name: &str,
    h: &scan::HeaderInfo,
    open: impl FnOnce() -> orbit::Result<T>,
) -> orbit::Result<&'a T> {
    let fresh = map
        .get(name)
        .is_some_and(|o| o.created_at_ms == h.created_at_ms && o.creator_pid == h.creator_pid);
    if !fresh {
        map.remove(name);
        let handle = open()?;
        map.insert(
            name.to_string(),
            Opened {
                handle,
                created_at_ms: h.created_at_ms,
                creator_pid: h.creator_pid,
            },
        );
    }
    Ok(&map[name].handle)
}

/// Words for a header that is not ready.
pub fn header_problem(h: &HeaderState) -> String {
    match h {
        HeaderState::Ready(_) => "ready".into(),
        HeaderState::Uninitialised => {
            "not initialised (being created, or its creator died; the next opener repairs it)"
                .into()
        }
        HeaderState::Truncated => "truncated (smaller than its header says)".into(),
        HeaderState::Foreign => "not an orbit segment (foreign magic)".into(),
        HeaderState::Unreadable(e) => format!("unreadable: {e}"),
    }
}

/// Per-second rates between two samples of the same inventory.
#[derive(Clone, Debug, Default)]
pub struct Rates {
    /// Seconds between the samples.
    pub seconds: f64,
    /// Ring name -> frames written per second.
    pub ring_writes: BTreeMap<String, f64>,
    /// Cache name -> (gets, sets, evictions) per second and the hit ratio of
    /// the gets in between (`None` without gets).
    pub cache: BTreeMap<String, CacheRates>,
    /// Bus name -> events published per second.
    pub bus_events: BTreeMap<String, f64>,
}

/// A cache's rates between two samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheRates {
    /// `get` calls per second.
    pub gets: f64,
    /// Writes per second.
    pub sets: f64,
    /// Evictions per second.
    pub evictions: f64,
    /// Hits among the gets in between.
    pub hit_ratio: Option<f64>,
}

impl Rates {
    /// Rates from `a` to `b`.
    pub fn between(a: &Sample, b: &Sample) -> Rates {
        let seconds = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let per_s = |x: u64, y: u64| y.saturating_sub(x) as f64 / seconds;
        let mut r = Rates {
            seconds,
            ..Rates::default()
        };
        for rb in &b.rings {
            if let Some(ra) = a.rings.iter().find(|x| x.name == rb.name) {
                r.ring_writes
                    .insert(rb.name.clone(), per_s(ra.info.head, rb.info.head));
            }
        }
        for bb in &b.buses {
            if let Some(ba) = a.buses.iter().find(|x| x.name == bb.name) {
                r.bus_events
                    .insert(bb.name.clone(), per_s(ba.head, bb.head));
            }
        }
        for cb in &b.caches {
            if let Some(ca) = a.caches.iter().find(|x| x.name == cb.name) {
                let (sa, sb) = (&ca.stats, &cb.stats);
                let hits = sb.hits.saturating_sub(sa.hits);
                let gets = hits + sb.misses.saturating_sub(sa.misses);
                r.cache.insert(
                    cb.name.clone(),
                    CacheRates {
                        gets: gets as f64 / seconds,
                        sets: per_s(sa.sets, sb.sets),
                        evictions: per_s(sa.evictions, sb.evictions),
                        hit_ratio: (gets > 0).then(|| hits as f64 / gets as f64),
                    },
                );
            }
        }
        r
    }
}
