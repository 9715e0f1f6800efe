//! Figures for the S3 connector, against the in-process S3 server on 127.0.0.1:
//! `large <GiB>`: peak RSS and time of `evidence-agent collect` streaming one object of that size;
//! `listing <keys>`: keys listed per second (no rule matches, so nothing is fetched).
//! Run through `bench/s3.sh`, which builds the binaries first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Instant;

use evidence_tests::s3_server::S3Server;
use evidence_tests::{bin, text};

const BUCKET: &str = "bench";

fn agent_config(dir: &std::path::Path, endpoint: &str, glob: &str, page: u32) {
    let config = format!(
        "[archive]\npath = \"evidence\"\norigin = \"bench.example.org\"\n\n[[source]]\ntype = \"s3\"\nname = \"bench\"\nbucket = \"{BUCKET}\"\nendpoint_url = \"{endpoint}\"\npage_size_keys = {page}\n\n[[source.rule]]\nglob = \"{glob}\"\nkind = \"training_run\"\n"
    );
    std::fs::write(dir.join("agent.toml"), config).unwrap();
}

/// Run `/usr/bin/time -v evidence-agent collect`; return (seconds, peak RSS in KiB, stdout).
fn timed_collect(dir: &std::path::Path, server: &S3Server) -> (f64, u64, String) {
    let started = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin("evidence-agent"))
        .args(["collect", "--quiet", "--json", "--config"])
        .arg(dir.join("agent.toml"))
        .envs(server.env())
        .output()
        .expect("/usr/bin/time runs (apt-get install -y time)");
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in the output of time -v:\n{}", text(&out)));
    (secs, rss, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("large");
    let n: u64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(2);
    let server = S3Server::start(&[BUCKET]);
    let dir = tempfile::tempdir().unwrap();
    match mode {
        "large" => {
            let size = n << 30;
            let t = Instant::now();
            server.seed_file(BUCKET, "raw/corpus.bin", |f| {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                let chunk: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
                for _ in 0..(size >> 20) {
                    w.write_all(&chunk).unwrap();
                }
                w.flush().unwrap();
            });
            eprintln!("seeded {n} GiB in {:.1}s", t.elapsed().as_secs_f64());
            agent_config(dir.path(), &server.endpoint, "raw/**", 1000);
            let (secs, rss, out) = timed_collect(dir.path(), &server);
            let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(summary["item_bytes"].as_u64(), Some(size), "{out}");
            println!(
                "large object: {n} GiB collected and sealed in {secs:.1}s ({:.0} MiB/s), peak RSS {:.1} MiB",
                size as f64 / secs / (1u64 << 20) as f64,
                rss as f64 / 1024.0
            );
        }
        "listing" => {
            let t = Instant::now();
            for i in 0..n {
                server.seed_file(BUCKET, &format!("keys/{:03}/{i:08}.json", i % 1000), |f| {
                    f.write_all(b"{}").unwrap()
                });
            }
            eprintln!("seeded {n} keys in {:.1}s", t.elapsed().as_secs_f64());
            // s3s-fs walks the whole bucket for every page; serve pages from an index, as S3
            // does, so the figure measures the connector rather than the test server.
            server.index_listings(BUCKET);
            agent_config(dir.path(), &server.endpoint, "nothing-matches/**", 1000);
            let (secs, rss, out) = timed_collect(dir.path(), &server);
            let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(summary["items"].as_u64(), Some(0), "{out}");
            println!(
                "listing: {n} keys in {secs:.1}s = {:.0} keys/s (pages of 1000; peak RSS {:.1} MiB)",
                n as f64 / secs,
                rss as f64 / 1024.0
            );
        }
        other => panic!("unknown mode {other:?}; use `large <GiB>` or `listing <keys>`"),
    }
}
