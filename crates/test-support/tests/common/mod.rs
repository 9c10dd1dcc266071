//! A minimal HTTP/1.1 client over a plain `TcpStream` for these tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Bound for every step of a test client.
pub const STEP: Duration = Duration::from_secs(5);

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self {
            reader: BufReader::new(stream),
        }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let stream = self.reader.get_mut();
        tokio::time::timeout(STEP, stream.write_all(bytes.as_ref()))
            .await
            .expect("write timed out")
            .expect("write");
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
            .await;
        self.read_response().await
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(STEP, self.reader.read_line(&mut line))
            .await
            .expect("read timed out")
            .expect("read");
        line
    }

    /// Reads one response head (skipping 1xx responses if `skip_1xx`).
    pub async fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let status_line = self.line().await;
        assert!(
            status_line.starts_with("HTTP/1.1 "),
            "bad status line {status_line:?}"
        );
        let status: u16 = status_line[9..12].parse().expect("status code");
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            let line = line.trim_end_matches("\r\n");
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').expect("header line");
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        (status, headers)
    }

    /// Reads one full response (by Content-Length, chunked, or to EOF).
    pub async fn read_response(&mut self) -> Resp {
        let (status, headers) = self.read_head().await;
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if let Some(te) = resp.header("transfer-encoding") {
            assert!(te.eq_ignore_ascii_case("chunked"));
            loop {
                let size_line = self.line().await;
                let size = usize::from_str_radix(size_line.trim(), 16).expect("chunk size");
                if size == 0 {
                    assert_eq!(self.line().await, "\r\n");
                    break;
                }
                let mut chunk = vec![0; size + 2];
                tokio::time::timeout(STEP, self.reader.read_exact(&mut chunk))
                    .await
                    .expect("read timed out")
                    .expect("read chunk");
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(len) = resp.header("content-length") {
            let mut body = vec![0; len.parse().expect("content-length")];
            tokio::time::timeout(STEP, self.reader.read_exact(&mut body))
                .await
                .expect("read timed out")
                .expect("read body");
            resp.body = body;
        } else if status >= 200 && status != 204 && status != 304 {
            resp.body = self.read_to_end().await;
        }
        resp
    }

    /// Reads everything until the server closes.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        tokio::time::timeout(STEP, self.reader.read_to_end(&mut out))
            .await
            .expect("read to end timed out")
            .expect("read to end");
        out
    }

    /// Like `read_to_end`, but a reset counts as the end too.
    pub async fn read_until_closed(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(STEP, self.reader.read_to_end(&mut out))
            .await
            .expect("read to end timed out");
        out
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }
}
