package knative

import (
	"context"

	servingmetrics "knative.dev/serving/pkg/metrics"
)

// t0Context is the reporter context the autoscaler records its own metrics with.
func t0Context() context.Context {
	return servingmetrics.RevisionContext("sim", "model", "model", "model-00001")
}
