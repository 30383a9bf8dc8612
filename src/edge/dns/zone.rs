//! porch's own DNS zone and the answers it gives: a pure function from a
//! question to records, so the server around it stays thin and the answers
//! can be tested and fuzzed without sockets.
//!
//! The zone holds SOA and NS at the apex, A/AAAA for the apex and `*`, a CAA
//! record naming the configured CA, and ACME TXT records while a DNS-01
//! challenge is live. Every change bumps the SOA serial. Questions outside
//! the zone get REFUSED: porch is never a recursive resolver.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::RwLock;

use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CAA, HINFO, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// What the zone answers to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: ResponseCode,
    /// Set for every name inside the zone.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    /// The SOA for empty answers (negative caching), NS otherwise.
    pub authority: Vec<Record>,
}

impl Answer {
    fn refused() -> Answer {
        Answer { code: ResponseCode::Refused, authoritative: false, answers: vec![], authority: vec![] }
    }
}

#[derive(Debug, Clone)]
struct Data {
    addresses: Vec<IpAddr>,
    serial: u32,
    /// Challenge TXT values by owner name (lower case, no trailing dot).
    txt: BTreeMap<String, Vec<String>>,
}

/// The zone for `<domain>`; shared by the DNS server, the ACME client (TXT
/// records) and the address watcher.
#[derive(Debug)]
pub struct Zone {
    apex: Name,
    nameserver: Name,
    caa_issuer: Option<String>,
    ttl: u32,
    data: RwLock<Data>,
}

impl Zone {
    /// `domain` must be a valid DNS name (config checked it).
    pub fn new(domain: &str, addresses: Vec<IpAddr>, caa_issuer: Option<String>, ttl: u32) -> Result<Zone, String> {
        let mut apex = Name::from_ascii(domain).map_err(|e| format!("{domain:?} is not a DNS name: {e}"))?;
        apex.set_fqdn(true);
        let apex = apex.to_lowercase();
        let nameserver = Name::from_ascii("ns1").and_then(|n| n.append_domain(&apex)).map_err(|e| e.to_string())?;
        let serial = unix_serial(0);
        Ok(Zone {
            apex,
            nameserver,
            caa_issuer,
            ttl,
            data: RwLock::new(Data { addresses, serial, txt: BTreeMap::new() }),
        })
    }

    /// The name of porch's nameserver, `ns1.<domain>`: what the registrar's
    /// delegation (and glue) should point at.
    pub fn nameserver(&self) -> String {
        self.nameserver.to_ascii().trim_end_matches('.').to_owned()
    }

    pub fn addresses(&self) -> Vec<IpAddr> {
        self.read().addresses.clone()
    }

    pub fn serial(&self) -> u32 {
        self.read().serial
    }

    /// Replaces the public addresses; true (and a new serial) when they changed.
    pub fn set_addresses(&self, mut addresses: Vec<IpAddr>) -> bool {
        addresses.sort();
        addresses.dedup();
        let mut data = self.write();
        if data.addresses == addresses {
            return false;
        }
        data.addresses = addresses;
        data.serial = unix_serial(data.serial);
        true
    }

    /// Publishes a TXT value at `name` (an ACME `_acme-challenge` name).
    pub fn add_txt(&self, name: &str, value: &str) {
        let mut data = self.write();
        data.txt.entry(normal(name)).or_default().push(value.to_owned());
        data.serial = unix_serial(data.serial);
    }

    pub fn remove_txt(&self, name: &str, value: &str) {
        let mut data = self.write();
        let key = normal(name);
        if let Some(values) = data.txt.get_mut(&key) {
            values.retain(|v| v != value);
            if values.is_empty() {
                data.txt.remove(&key);
            }
        }
        data.serial = unix_serial(data.serial);
    }

    /// The answer to one question.
    pub fn answer(&self, query: &Query) -> Answer {
        let name = query.name().to_lowercase();
        if !self.apex.zone_of(&name) {
            return Answer::refused();
        }
        if query.query_class() != DNSClass::IN {
            return Answer::refused();
        }
        let data = self.read().clone();
        let at_apex = name == self.apex;
        let owner = name.to_ascii().trim_end_matches('.').to_owned();
        let challenge = name.iter().next().is_some_and(|label| label.eq_ignore_ascii_case(b"_acme-challenge"));
        let mut answers = Vec::new();
        let rrs = |rtype: RecordType| -> Vec<RData> {
            match rtype {
                RecordType::SOA if at_apex => vec![self.soa(data.serial)],
                RecordType::NS if at_apex => vec![RData::NS(NS(self.nameserver.clone()))],
                RecordType::CAA if at_apex => self.caa(),
                RecordType::A | RecordType::AAAA if !challenge => data
                    .addresses
                    .iter()
                    .filter_map(|ip| match (rtype, ip) {
                        (RecordType::A, IpAddr::V4(v4)) => Some(RData::A(A(*v4))),
                        (RecordType::AAAA, IpAddr::V6(v6)) => Some(RData::AAAA(AAAA(*v6))),
                        _ => None,
                    })
                    .collect(),
                RecordType::TXT => data
                    .txt
                    .get(&owner)
                    .map(|values| values.iter().map(|v| RData::TXT(TXT::new(vec![v.clone()]))).collect())
                    .unwrap_or_default(),
                _ => vec![],
            }
        };
        match query.query_type() {
            // RFC 8482: a minimal answer to ANY, so it cannot amplify.
            RecordType::ANY => answers.push(RData::HINFO(HINFO::new("RFC8482".into(), String::new()))),
            rtype => answers.extend(rrs(rtype)),
        }
        let answers: Vec<Record> =
            answers.into_iter().map(|rdata| Record::from_rdata(name.clone(), self.ttl, rdata)).collect();
        let authority = if answers.is_empty() {
            vec![Record::from_rdata(self.apex.clone(), self.ttl, self.soa(data.serial))]
        } else {
            vec![]
        };
        Answer { code: ResponseCode::NoError, authoritative: true, answers, authority }
    }

