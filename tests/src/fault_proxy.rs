//! A fault-injecting HTTP proxy for servers that cannot inject faults themselves (the S3 and
//! MLflow test servers): it forwards each request unchanged on a fresh upstream connection (one
//! request per connection, so SigV4 signatures stay valid), unless a fault matches its request
//! line, in which case it answers with the fault's status, answers late, never answers, or cuts
//! the upstream's answer short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a fault does to a matching request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer with this status, extra headers and body.
    Status(u16, Vec<(String, String)>, String),
    /// Forward the request, but answer only after this delay.
    Delay(Duration),
    /// Keep the connection open and never answer.
    NoAnswer,
    /// Forward the request, but cut this many bytes off the end of the answer (a transfer
    /// broken off before the body's end).
    Truncate(usize),
}

type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

struct Rule {
    matches: Matcher,
    times: u32,
    action: Action,
}

#[derive(Default)]
struct Shared {
    rules: Vec<Rule>,
    /// Request heads seen (to check what the connector sent).
    heads: Vec<String>,
}

/// A running proxy; it stops with the test's runtime.
#[derive(Clone)]
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    served: Arc<AtomicU64>,
}

impl Proxy {
    /// Start a proxy in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let proxy = Self {
            url,
            shared: Arc::new(Mutex::new(Shared::default())),
            served: Arc::new(AtomicU64::new(0)),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let p = p.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move { p.serve(client, &upstream).await });
            }
        });
        proxy
    }

    /// The next `times` requests whose request line `matches` get `action`.
    pub fn fault(
        &self,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
        times: u32,
        action: Action,
    ) {
        self.shared
            .lock()
            .expect("the proxy's state")
            .rules
            .push(Rule {
                matches: Arc::new(matches),
                times,
                action,
            });
    }

    /// Remove every fault.
    pub fn clear(&self) {
        self.shared.lock().expect("the proxy's state").rules.clear();
    }

    /// Faults served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Every request head received so far.
    pub fn heads(&self) -> Vec<String> {
        self.shared.lock().expect("the proxy's state").heads.clone()
    }

    fn action_for(&self, line: &str, head: &str) -> Option<Action> {
        let mut shared = self.shared.lock().expect("the proxy's state");
        shared.heads.push(head.to_owned());
        let rule = shared
            .rules
            .iter_mut()
            .find(|r| r.times > 0 && (r.matches)(line))?;
        rule.times -= 1;
        self.served.fetch_add(1, Ordering::Relaxed);
        Some(rule.action.clone())
    }

    async fn serve(&self, mut client: TcpStream, upstream: &str) {
        let mut request = Vec::new();
        let mut buf = [0u8; 16384];
        let head_end = loop {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
            if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while request.len() < head_end + length {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let line = head.lines().next().unwrap_or("").to_owned();
        let mut delay = None;
        let mut cut = 0;
        match self.action_for(&line, &head) {
            Some(Action::Status(status, headers, body)) => {
                let mut answer = format!(
                    "HTTP/1.1 {status} Injected\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    answer.push_str(&format!("{k}: {v}\r\n"));
                }
                answer.push_str("\r\n");
                answer.push_str(&body);
                let _ = client.write_all(answer.as_bytes()).await;
                let _ = client.shutdown().await;
                return;
            }
            Some(Action::NoAnswer) => {
                tokio::time::sleep(Duration::from_secs(600)).await;
                return;
            }
            Some(Action::Delay(d)) => delay = Some(d),
            Some(Action::Truncate(n)) => cut = n,
            None => {}
        }
        // One request per connection: the upstream closes after answering.
        let rewritten = head.replacen("\r\n", "\r\nconnection: close\r\n", 1);
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            return;
        };
        let _ = up.write_all(rewritten.as_bytes()).await;
        let _ = up.write_all(&request[head_end..]).await;
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer).await;
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        answer.truncate(answer.len().saturating_sub(cut));
        let _ = client.write_all(&answer).await;
        let _ = client.shutdown().await;
    }
}
