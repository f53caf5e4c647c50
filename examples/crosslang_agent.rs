//! Cross-language agent, Rust edition: the Rust process of the cross-language
//! test (`make crosslang`; the protocol is in `tests/crosslang/README.md`).
//!
//! ```text
//! crosslang_agent PHASE FLEET LANG N LANGS
//! ```
//!
//! Uses the `orbit` crate directly (not the C ABI).

use std::process::exit;
use std::thread::sleep;
use std::time::{Duration, Instant};

use orbit::{
    Bus, BusOptions, CacheOptions, Contest, Error, Fleet, FleetOptions, From, OrbitCache, Ring,
    RingOptions,
};

const WAIT: Duration = Duration::from_secs(30);

struct Agent {
    phase: String,
    lang: String,
    langs: Vec<String>,
    idx: usize,
    n: usize,
    fleet: Fleet,
    cache: OrbitCache,
}

fn payload(w: &str, i: usize) -> Vec<u8> {
    let filler = char::from(b'a' + (i % 26) as u8).to_string().repeat(i % 23);
    let body = format!("{w}|{i}|{filler}");
    let h = body.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{body}|{h:08x}").into_bytes()
}

impl Agent {
    fn fail(&self, msg: String) -> ! {
        println!("FAIL {} {msg}", self.phase);
        exit(1)
    }

    fn must<T>(&self, r: orbit::Result<T>, what: &str) -> T {
        r.unwrap_or_else(|e| self.fail(format!("{}: {what}: {e}", self.lang)))
    }

    fn get_i64(&self, key: &str) -> i64 {
        match self.must(self.cache.get(key.as_bytes()), "get") {
            Some(v) => i64::from_le_bytes(v.try_into().unwrap_or([0; 8])),
            None => 0,
        }
    }

