//! `FormData` as the server receives it (checked byte for byte and parsed by the `multer`
//! crate), and `MultipartReader` over multipart responses from local servers: split at awkward
//! places, streamed, malformed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiohttp::{Body, Bytes, ClientSession, FormData, FormField, MultipartReader};
use http_body_util::BodyExt;
use test_support::{body_channel, full, HttpServer, RawServer};
use tokio::sync::mpsc;
use tokio::time::timeout;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const WAIT: Duration = Duration::from_secs(20);

/// One part as a server-side parser sees it.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// Parses a `multipart/form-data` body with `multer`, independently of this crate.
async fn parse_with_multer(content_type: &str, body: Vec<u8>) -> Vec<Parsed> {
    let boundary = multer::parse_boundary(content_type).expect("a boundary multer accepts");
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))]);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .expect("multer parses the body")
    {
        let name = field.name().map(str::to_string);
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.expect("field bytes").to_vec();
        out.push(Parsed {
            name,
            filename,
            content_type,
            data,
        });
    }
    out
}

fn parsed(name: &str, filename: Option<&str>, content_type: &str, data: &[u8]) -> Parsed {
    Parsed {
        name: Some(name.to_string()),
        filename: filename.map(str::to_string),
        content_type: Some(content_type.to_string()),
        data: data.to_vec(),
    }
}

fn boundary_of(content_type: &str) -> String {
    content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart/form-data with a boundary")
        .to_string()
}

#[tokio::test]
async fn known_size_form_is_sent_with_content_length_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tmp dir");
    let path = dir.path().join("data file.bin");
    let file_bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &file_bytes).expect("write file");

    let server = RawServer::reply(OK).await;
    let session = ClientSession::new();
    let mut form = FormData::new();
    form.add_field("title", "été report")
        .add_part(FormField::new("raw", vec![0u8, 13, 10, 255]).filename("raw.bin"));
    form.add_file("doc", &path).await.expect("file opens");
    let resp = timeout(WAIT, session.post(server.url("/upload")).data(form))
        .await
        .expect("in time")
        .expect("sent");
    assert_eq!(resp.status(), 200);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert!(!req.chunked, "a form of known size is not chunked");
    let ct = req
        .header("content-type")
        .expect("content type")
        .to_string();
    let b = boundary_of(&ct);
    assert_eq!(b.len(), 32);
    let mut want = Vec::new();
    want.extend_from_slice(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nété report\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"raw\"; filename=\"raw.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    want.extend_from_slice(&[0, 13, 10, 255]);
    want.extend_from_slice(
        format!(
            "\r\n--{b}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"data file.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    want.extend_from_slice(&file_bytes);
    want.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    assert_eq!(req.body, want, "the body, byte for byte");
    assert_eq!(
        req.header("content-length"),
        Some(want.len().to_string().as_str())
    );

    let parts = parse_with_multer(&ct, req.body.clone()).await;
    assert_eq!(
        parts,
        [
            parsed(
                "title",
                None,
                "text/plain; charset=utf-8",
                "été report".as_bytes()
            ),
            parsed(
                "raw",
                Some("raw.bin"),
                "application/octet-stream",
                &[0, 13, 10, 255]
            ),
            parsed(
                "doc",
                Some("data file.bin"),
                "application/octet-stream",
                &file_bytes
            ),
        ]
    );
}

#[tokio::test]
async fn streamed_part_is_sent_chunked_while_it_is_produced() {
    // The server reports each body frame as it arrives, and the headers first.
    let (frames_tx, mut frames_rx) = mpsc::unbounded_channel::<Option<Bytes>>();
    let (head_tx, mut head_rx) = mpsc::unbounded_channel::<http::HeaderMap>();
    let server = HttpServer::start(move |req| {
        let frames_tx = frames_tx.clone();
        let head_tx = head_tx.clone();
        async move {
            let _ = head_tx.send(req.headers().clone());
            let mut body = req.into_body();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    let _ = frames_tx.send(Some(data));
                }
            }
            let _ = frames_tx.send(None);
            http::Response::new(full("ok"))
        }
    })
    .await;

    // An AsyncRead that yields what the test feeds it, piece by piece.
    let (piece_tx, piece_rx) = mpsc::channel::<Bytes>(1);
    let pieces = futures_util::stream::unfold(piece_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let reader = tokio_util::io::StreamReader::new(pieces);
    let mut form = FormData::new();
    form.add_field("title", "streaming").add_part(
        FormField::new("upload", Body::from_reader(reader))
            .filename("big.bin")
            .content_type("application/x-test"),
    );
    let session = ClientSession::new();
    let url = server.url("/up");
    let request = tokio::spawn(async move { session.post(url).data(form).await });

    let head = timeout(WAIT, head_rx.recv())
        .await
        .expect("head in time")
        .expect("head");
    assert_eq!(head["transfer-encoding"], "chunked");
    assert!(head.get("content-length").is_none());
    let ct = head["content-type"].to_str().expect("ascii").to_string();

    let one = Bytes::from("PIECE-ONE|".repeat(5000) + "END-ONE");
    let two = Bytes::from("piece-two|".repeat(3000));
    piece_tx.send(one.clone()).await.expect("reader alive");
    // The first piece reaches the server before the second exists: nothing waits for the whole
    // part (a client that buffered it would never send, and this would time out).
    let mut received = Vec::new();
    while !received.ends_with(b"END-ONE") {
        let frame = timeout(WAIT, frames_rx.recv())
            .await
            .expect("first piece streamed in time")
            .expect("server alive")
            .expect("body not over yet");
        received.extend_from_slice(&frame);
    }
    piece_tx.send(two.clone()).await.expect("reader alive");
    drop(piece_tx);
    while let Some(frame) = timeout(WAIT, frames_rx.recv())
        .await
        .expect("rest in time")
        .expect("server alive")
    {
        received.extend_from_slice(&frame);
    }
    let resp = timeout(WAIT, request)
        .await
        .expect("response in time")
        .expect("task")
        .expect("sent");
    assert_eq!(resp.status(), 200);

    let b = boundary_of(&ct);
    let mut want = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nstreaming\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big.bin\"\r\n\
         Content-Type: application/x-test\r\n\r\n"
    )
    .into_bytes();
    want.extend_from_slice(&one);
    want.extend_from_slice(&two);
    want.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    assert_eq!(received, want);
    let mut content = one.to_vec();
    content.extend_from_slice(&two);
    assert_eq!(
        parse_with_multer(&ct, received).await,
        [
            parsed("title", None, "text/plain; charset=utf-8", b"streaming"),
            parsed("upload", Some("big.bin"), "application/x-test", &content),
        ]
    );
    server.check();
}

