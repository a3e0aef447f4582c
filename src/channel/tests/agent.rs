//! The agent's token flow and chunking.

use super::*;
use crate::channel::Output;
use crate::proto::Message;

fn chunks(out: &Outputs) -> Vec<usize> {
    out.items()
        .iter()
        .filter_map(|o| match o {
            Output::Send { msg_type, body } => match MainClient::decode(*msg_type, body).unwrap() {
                MainClient::AgentData(d) => Some(d.len()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn messages_are_cut_at_2048_bytes_and_sent_one_per_token() {
    let shared = AgentShared::new();
    let mut a = Agent::new(Arc::clone(&shared));
    let mut out = Outputs::new();
    a.connected(2, &mut out);
    assert!(a.is_connected());
    shared.push(vec![0; 2048]).unwrap();
    shared.push(vec![0; 2049]).unwrap();
    let mut out = Outputs::new();
    a.commands(&mut out);
    assert_eq!(chunks(&out), vec![2048, 2048]);
    assert_eq!(a.waiting_chunks(), 1);
    assert_eq!(a.tokens(), 0);
    let mut out = Outputs::new();
    a.token(10, &mut out);
    assert_eq!(chunks(&out), vec![1]);
    assert_eq!(shared.queued_bytes(), 0);
    // A second AGENT_CONNECTED refreshes the tokens without a second AGENT_START.
    let mut out = Outputs::new();
    a.connected(4, &mut out);
    assert!(out.is_empty());
    assert_eq!(a.tokens(), 4);
}

#[test]
fn nothing_is_sent_after_the_agent_left() {
    let shared = AgentShared::new();
    let mut a = Agent::new(Arc::clone(&shared));
    let mut out = Outputs::new();
    a.connected(0, &mut out);
    shared.push(vec![1; 100]).unwrap();
    a.commands(&mut out);
    assert_eq!(a.waiting_chunks(), 1);
    a.disconnected(1, &mut out);
    assert_eq!(a.waiting_chunks(), 0);
    let mut out = Outputs::new();
    a.token(5, &mut out);
    assert!(chunks(&out).is_empty());
    assert_eq!(shared.queued_bytes(), 0);
}
