//! The seeded whole-system simulation: `SIM_STEPS` steps (10,000 by default, what CI runs) of
//! the seed `SIM_SEED` (a fixed one by default). A failure prints the seed, the step and the
//! command that replays it.

use sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guarantees_hold_through_a_seeded_simulation() {
    let config = SimConfig::from_env();
    let report = sim::run(config).await;
    println!("{report}");
}
