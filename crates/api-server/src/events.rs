//! `GET /events`: the query (`since`, `until`, `filters`) parsed into
//! [`EventsOptions`], Docker's event filter semantics, and the streamed answer
//! (one JSON message per line).

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use engine_types::events::{EventMessage, EventType};

use crate::backend::Filters;
use crate::error::ApiError;
use crate::query::Query;
use crate::AppState;

/// Filter keys `GET /events` accepts (moby `daemon/events/filter.go`).
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Which events a subscriber wants, as Docker matches them: values of one key
/// are alternatives, keys must all match; a key that is absent matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    by_key: HashMap<String, Vec<String>>,
}

impl EventFilter {
    /// Validates the keys (an unknown key is a 400, as on dockerd) and the
    /// values of `type` and `scope`.
    pub fn parse(filters: Filters) -> Result<Self, ApiError> {
        for (k, values) in &filters {
            if !KEYS.contains(&k.as_str()) {
                return Err(ApiError::invalid(format!("invalid filter '{k}'")));
            }
            for v in values {
                let ok = match k.as_str() {
                    "type" => serde_json::from_value::<EventType>(serde_json::json!(v)).is_ok(),
                    "scope" => v == "local" || v == "swarm",
                    _ => true,
                };
                if !ok {
                    return Err(ApiError::invalid(format!("invalid filter '{k}={v}'")));
                }
            }
        }
        Ok(Self {
            by_key: filters.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
        })
    }

    fn values(&self, key: &str) -> Option<&[String]> {
        self.by_key.get(key).map(Vec::as_slice)
    }

    /// True when one of the key's values equals one of `candidates`, or the key
    /// is absent.
    fn exact(&self, key: &str, candidates: &[&str]) -> bool {
        self.values(key).is_none_or(|vs| {
            vs.iter()
                .any(|v| candidates.iter().any(|c| !c.is_empty() && c == v))
        })
    }

    /// Like `exact`, but a value may also be a prefix of a candidate (ids).
    fn fuzzy(&self, key: &str, candidates: &[&str]) -> bool {
        self.values(key).is_none_or(|vs| {
            vs.iter().any(|v| {
                candidates
                    .iter()
                    .any(|c| !c.is_empty() && (c == v || c.starts_with(v.as_str())))
            })
        })
    }

    /// The daemon's id and name, for the `daemon` key.
    pub fn matches(&self, ev: &EventMessage, daemon: (&str, &str)) -> bool {
        let attrs = &ev.actor.attributes;
        let attr = |k: &str| attrs.get(k).map(String::as_str).unwrap_or("");
        let id = ev.actor.id.as_str();
        let name = attr("name");
        // `exec_start: sh -c ...` matches `event=exec_start`.
        let action_head = ev.action.split(':').next().unwrap_or("").trim();
        let by_name = |key: &str| self.fuzzy(key, &[id, name]);
        let image_name = if ev.typ == EventType::Image {
            name
        } else {
            attr("image")
        };
        self.exact("event", &[ev.action.as_str(), action_head])
            && self.exact("type", &[ev.typ.as_str()])
            && self.exact("scope", &[ev.scope.as_str()])
            && (self.values("daemon").is_none()
                || (ev.typ == EventType::Daemon && self.exact("daemon", &[daemon.0, daemon.1])))
            && self.labels(attrs)
            && by_name("container")
            && by_name("network")
            && by_name("volume")
            && by_name("plugin")
            && by_name("service")
            && by_name("node")
            && by_name("secret")
            && by_name("config")
            && self.exact(
                "image",
                &[id, image_name, strip_tag(id), strip_tag(image_name)],
            )
    }

    /// `label=k` matches an attribute `k`; `label=k=v` its value too.
    fn labels(&self, attrs: &std::collections::BTreeMap<String, String>) -> bool {
        self.values("label").is_none_or(|vs| {
            vs.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => attrs.get(k).is_some_and(|got| got == want),
                None => attrs.contains_key(v.as_str()),
            })
        })
    }
}

/// `busybox:latest` → `busybox`; `host:5000/x` keeps its port.
fn strip_tag(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

/// `GET /events` options; times are Unix nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filter: EventFilter,
}

/// Docker's event timestamps: `seconds` or `seconds.nanoseconds` (the CLI turns
/// durations and dates into this form before it sends them).
pub fn parse_timestamp(key: &str, v: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "invalid value for {key}: {v:?}: expected a Unix timestamp (seconds[.nanoseconds])"
        ))
    };
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    if secs < 0 {
        return Err(bad());
    }
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