    fn barrier(&self, name: &str) {
        let key = format!("xl.barrier.{name}");
        self.must(self.cache.incr(key.as_bytes(), 1, 0), "barrier incr");
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.get_i64(&key);
            if v >= self.langs.len() as i64 {
                return;
            }
            if Instant::now() > deadline {
                self.fail(format!(
                    "{}: barrier {name} timed out with {v} of {} arrived",
                    self.lang,
                    self.langs.len()
                ));
            }
            sleep(Duration::from_millis(1));
        }
    }

    fn writer_of(&self, p: &[u8]) -> usize {
        let w = p.split(|&b| b == b'|').next().unwrap_or(&[]);
        match self.langs.iter().position(|l| l.as_bytes() == w) {
            Some(i) if w.len() < p.len() => i,
            _ => self.fail(format!(
                "reader={}: payload {:?} from no known writer",
                self.lang,
                String::from_utf8_lossy(p)
            )),
        }
    }

    fn report(&self, got: &[usize], extra: &str) {
        let counts: Vec<String> = self
            .langs
            .iter()
            .zip(got)
            .map(|(l, g)| format!("{l}={g}"))
            .collect();
        println!(
            "OK {} {} {}{extra}",
            self.phase,
            self.lang,
            counts.join(" ")
        );
    }

    fn all_done(&self, got: &[usize]) -> bool {
        got.iter().all(|&g| g >= self.n)
    }

    fn ring(&self) {
        let opts = RingOptions {
            capacity: 32768,
            max_payload: 128,
            kind: 0,
            mode: 0,
            single_writer: false,
        };
        let ring = self.must(Ring::open(&self.fleet, "xl.ring", Some(&opts)), "open ring");
        let mut cur = ring.cursor(From::Oldest);
        self.barrier("ring");
        for i in 0..self.n {
            let p = payload(&self.lang, i);
            self.must(ring.write(self.idx as u8 + 1, i as u64, &p), "write");
        }
        let mut got = vec![0; self.langs.len()];
        let deadline = Instant::now() + WAIT;
        while !self.all_done(&got) && Instant::now() < deadline {
            match cur.wait(Duration::from_millis(100)) {
                Ok(()) | Err(Error::Timeout) => {}
                Err(e) => self.fail(format!("{}: wait: {e}", self.lang)),
            }
            while let Some(f) = self.must(cur.next_frame(), "next") {
                let w = self.writer_of(&f.payload);
                let want = payload(&self.langs[w], got[w]);
                if f.info.ver != got[w] as u64 || f.info.kind as usize != w + 1 || f.payload != want
                {
                    self.fail(format!(
                        "writer={} reader={}: frame #{}: got ver={} kind={} payload={:?}, want ver={} kind={} payload={:?}",
                        self.langs[w],
                        self.lang,
                        got[w],
                        f.info.ver,
                        f.info.kind,
                        String::from_utf8_lossy(&f.payload),
                        got[w],
                        w + 1,
                        String::from_utf8_lossy(&want)
                    ));
                }
                got[w] += 1;
            }
        }
        if cur.lost() != 0 {
            self.fail(format!("reader={}: lost {} frames", self.lang, cur.lost()));
        }
        self.report(&got, "");
    }

    fn cache_phase(&self) {
        let c = &self.cache;
        for j in 0..self.n {
            let key = format!("xl.{}.{j}", self.lang);
            self.must(c.set(key.as_bytes(), &payload(&self.lang, j), 0), "set");
        }
        self.barrier("cache.set");
        let mut got = vec![0; self.langs.len()];
        for (w, l) in self.langs.iter().enumerate() {
            for j in 0..self.n {
                let key = format!("xl.{l}.{j}");
                let want = payload(l, j);
                match self.must(c.get(key.as_bytes()), "get") {
                    None => self.fail(format!(
                        "writer={l} reader={}: key {key} missing",
                        self.lang
                    )),
                    Some(v) if v != want => self.fail(format!(
                        "writer={l} reader={}: key {key}: got {:?}, want {:?}",
                        self.lang,
                        String::from_utf8_lossy(&v),
                        String::from_utf8_lossy(&want)
                    )),
                    Some(_) => got[w] += 1,
                }
            }
        }
        self.barrier("cache.incr");
        let mut prev = 0;
        for _ in 0..self.n {
            let v = self.must(c.incr(b"xl.counter", self.idx as i64 + 1, 0), "incr");
            if v <= prev {
                self.fail(format!("{}: incr returned {v} after {prev}", self.lang));
            }
            prev = v;
        }
        self.barrier("cache.done");
        let total = self.get_i64("xl.counter");
        let want: i64 = (1..=self.langs.len() as i64)
            .map(|w| w * self.n as i64)
            .sum();
        if total != want {
            self.fail(format!(
                "{}: counter reads {total} after every incr, want {want}",
                self.lang
            ));
        }
        self.report(&got, &format!(" counter={total}"));
    }

    fn bus(&self) {
        let opts = BusOptions {
            capacity: 16384,
            max_payload: 128,
            mode: 0,
        };
        let bus = self.must(Bus::open(&self.fleet, "xl.bus", Some(&opts)), "open bus");
        let mut sub = self.must(bus.subscribe(Some("xl."), From::Oldest), "subscribe");
        self.barrier("bus");
        let (mine, noise) = (format!("xl.{}", self.lang), format!("noise.{}", self.lang));
        for i in 0..self.n {
            self.must(bus.publish(&mine, &payload(&self.lang, i)), "publish");
            if i % 10 == 0 {
                self.must(bus.publish(&noise, b"-"), "publish noise");
            }
        }
        let mut got = vec![0; self.langs.len()];
        let deadline = Instant::now() + WAIT;
        while !self.all_done(&got) && Instant::now() < deadline {
            match sub.wait(Duration::from_millis(100)) {
                Ok(()) | Err(Error::Timeout) => {}
                Err(e) => self.fail(format!("{}: wait: {e}", self.lang)),
            }
            while let Some(e) = self.must(sub.next_event(), "next") {
                if !e.topic.starts_with("xl.") {
                    self.fail(format!(
                        "subscriber={}: prefix xl. let through topic {:?}",
                        self.lang, e.topic
                    ));
                }
                let w = self.writer_of(&e.payload);
                let want = payload(&self.langs[w], got[w]);
                if e.topic != format!("xl.{}", self.langs[w]) || e.payload != want {
                    self.fail(format!(
                        "publisher={} subscriber={}: event #{}: got topic={:?} payload={:?}, want topic=\"xl.{}\" payload={:?}",
                        self.langs[w],
                        self.lang,
                        got[w],
                        e.topic,
                        String::from_utf8_lossy(&e.payload),
                        self.langs[w],
                        String::from_utf8_lossy(&want)
                    ));
                }
                got[w] += 1;
            }
        }
        if sub.lost() != 0 {
            self.fail(format!(
                "subscriber={}: lost {} events",
                self.lang,
                sub.lost()
            ));
        }
        self.report(&got, "");
    }

    fn lease(&self) {
        let contest = self.must(Contest::open(&self.fleet, None), "open contest");
        let c = &self.cache;
        self.barrier("lease");
        let mut tokens: Vec<u64> = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(self.n as u64);
        while Instant::now() < deadline {
            let lease = match contest.claim("xl.lease", Duration::from_secs(5)) {
                Ok(l) => l,
                Err(Error::Conflict(_)) => {
                    sleep(Duration::from_micros(100));
                    continue;
                }
                Err(e) => self.fail(format!("{}: claim: {e}", self.lang)),
            };
            let t = lease.token();
            let who = format!("{} (token {t})", self.lang);
            if let Some(&last) = tokens.last().filter(|&&last| t <= last) {
                self.fail(format!("{}: token {t} after {last}", self.lang));
            }
            let inside = self.must(c.incr(b"xl.cs", 1, 0), "incr cs");
            if inside != 1 {
                self.fail(format!(
                    "{who} entered with {} other holder(s) inside",
                    inside - 1
                ));
            }
            let me = format!("{}:{t}", self.lang);
            self.must(c.set(b"xl.cs.holder", me.as_bytes(), 0), "set holder");
            sleep(Duration::from_micros(500));
            let h = self.must(c.get(b"xl.cs.holder"), "get holder");
            if h.as_deref() != Some(me.as_bytes()) {
                self.fail(format!(
                    "{who} found {:?} in its critical section",
                    h.map(|h| String::from_utf8_lossy(&h).into_owned())
                ));
            }
            let inside = self.must(c.incr(b"xl.cs", -1, 0), "incr cs");
            if inside != 0 {
                self.fail(format!("{who} left with {inside} other holder(s) inside"));
            }
            if let Err(e) = lease.release() {
                self.fail(format!("{}: release of token {t}: {e}", self.lang));
            }
            tokens.push(t);
            sleep(Duration::from_micros(200));
        }
        let list: Vec<String> = tokens.iter().map(u64::to_string).collect();
        println!(
            "OK lease {} grants={} tokens={}",
            self.lang,
            tokens.len(),
            list.join(",")
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: crosslang_agent PHASE FLEET LANG N LANGS");
        exit(2);
    }
    let (phase, lang) = (args[1].clone(), args[3].clone());
    let fail = |msg: String| -> ! {
        println!("FAIL {phase} {msg}");
        exit(1)
    };
    let n: usize = args[4]
        .parse()
        .unwrap_or_else(|_| fail(format!("bad N {:?}", args[4])));
    let langs: Vec<String> = args[5].split(',').map(String::from).collect();
    let idx = langs
        .iter()
        .position(|l| *l == lang)
        .unwrap_or_else(|| fail(format!("{lang} is not among the participants")));
    let fleet = Fleet::join(
        &args[2],
        &FleetOptions {
            label: lang.clone(),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| fail(format!("{lang}: join: {e}")));
    let opts = CacheOptions {
        capacity: 65536,
        max_key: 64,
        max_value: 128,
        mode: 0,
    };
    let cache = OrbitCache::open(&fleet, "xl.cache", Some(&opts))
        .unwrap_or_else(|e| fail(format!("{lang}: open cache: {e}")));
    let a = Agent {
        phase: phase.clone(),
        lang: lang.clone(),
        langs,
        idx,
        n,
        fleet,
        cache,
    };
    match phase.as_str() {
        "ring" => a.ring(),
        "cache" => a.cache_phase(),
        "bus" => a.bus(),
        "lease" => a.lease(),
        _ => a.fail(format!("unknown phase {phase}")),
    }
}
