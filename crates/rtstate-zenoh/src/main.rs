//! `rtstate-bridge`: export rtstate shared buffers onto Zenoh, or mirror
//! remote ones into local shared buffers. Runs until killed.

use rtstate_zenoh::{BridgeError, Exporter, Mirror, MirrorOptions, ZenohOptions};
use std::io::Write;
use std::time::Duration;

const USAGE: &str = "\
usage:
  rtstate-bridge export NAME... --namespace NS [ZENOH]
      publish shared buffers NAME... as rtstate/NS/NAME
  rtstate-bridge mirror KEYEXPR [--prefix P] [--capacity N] [ZENOH]
      mirror every matching key (e.g. 'rtstate/drone1/**') into local shared
      buffers named P<namespace>/<buffer>
  common: [--stats SECS]  print statistics every SECS seconds (default 1; 0: never)
ZENOH (passed to Zenoh's configuration):
  --mode peer|client      --connect ENDPOINT[,ENDPOINT...]   --listen ENDPOINT[,...]
  --no-multicast-scouting --config FILE.json5
  endpoints: tcp/127.0.0.1:7447, unixsock-stream//tmp/rtstate.sock";

struct Args {
    command: String,
    positional: Vec<String>,
    namespace: Option<String>,
    prefix: String,
    capacity: usize,
    stats: f64,
    zenoh: ZenohOptions,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = argv.next().ok_or("missing command")?;
    if command == "-h" || command == "--help" {
        return Err(String::new());
    }
    if command != "export" && command != "mirror" {
        return Err(format!("unknown command {command:?}"));
    }
    let mut args = Args {
        command,
        positional: Vec::new(),
        namespace: None,
        prefix: String::new(),
        capacity: 8,
        stats: 1.0,
        zenoh: ZenohOptions::default(),
    };
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--namespace" => args.namespace = Some(value("--namespace")?),
            "--prefix" => args.prefix = value("--prefix")?,
            "--capacity" => {
                let v = value("--capacity")?;
                args.capacity = v.parse().map_err(|_| format!("--capacity {v:?}"))?;
            }
            "--stats" => {
                let v = value("--stats")?;
                args.stats = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or(format!("--stats {v:?}"))?;
            }
            "--mode" => args.zenoh.mode = Some(value("--mode")?),
            "--connect" => args
                .zenoh
                .connect
                .extend(value("--connect")?.split(',').map(String::from)),
            "--listen" => args
                .zenoh
                .listen
                .extend(value("--listen")?.split(',').map(String::from)),
            "--no-multicast-scouting" => args.zenoh.no_multicast_scouting = true,
            "--config" => args.zenoh.config_file = Some(value("--config")?.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => args.positional.push(arg),
        }
    }
    Ok(args)
}

fn run(args: Args) -> Result<(), BridgeError> {
    let session = args.zenoh.open()?;
    let out = std::io::stdout();
    let period = (args.stats > 0.0).then(|| Duration::from_secs_f64(args.stats));
    let tick = period.unwrap_or(Duration::from_secs(3600));
    if args.command == "export" {
        let namespace = args.namespace.as_deref().ok_or(BridgeError::Invalid {
            what: "arguments",
            value: "export".into(),
            reason: "--namespace is required".into(),
        })?;
        let mut exporter = Exporter::new(&session, namespace)?;
        for name in &args.positional {
            exporter.export_shared(name)?;
        }
        for s in exporter.statistics() {
            writeln!(out.lock(), "exporting {} as {}", s.name, s.key).ok();
        }
        writeln!(out.lock(), "ready").ok();
        loop {
            std::thread::sleep(tick);
            if period.is_some() {
                for s in exporter.statistics() {
                    writeln!(
                        out.lock(),
                        "{} published={} version={} queries={} errors={} writer={}",
                        s.key,
                        s.published,
                        s.last_version,
                        s.queries,
                        s.errors,
                        if s.writer_alive { "alive" } else { "gone" }
                    )
                    .ok();
                }
            }
        }
    } else {
        let [key_expr] = args.positional.as_slice() else {
            return Err(BridgeError::Invalid {
                what: "arguments",
                value: args.positional.join(" "),
                reason: "mirror takes one key expression".into(),
            });
        };
        let options = MirrorOptions {
            capacity: args.capacity,
            local_prefix: args.prefix.clone(),
            ..Default::default()
        };
        let mirror = Mirror::shared(&session, key_expr, options)?;
        writeln!(out.lock(), "mirroring {key_expr}").ok();
        writeln!(out.lock(), "ready").ok();
        let mut shown_errors = 0usize;
        loop {
            std::thread::sleep(tick);
            let stats = mirror.statistics();
            if period.is_none() {
                continue;
            }
            let mut out = out.lock();
            for b in &stats.buffers {
                let writer = match b.writer_alive {
                    Some(true) => "alive",
                    Some(false) => "gone",
                    None => "unknown",
                };
                let age = b.age().map(|a| format!("{a:.3}s")).unwrap_or("-".into());
                writeln!(
                    out,
                    "{} -> {} version={} lost={} resets={} dropped_old={} \
                     malformed={} layout_refused={} writer={writer} age={age}",
                    b.key,
                    b.local_name,
                    b.remote_version,
                    b.lost,
                    b.local_resets,
                    b.dropped_old,
                    b.malformed,
                    b.layout_refused
                )
                .ok();
            }
            if stats.outside_namespace > 0 {
                writeln!(out, "outside the namespace: {}", stats.outside_namespace).ok();
            }
            for e in stats
                .errors
                .iter()
                .skip(shown_errors.min(stats.errors.len()))
            {
                writeln!(out, "error: {e}").ok();
            }
            shown_errors = stats.errors.len();
        }
    }
}

fn main() {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return;
            }
            eprintln!("rtstate-bridge: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("rtstate-bridge: {e}");
        std::process::exit(1);
    }
}
