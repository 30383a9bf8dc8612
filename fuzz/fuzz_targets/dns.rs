//! DNS questions as porch's zone answers them: arbitrary bytes parsed as a
//! message, every question answered, and the answer serialised again.
#![no_main]

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use porch::edge::dns::zone::Zone;

fuzz_target!(|bytes: &[u8]| {
    let Ok(message) = Message::from_vec(bytes) else { return };
    let addresses = vec!["192.0.2.7".parse().expect("ip"), "2001:db8::7".parse().expect("ip")];
    let zone = Zone::new("family.example", addresses, Some("letsencrypt.org".into()), 300).expect("zone");
    zone.add_txt("_acme-challenge.family.example", "token");
    for query in &message.queries {
        let answer = zone.answer(query);
        let _ = format!("{answer:?}");
    }
});
