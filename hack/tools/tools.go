//go:build tools

// Package tools pins the code generators and linters the Makefile runs, so
// every machine builds the same versions from the module proxy.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
	_ "honnef.co/go/tools/cmd/staticcheck"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
