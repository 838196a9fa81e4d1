//! The HTTP side of `--metrics`, sans-IO: what a request asks for (parsed by `httparse`) and
//! the head of the answer. Every response closes the connection. The exposition, written a
//! part at a time, goes to HTTP/1.1 clients in chunks, so that an answer cut short (the process
//! stopped, the connection cut) cannot pass for a whole one; to HTTP/1.0 clients it ends with
//! the connection.

use core::fmt::Write as _;

/// Most header lines a request may have (a scraper sends about five).
const MAX_HEADERS: usize = 32;

/// What a complete request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics`: the exposition.
    Metrics,
    /// `GET /`: a short page that links to it.
    Index,
    /// An error, answered with a short text body.
    Error(Status),
}

/// A parsed request: its route, whether the body is left out (`HEAD`), and whether the client
/// speaks HTTP/1.1 (chunks) or 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// What it asks for.
    pub route: Route,
    /// `HEAD`: the head only.
    pub head_only: bool,
    /// HTTP/1.1: a body of unknown length goes in chunks.
    pub http11: bool,
}

/// An error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 400: not HTTP/1.x.
    BadRequest,
    /// 404: another path.
    NotFound,
    /// 405: another method than GET or HEAD.
    MethodNotAllowed,
    /// 431: the request head is larger than the buffer, or has too many lines.
    TooLarge,
    /// 503: every connection slot is taken.
    Busy,
}

impl Status {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::TooLarge => 431,
            Status::Busy => 503,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::TooLarge => "Request Header Fields Too Large",
            Status::Busy => "Service Unavailable",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Status::BadRequest => "not an HTTP/1.x request\n",
            Status::NotFound => "not found: the metrics are at /metrics\n",
            Status::MethodNotAllowed => "only GET and HEAD\n",
            Status::TooLarge => "request head too large\n",
            Status::Busy => "too many connections at once: try again\n",
        }
    }
}

/// Parses the bytes received so far. `None`: the head is not complete yet (and there is room
/// for more: `full` says the buffer is full, which is an answer of its own).
pub fn parse(bytes: &[u8], full: bool) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let error = |s| {
        Some(Request {
            route: Route::Error(s),
            head_only: false,
            http11: false,
        })
    };
    match req.parse(bytes) {
        Ok(httparse::Status::Partial) if full => error(Status::TooLarge),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => error(Status::TooLarge),
        Err(_) => error(Status::BadRequest),
        Ok(httparse::Status::Complete(_)) => {
            let head_only = match req.method {
                Some("GET") => false,
                Some("HEAD") => true,
                _ => return error(Status::MethodNotAllowed),
            };
            let path = req.path.unwrap_or("");
            // The absolute form (`GET http://host:9464/metrics`, as proxies send it).
            let path = match path
                .strip_prefix("http://")
                .or(path.strip_prefix("https://"))
            {
                Some(rest) => rest.find('/').map_or("/", |k| &rest[k..]),
                None => path,
            };
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            let route = match path {
                "/metrics" => Route::Metrics,
                "/" => Route::Index,
                _ => Route::Error(Status::NotFound),
            };
            Some(Request {
                route,
                head_only,
                http11: req.version == Some(1),
            })
        }
    }
}

/// The content type of the exposition.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The page at `/`.
pub const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>peerlab</title></head><body>\n<h1>peerlab</h1>\n<p><a href=\"/metrics\">Metrics</a> (Prometheus text format)</p>\n</body></html>\n";

/// The head of the answer to `route`, and its body (`None` for the exposition, which is written
/// in parts after the head, in chunks if `chunked`), into `buf`.
pub fn answer(
    route: Route,
    chunked: bool,
    buf: &mut heapless::String<256>,
) -> Option<&'static str> {
    buf.clear();
    let (code, reason, ctype, body) = match route {
        Route::Metrics => (200, "OK", METRICS_TYPE, None),
        Route::Index => (200, "OK", "text/html; charset=utf-8", Some(INDEX)),
        Route::Error(s) => (
            s.code(),
            s.reason(),
            "text/plain; charset=utf-8",
            Some(s.body()),
        ),
    };
    // Cannot fail: the longest head is well under 256 bytes.
    let _ = write!(buf, "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n");
    match body {
        Some(b) => {
            let _ = write!(buf, "Content-Length: {}\r\n", b.len());
        }
        None if chunked => {
            let _ = buf.push_str("Transfer-Encoding: chunked\r\n");
        }
        None => {}
    }
    if route == Route::Error(Status::MethodNotAllowed) {
        let _ = buf.push_str("Allow: GET, HEAD\r\n");
    }
    let _ = buf.push_str("Connection: close\r\n\r\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(bytes: &[u8]) -> Option<Route> {
        parse(bytes, false).map(|r| r.route)
    }

    #[test]
    fn routes_what_a_scraper_and_a_browser_ask() {
        let prometheus = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
        assert_eq!(route(prometheus), Some(Route::Metrics));
        assert_eq!(
            route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Some(Route::Metrics)
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Some(Route::Index));
        let proxy = b"GET http://127.0.0.1:9464/metrics HTTP/1.1\r\n\r\n";
        assert_eq!(route(proxy), Some(Route::Metrics));
        assert_eq!(route(b"GET http://h HTTP/1.1\r\n\r\n"), Some(Route::Index));
        assert!(
            parse(b"GET /metrics HTTP/1.1\r\n\r\n", false)
                .unwrap()
                .http11
        );
        assert!(
            !parse(b"GET /metrics HTTP/1.0\r\n\r\n", false)
                .unwrap()
                .http11
        );
        let head = parse(b"HEAD /metrics HTTP/1.1\r\n\r\n", false).unwrap();
        assert!(head.head_only && head.route == Route::Metrics);
    }

    #[test]
    fn anything_else_gets_its_status() {
        let e = |s| Some(Route::Error(s));
        assert_eq!(route(b"GET /x HTTP/1.1\r\n\r\n"), e(Status::NotFound));
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            e(Status::MethodNotAllowed)
        );
        assert_eq!(
            route(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"),
            e(Status::BadRequest)
        );
        assert_eq!(
            route(b"GET /metrics HTTP/2.0\r\n\r\n"),
            e(Status::BadRequest)
        );
        let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
        let req = format!("GET /metrics HTTP/1.1\r\n{many}\r\n");
        assert_eq!(route(req.as_bytes()), e(Status::TooLarge));
    }

    #[test]
    fn a_partial_head_waits_unless_the_buffer_is_full() {
        assert_eq!(parse(b"GET /metr", false), None);
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", false), None);
        let full = parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", true).map(|r| r.route);
        assert_eq!(full, Some(Route::Error(Status::TooLarge)));
    }

    #[test]
    fn heads_say_the_length_of_fixed_bodies_and_close() {
        let mut h = heapless::String::new();
        let body = answer(Route::Error(Status::MethodNotAllowed), true, &mut h).unwrap();
        assert!(h.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(h.contains("Allow: GET, HEAD\r\n"));
        assert!(h.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(h.ends_with("Connection: close\r\n\r\n"));
        assert_eq!(answer(Route::Metrics, false, &mut h), None);
        assert!(h.contains(METRICS_TYPE) && !h.contains("Content-Length"));
        assert!(!h.contains("chunked"));
        assert_eq!(answer(Route::Metrics, true, &mut h), None);
        assert!(h.contains("Transfer-Encoding: chunked\r\n"));
    }
}
