package queuetest

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/careerrelay/careerrelay/internal/metrics"
)

// The metrics are process-wide: tests read them before and after, and
// compare the difference.

// Attempts reads careerrelay_delivery_attempts_total{result}.
func Attempts(result string) float64 {
	var m dto.Metric
	metrics.DeliveryAttempts.WithLabelValues(result).(prometheus.Metric).Write(&m)
	return m.GetCounter().GetValue()
}

// QueueMessages reads the careerrelay_queue_messages gauge.
func QueueMessages() float64 {
	var m dto.Metric
	metrics.QueueMessages.Write(&m)
	return m.GetGauge().GetValue()
}
