//! A throwaway `redis-server` on 127.0.0.1 (random port, no persistence) and
//! a minimal RESP client over a TcpStream: commands are encoded once, replies
//! parsed without allocation, so the client adds as little as possible to
//! what Redis itself costs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub port: u16,
    pub version: String,
}

fn find_server() -> Option<String> {
    if let Ok(p) = std::env::var("REDIS_SERVER") {
        return Some(p);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/sbin".into()])
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

impl Server {
    pub fn start() -> Result<Server, String> {
        let bin = find_server().ok_or("redis-server not found (make bench-peers installs it)")?;
        let version = Command::new(&bin)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .map_err(|e| format!("{bin} --version: {e}"))?;
        // A free port chosen by the kernel; the server binds it right after.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {bin}: {e}"))?;
        let mut s = Server {
            child,
            port,
            version,
        };
        let t = Instant::now();
        loop {
            if let Ok(mut c) = Client::connect(port)
                && c.ping()
            {
                return Ok(s);
            }
            if t.elapsed() > Duration::from_secs(10) {
                s.stop();
                return Err("redis-server did not answer PING within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Ok(mut c) = Client::connect(self.port) {
            let _ = c.send(&encode(&[b"SHUTDOWN", b"NOSAVE"]));
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

pub struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
    line: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(Client {
            r: BufReader::with_capacity(1 << 16, s.try_clone()?),
            w: s,
            line: Vec::with_capacity(128),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Reads one reply; bulk payloads go to the front of `buf`. Returns the
    /// bulk length, the integer, or 0 for a status line.
    pub fn reply(&mut self, buf: &mut [u8]) -> i64 {
        self.line.clear();
        self.r.read_until(b'\n', &mut self.line).unwrap();
        let l = &self.line[..self.line.len() - 2];
        match l[0] {
            b'+' => 0,
            b':' => parse_i64(&l[1..]),
            b'$' => {
                let n = parse_i64(&l[1..]);
                if n >= 0 {
                    let n = n as usize;
                    self.r.read_exact(&mut buf[..n]).unwrap();
                    let mut crlf = [0u8; 2];
                    self.r.read_exact(&mut crlf).unwrap();
                }
                n
            }
            _ => panic!("redis error: {}", String::from_utf8_lossy(l)),
        }
    }

    fn ping(&mut self) -> bool {
        self.send(&encode(&[b"PING"])).is_ok() && {
            let mut b = [0u8; 8];
            self.reply(&mut b) == 0
        }
    }
}

fn parse_i64(s: &[u8]) -> i64 {
    std::str::from_utf8(s).unwrap().parse().unwrap()
}