#[tokio::test]
async fn plain_text_fields_are_urlencoded() {
    let server = RawServer::reply(OK).await;
    let session = ClientSession::new();
    let mut form = FormData::new();
    form.add_field("a", "1")
        .add_field("b", "x y&z")
        .add_field("a", "2");
    session
        .post(server.url("/"))
        .data(form)
        .await
        .expect("sent");
    let req = &server.requests()[0];
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.body_str(), "a=1&b=x+y%26z&a=2");
    assert_eq!(req.header("content-length"), Some("17"));
}

#[tokio::test]
async fn names_and_filenames_cannot_inject_part_headers() {
    let server = RawServer::reply(OK).await;
    let session = ClientSession::new();
    let name = "evil\"\r\nContent-Type: text/evil\r\n\r\nX";
    let filename = "a.txt\"; name=\"other\r\n";
    let mut form = FormData::new();
    form.add_part(FormField::new(name, "value").filename(filename));
    session
        .post(server.url("/"))
        .data(form)
        .await
        .expect("sent");
    let req = &server.requests()[0];
    let ct = req.header("content-type").expect("ct").to_string();
    let body = req.body_str();
    assert!(!body.contains("text/evil\r\n"), "{body}");
    // One Content-Disposition line and one Content-Type line, nothing else.
    assert_eq!(body.matches("\r\nContent-Type: ").count(), 1, "{body}");
    assert_eq!(
        parse_with_multer(&ct, req.body.clone()).await,
        [parsed(
            "evil%22%0D%0AContent-Type: text/evil%0D%0A%0D%0AX",
            Some("a.txt%22; name=%22other%0D%0A"),
            "text/plain; charset=utf-8",
            b"value",
        )]
    );
}

#[tokio::test]
async fn a_streamed_form_sent_twice_fails_before_sending() {
    let server = RawServer::reply(OK).await;
    let session = ClientSession::new();
    let mut form = FormData::new();
    form.add_field("s", Body::from_reader(&b"streamed"[..]));
    session
        .post(server.url("/"))
        .data(&form)
        .await
        .expect("first send");
    let err = session
        .post(server.url("/"))
        .data(&form)
        .await
        .expect_err("second send");
    assert!(err.is_invalid_argument(), "{err}");
    assert!(err.message().contains("processed already"), "{err}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "nothing sent the second time");
    assert!(reqs[0].body_str().contains("\r\n\r\nstreamed\r\n"));

    // A form held in memory can be sent again.
    let mut form = FormData::multipart();
    form.add_field("m", "memory");
    for _ in 0..2 {
        session
            .post(server.url("/"))
            .data(&form)
            .await
            .expect("send");
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].body_str().contains("\r\n\r\nmemory\r\n"));
}

