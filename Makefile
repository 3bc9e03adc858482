# inferscale build and test entry points. `make help` lists them.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/inferscale/inferscale/internal/version.Version=$(VERSION)
BIN := bin
TOOLS_BIN := $(abspath $(BIN)/tools)
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen
STATICCHECK := $(TOOLS_BIN)/staticcheck
HELM := $(TOOLS_BIN)/helm
KUBECTL = $(shell bash e2e/tools/build.sh kubectl | tail -1)/kubectl
RELEASE_DIR := _output/release

.PHONY: help deps demo build test test-unit test-e2e e2e-tools lint generate manifests verify-generate bench bench-sim tools release

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## install the missing Debian packages the local cluster and the build need (as root), or say how
	bash hack/install-deps.sh

demo: deps ## a real local cluster, inferscale installed, a model autoscaled under load; chart in _output/demo
	$(GO) run ./e2e/cmd/demo

build: ## build every binary into bin/
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

test: verify-generate test-unit test-e2e ## all tests: generated files fresh, unit, e2e

test-unit: deps e2e-tools $(HELM) ## unit tests (some start a real API server from the e2e tools; the chart's run helm)
	$(GO) test -count=1 ./...
	cd sim/knative && $(GO) test -count=1 ./...

# -p 1: each e2e package that brings a cluster up needs the machine's ports and paths alone.
test-e2e: deps e2e-tools $(HELM) ## e2e tests against a real local cluster (or INFERSCALE_E2E_KUBECONFIG's)
	$(GO) test -count=1 -p 1 -tags e2e -timeout 60m -v ./e2e/...

e2e-tools: ## build the pinned Kubernetes binaries into ~/.cache/inferscale/k8s/<version> (cold: ~10 min)
	bash e2e/tools/build.sh

tools: $(CONTROLLER_GEN) $(STATICCHECK) $(HELM) ## build the pinned code generators, linters and helm

$(CONTROLLER_GEN): hack/tools/go.mod
	cd hack/tools && GOBIN=$(TOOLS_BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen

$(STATICCHECK): hack/tools/go.mod
	cd hack/tools && GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck

# helm from helm.sh/helm/v3 at hack/tools/go.mod's version, which `helm version` reports.
$(HELM): hack/tools/go.mod
	cd hack/tools && GOBIN=$(TOOLS_BIN) $(GO) install -ldflags "-X helm.sh/helm/v3/internal/version.version=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3)" helm.sh/helm/v3/cmd/helm

generate: $(CONTROLLER_GEN) ## deepcopy and CRD YAML from the API types; the chart's copies of the CRDs, alerts and dashboard
	$(CONTROLLER_GEN) object paths=./api/...
	$(CONTROLLER_GEN) crd:crdVersions=v1,allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=manifests/crd/bases
	rm -f charts/inferscale/crds/*.yaml && cp manifests/crd/bases/*.yaml charts/inferscale/crds/
	cp manifests/prometheus/rules.yaml manifests/prometheus/dashboard.json charts/inferscale/files/

manifests: generate ## alias of generate: the CRDs are the generated manifests

verify-generate: generate ## fail when generated files are stale
	@git diff --exit-code -- api manifests/crd charts/inferscale/crds charts/inferscale/files || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }

lint: $(STATICCHECK) $(HELM) e2e-tools ## gofmt, go vet, staticcheck, helm lint, the chart's render against kustomize
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd sim/knative && $(GO) vet ./...
	$(STATICCHECK) ./...
	$(HELM) lint --strict charts/inferscale
	$(HELM) lint --strict charts/inferscale --set certificates.mode=cert-manager
	HELM=$(HELM) KUBECTL=$(KUBECTL) $(GO) test -count=1 -run '^TestChart' ./charts

release: $(HELM) ## one install YAML with the images tagged $(VERSION), and the chart: $(RELEASE_DIR)/
	@mkdir -p $(RELEASE_DIR)
	{ echo "# inferscale $(VERSION): kubectl apply --server-side -f inferscale.yaml"; \
	  cat manifests/default/namespace.yaml; echo "---"; \
	  $(HELM) template inferscale charts/inferscale --namespace inferscale-system --include-crds \
	    --set-string webhook.image.tag=$(VERSION),scaler.image.tag=$(VERSION),agent.image.tag=$(VERSION); \
	} > $(RELEASE_DIR)/inferscale.yaml
	$(HELM) package charts/inferscale --app-version $(VERSION) --destination $(RELEASE_DIR)
	@echo "wrote $(RELEASE_DIR)/inferscale.yaml"

bench: ## benchmarks: validation, injection, aggregation, decision, and the agent's proxy table
	$(GO) test -run '^$$' -bench . -benchmem ./api/... ./webhook/... ./scaler/...
	$(GO) test -run '^$$' -bench . -benchmem ./agent/...
	$(GO) run ./agent/internal/bench

bench-sim: ## the simulator's headline table: inferscale, hpa-cpu, keda, kpa and the oracle on five scenarios
	cd sim/knative && $(GO) run ./cmd/inferscale-sim headline -markdown
