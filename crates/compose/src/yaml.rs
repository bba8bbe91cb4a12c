//! A YAML node tree that remembers where every node came from (file, line, column),
//! with anchors, aliases, merge keys (`<<`) and the Compose tags `!reset` / `!override`.

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// The Compose merge tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeTag {
    #[default]
    None,
    /// `!reset`: the key is removed from the merged result.
    Reset,
    /// `!override`: the value replaces the base instead of merging with it.
    Override,
}

/// One map entry; the key keeps its own position for error messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    /// A scalar as written; `quoted` scalars are always strings, plain ones are typed on use.
    Scalar {
        value: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
    pub tag: MergeTag,
}

impl Node {
    pub fn new(kind: Kind, pos: Pos) -> Self {
        Node {
            kind,
            pos,
            tag: MergeTag::None,
        }
    }

    pub fn string(value: impl Into<String>, pos: Pos) -> Self {
        Node::new(
            Kind::Scalar {
                value: value.into(),
                quoted: true,
            },
            pos,
        )
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Vec<Entry>> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value)
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let map = self.as_map_mut()?;
        let i = map.iter().position(|e| e.key == key)?;
        Some(map.remove(i).value)
    }

    /// Sets `key` (replacing an existing entry in place).
    pub fn set(&mut self, key: &str, value: Node) {
        if let Some(map) = self.as_map_mut() {
            if let Some(e) = map.iter_mut().find(|e| e.key == key) {
                e.value = value;
            } else {
                let key_pos = value.pos.clone();
                map.push(Entry {
                    key: key.to_string(),
                    key_pos,
                    value,
                });
            }
        }
    }

    /// A short name of the node kind for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Scalar { .. } => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }

    /// Finds the position of the node at a dotted path such as `services.web.ports[0]`
    /// (the deepest node that exists on the way).
    pub fn pos_at(&self, path: &str) -> Pos {
        let mut node = self;
        let mut pos = self.pos.clone();
        for seg in split_path(path) {
            match (seg, &node.kind) {
                (PathSeg::Key(k), Kind::Map(m)) => match m.iter().find(|e| e.key == k) {
                    Some(e) => {
                        pos = e.key_pos.clone();
                        node = &e.value;
                    }
                    None => break,
                },
                (PathSeg::Index(i), Kind::Seq(s)) => match s.get(i) {
                    Some(n) => {
                        pos = n.pos.clone();
                        node = n;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        pos
    }
}

enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathSeg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(PathSeg::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(PathSeg::Index(i));
            }
        }
    }
    out
}

/// A YAML syntax error with its position.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

enum Frame {
    Seq {
        items: Vec<Node>,
        anchor: usize,
        tag: MergeTag,
        pos: Pos,
    },
    Map {
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<(String, Pos)>,
        anchor: usize,
        tag: MergeTag,
        pos: Pos,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<YamlError>,
    documents: usize,
}

fn merge_tag(tag: &Option<Tag>) -> MergeTag {
    match tag {
        Some(t) if t.handle == "!" && t.suffix == "reset" => MergeTag::Reset,
        Some(t) if t.handle == "!" && t.suffix == "override" => MergeTag::Override,
        _ => MergeTag::None,
    }
}

impl Builder {
    fn pos(&self, mark: Marker) -> Pos {
        Pos {
            file: self.file.clone(),
            line: mark.line(),
            col: mark.col() + 1,
        }
    }

