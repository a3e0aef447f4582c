//! The QMP client from byte vectors, with QEMU 7.2's greeting.

use super::*;

const GREETING: &[u8] = br#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}"#;

fn sent(c: &mut QmpClient) -> Vec<Value> {
    let out = c.take_output();
    String::from_utf8(out)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn greeting_capabilities_then_commands() {
    let mut c = QmpClient::new();
    // A command asked for early waits for the negotiation.
    let early = c.execute("query-status", None);
    assert!(c.take_output().is_empty());
    let mut g = GREETING.to_vec();
    g.extend_from_slice(b"\r\n");
    assert!(c.receive(&g).is_empty());
    let caps = sent(&mut c);
    assert_eq!(caps.len(), 1);
    assert_eq!(caps[0]["execute"], "qmp_capabilities");
    let caps_id = caps[0]["id"].as_u64().unwrap();
    let ev = c.receive(format!("{{\"return\": {{}}, \"id\": {caps_id}}}\r\n").as_bytes());
    assert_eq!(
        ev,
        vec![QmpEvent::Ready {
            version: Some("7.2.0".into())
        }]
    );
    assert!(c.is_ready());
    let queued = sent(&mut c);
    assert_eq!(queued[0]["execute"], "query-status");
    assert_eq!(queued[0]["id"], early);
    // The answer, split anywhere, then an event and an error.
    let answer = format!(
        "{{\"return\": {{\"status\": \"running\", \"singlestep\": false, \"running\": true}}, \"id\": {early}}}\r\n\
         {{\"timestamp\": {{\"seconds\": 1, \"microseconds\": 2}}, \"event\": \"STOP\"}}\r\n\
         {{\"id\": 99, \"error\": {{\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}}}}\r\n"
    );
    let mut events = Vec::new();
    for piece in answer.as_bytes().chunks(7) {
        events.extend(c.receive(piece));
    }
    assert_eq!(events.len(), 3, "{events:?}");
    let QmpEvent::Return { id, value } = &events[0] else {
        panic!()
    };
    assert_eq!(*id, early);
    let mut state = RunState::from_query_status(value).unwrap();
    assert_eq!(
        state,
        RunState {
            running: true,
            status: "running".into()
        }
    );
    let QmpEvent::Event { name, .. } = &events[1] else {
        panic!()
    };
    assert!(state.apply_event(name));
    assert!(!state.running && state.status == "paused");
    assert!(!state.apply_event("RESET"));
    assert_eq!(
        events[2],
        QmpEvent::Error {
            id: 99,
            class: "CommandNotFound".into(),
            desc: "The command nope has not been found".into()
        }
    );
    // Commands go out at once now, with arguments and fresh ids.
    let id = c.execute("human-monitor-command", Some(json!({"command-line": "info status"})));
    let out = sent(&mut c);
    assert_eq!(out[0]["arguments"]["command-line"], "info status");
    assert_eq!(out[0]["id"], id);
    let mut obj = serde_json::Map::new();
    obj.insert("execute".into(), json!("stop"));
    obj.insert("id".into(), json!("theirs"));
    let id2 = c.execute_object(obj);
    assert_eq!(sent(&mut c)[0]["id"], id2);
}

#[test]
fn garbage_and_endless_objects_are_bounded() {
    let mut c = QmpClient::new();
    let ev = c.receive(b"this is not json\r\n");
    assert!(matches!(ev.as_slice(), [QmpEvent::Protocol(_)]));
    assert!(matches!(c.receive(b"[1,2]").as_slice(), [QmpEvent::Protocol(_)]));
    // An object that never ends: cut at MAX_PENDING.
    let mut ev = c.receive(b"{\"QMP\": \"");
    let chunk = vec![b'a'; 64 << 10];
    for _ in 0..(MAX_PENDING / chunk.len() + 1) {
        ev.extend(c.receive(&chunk));
    }
    assert!(ev.iter().any(|e| matches!(e, QmpEvent::Protocol(_))));
    assert!(c.pending.len() <= MAX_PENDING);
    // And the session still works after a reset.
    c.reset();
    c.receive(GREETING);
    assert_eq!(sent(&mut c)[0]["execute"], "qmp_capabilities");
}
