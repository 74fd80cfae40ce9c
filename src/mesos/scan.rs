//! Finds one agent in a full GET_AGENTS answer without building the document.
//!
//! A big cluster's GET_AGENTS is tens of MB. For a stream, `splitter` cuts the arrays into
//! elements over a chunked buffer, checks each one's JSON syntax without building anything, and
//! decodes only those that can hold the id: memory stays at about one element plus a buffer. The
//! serde visitors here (`find_agent_serde`, `find_agent_in_slice`) are the reference it is
//! fuzzed against (tests/fuzz). Both follow one rule: every `agents[]` / `recovered_agents[]`
//! entry must be a JSON object and the whole answer valid JSON (a damaged answer is an error,
//! never "agent absent", which a decommission would read as "gone"), and only the entry whose
//! `id.value` is the one asked for is decoded into typed fields.

use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::types::{AgentLookup, DrainInfo, DrainInfoWire, IdValue, MasterAgent};

/// `serde_json::from_reader` reads byte by byte; buffer so that each is not a call into the source.
const READ_BUFFER_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed GET_AGENTS answer: {0}")]
    Json(serde_json::Error),
    #[error("GET_AGENTS answer without a get_agents object")]
    MissingGetAgents,
}

impl From<serde_json::Error> for ScanError {
    fn from(e: serde_json::Error) -> ScanError {
        if e.is_io() {
            ScanError::Io(e.into())
        } else {
            ScanError::Json(e)
        }
    }
}

/// Streams `reader` (a whole GET_AGENTS response) and reports where `agent_id` is. Reading stops
/// as soon as the registered entry is found, so garbage after it goes unnoticed.
pub fn find_agent<R: Read>(reader: R, agent_id: &str) -> Result<AgentLookup, ScanError> {
    splitter::find(reader, agent_id)?.into_lookup()
}

/// [`find_agent`] through `serde_json::from_reader` instead of the splitter: slower, kept as the
/// reference the splitter is tested against.
pub fn find_agent_serde<R: Read>(reader: R, agent_id: &str) -> Result<AgentLookup, ScanError> {
    let reader = BufReader::with_capacity(READ_BUFFER_BYTES, reader);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let found = scan_document(&mut de, agent_id)?;
    de.end()?;
    Ok(found)
}

/// Same as [`find_agent`] for a body already in memory.
pub fn find_agent_in_slice(bytes: &[u8], agent_id: &str) -> Result<AgentLookup, ScanError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let found = scan_document(&mut de, agent_id)?;
    de.end()?;
    Ok(found)
}

fn scan_document<'de, D>(de: D, agent_id: &str) -> Result<AgentLookup, ScanError>
where
    D: Deserializer<'de, Error = serde_json::Error>,
{
    let mut found = Found::default();
    RootSeed {
        id: agent_id,
        found: &mut found,
    }
    .deserialize(de)?;
    found.into_lookup()
}

#[derive(Default)]
struct Found {
    saw_get_agents: bool,
    registered: Option<MasterAgent>,
    recovered: bool,
}

impl Found {
    fn into_lookup(self) -> Result<AgentLookup, ScanError> {
        if let Some(agent) = self.registered {
            return Ok(AgentLookup::Registered(agent));
        }
        if !self.saw_get_agents {
            return Err(ScanError::MissingGetAgents);
        }
        Ok(if self.recovered {
            AgentLookup::Recovered
        } else {
            AgentLookup::Absent
        })
    }
}

/// The keys that matter at any level; everything else is skipped without allocating.
enum Key {
    GetAgents,
    Agents,
    RecoveredAgents,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::from_name(v.as_bytes()))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl Key {
    fn from_name(name: &[u8]) -> Key {
        match name {
            b"get_agents" => Key::GetAgents,
            b"agents" => Key::Agents,
            b"recovered_agents" => Key::RecoveredAgents,
            _ => Key::Other,
        }
    }
}

struct RootSeed<'a> {
    id: &'a str,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for RootSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GET_AGENTS response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::GetAgents => {
                    self.found.saw_get_agents = true;
                    map.next_value_seed(GetAgentsSeed {
                        id: self.id,
                        found: &mut *self.found,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct GetAgentsSeed<'a> {
    id: &'a str,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for GetAgentsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GetAgentsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the get_agents object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Agents => map.next_value_seed(AgentsSeed {
                    id: self.id,
                    found: &mut *self.found,
                })?,
                Key::RecoveredAgents => map.next_value_seed(RecoveredSeed {
                    id: self.id,
                    found: &mut *self.found,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The fields of a `get_agents.agents[]` entry this tool needs.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ScanEntry {
    agent_info: ScanInfo,
    active: bool,
    deactivated: bool,
    pid: Option<String>,
    drain_info: Option<DrainInfoWire>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ScanInfo {
    id: Option<IdValue>,
    hostname: String,
}

impl ScanEntry {
    fn into_agent(self, id: String) -> MasterAgent {
        MasterAgent {
            id,
            hostname: self.agent_info.hostname,
            pid: self.pid,
            active: self.active,
            deactivated: self.deactivated,
            drain: self.drain_info.as_ref().map(DrainInfo::from),
        }
    }
}

struct AgentsSeed<'a> {
    id: &'a str,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for AgentsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AgentsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the agents array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<serde_json::Value>()? {
            let entry = entry_object(entry, "agents")?;
            if self.found.registered.is_some()
                || !is_entry_of(&entry, "/agent_info/id/value", self.id)
            {
                continue;
            }
            let typed = ScanEntry::deserialize(entry).map_err(serde::de::Error::custom)?;
            self.found.registered = Some(typed.into_agent(self.id.to_string()));
        }
        Ok(())
    }
}

/// The rule both scans share: every entry is a JSON object, but only the entry whose id is the
/// one asked for is decoded into typed fields, so a damaged field of another agent's entry does
/// not hide this one (and the splitter never has to decode the others).
fn entry_object<E: serde::de::Error>(
    entry: serde_json::Value,
    array: &str,
) -> Result<serde_json::Value, E> {
    if entry.is_object() {
        Ok(entry)
    } else {
        Err(E::custom(format!(
            "malformed JSON: an {array}[] entry is not an object"
        )))
    }
}

/// Whether the string at `pointer` in an entry is `id`.
pub(crate) fn is_entry_of(entry: &serde_json::Value, pointer: &str, id: &str) -> bool {
    entry.pointer(pointer).and_then(serde_json::Value::as_str) == Some(id)
}

struct RecoveredSeed<'a> {
    id: &'a str,
    found: &'a mut Found,
}

impl<'de> DeserializeSeed<'de> for RecoveredSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecoveredSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the recovered_agents array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<serde_json::Value>()? {
            let entry = entry_object(entry, "recovered_agents")?;
            if is_entry_of(&entry, "/id/value", self.id) {
                self.found.recovered = true;
            }
        }
        Ok(())
    }
}

mod splitter;

#[cfg(test)]
mod tests;
