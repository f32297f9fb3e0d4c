//! The live Foxglove WebSocket server (feature `serve`), seen by a
//! WebSocket client speaking `foxglove.sdk.v1`: server info, one channel
//! per buffer with the recorder's schemas (and a drone state's tf/pose
//! channels), the latest state on subscribe, then streamed publishes;
//! shared buffers by name; a port in use and an unknown name.

use futures_util::{SinkExt, StreamExt};
use rtstate::serve::{ServeError, Server};
use rtstate::shm::{CreateOptions, SharedRing};
use rtstate::{FastDroneState, SlotRing, Source};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Generous: the machine is shared and noisy.
const TIMEOUT: Duration = Duration::from_secs(30);

#[path = "common/tempdir.rs"]
mod tempdir;
use tempdir::TempDir;

fn drone(x: f64) -> FastDroneState {
    FastDroneState::new(
        1.7e9 + x,
        [x, -x, 2.0],
        [0.5; 3],
        [0.0, 0.0, 0.25],
        [0.0; 3],
    )
    .unwrap()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A Foxglove WebSocket client: the channels advertised (topic → the
/// advertisement) and the message data received per subscription id.
struct Client {
    ws: Ws,
    info: Option<Value>,
    channels: HashMap<String, Value>,
}

/// One message data frame (opcode 0x01).
struct Data {
    subscription: u32,
    log_time: u64,
    payload: Value,
}

impl Client {
    async fn connect(port: u16) -> Client {
        let mut request = format!("ws://127.0.0.1:{port}")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "foxglove.sdk.v1".parse().unwrap());
        let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some("foxglove.sdk.v1".to_owned())
        );
        Client {
            ws,
            info: None,
            channels: HashMap::new(),
        }
    }

    /// Reads frames until `done` says so; text frames update the server
    /// info and the channels, binary message data frames are passed to
    /// `done`.
    async fn until(&mut self, mut done: impl FnMut(&Client, Option<Data>) -> bool) {
        let work = async {
            if done(self, None) {
                return;
            }
            loop {
                let frame = self.ws.next().await.expect("closed").unwrap();
                let data = match frame {
                    Message::Text(t) => {
                        let v: Value = serde_json::from_str(t.as_str()).unwrap();
                        match v["op"].as_str().unwrap() {
                            "serverInfo" => self.info = Some(v),
                            "advertise" => {
                                for c in v["channels"].as_array().unwrap() {
                                    let topic = c["topic"].as_str().unwrap().to_owned();
                                    self.channels.insert(topic, c.clone());
                                }
                            }
                            _ => {}
                        }
                        None
                    }
                    Message::Binary(b) => {
                        assert_eq!(b[0], 0x01, "only message data is expected");
                        let subscription = u32::from_le_bytes(b[1..5].try_into().unwrap());
                        let log_time = u64::from_le_bytes(b[5..13].try_into().unwrap());
                        let payload = serde_json::from_slice(&b[13..]).unwrap();
                        Some(Data {
                            subscription,
                            log_time,
                            payload,
                        })
                    }
                    _ => None,
                };
                if done(self, data) {
                    return;
                }
            }
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .expect("timed out waiting for the server");
    }

    async fn subscribe(&mut self, subscriptions: &[(u32, &str)]) {
        let subs: Vec<Value> = subscriptions
            .iter()
            .map(|(id, topic)| json!({"id": id, "channelId": self.channels[*topic]["id"]}))
            .collect();
        let msg = json!({"op": "subscribe", "subscriptions": subs}).to_string();
        self.ws.send(Message::text(msg)).await.unwrap();
    }

    /// The next message data of `subscription` (others are skipped).
    async fn next_of(&mut self, subscription: u32) -> Data {
        let mut got = None;
        self.until(|_, d| match d {
            Some(d) if d.subscription == subscription => {
                got = Some(d);
                true
            }
            _ => false,
        })
        .await;
        got.unwrap()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn advertises_sends_the_latest_on_subscribe_then_streams() {
    let ring = SlotRing::<FastDroneState>::new(16).unwrap();
    ring.publish(drone(1.0), Source::intern("est")).unwrap();
    let mut server = Server::builder()
        .port(0)
        .buffer("drone", &ring)
        .unwrap()
        .start()
        .unwrap();
    assert_ne!(server.port(), 0);
    assert_eq!(server.url(), format!("ws://127.0.0.1:{}", server.port()));
    let port = server.port();
    runtime().block_on(async {
        let mut c = Client::connect(port).await;
        c.until(|c, _| c.info.is_some() && c.channels.len() == 3)
            .await;
        let info = c.info.as_ref().unwrap();
        assert_eq!(info["name"], "rtstate");
        // View only: no client publishing, parameters or services.
        assert_eq!(info["capabilities"], json!([]));
        let state = &c.channels["drone"];
        assert_eq!(state["encoding"], "json");
        assert_eq!(state["schemaName"], "rtstate/drone");
        assert_eq!(state["schemaEncoding"], "jsonschema");
        let schema: Value = serde_json::from_str(state["schema"].as_str().unwrap()).unwrap();
        assert!(schema["properties"]["state"]["properties"]["position"].is_object());
        assert_eq!(
            c.channels["drone/tf"]["schemaName"],
            "foxglove.FrameTransform"
        );
        assert_eq!(
            c.channels["drone/pose"]["schemaName"],
            "foxglove.PoseInFrame"
        );

        // Subscribing: the latest state at once (published before the
        // server started), on each channel.
        c.subscribe(&[(1, "drone"), (2, "drone/tf"), (3, "drone/pose")])
            .await;
        let d = c.next_of(1).await;
        assert_eq!(d.payload["version"], 1);
        assert_eq!(d.payload["source"], "est");
        assert_eq!(d.payload["state"]["position"], json!([1.0, -1.0, 2.0]));
        let published = d.payload["publish_time"].as_f64().unwrap();
        assert!((d.log_time as f64 / 1e9 - published).abs() < 1e-3);
        let tf = c.next_of(2).await;
        assert_eq!(tf.payload["parent_frame_id"], "world");
        assert_eq!(tf.payload["child_frame_id"], "base_link");
        assert_eq!(tf.payload["translation"]["x"], 1.0);
        let pose = c.next_of(3).await;
        assert_eq!(pose.payload["frame_id"], "world");
        assert_eq!(pose.payload["pose"]["position"]["y"], -1.0);

        // Then every publish, in order.
        for i in 2..=5 {
            ring.publish(drone(i as f64), Source::intern("est"))
                .unwrap();
        }
        for i in 2..=5 {
            let d = c.next_of(1).await;
            assert_eq!(d.payload["version"], i);
            assert_eq!(d.payload["state"]["position"][0], i as f64);
        }

        // A second client gets the newest on subscribe.
        let mut c2 = Client::connect(port).await;
        c2.until(|c, _| c.channels.len() == 3).await;
        c2.subscribe(&[(7, "drone")]).await;
        let d = c2.next_of(7).await;
        assert_eq!(d.payload["version"], 5);
    });
    let stats = server.stop().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].name, "drone");
    assert_eq!(stats[0].streamed, 4);
    assert_eq!(stats[0].dropped, 0);
    assert!(!server.is_running());
    // Stopped: the port is free again.
    let again = Server::builder()
        .port(port)
        .buffer("drone", &ring)
        .unwrap()
        .start();
    assert!(again.is_ok(), "{again:?}");
}

#[test]
fn serves_shared_buffers_by_name() {
    let dir = TempDir::new("serve", "shared");
    let ring =
        SharedRing::<FastDroneState>::create_in(dir.path(), "s/fast", 64, CreateOptions::default())
            .unwrap();
    ring.publish(drone(3.0), Source::intern("sim")).unwrap();
    let mut server = Server::builder()
        .port(0)
        .shared("s/fast", Some(dir.path()))
        .unwrap()
        .start()
        .unwrap();
    let port = server.port();
    runtime().block_on(async {
        let mut c = Client::connect(port).await;
        c.until(|c, _| c.channels.len() == 3).await;
        assert_eq!(c.channels["s/fast"]["schemaName"], "rtstate/s/fast");
        assert!(c.channels.contains_key("s/fast/tf"));
        c.subscribe(&[(1, "s/fast")]).await;
        let d = c.next_of(1).await;
        assert_eq!(d.payload["version"], 1);
        assert_eq!(d.payload["source"], "sim");
        ring.publish(drone(4.0), Source::intern("sim")).unwrap();
        let d = c.next_of(1).await;
        assert_eq!(d.payload["version"], 2);
        assert_eq!(d.payload["state"]["position"][0], 4.0);
    });
    let stats = server.stop().unwrap();
    assert_eq!((stats[0].streamed, stats[0].dropped), (1, 0));
}

#[test]
fn bad_input_is_a_clear_error() {
    let ring = SlotRing::<FastDroneState>::new(4).unwrap();
    let server = Server::builder()
        .port(0)
        .buffer("a", &ring)
        .unwrap()
        .start()
        .unwrap();
    // A port in use.
    let e = Server::builder()
        .port(server.port())
        .buffer("a", &ring)
        .unwrap()
        .start()
        .unwrap_err();
    assert!(matches!(e, ServeError::Bind { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port())),
        "{text}"
    );
    // An unknown shared buffer.
    let dir = TempDir::new("serve", "unknown");
    let e = Server::builder()
        .shared("no/such", Some(dir.path()))
        .unwrap_err();
    assert!(e.to_string().contains("no/such"), "{e}");
    // The same name twice; nothing to serve.
    let e = Server::builder()
        .buffer("a", &ring)
        .unwrap()
        .buffer("a", &ring)
        .unwrap_err();
    assert!(e.to_string().contains("\"a\""), "{e}");
    let e = Server::builder().port(0).start().unwrap_err();
    assert!(matches!(e, ServeError::Invalid(_)), "{e:?}");
}
