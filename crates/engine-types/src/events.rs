//! The messages of `GET /events`: Docker's `events.Message`, with the legacy
//! top-level `status`/`id`/`from` fields older clients still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kind of object an event is about (`Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Builder,
    Config,
    Container,
    Daemon,
    Image,
    Network,
    Node,
    Plugin,
    Secret,
    Service,
    Volume,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Builder => "builder",
            EventType::Config => "config",
            EventType::Container => "container",
            EventType::Daemon => "daemon",
            EventType::Image => "image",
            EventType::Network => "network",
            EventType::Node => "node",
            EventType::Plugin => "plugin",
            EventType::Secret => "secret",
            EventType::Service => "service",
            EventType::Volume => "volume",
        }
    }
}

/// The object an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event as `GET /events` streams it (one JSON document per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Legacy: the action, for container and image events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Legacy: the actor's id, for container and image events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Legacy: the container's image, for container events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub typ: EventType,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` for engine events.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl EventMessage {
    /// A local event at `time_nano` (Unix nanoseconds), with the legacy fields
    /// filled as moby fills them.
    pub fn new(
        typ: EventType,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
        time_nano: i64,
    ) -> Self {
        let action = action.into();
        let id = id.into();
        let legacy = matches!(typ, EventType::Container | EventType::Image);
        let from = if typ == EventType::Container {
            attributes.get("image").cloned().unwrap_or_default()
        } else {
            String::new()
        };
        Self {
            status: if legacy {
                action.clone()
            } else {
                String::new()
            },
            id: if legacy { id.clone() } else { String::new() },
            from,
            typ,
            action,
            actor: EventActor { id, attributes },
            scope: "local".into(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_event_has_legacy_fields() {
        let mut attrs = BTreeMap::new();
        attrs.insert("image".to_string(), "busybox".to_string());
        attrs.insert("name".to_string(), "web".to_string());
        let ev = EventMessage::new(
            EventType::Container,
            "start",
            "abc",
            attrs,
            1_700_000_000_123_456_789,
        );
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["status"], "start");
        assert_eq!(v["id"], "abc");
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "start");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert_eq!(v["scope"], "local");
        assert_eq!(v["time"], 1_700_000_000);
        assert_eq!(v["timeNano"], 1_700_000_000_123_456_789i64);
    }

    #[test]
    fn network_event_has_no_legacy_fields() {
        let ev = EventMessage::new(EventType::Network, "create", "n1", BTreeMap::new(), 5);
        let v = serde_json::to_value(&ev).unwrap();
        assert!(v.get("status").is_none());
        assert!(v.get("id").is_none());
        assert!(v.get("from").is_none());
        let back: EventMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }
}
