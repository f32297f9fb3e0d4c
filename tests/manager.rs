//! Public behaviour of [`StateManager`]: registration, typed lookup and its
//! exact errors, unregistering, names, statistics by name and the
//! `uorb top`-style table.
#![cfg(not(loom))]

use rtstate::{
    render_table, Error, FastDroneState, MockClock, SlotRing, Source, StateBuffer, StateManager,
};
use std::time::Duration;

fn fast(timestamp: f64) -> FastDroneState {
    FastDroneState::new(timestamp, [0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]).unwrap()
}

fn manager() -> StateManager {
    let m = StateManager::new();
    m.register(
        "fast_state",
        SlotRing::<FastDroneState>::checked(5).unwrap(),
    )
    .unwrap();
    m.register("mode", StateBuffer::<String>::new(10).unwrap())
        .unwrap();
    m
}

#[test]
fn registered_buffers_come_back_typed_and_shared() {
    let m = manager();
    let ring: SlotRing<FastDroneState> = m.get("fast_state").unwrap();
    ring.publish(fast(1.0), Source::intern("ekf")).unwrap();
    let again: SlotRing<FastDroneState> = m.get("fast_state").unwrap();
    assert_eq!(again.version(), 1, "the same ring, not a copy");
    assert_eq!(again.latest().unwrap().state, fast(1.0));
    let mode: StateBuffer<String> = m.get("mode").unwrap();
    mode.publish("hover".into(), Source::UNKNOWN).unwrap();
    assert_eq!(
        m.get::<StateBuffer<String>>("mode")
            .unwrap()
            .latest()
            .unwrap()
            .state,
        "hover"
    );
}

#[test]
fn a_taken_name_is_refused() {
    let m = manager();
    let err = m
        .register("mode", StateBuffer::<u64>::new(1).unwrap())
        .unwrap_err();
    assert_eq!(err, Error::AlreadyRegistered("mode".into()));
    assert!(err.to_string().contains("mode"), "{err}");
    // The original is untouched.
    assert!(m.get::<StateBuffer<String>>("mode").is_ok());
    assert_eq!(m.names(), ["fast_state", "mode"]);
}

#[test]
fn a_wrong_type_names_both_types_briefly() {
    let m = manager();
    assert_eq!(
        m.get::<SlotRing<[f64; 3]>>("fast_state").unwrap_err(),
        Error::TypeMismatch {
            name: "fast_state".into(),
            requested: "SlotRing<[f64; 3]>",
            actual: "SlotRing<FastDroneState>",
        }
    );
    assert_eq!(
        m.get::<StateBuffer<FastDroneState>>("mode").unwrap_err(),
        Error::TypeMismatch {
            name: "mode".into(),
            requested: "StateBuffer<FastDroneState>",
            actual: "StateBuffer<String>",
        }
    );
    let err = m.get::<SlotRing<[f64; 3]>>("fast_state").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("fast_state") && msg.contains("SlotRing<FastDroneState>"),
        "{msg}"
    );
}

#[test]
fn register_as_shows_the_given_type_name() {
    let m = StateManager::new();
    m.register_as(
        "py",
        StateBuffer::<String>::new(2).unwrap(),
        "DroneStateBuffer",
    )
    .unwrap();
    assert_eq!(
        m.get::<StateBuffer<u64>>("py").unwrap_err(),
        Error::TypeMismatch {
            name: "py".into(),
            requested: "StateBuffer<u64>",
            actual: "DroneStateBuffer",
        }
    );
    assert_eq!(m.infos()[0].type_name, "DroneStateBuffer");
    assert!(m.table().contains("DroneStateBuffer"));
}

#[test]
fn an_unknown_name_is_an_error() {
    let m = manager();
    assert_eq!(
        m.get::<StateBuffer<String>>("nope").unwrap_err(),
        Error::UnknownName("nope".into())
    );
    assert_eq!(
        m.unregister("nope").unwrap_err(),
        Error::UnknownName("nope".into())
    );
    let err = Error::UnknownName("nope".into());
    assert!(err.to_string().contains("nope"));
}

