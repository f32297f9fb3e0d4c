"""Bad input gets a clear error naming the argument and changes nothing:
numpy coercion, immutable snapshots, times and timeouts, names in messages,
huge sizes, Ctrl-C during blocking waits, and Python subclasses of the
buffers."""

import _thread
import threading
import time

import numpy as np
import pytest

import rtstate
from rtstate import (
    Accel,
    DroneState,
    DroneStateBuffer,
    FastDroneState,
    FastDroneStateBuffer,
    Pose,
    Q_,
    StateSnapshot,
    ThreadSafeStateBuffer,
    Twist,
)


def fingerprint(buffer):
    """What a rejected call must leave unchanged."""
    latest = buffer.get_latest_state()
    return (
        buffer.version,
        latest.version if latest else None,
        [(s.version, s.timestamp) for s in buffer.get_history()],
    )


# --- numpy coercion --------------------------------------------------------

NOT_REAL = {
    "strings": ["1", "2", "3"],
    "complex": [1 + 2j, 0, 0],
    "complex array": np.array([1j, 0, 0]),
    "bools": [True, False, True],
    "a bool among ints": [1, True, 3],
    "bool array": np.array([True, False, True]),
    "datetime64": np.array(["2020-01-01"] * 3, dtype="datetime64[D]"),
    "None inside": [None, 1.0, 2.0],
    "None in an object array": np.array([1.0, None, 2.0], dtype=object),
    "numpy bool scalar": [np.bool_(True), 0.0, 0.0],
    "numpy complex scalar": [np.complex128(1j), 0.0, 0.0],
    "bytes": b"abc",
    "a dict": {"x": 1},
    "a lone number": 5,
    "complex quantity": Q_(np.array([1j, 0, 0]), "m"),
}

VECTOR_FIELDS = [
    (DroneState, "position"),
    (DroneState, "velocity"),
    (DroneState, "attitude"),
    (DroneState, "angular_velocity"),
    (DroneState, "motor_rpms"),
    (FastDroneState, "position"),
    (FastDroneState, "velocity"),
    (FastDroneState, "attitude"),
    (FastDroneState, "angular_velocity"),
    (Pose, "position"),
    (Pose, "orientation"),
    (Twist, "linear"),
    (Twist, "angular"),
    (Accel, "linear"),
    (Accel, "angular"),
]