    fn fail(&mut self, pos: &Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                file: pos.file.to_string(),
                line: pos.line,
                col: pos.col,
                message,
            });
        }
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merges,
                key,
                ..
            }) => match key.take() {
                None => match node.kind {
                    Kind::Scalar { value, .. } => *key = Some((value, node.pos)),
                    Kind::Null => *key = Some((String::new(), node.pos)),
                    _ => {
                        let pos = node.pos.clone();
                        self.fail(&pos, "mapping keys must be scalars".into());
                    }
                },
                Some((k, key_pos)) => {
                    if k == "<<" {
                        merges.push(node);
                    } else if entries.iter().any(|e| e.key == k) {
                        let msg = format!("mapping key {k:?} already defined");
                        self.fail(&key_pos, msg);
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
    }

    /// Applies `<<` merge keys: explicit keys win, then earlier merge sources.
    fn apply_merges(&mut self, entries: &mut Vec<Entry>, merges: Vec<Node>) {
        for m in merges {
            let sources = match m.kind {
                Kind::Map(_) => vec![m],
                Kind::Seq(items) => items,
                _ => {
                    self.fail(
                        &m.pos,
                        "merge key `<<` needs a mapping or a list of mappings".into(),
                    );
                    continue;
                }
            };
            for src in sources {
                match src.kind {
                    Kind::Map(src_entries) => {
                        for e in src_entries {
                            if !entries.iter().any(|x| x.key == e.key) {
                                entries.push(e);
                            }
                        }
                    }
                    _ => self.fail(&src.pos, "merge key `<<` needs mappings".into()),
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = self.pos(mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        &pos,
                        "multiple YAML documents in one compose file are not supported".into(),
                    );
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let n = n.clone();
                    self.complete(n, 0);
                }
                None => self.fail(&pos, "unknown anchor".into()),
            },
            Event::Scalar(value, style, anchor, tag) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                let kind = if !quoted
                    && tag.is_none()
                    && matches!(value.as_str(), "~" | "null" | "Null" | "NULL" | "")
                {
                    Kind::Null
                } else {
                    Kind::Scalar { value, quoted }
                };
                let mut node = Node::new(kind, pos);
                node.tag = merge_tag(&tag);
                self.complete(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                anchor,
                tag: merge_tag(&tag),
                pos,
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                merges: Vec::new(),
                key: None,
                anchor,
                tag: merge_tag(&tag),
                pos,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    anchor,
                    tag,
                    pos,
                }) = self.stack.pop()
                {
                    let mut node = Node::new(Kind::Seq(items), pos);
                    node.tag = tag;
                    self.complete(node, anchor);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut entries,
                    merges,
                    anchor,
                    tag,
                    pos,
                    ..
                }) = self.stack.pop()
                {
                    self.apply_merges(&mut entries, merges);
                    let mut node = Node::new(Kind::Map(entries), pos);
                    node.tag = tag;
                    self.complete(node, anchor);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML document; an empty document is an empty mapping.
pub fn parse(file: &str, text: &str) -> Result<Node, YamlError> {
    let file: Arc<str> = Arc::from(file);
    let mut b = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        error: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        return Err(YamlError {
            file: file.to_string(),
            line: m.line(),
            col: m.col() + 1,
            message: e.info().to_string(),
        });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    let start = Pos {
        file,
        line: 1,
        col: 1,
    };
    match b.root {
        None => Ok(Node::new(Kind::Map(Vec::new()), start)),
        Some(n) if n.kind == Kind::Null => Ok(Node::new(Kind::Map(Vec::new()), start)),
        Some(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_merge_keys() {
        let n = parse(
            "t.yaml",
            "base: &b\n  a: 1\n  b: 2\nother:\n  <<: *b\n  b: 3\nlist: [*b]\n",
        )
        .unwrap();
        let other = n.get("other").unwrap();
        assert_eq!(other.get("a").unwrap().as_str(), Some("1"));
        assert_eq!(other.get("b").unwrap().as_str(), Some("3"));
        assert!(matches!(n.get("list").unwrap().kind, Kind::Seq(ref s) if s.len() == 1));
    }

    #[test]
    fn positions_and_tags() {
        let n = parse("t.yaml", "a:\n  b: !reset []\n  c: !override x\n").unwrap();
        assert_eq!(n.pos_at("a.b").line, 2);
        assert_eq!(n.get("a").unwrap().get("b").unwrap().tag, MergeTag::Reset);
        assert_eq!(
            n.get("a").unwrap().get("c").unwrap().tag,
            MergeTag::Override
        );
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let e = parse("t.yaml", "a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("already defined"));
    }

    #[test]
    fn syntax_error_has_line() {
        let e = parse("t.yaml", "a:\n  b: [1, 2\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
    }
}
