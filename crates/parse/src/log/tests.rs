use super::*;

const LINE: &str = r#"203.0.113.7 - - [02/Mar/2026:08:01:00 +0000] "GET /podcast/E.mp3?CMCD=sid%3D%22s1%22%2Cd%3D4000 HTTP/1.1" 206 1000000 "https://www.example.org/show" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36""#;

fn one(format: LogFormat, line: &str) -> Result<LogRequest<'_>, LineError> {
    match LogParser::new(format).parse_line(line)? {
        Line::Request(r) => Ok(r),
        Line::Skip => panic!("skipped"),
    }
}

#[test]
fn combined_lines_with_cmcd() {
    let r = one(LogFormat::named("combined", None).unwrap(), LINE).unwrap();
    assert_eq!(r.ts, streamtally_model::parse_ts("2026-03-02T08:01:00Z").unwrap());
    assert_eq!(r.ip, "203.0.113.7".parse().ok());
    assert_eq!((&*r.method, &*r.path, r.status, r.bytes), ("GET", "/podcast/E.mp3", 206, 1_000_000));
    assert_eq!(r.referrer.as_deref(), Some("https://www.example.org/show"));
    assert!(r.user_agent.as_deref().unwrap().contains("Chrome/124"));
    assert_eq!((r.cmcd().sid.as_deref(), r.cmcd().d), (Some("s1"), Some(4000.0)));
    assert!(matches!(LogFormat::detect(LINE), Some(LogFormat::Nginx(f)) if f.source() == COMBINED));
}