impl EventsOptions {
    pub fn from_query(q: &Query) -> Result<Self, ApiError> {
        let time = |key: &str| {
            q.get(key)
                .filter(|v| !v.is_empty())
                .map(|v| parse_timestamp(key, v))
                .transpose()
        };
        let since = time("since")?;
        let until = time("until")?;
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err(ApiError::invalid(
                    "`since` time must be before `until` time",
                ));
            }
        }
        Ok(Self {
            since,
            until,
            filter: EventFilter::parse(q.filters()?)?,
        })
    }
}

pub async fn events(
    State(b): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let opts = EventsOptions::from_query(&Query::parse(q.as_deref()))?;
    Ok(crate::stream::json_lines_response(b.events(opts).await?))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ev(typ: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) -> EventMessage {
        let attrs: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EventMessage::new(typ, action, id, attrs, 1)
    }

    fn filter(pairs: &[(&str, &[&str])]) -> EventFilter {
        EventFilter::parse(
            pairs
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
        )
        .unwrap()
    }

    const D: (&str, &str) = ("DID", "host");

    #[test]
    fn empty_filter_matches_everything() {
        let f = EventFilter::default();
        assert!(f.matches(&ev(EventType::Network, "create", "n", &[]), D));
    }

    #[test]
    fn container_filter_by_name_and_id_prefix() {
        let start = ev(
            EventType::Container,
            "start",
            "abcdef",
            &[("name", "web"), ("image", "busybox:latest")],
        );
        assert!(filter(&[("container", &["web"])]).matches(&start, D));
        assert!(filter(&[("container", &["abc"])]).matches(&start, D));
        assert!(!filter(&[("container", &["db"])]).matches(&start, D));
        // Another object's events do not pass a container filter.
        let net = ev(EventType::Network, "create", "n1", &[("name", "front")]);
        assert!(!filter(&[("container", &["web"])]).matches(&net, D));
    }

    #[test]
    fn event_type_image_and_label() {
        let die = ev(
            EventType::Container,
            "die",
            "c1",
            &[
                ("image", "busybox:latest"),
                ("exitCode", "3"),
                ("tier", "db"),
            ],
        );
        assert!(filter(&[("event", &["start", "die"])]).matches(&die, D));
        assert!(!filter(&[("event", &["start"])]).matches(&die, D));
        assert!(filter(&[("type", &["container"])]).matches(&die, D));
        assert!(!filter(&[("type", &["image"])]).matches(&die, D));
        assert!(filter(&[("image", &["busybox"])]).matches(&die, D));
        assert!(filter(&[("image", &["busybox:latest"])]).matches(&die, D));
        assert!(!filter(&[("image", &["alpine"])]).matches(&die, D));
        assert!(filter(&[("label", &["tier"])]).matches(&die, D));
        assert!(filter(&[("label", &["tier=db"])]).matches(&die, D));
        assert!(!filter(&[("label", &["tier=web"])]).matches(&die, D));
        assert!(!filter(&[("label", &["tier", "zone"])]).matches(&die, D));
        // Keys combine with AND.
        assert!(!filter(&[("event", &["die"]), ("type", &["network"])]).matches(&die, D));
    }

    #[test]
    fn exec_actions_match_by_their_head() {
        let e = ev(EventType::Container, "exec_start: sh -c true", "c1", &[]);
        assert!(filter(&[("event", &["exec_start"])]).matches(&e, D));
    }

    #[test]
    fn daemon_filter_only_passes_daemon_events() {
        let reload = ev(EventType::Daemon, "reload", "DID", &[("name", "host")]);
        assert!(filter(&[("daemon", &["host"])]).matches(&reload, D));
        assert!(filter(&[("daemon", &["DID"])]).matches(&reload, D));
        let c = ev(EventType::Container, "start", "c", &[]);
        assert!(!filter(&[("daemon", &["host"])]).matches(&c, D));
    }

    #[test]
    fn bad_filters_are_refused() {
        let mut f = Filters::new();
        f.insert("colour".into(), vec!["x".into()]);
        assert!(EventFilter::parse(f).is_err());
        let mut f = Filters::new();
        f.insert("type".into(), vec!["boat".into()]);
        assert!(EventFilter::parse(f).is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("since", "12").unwrap(), 12_000_000_000);
        assert_eq!(parse_timestamp("since", "12.5").unwrap(), 12_500_000_000);
        assert_eq!(
            parse_timestamp("since", "12.000000001").unwrap(),
            12_000_000_001
        );
        for bad in ["x", "-1", "1.1234567890", "1.x", "99999999999999999999"] {
            assert!(parse_timestamp("since", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strip_tags() {
        assert_eq!(strip_tag("busybox:latest"), "busybox");
        assert_eq!(strip_tag("host:5000/x"), "host:5000/x");
        assert_eq!(strip_tag("host:5000/x:1"), "host:5000/x");
        assert_eq!(strip_tag("x@sha256:abc"), "x");
    }
}
