//! The Python extension module `rtstate._rtstate` (feature `python`): thin
//! wrappers and conversions over the core, no algorithm of its own. The
//! Python package `python/rtstate/` re-exports it with the pint glue.
//!
//! - [`errors`]: the mapping of [`Error`](crate::Error) to Python exceptions;
//! - [`convert`]: sequences, ndarrays and pint quantities to SI floats;
//! - [`states`], [`estimated`]: the state types;
//! - [`snapshot`], [`buffers`], [`reader`], [`manager`]: snapshots,
//!   buffers, readers and the registry; [`construct`]: the buffer classes'
//!   constructor arguments;
//! - [`store`]: the one place the two kinds of buffer (Python objects on a
//!   `StateBuffer`, `FastDroneState` on a `SlotRing`) differ, behind one
//!   trait that buffers, readers and subscriptions call;
//! - [`wait`]: blocking waits in slices, signals checked between them;
//! - [`control`]: `ControlLoop`, `RealTimeControlWrapper`, `SimVehicle`;
//! - [`subscription`]: `subscribe`, `unsubscribe`, `wait_for_update_async`
//!   (methods in `buffers.rs` that delegate there), the asyncio-queue-like
//!   `Subscription` and its `UpdateEvent`s.

mod buffers;
mod construct;
mod control;
mod convert;
mod errors;
mod estimated;
mod manager;
mod reader;
mod record;
mod serve;
mod shared;
mod snapshot;
mod states;
mod store;
mod subscription;
mod testing;
mod wait;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _rtstate(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add("MAX_BUFFER_SIZE", convert::MAX_BUFFER_SIZE)?;
    m.add("MAX_QUEUE_SIZE", crate::MAX_CAPACITY)?;
    m.add_class::<states::PyDroneState>()?;
    m.add_class::<states::PyFastDroneState>()?;
    m.add_class::<estimated::PyPose>()?;
    m.add_class::<estimated::PyTwist>()?;
    m.add_class::<estimated::PyAccel>()?;
    m.add_class::<estimated::PyEstimatedState>()?;
    m.add_class::<snapshot::PyStateSnapshot>()?;
    m.add_class::<buffers::PyStateBuffer>()?;
    m.add_class::<buffers::PyDroneStateBuffer>()?;
    m.add_class::<buffers::PyFastDroneStateBuffer>()?;
    m.add_class::<reader::PyReader>()?;
    m.add_class::<manager::PyStateManager>()?;
    m.add_class::<record::PyRecorder>()?;
    m.add_class::<serve::PyServer>()?;
    m.add_function(wrap_pyfunction!(record::_replay, m)?)?;
    m.add_function(wrap_pyfunction!(record::_replay_into, m)?)?;
    m.add_function(wrap_pyfunction!(record::_recorded_channels, m)?)?;
    m.add_function(wrap_pyfunction!(buffers::create_drone_state_buffer, m)?)?;
    m.add_function(wrap_pyfunction!(buffers::create_fast_state_buffer, m)?)?;
    m.add_function(wrap_pyfunction!(manager::create_state_manager, m)?)?;
    m.add_function(wrap_pyfunction!(errors::_raise_error, m)?)?;
    subscription::register(m)?;
    control::register(m)?;
    shared::register(m)?;
    // `__all__` lists the public names only (test aids start with `_`).
    let public: Vec<String> = m
        .index()?
        .iter()
        .map(|n| n.extract::<String>())
        .collect::<PyResult<Vec<_>>>()?
        .into_iter()
        .filter(|n| !n.starts_with('_'))
        .collect();
    m.setattr("__all__", public)?;
    Ok(())
}
