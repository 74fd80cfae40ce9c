//! Mesos operator API client (master and agent): wire types, transport, leader handling.
