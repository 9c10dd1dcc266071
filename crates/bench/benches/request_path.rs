//! Micro-benchmarks of the pure code on the request path (no I/O):
//! - `request_head/*`: a `RequestBuilder` turned into the head to send (URL checks, header
//!   merging, auto headers, cookies, body framing), through `aiohttp::bench_support`.
//! - `cookies/*`: `AbstractCookieJar::filter_cookies` with 1000 cookies in the jar, and a request
//!   head built by a session holding that jar.
//! - `redirect/*`: the decision taken on each response (follow or not, where to), through
//!   `aiohttp::bench_support`.
//!
//! Run with `cargo bench -p bench`; instruction counts are steadier than times on a noisy
//! machine: `valgrind --tool=callgrind target/release/deps/request_path-* --bench --profile-time 5`.

use std::hint::black_box;
use std::time::Duration;

use aiohttp::bench_support::{prepare_head, redirect_decision};
use aiohttp::{
    AbstractCookieJar, ClientSession, Cookie, CookieJar, HeaderValue, Method, StatusCode, Url,
};
use criterion::{criterion_group, criterion_main, Criterion};

const HOSTS: usize = 50;
const PER_HOST: usize = 20;

/// 1000 cookies: 20 on each of 50 hosts, on paths `/`, `/a`, `/a/b`, `/a/b/c` and `/x`.
fn jar_with_1000() -> CookieJar {
    // All 50 hosts are under example.com: the default cap of 50 cookies per site would keep
    // only 50 of the 1000.
    let jar = CookieJar::new().max_cookies_per_domain(HOSTS * PER_HOST);
    let paths = ["/", "/a", "/a/b", "/a/b/c", "/x"];
    for h in 0..HOSTS {
        let url = Url::parse(&format!("http://host{h}.example.com/")).expect("static url");
        let cookies: Vec<Cookie<'static>> = (0..PER_HOST)
            .map(|i| {
                Cookie::build((format!("c{i}"), format!("value-{h}-{i}")))
                    .path(paths[i % paths.len()])
                    .build()
            })
            .collect();
        jar.update_cookies(&cookies, Some(&url));
    }
    jar
}

fn request_head(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_head");
    let session = ClientSession::new();
    let url = Url::parse("http://127.0.0.1:8080/hello").expect("static url");
    g.bench_function("get_defaults", |b| {
        b.iter(|| prepare_head(black_box(session.get(&url))).expect("valid request"));
    });

    let merged = ClientSession::builder()
        .headers([
            ("X-Client", "bench"),
            ("X-Trace-Id", "0123456789abcdef"),
            ("Accept-Language", "en-GB,en;q=0.8"),
            ("Cache-Control", "no-cache"),
            ("X-Tenant", "acme"),
            ("X-Region", "eu-west"),
            ("X-Feature", "a"),
            ("X-Feature", "b"),
        ])
        .build()
        .expect("valid session");
    g.bench_function("merge_headers", |b| {
        b.iter(|| {
            let req = merged
                .get(&url)
                .header("X-Trace-Id", "fedcba9876543210")
                .header("X-Feature", "c")
                .header("X-Request", "1")
                .header("Authorization", "Bearer token");
            prepare_head(black_box(req)).expect("valid request")
        });
    });

    let body = aiohttp::Bytes::from(vec![b'x'; 1 << 20]);
    g.bench_function("post_bytes", |b| {
        b.iter(|| prepare_head(black_box(session.post(&url).data(body.clone()))).expect("valid"));
    });
    g.finish();
}

fn cookies(c: &mut Criterion) {
    let mut g = c.benchmark_group("cookies");
    let jar = jar_with_1000();
    assert_eq!(jar.len(), HOSTS * PER_HOST, "every cookie stored");
    let url = Url::parse("http://host7.example.com/a/b/c/page").expect("static url");
    let matched = jar.filter_cookies(&url).len();
    assert_eq!(matched, 16, "the cookies of host7 on /, /a, /a/b, /a/b/c");
    g.bench_function("filter_1000", |b| {
        b.iter(|| jar.filter_cookies(black_box(&url)));
    });
    let session = ClientSession::builder()
        .cookie_jar(jar_with_1000())
        .build()
        .expect("valid session");
    g.bench_function("request_head_with_1000_in_jar", |b| {
        b.iter(|| prepare_head(black_box(session.get(&url))).expect("valid request"));
    });
    g.finish();
}

fn redirect(c: &mut Criterion) {
    let mut g = c.benchmark_group("redirect");
    let url = Url::parse("http://api.example.com/v1/items?page=2").expect("static url");
    let get = Method::GET;
    let post = Method::POST;
    let relative = HeaderValue::from_static("/v1/items/next?page=3&sort=name");
    let cross = HeaderValue::from_static("https://login.example.org/auth?return=%2Fv1%2Fitems");
    let followed = |status, method, location| {
        redirect_decision(status, method, location, &url, 0)
            .expect("a valid Location")
            .is_some()
    };
    assert!(!followed(StatusCode::OK, &get, None));
    assert!(followed(StatusCode::FOUND, &get, Some(&relative)));
    assert!(followed(StatusCode::SEE_OTHER, &post, Some(&cross)));
    g.bench_function("final_200", |b| {
        b.iter(|| redirect_decision(StatusCode::OK, &get, None, black_box(&url), 0));
    });
    g.bench_function("302_relative", |b| {
        b.iter(|| {
            redirect_decision(
                StatusCode::FOUND,
                &get,
                Some(black_box(&relative)),
                black_box(&url),
                0,
            )
        });
    });
    g.bench_function("303_post_cross_origin", |b| {
        b.iter(|| {
            redirect_decision(
                StatusCode::SEE_OTHER,
                &post,
                Some(black_box(&cross)),
                black_box(&url),
                1,
            )
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = request_head, cookies, redirect
}
criterion_main!(benches);