/// (path, content type, body) of a request.
type Seen = (String, String, Vec<u8>);

#[tokio::test]
async fn an_in_memory_form_is_sent_again_on_307() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let server = HttpServer::start(move |req| {
        let record = record.clone();
        async move {
            let path = req.uri().path().to_string();
            let ct = req
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec());
            record.lock().unwrap_or_else(|e| e.into_inner()).push((
                path.clone(),
                ct,
                body.unwrap_or_default(),
            ));
            if path == "/first" {
                http::Response::builder()
                    .status(307)
                    .header("location", "/second")
                    .body(full(""))
                    .unwrap_or_else(|_| http::Response::new(full("")))
            } else {
                http::Response::new(full("ok"))
            }
        }
    })
    .await;
    let mut form = FormData::new();
    form.add_part(FormField::new("f", "content").filename("f.txt"));
    let resp = ClientSession::new()
        .post(server.url("/first"))
        .data(form)
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, "/first");
    assert_eq!(seen[1].0, "/second");
    assert_eq!(seen[0].1, seen[1].1, "same boundary");
    assert_eq!(seen[0].2, seen[1].2, "same body");
    assert_eq!(
        parse_with_multer(&seen[1].1, seen[1].2.clone()).await,
        [parsed(
            "f",
            Some("f.txt"),
            "text/plain; charset=utf-8",
            b"content"
        )]
    );
    server.check();
}

// ---- MultipartReader ----

/// A multipart body whose contents hold beginnings of its delimiter, binary bytes and an
/// RFC 5987 file name; with a preamble and an epilogue.
fn mixed_body() -> (Vec<u8>, Vec<u8>) {
    let binary: Vec<u8> = (0..20_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let mut body = b"This is the preamble.\r\n--sep x\r\n\
        Content-Disposition: form-data; name=\"text\"\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\n\
        hello\r\n--sep y\r\n--sep\r\n\
        --sep x\r\n\
        Content-Disposition: attachment; filename=\"plain.bin\"; filename*=UTF-8''%E2%82%AC.bin\r\n\
        Content-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    body.extend_from_slice(&binary);
    body.extend_from_slice(b"\r\n--sep x--\r\nepilogue\r\n");
    (body, binary)
}

async fn check_mixed(mut reader: MultipartReader, size: usize, binary: &[u8]) {
    let mut part = reader.next_part().await.expect("first").expect("a part");
    assert_eq!(part.name().as_deref(), Some("text"));
    assert_eq!(part.filename(), None);
    let mut text = Vec::new();
    loop {
        let c = part.read_chunk(size).await.expect("chunk");
        if c.is_empty() {
            break;
        }
        text.extend_from_slice(&c);
    }
    assert_eq!(text, b"hello\r\n--sep y\r\n--sep");
    drop(part);
    let mut part = reader.next_part().await.expect("second").expect("a part");
    assert_eq!(part.filename().as_deref(), Some("€.bin"));
    assert_eq!(part.headers()["content-type"], "application/octet-stream");
    assert_eq!(part.read().await.expect("bytes"), binary);
    drop(part);
    assert!(reader.next_part().await.expect("end").is_none());
    assert!(reader.at_eof());
}

#[tokio::test]
async fn reader_parses_parts_split_at_awkward_places() {
    let (body, binary) = mixed_body();
    for cut in [1usize, 2, 7, 4096] {
        let body = body.clone();
        let server = RawServer::start(move |mut conn| {
            let body = body.clone();
            async move {
                while conn.read_request().await.is_some() {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=\"sep x\"\r\n\
                         Content-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if conn.write(head).await.is_err() {
                        return;
                    }
                    // Small pieces only around the parts' heads, so the test stays quick.
                    let (slow, fast) = body.split_at(400);
                    if conn
                        .write_slowly(slow, cut, Duration::from_millis(1))
                        .await
                        .is_err()
                        || conn.write(fast).await.is_err()
                    {
                        return;
                    }
                }
            }
        })
        .await;
        let session = ClientSession::new();
        for size in [1usize, 5, 65536] {
            let resp = timeout(WAIT, session.get(server.url("/")))
                .await
                .expect("in time")
                .expect("response");
            let reader = MultipartReader::from_response(resp).expect("multipart");
            timeout(WAIT, check_mixed(reader, size, &binary))
                .await
                .expect("read in time");
        }
        // The epilogue was drained with the body, so the connection was reused.
        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);
        assert!(
            reqs.iter().all(|r| r.connection == 0),
            "cut {cut}: {reqs:?}"
        );
        server.check();
    }
}

