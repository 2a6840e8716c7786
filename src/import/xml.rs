//! A small walk over an export file: element names by local name (so the `wp:` namespace of
//! WXR 1.0, 1.1 or 1.2, over http or https, reads the same), each element's text with CDATA
//! and entities resolved, and the `id` attribute Disqus puts on its elements. Malformed XML
//! stops the walk with the line and column where it went wrong.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Where and why an export file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct XmlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl XmlError {
    fn at(input: &str, offset: usize, message: String) -> Self {
        let before = &input[..floor_char_boundary(input, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            line,
            column,
            message,
        }
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One element as the walk closes it.
#[derive(Debug)]
pub struct Closed<'a> {
    /// Local names from the root down to this element (last).
    pub path: &'a [String],
    /// Its text content (own text only, not that of child elements), untrimmed.
    pub text: String,
    /// Its `id` attribute in any namespace (`dsq:id`), when present.
    pub id: Option<String>,
}

impl Closed<'_> {
    /// The element's own local name.
    pub fn name(&self) -> &str {
        self.path.last().map_or("", String::as_str)
    }

    /// The local name of the element it sits in.
    pub fn parent(&self) -> &str {
        self.path
            .len()
            .checked_sub(2)
            .and_then(|i| self.path.get(i))
            .map_or("", String::as_str)
    }

    /// Whether it sits (at any depth) inside an element named `name`.
    pub fn within(&self, name: &str) -> bool {
        self.path[..self.path.len().saturating_sub(1)]
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    }
}

struct Open {
    text: String,
    id: Option<String>,
}

/// Reads `input` to the end, calling `on_close` for every element as it closes.
///
/// # Errors
/// Malformed XML (mismatched or unclosed tags, bad entities, bad attributes), with its
/// position.
pub fn walk(input: &str, mut on_close: impl FnMut(Closed<'_>)) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let error = |reader: &Reader<&[u8]>, message: String| {
        XmlError::at(input, reader.error_position() as usize, message)
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| error(&reader, e.to_string()))?;
        match event {
            Event::Start(start) => {
                path.push(local_name(&start));
                open.push(Open {
                    text: String::new(),
                    id: id_attribute(&start).map_err(|m| error(&reader, m))?,
                });
            }
            Event::Empty(start) => {
                path.push(local_name(&start));
                let id = id_attribute(&start).map_err(|m| error(&reader, m))?;
                on_close(Closed {
                    path: &path,
                    text: String::new(),
                    id,
                });
                path.pop();
            }
            Event::End(_) => {
                let Some(element) = open.pop() else {
                    return Err(error(&reader, "closing tag without an opening one".into()));
                };
                on_close(Closed {
                    path: &path,
                    text: element.text,
                    id: element.id,
                });
                path.pop();
            }
            Event::Text(text) => append(&mut open, &text.xml_content().unwrap_or_default()),
            Event::CData(data) => append(&mut open, &data.xml_content().unwrap_or_default()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.decode().unwrap_or_default();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .map(str::to_owned)
                            .or_else(|| html_entity(&name))
                            .ok_or_else(|| {
                                XmlError::at(
                                    input,
                                    reader.buffer_position() as usize,
                                    format!("unknown entity &{name};"),
                                )
                            })?
                    }
                    Err(e) => return Err(error(&reader, e.to_string())),
                };
                append(&mut open, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match path.last() {
        Some(unclosed) => Err(XmlError::at(
            input,
            input.len(),
            format!("the file ends inside <{unclosed}> (truncated?)"),
        )),
        None => Ok(()),
    }
}

fn append(open: &mut [Open], text: &str) {
    if let Some(element) = open.last_mut() {
        element.text.push_str(text);
    }
}

/// An HTML entity some exports use in XML text (`&nbsp;`, `&hellip;`...), decoded.
fn html_entity(name: &str) -> Option<String> {
    let decoded = html_escape::decode_html_entities(&format!("&{name};")).into_owned();
    (decoded != format!("&{name};")).then_some(decoded)
}

fn local_name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

fn id_attribute(start: &BytesStart<'_>) -> Result<Option<String>, String> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        if attribute.key.local_name().as_ref() == b"id" {
            let value = attribute.unescape_value().map_err(|e| e.to_string())?;
            return Ok(Some(value.trim().to_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_line_and_column_of_malformed_xml() {
        let input = "<a>\n  <b>one</c>\n</a>";
        let error = walk(input, |_| {}).unwrap_err();
        assert_eq!(error.line, 2, "{error}");
        assert!(error.column > 1, "{error}");
        let truncated = walk("<a><b>text", |_| {}).unwrap_err();
        assert!(truncated.message.contains("ends inside"), "{truncated}");
    }

    #[test]
    fn text_joins_cdata_and_entities() {
        let mut seen = Vec::new();
        walk(
            "<x:a xmlns:x='u'><x:b q:id='7' xmlns:q='v'>1 &amp; <![CDATA[<2>]]>&#233;</x:b></x:a>",
            |c| seen.push((c.name().to_owned(), c.text, c.id)),
        )
        .unwrap();
        assert_eq!(seen[0], ("b".into(), "1 & <2>é".into(), Some("7".into())));
    }
}
