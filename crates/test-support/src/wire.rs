//! A TCP relay in front of a database server that measures what the server costs a client:
//! the connections opened through it, the round trips (a burst of client bytes answered by a
//! burst of server bytes), and the time from each burst sent to the last byte of its answer.
//! The benchmark adds that time to the Secrets Manager time to get a rotation's floor.
//!
//! It relays bytes and reads none of them, so it works the same for every protocol, with TLS
//! or without. A server that speaks first (MySQL's greeting) is timed from the connection's
//! accept.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the relay has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    /// Connections accepted.
    pub connections: usize,
    /// Connections still open (on either side).
    pub open: usize,
    /// Round trips: a client burst and the server's answer to it (or the greeting).
    pub round_trips: usize,
    /// The time from each burst to the last byte of its answer, summed.
    pub server_time: Duration,
}

/// One connection's exchange: when the burst being answered began, and the last answer byte
/// so far.
struct Exchange {
    asked: Option<Instant>,
    answered: Option<Instant>,
}

impl Exchange {
    /// Client bytes: a new burst, unless they add to one not answered yet.
    fn ask(&mut self, now: Instant) {
        if self.answered.is_some() {
            self.asked = None;
            self.answered = None;
        }
        self.asked.get_or_insert(now);
    }

    /// Server bytes: the first answers the burst (a round trip); each adds the time since
    /// the last.
    fn answer(&mut self, now: Instant, seen: &mut Seen) {
        let Some(asked) = self.asked else {
            return;
        };
        let since = match self.answered {
            None => {
                seen.round_trips += 1;
                asked
            }
            Some(last) => last,
        };
        seen.server_time += now.saturating_duration_since(since);
        self.answered = Some(now);
    }
}

/// The relay: listening on 127.0.0.1, forwarding to one server.
pub struct TimedRelay {
    /// The port to give clients instead of the server's.
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Copy `from` to `to`, telling `on_bytes` of each read; shut `to`'s writing down at the end.
fn pump(mut from: TcpStream, mut to: TcpStream, on_bytes: impl Fn()) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                on_bytes();
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn relay(client: TcpStream, server_port: u16, seen: Arc<Mutex<Seen>>) {
    let accepted = Instant::now();
    let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_w), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    {
        let mut seen = lock(&seen);
        seen.connections += 1;
        seen.open += 1;
    }
    // Until the client says something, an answer is the server's greeting.
    let exchange = Arc::new(Mutex::new(Exchange {
        asked: Some(accepted),
        answered: None,
    }));
    let e = Arc::clone(&exchange);
    let upward = std::thread::spawn(move || {
        pump(client, server_w, || lock(&e).ask(Instant::now()));
    });
    pump(server, client_w, || {
        lock(&exchange).answer(Instant::now(), &mut lock(&seen));
    });
    let _ = upward.join();
    let mut seen = lock(&seen);
    seen.open = seen.open.saturating_sub(1);
}

impl TimedRelay {
    /// Listen on a free loopback port and relay every connection to `server_port` on
    /// 127.0.0.1.
    pub fn start(server_port: u16) -> TimedRelay {
        let (listener, port) = crate::net::listener();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = Arc::clone(&s);
                std::thread::spawn(move || relay(stream, server_port, s));
            }
        });
        TimedRelay { port, seen }
    }

    /// What was seen so far.
    pub fn seen(&self) -> Seen {
        *lock(&self.seen)
    }

    /// Forget what was seen (but the connections still open).
    pub fn reset(&self) {
        let mut seen = lock(&self.seen);
        *seen = Seen {
            open: seen.open,
            ..Seen::default()
        };
    }

    /// Wait until no connection is open, or `within` has passed; whether none is.
    pub fn wait_closed(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.seen().open > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

/// Run a rotation of `arn` step by step with `rotator`, and return the connections its
/// setSecret opened through `relay`; after every step no connection may stay open.
pub async fn set_secret_connections<E: rotation_core::Engine>(
    sm: &crate::secrets::Sm,
    rotator: &rotation_core::protocol::Rotator<E>,
    arn: &str,
    relay: &TimedRelay,
) -> usize {
    let token = sm.start_rotation(arn).await;
    let mut connections = 0;
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        relay.reset();
        crate::secrets::step(rotator, arn, &token, name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "setSecret" {
            connections = relay.seen().connections;
        }
        assert!(
            relay.wait_closed(Duration::from_secs(5)),
            "a connection stayed open after {name}: {:?}",
            relay.seen()
        );
    }
    connections
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An echo server that answers each line after `delay`.
    fn slow_echo(delay: Duration) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 256];
                    while let Ok(n @ 1..) = s.read(&mut buf) {
                        std::thread::sleep(delay);
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    #[test]
    fn counts_round_trips_and_the_servers_time() {
        let relay = TimedRelay::start(slow_echo(Duration::from_millis(30)));
        let mut c = TcpStream::connect(("127.0.0.1", relay.port)).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 16];
        for _ in 0..3 {
            c.write_all(b"ping\n").unwrap_or_else(|e| panic!("{e}"));
            let n = c.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&buf[..n], b"ping\n");
        }
        drop(c);
        assert!(
            relay.wait_closed(Duration::from_secs(5)),
            "{:?}",
            relay.seen()
        );
        let seen = relay.seen();
        assert_eq!(seen.connections, 1);
        assert_eq!(seen.round_trips, 3, "{seen:?}");
        assert!(
            seen.server_time >= Duration::from_millis(90),
            "three answers of 30 ms each: {seen:?}"
        );
        relay.reset();
        assert_eq!(relay.seen(), Seen::default());
    }
}
