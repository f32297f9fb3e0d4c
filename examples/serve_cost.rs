//! What the live Foxglove server costs the writer, measured in one run
//! (feature `serve`): `cargo run --release --features serve --example serve_cost`.
//!
//! The median cost of one publish of a whole `FastDroneState` into a slot
//! ring with one subscription drained by a polling thread, and into a slot
//! ring served by a [`Server`] with a WebSocket client subscribed to its
//! three channels (state, tf, pose: the server encodes and sends every
//! publish, on its own threads). Blocks of the two alternate in the same
//! run; medians of the per-block means. The client's received count and
//! the server's drops are printed.

use futures_util::{SinkExt, StreamExt};
use rtstate::serve::Server;
use rtstate::{FastDroneState, Policy, SlotRing, Source};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BLOCK: usize = 2000;
const BLOCKS: usize = 60;

fn state(i: usize) -> FastDroneState {
    let x = i as f64;
    FastDroneState {
        timestamp: 1.7e9 + x * 1e-3,
        position: [x, -x, 1.0],
        velocity: [0.1; 3],
        attitude: [0.0, 0.0, x * 1e-3],
        angular_velocity: [0.0; 3],
    }
}

fn block(ring: &SlotRing<FastDroneState>, source: Source, start: usize) -> f64 {
    let t = Instant::now();
    for i in start..start + BLOCK {
        black_box(ring.publish(black_box(state(i)), source).unwrap());
        // As in record_cost: a short pause lets the consumers keep up in
        // both setups alike.
        if i % 64 == 0 {
            std::thread::yield_now();
        }
    }
    t.elapsed().as_nanos() as f64 / BLOCK as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A client subscribed to every channel of the server, counting the
/// message data frames it receives until `stop`.
async fn client(
    port: u16,
    received: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let mut request = format!("ws://127.0.0.1:{port}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "foxglove.sdk.v1".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut ids = Vec::new();
    while ids.len() < 3 {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
            if v["op"] == "advertise" {
                for c in v["channels"].as_array().unwrap() {
                    ids.push(c["id"].clone());
                }
            }
        }
    }
    let subs: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| serde_json::json!({"id": i, "channelId": id}))
        .collect();
    let msg = serde_json::json!({"op": "subscribe", "subscriptions": subs});
    ws.send(Message::text(msg.to_string())).await.unwrap();
    ready.store(true, Ordering::SeqCst);
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(50), ws.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => {
                received.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(_) => break,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = Source::intern("bench");

    let sub_ring = SlotRing::<FastDroneState>::new(8)?;
    let sub = sub_ring.subscribe(1024, Policy::DropOldest)?;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut any = false;
                while let Ok(s) = sub.try_recv() {
                    black_box(s);
                    n += 1;
                    any = true;
                }
                if !any {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            (n, sub.counters().dropped)
        })
    };

    let served = SlotRing::<FastDroneState>::new(8)?;
    served.publish(state(0), source)?;
    let mut server = Server::builder().port(0).buffer("d", &served)?.start()?;
    let received = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicBool::new(false));
    let client_thread = {
        let (port, received, ready, stop) =
            (server.port(), received.clone(), ready.clone(), stop.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(client(port, received, ready, stop))
        })
    };
    let t = Instant::now();
    while !ready.load(Ordering::SeqCst) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the client never subscribed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let (mut with_sub, mut with_server) = (Vec::new(), Vec::new());
    let mut i = 1;
    for _ in 0..BLOCKS {
        with_sub.push(block(&sub_ring, source, i));
        with_server.push(block(&served, source, i));
        i += BLOCK;
    }
    std::thread::sleep(Duration::from_millis(500)); // the client drains
    stop.store(true, Ordering::Relaxed);
    let (consumed, sub_dropped) = consumer.join().unwrap();
    client_thread.join().unwrap();
    let stats = server.stop()?;
    let (s, r) = (median(with_sub), median(with_server));
    println!("publish, one subscription drained by a thread: {s:.1} ns (median of {BLOCKS} blocks of {BLOCK}; consumer got {consumed}, dropped {sub_dropped})");
    println!(
        "publish, live server with a subscribed client:  {r:.1} ns (streamed {}, dropped {}; the client received {} frames on 3 channels)",
        stats[0].streamed,
        stats[0].dropped,
        received.load(Ordering::Relaxed)
    );
    println!("ratio server / subscription: {:.2}", r / s);
    Ok(())
}
