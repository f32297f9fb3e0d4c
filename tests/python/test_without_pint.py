"""pint is optional: without it plain SI sequences work, fields read back as
arrays, and a quantity-like object gets a clear error. Each case runs in a
fresh interpreter in which `import pint` fails."""

import subprocess
import sys
import textwrap


def run_without_pint(body: str) -> subprocess.CompletedProcess:
    code = "import sys\nsys.modules['pint'] = None  # makes `import pint` fail\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_plain_sequences_work_and_read_back_as_arrays():
    r = run_without_pint(
        """
        import numpy as np
        import rtstate
        assert not rtstate.HAVE_PINT
        s = rtstate.DroneState(timestamp=1.0, position=[1, 2, 3], velocity=(0.5, 0, 0))
        assert isinstance(s.position, np.ndarray) and s.position.tolist() == [1.0, 2.0, 3.0]
        assert s.velocity.tolist() == [0.5, 0.0, 0.0]
        b = rtstate.create_drone_state_buffer()
        assert b.update_state(s, "estimator") == 1
        assert b.get_latest_state().state == s
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_a_quantity_like_object_gets_a_clear_type_error():
    r = run_without_pint(
        """
        import numpy as np
        import rtstate

        class Quantity:  # looks like a pint quantity
            magnitude = np.array([1.0, 2.0, 3.0])
            units = "centimeter"

        try:
            rtstate.DroneState(timestamp=1.0, position=Quantity())
        except TypeError as e:
            print(e)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "pint is not installed" in r.stdout
    assert "rtstate[units]" in r.stdout


def test_q_explains_that_it_needs_pint():
    r = run_without_pint(
        """
        import rtstate
        try:
            rtstate.Q_(1.0, "m")
        except ImportError as e:
            print(e)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "needs pint" in r.stdout


def test_without_pint_arrays_stay_read_only_and_states_pickle():
    r = run_without_pint(
        """
        import pickle
        from dataclasses import dataclass, field
        import numpy as np
        import rtstate

        s = rtstate.DroneState(timestamp=1.0, position=[1, 2, 3])
        try:
            s.position.flags.writeable = True
        except ValueError:
            pass
        else:
            raise AssertionError("a state's array was made writeable")
        assert pickle.loads(pickle.dumps(s)) == s

        @dataclass
        class TheirFastDroneState:  # DART-Planner's shape, plain arrays
            timestamp: float
            position: np.ndarray = field(default_factory=lambda: np.array([1.0, 2.0, 3.0]))
            velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
            attitude: np.ndarray = field(default_factory=lambda: np.zeros(3))
            angular_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))

        for b in (rtstate.create_drone_state_buffer(), rtstate.create_fast_state_buffer()):
            b.update_state(TheirFastDroneState(timestamp=2.0))
            assert b.get_latest_state().state.position.tolist() == [1.0, 2.0, 3.0]
        try:
            rtstate.DroneState(position=["1", "2", "3"])
        except TypeError as e:
            assert "position" in str(e)
        else:
            raise AssertionError("strings accepted")
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
