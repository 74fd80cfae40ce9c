//! Loopback fakes of AWS endpoints for tests.
