//! `rtstate._Server`: a thin wrapper over [`crate::serve::Server`]; the
//! Python class `rtstate.Server` (in `python/rtstate/_serve.py`) turns a
//! manager or a list into the `(name, buffer)` pairs taken here.

use super::record::{drone_twin, record_err, target, Target};
use crate::serve::{BufferServeStatistics, ServeError, Server, ServerOptions};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

fn serve_err(e: ServeError) -> PyErr {
    match e {
        ServeError::Bind { ref source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, e.to_string())),
            None => PyOSError::new_err(e.to_string()),
        },
        ServeError::Buffer(e) => record_err(e),
        ServeError::Invalid(_) => PyValueError::new_err(e.to_string()),
        ServeError::Foxglove(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

enum Phase {
    Running(Server),
    Done(Vec<BufferServeStatistics>),
    Stopping,
}

fn lock(m: &Mutex<Phase>) -> std::sync::MutexGuard<'_, Phase> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stats_dict<'py>(py: Python<'py>, s: &[BufferServeStatistics]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("streamed", s.iter().map(|b| b.streamed).sum::<u64>())?;
    d.set_item("dropped", s.iter().map(|b| b.dropped).sum::<u64>())?;
    let buffers = PyDict::new(py);
    for b in s {
        let row = PyDict::new(py);
        row.set_item("streamed", b.streamed)?;
        row.set_item("dropped", b.dropped)?;
        buffers.set_item(&b.name, row)?;
    }
    d.set_item("buffers", buffers)?;
    Ok(d)
}

/// A live Foxglove WebSocket server of buffers (see `rtstate.Server`).
#[pyclass(frozen, module = "rtstate", name = "_Server")]
pub struct PyServer {
    phase: Mutex<Phase>,
    host: String,
    port: u16,
    url: String,
    names: Vec<String>,
}

#[pymethods]
impl PyServer {
    #[new]
    #[pyo3(signature = (buffers, directory=None, host="127.0.0.1", port=8765, poll_interval=0.001, queue=1024, foxglove=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        buffers: Vec<(String, Bound<'_, PyAny>)>,
        directory: Option<PathBuf>,
        host: &str,
        port: u16,
        poll_interval: f64,
        queue: usize,
        foxglove: bool,
    ) -> PyResult<Self> {
        let poll_interval = Duration::try_from_secs_f64(poll_interval).map_err(|_| {
            PyValueError::new_err(format!(
                "`poll_interval` must be a non-negative number of seconds, got {poll_interval}"
            ))
        })?;
        if queue == 0 || queue > crate::MAX_CAPACITY {
            return Err(PyValueError::new_err(format!(
                "`queue` must be 1 to {}, got {queue}",
                crate::MAX_CAPACITY
            )));
        }
        let mut builder = Server::builder().options(ServerOptions {
            host: host.to_owned(),
            port,
            poll_interval,
            queue,
            foxglove,
            ..ServerOptions::default()
        });
        for (name, obj) in buffers {
            builder = match target(&name, &obj, "buffers")? {
                Target::Shared(shared) => builder.shared(&shared, directory.as_deref()),
                Target::Ring(ring) => builder.buffer(&name, &ring),
                Target::Drones(buffer) => builder.buffer_as(&name, &buffer, drone_twin),
            }
            .map_err(serve_err)?;
        }
        // Binding and starting the threads need no GIL.
        let server = py.detach(move || builder.start()).map_err(serve_err)?;
        Ok(PyServer {
            host: server.host().to_owned(),
            port: server.port(),
            url: server.url(),
            names: server.names().to_vec(),
            phase: Mutex::new(Phase::Running(server)),
        })
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// The bound host.
    #[getter]
    fn host(&self) -> &str {
        &self.host
    }

    /// `ws://host:port`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The buffers served.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Whether it serves.
    #[getter]
    fn running(&self) -> bool {
        matches!(&*lock(&self.phase), Phase::Running(s) if s.is_running())
    }

    /// The clients connected now.
    #[getter]
    fn client_count(&self) -> usize {
        match &*lock(&self.phase) {
            Phase::Running(s) => s.client_count(),
            _ => 0,
        }
    }

    /// The counts so far.
    fn statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // Copied out of the lock: building the dict may run Python code.
        let stats = match &*lock(&self.phase) {
            Phase::Running(s) => s.statistics(),
            Phase::Done(s) => s.clone(),
            Phase::Stopping => return Err(PyRuntimeError::new_err("the server is stopping")),
        };
        stats_dict(py, &stats)
    }

    /// Stops (joins the streaming thread, closes the connections) and
    /// returns the counts.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut server = {
            let mut phase = lock(&self.phase);
            match std::mem::replace(&mut *phase, Phase::Stopping) {
                Phase::Running(s) => s,
                Phase::Done(s) => {
                    *phase = Phase::Done(s.clone());
                    drop(phase);
                    return stats_dict(py, &s);
                }
                Phase::Stopping => {
                    return Err(PyRuntimeError::new_err("the server is stopping"));
                }
            }
        };
        // Joined without the GIL or the lock (the threads need neither).
        let result = py.detach(move || server.stop());
        match result {
            Ok(s) => {
                let d = stats_dict(py, &s);
                *lock(&self.phase) = Phase::Done(s);
                d
            }
            Err(e) => {
                *lock(&self.phase) = Phase::Done(Vec::new());
                Err(serve_err(e))
            }
        }
    }
}
