//! `rtstate._Recorder` and `rtstate._replay`: thin wrappers over
//! [`crate::record`]; the Python class `rtstate.Recorder` (in
//! `python/rtstate/_record.py`) turns a manager or a list into the
//! `(name, buffer)` pairs taken here.

use super::buffers::PyStateBuffer;
use super::convert::type_name;
use super::store::Entry;
use crate::record::replay::{replay_shared, Recording};
use crate::record::{RecordError, RecordStatistics, Recorder, RecorderBuilder, RecorderOptions};
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

pub(super) fn record_err(e: RecordError) -> PyErr {
    match e {
        RecordError::Buffer(e) => e.into(),
        RecordError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        RecordError::Io { .. } => PyOSError::new_err(e.to_string()),
        RecordError::Mcap { .. } | RecordError::Invalid(_) => PyValueError::new_err(e.to_string()),
    }
}

/// What a `(name, buffer)` pair of `rtstate.Recorder` or `rtstate.Server`
/// names: a shared buffer (by its name), an in-process ring, or an
/// in-process buffer of `DroneState` objects (written as their
/// `FastDroneState` twins, taken at publish: see [`drone_twin`]).
pub(super) enum Target {
    Shared(String),
    Ring(crate::SlotRing<crate::FastDroneState>),
    Drones(crate::StateBuffer<Entry>),
}

/// What a recorder or a live server writes for a state of a `DroneState`
/// buffer: its twin taken at publish (no GIL needed on their threads).
pub(super) fn drone_twin(e: &Entry) -> Option<crate::FastDroneState> {
    e.fast
}

/// Checks one `(name, buffer)` pair (`what`: the argument's name in errors).
pub(super) fn target(name: &str, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Target> {
    if let Ok(shared) = obj.cast::<PyString>() {
        return Ok(Target::Shared(shared.extract()?));
    }
    if let Ok(b) = obj.cast::<PyStateBuffer>() {
        let store = &b.get().store;
        return match store.fast_ring() {
            Some(ring) => Ok(Target::Ring(ring.clone())),
            None => match store.objects() {
                Some(objects) if b.get().holds_drone_states(obj.py()) => {
                    Ok(Target::Drones(objects.clone()))
                }
                Some(_) => Err(PyTypeError::new_err(format!(
                    "`{what}`: {name:?} holds {} objects; expected a DroneState or FastDroneState buffer, or a shared buffer's name",
                    b.get().state_type_name(obj.py())
                ))),
                None => Err(PyTypeError::new_err(format!(
                    "`{what}`: {name:?} is a shared-memory FastDroneStateBuffer: give it by its name"
                ))),
            },
        };
    }
    Err(PyTypeError::new_err(format!(
        "`{what}`: {name:?} is a {}, expected a FastDroneStateBuffer or a shared buffer's name",
        type_name(obj)
    )))
}

enum Phase {
    Ready(RecorderBuilder),
    Running(Recorder),
    Done(RecordStatistics),
    Taken,
}

/// A recording of buffers into an MCAP file (see `rtstate.Recorder`).
#[pyclass(frozen, module = "rtstate", name = "_Recorder")]
pub struct PyRecorder {
    phase: Mutex<Phase>,
}

fn lock(m: &Mutex<Phase>) -> std::sync::MutexGuard<'_, Phase> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stats_dict<'py>(py: Python<'py>, s: &RecordStatistics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", s.path.display().to_string())?;
    d.set_item("recorded", s.recorded())?;
    d.set_item("dropped", s.dropped())?;
    let buffers = PyDict::new(py);
    for b in &s.buffers {
        let row = PyDict::new(py);
        row.set_item("recorded", b.recorded)?;
        row.set_item("dropped", b.dropped)?;
        buffers.set_item(&b.name, row)?;
    }
    d.set_item("buffers", buffers)?;
    Ok(d)
}

#[pymethods]
impl PyRecorder {
    #[new]
    #[pyo3(signature = (path, buffers, directory=None, poll_interval=0.001, queue=1024, foxglove=true))]
    fn new(
        path: PathBuf,
        buffers: Vec<(String, Bound<'_, PyAny>)>,
        directory: Option<PathBuf>,
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
        let mut builder = Recorder::builder(path).options(RecorderOptions {
            poll_interval,
            queue,
            foxglove,
        });
        for (name, obj) in buffers {
            builder = match target(&name, &obj, "buffers")? {
                Target::Shared(shared) => builder.shared(&shared, directory.as_deref()),
                Target::Ring(ring) => builder.buffer(&name, &ring),
                Target::Drones(buffer) => builder.buffer_as(&name, &buffer, drone_twin),
            }
            .map_err(record_err)?;
        }
        Ok(PyRecorder {
            phase: Mutex::new(Phase::Ready(builder)),
        })
    }

    /// Creates the file and starts recording (once).
    fn start(&self) -> PyResult<()> {
        let mut phase = lock(&self.phase);
        match std::mem::replace(&mut *phase, Phase::Taken) {
            Phase::Ready(b) => match b.start() {
                Ok(r) => {
                    *phase = Phase::Running(r);
                    Ok(())
                }
                Err(e) => Err(record_err(e)),
            },
            other => {
                *phase = other;
                Err(PyRuntimeError::new_err("the recorder was already started"))
            }
        }
    }

    /// Stops, finishes the file and returns the counts.
    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let taken = {
            let mut phase = lock(&self.phase);
            match std::mem::replace(&mut *phase, Phase::Taken) {
                Phase::Running(r) => r,
                Phase::Done(s) => {
                    *phase = Phase::Done(s.clone());
                    drop(phase);
                    return stats_dict(py, &s);
                }
                other => {
                    *phase = other;
                    return Err(PyRuntimeError::new_err("the recorder was not started"));
                }
            }
        };
        // Joined without the GIL or the lock (the thread needs neither).
        let mut recorder = taken;
        let result = py.detach(move || recorder.stop());
        match result {
            Ok(s) => {
                let d = stats_dict(py, &s);
                *lock(&self.phase) = Phase::Done(s);
                d
            }
            Err(e) => Err(record_err(e)),
        }
    }

    /// The counts so far.
    fn statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        // Copied out of the lock: building the dict may run Python code.
        let stats = match &*lock(&self.phase) {
            Phase::Running(r) => r.statistics(),
            Phase::Done(s) => s.clone(),
            Phase::Ready(b) => RecordStatistics {
                path: PathBuf::new(),
                buffers: b
                    .names()
                    .into_iter()
                    .map(|name| crate::record::BufferRecordStatistics {
                        name,
                        recorded: 0,
                        dropped: 0,
                    })
                    .collect(),
            },
            Phase::Taken => return Err(PyRuntimeError::new_err("the recorder is stopping")),
        };
        stats_dict(py, &stats)
    }

    /// Whether it records.
    #[getter]
    fn running(&self) -> bool {
        matches!(&*lock(&self.phase), Phase::Running(r) if r.is_running())
    }
}

