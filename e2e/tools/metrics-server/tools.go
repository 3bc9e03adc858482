//go:build tools

// Package tools records the metrics-server command, so that `go mod tidy` keeps its
// dependencies in go.sum. The e2e harness builds it into an image (cluster.InstallMetricsServer).
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
