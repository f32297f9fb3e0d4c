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


def test_re_registering_a_name_replaces_the_buffer_with_a_warning():
    m = create_state_manager()
    old, new = create_fast_state_buffer(), create_fast_state_buffer()
    m.register_buffer("fast", old)
    m.update_state("fast", FastDroneState(1.0))
    with pytest.warns(UserWarning, match="fast"):
        m.register_buffer("fast", new)
    assert m.get_buffer("fast") is new and len(m) == 1
    assert m.update_state("fast", FastDroneState(2.0)) == 1  # into the new one
    assert old.version == 1 and new.version == 1
    assert m.get_all_statistics()["fast"]["updates"] == 1  # the new buffer's


def test_replace_false_refuses_and_keeps_the_old_buffer():
    m = create_state_manager()
    old = create_drone_state_buffer()
    m.register_buffer("d", old)
    with pytest.raises(ValueError, match="already registered"):
        m.register_buffer("d", create_drone_state_buffer(), replace=False)
    assert m.get_buffer("d") is old


def test_a_warning_turned_into_an_error_replaces_nothing():
    import warnings

    m = create_state_manager()
    old = create_drone_state_buffer()
    m.register_buffer("d", old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning):
            m.register_buffer("d", create_drone_state_buffer())
    assert m.get_buffer("d") is old


def test_names_are_checked_and_named():
    m = create_state_manager()
    with pytest.raises(TypeError, match="name"):
        m.register_buffer(5, create_drone_state_buffer())
    with pytest.raises(ValueError, match="name"):
        m.register_buffer("\ud800", create_drone_state_buffer())
    with pytest.raises(TypeError, match="buffer"):
        m.register_buffer("x", create_drone_state_buffer)
    with pytest.raises(TypeError, match="replace"):
        m.register_buffer("x", create_drone_state_buffer(), replace="no")
    assert len(m) == 0 and 5 not in m


def test_an_unknown_name_in_update_state_is_a_key_error_naming_it():
    m = create_state_manager()
    with pytest.raises(KeyError, match="imu"):
        m.update_state("imu", DroneState(timestamp=1.0))
