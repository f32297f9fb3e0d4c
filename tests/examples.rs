//! The examples run as tests, so that they cannot rot.

#[path = "../examples/drone_state.rs"]
mod drone_state;

#[test]
fn drone_state_example_runs() {
    std::env::set_var("RTSTATE_EXAMPLE_SECS", "0.3");
    drone_state::main().expect("the example succeeds");
}