@pytest.mark.parametrize("cls,field", VECTOR_FIELDS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("what", sorted(NOT_REAL))
def test_vectors_accept_only_real_numbers(cls, field, what):
    value = NOT_REAL[what]
    if field == "motor_rpms" and what == "complex quantity":
        value = Q_(np.array([1j, 0, 0, 0]), "rpm")
    with pytest.raises(TypeError) as e:
        cls(**{field: value})
    assert field in str(e.value)


def test_real_numbers_of_every_kind_are_accepted():
    ok = [
        [1, 2, 3],
        (1.0, 2.0, 3.0),
        np.array([1, 2, 3], dtype=np.int32),
        np.array([1, 2, 3], dtype=np.float32),
        [np.float64(1), np.int64(2), 3],
        np.array([1.0, 2.0, 3.0], dtype=object),
        Q_([100, 200, 300], "cm"),
    ]
    for value in ok:
        s = FastDroneState(timestamp=1.0, position=value)
        assert list(s.position) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("bad", [True, np.bool_(False), "1.0", 1j, [1.0], object()])
def test_timestamp_must_be_a_real_number(bad):
    for cls in (DroneState, FastDroneState):
        with pytest.raises(TypeError, match="timestamp"):
            cls(timestamp=bad)


def test_motor_rpms_must_be_a_sequence():
    with pytest.raises(TypeError, match="motor_rpms"):
        DroneState(motor_rpms=5)
    with pytest.raises(TypeError, match="motor_rpms"):
        DroneState(motor_rpms=Q_(5, "rpm"))
    assert list(DroneState(motor_rpms=Q_([60, 120], "rpm")).motor_rpms) == [60, 120]


def test_a_scalar_quantity_is_still_one_value_where_one_is_wanted():
    w = rtstate.RealTimeControlWrapper()
    w.update_command(thrust=Q_(10, "N"))
    assert w.get_setpoint()["thrust"] == 10.0
    with pytest.raises(ValueError, match="position"):
        DroneState(position=Q_(1.0, "m"))  # one value where three are wanted


def test_quantity_like_objects_that_are_not_pint_name_the_field():
    class Fake:
        magnitude = [1.0, 2.0, 3.0]
        units = "m"

    with pytest.raises(TypeError, match="velocity"):
        DroneState(velocity=Fake())


def test_a_rejected_state_publishes_nothing():
    for buffer in (DroneStateBuffer(), FastDroneStateBuffer()):
        buffer.update_state(FastDroneState(timestamp=1.0).to_drone_state(), "setup")
        before = fingerprint(buffer)
        for bad in NOT_REAL.values():
            with pytest.raises((TypeError, ValueError)):
                buffer.update_state(DroneState(position=bad))
        with pytest.raises(TypeError):
            buffer.update_state("a string")
        with pytest.raises(TypeError, match="metadata"):
            buffer.update_state(DroneState(timestamp=2.0), metadata="ab")
        with pytest.raises(ValueError, match="source"):
            buffer.update_state(DroneState(timestamp=2.0), source="\ud800")
        assert fingerprint(buffer) == before


# --- snapshots are immutable ----------------------------------------------


@pytest.mark.parametrize("make", [DroneStateBuffer, FastDroneStateBuffer, ThreadSafeStateBuffer])
def test_snapshot_metadata_is_read_only_and_a_copy(make):
    buffer = make()
    given = {"frame": "map"}
    state = FastDroneState(timestamp=1.0) if make is FastDroneStateBuffer else DroneState(timestamp=1.0)
    buffer.update_state(state, "est", metadata=given)
    given["frame"] = "changed"
    snap = buffer.get_latest_state()
    assert snap.metadata["frame"] == "map"
    with pytest.raises(TypeError):
        snap.metadata["frame"] = "x"
    assert buffer.get_latest_state().metadata["frame"] == "map"


def test_state_arrays_cannot_be_made_writeable():
    d = DroneState(timestamp=1.0, position=[1, 2, 3], motor_rpms=[1, 2, 3, 4])
    f = d.to_fast_state()
    arrays = [
        f.position, f.velocity, f.attitude, f.angular_velocity, f.attitude_quaternion(),
        d.motor_rpms, d.attitude_quaternion(),
        np.asarray(getattr(d.position, "magnitude", d.position)),
        Pose(position=[1, 2, 3]).orientation,
        rtstate.EstimatedState(covariance=np.eye(6)).covariance,
    ]
    for a in arrays:
        with pytest.raises(ValueError):
            a.flags.writeable = True
        with pytest.raises(ValueError):
            a[0] = 99.0
    assert list(f.position) == [1.0, 2.0, 3.0]


# --- times and timeouts -----------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_get_state_at_time_refuses_non_finite_times(bad):
    b = FastDroneStateBuffer()
    b.update_state(FastDroneState(timestamp=1.0))
    with pytest.raises(ValueError, match="target_time"):
        b.get_state_at_time(bad)
    with pytest.raises(ValueError, match="max_age"):
        b.get_state_at_time(1.0, max_age=bad if bad != -float("inf") else -1.0)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan")])
def test_reader_wait_refuses_bad_timeouts_even_without_waiting(bad):
    b = FastDroneStateBuffer()
    r = b.reader()
    b.update_state(FastDroneState(timestamp=1.0))  # the reader would not wait
    with pytest.raises(ValueError, match="timeout"):
        r.wait(timeout=bad)
    with pytest.raises(ValueError, match="timeout"):
        b.wait_for_update(timeout=bad)
    assert r.read_if_updated().version == 1  # nothing was consumed


@pytest.mark.parametrize("bad", [True, "1", 1j])
def test_timeouts_must_be_real_numbers(bad):
    b = FastDroneStateBuffer()
    with pytest.raises(TypeError, match="timeout"):
        b.wait_for_update(timeout=bad)
    with pytest.raises(TypeError, match="timeout"):
        b.reader().wait(timeout=bad)


def test_huge_timeouts_mean_no_limit():
    b = FastDroneStateBuffer()
    done = threading.Event()

    def publish_until_done():  # publishes until the waits below return
        t = 0.0
        while not done.wait(0.02):
            t += 1.0
            b.update_state(FastDroneState(timestamp=t))

    publisher = threading.Thread(target=publish_until_done)
    publisher.start()
    try:
        assert b.wait_for_update(timeout=1e300) is not None
        assert b.reader().wait(timeout=float("inf")) is not None
        assert b.wait_for_update(timeout=None) is not None
    finally:
        done.set()
        publisher.join()


@pytest.mark.parametrize("field", ["timestamp", "published_at"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_snapshot_times_must_be_finite(field, bad):
    kwargs = {"timestamp": 1.0, field: bad}
    with pytest.raises(ValueError, match=field):
        StateSnapshot(None, version=1, **kwargs)


def test_snapshot_constructor_names_its_arguments():
    with pytest.raises(ValueError, match="version"):
        StateSnapshot(None, 1.0, -1)
    with pytest.raises(TypeError, match="version"):
        StateSnapshot(None, 1.0, True)
    with pytest.raises(TypeError, match="metadata"):
        StateSnapshot(None, 1.0, 1, metadata="ab")
    with pytest.raises(ValueError, match="source"):
        StateSnapshot(None, 1.0, 1, source="\udcff")


# --- names in messages and huge sizes ---------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda n: ThreadSafeStateBuffer(buffer_size=n),
        lambda n: ThreadSafeStateBuffer(n),
        lambda n: DroneStateBuffer(n),
        lambda n: FastDroneStateBuffer(n),
        lambda n: rtstate.create_drone_state_buffer(buffer_size=n),
        lambda n: rtstate.create_fast_state_buffer(n),
    ],
)
@pytest.mark.parametrize("n", [0, -1, 10**12, 2**62, 2**200, rtstate.MAX_BUFFER_SIZE + 1])
def test_buffer_size_errors_name_buffer_size(make, n):
    with pytest.raises(ValueError) as e:
        make(n)
    assert "buffer_size" in str(e.value)
    if n > 0:
        assert str(rtstate.MAX_BUFFER_SIZE) in str(e.value)


@pytest.mark.parametrize("bad", [1.5, "10", True, None.__class__])
def test_buffer_size_must_be_an_int(bad):
    with pytest.raises(TypeError, match="buffer_size"):
        FastDroneStateBuffer(bad)


@pytest.mark.parametrize("n", [0, -1, 2**40, 2**70])
def test_queue_size_errors_name_queue_size(n):
    b = FastDroneStateBuffer()
    with pytest.raises(ValueError, match="queue_size"):
        b.subscribe(queue_size=n)


def test_the_maximum_buffer_size_is_accepted():
    b = FastDroneStateBuffer(rtstate.MAX_BUFFER_SIZE)
    assert b.buffer_size == rtstate.MAX_BUFFER_SIZE


def test_state_type_and_clock_are_checked():
    with pytest.raises(TypeError, match="state_type"):
        ThreadSafeStateBuffer(state_type=5)
    with pytest.raises(TypeError, match="clock"):
        ThreadSafeStateBuffer(clock=5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ThreadSafeStateBuffer(capacity=5)


# --- Ctrl-C during blocking waits ------------------------------------------


def interrupted_after(wait, delay=0.2):
    """Runs `wait` in the main thread, sends it SIGINT after `delay`; returns
    the seconds until KeyboardInterrupt arrived (the waits below are 60 s)."""
    timer = threading.Timer(delay, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wait()
    finally:
        timer.cancel()
    return time.monotonic() - start


def test_ctrl_c_interrupts_wait_for_update():
    b = FastDroneStateBuffer()
    assert interrupted_after(lambda: b.wait_for_update(60)) < 30  # not the 60 s timeout


def test_ctrl_c_interrupts_reader_wait():
    b = DroneStateBuffer()
    r = b.reader()
    assert interrupted_after(lambda: r.wait(60)) < 30


def test_ctrl_c_interrupts_a_wait_without_limit():
    b = ThreadSafeStateBuffer()
    assert interrupted_after(lambda: b.wait_for_update(None)) < 30


# --- subclassing -------------------------------------------------------------


@pytest.mark.parametrize("base", [ThreadSafeStateBuffer, DroneStateBuffer, FastDroneStateBuffer])
def test_a_subclass_with_its_own_init(base):
    class Named(base):
        def __init__(self, name):
            super().__init__()
            self.name = name

    b = Named("imu")
    assert b.name == "imu"
    assert isinstance(b, base)
    assert repr(b).startswith("<Named ")
    state = FastDroneState(timestamp=1.0)
    b.update_state(state if base is FastDroneStateBuffer else state.to_drone_state())
    assert b.version == 1


def test_a_subclass_passes_its_size_by_keyword():
    class Sized(FastDroneStateBuffer):
        def __init__(self, name, buffer_size=5):
            super().__init__(buffer_size=buffer_size)
            self.name = name

    assert Sized("a", buffer_size=7).buffer_size == 7
    assert Sized("a").buffer_size == 5


def test_a_subclass_without_init_takes_the_arguments():
    class Plain(ThreadSafeStateBuffer):
        pass

    assert Plain(3, FastDroneState).buffer_size == 3
    with pytest.raises(ValueError, match="buffer_size"):
        Plain(0)


def test_a_subclass_init_that_contradicts_new_is_refused():
    class Odd(ThreadSafeStateBuffer):
        def __init__(self, name):
            super().__init__(buffer_size=20)  # __new__ saw only `name`

    with pytest.raises(TypeError, match="fixed when the object is created"):
        Odd("x")


def test_a_subclass_with_its_own_new():
    class WithNew(ThreadSafeStateBuffer):
        def __new__(cls, name, size):
            return super().__new__(cls, buffer_size=size)

        def __init__(self, name, size):
            self.name = name

    b = WithNew("x", 4)
    assert (b.name, b.buffer_size) == ("x", 4)
