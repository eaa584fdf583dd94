//! A crowd behind one address is an audience, not an attack: 2 000 players
//! on 2 000 keep-alive connections from one address are counted in full with
//! the default limits, while one client flooding — even rotating playback ids
//! and User-Agents — is stopped.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// One HTTP/1.1 request on a kept-alive connection; returns the status.
fn post(conn: &mut BufReader<TcpStream>, host: &str, key: &str, ua: &str, body: &str) -> u16 {
    let req = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: {host}\r\nX-Ingest-Key: {key}\r\nUser-Agent: {ua}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(req.as_bytes()).unwrap();
    let mut status_line = String::new();
    conn.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        conn.read_line(&mut h).unwrap();
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut rest = vec![0u8; length];
    conn.read_exact(&mut rest).unwrap();
    status
}

fn browser(i: usize) -> String {
    // A handful of browser versions, as in a real crowd: many players share one.
    format!(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12{}.0.0.0 Safari/537.36",
        i % 5
    )
}

#[test]
fn two_thousand_players_behind_one_address_are_counted_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("hospital");
    let host = server.base.trim_start_matches("http://").to_string();
    let mut conns: Vec<BufReader<TcpStream>> = (0..2_000)
        .map(|_| {
            let s = TcpStream::connect(&host).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            BufReader::new(s)
        })
        .collect();
    let started = Instant::now();
    let mut refused = 0;
    // Two rounds of heartbeats, every player on its own connection, at about
    // 230 requests a second (2 000 players every 10 s would be 200).
    for round in 0..2 {
        for (i, conn) in conns.iter_mut().enumerate() {
            let ts = at(&format!("10:00:{:02}", round * 10));
            let pid = format!("p{i}");
            let body = json!([ev("play", &ts, &pid, "LIVE"), playing(&ts, &pid, "LIVE", 10.0)]).to_string();
            if post(conn, &host, &t.ingest, &browser(i), &body) != 202 {
                refused += 1;
            }
            let due = Duration::from_secs_f64((round * 2_000 + i + 1) as f64 / 230.0);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    assert_eq!(refused, 0, "a crowd's heartbeats were refused");
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts,time"));
    assert_eq!(v["totals"]["starts"], 2_000, "{v}");
    assert_eq!(v["totals"]["time"], 40_000.0, "{v}");
    // While 2 000 connections are held, the server still answers at once.
    let t0 = Instant::now();
    assert_eq!(server.request("GET", "/healthz", &[], "").status, 200);
    println!(
        "2 000 players, 4 000 requests, none refused; /healthz in {:?} with the connections held",
        t0.elapsed()
    );
}

#[test]
fn a_flood_from_one_client_is_stopped_even_when_it_rotates_ids_and_agents() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("flooded");
    let host = server.base.trim_start_matches("http://").to_string();
    let mut conn = BufReader::new(TcpStream::connect(&host).unwrap());
    let count = |rotate: bool, conn: &mut BufReader<TcpStream>| {
        let mut refused = 0;
        for i in 0..6_000 {
            let (pid, ua) = if rotate {
                (format!("r{i}"), format!("Flooder/{i}"))
            } else {
                ("same".to_string(), "Flooder/1".to_string())
            };
            let body = json!([ev("play", &at("10:00:00"), &pid, "A")]).to_string();
            if post(conn, &host, &t.ingest, &ua, &body) == 429 {
                refused += 1;
            }
        }
        refused
    };
    let same = count(false, &mut conn);
    assert!(same > 5_000, "one playback flooding: only {same} of 6 000 refused");
    let rotating = count(true, &mut conn);
    assert!(rotating > 2_000, "rotating playback ids and User-Agents: only {rotating} of 6 000 refused");
    println!("flood refused: {same}/6000 from one playback, {rotating}/6000 rotating ids and agents");
}
