//! Local simulators of the Atlan, CONNECT and Mist APIs (axum), seeded from YAML, with fault
//! injection and request counting. Used by `warrant sandbox`, `warrant demo`, every
//! integration test and the benchmarks.