#[tokio::test]
async fn reader_parses_a_chunked_body_cut_inside_delimiters() {
    let (body, binary) = mixed_body();
    // Transfer-encoding chunks that end inside each delimiter.
    let finder = memchr::memmem::Finder::new(b"\r\n--sep x");
    let mut cuts: Vec<usize> = finder
        .find_iter(&body)
        .flat_map(|at| [at + 1, at + 4, at + 8])
        .collect();
    cuts.push(body.len());
    let mut wire = b"HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=\"sep x\"\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut start = 0;
    let mut pieces = Vec::new();
    for end in cuts {
        let chunk = &body[start..end];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        pieces.push(framed);
        start = end;
    }
    pieces.push(b"0\r\n\r\n".to_vec());
    wire.extend_from_slice(&pieces.remove(0));
    let server = RawServer::start(move |mut conn| {
        let wire = wire.clone();
        let pieces = pieces.clone();
        async move {
            if conn.read_request().await.is_none() || conn.write(&wire).await.is_err() {
                return;
            }
            for p in pieces {
                conn.sleep(Duration::from_millis(5)).await;
                if conn.write(&p).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let resp = timeout(WAIT, ClientSession::new().get(server.url("/")))
        .await
        .expect("in time")
        .expect("response");
    let reader = MultipartReader::from_response(resp).expect("multipart");
    timeout(WAIT, check_mixed(reader, 3, &binary))
        .await
        .expect("read in time");
    server.check();
}

#[tokio::test]
async fn reader_hands_out_a_part_before_the_body_has_arrived() {
    let (tx_out, mut tx_in) = mpsc::unbounded_channel();
    let server = HttpServer::start(move |_req| {
        let tx_out = tx_out.clone();
        async move {
            let (tx, body) = body_channel(4);
            let _ = tx_out.send(tx);
            http::Response::builder()
                .header("content-type", "multipart/form-data; boundary=b")
                .body(body)
                .unwrap_or_else(|_| http::Response::new(full("")))
        }
    })
    .await;
    let resp = timeout(WAIT, ClientSession::new().get(server.url("/")))
        .await
        .expect("in time")
        .expect("response");
    let tx = timeout(WAIT, tx_in.recv())
        .await
        .expect("in time")
        .expect("sender");
    let mut reader = MultipartReader::from_response(resp).expect("multipart");
    tx.send(Bytes::from_static(
        b"--b\r\nContent-Disposition: form-data; name=\"big\"\r\n\r\n",
    ))
    .await
    .expect("client reading");
    tx.send(Bytes::from(vec![b'x'; 100_000]))
        .await
        .expect("client reading");
    let mut part = timeout(WAIT, reader.next_part())
        .await
        .expect("part in time")
        .expect("ok")
        .expect("a part");
    assert_eq!(part.name().as_deref(), Some("big"));
    // The first bytes come before the rest of the part has been sent.
    let mut got = 0;
    while got < 100_000 {
        let c = timeout(WAIT, part.read_chunk(8192))
            .await
            .expect("chunk in time")
            .expect("ok");
        assert!(!c.is_empty() && c.iter().all(|&b| b == b'x'));
        got += c.len();
    }
    assert_eq!(got, 100_000, "not a byte of the delimiter handed out early");
    for _ in 0..50 {
        tx.send(Bytes::from(vec![b'y'; 100_000]))
            .await
            .expect("client reading");
    }
    tx.send(Bytes::from_static(b"\r\n--b--\r\n"))
        .await
        .expect("client reading");
    drop(tx);
    let mut rest = 0;
    loop {
        let c = timeout(WAIT, part.read_chunk(65536))
            .await
            .expect("chunk in time")
            .expect("ok");
        if c.is_empty() {
            break;
        }
        rest += c.len();
    }
    assert_eq!(rest, 5_000_000);
    drop(part);
    assert!(timeout(WAIT, reader.next_part())
        .await
        .expect("in time")
        .expect("ok")
        .is_none());
    server.check();
}

#[tokio::test]
async fn malformed_multipart_responses_are_typed_errors() {
    // (what, response, expected error kind test, message part) for errors while reading.
    let long_header = format!(
        "--b\r\nX-Long: {}\r\n\r\nx\r\n--b--\r\n",
        "a".repeat(10_000)
    );
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "boundary never found",
            "no delimiter in here\r\n".to_string(),
            "could not find starting boundary",
        ),
        (
            "no close delimiter",
            "--b\r\n\r\nunfinished part".to_string(),
            "ends inside a part",
        ),
        ("oversized header line", long_header, "too long"),
        (
            "header without colon",
            "--b\r\nnot a header\r\n\r\nx\r\n--b--".to_string(),
            "no colon",
        ),
        (
            "bad delimiter line",
            "--b\r\n\r\nx\r\n--b!!\r\n".to_string(),
            "invalid multipart boundary line",
        ),
    ];
    for (what, body, message) in cases {
        let server = RawServer::reply(format!(
            "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await;
        let resp = timeout(WAIT, ClientSession::new().get(server.url("/")))
            .await
            .expect("in time")
            .expect("response");
        let mut reader = MultipartReader::from_response(resp).expect("multipart");
        let err = timeout(WAIT, async {
            loop {
                match reader.next_part().await {
                    Ok(Some(mut part)) => {
                        if let Err(e) = part.read().await {
                            return e;
                        }
                    }
                    Ok(None) => panic!("{what}: read to the end without an error"),
                    Err(e) => return e,
                }
            }
        })
        .await
        .expect("no hang");
        assert!(err.is_client_payload_error(), "{what}: {err}");
        assert!(err.message().contains(message), "{what}: {err}");
    }

    // A body cut off by the server (fewer bytes than its Content-Length, then a close).
    let server = RawServer::reply_once_and_close(
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: 500\r\n\r\n--b\r\n\r\nshort",
    )
    .await;
    let resp = timeout(WAIT, ClientSession::new().get(server.url("/")))
        .await
        .expect("in time")
        .expect("response");
    let mut reader = MultipartReader::from_response(resp).expect("multipart");
    let err = timeout(WAIT, async {
        let mut part = reader.next_part().await?.expect("a part");
        part.read().await.map(|_| ())
    })
    .await
    .expect("no hang")
    .expect_err("truncated");
    assert!(err.is_client_payload_error(), "{err}");

    // Content types that are not multipart with a boundary.
    for ct in [
        "multipart/mixed",
        "text/plain; boundary=b",
        "multipart/mixed; boundary=\"\"",
    ] {
        let server = RawServer::reply(format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: 0\r\n\r\n"
        ))
        .await;
        let resp = timeout(WAIT, ClientSession::new().get(server.url("/")))
            .await
            .expect("in time")
            .expect("response");
        let err = MultipartReader::from_response(resp).expect_err(ct);
        assert!(err.is_content_type_error(), "{ct}: {err}");
        assert!(err.is_client_response_error(), "{ct}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(200), "{ct}");
    }
}

#[tokio::test]
async fn a_form_read_back_with_the_reader_round_trips() {
    // What FormData writes, MultipartReader reads back (served by an echo of the raw body).
    let server = HttpServer::start(|req| async move {
        let ct = req
            .headers()
            .get("content-type")
            .cloned()
            .unwrap_or_else(|| http::HeaderValue::from_static("text/plain"));
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut resp = http::Response::new(full(body));
        resp.headers_mut().insert("content-type", ct);
        resp
    })
    .await;
    let mut form = FormData::new();
    form.add_field("plain", "text")
        .add_part(FormField::new("q\"uoted", vec![1u8, 2, 3]).filename("résumé.pdf"));
    form.add_field(
        "stream",
        Body::wrap_stream(futures_util::stream::iter(
            ["a", "b", "c"].map(Ok::<_, std::io::Error>),
        )),
    );
    let resp = timeout(WAIT, ClientSession::new().post(server.url("/")).data(form))
        .await
        .expect("in time")
        .expect("sent");
    let mut reader = MultipartReader::from_response(resp).expect("multipart");
    let mut got = Vec::new();
    while let Some(mut part) = reader.next_part().await.expect("ok") {
        got.push((
            part.name(),
            part.filename(),
            part.read().await.expect("read").to_vec(),
        ));
    }
    assert_eq!(
        got,
        [
            (Some("plain".into()), None, b"text".to_vec()),
            (
                Some("q%22uoted".into()),
                Some("résumé.pdf".into()),
                vec![1, 2, 3]
            ),
            (Some("stream".into()), None, b"abc".to_vec()),
        ]
    );
    server.check();
}
