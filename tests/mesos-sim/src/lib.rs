//! Mesos master + agent simulator.
