//! Streaming path of the GET_AGENTS scan: a byte-level splitter over a chunked buffer.
//!
//! `serde_json::from_reader` pulls one byte at a time through `io::Read` and was measured at a
//! few times slower than parsing a slice. Here only the two outer object levels are walked by
//! hand; each `agents[]` element is located by tracking strings, escapes and bracket nesting,
//! checked as a slice (syntax, UTF-8) without building anything, and decoded only when it can
//! contain the wanted id. Memory is one chunk plus the largest element.

use std::io::{ErrorKind, Read};

use memchr::{memchr, memchr2, memmem};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{is_entry_of, Found, Key, ScanEntry, ScanError};

/// Big enough that one read moves a lot of bytes; elements (~2 KB) rarely straddle a refill.
pub(super) const CHUNK_BYTES: usize = 256 * 1024;

pub(super) fn find<R: Read>(reader: R, agent_id: &str) -> Result<Found, ScanError> {
    walk(&mut Splitter::new(reader), agent_id)
}

/// The scan plus the size the buffer grew to (the bulk of the memory used).
#[cfg(test)]
pub(super) fn find_measuring<R: Read>(
    reader: R,
    agent_id: &str,
) -> (Result<Found, ScanError>, usize) {
    let mut sp = Splitter::new(reader);
    let found = walk(&mut sp, agent_id);
    (found, sp.buf.len())
}

fn walk<R: Read>(sp: &mut Splitter<R>, agent_id: &str) -> Result<Found, ScanError> {
    let filter = Prefilter::new(agent_id);
    let mut found = Found::default();
    let outcome = sp.object(&mut |sp, key| match key {
        Key::GetAgents => {
            found.saw_get_agents = true;
            sp.object(&mut |sp, key| match key {
                Key::Agents => {
                    sp.array(&mut |elem| agents_element(elem, agent_id, &filter, &mut found))
                }
                Key::RecoveredAgents => {
                    sp.array(&mut |elem| recovered_element(elem, agent_id, &filter, &mut found))
                }
                _ => sp.skip_checked(),
            })
        }
        _ => sp.skip_checked(),
    });
    match outcome {
        // The registered entry is all that can matter once found; the rest is left unread.
        Err(Stop::Found) => return Ok(found),
        Err(Stop::Error(e)) => return Err(e),
        Ok(()) => {}
    }
    match sp.peek_nonws() {
        Ok(None) => Ok(found),
        Ok(Some(_)) => Err(malformed("trailing characters after the response object")),
        Err(Stop::Error(e)) => Err(e),
        Err(Stop::Found) => unreachable!("peek never stops early"),
    }
}

fn agents_element(
    elem: &[u8],
    agent_id: &str,
    filter: &Prefilter,
    found: &mut Found,
) -> Result<(), Stop> {
    let Some(entry) = candidate(elem, filter, "agents")? else {
        return Ok(());
    };
    if !is_entry_of(&entry, "/agent_info/id/value", agent_id) {
        return Ok(());
    }
    let typed = ScanEntry::deserialize(entry).map_err(ScanError::Json)?;
    found.registered = Some(typed.into_agent(agent_id.to_string()));
    Err(Stop::Found)
}

fn recovered_element(
    elem: &[u8],
    agent_id: &str,
    filter: &Prefilter,
    found: &mut Found,
) -> Result<(), Stop> {
    if let Some(entry) = candidate(elem, filter, "recovered_agents")? {
        if is_entry_of(&entry, "/id/value", agent_id) {
            found.recovered = true;
        }
    }
    Ok(())
}

/// An element that may hold the id, parsed; any other one is only checked to be a valid JSON
/// object (the same rule as the serde reference: a damaged document is never "agent absent").
fn candidate(
    elem: &[u8],
    filter: &Prefilter,
    array: &str,
) -> Result<Option<serde_json::Value>, Stop> {
    if elem.first() != Some(&b'{') {
        return Err(malformed(&format!("an {array}[] entry is not an object")).into());
    }
    if filter.may_contain(elem) {
        return Ok(Some(serde_json::from_slice(elem).map_err(ScanError::Json)?));
    }
    // The reference parses every entry (strings included), so UTF-8 is checked here too.
    std::str::from_utf8(elem).map_err(|e| malformed(&format!("invalid UTF-8: {e}")))?;
    validate(elem)?;
    Ok(None)
}

