//! Names of the metrics one module produces and another reads: the host's peer writes the
//! network figures, the report's network section reads them back by the same constants.

/// A figure the host's network peer measures, per path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMetric {
    /// The median 1-byte round trip (net-rr's headline).
    RoundTrip,
    /// The 99th percentile round trip.
    RoundTripP99,
    /// The mean round trip.
    RoundTripMean,
    /// The median round trip with the peer moved onto the instance's CPU (no cross-CPU
    /// wake-up per trip).
    RoundTripSameCpu,
    /// Host → instance throughput (net-stream's headline).
    StreamIn,
    /// Instance → host throughput.
    StreamOut,
}

impl NetMetric {
    /// The metric's name on its environment's headline path.
    pub fn base(self) -> &'static str {
        match self {
            NetMetric::RoundTrip => "round_trip",
            NetMetric::RoundTripP99 => "round_trip_p99",
            NetMetric::RoundTripMean => "round_trip_mean",
            NetMetric::RoundTripSameCpu => "round_trip_same_cpu",
            NetMetric::StreamIn => "stream_in",
            NetMetric::StreamOut => "stream_out",
        }
    }

    /// The metric's name with a path's `suffix` (`round_trip_dnat`, `stream_in_mtu9000`).
    pub fn with_suffix(self, suffix: &str) -> String {
        format!("{}{suffix}", self.base())
    }
}
