//! The workspace's integration and end-to-end tests, one module per area, in
//! one test binary: each binary links wasmtime, so one binary keeps builds
//! and CI short.

mod common;
mod support;

mod cli_demo;
mod cli_policy;
mod convergence;
mod crash;
mod differential_unison;
mod e2e_devices;
mod e2e_fidelity;
mod e2e_hostile;
mod e2e_offload_archive;
mod e2e_records;
mod e2e_replicate;
mod e2e_safety;
mod e2e_serve;
mod e2e_synchronize;
mod e2e_watch;
mod e2e_web;
mod fuzz;
mod policy_boundary;
mod policy_install;
mod policy_languages;
mod policy_tables;
mod sandbox;
mod sdk_harness;