/// Full JSON syntax, without building anything (serde's own rule for a value it ignores).
fn validate(bytes: &[u8]) -> Result<(), Stop> {
    serde_json::from_slice::<IgnoredAny>(bytes).map_err(ScanError::Json)?;
    Ok(())
}

/// Cheap test whether an element can hold the id, so that most elements are never decoded.
/// JSON may spell a character as an escape; an id without `"`, `\`, `/` or control characters
/// can then only be disguised by a `\u` escape.
struct Prefilter {
    literal: memmem::Finder<'static>,
    unicode_escape: memmem::Finder<'static>,
    plain: bool,
}

impl Prefilter {
    fn new(agent_id: &str) -> Prefilter {
        Prefilter {
            literal: memmem::Finder::new(agent_id.as_bytes()).into_owned(),
            unicode_escape: memmem::Finder::new(b"\\u").into_owned(),
            plain: !agent_id
                .bytes()
                .any(|b| matches!(b, b'"' | b'\\' | b'/') || b < 0x20),
        }
    }

    fn may_contain(&self, elem: &[u8]) -> bool {
        self.literal.find(elem).is_some()
            || if self.plain {
                self.unicode_escape.find(elem).is_some()
            } else {
                memchr(b'\\', elem).is_some()
            }
    }
}

/// Control flow out of the walk: a real error, or "found it, stop reading".
enum Stop {
    Found,
    Error(ScanError),
}

impl From<ScanError> for Stop {
    fn from(e: ScanError) -> Stop {
        Stop::Error(e)
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Stop {
        Stop::Error(ScanError::Io(e))
    }
}

fn malformed(what: &str) -> ScanError {
    ScanError::Json(serde::de::Error::custom(format!("malformed JSON: {what}")))
}

fn eof() -> Stop {
    Stop::Error(malformed("unexpected end of the answer"))
}

struct Splitter<R> {
    reader: R,
    buf: Vec<u8>,
    /// Next unread byte.
    pos: usize,
    /// End of the valid data in `buf`.
    end: usize,
    /// Start of a value whose bytes must stay in the buffer across refills.
    mark: Option<usize>,
    /// Closing brackets expected, innermost last.
    stack: Vec<u8>,
}

type FieldFn<'f, R> = dyn FnMut(&mut Splitter<R>, Key) -> Result<(), Stop> + 'f;
type ElemFn<'f> = dyn FnMut(&[u8]) -> Result<(), Stop> + 'f;

impl<R: Read> Splitter<R> {
    fn new(reader: R) -> Splitter<R> {
        Splitter {
            reader,
            buf: vec![0; CHUNK_BYTES],
            pos: 0,
            end: 0,
            mark: None,
            stack: Vec::new(),
        }
    }

    /// Reads more; `false` at end of input. Drops consumed bytes, except from `mark` on.
    fn fill(&mut self) -> Result<bool, Stop> {
        let keep = self.mark.unwrap_or(self.pos);
        if keep > 0 {
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.pos -= keep;
            if let Some(m) = &mut self.mark {
                *m -= keep;
            }
        }
        if self.end == self.buf.len() {
            // One element larger than the buffer: grow to hold it whole.
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn peek_nonws(&mut self) -> Result<Option<u8>, Stop> {
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn next_nonws(&mut self) -> Result<u8, Stop> {
        self.peek_nonws()?.ok_or_else(eof)
    }

    fn expect(&mut self, want: u8, what: &str) -> Result<(), Stop> {
        if self.next_nonws()? != want {
            return Err(malformed(&format!("expected {what}")).into());
        }
        self.pos += 1;
        Ok(())
    }

    /// `{ "key": value, ... }`; `on_field` must consume each value.
    fn object(&mut self, on_field: &mut FieldFn<'_, R>) -> Result<(), Stop> {
        self.expect(b'{', "an object")?;
        if self.next_nonws()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':', "':' after a key")?;
            self.next_nonws()?;
            on_field(self, key)?;
            match self.next_nonws()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(malformed("expected ',' or '}' in an object").into()),
            }
        }
    }

