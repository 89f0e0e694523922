//! A tiny element tree read from a push body, XML (quick-xml) or JSON, so fields are looked up one way.

use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;
use serde_json::{Map, Value};

use super::error::CallbackError;

/// Elements nested deeper than this are rejected (WeChat pushes use 3 levels).
const MAX_DEPTH: usize = 32;

/// One element: its name, its own text (text and CDATA concatenated) and its child elements.
/// JSON objects map to elements, arrays to repeated elements of the same name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// Children named `name` (exact match, in document order).
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child named `name`; falls back to an ASCII case-insensitive match
    /// (WeChat spells it `MsgID` in some pushes and `MsgId` in others).
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name).or_else(|| {
            self.children
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// The trimmed text of the first child named `name`, if present and non-empty.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

/// Parses a push body: JSON if it starts with `{` (after whitespace/BOM), XML otherwise.
pub(crate) fn parse_document(body: &str) -> Result<Node, CallbackError> {
    let body = body.trim_start_matches('\u{feff}');
    if body.trim_start().starts_with('{') {
        parse_json(body)
    } else {
        parse_xml(body)
    }
}

fn xml_err(e: impl std::fmt::Display) -> CallbackError {
    CallbackError::BadXml(e.to_string())
}

/// Parses XML with exactly one root element. Only the predefined entities and character
/// references are expanded (no DTD entities), so entity expansion attacks are impossible.
pub(crate) fn parse_xml(body: &str) -> Result<Node, CallbackError> {
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;

    fn attach(
        stack: &mut [Node],
        root: &mut Option<Node>,
        node: Node,
    ) -> Result<(), CallbackError> {
        if let Some(parent) = stack.last_mut() {
            parent.children.push(node);
            Ok(())
        } else if root.is_none() {
            *root = Some(node);
            Ok(())
        } else {
            Err(CallbackError::BadXml("more than one root element".into()))
        }
    }

    fn element_name(raw: &[u8]) -> Result<String, CallbackError> {
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| CallbackError::BadUtf8)
    }

    loop {
        match reader.read_event().map_err(xml_err)? {
            XmlEvent::Start(start) => {
                if root.is_some() && stack.is_empty() {
                    return Err(CallbackError::BadXml("more than one root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(CallbackError::BadXml("elements nested too deeply".into()));
                }
                stack.push(Node {
                    name: element_name(start.name().as_ref())?,
                    ..Node::default()
                });
            }
            XmlEvent::Empty(start) => {
                let node = Node {
                    name: element_name(start.name().as_ref())?,
                    ..Node::default()
                };
                attach(&mut stack, &mut root, node)?;
            }
            XmlEvent::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| CallbackError::BadXml("unmatched end tag".into()))?;
                attach(&mut stack, &mut root, node)?;
            }
            XmlEvent::Text(text) => {
                let text = text.unescape().map_err(xml_err)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => {
                        return Err(CallbackError::BadXml(
                            "text outside the root element".into(),
                        ))
                    }
                }
            }
            XmlEvent::CData(data) => {
                let data = data.into_inner();
                let data = std::str::from_utf8(&data).map_err(|_| CallbackError::BadUtf8)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(data),
                    None => {
                        return Err(CallbackError::BadXml(
                            "CDATA outside the root element".into(),
                        ))
                    }
                }
            }
            XmlEvent::Comment(_) | XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) => {}
            XmlEvent::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(CallbackError::BadXml("unexpected end of document".into()));
    }
    root.ok_or_else(|| CallbackError::BadXml("no root element".into()))
}

/// Parses a JSON object body into a `Node` named `xml`.
pub(crate) fn parse_json(body: &str) -> Result<Node, CallbackError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| CallbackError::BadJson(e.to_string()))?;
    match value {
        Value::Object(map) => Ok(Node {
            name: "xml".into(),
            text: String::new(),
            children: object_children(map),
        }),
        _ => Err(CallbackError::BadJson(
            "the body is not a JSON object".into(),
        )),
    }
}

fn object_children(map: Map<String, Value>) -> Vec<Node> {
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        push_value(&mut out, &name, value);
    }
    out
}

fn push_value(out: &mut Vec<Node>, name: &str, value: Value) {
    let text = match value {
        Value::Array(items) => {
            for item in items {
                push_value(out, name, item);
            }
            return;
        }
        Value::Object(map) => {
            out.push(Node {
                name: name.to_owned(),
                text: String::new(),
                children: object_children(map),
            });
            return;
        }
        Value::String(s) => s,
        // Integers print exactly (serde_json keeps them as i64/u64, never f64).
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
    };
    out.push(Node {
        name: name.to_owned(),
        text,
        children: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_tree_with_cdata_entities_and_empty_elements() {
        let node = parse_xml(
            "<?xml version=\"1.0\"?><!-- c --><xml><A><![CDATA[x<y]]></A><B>1 &amp; 2</B><C/>\n<D><E>e</E></D></xml>",
        )
        .unwrap();
        assert_eq!(node.name, "xml");
        assert_eq!(node.text_of("A"), Some("x<y"));
        assert_eq!(node.text_of("B"), Some("1 & 2"));
        assert_eq!(node.text_of("C"), None);
        assert!(node.child("C").is_some());
        assert_eq!(node.child("D").and_then(|d| d.text_of("E")), Some("e"));
        assert_eq!(node.text_of("a"), Some("x<y"));
    }

    #[test]
    fn bad_xml_is_an_error() {
        for bad in [
            "",
            "   ",
            "<xml>",
            "<xml><A></xml>",
            "<xml></A></xml>",
            "</xml>",
            "<xml/><xml/>",
            "<xml></xml><b/>",
            "junk<xml/>",
            "<xml/>junk",
            "<![CDATA[x]]><xml/>",
            "<xml>&bogus;</xml>",
            "<xml><A>&#xFFFFFFFF;</A></xml>",
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><xml>&e;</xml>",
        ] {
            assert!(parse_xml(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse_xml(&deep).is_err());
    }

    #[test]
    fn json_tree() {
        let node = parse_document(
            r#" {"A":"x","N":3428411849815982087,"L":[{"T":"1"},{"T":"2"}],"O":{"P":true},"Z":null}"#,
        )
        .unwrap();
        assert_eq!(node.text_of("A"), Some("x"));
        assert_eq!(node.text_of("N"), Some("3428411849815982087"));
        let ts: Vec<_> = node
            .children_named("L")
            .filter_map(|l| l.text_of("T"))
            .collect();
        assert_eq!(ts, ["1", "2"]);
        assert_eq!(node.child("O").and_then(|o| o.text_of("P")), Some("true"));
        assert_eq!(node.text_of("Z"), None);
        assert!(parse_document("{").is_err());
        assert!(parse_json("[1]").is_err());
    }
}
