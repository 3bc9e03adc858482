// Package charts holds inferscale's Helm chart; its tests check the chart against the
// kustomize manifests it must equal, with the helm and kubectl binaries users run.
package charts

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const chart = "inferscale"

// The chart's defaults render what `kubectl kustomize manifests/default` does, its
// cert-manager mode what manifests/cert-manager does, and its metrics values add what
// manifests/prometheus does: object for object and field for field. The one difference:
// the chart creates no Namespace (Helm needs it before the release).
func TestChartRendersTheKustomizeManifests(t *testing.T) {
	helm, kubectl := tool(t, "HELM", "helm"), tool(t, "KUBECTL", "kubectl")
	for _, tc := range []struct {
		name     string
		overlays []string
		values   []string
	}{
		{name: "default", overlays: []string{"default"}},
		{name: "cert-manager", overlays: []string{"cert-manager"}, values: []string{"--set", "certificates.mode=cert-manager"}},
		{name: "prometheus", overlays: []string{"default", "prometheus"}, values: []string{"--set",
			"metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[key]map[string]any{}
			for _, overlay := range tc.overlays {
				maps.Copy(want, objects(t, run(t, kubectl, "kustomize", filepath.Join("..", "manifests", overlay))))
			}
			ns := key{kind: "Namespace", name: "inferscale-system"}
			if _, ok := want[ns]; !ok {
				t.Fatalf("manifests/%s has no Namespace inferscale-system", tc.overlays[0])
			}
			delete(want, ns)
			got := objects(t, template(t, helm, "inferscale-system", tc.values...))
			compare(t, got, want)
		})
	}
}

// helm lint, as `make lint` runs it, in both certificate modes.
func TestChartLints(t *testing.T) {
	helm := tool(t, "HELM", "helm")
	run(t, helm, "lint", "--strict", chart)
	run(t, helm, "lint", "--strict", chart, "--set", "certificates.mode=cert-manager")
}

// Installed in another namespace, nothing names inferscale-system: the binaries take the
// namespace from their pods and the chart from the release.
func TestChartInAnotherNamespace(t *testing.T) {
	helm := tool(t, "HELM", "helm")
	for _, mode := range []string{"self-managed", "cert-manager"} {
		out := template(t, helm, "ops", "--set", "certificates.mode="+mode,
			"--set", "metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true")
		if strings.Contains(out, "inferscale-system") {
			t.Errorf("%s: the chart rendered in namespace ops names inferscale-system", mode)
		}
		objs := objects(t, out)
		for k := range objs {
			if k.namespace != "" && k.namespace != "ops" {
				t.Errorf("%s: %v is not in ops", mode, k)
			}
		}
		injector := objs[key{kind: "MutatingWebhookConfiguration", name: "inferscale-injector"}]
		sel := dig(injector, "webhooks", 0, "namespaceSelector", "matchExpressions", 0, "values")
		if !reflect.DeepEqual(sel, []any{"kube-system", "ops"}) {
			t.Errorf("%s: the injector's namespaceSelector excludes %v, want [kube-system ops]", mode, sel)
		}
	}
	override := objects(t, template(t, helm, "default", "--set", "namespaceOverride=ops"))
	if d := override[key{kind: "Deployment", namespace: "ops", name: "inferscale-scaler"}]; d == nil {
		t.Error("namespaceOverride=ops: no scaler Deployment in ops")
	}
}