    /// `[ value, ... ]`, handing each element's bytes to `on_elem`.
    fn array(&mut self, on_elem: &mut ElemFn<'_>) -> Result<(), Stop> {
        self.expect(b'[', "an array")?;
        if self.next_nonws()? == b']' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.next_nonws()?;
            self.mark = Some(self.pos);
            let scanned = self.skip_value();
            let start = self.mark.take().unwrap_or(self.pos);
            scanned?;
            on_elem(&self.buf[start..self.pos])?;
            match self.next_nonws()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(malformed("expected ',' or ']' in an array").into()),
            }
        }
    }

    fn key(&mut self) -> Result<Key, Stop> {
        if self.next_nonws()? != b'"' {
            return Err(malformed("expected a string key").into());
        }
        self.mark = Some(self.pos);
        self.pos += 1;
        let scanned = self.string_rest();
        let start = self.mark.take().unwrap_or(self.pos);
        scanned?;
        let raw = &self.buf[start..self.pos];
        let inner = &raw[1..raw.len() - 1];
        // serde reads a key as a str: a key that is not UTF-8, or holds a raw control
        // character, is an error there too.
        std::str::from_utf8(inner).map_err(|e| malformed(&format!("key is not UTF-8: {e}")))?;
        if inner.iter().any(|b| *b < 0x20) {
            return Err(malformed("control character in a key").into());
        }
        if memchr(b'\\', inner).is_none() {
            return Ok(Key::from_name(inner));
        }
        let decoded: String = serde_json::from_slice(raw).map_err(ScanError::Json)?;
        Ok(Key::from_name(decoded.as_bytes()))
    }

    /// Skips a value the scan does not need, checking that it is valid JSON.
    fn skip_checked(&mut self) -> Result<(), Stop> {
        self.mark = Some(self.pos);
        let scanned = self.skip_value();
        let start = self.mark.take().unwrap_or(self.pos);
        scanned?;
        validate(&self.buf[start..self.pos])
    }

    /// Skips the value starting at `pos` (after whitespace).
    fn skip_value(&mut self) -> Result<(), Stop> {
        match self.buf[self.pos] {
            b'{' | b'[' => self.container(),
            b'"' => {
                self.pos += 1;
                self.string_rest()
            }
            _ => self.scalar(),
        }
    }

    /// After an opening quote: up to and including the closing quote.
    fn string_rest(&mut self) -> Result<(), Stop> {
        loop {
            match memchr2(b'"', b'\\', &self.buf[self.pos..self.end]) {
                Some(off) => {
                    let at = self.pos + off;
                    self.pos = at + 1;
                    if self.buf[at] == b'"' {
                        return Ok(());
                    }
                    // A backslash escapes the next byte, which may not have arrived yet.
                    if self.pos == self.end && !self.fill()? {
                        return Err(eof());
                    }
                    self.pos += 1;
                }
                None => {
                    self.pos = self.end;
                    if !self.fill()? {
                        return Err(eof());
                    }
                }
            }
        }
    }

    fn container(&mut self) -> Result<(), Stop> {
        self.stack.clear();
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                self.pos += 1;
                match b {
                    b'"' => self.string_rest()?,
                    b'{' => self.stack.push(b'}'),
                    b'[' => self.stack.push(b']'),
                    b'}' | b']' => {
                        if self.stack.pop() != Some(b) {
                            return Err(malformed("mismatched brackets").into());
                        }
                        if self.stack.is_empty() {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
            if !self.fill()? {
                return Err(eof());
            }
        }
    }

    /// Numbers, `true`, `false`, `null`: only their extent matters here.
    fn scalar(&mut self) -> Result<(), Stop> {
        let mut len = 0usize;
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return if len == 0 {
                        Err(malformed("expected a value").into())
                    } else {
                        Ok(())
                    };
                }
                if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')) {
                    return Err(malformed("unexpected character").into());
                }
                self.pos += 1;
                len += 1;
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}
