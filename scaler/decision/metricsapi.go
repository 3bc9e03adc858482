package decision

import "time"

// APIMetric is what custom.metrics.k8s.io or external.metrics.k8s.io answered for one Pods,
// Object or External metric of the spec, read as HPA's REST metrics client reads it.
type APIMetric struct {
	// Err is why the value could not be read; the metric is then invalid, with HPA's reason
	// (FailedGetPodsMetric, FailedGetObjectMetric, FailedGetExternalMetric).
	Err error
	// Pods are a Pods metric's values by pod name, in milli-units (Quantity.MilliValue()).
	Pods map[string]int64
	// Value is an Object metric's value, or the sum of an External metric's series
	// (saturating at MaxInt64, as HPA's), in milli-units.
	Value int64
	// Timestamp is the value's (the first series' or pod's) timestamp.
	Timestamp time.Time
}
