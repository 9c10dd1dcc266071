//! `aiohttp get|post|…`: one request, its response printed or downloaded.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiohttp::{
    BasicAuth, Body, ClientError, ClientResponse, ClientSession, ClientTimeout, CookieJar,
    FormData, TcpConnector, UnixConnector, Version,
};

use crate::args::{Pretty, RequestArgs};
use crate::exit;
use crate::items::{self, Item};
use crate::output::{self, Look};

/// Why the command stopped short: the exit status and one line to print.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: u8,
    /// The line (an aiohttp error names its class first).
    pub message: String,
}

impl Failure {
    /// A usage or input error (exit status 1).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::ERROR,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        Failure {
            code: exit::for_error(&e),
            message: e.to_string(),
        }
    }
}

/// The URL as given, with `http://` in front when it has no scheme.
pub fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Sends the request `args` describes with `method`, prints or saves what comes back, and
/// returns the exit status.
///
/// # Errors
/// The request could not be built or sent, the response not read, or a file not written.
pub async fn run(method: &str, args: RequestArgs) -> Result<u8, Failure> {
    let url = with_scheme(&args.url);
    let items = args
        .items
        .iter()
        .map(|w| items::parse(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::usage(e.to_string()))?;
    // Unsafe, as httpie's sessions: a command line talks to `localhost` and IP addresses
    // as often as to names, and their cookies are kept too.
    let jar = CookieJar::new().unsafe_(true);
    if let Some(path) = &args.session {
        if path.exists() {
            jar.load(path).map_err(|e| {
                Failure::usage(format!("cannot load the session {}: {e}", path.display()))
            })?;
        }
    }
    let session = session(&args, jar.clone())?;
    let resume_from = match (&args.output, args.resume) {
        (Some(path), true) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        _ => 0,
    };
    let mut req = session
        .request(method, url.as_str())
        .allow_redirects(!args.no_follow)
        .max_redirects(args.max_redirects);
    if let Some(auth) = &args.auth {
        let (user, pass) = auth.split_once(':').unwrap_or((auth.as_str(), ""));
        req = req.auth(BasicAuth::new(user, pass)?);
    }
    let mut query = Vec::new();
    let mut has_accept = false;
    for item in &items {
        match item {
            Item::Header(name, value) => {
                has_accept |= name.eq_ignore_ascii_case("accept");
                req = req.header(name.as_str(), value.as_str());
            }
            Item::Query(name, value) => query.push((name.clone(), value.clone())),
            _ => {}
        }
    }
    if !query.is_empty() {
        req = req.params(query);
    }
    match body(&args, &items).await? {
        Payload::None => {}
        Payload::Body(b) => req = req.data(b),
        Payload::Json(value) => {
            req = req.json(&value);
            if !has_accept {
                req = req.header("accept", "application/json, */*;q=0.5");
            }
        }
    }
    if resume_from > 0 {
        req = req.header("range", format!("bytes={resume_from}-"));
    }

    let started = Instant::now();
    let resp = tokio::select! {
        r = req => r?,
        _ = tokio::signal::ctrl_c() => {
            return Err(Failure { code: exit::INTERRUPTED, message: "interrupted".into() });
        }
    };
    let code = respond(&args, resp, resume_from, started).await;
    if let Some(path) = &args.session {
        jar.save(path).map_err(|e| {
            Failure::usage(format!("cannot save the session {}: {e}", path.display()))
        })?;
    }
    session.close().await;
    code
}

fn session(args: &RequestArgs, jar: CookieJar) -> Result<ClientSession, Failure> {
    let mut b = ClientSession::builder().cookie_jar(jar);
    if let Some(secs) = args.timeout {
        let total = Duration::try_from_secs_f64(secs)
            .map_err(|_| Failure::usage(format!("--timeout {secs}: not a duration")))?;
        b = b.timeout(ClientTimeout {
            total: Some(total),
            ..ClientTimeout::default()
        });
    }
    if let Some(proxy) = &args.proxy {
        b = b.proxy(proxy.as_str());
    }
    if args.http2 {
        b = b.version(Version::HTTP_2);
    }
    b = match &args.unix_socket {
        Some(path) => b.connector(UnixConnector::new(path)),
        None => b.connector(tcp_connector(args)?),
    };
    Ok(b.build()?)
}

fn tcp_connector(args: &RequestArgs) -> Result<TcpConnector, Failure> {
    let mut c = TcpConnector::builder();
    let custom = args.cacert.is_some() || args.http1;
    if custom && (args.no_verify || args.fingerprint.is_some()) {
        return Err(Failure::usage(
            "--cacert and --http1 verify certificates: they cannot go with --no-verify or \
             --fingerprint",
        ));
    }
    if args.no_verify {
        c = c.verify_ssl(false);
    }
    if let Some(hex) = &args.fingerprint {
        c = c.fingerprint(parse_hex(hex)?);
    }
    if custom {
        c = c.ssl_context(tls_config(args.cacert.as_deref(), args.http1)?);
    }
    Ok(c.build()?)
}

/// `AB:cd:…` or `abcd…` as bytes.
fn parse_hex(text: &str) -> Result<Vec<u8>, Failure> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    if digits.len() % 2 != 0 {
        return Err(Failure::usage(format!("--fingerprint {text}: not hex")));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| Failure::usage(format!("--fingerprint {text}: not hex")))
}

