//! StatsD in: the line format ([`line`]) and the sockets it arrives on ([`udp`], [`tcp`]).

pub mod line;
pub mod tcp;
pub mod udp;
