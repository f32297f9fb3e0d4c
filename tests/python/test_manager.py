import pytest

from rtstate import DroneState, FastDroneState, create_drone_state_buffer, create_fast_state_buffer, create_state_manager


def test_manager():
    m = create_state_manager()
    d, f = create_drone_state_buffer(), create_fast_state_buffer()
    m.register_buffer("drone_state", d)
    m.register_buffer("fast_state", f)
    assert m.get_buffer("drone_state") is d
    assert m.get_buffer("nope") is None and m.get_latest_state("nope") is None
    assert m.update_state("fast_state", FastDroneState(1.0), "converter", {"k": 1}) == 1
    assert m.get_latest_state("fast_state").metadata == {"k": 1}
    with pytest.raises(KeyError):
        m.update_state("nope", DroneState())
    stats = m.get_all_statistics()
    assert set(stats) == {"drone_state", "fast_state"} and stats["fast_state"]["updates"] == 1
    assert m.names() == ["drone_state", "fast_state"]
    table = m.table()
    assert "NAME" in table and "fast_state" in table
    m.reset_all()
    assert f.get_latest_state() is None
    m.unregister_buffer("fast_state")
    assert m.names() == ["drone_state"]
    with pytest.raises(KeyError):
        m.unregister_buffer("fast_state")
    with pytest.raises(TypeError):
        m.register_buffer("x", object())