/// A TLS configuration trusting the certificates of `cacert` (else the system's, else
/// webpki's), offering `http/1.1` alone by ALPN when `http1`.
fn tls_config(cacert: Option<&Path>, http1: bool) -> Result<Arc<rustls::ClientConfig>, Failure> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match cacert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| Failure::usage(format!("--cacert {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Failure::usage(format!(
                    "--cacert {}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            if roots.is_empty() {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::usage(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if http1 {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

enum Payload {
    None,
    Body(Body),
    Json(serde_json::Value),
}

async fn body(args: &RequestArgs, items: &[Item]) -> Result<Payload, Failure> {
    let fields: Vec<&Item> = items
        .iter()
        .filter(|i| !matches!(i, Item::Header(..) | Item::Query(..)))
        .collect();
    if let Some(data) = &args.data {
        if !fields.is_empty() {
            return Err(Failure::usage(
                "--data and data fields (name=value, name@file) cannot be sent together",
            ));
        }
        return Ok(Payload::Body(match data.as_str() {
            "-" => Body::from_reader(tokio::io::stdin()),
            d => match d.strip_prefix('@') {
                Some(path) => Body::file(path).await?,
                None => Body::from(d.to_string()),
            },
        }));
    }
    if fields.is_empty() {
        return Ok(Payload::None);
    }
    let uploads = fields.iter().any(|i| matches!(i, Item::Upload(..)));
    if args.form || uploads {
        let mut form = FormData::new();
        for item in fields {
            match item {
                Item::Field(k, v) => {
                    form.add_field(k.as_str(), v.clone());
                }
                Item::FieldFile(k, path) => {
                    form.add_field(k.as_str(), read_text(path)?);
                }
                Item::Upload(k, path) => {
                    form.add_file(k.as_str(), path).await?;
                }
                Item::Json(k, _) | Item::JsonFile(k, _) => {
                    return Err(Failure::usage(format!(
                        "{k}:= is a raw JSON field: it needs a JSON body, not a form"
                    )));
                }
                Item::Header(..) | Item::Query(..) => {}
            }
        }
        return Ok(Payload::Body(Body::from(form)));
    }
    let mut map = serde_json::Map::new();
    for item in fields {
        match item {
            Item::Field(k, v) => {
                map.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            Item::FieldFile(k, path) => {
                map.insert(k.clone(), serde_json::Value::String(read_text(path)?));
            }
            Item::Json(k, v) => {
                map.insert(k.clone(), v.clone());
            }
            Item::JsonFile(k, path) => {
                let value = serde_json::from_str(&read_text(path)?)
                    .map_err(|e| Failure::usage(format!("{}: not JSON: {e}", path.display())))?;
                map.insert(k.clone(), value);
            }
            Item::Upload(..) | Item::Header(..) | Item::Query(..) => {}
        }
    }
    Ok(Payload::Json(serde_json::Value::Object(map)))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

fn version_text(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

/// Prints (or downloads) `resp` as `args` says; the exit status.
async fn respond(
    args: &RequestArgs,
    mut resp: ClientResponse,
    resume_from: u64,
    started: Instant,
) -> Result<u8, Failure> {
    let terminal = std::io::stdout().is_terminal();
    let look = match args.pretty {
        Pretty::Auto if terminal => Look {
            format: true,
            color: true,
        },
        Pretty::Auto | Pretty::None => Look::RAW,
        Pretty::All => Look {
            format: true,
            color: true,
        },
        Pretty::Format => Look {
            format: true,
            color: false,
        },
    };
    let status = resp.status().as_u16();
    let mut stdout = std::io::stdout().lock();
    let head = output::response_head(
        version_text(resp.version()),
        status,
        resp.reason(),
        resp.raw_headers(),
        look,
    );
    let io = |e: std::io::Error| Failure::usage(format!("cannot write the output: {e}"));
    if args.verbose {
        let info = resp.request_info();
        let url = info.real_url();
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_string(),
        };
        let mut headers = vec![("Host", host)];
        for (name, value) in info.headers() {
            if name != http::header::HOST {
                headers.push((
                    name.as_str(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                ));
            }
        }
        let text = output::request_head(
            info.method().as_str(),
            &target,
            version_text(resp.version()),
            headers,
            look,
        );
        stdout.write_all(text.as_bytes()).map_err(io)?;
    }
    let code = if args.check_status {
        exit::for_status(status)
    } else {
        exit::OK
    };
    if code != exit::OK && !terminal {
        eprintln!("aiohttp: warning: HTTP {status} {}", resp.reason());
    }
    // A download of an answer that is not the file (an error, a redirect not followed) is
    // not saved: its body is printed and the status says why (416 is the end of a resume).
    let not_the_file =
        args.download && !(200..300).contains(&status) && !(status == 416 && resume_from > 0);
    if not_the_file {
        eprint!("{head}");
        eprintln!("aiohttp: not downloaded: HTTP {status} {}", resp.reason());
        let bytes = resp.read().await?;
        stdout.write_all(&bytes).map_err(io)?;
        stdout.flush().map_err(io)?;
        return Ok(exit::for_status(status));
    }
    if args.download {
        eprint!("{head}");
        drop(stdout);
        return download(args, resp, resume_from, started)
            .await
            .map(|()| code);
    }
    if args.verbose || args.headers || terminal || look.format {
        stdout.write_all(head.as_bytes()).map_err(io)?;
    }
    if args.headers {
        resp.release().await;
        return Ok(code);
    }
    if look.format {
        let content_type = resp.content_type().to_string();
        let bytes = resp.read().await?;
        stdout
            .write_all(&output::body(&content_type, &bytes, look))
            .map_err(io)?;
    } else {
        let content = resp.content();
        // One listener for the whole body: a Ctrl-C between two reads is not lost.
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            let chunk = tokio::select! {
                c = content.readany() => c?,
                _ = &mut ctrl_c => {
                    return Err(Failure { code: exit::INTERRUPTED, message: "interrupted".into() });
                }
            };
            if chunk.is_empty() {
                break;
            }
            stdout.write_all(&chunk).map_err(io)?;
        }
    }
    stdout.flush().map_err(io)?;
    Ok(code)
}

/// The file a download goes to: `-o`, else the `Content-Disposition` file name, else the
/// URL's last path segment, else `index.html`; a name that exists gets `-1`, `-2`, … .
fn download_path(args: &RequestArgs, resp: &ClientResponse) -> PathBuf {
    if let Some(path) = &args.output {
        return path.clone();
    }
    let from_header = resp
        .headers()
        .get(http::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(disposition_filename);
    let from_url = resp
        .url()
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty());
    let name = from_header
        .or(from_url)
        .unwrap_or_else(|| "index.html".into());
    // Never a path: only the last component.
    let name = Path::new(&name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != "." && n != "..")
        .unwrap_or_else(|| "index.html".into());
    let mut path = PathBuf::from(&name);
    let mut n = 1;
    while path.exists() {
        path = PathBuf::from(format!("{name}-{n}"));
        n += 1;
    }
    path
}

/// `filename="…"` or `filename=…` of a `Content-Disposition` value.
pub fn disposition_filename(value: &str) -> Option<String> {
    value.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_string())
    })
}

async fn download(
    args: &RequestArgs,
    mut resp: ClientResponse,
    resume_from: u64,
    started: Instant,
) -> Result<(), Failure> {
    use tokio::io::AsyncWriteExt;
    let status = resp.status().as_u16();
    let path = download_path(args, &resp);
    let file_error = |e: std::io::Error| Failure::usage(format!("{}: {e}", path.display()));
    if resume_from > 0 && status == 416 {
        eprintln!(
            "{} is already complete ({resume_from} bytes)",
            path.display()
        );
        resp.release().await;
        return Ok(());
    }
    let appending = resume_from > 0 && status == 206;
    let mut file = if appending {
        tokio::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await
            .map_err(file_error)?
    } else {
        tokio::fs::File::create(&path).await.map_err(file_error)?
    };
    let start = if appending { resume_from } else { 0 };
    let length = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = match length {
        Some(n) => indicatif::ProgressBar::new(start + n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let template = if length.is_some() {
        "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} ETA {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec} {elapsed}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_position(start);
    let content = resp.content();
    let mut written = 0u64;
    // One listener for the whole body: a Ctrl-C between two reads is not lost.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let chunk = tokio::select! {
            c = content.readany() => c,
            _ = &mut ctrl_c => {
                file.flush().await.map_err(file_error)?;
                bar.abandon();
                return Err(Failure {
                    code: exit::INTERRUPTED,
                    message: format!(
                        "interrupted: {} bytes in {} (resume with -o {} --continue)",
                        start + written,
                        path.display(),
                        path.display()
                    ),
                });
            }
        };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = file.flush().await;
                bar.abandon();
                return Err(e.into());
            }
        };
        if chunk.is_empty() {
            break;
        }
        file.write_all(&chunk).await.map_err(file_error)?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    file.flush().await.map_err(file_error)?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    eprintln!(
        "Done: {} bytes to {} in {:.2} s ({:.2} MB/s)",
        start + written,
        path.display(),
        secs,
        written as f64 / secs / 1e6
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_added() {
        assert_eq!(with_scheme("localhost:8080/x"), "http://localhost:8080/x");
        assert_eq!(with_scheme("https://a/"), "https://a/");
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        assert_eq!(parse_hex("0aFF").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(parse_hex("0a:ff").unwrap(), vec![0x0a, 0xff]);
        assert!(parse_hex("0a:f").is_err());
        assert!(parse_hex("zz").is_err());
    }

    #[test]
    fn disposition_names() {
        for (value, want) in [
            ("attachment; filename=\"report.pdf\"", Some("report.pdf")),
            ("attachment; FILENAME=a.txt", Some("a.txt")),
            ("inline", None),
            ("attachment; filename=\"\"", None),
        ] {
            assert_eq!(disposition_filename(value).as_deref(), want, "{value}");
        }
    }
}
