//! Scraping `/metrics` as Prometheus does: a plain HTTP GET, and the text
//! format read back into samples.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP response: status, content type and body.
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// `GET path` with a bare TCP stream: what a scraper does, with nothing
/// between the test and the endpoint.
pub async fn http_get(address: SocketAddr, path: &str) -> HttpAnswer {
    let mut stream = TcpStream::connect(address)
        .await
        .expect("connect to the metrics endpoint");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut raw))
        .await
        .expect("the endpoint answers within 10 s")
        .expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("a status line");
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    HttpAnswer {
        status,
        content_type,
        body: body.to_owned(),
    }
}

/// A sample's labels, by name.
type Labels = BTreeMap<String, String>;

/// Label pairs a sample must carry.
pub type Wanted<'a> = &'a [(&'a str, &'a str)];

/// The samples of a scrape, by metric name and then by label set.
pub struct Scrape(pub BTreeMap<String, Vec<(Labels, f64)>>);

impl Scrape {
    pub async fn of(address: SocketAddr) -> Scrape {
        let answer = http_get(address, "/metrics").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer.content_type.starts_with("text/plain; version=0.0.4"),
            "{}",
            answer.content_type
        );
        Scrape::parse(&answer.body)
    }

    /// Reads the text format: `name{label="value",…} number` lines.
    fn parse(text: &str) -> Scrape {
        let mut samples: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a sample value: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key.to_owned(), value.trim_matches('"').to_owned()))
                })
                .collect();
            samples
                .entry(name.to_owned())
                .or_default()
                .push((labels, value));
        }
        Scrape(samples)
    }

    /// The sample of `name` whose labels include `labels`; 0 when none
    /// has been recorded (a counter is born at its first increment).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let matching: Vec<f64> = self
            .0
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(have, _)| {
                labels
                    .iter()
                    .all(|(key, value)| have.get(*key).map(String::as_str) == Some(*value))
            })
            .map(|(_, value)| *value)
            .collect();
        assert!(
            matching.len() <= 1,
            "{name} {labels:?} matches {} samples",
            matching.len()
        );
        matching.first().copied().unwrap_or(0.0)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}
