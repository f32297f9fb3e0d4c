//! Every public handle is `Send + Sync` (or `Send` where documented).

use rtstate::*;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn public_handles_are_send_and_sync() {
    send_sync::<SlotRing<FastDroneState>>();
    send_sync::<StateBuffer<DroneState>>();
    send_sync::<StateBuffer<String>>();
    send_sync::<StateManager>();
    send_sync::<Subscription<Snapshot<FastDroneState>>>();
    send_sync::<Subscription<std::sync::Arc<Snapshot<DroneState>>>>();
    send_sync::<Snapshot<FastDroneState>>();
    send_sync::<Statistics>();
    send_sync::<Source>();
    send_sync::<Clock>();
    send_sync::<MockClock>();
    send_sync::<Error>();
    send_sync::<FastDroneState>();
    send_sync::<DroneState>();
    send_sync::<EstimatedState>();
    send_sync::<control::Handle>();
    send_sync::<control::Autopilot>();
    send_sync::<control::LoopStats>();
    send_sync::<control::LoopConfig>();
    send_sync::<control::pid::Controller>();
    // A reader is one consumer's cursor: it moves between threads; its
    // methods take `&mut self`, so sharing it is harmless too.
    send::<Reader<SlotRing<FastDroneState>>>();
    send_sync::<Reader<StateBuffer<String>>>();
}
