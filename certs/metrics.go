package certs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Exported on the binaries' metrics endpoint (see Collectors), so an expiry that
// renewal failed to prevent can be alerted on well ahead (renewal starts with a
// third of the lifetime left).
var (
	expiryMetric = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "inferscale_certificate_expiry_timestamp_seconds",
		Help: "NotAfter of the certificate in a self-managed Secret (the CA, or this binary's serving certificate), as a Unix time.",
	}, []string{"secret"})
	syncErrorsMetric = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "inferscale_certificate_sync_errors_total",
		Help: "Failed rounds of self-managed certificate checks (each is retried at the next sync interval).",
	})
)

// Collectors are the certificate metrics, for the binaries to register: a Manager sets them.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{expiryMetric, syncErrorsMetric}
}