/// Replays a recording into shared buffers; returns `{"published",
/// "elapsed"}`. `rate` None: as fast as possible.
#[pyfunction]
#[pyo3(signature = (path, directory=None, names=None, rate=None))]
pub(crate) fn _replay<'py>(
    py: Python<'py>,
    path: PathBuf,
    directory: Option<PathBuf>,
    names: Option<Vec<String>>,
    rate: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let names = names.unwrap_or_default();
    let result = py.detach(move || {
        let recording = Recording::open(&path)?;
        replay_shared(&recording, directory.as_deref(), &names, rate)
    });
    let stats = result.map_err(record_err)?;
    let d = PyDict::new(py);
    d.set_item("published", stats.published)?;
    d.set_item("elapsed", stats.elapsed.as_secs_f64())?;
    Ok(d)
}

/// Replays a recording into in-process `FastDroneStateBuffer`s: `buffers`
/// are `(channel name, buffer)` pairs; returns `{"published", "elapsed"}`.
#[pyfunction]
#[pyo3(signature = (path, buffers, rate=None))]
pub(crate) fn _replay_into<'py>(
    py: Python<'py>,
    path: PathBuf,
    buffers: Vec<(String, Bound<'py, PyAny>)>,
    rate: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut rings = Vec::with_capacity(buffers.len());
    for (name, obj) in buffers {
        let fast = obj
            .cast::<PyStateBuffer>()
            .ok()
            .and_then(|b| b.get().store.fast_ring().cloned());
        let Some(ring) = fast else {
            return Err(PyTypeError::new_err(format!(
                "`into`: {name:?} is a {}, expected a FastDroneStateBuffer",
                type_name(&obj)
            )));
        };
        rings.push((name, ring));
    }
    let result = py.detach(move || {
        let recording = Recording::open(&path)?;
        crate::record::replay::replay_into_rings(&recording, &rings, rate)
    });
    let stats = result.map_err(record_err)?;
    let d = PyDict::new(py);
    d.set_item("published", stats.published)?;
    d.set_item("elapsed", stats.elapsed.as_secs_f64())?;
    Ok(d)
}

/// The names of a recording's buffer channels.
#[pyfunction]
pub(crate) fn _recorded_channels(py: Python<'_>, path: PathBuf) -> PyResult<Vec<String>> {
    let recording = py
        .detach(move || Recording::open(&path))
        .map_err(record_err)?;
    Ok(recording
        .channels()
        .iter()
        .map(|c| c.name.clone())
        .collect())
}