#[test]
fn unregister_removes_the_name_but_handles_stay_usable() {
    let m = manager();
    let ring: SlotRing<FastDroneState> = m.get("fast_state").unwrap();
    m.unregister("fast_state").unwrap();
    assert_eq!(m.names(), ["mode"]);
    assert_eq!(
        m.get::<SlotRing<FastDroneState>>("fast_state").unwrap_err(),
        Error::UnknownName("fast_state".into())
    );
    assert_eq!(ring.publish(fast(2.0), Source::UNKNOWN).unwrap(), 1);
    // The name is free again.
    m.register("fast_state", SlotRing::<[f64; 3]>::new(2).unwrap())
        .unwrap();
    assert!(m.get::<SlotRing<[f64; 3]>>("fast_state").is_ok());
}

#[test]
fn names_are_sorted() {
    let m = StateManager::new();
    assert!(m.names().is_empty());
    for name in ["zeta", "alpha", "Mid", "beta_2", "beta_10"] {
        m.register(name, StateBuffer::<u64>::new(1).unwrap())
            .unwrap();
    }
    assert_eq!(m.names(), ["Mid", "alpha", "beta_10", "beta_2", "zeta"]);
    let info_names: Vec<_> = m.infos().into_iter().map(|i| i.name).collect();
    assert_eq!(info_names, m.names());
}

#[test]
fn statistics_are_keyed_by_name() {
    let m = manager();
    let ring: SlotRing<FastDroneState> = m.get("fast_state").unwrap();
    for i in 0..3 {
        ring.publish(fast(i as f64), Source::UNKNOWN).unwrap();
    }
    ring.latest();
    let _reader = ring.reader();
    let stats = m.statistics();
    assert_eq!(stats.keys().collect::<Vec<_>>(), ["fast_state", "mode"]);
    let fs = &stats["fast_state"];
    assert_eq!(
        (fs.updates, fs.reads, fs.readers, fs.capacity),
        (3, 1, 1, 5)
    );
    let mode = &stats["mode"];
    assert_eq!((mode.updates, mode.reads, mode.capacity), (0, 0, 10));
}

#[test]
fn table_has_a_header_and_a_row_per_buffer() {
    let m = manager();
    let mock = MockClock::new(1000.0);
    let imu = StateBuffer::<u64>::with_clock(4, mock.clock()).unwrap();
    m.register("imu", imu.clone()).unwrap();
    imu.publish(1, Source::UNKNOWN).unwrap();
    mock.advance(Duration::from_millis(250));
    let table = m.table();
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for column in [
        "NAME",
        "VERSION",
        "UPDATES/S",
        "READERS",
        "LOST",
        "STALE",
        "AGE",
    ] {
        assert!(header.contains(column), "{column} missing from {header:?}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{table}");
    // Rows follow the sorted names.
    for (row, name) in rows.iter().zip(["fast_state", "imu", "mode"]) {
        assert!(row.starts_with(name), "{row:?} should start with {name}");
    }
    assert!(rows[1].contains("250.0 ms"), "age of imu: {:?}", rows[1]);
    assert!(
        rows[0].trim_end().ends_with('-'),
        "no age for an empty buffer: {:?}",
        rows[0]
    );
    // The free function renders the same rows (rates aside: they are
    // sampled anew by each call).
    let again = render_table(&m.infos());
    assert_eq!(again.lines().next(), Some(header));
    assert_eq!(again.lines().count(), 4);
}

#[test]
fn manager_is_shared_across_threads() {
    let m = std::sync::Arc::new(manager());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let m = std::sync::Arc::clone(&m);
            std::thread::spawn(move || {
                let name = format!("thread_{t}");
                m.register(&name, StateBuffer::<u64>::new(2).unwrap())
                    .unwrap();
                let b: StateBuffer<u64> = m.get(&name).unwrap();
                b.publish(t, Source::UNKNOWN).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(m.names().len(), 6);
    assert!(m.statistics().values().filter(|s| s.updates == 1).count() >= 4);
}