    fn soa(&self, serial: u32) -> RData {
        let hostmaster = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(&self.apex))
            .unwrap_or_else(|_| self.apex.clone());
        // refresh, retry, expire, minimum (the negative-caching TTL).
        RData::SOA(SOA::new(self.nameserver.clone(), hostmaster, serial, 3600, 600, 1_209_600, self.ttl))
    }

    fn caa(&self) -> Vec<RData> {
        let Some(issuer) = &self.caa_issuer else { return vec![] };
        let Ok(name) = Name::from_ascii(issuer) else { return vec![] };
        vec![
            RData::CAA(CAA::new_issue(false, Some(name.clone()), vec![])),
            RData::CAA(CAA::new_issuewild(false, Some(name), vec![])),
        ]
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A serial from the clock, always greater than the previous one.
fn unix_serial(previous: u32) -> u32 {
    let now = u32::try_from(crate::common::clock::now()).unwrap_or(u32::MAX);
    now.max(previous.wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone::new(
            "Family.Example",
            vec!["203.0.113.7".parse().expect("ip"), "2001:db8::7".parse().expect("ip")],
            Some("letsencrypt.org".into()),
            300,
        )
        .expect("zone")
    }

    fn ask(zone: &Zone, name: &str, rtype: RecordType) -> Answer {
        zone.answer(&Query::query(Name::from_ascii(name).expect("name"), rtype))
    }

    #[test]
    fn apex_and_wildcard_addresses() {
        let z = zone();
        for name in ["family.example.", "photos.family.example.", "PHOTOS.Family.Example."] {
            let a = ask(&z, name, RecordType::A);
            assert_eq!(a.code, ResponseCode::NoError);
            assert!(a.authoritative);
            assert_eq!(a.answers.len(), 1, "{name}");
            assert_eq!(ask(&z, name, RecordType::AAAA).answers.len(), 1);
        }
    }

    #[test]
    fn other_zones_are_refused() {
        let z = zone();
        for name in ["example.org.", "example.", "notfamily.example.", "."] {
            let a = ask(&z, name, RecordType::A);
            assert_eq!(a.code, ResponseCode::Refused, "{name}");
            assert!(a.answers.is_empty() && !a.authoritative);
        }
    }

    #[test]
    fn soa_ns_caa_and_empty_answers_carry_the_soa() {
        let z = zone();
        assert_eq!(ask(&z, "family.example.", RecordType::SOA).answers.len(), 1);
        assert_eq!(ask(&z, "family.example.", RecordType::NS).answers.len(), 1);
        assert_eq!(ask(&z, "family.example.", RecordType::CAA).answers.len(), 2);
        let mx = ask(&z, "family.example.", RecordType::MX);
        assert!(mx.answers.is_empty());
        assert_eq!(mx.authority.len(), 1);
        assert_eq!(ask(&z, "family.example.", RecordType::ANY).answers.len(), 1, "ANY is minimal");
    }

    #[test]
    fn challenge_txt_lives_and_goes_and_bumps_the_serial() {
        let z = zone();
        let name = "_acme-challenge.family.example";
        let before = z.serial();
        z.add_txt(name, "one");
        z.add_txt(name, "two");
        assert!(z.serial() > before);
        assert_eq!(ask(&z, "_acme-challenge.family.example.", RecordType::TXT).answers.len(), 2);
        assert!(ask(&z, "_acme-challenge.family.example.", RecordType::A).answers.is_empty());
        z.remove_txt(name, "one");
        z.remove_txt(name, "two");
        assert!(ask(&z, "_acme-challenge.family.example.", RecordType::TXT).answers.is_empty());
    }

    #[test]
    fn a_new_address_bumps_the_serial_once() {
        let z = zone();
        let before = z.serial();
        assert!(z.set_addresses(vec!["198.51.100.1".parse().expect("ip")]));
        assert!(z.serial() > before);
        let after = z.serial();
        assert!(!z.set_addresses(vec!["198.51.100.1".parse().expect("ip")]));
        assert_eq!(z.serial(), after);
    }
}