#[test]
fn a_pasted_nginx_log_format_with_range_cache_and_escapes() {
    let f = LogFormat::named(
        "nginx",
        Some(r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_range" $upstream_cache_status $request_time"#),
    )
    .unwrap();
    let r = one(
        f.clone(),
        r#"2001:db8::1 - - [02/Mar/2026:09:00:00 +0100] "GET /hls/L/seg_1.ts HTTP/2.0" 200 5000 "-" "Agent \x22quoted\x22" "bytes=0-1" HIT 0.004"#,
    )
    .unwrap();
    assert_eq!(r.ts, streamtally_model::parse_ts("2026-03-02T08:00:00Z").unwrap());
    assert_eq!(r.range.as_deref(), Some("bytes=0-1"));
    assert_eq!((r.cache_status.as_deref(), r.time_to_serve), (Some("HIT"), Some(0.004)));
    assert_eq!(r.user_agent.as_deref(), Some(r#"Agent "quoted""#));
    assert_eq!(r.referrer, None);
    // Lines that do not fit say where.
    let e = one(f, r#"2001:db8::1 - - [02/Mar/2026:09:00:00 +0100] "GET /x HTTP/1.1" 200"#).unwrap_err();
    assert!(e.0.contains("expected"), "{e}");
}

#[test]
fn wrong_format_strings_are_clear_errors() {
    assert!(matches!(LogFormat::named("nginx", None), Err(FormatError::MissingLogFormat)));
    assert!(matches!(
        LogFormat::named("nginx", Some("$remote_addr $status")),
        Err(FormatError::BadLogFormat(_))
    ));
    assert!(matches!(
        LogFormat::named("nginx", Some("$time_local$status $request")),
        Err(FormatError::BadLogFormat(_))
    ));
    assert!(matches!(
        LogFormat::named("nginx", Some("${time_local $status $request")),
        Err(FormatError::BadLogFormat(_))
    ));
    assert!(matches!(LogFormat::named("apache2", None), Err(FormatError::Unknown(_))));
}

#[test]
fn bad_lines_are_rejected_with_a_reason() {
    let f = LogFormat::named("combined", None).unwrap();
    let mut p = LogParser::new(f);
    for (line, why) in [
        ("garbage", "expected"),
        (&LINE.replace("206", "2O6"), "status"),
        (&LINE.replace("203.0.113.7", "203.0.113.999"), "IP address"),
        (&LINE.replace("02/Mar/2026", "31/Feb/2026"), "time"),
        (&"x".repeat(MAX_LINE + 1), "longer"),
        (&LINE.replace("\"GET ", "\""), "method"),
    ] {
        let e = p.parse_line(line).unwrap_err();
        assert!(e.0.contains(why), "{line:.60}: {e}");
    }
    assert_eq!(p.parse_line("   ").unwrap(), Line::Skip);
}

#[test]
fn cloudfront_w3c_logs() {
    let log = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken\n2026-03-02\t08:01:00\tFRA56-C1\t1000000\t203.0.113.7\tGET\td111111abcdef8.cloudfront.net\t/podcast/E.mp3\t206\t-\tAppleCoreMedia/1.0.0.21E230%20(iPhone;%20U;%20CPU%20OS%2017_4%20like%20Mac%20OS%20X;%20en_us)\t-\t-\tRefreshHit\tabc==\tmedia.example.org\thttps\t300\t0.002\n";
    let mut p = LogParser::new(LogFormat::detect(log).unwrap());
    let mut reqs = Vec::new();
    for line in log.lines() {
        if let Line::Request(r) = p.parse_line(line).unwrap() {
            reqs.push(r);
        }
    }
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.status, r.bytes, r.pop.as_deref(), r.cache_status.as_deref()),
        (206, 1_000_000, Some("FRA56-C1"), Some("HIT"))
    );
    assert_eq!(r.zone.as_deref(), Some("media.example.org"));
    assert!(r.user_agent.as_deref().unwrap().starts_with("AppleCoreMedia/1.0.0.21E230 (iPhone; U;"));
    let mut headless = LogParser::new(LogFormat::W3c);
    assert!(headless.parse_line("2026-03-02 08:00:00 1.2.3.4").is_err());
}

#[test]
fn json_presets_and_custom_mappings() {
    let cf = r#"{"ClientIP":"203.0.113.7","EdgeStartTimestamp":"2026-03-02T08:01:00Z","ClientRequestMethod":"GET","ClientRequestURI":"/hls/L/index.m3u8?x=1","EdgeResponseStatus":200,"EdgeResponseBytes":512,"ClientRequestUserAgent":"VLC/3.0.20 LibVLC/3.0.20","CacheCacheStatus":"miss","EdgeColoCode":"FRA","ClientRequestHost":"live.example.org"}"#;
    let f = LogFormat::detect(cf).unwrap();
    assert_eq!(f.name(), "json (cloudflare)");
    let r = one(f, cf).unwrap();
    assert_eq!((&*r.path, r.query.as_deref(), r.status, r.bytes), ("/hls/L/index.m3u8", Some("x=1"), 200, 512));
    assert_eq!(
        (r.cache_status.as_deref(), r.pop.as_deref(), r.zone.as_deref()),
        (Some("MISS"), Some("FRA"), Some("live.example.org"))
    );
    let bunny = r#"{"RemoteIp":"203.0.113.7","Timestamp":1772438460000,"Url":"https://zone.b-cdn.net/podcast/E.mp3","Status":206,"BytesSent":1000000,"UserAgent":"Spotify/8.9","CacheStatus":"HIT","ServerZone":"DE","PullZoneId":"12345"}"#;
    let r = one(LogFormat::named("bunny", None).unwrap(), bunny).unwrap();
    assert_eq!(
        (&*r.method, &*r.path, r.ts),
        ("GET", "/podcast/E.mp3", streamtally_model::parse_ts("2026-03-02T08:01:00Z").unwrap())
    );
    let custom = LogFormat::named("json", Some("ip=req.ip,time=ts,method=m,uri=u,status=s,bytes=b")).unwrap();
    let r = one(
        custom,
        r#"{"req":{"ip":"203.0.113.7"},"ts":1772438460,"m":"HEAD","u":"/a.mp3","s":"200","b":0}"#,
    )
    .unwrap();
    assert_eq!((&*r.method, r.ip.is_some()), ("HEAD", true));
    assert!(matches!(LogFormat::named("json", Some("colour=c")), Err(FormatError::BadMapping(_))));
    assert!(one(LogFormat::named("cloudflare", None).unwrap(), "[1,2]").is_err());
}

#[test]
fn ranges() {
    assert_eq!(parse_range("bytes=0-1"), Some((0, Some(1))));
    assert_eq!(parse_range("bytes=100-"), Some((100, None)));
    assert_eq!(parse_range("bytes=5-9, 20-30"), Some((5, Some(9))));
    assert_eq!(parse_range("items=1-2"), None);
    assert_eq!(parse_range("bytes=x-1"), None);
    assert_eq!(parse_range("bytes=9-5"), None, "the last byte before the first");
}

#[test]
fn the_last_value_and_the_time_are_read_without_searching_yet_as_before() {
    let f = LogFormat::named("combined", None).unwrap();
    // Apache escapes quotes inside values as `\"`, also at the very end of the line's last value.
    let r = one(
        f.clone(),
        r#"1.2.3.4 - - [02/Mar/2026:08:01:00 +0000] "GET /a.mp3 HTTP/1.1" 200 10 "-" "Agent \"x\"""#,
    )
    .unwrap();
    assert_eq!(r.user_agent.as_deref(), Some(r#"Agent "x""#));
    // A line cut inside its last value has no closing quote to find: the value is read as far as it goes.
    let cut = one(
        f.clone(),
        r#"1.2.3.4 - - [02/Mar/2026:08:01:00 +0000] "GET /a.mp3 HTTP/1.1" 200 10 "-" "Agent \""#,
    )
    .unwrap();
    assert!(cut.repaired);
    assert_eq!(cut.user_agent.as_deref(), Some(r#"Agent ""#));
    // A time that is not 26 bytes wide is still found by its closing literal (and then refused as a time).
    let e = one(f, r#"1.2.3.4 - - [2/Mar/2026:08:01:00] "GET /a.mp3 HTTP/1.1" 200 10 "-" "A""#).unwrap_err();
    assert!(e.0.contains("time"), "{e}");
}

#[test]
fn a_line_cut_off_in_its_user_agent_is_read_as_far_as_it_goes() {
    let cut = &LINE[..LINE.len() - 30];
    let r = one(LogFormat::named("combined", None).unwrap(), cut).unwrap();
    assert!(r.repaired);
    assert_eq!((r.status, r.bytes), (206, 1_000_000));
    assert!(
        r.user_agent.as_deref().unwrap().starts_with("Mozilla/5.0 (Windows NT 10.0"),
        "{:?}",
        r.user_agent
    );
    // A whole line is not a repair, and a line cut before its last field still fails.
    assert!(!one(LogFormat::named("combined", None).unwrap(), LINE).unwrap().repaired);
    assert!(one(LogFormat::named("combined", None).unwrap(), &LINE[..60]).is_err());
}
