//! A TCP proxy between a ZooKeeper client and a (3.8) server that holds the client to what a 3.4
//! server serves: it reads each client→server frame (4-byte big-endian length; the first frame is
//! the ConnectRequest; every later one starts with `xid:int32, type:int32`; a multi's body is a
//! list of `type:int32, done:bool, err:int32` headers, each followed by its operation) and records
//! every request type, flagging those a 3.4 server does not know (see docs zookeeper-facts.md).
//! A flagged request is not forwarded and the connection is dropped, as 3.4 would.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Request types a ZooKeeper 3.4 server serves.
pub const ZK34_TYPES: &[i32] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 100, 101, 102, -11,
];

#[derive(Debug, Default)]
pub struct Seen {
    /// Every request type, in order (a multi's sub-operations after the multi itself).
    pub types: Vec<i32>,
    /// The types outside [`ZK34_TYPES`].
    pub violations: Vec<i32>,
    pub connections: usize,
    /// Cut the connection right after forwarding the next request of this type, before its
    /// answer can come back (the request reaches the server: an unknown outcome).
    pub cut_after: Option<i32>,
    /// Connections cut that way.
    pub cuts: usize,
    /// When each request (its first type) and each connection (`CONNECT`) arrived.
    pub timed: Vec<(std::time::Instant, i32)>,
}

/// The pseudo request type [`Seen::timed`] gives a new connection.
pub const CONNECT: i32 = i32::MIN + 1;

pub struct Zk34Proxy {
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Zk34Proxy {
    pub async fn start(upstream: String) -> Zk34Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                let seen = s.clone();
                {
                    let mut g = seen.lock().unwrap();
                    g.connections += 1;
                    g.timed.push((std::time::Instant::now(), CONNECT));
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    // A relay must not hold small frames back (Nagle against the peer's
                    // delayed ACK): ~40 ms per request otherwise, which the lock never sees
                    // without this proxy.
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    relay(client, server, seen).await;
                });
            }
        });
        Zk34Proxy { port, seen, task }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn types(&self) -> Vec<i32> {
        self.seen.lock().unwrap().types.clone()
    }

    pub fn violations(&self) -> Vec<i32> {
        self.seen.lock().unwrap().violations.clone()
    }

    /// See [`Seen::cut_after`].
    pub fn cut_after(&self, request_type: i32) {
        self.seen.lock().unwrap().cut_after = Some(request_type);
    }

    pub fn cuts(&self) -> usize {
        self.seen.lock().unwrap().cuts
    }

    /// See [`Seen::timed`].
    pub fn timed(&self) -> Vec<(std::time::Instant, i32)> {
        self.seen.lock().unwrap().timed.clone()
    }

    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().connections
    }
}

impl Drop for Zk34Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, seen: Arc<Mutex<Seen>>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    });
    let mut first = true;
    let mut down = Some(down);
    loop {
        let mut len = [0u8; 4];
        if cr.read_exact(&mut len).await.is_err() {
            break;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > 16 * 1024 * 1024 {
            break;
        }
        let mut body = vec![0u8; n];
        if cr.read_exact(&mut body).await.is_err() {
            break;
        }
        if !first {
            let types = request_types(&body);
            let mut s = seen.lock().unwrap();
            let bad: Vec<i32> = types
                .iter()
                .copied()
                .filter(|t| !ZK34_TYPES.contains(t))
                .collect();
            s.types.extend(&types);
            if let Some(t) = types.first() {
                s.timed.push((std::time::Instant::now(), *t));
            }
            if !bad.is_empty() {
                s.violations.extend(bad);
                drop(s);
                // As a 3.4 server: the call fails and the connection is dropped.
                break;
            }
        }
        let cut = !first && {
            let mut s = seen.lock().unwrap();
            let hit = s.cut_after.is_some() && request_types(&body).first() == s.cut_after.as_ref();
            if hit {
                s.cut_after = None;
                s.cuts += 1;
            }
            hit
        };
        if cut {
            // No answer may reach the client: stop relaying answers first.
            if let Some(d) = down.take() {
                d.abort();
            }
        }
        first = false;
        if sw.write_all(&len).await.is_err() || sw.write_all(&body).await.is_err() {
            break;
        }
        if cut {
            break;
        }
    }
    let _ = sw.shutdown().await;
    if let Some(d) = down {
        d.abort();
    }
}

/// The request type of a frame, and for a multi (14) the types of its sub-operations. A
/// sub-operation whose body cannot be walked is reported as `i32::MIN` (a violation).
pub fn request_types(frame: &[u8]) -> Vec<i32> {
    let mut r = Reader { b: frame, at: 0 };
    let (Some(_xid), Some(t)) = (r.int(), r.int()) else {
        return vec![i32::MIN];
    };
    let mut types = vec![t];
    if t == 14 {
        loop {
            let (Some(op), Some(done), Some(_err)) = (r.int(), r.byte(), r.int()) else {
                types.push(i32::MIN);
                break;
            };
            if done != 0 {
                break;
            }
            types.push(op);
            if skip_op(&mut r, op).is_none() {
                types.push(i32::MIN);
                break;
            }
        }
    }
    types
}

/// Skips one operation body inside a multi (the kinds jute defines for multi).
fn skip_op(r: &mut Reader, op: i32) -> Option<()> {
    match op {
        // create / create2: path, data, acl vector, flags
        1 | 15 => {
            r.buffer()?;
            r.buffer()?;
            let n = r.int()?;
            for _ in 0..n.max(0) {
                r.int()?;
                r.buffer()?;
                r.buffer()?;
            }
            r.int()?;
        }
        // delete, check: path, version
        2 | 13 => {
            r.buffer()?;
            r.int()?;
        }
        // setData: path, data, version
        5 => {
            r.buffer()?;
            r.buffer()?;
            r.int()?;
        }
        // getData / exists / getChildren in a read multi: path, watch
        3 | 4 | 8 => {
            r.buffer()?;
            r.byte()?;
        }
        _ => return None,
    }
    Some(())
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn int(&mut self) -> Option<i32> {
        let v = self.b.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(i32::from_be_bytes(v.try_into().ok()?))
    }

    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    /// A jute buffer or string: length (-1: null) then the bytes.
    fn buffer(&mut self) -> Option<()> {
        let n = self.int()?;
        if n > 0 {
            self.b.get(self.at..self.at + n as usize)?;
            self.at += n as usize;
        }
        Some(())
    }
}
