//! The sagas' state as Prometheus gauges (`GET /api/v1/admin/sagas/metrics`): how many orders
//! are unsettled, how many recovery should already have settled, and the oldest one's age.
//! The alert rules in `deploy/prometheus/rules.yml` read them. Served by the app itself, from
//! the orders database, so they are the same whichever host runs order-create.

use std::fmt::Write as _;

/// What the orders database says about unsettled sagas now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SagaGauges {
    /// Orders whose saga has not reached `completed` or `cancelled`.
    pub unsettled: i64,
    /// Of those, the ones untouched for longer than `saga_recovery_after_secs`: a recovery call
    /// takes them.
    pub past_recovery: i64,
    /// Seconds since the oldest unsettled order was placed (0 when there is none).
    pub oldest_age_secs: f64,
}

/// The media type of Prometheus's text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl SagaGauges {
    /// The gauges in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        let gauges: [(&str, &str, f64); 3] = [
            ("galley_sagas_unsettled", "Orders whose saga has not settled (completed or cancelled).", self.unsettled as f64),
            (
                "galley_sagas_unsettled_past_recovery",
                "Unsettled orders untouched for longer than saga_recovery_after_secs: the next recovery call takes them.",
                self.past_recovery as f64,
            ),
            ("galley_sagas_oldest_unsettled_age_seconds", "Seconds since the oldest unsettled order was placed.", self.oldest_age_secs),
        ];
        let mut text = String::new();
        for (name, help, value) in gauges {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_gauge_with_its_help_and_type() {
        let text = SagaGauges { unsettled: 3, past_recovery: 1, oldest_age_secs: 42.5 }.render();
        assert!(text.contains("# TYPE galley_sagas_unsettled gauge\ngalley_sagas_unsettled 3\n"), "{text}");
        assert!(text.contains("\ngalley_sagas_unsettled_past_recovery 1\n"), "{text}");
        assert!(text.contains("\ngalley_sagas_oldest_unsettled_age_seconds 42.5\n"), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("# HELP ")).count(), 3);
        assert!(text.ends_with('\n'));
    }
}