// Values reach the objects they name; a value the binaries would refuse fails the render.
func TestChartValues(t *testing.T) {
	helm := tool(t, "HELM", "helm")
	objs := objects(t, template(t, helm, "inferscale-system",
		"--set", "webhook.replicas=3,scaler.replicas=1",
		"--set", "webhook.image.tag=v9,scaler.image.repository=registry.example/scaler,agent.image.tag=v8",
		"--set", "agent.resources.requests.cpu=100m,agent.resources.limits.memory=1Gi",
		"--set", "webhook.excludedNamespaces={kube-system,monitoring}",
		"--set-string", "webhook.objectSelector.matchLabels.inference=true",
		"--set", "scaler.extraScaleResources[0].apiGroups={workload.matrixinfer.ai},scaler.extraScaleResources[0].resources={modelinfers}",
	))
	webhook := objs[key{kind: "Deployment", namespace: "inferscale-system", name: "inferscale-webhook"}]
	scaler := objs[key{kind: "Deployment", namespace: "inferscale-system", name: "inferscale-scaler"}]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"webhook replicas", dig(webhook, "spec", "replicas"), float64(3)},
		{"scaler replicas", dig(scaler, "spec", "replicas"), float64(1)},
		{"webhook image", dig(webhook, "spec", "template", "spec", "containers", 0, "image"), "inferscale/inferscale-webhook:v9"},
		{"scaler image", dig(scaler, "spec", "template", "spec", "containers", 0, "image"), "registry.example/scaler:v0.1.0"},
		{"webhook args", dig(webhook, "spec", "template", "spec", "containers", 0, "args"), []any{
			"--webhook-port=9443", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080",
			"--agent-image=inferscale/inferscale-agent:v8", "--agent-cpu=100m", "--agent-memory-limit=1Gi",
			"--excluded-namespaces=kube-system,monitoring"}},
		{"injector namespaceSelector", dig(objs[key{kind: "MutatingWebhookConfiguration", name: "inferscale-injector"}], "webhooks", 0, "namespaceSelector", "matchExpressions", 0, "values"),
			[]any{"kube-system", "monitoring", "inferscale-system"}},
		{"injector objectSelector", dig(objs[key{kind: "MutatingWebhookConfiguration", name: "inferscale-injector"}], "webhooks", 0, "objectSelector"),
			map[string]any{"matchLabels": map[string]any{"inference": "true"}}},
		{"extra scale role", objs[key{kind: "ClusterRole", name: "inferscale-scaler-extra-scale"}], map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": "inferscale-scaler-extra-scale", "labels": map[string]any{"inferscale.io/aggregate-to-scaler": "true"}},
			"rules":    []any{map[string]any{"apiGroups": []any{"workload.matrixinfer.ai"}, "resources": []any{"modelinfers/scale"}, "verbs": []any{"get", "update", "patch"}}},
		}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %#v, want %#v", c.what, c.got, c.want)
		}
	}

	for _, bad := range []struct{ set, says string }{
		{"certificates.mode=manual", "/certificates/mode"},
		{"webhook.replicas=0", "replicas"},
		{"scaler.extraScaleResources[0].apiGroups={apps},scaler.extraScaleResources[0].resources={deployments/scale}", "/scale is added"},
		{"scaler.extraScaleResources[0].apiGroups={apps}", "resources"},
	} {
		out, err := exec.Command(helm, "template", "inferscale", chart, "--namespace", "inferscale-system", "--set", bad.set).CombinedOutput()
		if err == nil || !strings.Contains(string(out), bad.says) {
			t.Errorf("--set %s: %v, want an error that names %q:\n%s", bad.set, err, bad.says, out)
		}
	}
}

// tool returns the binary $env names, or the one the Makefile builds: helm in bin/tools
// (`make tools`), kubectl in the e2e tools' cache (`make e2e-tools`). In CI a missing one
// fails the test; elsewhere it is skipped with what to run.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	var candidates []string
	switch name {
	case "helm":
		candidates = []string{filepath.Join("..", "bin", "tools", "helm")}
	case "kubectl":
		if cache, err := os.UserCacheDir(); err == nil {
			candidates, _ = filepath.Glob(filepath.Join(cache, "inferscale", "k8s", "*", "kubectl"))
		}
	}
	for i := len(candidates) - 1; i >= 0; i-- {
		if _, err := os.Stat(candidates[i]); err == nil {
			abs, err := filepath.Abs(candidates[i])
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	msg := fmt.Sprintf("no %s: run `make tools e2e-tools` or set $%s", name, env)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

func template(t *testing.T, helm, namespace string, values ...string) string {
	t.Helper()
	return run(t, helm, append([]string{"template", "inferscale", chart, "--namespace", namespace, "--include-crds"}, values...)...)
}

type key struct{ kind, namespace, name string }

func (k key) String() string { return fmt.Sprintf("%s %s/%s", k.kind, k.namespace, k.name) }

// objects parses a multi-document YAML stream into objects by kind, namespace and name.
func objects(t *testing.T, stream string) map[key]map[string]any {
	t.Helper()
	out := map[key]map[string]any{}
	for _, doc := range strings.Split("\n"+stream, "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("parse %q: %v", doc, err)
		}
		if obj == nil {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		k := key{kind: fmt.Sprint(obj["kind"]), name: fmt.Sprint(meta["name"])}
		if ns, ok := meta["namespace"].(string); ok {
			k.namespace = ns
		}
		if _, dup := out[k]; dup {
			t.Errorf("%v rendered twice", k)
		}
		out[k] = obj
	}
	return out
}

// compare reports every object only one side has, and every field path where they differ.
func compare(t *testing.T, got, want map[key]map[string]any) {
	t.Helper()
	var keys []key
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		g, inGot := got[k]
		w, inWant := want[k]
		switch {
		case !inGot:
			t.Errorf("%v: in the kustomize manifests, not in the chart", k)
		case !inWant:
			t.Errorf("%v: in the chart, not in the kustomize manifests", k)
		default:
			for _, d := range diff("", g, w) {
				t.Errorf("%v: %s", k, d)
			}
		}
	}
}

// diff lists the paths where the chart's value (got) differs from the manifests' (want).
func diff(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		var out []string
		names := map[string]bool{}
		for n := range w {
			names[n] = true
		}
		for n := range g {
			names[n] = true
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		for _, n := range sorted {
			out = append(out, diff(path+"."+n, g[n], w[n])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		var out []string
		for i := range w {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return out
	}
	if reflect.DeepEqual(got, want) {
		return nil
	}
	return []string{fmt.Sprintf("%s: chart %s, manifests %s", path, compact(got), compact(want))}
}

func compact(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}

// dig walks maps by name and slices by index; nil where the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			s, _ := v.([]any)
			if p >= len(s) {
				return nil
			}
			v = s[p]
		}
	}
	return v
}
